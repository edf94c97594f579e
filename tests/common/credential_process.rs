//! A `credential_process` for tests: a bash script that hands out a new
//! temporary key on every call, and the AWS config file whose profile runs it,
//! so a test can watch the proxy refresh (or re-fetch) its credentials. The
//! simulated account may hold a key's token as expired, whatever the process
//! said of it.

use std::collections::HashMap;
use std::path::PathBuf;

use eice_sim::account::SimAws;
use eice_sim::sigv4::SimCredential;
use eice_sim::world::World;
use tempfile::TempDir;

use super::Proxy;

/// How many temporary keys the simulated account knows for the credential
/// process; far more than any test asks for.
pub const PROCESS_KEYS: usize = 50;

/// The access key id the credential process hands out on its `n`th call.
pub fn process_key_id(n: usize) -> String {
    format!("AKIDPROCESS{n:06}")
}

/// A bash `credential_process` handing out temporary key `n` on its `n`th
/// call (counted in a file), valid for `valid_secs` from the call, and the
/// AWS config file whose profile `sim` runs it.
pub struct CredentialProcess {
    dir: TempDir,
}

impl CredentialProcess {
    pub fn new(valid_secs: u64) -> CredentialProcess {
        CredentialProcess::writing(Some(valid_secs))
    }

    /// A process whose answers name no `Expiration` (the format allows it:
    /// long-term keys, or a script that does not say).
    pub fn without_expiration() -> CredentialProcess {
        CredentialProcess::writing(None)
    }

    fn writing(valid_secs: Option<u64>) -> CredentialProcess {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("credentials.sh");
        let calls = dir.path().join("calls");
        let answer = r#"{"Version":1,"AccessKeyId":"AKIDPROCESS%06d","SecretAccessKey":"process-secret-%d","SessionToken":"process-token-%d""#;
        let print = match valid_secs {
            Some(secs) => format!(
                "expires=$(date -u -d \"+{secs} seconds\" +%Y-%m-%dT%H:%M:%SZ)\n\
                 printf '{answer},\"Expiration\":\"%s\"}}\\n' \"$n\" \"$n\" \"$n\" \"$expires\""
            ),
            None => format!("printf '{answer}}}\\n' \"$n\" \"$n\" \"$n\""),
        };
        std::fs::write(
            &script,
            format!(
                "#!/bin/bash\nset -eu\n\
                 n=$(( $(cat '{calls}' 2>/dev/null || echo 0) + 1 ))\n\
                 echo \"$n\" > '{calls}'\n\
                 {print}\n",
                calls = calls.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.path().join("config"),
            format!("[profile sim]\ncredential_process = {}\n", script.display()),
        )
        .unwrap();
        CredentialProcess { dir }
    }

    /// Every key the process can hand out, as the simulated account knows them.
    pub fn keys() -> HashMap<String, SimCredential> {
        (1..=PROCESS_KEYS)
            .map(|n| {
                let credential = SimCredential::with_session_token(
                    format!("process-secret-{n}"),
                    format!("process-token-{n}"),
                );
                (process_key_id(n), credential)
            })
            .collect()
    }

    /// [`CredentialProcess::keys`], with key `n`'s session token expired at
    /// the service an hour ago.
    pub fn keys_with_expired(n: usize) -> HashMap<String, SimCredential> {
        let mut keys = CredentialProcess::keys();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let expired = keys
            .remove(&process_key_id(n))
            .unwrap()
            .expiring_at(hour_ago);
        keys.insert(process_key_id(n), expired);
        keys
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// How many times the process ran.
    pub fn calls(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .map(|text| text.trim().parse().unwrap())
            .unwrap_or(0)
    }

    /// The proxy against a simulated account that knows the process's keys,
    /// with profile `sim` and no static keys in its environment.
    pub async fn start_proxy(&self) -> Proxy {
        self.start_proxy_knowing(CredentialProcess::keys()).await
    }

    /// [`CredentialProcess::start_proxy`], the account knowing `keys`.
    pub async fn start_proxy_knowing(&self, keys: HashMap<String, SimCredential>) -> Proxy {
        let aws = SimAws::start_with(World::demo(), false, keys)
            .await
            .unwrap();
        let config = self.config_file().display().to_string();
        Proxy::start_with_env(
            aws,
            "",
            &[("AWS_CONFIG_FILE", &config), ("AWS_PROFILE", "sim")],
            &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        )
        .await
    }
}
