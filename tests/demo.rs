//! `eice-proxy demo`, run as a newcomer would: every command it prints is
//! pasted into a shell, and does what its comment says.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::PATIENCE;
use tokio::io::{AsyncBufReadExt, BufReader};
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
    let mut demo = Command::new(env!("CARGO_BIN_EXE_eice-proxy"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
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

    // The environment line and the one-shot commands after it.
    let export = guide
        .iter()
        .find(|l| l.trim().starts_with("export "))
        .expect("an export line")
        .trim();
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

    // Logging in with no key set up, where the demo could start a real sshd.
    let ssh = guide
        .iter()
        .find(|l| l.trim().starts_with("eice-proxy ssh "));
    assert_eq!(
        ssh.is_some(),
        eice_sim::sshd::SimSshd::available(),
        "{guide:#?}"
    );
    if let Some(ssh) = ssh {
        let login = paste(&format!("{export}; {}", ssh.trim())).await;
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
    // sshd directory under ~/.cache).
    let pid = demo.id().expect("the demo runs");
    let cache = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache"));
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let status = timeout(PATIENCE, demo.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    let ca_dir = std::env::temp_dir().join(format!("eice-proxy-demo-{pid}"));
    assert!(!ca_dir.exists(), "{} is left behind", ca_dir.display());
    if let Some(cache) = cache.filter(|c| c.exists()) {
        let left: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("eice-proxy-demo-sshd-")
            })
            .collect();
        assert!(left.is_empty(), "{left:?} left behind");
    }
}
