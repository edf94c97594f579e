//! The key checks, the store's 60 seconds on the simulated clock, and the sshd
//! script (run for real with `sh` and curl against a running simulator).

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

use super::public_key::{KeyRejection, check};
use super::*;
use crate::ec2_api::{Ec2Sim, Ec2SimConfig};
use crate::world::World;

/// Appends an SSH wire-format string.
fn ssh_string(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    out.extend_from_slice(data);
}

/// An `authorized_keys` line of `kind` whose blob holds `fields` after the type.
fn key_line(kind: &str, fields: &[&[u8]]) -> String {
    let mut blob = Vec::new();
    ssh_string(&mut blob, kind.as_bytes());
    for field in fields {
        ssh_string(&mut blob, field);
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(blob);
    format!("{kind} {encoded} test@sim")
}

/// A well-formed Ed25519 key line; `seed` varies the key.
pub(crate) fn ed25519_line(seed: u8) -> String {
    key_line("ssh-ed25519", &[&[seed; 32]])
}

/// A well-formed RSA key line with a modulus of `bits` bits.
pub(crate) fn rsa_line(bits: usize) -> String {
    let mut modulus = vec![0u8; 1 + bits / 8];
    modulus[1] = 0x80;
    key_line("ssh-rsa", &[&[1, 0, 1], &modulus])
}

#[test]
fn rsa_of_2048_bits_and_ed25519_are_accepted() {
    assert_eq!(check(&ed25519_line(7)), Ok(ed25519_line(7)));
    assert!(check(&format!("  {}\n", rsa_line(2048))).is_ok());
    assert!(check(&rsa_line(4096)).is_ok());
    assert_eq!(check(&rsa_line(1024)), Err(KeyRejection::RsaTooShort(1024)));
}

#[test]
fn security_keys_ecdsa_and_malformed_keys_are_refused() {
    let sk = key_line("sk-ssh-ed25519@openssh.com", &[&[1; 32], b"ssh:"]);
    let err = check(&sk).unwrap_err();
    assert_eq!(
        err,
        KeyRejection::SecurityKey("sk-ssh-ed25519@openssh.com".into())
    );
    assert!(err.to_string().contains("not supported"), "{err}");
    let sk_ecdsa = key_line("sk-ecdsa-sha2-nistp256@openssh.com", &[b"nistp256"]);
    assert!(matches!(
        check(&sk_ecdsa),
        Err(KeyRejection::SecurityKey(_))
    ));
    let ecdsa = key_line("ecdsa-sha2-nistp256", &[b"nistp256", &[4; 65]]);
    assert!(matches!(check(&ecdsa), Err(KeyRejection::Unsupported(_))));
    let cases = [
        "ssh-ed25519".to_owned(),
        "ssh-ed25519 not*base64".to_owned(),
        key_line("ssh-ed25519", &[&[1; 31]]),
        key_line("ssh-ed25519", &[&[1; 32], b"extra"]),
        ed25519_line(1).replace("ssh-ed25519 ", "ssh-rsa "),
        "ssh-rsa AAAA".to_owned(),
    ];
    for line in cases {
        assert!(
            matches!(check(&line), Err(KeyRejection::Malformed(_))),
            "{line}: {:?}",
            check(&line)
        );
    }
}

#[test]
fn keys_made_by_ssh_keygen_pass_or_fail_by_type() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, bits, ok) in [
        ("ed25519", "256", true),
        ("rsa", "2048", true),
        ("ecdsa", "256", false),
    ] {
        let path = dir.path().join(kind);
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-b", bits, "-N", "", "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen (Debian package openssh-client)");
        assert!(status.success());
        let line = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        assert_eq!(check(&line).is_ok(), ok, "{kind}: {:?}", check(&line));
    }
}

#[test]
fn a_pushed_key_lives_60_seconds_on_the_simulated_clock() {
    let keys = KeyService::default();
    keys.push("i-0a1b2c3d4e5f60001", "ec2-user", ed25519_line(1));
    keys.clock().advance(Duration::from_secs(30));
    keys.push("i-0a1b2c3d4e5f60001", "ec2-user", ed25519_line(2));
    assert_eq!(
        keys.valid_keys("i-0a1b2c3d4e5f60001", "ec2-user"),
        [ed25519_line(1), ed25519_line(2)]
    );
    assert!(keys.valid_keys("i-0a1b2c3d4e5f60001", "root").is_empty());
    assert!(
        keys.valid_keys("i-0a1b2c3d4e5f60002", "ec2-user")
            .is_empty()
    );
    keys.clock().advance(Duration::from_secs(30));
    assert_eq!(
        keys.valid_keys("i-0a1b2c3d4e5f60001", "ec2-user"),
        [ed25519_line(2)]
    );
    // Pushing the same key again renews it rather than listing it twice.
    keys.push("i-0a1b2c3d4e5f60001", "ec2-user", ed25519_line(2));
    keys.clock().advance(Duration::from_secs(45));
    assert_eq!(
        keys.valid_keys("i-0a1b2c3d4e5f60001", "ec2-user"),
        [ed25519_line(2)]
    );
    keys.clock().advance(KEY_LIFETIME);
    assert!(
        keys.valid_keys("i-0a1b2c3d4e5f60001", "ec2-user")
            .is_empty()
    );
}

#[test]
fn the_script_quotes_its_url_and_refuses_odd_user_names() {
    let script = authorized_keys_command_script("http://127.0.0.1:4000/", "i-0a1b2c3d4e5f60001");
    assert!(script.starts_with("#!/bin/sh\n"));
    assert!(
        script.contains(
            "exec curl --silent --show-error --fail --max-time 5 \
             'http://127.0.0.1:4000/sim/authorized-keys/i-0a1b2c3d4e5f60001/'\"$1\"\n"
        ),
        "{script}"
    );
    assert!(script.contains("case \"$1\" in ''|*/*) exit 1 ;; esac"));
}

#[tokio::test]
async fn the_installed_script_prints_the_pushed_keys_for_sshd() {
    let sim = Ec2Sim::start(Arc::new(World::demo()), Ec2SimConfig::default()).unwrap();
    sim.keys()
        .push("i-0a1b2c3d4e5f60001", "ec2-user", ed25519_line(3));
    let dir = tempfile::tempdir().unwrap();
    let script =
        install_authorized_keys_command(dir.path(), &sim.url(), "i-0a1b2c3d4e5f60001").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&script), mode(dir.path())), (0o755, 0o755));
    }
    let run = |user: &'static str| {
        let script = script.clone();
        tokio::task::spawn_blocking(move || Command::new(script).arg(user).output().unwrap())
    };
    let found = run("ec2-user").await.unwrap();
    assert!(found.status.success(), "{found:?}");
    assert_eq!(
        String::from_utf8(found.stdout).unwrap(),
        format!("{}\n", ed25519_line(3))
    );
    let none = run("root").await.unwrap();
    assert!(none.status.success() && none.stdout.is_empty(), "{none:?}");
    let odd = run("../x").await.unwrap();
    assert!(!odd.status.success());
    sim.keys().clock().advance(KEY_LIFETIME);
    let expired = run("ec2-user").await.unwrap();
    assert!(
        expired.status.success() && expired.stdout.is_empty(),
        "{expired:?}"
    );
}
