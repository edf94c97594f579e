//! EC2 Instance Connect key push: a public key sent with `SendSSHPublicKey`
//! is accepted by the instance's sshd for one OS user for 60 seconds, long
//! enough to log in, so nobody manages `authorized_keys`.
//!
//! The proxy pushes before opening a port-22 tunnel that a `[[push_key]]`
//! rule covers; `eice-proxy ssh` pushes before it runs OpenSSH. A push is
//! reused for 45 seconds for the same (instance, user, key): well inside the
//! key's 60-second life, so a burst of connections (Ansible, scp after ssh)
//! makes one call, not one each.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use aws_sdk_ec2instanceconnect::Client;
use aws_sdk_ec2instanceconnect::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2instanceconnect::operation::RequestId;
use moka::future::Cache;

use crate::metrics::{ApiOutcome, count_api_call};
use crate::public_key::PublicKey;
use crate::reply::Reply;
use crate::resolve::{InstanceInfo, Scope};

/// How long a push is reused: the key lives 60 s on the instance; 15 s are
/// left for the tunnel to open and ssh to authenticate.
pub const REUSE_PUSH_FOR: Duration = Duration::from_secs(45);

/// Why a key could not be pushed, in words the user can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub struct PushError {
    pub kind: PushErrorKind,
    pub instance: String,
    pub os_user: String,
    /// `arn:aws:ec2:REGION:ACCOUNT:instance/ID`, for the IAM policy.
    pub instance_arn: String,
    /// The key type, for the security-key advice.
    pub key_kind: String,
    /// The service's own words.
    pub message: String,
    pub request_id: Option<String>,
}

/// The service's error classes (SendSSHPublicKey's documented exceptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushErrorKind {
    /// AuthException: IAM denied the push (or the signature was refused).
    Denied,
    /// EC2InstanceNotFoundException.
    NotFound,
    /// EC2InstanceStateInvalidException: not running.
    StateInvalid,
    /// EC2InstanceUnavailableException: the instance cannot take keys now.
    Unavailable,
    /// ThrottlingException, after the SDK's retries.
    Throttled,
    /// InvalidArgsException: the key or the user was refused.
    InvalidArgs,
    /// Anything else: the service's message says it.
    Other,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (id, user) = (&self.instance, &self.os_user);
        match self.kind {
            PushErrorKind::Denied => write!(
                f,
                "not allowed to push an SSH key to {id} for {user}: the caller needs the IAM \
                 permission ec2-instance-connect:SendSSHPublicKey on {} (condition \
                 ec2:osuser = {user}) ({})",
                self.instance_arn, self.message
            ),
            PushErrorKind::NotFound => {
                write!(
                    f,
                    "EC2 Instance Connect does not know instance {id}: {}",
                    self.message
                )
            }
            PushErrorKind::StateInvalid => write!(
                f,
                "cannot push an SSH key to {id}: {} (start it first)",
                self.message
            ),
            PushErrorKind::Unavailable => write!(
                f,
                "instance {id} cannot take an SSH key right now: {}",
                self.message
            ),
            PushErrorKind::Throttled => write!(
                f,
                "pushing an SSH key to {id} was throttled, also after retries: {}; try again shortly",
                self.message
            ),
            PushErrorKind::InvalidArgs if self.key_kind.starts_with("sk-") => write!(
                f,
                "EC2 Instance Connect refuses security-key ({}) keys: use an ed25519 or RSA key \
                 (ssh-keygen -t ed25519), or let eice-proxy make a temporary one ({})",
                self.key_kind, self.message
            ),
            PushErrorKind::InvalidArgs => write!(
                f,
                "EC2 Instance Connect refused the key or user {user} for {id}: {}",
                self.message
            ),
            PushErrorKind::Other => {
                write!(f, "pushing an SSH key to {id} failed: {}", self.message)
            }
        }
    }
}

impl PushError {
    /// What a proxy client is told.
    pub fn reply(&self) -> Reply {
        match self.kind {
            PushErrorKind::Denied => Reply::NotAllowed,
            PushErrorKind::NotFound | PushErrorKind::StateInvalid => Reply::HostUnreachable,
            _ => Reply::GeneralFailure,
        }
    }
}

/// Pushes keys through the EC2 Instance Connect API of each region and
/// profile, reusing recent pushes.
pub struct KeyPusher {
    clients: HashMap<Scope, Client>,
    /// (instance, user, key line) pushed within [`REUSE_PUSH_FOR`].
    pushed: Cache<(String, String, String), ()>,
}

impl fmt::Debug for KeyPusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPusher")
            .field("scopes", &self.clients.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl KeyPusher {
    /// A pusher with one client per scope (built from the same AWS config as
    /// the scope's EC2 client, so it honours the same endpoint overrides).
    pub fn new(clients: HashMap<Scope, Client>) -> KeyPusher {
        KeyPusher {
            clients,
            pushed: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(REUSE_PUSH_FOR)
                .build(),
        }
    }

    /// Pushes `key` for `os_user` to `instance` (found in `scope`), unless the
    /// same push was made moments ago.
    pub async fn push(
        &self,
        scope: &Scope,
        instance: &InstanceInfo,
        os_user: &str,
        key: &PublicKey,
    ) -> Result<(), PushError> {
        let reuse = (
            instance.id.clone(),
            os_user.to_owned(),
            key.line().to_owned(),
        );
        if self.pushed.contains_key(&reuse) {
            return Ok(());
        }
        let client = self
            .clients
            .get(scope)
            .expect("a key-push client for every scope the resolver answers from");
        let attempt = Attempt {
            scope,
            instance,
            os_user,
            key,
        };
        let sent = client
            .send_ssh_public_key()
            .instance_id(&instance.id)
            .instance_os_user(os_user)
            .ssh_public_key(key.line())
            .set_availability_zone(instance.availability_zone.clone())
            .send()
            .await;
        let outcome = match &sent {
            Ok(_) => ApiOutcome::Ok,
            Err(SdkError::TimeoutError(_)) => ApiOutcome::TimedOut,
            Err(e) => ApiOutcome::Failed(e.code()),
        };
        count_api_call("SendSSHPublicKey", outcome);
        match sent {
            Ok(output) if output.success() => {
                self.pushed.insert(reuse, ()).await;
                Ok(())
            }
            Ok(output) => Err(attempt.failed(
                PushErrorKind::Other,
                "the service answered Success=false".into(),
                output.request_id().map(str::to_owned),
            )),
            Err(e) => {
                let kind = match e.code() {
                    Some("AuthException") => PushErrorKind::Denied,
                    Some("EC2InstanceNotFoundException") => PushErrorKind::NotFound,
                    Some("EC2InstanceStateInvalidException") => PushErrorKind::StateInvalid,
                    Some("EC2InstanceUnavailableException") => PushErrorKind::Unavailable,
                    Some("ThrottlingException") => PushErrorKind::Throttled,
                    Some("InvalidArgsException") => PushErrorKind::InvalidArgs,
                    _ => PushErrorKind::Other,
                };
                let message = match &e {
                    SdkError::ServiceError(_) => e.message().unwrap_or("no message").to_owned(),
                    _ => crate::credentials::error_chain(&e),
                };
                Err(attempt.failed(kind, message, e.request_id().map(str::to_owned)))
            }
        }
    }
}

/// One push, for the error that names what was asked.
struct Attempt<'a> {
    scope: &'a Scope,
    instance: &'a InstanceInfo,
    os_user: &'a str,
    key: &'a PublicKey,
}

impl Attempt<'_> {
    fn failed(
        &self,
        kind: PushErrorKind,
        message: String,
        request_id: Option<String>,
    ) -> PushError {
        let region = &self.scope.region;
        PushError {
            kind,
            instance: self.instance.id.clone(),
            os_user: self.os_user.to_owned(),
            instance_arn: format!(
                "arn:{}:ec2:{region}:{}:instance/{}",
                crate::partitions::partition(region).name,
                self.instance.account.as_deref().unwrap_or("*"),
                self.instance.id
            ),
            key_kind: self.key.kind().to_owned(),
            message,
            request_id,
        }
    }
}
