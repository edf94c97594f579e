//! `eice-proxy demo`, run as a newcomer would: every command it prints is
//! pasted into a shell, and does what its comment says. And run as another
//! local user would attack it: no key gets in for root, neither with the public
//! example key pair nor with the demo's own.

mod common;
mod running_demo;

use std::path::Path;
use std::process::Stdio;

use common::PATIENCE;
use eice_sim::eice::{EXAMPLE_ACCESS_KEY_ID, EXAMPLE_SECRET_ACCESS_KEY};
use running_demo::{Demo, push, user_exists};
use tokio::process::Command;
use tokio::time::timeout;

/// A printed command, what its comment promises, and whether it should work.
struct Pasted {
    command: String,
    comment: String,
}

/// Runs `command` in `sh` with this build's binary first on PATH.
async fn paste(command: &str) -> std::process::Output {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_eice-proxy"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = Command::new("sh")
        .args(["-c", command])
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("the command ends")
        .unwrap()
}

#[tokio::test]
async fn every_command_the_demo_prints_works_when_pasted() {
    let mut demo = Demo::start().await;
    let guide = demo.guide.clone();

    let mut pasted = Vec::new();
    for (i, line) in guide.iter().enumerate() {
        let command = line.trim();
        if command.starts_with("nc ") || command.starts_with("curl ") {
            let comment = guide[i + 1].trim().trim_start_matches("# ").to_owned();
            pasted.push(Pasted {
                command: command.to_owned(),
                comment,
            });
        }
    }
    assert_eq!(pasted.len(), 8, "{guide:#?}");
    // A fresh machine has no nc: the guide leads with what needs nothing but
    // eice-proxy, and says where `nc -X` comes from before it offers it.
    let first = |prefix: &str| {
        guide
            .iter()
            .position(|l| l.trim().starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starts with {prefix:?}: {guide:#?}"))
    };
    let connect = first("eice-proxy connect ");
    assert!(
        first("Paste these") < first("export ")
            && first("export ") < connect
            && connect < first("nc ")
            && connect < first("curl ")
            && first("ssh -o ProxyCommand='eice-proxy connect") < first("ssh -o ProxyCommand='nc "),
        "{guide:#?}"
    );
    assert!(
        guide[connect..first("nc ")]
            .iter()
            .any(|l| l.contains("netcat-openbsd")),
        "{guide:#?}"
    );
    for p in &pasted {
        let output = paste(&p.command).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if p.comment.starts_with("refused") {
            assert!(
                !output.status.success(),
                "{} should fail: {stdout}",
                p.command
            );
            assert!(stdout.is_empty(), "{}: {stdout}", p.command);
        } else {
            assert!(
                output.status.success(),
                "{}: {}",
                p.command,
                String::from_utf8_lossy(&output.stderr)
            );
            let who = if p.comment.contains("web-1") {
                "web-1"
            } else {
                "db-1"
            };
            assert!(stdout.contains(who), "{} printed {stdout:?}", p.command);
        }
    }

    // The environment line and the one-shot commands after it. Its files are
    // in a private directory of a random name, not one another user could
    // have made beforehand.
    let export = demo.export().to_owned();
    let env = demo.env();
    let ca_dir = Path::new(&env["AWS_CA_BUNDLE"])
        .parent()
        .unwrap()
        .to_owned();
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(&ca_dir).unwrap();
        assert!(meta.is_dir(), "{}", ca_dir.display());
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    }
    assert!(
        guide.iter().any(|l| l.contains("It dies with the")),
        "{guide:#?}"
    );
    let resolve = paste(&format!(
        "{export}; eice-proxy resolve web-1 db-1 i-0a1b2c3d4e5f60001"
    ))
    .await;
    let text = String::from_utf8_lossy(&resolve.stdout);
    assert!(
        resolve.status.success(),
        "{}",
        String::from_utf8_lossy(&resolve.stderr)
    );
    assert!(
        text.contains("instance    i-0a1b2c3d4e5f60002 (db-1, running)"),
        "{text}"
    );
    let connect = paste(&format!("{export}; eice-proxy connect web-1 22 </dev/null")).await;
    assert!(
        connect.status.success(),
        "{}",
        String::from_utf8_lossy(&connect.stderr)
    );
    assert!(
        String::from_utf8_lossy(&connect.stdout)
            .starts_with("SSH-2.0-eice-proxy-simulated i-0a1b2c3d4e5f60001 web-1")
    );

    // win-1's password, decrypted with the demo's launch key: `--print`
    // keeps the port open, so the command is read up to the password, then stopped.
    let rdp = guide
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("eice-proxy rdp win-1 --key ") && l.ends_with(" --print"))
        .unwrap_or_else(|| panic!("no rdp line: {guide:#?}"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_eice-proxy"))
        .parent()
        .unwrap();
    let mut child = Command::new("sh")
        .args(["-c", &format!("{export}; exec {rdp}")])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
    let password = loop {
        let line = timeout(PATIENCE, lines.next_line()).await.unwrap().unwrap();
        let line = line.expect("rdp --print prints the password");
        if let Some(rest) = line.strip_prefix("password") {
            break rest.trim().to_owned();
        }
    };
    assert_eq!(password, eice_sim::world::windows::ADMINISTRATOR_PASSWORD);
    drop(child);

    // Why the blocked instance is refused, and the rule that would let it in.
    let doctor = paste(&format!("{export}; eice-proxy doctor locked-1")).await;
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(!doctor.status.success(), "{text}");
    assert!(
        text.contains(
            "✗ instance groups sg-0a1b2c3d4e5f60053 inbound tcp 22: no rule allows it from the \
             endpoint eice-0a1b2c3d4e5f60021"
        ) && text.contains("--group-id sg-0a1b2c3d4e5f60053 --protocol tcp --port 22 --source-group sg-0a1b2c3d4e5f60051"),
        "{text}"
    );

    // Logging in with no key set up, where the demo could start a real sshd:
    // as its throwaway user, which exists while the demo runs.
    let ssh = demo.ssh().map(str::to_owned);
    let user = demo.ssh_user().map(str::to_owned);
    assert_eq!(
        ssh.is_some(),
        eice_sim::sshd::SimSshd::available(),
        "{guide:#?}"
    );
    if let (Some(ssh), Some(user)) = (&ssh, &user) {
        assert!(
            user.starts_with("eice-demo-") && user_exists(user),
            "{user}"
        );
        // The same command for root gets nothing: no key is taken for it.
        let root = paste(&format!(
            "{export}; {}",
            ssh.replace(&format!("-l {user} "), "-l root ")
        ))
        .await;
        assert!(!root.status.success());
        assert!(
            root.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&root.stdout)
        );
        let login = paste(&format!("{export}; {ssh}")).await;
        assert!(
            login.status.success(),
            "{}",
            String::from_utf8_lossy(&login.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&login.stdout).trim(),
            "logged in to eu-web-1"
        );
    } else {
        common::skip::skip(
            "the login through the demo's real sshd",
            "it needs root and sshd (Debian package openssh-server)",
        );
    }

    // Ctrl-C ends the demo, which removes what it wrote (the CA file, and the
    // sshd directory under ~/.cache) and the user it made.
    let pid = demo.child.id().expect("the demo runs");
    let cache = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache"));
    let sshd_dirs = |cache: &Path| -> Vec<_> {
        let Ok(entries) = std::fs::read_dir(cache) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("eice-proxy-demo-sshd-{pid}-"))
            })
            .map(|e| e.path())
            .collect()
    };
    if let Some(cache) = &cache {
        let dirs = sshd_dirs(cache);
        assert_eq!(dirs.len(), usize::from(ssh.is_some()), "{dirs:?}");
        // Were a key ever let in for root, sshd would still refuse it.
        if let (Some(dir), Some(user)) = (dirs.first(), &user) {
            let config = std::fs::read_to_string(dir.join("sshd_config")).unwrap();
            assert!(
                config.contains(&format!("PermitRootLogin no\nAllowUsers {user}\n")),
                "{config}"
            );
        }
    }
    let status = demo.stop().await;
    assert!(status.success(), "{status}");
    assert!(!ca_dir.exists(), "{} is left behind", ca_dir.display());
    if let Some(user) = &user {
        assert!(!user_exists(user), "the user {user} is left behind");
    }
    if let Some(cache) = &cache {
        let left = sshd_dirs(cache);
        assert!(left.is_empty(), "{left:?} left behind");
    }
}

#[tokio::test]
async fn a_key_pushed_for_root_with_the_example_key_is_refused_and_with_the_demos_too() {
    let mut demo = Demo::start().await;
    let env = demo.env();
    // The attack as reported: the documentation's example pair, for root.
    let (code, message) = push(
        &env,
        EXAMPLE_ACCESS_KEY_ID,
        EXAMPLE_SECRET_ACCESS_KEY,
        "root",
    )
    .await
    .expect_err("a key pushed with the example pair");
    assert_eq!(code, "AuthException", "{message}");
    assert!(
        message.contains("The security token included in the request is invalid"),
        "{message}"
    );
    let (id, secret) = (&env["AWS_ACCESS_KEY_ID"], &env["AWS_SECRET_ACCESS_KEY"]);
    assert_ne!(id, EXAMPLE_ACCESS_KEY_ID);
    assert_ne!(secret, EXAMPLE_SECRET_ACCESS_KEY);
    // With the pair the demo printed, root is refused all the same, and so is
    // any user but the demo's own.
    for user in ["root", "ec2-user"] {
        let (code, message) = push(&env, id, secret, user)
            .await
            .expect_err("a key pushed for root with the demo's pair");
        assert_eq!(code, "AuthException", "{message}");
        assert!(
            message.contains(&format!("with ec2:osuser '{user}'")),
            "{message}"
        );
    }
    if let Some(user) = demo.ssh_user() {
        push(&env, id, secret, user)
            .await
            .expect("a key pushed for the demo's user");
    }
    let status = demo.stop().await;
    assert!(status.success(), "{status}");
}
