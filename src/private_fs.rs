//! Files and directories that only this user (or root) can have written,
//! checked before anything read from them is trusted, as OpenSSH's
//! `StrictModes` checks a user's files: the route cache on disk, whose
//! endpoint names a tunnel's signed URL goes to, and the hops' known_hosts,
//! whose keys a hop trusts.
//!
//! A file or directory is refused when another user owns it, or when its
//! group or others may write to it: either could have planted what it holds.
//! A directory reached through a symbolic link is judged twice: the link must
//! be the user's (or root's), and so must the directory it points to. On
//! systems without Unix owners and modes, nothing is checked.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

/// A file or directory someone else could have written, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {why}", path.display())]
pub struct Untrusted {
    pub path: PathBuf,
    /// `is owned by uid 4242, …`, `is writable by others (mode 0777), …`.
    pub why: String,
}

/// Checks the directory `dir`, and the symbolic link it is reached through if
/// it is one. A directory that does not exist passes: whoever creates it
/// ([`create_private_dir`]) checks it then.
pub fn check_dir(dir: &Path) -> Result<(), Untrusted> {
    let link = match std::fs::symlink_metadata(dir) {
        Ok(link) => link,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(untrusted(dir, format!("cannot be examined ({e})"))),
    };
    if link.file_type().is_symlink() {
        // A link's own mode means nothing; who made it does.
        owned(&link, dir, "is a symbolic link")?;
    }
    let meta =
        std::fs::metadata(dir).map_err(|e| untrusted(dir, format!("cannot be examined ({e})")))?;
    if !meta.is_dir() {
        return Err(untrusted(dir, "is not a directory".into()));
    }
    judge(&meta, dir)
}

/// Checks the file at `path`, following links; a file that does not exist passes.
pub fn check_path(path: &Path) -> Result<(), Untrusted> {
    match std::fs::metadata(path) {
        Ok(meta) => judge(&meta, path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(untrusted(path, format!("cannot be examined ({e})"))),
    }
}

/// Checks an open file (`path` names it in the message): what was opened is
/// what is judged, whatever the path points to by now.
pub fn check_file(file: &File, path: &Path) -> Result<(), Untrusted> {
    let meta = file
        .metadata()
        .map_err(|e| untrusted(path, format!("cannot be examined ({e})")))?;
    judge(&meta, path)
}

/// Creates `dir` and its missing parents, 0700 from the start on Unix (a mode
/// set afterwards would leave a moment when others could enter), then checks
/// it, so that a directory someone else made first is refused.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    check_dir(dir).map_err(io::Error::other)
}

fn untrusted(path: &Path, why: String) -> Untrusted {
    Untrusted {
        path: path.to_owned(),
        why,
    }
}

/// The effective user id of this process.
#[cfg(unix)]
pub fn euid() -> u32 {
    // SAFETY: geteuid takes nothing, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// Refuses `meta` unless this user or root owns it.
#[cfg(unix)]
fn owned(meta: &Metadata, path: &Path, what: &str) -> Result<(), Untrusted> {
    use std::os::unix::fs::MetadataExt;
    let (owner, me) = (meta.uid(), euid());
    if owner == me || owner == 0 {
        return Ok(());
    }
    Err(untrusted(
        path,
        format!(
            "{what} owned by uid {owner}, not by this user (uid {me}) or root, so another user \
             could have written what it holds"
        ),
    ))
}

/// Refuses `meta` unless this user or root owns it and neither its group nor
/// others may write to it.
#[cfg(unix)]
fn judge(meta: &Metadata, path: &Path) -> Result<(), Untrusted> {
    use std::os::unix::fs::MetadataExt;
    owned(meta, path, "is")?;
    let who = match meta.mode() & 0o022 {
        0 => return Ok(()),
        0o020 => "its group",
        0o002 => "others",
        _ => "its group and others",
    };
    Err(untrusted(
        path,
        format!(
            "is writable by {who} (mode {:04o}), so another user could have written what it \
             holds; `chmod go-w` it if it is yours",
            meta.mode() & 0o7777
        ),
    ))
}

#[cfg(not(unix))]
fn owned(_: &Metadata, _: &Path, _: &str) -> Result<(), Untrusted> {
    Ok(())
}

#[cfg(not(unix))]
fn judge(_: &Metadata, _: &Path) -> Result<(), Untrusted> {
    Ok(())
}

/// `s` as one safe part of a file name: every byte but letters, digits, `.`,
/// `_` and `-` percent-encoded, so that any profile or region string makes
/// one name in the directory it is meant for (never a `/` or a NUL);
/// past 100 bytes, the first 16 bytes of its SHA-256 in hex, so that the
/// name stays within a file name's (and a socket path's) limits.
pub fn name_part(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > 100 {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, out.as_bytes());
        out = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    }
    out
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn any_profile_makes_one_safe_name_part() {
        assert_eq!(name_part("dev-1.x_y"), "dev-1.x_y");
        assert_eq!(name_part("a/b c"), "a%2Fb%20c");
        assert_eq!(name_part(".."), "..");
        let long = name_part(&"p/".repeat(60));
        assert_eq!(long.len(), 32, "{long}");
        assert!(long.bytes().all(|b| b.is_ascii_hexdigit()), "{long}");
    }

    #[test]
    fn a_directory_is_created_private_and_a_shared_one_refused() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/b");
        create_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        for (mode, who) in [
            (0o770, "its group"),
            (0o707, "others"),
            (0o777, "its group and others"),
        ] {
            chmod(&dir, mode);
            let e = check_dir(&dir).unwrap_err();
            assert!(
                e.to_string().contains(&format!("is writable by {who}")),
                "{e}"
            );
            assert!(
                create_private_dir(&dir).is_err(),
                "an existing shared one is refused"
            );
        }
        chmod(&dir, 0o755);
        assert_eq!(check_dir(&dir), Ok(()));
        assert_eq!(check_dir(&base.path().join("missing")), Ok(()));
    }

    #[test]
    fn a_file_writable_by_others_is_refused_open_or_by_path() {
        let base = tempfile::tempdir().unwrap();
        let path = base.path().join("f");
        std::fs::write(&path, "x").unwrap();
        chmod(&path, 0o644);
        assert_eq!(check_path(&path), Ok(()));
        chmod(&path, 0o646);
        let e = check_path(&path).unwrap_err();
        assert!(
            e.to_string().contains("writable by others (mode 0646)"),
            "{e}"
        );
        let e = check_file(&File::open(&path).unwrap(), &path).unwrap_err();
        assert_eq!(e.path, path);
        let file = base.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        assert!(
            check_dir(&file)
                .unwrap_err()
                .why
                .contains("not a directory")
        );
    }

    /// Root can give a file away, and so play the other user; anyone else
    /// cannot, and the test says so rather than passing unseen.
    fn give_away(path: &Path, link: bool) -> bool {
        if euid() != 0 {
            eprintln!(
                "skipping: only root can give {} to another user",
                path.display()
            );
            return false;
        }
        let chown = if link {
            std::os::unix::fs::lchown
        } else {
            std::os::unix::fs::chown
        };
        chown(path, Some(4242), Some(4242)).unwrap();
        true
    }

    #[test]
    fn another_users_directory_file_or_link_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("theirs");
        std::fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o700);
        if !give_away(&dir, false) {
            return;
        }
        let e = check_dir(&dir).unwrap_err();
        assert!(
            e.why.starts_with("is owned by uid 4242, not by this user"),
            "{e}"
        );
        let file = base.path().join("file");
        std::fs::write(&file, "").unwrap();
        give_away(&file, false);
        assert!(check_path(&file).unwrap_err().why.contains("uid 4242"));
        // A link another user made, to a directory of ours.
        let ours = base.path().join("ours");
        std::fs::create_dir(&ours).unwrap();
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&ours, &link).unwrap();
        assert_eq!(check_dir(&link), Ok(()));
        give_away(&link, true);
        let e = check_dir(&link).unwrap_err();
        assert!(
            e.why.starts_with("is a symbolic link owned by uid 4242"),
            "{e}"
        );
        // A link of ours, to their directory.
        let to_theirs = base.path().join("to-theirs");
        std::os::unix::fs::symlink(&dir, &to_theirs).unwrap();
        assert!(check_dir(&to_theirs).unwrap_err().why.contains("uid 4242"));
    }
}
