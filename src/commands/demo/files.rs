//! The demo's files (the CA that `AWS_CA_BUNDLE` names, the route cache of the
//! one-shot commands) in a directory of its own that no one else can have
//! prepared, entered or replaced.
//!
//! A fixed name such as `$TMPDIR/eice-proxy-demo-<pid>`, made with
//! `create_dir_all`, takes whatever another local user already put there (a
//! directory of theirs, a symlink to one) and writes through a symlink planted in
//! it, so that user would choose the CA the demo's shell trusts. Here the
//! directory gets a random name, is made by the call itself (`mkdir`, which fails
//! on anything already at that path, rather than reuse it) with mode 0700, and
//! each file is created new (`O_CREAT | O_EXCL`, which never follows a symlink).
//! The directory goes when the demo ends, and with it what the printed exports
//! name: the guide says so.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The private directory, removed on drop.
pub(super) struct DemoDir(tempfile::TempDir);

impl DemoDir {
    /// A new directory `eice-proxy-demo-XXXXXX` in `parent` (the system's
    /// temporary directory), mode 0700 on Unix.
    pub(super) fn create_in(parent: &Path) -> io::Result<DemoDir> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("eice-proxy-demo-");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o700));
        }
        builder.tempdir_in(parent).map(DemoDir)
    }

    /// The directory.
    pub(super) fn path(&self) -> &Path {
        self.0.path()
    }

    /// Writes `contents` to a file `name` that this call creates (mode 0600 on
    /// Unix); fails if anything is already there, a symlink included.
    pub(super) fn write_new(&self, name: &str, contents: &[u8]) -> io::Result<PathBuf> {
        let path = self.path().join(name);
        create_new(&path)?.write_all(contents)?;
        Ok(path)
    }
}

fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn the_directory_is_new_and_private_whatever_waits_at_the_old_name() {
        let tmp = tempfile::tempdir().unwrap();
        // What another user could have prepared at the name the demo used to
        // take: a directory open to all, holding their CA, and a symlink to it.
        let theirs = tmp.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o777)).unwrap();
        let old = tmp
            .path()
            .join(format!("eice-proxy-demo-{}", std::process::id()));
        symlink(&theirs, &old).unwrap();

        let demo = DemoDir::create_in(tmp.path()).unwrap();
        let ca = demo.write_new("ca.pem", b"the demo's CA").unwrap();
        assert_eq!(demo.path().parent(), Some(tmp.path()));
        assert_ne!(demo.path(), old);
        assert!(std::fs::symlink_metadata(demo.path()).unwrap().is_dir());
        assert_eq!(mode(demo.path()), 0o700);
        assert_eq!(mode(&ca), 0o600);
        assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);
        let again = DemoDir::create_in(tmp.path()).unwrap();
        assert_ne!(again.path(), demo.path());
        let path = demo.path().to_owned();
        drop(demo);
        assert!(!path.exists(), "{} is left behind", path.display());
    }

    #[test]
    fn a_file_is_never_written_through_a_symlink_or_over_another() {
        let tmp = tempfile::tempdir().unwrap();
        let demo = DemoDir::create_in(tmp.path()).unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "theirs").unwrap();
        symlink(&victim, demo.path().join("ca.pem")).unwrap();
        let err = demo.write_new("ca.pem", b"the demo's CA").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "theirs");
        std::fs::write(demo.path().join("other"), "theirs").unwrap();
        assert!(demo.write_new("other", b"ours").is_err());
    }
}
