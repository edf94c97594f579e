//! A key planted by another local user is never trusted: a known_hosts file
//! or directory someone else could write to is refused whole, and the
//! directory of learned keys is made private.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::tests::{accept_new, keygen};
use super::*;

const ALIAS: &str = "i-0123456789abcdef0";

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `* ssh-ed25519 KEY` in `file`: a line that admits the key for every host.
fn plant(dir: &Path, file: &Path) -> PublicKey {
    let name = format!("planted-{}", file.file_name().unwrap().to_string_lossy());
    let (key, line) = keygen(dir, &name, "ed25519");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, format!("* {line}\n")).unwrap();
    key
}

fn refused(keys: &HostKeys, key: &PublicKey) -> String {
    let e = keys.check(ALIAS, key).unwrap_err();
    assert!(matches!(e, HostKeyError::Untrusted { .. }), "{e}");
    e.to_string()
}

#[test]
fn a_key_planted_in_a_file_others_can_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    for file in [keys.own_file.clone(), keys.user_file.clone().unwrap()] {
        let key = plant(dir.path(), &file);
        chmod(&file, 0o600);
        assert!(keys.check(ALIAS, &key).is_ok(), "the user's own line");
        chmod(&file, 0o620);
        let text = refused(&keys, &key);
        assert!(
            text.contains(&format!(
                "{} is writable by its group (mode 0620)",
                file.display()
            )),
            "{text}"
        );
        assert!(text.contains("Host key verification failed"), "{text}");
        // So is one in a directory others can write to (they could replace it).
        chmod(&file, 0o600);
        let parent = file.parent().unwrap();
        chmod(parent, 0o703);
        let text = refused(&keys, &key);
        assert!(
            text.contains(&format!("{} is writable by others", parent.display())),
            "{text}"
        );
        chmod(parent, 0o700);
        std::fs::remove_file(&file).unwrap();
    }
}

#[test]
fn the_directory_of_learned_keys_is_made_0700_and_the_file_0600() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    let (key, _) = keygen(dir.path(), "k", "ed25519");
    assert!(matches!(
        keys.check(ALIAS, &key).unwrap(),
        Trust::Learned(_)
    ));
    assert_eq!(mode(keys.own_file.parent().unwrap()), 0o700);
    assert_eq!(mode(&keys.own_file), 0o600);
}

/// Root gives `path` to uid 4242, playing another local user; anyone else
/// cannot, and says so rather than passing unseen.
fn give_away(path: &Path) -> bool {
    if crate::private_fs::euid() != 0 {
        eprintln!(
            "skipping: only root can give {} to another user",
            path.display()
        );
        return false;
    }
    std::os::unix::fs::chown(path, Some(4242), Some(4242)).unwrap();
    true
}

#[test]
fn a_file_or_directory_another_user_owns_is_refused_and_never_learned_into() {
    let dir = tempfile::tempdir().unwrap();
    let keys = accept_new(dir.path());
    let key = plant(dir.path(), &keys.own_file);
    chmod(&keys.own_file, 0o600);
    if !give_away(&keys.own_file) {
        return;
    }
    let text = refused(&keys, &key);
    assert!(
        text.contains("is owned by uid 4242, not by this user"),
        "{text}"
    );
    // A directory made first by someone else: nothing is learned into it.
    std::fs::remove_file(&keys.own_file).unwrap();
    let state = keys.own_file.parent().unwrap();
    chmod(state, 0o700);
    give_away(state);
    let (other, _) = keygen(dir.path(), "other", "ed25519");
    let text = refused(&keys, &other);
    assert!(
        text.contains(&format!("{} is owned by uid 4242", state.display())),
        "{text}"
    );
    assert!(!keys.own_file.exists());
}
