//! EC2 Instance Connect `SendSSHPublicKey` in the simulated account, and the way a
//! real sshd standing for an instance learns which keys were pushed to it.
//!
//! The API is served at the simulated EC2 API's URL (point
//! `AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT` at it) to requests signed for the
//! `ec2-instance-connect` service or naming `AWSEC2InstanceConnectService.*` in
//! `X-Amz-Target`: JSON 1.1 in, JSON 1.1 out, the real service's exceptions (see
//! `api`). A pushed key is valid for [`KEY_LIFETIME`] on the [`SimClock`] of
//! [`KeyService::clock`], which tests advance instead of waiting.
//!
//! On a real instance, sshd's `AuthorizedKeysCommand` asks the instance metadata
//! service for the keys pushed in the last minute. Here the simulator answers
//! `GET /sim/authorized-keys/{instance-id}/{os-user}` with those keys as
//! `authorized_keys` lines, and [`authorized_keys_command_script`] writes the
//! shell script an sshd runs to ask it; the instance id in the URL says which
//! instance that sshd stands for.

mod api;
mod public_key;
mod script;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

pub(crate) use api::{Call, Reply};
pub use script::{
    authorized_keys_command_script, authorized_keys_url, install_authorized_keys_command,
};

use percent_encoding::percent_decode_str;

use crate::clock::SimClock;

/// The signing name of EC2 Instance Connect.
pub const SERVICE: &str = "ec2-instance-connect";

/// The `X-Amz-Target` prefix of the service's JSON operations.
pub const TARGET_PREFIX: &str = "AWSEC2InstanceConnectService.";

/// How long a pushed key stays usable, as on the real service.
pub const KEY_LIFETIME: Duration = Duration::from_secs(60);

/// The path under which the simulator serves pushed keys to sshd.
pub const AUTHORIZED_KEYS_PATH: &str = "/sim/authorized-keys/";

/// A failure `SendSSHPublicKey` can be told to answer the next calls with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFault {
    /// 400 `ThrottlingException`, which SDKs retry.
    Throttling,
    /// 503 `EC2InstanceUnavailableException`: the instance cannot take a key now.
    InstanceUnavailable,
}

/// One pushed key.
#[derive(Debug, Clone)]
struct Pushed {
    instance_id: String,
    os_user: String,
    line: String,
    expires_at: SystemTime,
}

/// The simulated EC2 Instance Connect API's state: pushed keys, the clock they
/// expire on, denials and faults a test armed, and a call count.
#[derive(Debug, Default)]
pub struct KeyService {
    clock: SimClock,
    pushed: Mutex<Vec<Pushed>>,
    /// `(instance id, OS user)` pairs IAM denies.
    denied: Mutex<HashSet<(String, String)>>,
    /// The only OS users keys may be pushed for; `None` allows any.
    os_users: Mutex<Option<HashSet<String>>>,
    /// One entry per call still to fail.
    faults: Mutex<VecDeque<KeyFault>>,
    calls: AtomicUsize,
}

impl KeyService {
    /// The clock keys expire on; `clock().advance(KEY_LIFETIME)` expires every key
    /// pushed so far.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// Denies pushing keys for `os_user` to `instance_id` (`AuthException`), as an
    /// IAM policy with an `ec2:osuser` condition would.
    pub fn deny(&self, instance_id: &str, os_user: &str) {
        lock(&self.denied).insert((instance_id.to_owned(), os_user.to_owned()));
    }

    /// Refuses (`AuthException`) every push for an OS user other than `users`,
    /// on any instance, as an IAM policy whose `ec2:osuser` condition names them
    /// would. An account that other local users can reach (the demo's) allows
    /// its throwaway user alone, so that no one gets a key in for root.
    /// [`KeyService::clear_faults`] leaves this in place: it is policy, not a fault.
    pub fn allow_only_os_users<'a>(&self, users: impl IntoIterator<Item = &'a str>) {
        *lock(&self.os_users) = Some(users.into_iter().map(str::to_owned).collect());
    }

    /// Fails the next `times` calls that pass authentication with `fault` (after
    /// any already armed).
    pub fn fail_next(&self, fault: KeyFault, times: usize) {
        lock(&self.faults).extend(std::iter::repeat_n(fault, times));
    }

    /// Lifts every denial and disarms every fault.
    pub fn clear_faults(&self) {
        lock(&self.denied).clear();
        lock(&self.faults).clear();
    }

    /// The keys pushed for `os_user` on `instance_id` that are still valid, oldest
    /// first, as `authorized_keys` lines.
    pub fn valid_keys(&self, instance_id: &str, os_user: &str) -> Vec<String> {
        let now = self.clock.now();
        let mut pushed = lock(&self.pushed);
        pushed.retain(|key| key.expires_at > now);
        pushed
            .iter()
            .filter(|key| key.instance_id == instance_id && key.os_user == os_user)
            .map(|key| key.line.clone())
            .collect()
    }

    /// How many `SendSSHPublicKey` calls passed authentication, failed ones included.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The answer to `GET /sim/authorized-keys/{instance-id}/{os-user}` (`path` is
    /// the whole path): 200 with the valid keys as `authorized_keys` lines (none
    /// is an empty 200), 404 for an instance `exists` does not know or a path of
    /// another shape.
    pub(crate) fn authorized_keys_document(
        &self,
        path: &str,
        exists: impl Fn(&str) -> bool,
    ) -> (http::StatusCode, String) {
        let segments: Option<Vec<String>> = path.strip_prefix(AUTHORIZED_KEYS_PATH).map(|rest| {
            rest.split('/')
                .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
                .collect()
        });
        match segments.as_deref() {
            Some([instance_id, os_user]) if exists(instance_id) && !os_user.is_empty() => {
                let lines: String = self
                    .valid_keys(instance_id, os_user)
                    .iter()
                    .map(|line| format!("{line}\n"))
                    .collect();
                (http::StatusCode::OK, lines)
            }
            Some([instance_id, _]) if !exists(instance_id) => (
                http::StatusCode::NOT_FOUND,
                format!("no instance {instance_id} in the simulated account\n"),
            ),
            _ => (
                http::StatusCode::NOT_FOUND,
                format!("expected {AUTHORIZED_KEYS_PATH}{{instance-id}}/{{os-user}}\n"),
            ),
        }
    }

    fn is_denied(&self, instance_id: &str, os_user: &str) -> bool {
        let outside = lock(&self.os_users)
            .as_ref()
            .is_some_and(|allowed| !allowed.contains(os_user));
        outside || lock(&self.denied).contains(&(instance_id.to_owned(), os_user.to_owned()))
    }

    fn take_fault(&self) -> Option<KeyFault> {
        lock(&self.faults).pop_front()
    }

    /// Records a key for [`KEY_LIFETIME`]; pushing the same key again renews it.
    /// Crate-visible so that a test can give sshd a key that the API would refuse.
    pub(crate) fn push(&self, instance_id: &str, os_user: &str, line: String) {
        let expires_at = self.clock.now() + KEY_LIFETIME;
        let mut pushed = lock(&self.pushed);
        pushed.retain(|key| {
            !(key.instance_id == instance_id && key.os_user == os_user && key.line == line)
        });
        pushed.push(Pushed {
            instance_id: instance_id.to_owned(),
            os_user: os_user.to_owned(),
            line,
            expires_at,
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
