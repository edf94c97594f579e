//! The JSON 1.1 side of `SendSSHPublicKey`: parse, validate, check, record, and
//! answer in the service's shapes.
//!
//! Checks run in the order a caller can observe on the real service: signature,
//! operation, request shape, key, then (with the caller authenticated and the
//! request understood) throttling, IAM, the instance's existence and state, and the
//! Availability Zone. Every refusal is `{"__type": …, "Message": …}` with the type
//! also in `x-amzn-ErrorType`; all are HTTP 400 except
//! `EC2InstanceUnavailableException`, which the service documents as 503, and
//! a stale signature or expired token (403).

use http::StatusCode;
use serde::Deserialize;

use super::{KeyFault, KeyService, TARGET_PREFIX, public_key};
use crate::sigv4::{SigV4Error, Verified};
use crate::sts::Sts;
use crate::world::{InstanceState, World};

/// The one operation implemented.
const SEND_SSH_PUBLIC_KEY: &str = "SendSSHPublicKey";

/// The instance OS user pattern the API's model declares.
const OS_USER_PATTERN: &str = r"^[A-Za-z_][A-Za-z0-9\@\._-]{0,30}[A-Za-z0-9\$_-]?$";

/// The instance id pattern the API's model declares.
const INSTANCE_ID_PATTERN: &str = "^i-[a-f0-9]+$";

/// One call as the server received it.
pub(crate) struct Call<'a> {
    /// The signature check's outcome.
    pub(crate) verified: Result<Verified, SigV4Error>,
    /// The `X-Amz-Target` header, if any.
    pub(crate) target: Option<&'a str>,
    /// The JSON body.
    pub(crate) body: &'a [u8],
    /// The world of the call's region: where the instance must be.
    pub(crate) world: &'a World,
    /// Who each key is, for the words of an IAM denial.
    pub(crate) sts: &'a Sts,
    /// This response's request id.
    pub(crate) request_id: &'a str,
}

/// A JSON response: status, error type (for `x-amzn-ErrorType`) and body.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// The exception's name, `None` on success.
    pub(crate) error_type: Option<&'static str>,
    /// The JSON document.
    pub(crate) body: String,
}

/// The request document; every member optional here so that a missing one is
/// answered with the service's validation error rather than a parse error.
#[derive(Debug, Deserialize)]
struct Request {
    #[serde(rename = "InstanceId")]
    instance_id: Option<String>,
    #[serde(rename = "InstanceOSUser")]
    os_user: Option<String>,
    #[serde(rename = "SSHPublicKey")]
    key: Option<String>,
    #[serde(rename = "AvailabilityZone")]
    availability_zone: Option<String>,
}

/// Why a call failed; `Display` is the `Message`.
#[derive(Debug, thiserror::Error)]
enum KeyError {
    /// A bad signature, or IAM said no.
    #[error("{0}")]
    Auth(String),
    /// A signature from a clock more than five minutes from the service's, or
    /// an expired session token: refused as the JSON services refuse them
    /// (`InvalidSignatureException`, `ExpiredTokenException`), whose first
    /// the SDKs correct by the answer's `Date`.
    #[error("{0}")]
    Signature(SigV4Error),
    /// `X-Amz-Target` names no operation of this service.
    #[error("Unknown operation: {0}")]
    UnknownOperation(String),
    /// The body is not a JSON object.
    #[error("The request body could not be parsed as JSON: {0}")]
    Serialization(String),
    /// A member is missing or breaks the model's constraints.
    #[error("1 validation error detected: {0}")]
    Validation(String),
    /// An argument the service refuses on its merits.
    #[error("{0}")]
    InvalidArgs(String),
    /// No such instance in the call's region.
    #[error("The instance ID '{0}' was not found in {1}.")]
    NotFound(String, String),
    /// The instance is not running.
    #[error(
        "Instance {0} is in state '{1}'; keys can only be pushed to a running instance. Start the instance and try again."
    )]
    StateInvalid(String, &'static str),
    /// An injected [`KeyFault::InstanceUnavailable`].
    #[error("Instance {0} is currently unavailable. Wait a few minutes and try again.")]
    Unavailable(String),
    /// An injected [`KeyFault::Throttling`].
    #[error("Rate exceeded")]
    Throttling,
}

impl KeyError {
    fn error_type(&self) -> &'static str {
        match self {
            KeyError::Auth(_) => "AuthException",
            KeyError::Signature(err) => err.error_code(),
            KeyError::UnknownOperation(_) => "UnknownOperationException",
            KeyError::Serialization(_) => "SerializationException",
            KeyError::Validation(_) => "ValidationException",
            KeyError::InvalidArgs(_) => "InvalidArgsException",
            KeyError::NotFound(..) => "EC2InstanceNotFoundException",
            KeyError::StateInvalid(..) => "EC2InstanceStateInvalidException",
            KeyError::Unavailable(_) => "EC2InstanceUnavailableException",
            KeyError::Throttling => "ThrottlingException",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            KeyError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            KeyError::Signature(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl KeyService {
    /// Answers one call.
    pub(crate) fn answer(&self, call: Call<'_>) -> Reply {
        match self.send_ssh_public_key(&call) {
            Ok(()) => Reply {
                status: StatusCode::OK,
                error_type: None,
                body: serde_json::json!({"RequestId": call.request_id, "Success": true})
                    .to_string(),
            },
            Err(err) => Reply {
                status: err.status(),
                error_type: Some(err.error_type()),
                body: serde_json::json!({"__type": err.error_type(), "Message": err.to_string()})
                    .to_string(),
            },
        }
    }

    fn send_ssh_public_key(&self, call: &Call<'_>) -> Result<(), KeyError> {
        let verified = match &call.verified {
            Ok(verified) => verified,
            Err(
                err @ (SigV4Error::Expired(_)
                | SigV4Error::NotYetCurrent(_)
                | SigV4Error::ExpiredToken),
            ) => return Err(KeyError::Signature(err.clone())),
            Err(err) => return Err(KeyError::Auth(err.to_string())),
        };
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let operation = call.target.and_then(|t| t.strip_prefix(TARGET_PREFIX));
        if operation != Some(SEND_SSH_PUBLIC_KEY) {
            return Err(KeyError::UnknownOperation(
                call.target.unwrap_or("(no X-Amz-Target)").to_owned(),
            ));
        }
        let request: Request = serde_json::from_slice(call.body)
            .map_err(|err| KeyError::Serialization(err.to_string()))?;
        let instance_id = required(request.instance_id.as_deref(), "instanceId")?;
        check_pattern(
            instance_id,
            "instanceId",
            INSTANCE_ID_PATTERN,
            instance_id_ok,
        )?;
        let os_user = required(request.os_user.as_deref(), "instanceOSUser")?;
        check_pattern(os_user, "instanceOSUser", OS_USER_PATTERN, os_user_ok)?;
        let key = required(request.key.as_deref(), "sshPublicKey")?;
        let line = public_key::check(key).map_err(|err| KeyError::InvalidArgs(err.to_string()))?;
        match self.take_fault() {
            Some(KeyFault::Throttling) => return Err(KeyError::Throttling),
            Some(KeyFault::InstanceUnavailable) => {
                return Err(KeyError::Unavailable(instance_id.to_owned()));
            }
            None => {}
        }
        if self.is_denied(instance_id, os_user) {
            return Err(denied(call, verified, instance_id, os_user));
        }
        let world = call.world;
        let instance = world
            .instance(instance_id)
            .ok_or_else(|| KeyError::NotFound(instance_id.to_owned(), world.region.clone()))?;
        if instance.state != InstanceState::Running {
            return Err(KeyError::StateInvalid(
                instance_id.to_owned(),
                instance.state.as_str(),
            ));
        }
        let zone = world.subnet(&instance.subnet).map(|s| &s.availability_zone);
        if let Some(asked) = &request.availability_zone
            && Some(asked) != zone
        {
            return Err(KeyError::InvalidArgs(format!(
                "The Availability Zone {asked} does not match the Availability Zone of instance {instance_id} ({}).",
                zone.map_or("unknown", String::as_str)
            )));
        }
        self.push(instance_id, os_user, line);
        Ok(())
    }
}

/// IAM's words for a denial, naming the caller, the action and the instance.
fn denied(call: &Call<'_>, verified: &Verified, instance_id: &str, os_user: &str) -> KeyError {
    let caller = call.sts.identity(&verified.access_key_id).arn;
    let world = call.world;
    KeyError::Auth(format!(
        "User: {caller} is not authorized to perform: ec2-instance-connect:SendSSHPublicKey on \
         resource: arn:{}:ec2:{}:{}:instance/{instance_id} with ec2:osuser '{os_user}' because \
         no identity-based policy allows the ec2-instance-connect:SendSSHPublicKey action",
        world.partition(),
        world.region,
        world.account_id,
    ))
}

fn required<'a>(value: Option<&'a str>, member: &str) -> Result<&'a str, KeyError> {
    value.ok_or_else(|| {
        KeyError::Validation(format!(
            "Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn check_pattern(
    value: &str,
    member: &str,
    pattern: &str,
    matches: fn(&str) -> bool,
) -> Result<(), KeyError> {
    if matches(value) {
        return Ok(());
    }
    Err(KeyError::Validation(format!(
        "Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular \
         expression pattern: {pattern}"
    )))
}

/// [`INSTANCE_ID_PATTERN`], with the model's 10 to 32 characters.
fn instance_id_ok(id: &str) -> bool {
    let hex = id.strip_prefix("i-").unwrap_or_default();
    (10..=32).contains(&id.len())
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// [`OS_USER_PATTERN`]: a letter or `_`, then up to 30 of letters, digits and
/// `@._-`, then optionally one of letters, digits and `$_-`.
fn os_user_ok(user: &str) -> bool {
    let bytes = user.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    let middle = |b: &u8| b.is_ascii_alphanumeric() || b"@._-".contains(b);
    let last = |b: &u8| b.is_ascii_alphanumeric() || b"$_-".contains(b);
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return false;
    }
    let all_middle = |part: &[u8]| part.len() <= 30 && part.iter().all(middle);
    all_middle(rest)
        || rest
            .split_last()
            .is_some_and(|(end, body)| last(end) && all_middle(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_users_follow_the_models_pattern() {
        for ok in [
            "ec2-user",
            "_x",
            "a",
            "ubuntu",
            "svc.deploy@corp",
            "a$",
            &"a".repeat(32),
        ] {
            assert!(os_user_ok(ok), "{ok}");
        }
        let too_long = "a".repeat(33);
        for bad in ["", "1abc", "bad user", "a$b", "a/b", too_long.as_str()] {
            assert!(!os_user_ok(bad), "{bad}");
        }
        assert!(!os_user_ok(&format!("{}.", "a".repeat(31))));
    }

    #[test]
    fn instance_ids_follow_the_models_pattern() {
        assert!(instance_id_ok("i-0a1b2c3d4e5f60001"));
        assert!(instance_id_ok("i-0123abcd"));
        assert!(!instance_id_ok("i-0123abc"));
        assert!(!instance_id_ok("i-0A1B2C3D4E5F60001"));
        assert!(!instance_id_ok("web-1"));
    }
}
