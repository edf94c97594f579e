//! The demo as a test runs it: started, its guide read, stopped with Ctrl-C;
//! and the Instance Connect call another local user would make against it.

use std::collections::HashMap;
use std::process::Stdio;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_ec2instanceconnect::error::ProvideErrorMetadata as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

use crate::common::PATIENCE;

/// The instance behind which the demo runs a real sshd, where it can.
pub const EU_WEB_1: &str = "i-0e1a2b3c4d5e60001";

/// A running demo and the guide it printed.
pub struct Demo {
    /// The `eice-proxy demo` process.
    pub child: Child,
    /// What it printed, up to the line before its log.
    pub guide: Vec<String>,
}

impl Demo {
    /// Starts `eice-proxy demo` and reads its guide.
    pub async fn start() -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eice-proxy"))
            .args(["demo", "--listen", "127.0.0.1:0"])
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut guide = Vec::new();
        timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let done = line.starts_with("The proxy's log follows");
                guide.push(line);
                if done {
                    break;
                }
            }
        })
        .await
        .expect("the demo prints its guide");
        Demo { child, guide }
    }

    /// The printed `export …` line, as printed.
    pub fn export(&self) -> &str {
        self.guide
            .iter()
            .find(|l| l.trim().starts_with("export "))
            .expect("an export line")
            .trim()
    }

    /// The export line's variables.
    pub fn env(&self) -> HashMap<String, String> {
        let export = self.export().trim_start_matches("export ");
        export
            .split(' ')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// The printed `eice-proxy ssh …` line, where the demo runs a real sshd.
    pub fn ssh(&self) -> Option<&str> {
        self.guide
            .iter()
            .map(|l| l.trim())
            .find(|l| l.starts_with("eice-proxy ssh "))
    }

    /// The one user that line logs in (its `-l`).
    pub fn ssh_user(&self) -> Option<&str> {
        let mut words = self.ssh()?.split(' ');
        words.find(|w| *w == "-l")?;
        words.next()
    }
}

impl Demo {
    /// Ctrl-C, which ends the demo as a user would; returns how it exited.
    pub async fn stop(&mut self) -> std::process::ExitStatus {
        interrupt(&self.child);
        timeout(PATIENCE, self.child.wait())
            .await
            .expect("the demo ends on Ctrl-C")
            .unwrap()
    }
}

/// A demo a test leaves (when it fails, say) still gets Ctrl-C rather than a
/// kill: it removes its user and files only on its way out.
impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            interrupt(&self.child);
        }
    }
}

/// Sends SIGINT to `child`, if it still runs.
fn interrupt(child: &Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
    }
}

/// `SendSSHPublicKey` for `os_user` on eu-web-1 at the demo's Instance Connect
/// URL, signed with `id` and `secret`, as the AWS CLI would send it; on
/// refusal, the exception's name and message.
pub async fn push(
    env: &HashMap<String, String>,
    id: &str,
    secret: &str,
    os_user: &str,
) -> Result<(), (String, String)> {
    let conf = aws_sdk_ec2instanceconnect::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .endpoint_url(&env["AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT"])
        .credentials_provider(Credentials::new(id, secret, None, None, "attacker"))
        .build();
    let key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7qIRxU2sVR7LX2X5PbqQ8FfrMAjGq4y4nKZ7y0Sxxa attacker";
    let sent = aws_sdk_ec2instanceconnect::Client::from_conf(conf)
        .send_ssh_public_key()
        .instance_id(EU_WEB_1)
        .instance_os_user(os_user)
        .ssh_public_key(key)
        .send();
    match timeout(PATIENCE, sent).await.expect("the push ends") {
        Ok(_) => Ok(()),
        Err(err) => {
            let err = err.into_service_error();
            Err((
                err.code().unwrap_or_default().to_owned(),
                err.message().unwrap_or_default().to_owned(),
            ))
        }
    }
}

/// Whether the system's user database knows `name`.
pub fn user_exists(name: &str) -> bool {
    std::process::Command::new("getent")
        .args(["passwd", name])
        .output()
        .unwrap()
        .status
        .success()
}
