//! `eice-proxy ssh [-i KEY] [-l USER] [USER@]TARGET [-- SSH_ARGS…]`: push a
//! key with EC2 Instance Connect, then run the system's OpenSSH with this
//! binary's `connect` as its ProxyCommand, so a new teammate with IAM rights
//! logs in on the first try and nobody edits `authorized_keys`.
//!
//! ssh is told the instance id as the host and as `HostKeyAlias`, so
//! `known_hosts` follows the instance rather than a private IP that the next
//! instance may reuse. Its exit status becomes ours.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use tempfile::TempDir;

use super::ssh_config::connect_command;
use crate::agent::{Agent, AgentError};
use crate::cli::{AwsArgs, SshArgs};
use crate::config::{DEFAULT_OS_USER, StrictHostKeyChecking, expand_home};
use crate::public_key::PublicKey;
use crate::target::{Host, Target};

/// The key ssh logs in with, and the public half that is pushed.
struct Key {
    /// Given to ssh with `-i`: the private key file, or a public key file
    /// whose private half the ssh-agent holds (ssh then signs with the agent).
    identity: PathBuf,
    public: PublicKey,
    /// Only this key is offered (`IdentitiesOnly`): one made for this login,
    /// or the agent's key that was pushed.
    only: bool,
    /// A directory removed when the login ends (a temporary key, or the
    /// agent key's `.pub`).
    _temporary: Option<TempDir>,
}

pub(super) async fn run(aws_args: &AwsArgs, args: SshArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(&args.config, aws_args)?;
    let (named_user, host) = match args.destination.split_once('@') {
        Some((user, host)) => (Some(user.to_owned()), host),
        None => (None, args.destination.as_str()),
    };
    let user = args
        .user
        .clone()
        .or(named_user)
        .or(config.ssh.user.clone())
        .unwrap_or_else(|| DEFAULT_OS_USER.to_owned());
    let target = Target {
        host: Host::parse(host)?,
        port: 22,
    };
    let proxy = super::build_login_proxy(&config, true).await?;
    let resolution = proxy
        .resolver()
        .resolve(&target)
        .await
        .with_context(|| format!("cannot resolve {target}"))?;
    let Some(instance) = proxy.resolver().instance_of(&resolution).await? else {
        bail!(
            "no running instance holds {}: a key can only be pushed to an instance",
            resolution.tunnel().private_ip
        );
    };
    let key = choose_key(args.identity.as_deref()).await?;
    proxy
        .keys()
        .push(&resolution.scope, &instance, &user, &key.public)
        .await?;
    tracing::debug!(instance = %instance.id, %user, key = ?key.public, "SSH key pushed");

    let exe = std::env::current_exe().context("finding this program's path")?;
    let proxy_command = connect_command(
        &exe.display().to_string(),
        aws_args,
        args.config.config.as_deref(),
    );
    let (options, remote_command) = split_ssh_args(&args.ssh_args);
    let mut ssh = tokio::process::Command::new("ssh");
    // The ProxyCommand signs with the clock skew learned here, from the start.
    ssh.envs(crate::clock::Clock::process().hand_down());
    ssh.arg("-o")
        .arg(format!("ProxyCommand={proxy_command}"))
        .arg("-o")
        .arg(format!("HostKeyAlias={}", instance.id))
        .arg("-l")
        .arg(&user)
        .arg("-i")
        .arg(&key.identity);
    if key.only {
        ssh.args(["-o", "IdentitiesOnly=yes"]);
    }
    // The team's rule for hop keys holds for logins too; ssh takes the first
    // value it is given, so this one beats the user's ssh_config.
    if config.ssh.strict_host_key_checking == StrictHostKeyChecking::Yes {
        ssh.args(["-o", "StrictHostKeyChecking=yes"]);
    }
    ssh.args(options).arg(&instance.id).args(remote_command);
    let child = ssh.spawn().context("running ssh (OpenSSH client)")?;
    let status = super::child::wait_until_exit(child).await?;
    drop(key); // removes a temporary key before we exit
    Ok(ExitCode::from(status))
}

/// `-i KEY` (with KEY.pub), else the ssh-agent's first key (the one
/// OpenSSH offers first), else the user's usual key, else a new one.
async fn choose_key(identity: Option<&Path>) -> anyhow::Result<Key> {
    if let Some(given) = identity {
        return given_key(&expand_home(given)).await;
    }
    if Agent::socket_from_env().is_some() {
        match agent_first_key().await {
            Ok(key) => return Ok(key),
            Err(e) => tracing::info!("not pushing a key of the ssh-agent: {e}"),
        }
    }
    for name in ["id_ed25519", "id_rsa"] {
        let private = expand_home(Path::new("~/.ssh").join(name).as_path());
        if private.exists()
            && let Ok(public) = PublicKey::read(&pub_path(&private))
        {
            return Ok(Key {
                identity: private,
                public,
                only: false,
                _temporary: None,
            });
        }
    }
    temporary_key().await
}

/// `-i KEY`: the private key, or its `.pub` when only the ssh-agent can sign
/// with it (the private file is gone, unreadable, or passphrase-protected).
async fn given_key(given: &Path) -> anyhow::Result<Key> {
    let (private, public_path) = match given.extension() {
        Some(ext) if ext == "pub" => (given.with_extension(""), given.to_owned()),
        _ => (given.to_owned(), pub_path(given)),
    };
    let public = PublicKey::read(&public_path).map_err(|e| {
        anyhow::anyhow!(
            "{e}; make it with: ssh-keygen -y -f {} > {}",
            private.display(),
            public_path.display()
        )
    })?;
    // EC2 Instance Connect refuses security keys whatever signs for them:
    // the push says so, which is the reason that matters.
    if public.is_security_key() {
        return Ok(Key {
            identity: private,
            public,
            only: false,
            _temporary: None,
        });
    }
    let usable = match std::fs::read_to_string(&private) {
        Ok(text) => match russh::keys::PrivateKey::from_openssh(&text) {
            Ok(key) if key.is_encrypted() => Err(None),
            _ => Ok(()),
        },
        Err(e) => Err(Some(e)),
    };
    let Err(why) = usable else {
        return Ok(Key {
            identity: private,
            public,
            only: false,
            _temporary: None,
        });
    };
    if agent_holds(&public).await {
        return Ok(Key {
            identity: public_path,
            public,
            only: false,
            _temporary: None,
        });
    }
    let locked = AgentError::NotInAgent {
        path: private.clone(),
        agent: Agent::socket_from_env(),
    };
    match why {
        Some(e) => bail!("cannot read {}: {e}; {locked}", private.display()),
        // ssh itself may ask for the passphrase, as it would without us.
        None => {
            tracing::warn!("{locked}; ssh will ask for the passphrase");
            Ok(Key {
                identity: private,
                public,
                only: false,
                _temporary: None,
            })
        }
    }
}

/// Whether the ssh-agent (if any) holds `public`.
async fn agent_holds(public: &PublicKey) -> bool {
    let Ok(mut agent) = Agent::from_env().await else {
        return false;
    };
    let Ok(keys) = agent.keys().await else {
        return false;
    };
    keys.iter().any(|k| {
        k.to_public_key(agent.socket())
            .is_ok_and(|p| same_key(p.line(), public.line()))
    })
}

/// Whether two key lines hold the same key, whatever their comments.
fn same_key(a: &str, b: &str) -> bool {
    let words = |l: &str| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    words(a) == words(b)
}

/// The ssh-agent's first key: pushed, and offered alone by ssh through its
/// `.pub`, written to a private temporary directory.
async fn agent_first_key() -> Result<Key, anyhow::Error> {
    let mut agent = Agent::from_env().await?;
    let key = agent.first().await?;
    let public = key.to_public_key(agent.socket())?;
    let dir = tempfile::Builder::new()
        .prefix("eice-proxy-key-")
        .tempdir()
        .context("making a directory for the agent key's .pub")?;
    let identity = dir.path().join("agent_key.pub");
    std::fs::write(&identity, format!("{}\n", public.line()))
        .context("writing the agent key's .pub")?;
    tracing::info!(key = %key.describe(), "pushing the ssh-agent's first key");
    Ok(Key {
        identity,
        public,
        only: true,
        _temporary: Some(dir),
    })
}

/// A fresh ed25519 key in a private (0700) temporary directory.
async fn temporary_key() -> anyhow::Result<Key> {
    let dir = tempfile::Builder::new()
        .prefix("eice-proxy-key-")
        .tempdir()
        .context("making a directory for a temporary key")?;
    let private = dir.path().join("id_ed25519");
    let status = tokio::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "eice-proxy temporary key",
            "-f",
        ])
        .arg(&private)
        .stdin(std::process::Stdio::null())
        .status()
        .await
        .context("running ssh-keygen (OpenSSH) to make a temporary key")?;
    if !status.success() {
        bail!("ssh-keygen could not make a temporary key ({status})");
    }
    let public = PublicKey::read(&pub_path(&private)).map_err(anyhow::Error::msg)?;
    Ok(Key {
        identity: private,
        public,
        only: true,
        _temporary: Some(dir),
    })
}

fn pub_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// ssh's options that take an argument (ssh(1) SYNOPSIS).
const SSH_OPTIONS_WITH_ARGUMENT: &str = "BbcDEeFIiJLlmOoPpQRSWw";

/// Splits SSH_ARGS into ssh's options, which must come before the host, and
/// the remote command after them (ssh stops reading options at its first
/// non-option word, so the host is placed between the two).
fn split_ssh_args(args: &[String]) -> (&[String], &[String]) {
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            return (&args[..i], &args[i + 1..]);
        }
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            break;
        };
        i += 1;
        // In a cluster like `-vL8080:…`, the first flag that takes an argument
        // takes the rest of the word, or the next word if the rest is empty.
        if let Some(at) = flags.find(|c| SSH_OPTIONS_WITH_ARGUMENT.contains(c))
            && at + 1 == flags.len()
        {
            i += 1;
        }
    }
    let i = i.min(args.len());
    (&args[..i], &args[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str], options: &[&str], command: &[&str]) {
        let owned: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (o, c) = split_ssh_args(&owned);
        assert_eq!(o, options, "{args:?}");
        assert_eq!(c, command, "{args:?}");
    }

    #[test]
    fn options_go_before_the_host_and_the_command_after() {
        check(
            &["-L", "8080:localhost:80", "-v", "uname", "-a"],
            &["-L", "8080:localhost:80", "-v"],
            &["uname", "-a"],
        );
        check(
            &["-vL8080:localhost:80", "-oBatchMode=yes", "true"],
            &["-vL8080:localhost:80", "-oBatchMode=yes"],
            &["true"],
        );
        check(&["-N", "-D", "1081"], &["-N", "-D", "1081"], &[]);
        check(&["-v", "--", "-x"], &["-v"], &["-x"]);
        check(&["echo", "-n"], &[], &["echo", "-n"]);
        check(&["-o"], &["-o"], &[]);
    }
}
