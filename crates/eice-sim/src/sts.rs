//! STS `GetCallerIdentity` in the simulated account: "who am I?", the first thing a
//! `doctor` asks before it checks anything else.
//!
//! Served by the simulated EC2 API's server at the same URL (point
//! `AWS_ENDPOINT_URL_STS` at [`crate::ec2_api::Ec2Sim::url`]), which hands it
//! every request whose SigV4 credential scope names the `sts` service. The Query
//! protocol as the real service speaks it: a form POST, an XML answer in STS's
//! namespace, and STS's `ErrorResponse` shape (not EC2's) for every refusal.
//!
//! Who a key belongs to is [`SimIdentity`]: by default an IAM user `sim-user` of the
//! account, and whatever a test says per access key ([`Sts::set_identity`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use http::StatusCode;
use sha2::{Digest, Sha256};

use crate::ec2_api::xml::escape;
use crate::sigv4::{SigV4Error, Verified, decode_query};

/// The signing name of STS.
pub const SERVICE: &str = "sts";

/// STS's global endpoint signs for this region, so it is accepted whatever regions
/// the account's worlds are in.
pub const GLOBAL_REGION: &str = "us-east-1";

/// The namespace of every STS response document.
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The API version the SDK sends.
const VERSION: &str = "2011-06-15";

/// The identity `GetCallerIdentity` reports for an access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimIdentity {
    /// E.g. `arn:aws:iam::123456789012:user/sim-user`.
    pub arn: String,
    /// The unique id: `AIDA…` for an IAM user, `AROA…:session` for a role session.
    pub user_id: String,
    /// The twelve-digit account id.
    pub account: String,
}

impl SimIdentity {
    /// An IAM user `name` of `account`, with a `UserId` derived from both.
    pub fn user(account: &str, name: &str) -> SimIdentity {
        SimIdentity {
            arn: format!("arn:aws:iam::{account}:user/{name}"),
            user_id: format!("AIDA{}", unique_suffix(account, name)),
            account: account.to_owned(),
        }
    }

    /// A session `session` of IAM role `role` in `account`, as temporary
    /// credentials from `AssumeRole` (or SSO) report themselves.
    pub fn assumed_role(account: &str, role: &str, session: &str) -> SimIdentity {
        SimIdentity {
            arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
            user_id: format!("AROA{}:{session}", unique_suffix(account, role)),
            account: account.to_owned(),
        }
    }
}

/// Seventeen upper-case characters standing for IAM's unique-id tail, stable per input.
fn unique_suffix(account: &str, name: &str) -> String {
    let digest = hex::encode_upper(Sha256::digest(format!("{account}/{name}")));
    digest[..17].to_owned()
}

/// The simulated STS: who each key is, and how often it was asked.
#[derive(Debug)]
pub struct Sts {
    account: String,
    identities: Mutex<HashMap<String, SimIdentity>>,
    calls: AtomicUsize,
}

impl Sts {
    /// An STS for `account`, where every key is the IAM user `sim-user` until told
    /// otherwise.
    pub(crate) fn new(account: &str) -> Sts {
        Sts {
            account: account.to_owned(),
            identities: Mutex::default(),
            calls: AtomicUsize::new(0),
        }
    }

    /// Makes `access_key_id` report `identity` from now on.
    pub fn set_identity(&self, access_key_id: &str, identity: SimIdentity) {
        let mut identities = self
            .identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        identities.insert(access_key_id.to_owned(), identity);
    }

    /// The identity `access_key_id` reports.
    pub fn identity(&self, access_key_id: &str) -> SimIdentity {
        let identities = self
            .identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        identities
            .get(access_key_id)
            .cloned()
            .unwrap_or_else(|| SimIdentity::user(&self.account, "sim-user"))
    }

    /// How many calls passed authentication, failed ones included.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The status and XML document answering one call, given its verification.
    pub(crate) fn answer(
        &self,
        verified: Result<Verified, SigV4Error>,
        body: &[u8],
        request_id: &str,
    ) -> (StatusCode, String) {
        let outcome = verified
            .map_err(StsError::Auth)
            .and_then(|verified| self.call(&verified, body));
        match outcome {
            Ok(document) => (StatusCode::OK, success(&document, request_id)),
            Err(err) => (err.status(), error_document(&err, request_id)),
        }
    }

    fn call(&self, verified: &Verified, body: &[u8]) -> Result<SimIdentity, StsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let text = std::str::from_utf8(body).map_err(|_| StsError::Malformed)?;
        let form = decode_query(&text.replace('+', "%20")).map_err(|_| StsError::Malformed)?;
        let param = |name: &str| {
            form.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        match (param("Action"), param("Version")) {
            (None, _) => Err(StsError::MissingAction),
            (Some("GetCallerIdentity"), Some(VERSION)) => {
                Ok(self.identity(&verified.access_key_id))
            }
            (Some(action), version) => Err(StsError::InvalidAction {
                action: action.to_owned(),
                version: version.unwrap_or_default().to_owned(),
            }),
        }
    }
}

/// Why a call failed, as STS words it.
#[derive(Debug, thiserror::Error)]
enum StsError {
    /// The signature did not verify.
    #[error("{}", auth_message(.0))]
    Auth(SigV4Error),
    /// No `Action` in the form.
    #[error("Missing Action")]
    MissingAction,
    /// An operation this simulator does not implement, or a version it does not speak.
    #[error("Could not find operation {action} for version {version}")]
    InvalidAction { action: String, version: String },
    /// A body that is not a form.
    #[error("The request body is not a valid form.")]
    Malformed,
}

impl StsError {
    fn code(&self) -> &'static str {
        use SigV4Error::*;
        match self {
            StsError::Auth(err) => match err {
                MissingAuthentication => "MissingAuthenticationToken",
                UnknownAccessKey(_) | InvalidSecurityToken => "InvalidClientTokenId",
                ExpiredToken => "ExpiredToken",
                SignatureDoesNotMatch | ContentHashMismatch | Expired(_) | NotYetCurrent(_) => {
                    "SignatureDoesNotMatch"
                }
                WrongRegion { .. } | WrongService { .. } | ScopeDateMismatch { .. } => {
                    "SignatureDoesNotMatch"
                }
                _ => "IncompleteSignature",
            },
            StsError::MissingAction => "MissingAction",
            StsError::InvalidAction { .. } => "InvalidAction",
            StsError::Malformed => "MalformedInput",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            StsError::Auth(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// STS's words for the failures its users meet most; the verifier's otherwise.
fn auth_message(err: &SigV4Error) -> String {
    match err {
        SigV4Error::MissingAuthentication => "Request is missing Authentication Token".to_owned(),
        other => other.to_string(),
    }
}

fn success(identity: &SimIdentity, request_id: &str) -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  <GetCallerIdentityResult>\n    \
         <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  \
         </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  \
         </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        escape(&identity.arn),
        escape(&identity.user_id),
        escape(&identity.account),
        escape(request_id),
    )
}

fn error_document(err: &StsError, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>Sender</Type>\n    \
         <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n\
         </ErrorResponse>\n",
        err.code(),
        escape(&err.to_string()),
        escape(request_id),
    )
}
