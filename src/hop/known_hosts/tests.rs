//! The host-key rules against files OpenSSH's own `ssh-keygen` wrote or
//! edited (`-t`, `-H`, `-R`), and `ssh-keygen -F` as the judge of which lines
//! name a host.

use std::path::Path;
use std::process::Command;

use super::*;

const ALIAS: &str = "i-0123456789abcdef0";

/// A host key made by `ssh-keygen -t kind` in `dir`: the key and its `.pub` line.
pub(super) fn keygen(dir: &Path, name: &str, kind: &str) -> (PublicKey, String) {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen (Debian package openssh-client)");
    assert!(status.success());
    let line = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    let key = PublicKey::from_openssh(line.trim()).unwrap();
    (key, line.trim().to_owned())
}

/// Runs `ssh-keygen ARGS…` and returns its standard output.
fn ssh_keygen(args: &[&str], file: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(args)
        .arg("-f")
        .arg(file)
        .output()
        .expect("ssh-keygen");
    String::from_utf8(out.stdout).unwrap()
}

fn keys_in(dir: &Path, strict: StrictHostKeyChecking) -> HostKeys {
    HostKeys {
        user_file: Some(dir.join("user_known_hosts")),
        own_file: dir.join("state/known_hosts"),
        strict,
    }
}

pub(super) fn accept_new(dir: &Path) -> HostKeys {
    keys_in(dir, StrictHostKeyChecking::AcceptNew)
}

#[test]
fn first_use_learns_then_knows_then_refuses_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    let (first, _) = keygen(dir.path(), "a", "ed25519");
    let (second, _) = keygen(dir.path(), "b", "ed25519");
    assert_eq!(
        keys.check(ALIAS, &first).unwrap(),
        Trust::Learned(keys.own_file.clone())
    );
    assert_eq!(
        keys.check(ALIAS, &first).unwrap(),
        Trust::Known(keys.own_file.clone())
    );
    let e = keys.check(ALIAS, &second).unwrap_err();
    let HostKeyError::Changed { recorded, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(recorded.entry.line, 1);
    let text = e.to_string();
    assert!(
        text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{text}"
    );
    assert!(
        text.contains(&format!("ssh-keygen -R {ALIAS} -f ")),
        "{text}"
    );
    // Another alias is another host.
    assert!(matches!(
        keys.check("i-0fedcba9876543210", &second).unwrap(),
        Trust::Learned(_)
    ));
    // What was learned is a line ssh-keygen finds under the alias.
    assert!(ssh_keygen(&["-F", ALIAS], &keys.own_file).contains("found: line 1"));
}

#[test]
fn a_key_of_another_type_never_gets_past_a_pin() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    let (_, pinned) = keygen(dir.path(), "pinned", "ed25519");
    let user = keys.user_file.clone().unwrap();
    std::fs::write(&user, format!("{ALIAS} {pinned}\n")).unwrap();
    for kind in ["ecdsa", "rsa"] {
        let (other, _) = keygen(dir.path(), kind, kind);
        let e = keys.check(ALIAS, &other).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, HostKeyError::Changed { .. }), "{text}");
        assert!(
            text.contains(&format!("Offending ED25519 key in {}:1", user.display())),
            "{text}"
        );
        assert!(text.contains("Host key verification failed"), "{text}");
    }
    assert!(!keys.own_file.exists(), "nothing learned");
    // And only the pinned type is asked for in the key exchange.
    let expected = keys.expect(ALIAS).unwrap();
    assert_eq!(expected.algorithms, Some(vec![Algorithm::Ed25519]));
    assert_eq!(expected.pinned.unwrap().file, user);
}

#[test]
fn the_users_file_is_asked_first_and_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    let user = keys.user_file.clone().unwrap();
    let (key, line) = keygen(dir.path(), "k", "ed25519");
    let (other, _) = keygen(dir.path(), "o", "ed25519");
    let text = format!("{ALIAS} {line}\n");
    std::fs::write(&user, &text).unwrap();
    assert_eq!(keys.check(ALIAS, &key).unwrap(), Trust::Known(user.clone()));
    assert!(keys.check(ALIAS, &other).is_err());
    assert_eq!(std::fs::read_to_string(&user).unwrap(), text);
    assert!(!keys.own_file.exists());
}

#[test]
fn hashed_names_from_ssh_keygen_h_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    let user = keys.user_file.clone().unwrap();
    let (web, web_line) = keygen(dir.path(), "web", "ecdsa");
    let (db, db_line) = keygen(dir.path(), "db", "ed25519");
    std::fs::write(
        &user,
        format!("i-0aaaaaaaaaaaaaaaa {db_line}\n{ALIAS} {web_line}\n"),
    )
    .unwrap();
    ssh_keygen(&["-q", "-H"], &user);
    let hashed = std::fs::read_to_string(&user).unwrap();
    assert!(
        !hashed.contains(ALIAS),
        "ssh-keygen -H hid the names:\n{hashed}"
    );
    assert_eq!(hashed.lines().filter(|l| l.starts_with("|1|")).count(), 2);

    assert_eq!(keys.check(ALIAS, &web).unwrap(), Trust::Known(user.clone()));
    let e = keys.check(ALIAS, &db).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("Offending ECDSA key in {}:2", user.display())),
        "{e}"
    );
    assert_eq!(
        keys.expect(ALIAS).unwrap().algorithms,
        Some(vec![Algorithm::Ecdsa {
            curve: russh::keys::EcdsaCurve::NistP256
        }])
    );
    // Upper case is the same name, as ssh lower-cases before hashing.
    assert!(keys.check(&ALIAS.to_uppercase(), &web).is_ok());
}

#[test]
fn after_ssh_keygen_r_the_host_is_unknown_and_learned_anew() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    let user = keys.user_file.clone().unwrap();
    let (_, old_line) = keygen(dir.path(), "old", "ed25519");
    let (_, kept_line) = keygen(dir.path(), "kept", "ed25519");
    let (new, _) = keygen(dir.path(), "new", "ed25519");
    std::fs::write(
        &user,
        format!("{ALIAS} {old_line}\ni-0bbbbbbbbbbbbbbbb {kept_line}\n"),
    )
    .unwrap();
    assert!(keys.check(ALIAS, &new).is_err());
    // The command the refusal prints, run as printed.
    ssh_keygen(&["-q", "-R", ALIAS], &user);
    assert!(!std::fs::read_to_string(&user).unwrap().contains(ALIAS));
    assert_eq!(
        keys.check(ALIAS, &new).unwrap(),
        Trust::Learned(keys.own_file.clone())
    );
}

#[test]
fn patterns_negations_and_ports_name_the_lines_ssh_keygen_f_finds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("known_hosts");
    let (_, line) = keygen(dir.path(), "k", "ed25519");
    let text = [
        format!("i-0*,!i-0bad* {line}"),
        format!("i-0a?c {line}"),
        format!("web,I-0ABC,db {line}"),
        format!("[i-0abc]:2222 {line}"),
        format!("@revoked * {line}"),
        format!("@cert-authority *.internal {line}"),
        "# i-0abc ssh-ed25519 commented out".to_owned(),
        format!("!i-0abc {line}"),
        format!("i-0ab {line}"),
    ]
    .join("\n");
    std::fs::write(&file, &text).unwrap();
    for host in [
        "i-0abc",
        "i-0bad1",
        "i-0a9c",
        "web",
        "db.internal",
        "[i-0abc]:2222",
        "i-0ab",
        "nothing",
    ] {
        let ours: Vec<usize> = hostfile::entries(&text, host)
            .iter()
            .map(|e| e.line)
            .collect();
        let theirs: Vec<usize> = ssh_keygen(&["-F", host], &file)
            .lines()
            // `# Host H found: line N`, then `REVOKED` or `CA` for a marked line.
            .filter_map(|l| l.split("found: line ").nth(1))
            .map(|n| n.split_whitespace().next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(ours, theirs, "lines naming {host}");
    }
    // The comparison is not trivially empty: four lines name `i-0abc`.
    assert_eq!(hostfile::entries(&text, "i-0abc").len(), 4);
}

#[test]
fn a_revoked_key_is_refused_even_if_also_listed_as_good() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    let (stolen, stolen_line) = keygen(dir.path(), "stolen", "ed25519");
    let (good, good_line) = keygen(dir.path(), "good", "ecdsa");
    std::fs::create_dir_all(keys.own_file.parent().unwrap()).unwrap();
    std::fs::write(
        keys.user_file.as_ref().unwrap(),
        format!("{ALIAS} {stolen_line}\n{ALIAS} {good_line}\n"),
    )
    .unwrap();
    std::fs::write(&keys.own_file, format!("@revoked * {stolen_line}\n")).unwrap();
    let e = keys.check(ALIAS, &stolen).unwrap_err();
    assert!(matches!(e, HostKeyError::Revoked { line: 1, .. }), "{e}");
    assert!(e.to_string().contains("REVOKED HOST KEY DETECTED"), "{e}");
    assert_eq!(
        keys.check(ALIAS, &good).unwrap(),
        Trust::Known(keys.user_file.clone().unwrap())
    );
}

#[test]
fn a_cert_authority_line_is_never_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    let user = keys.user_file.clone().unwrap();
    let (_, ca_line) = keygen(dir.path(), "ca", "ed25519");
    let (host, host_line) = keygen(dir.path(), "host", "ed25519");
    std::fs::write(&user, format!("@cert-authority i-* {ca_line}\n")).unwrap();
    let e = keys.check(ALIAS, &host).unwrap_err();
    assert!(
        matches!(e, HostKeyError::CertAuthority { line: 1, .. }),
        "{e}"
    );
    assert!(
        e.to_string().contains("does not check host certificates"),
        "{e}"
    );
    assert!(!keys.own_file.exists(), "nothing learned");
    // The host's own key recorded beside it is accepted.
    std::fs::write(
        &user,
        format!("@cert-authority i-* {ca_line}\n{ALIAS} {host_line}\n"),
    )
    .unwrap();
    assert_eq!(keys.check(ALIAS, &host).unwrap(), Trust::Known(user));
}

#[test]
fn strict_yes_never_learns_and_names_the_line_that_would_record_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys_in(dir.path(), StrictHostKeyChecking::Yes);
    let (key, _) = keygen(dir.path(), "k", "ed25519");
    let e = keys.check(ALIAS, &key).unwrap_err();
    let HostKeyError::Unknown { line, .. } = &e else {
        panic!("{e}")
    };
    assert!(!keys.own_file.exists(), "nothing learned");
    let text = e.to_string();
    assert!(
        text.contains("strict_host_key_checking is \"yes\""),
        "{text}"
    );
    assert!(text.contains(&fingerprint(&key)), "{text}");
    // The line it names, added as told, records the key.
    std::fs::write(keys.user_file.as_ref().unwrap(), format!("{line}\n")).unwrap();
    assert!(matches!(keys.check(ALIAS, &key).unwrap(), Trust::Known(_)));
}

#[test]
fn expect_asks_for_the_recorded_types_in_order_and_rsa_without_sha1() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    assert_eq!(
        keys.expect(ALIAS).unwrap(),
        Expected {
            algorithms: None,
            pinned: None
        }
    );
    let (_, rsa) = keygen(dir.path(), "rsa", "rsa");
    let (_, ecdsa) = keygen(dir.path(), "ecdsa", "ecdsa");
    std::fs::write(
        keys.user_file.as_ref().unwrap(),
        format!("{ALIAS} {rsa}\n{ALIAS} {ecdsa}\n@revoked {ALIAS} {ecdsa}\n"),
    )
    .unwrap();
    let algorithms = keys.expect(ALIAS).unwrap().algorithms.unwrap();
    let names: Vec<&str> = algorithms.iter().map(|a| a.as_str()).collect();
    assert_eq!(
        names,
        ["rsa-sha2-512", "rsa-sha2-256", "ecdsa-sha2-nistp256"]
    );
}

#[test]
fn a_recorded_key_of_a_type_we_cannot_check_is_still_a_pin() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    // A security-key ed25519 public key, as ssh-keygen -t ed25519-sk writes it.
    let blob = [
        &26u32.to_be_bytes()[..],
        b"sk-ssh-ed25519@openssh.com",
        &32u32.to_be_bytes(),
        &[7u8; 32],
        &4u32.to_be_bytes(),
        b"ssh:",
    ]
    .concat();
    use base64::Engine as _;
    let line = format!(
        "{ALIAS} sk-ssh-ed25519@openssh.com {}\n",
        base64::engine::general_purpose::STANDARD.encode(blob)
    );
    std::fs::write(keys.user_file.as_ref().unwrap(), line).unwrap();
    let e = keys.expect(ALIAS).unwrap_err();
    assert!(
        matches!(e, HostKeyError::Unsupported { line: 1, .. }),
        "{e}"
    );
    let (key, _) = keygen(dir.path(), "k", "ed25519");
    assert!(matches!(
        keys.check(ALIAS, &key).unwrap_err(),
        HostKeyError::Changed { .. }
    ));
    assert!(!keys.own_file.exists());
}
