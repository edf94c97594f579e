//! The route cache on disk: what `connect` and `ssh` learned from the EC2 API,
//! kept between processes so that the second login makes no API call.
//!
//! One file per profile and region, in `$EICE_PROXY_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/eice-proxy`, else `~/.cache/eice-proxy` (the same rule on
//! every system). Answers live as long as in `serve`'s caches ([`contents`]).
//! Several logins may write at once (Ansible, parallel scp): each write
//! re-reads the file under an advisory lock on a lock file beside it, applies
//! its change, and replaces the file by renaming a finished temporary file
//! over it, so a reader, which takes no lock, sees the old file or the new
//! one, never half of one. The directory is 0700 and the files 0600 on Unix.
//!
//! What the file says is trusted no more than an EC2 answer, and only if no
//! one else could have written it ([`crate::private_fs`]): a directory that
//! another user owns, or that its group or others may write to (one made
//! first by someone else in a shared `XDG_CACHE_HOME`, or reached through
//! their symbolic link), is neither read nor written, with a warning naming
//! it and why, and the login carries on without the cache.
//!
//! A file that cannot be used (corrupt, another format version, another
//! profile's, region's or EC2 API's answers, another user's or writable by
//! others, or holding an id or endpoint name AWS never issues) is ignored
//! with a warning naming it and why, and replaced at the next write.

mod contents;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub use contents::{Change, EndpointsOf, Forget, Identity, Lifetimes};
use contents::{Contents, FORMAT, Head};

use crate::config::{CacheConfig, xdg_dir};
use crate::ec2::{EndpointInfo, InstanceInfo};
use crate::private_fs;

/// Names the directory of route files (tests; a user who wants them elsewhere).
pub const CACHE_DIR_ENV: &str = "EICE_PROXY_CACHE_DIR";

/// The directory route files live in: `$EICE_PROXY_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/eice-proxy` (an absolute path, as the XDG rule asks),
/// else `~/.cache/eice-proxy`; `None` without a home directory.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    xdg_dir("XDG_CACHE_HOME", ".cache")
}

/// The file name for `profile` in `region`: `routes-PROFILE@REGION.json`,
/// every byte but letters, digits, `.`, `_` and `-` percent-encoded, so that
/// any profile string makes one safe name; a very long one is hashed.
fn file_name(profile: &str, region: &str) -> String {
    let (profile, region) = (
        private_fs::name_part(profile),
        private_fs::name_part(region),
    );
    format!("routes-{profile}@{region}.json")
}

/// One profile's answers in one region, on disk.
#[derive(Debug)]
pub struct RouteFile {
    path: PathBuf,
    identity: Identity,
    lifetimes: Lifetimes,
    /// The file as last read or written by this process; `None` until the
    /// first lookup reads it.
    contents: Mutex<Option<Contents>>,
    /// A failed write is said once per process, not at every lookup.
    write_failed: AtomicBool,
    /// The directory is not trusted: nothing is read from it or written to it.
    untrusted: AtomicBool,
}

/// Why a file on disk is not used.
enum Unusable {
    Missing,
    Foreign(String),
}

impl RouteFile {
    /// The file for `identity` in `dir`, with `[cache]`'s lifetimes.
    pub fn new(dir: &Path, identity: Identity, cache: &CacheConfig) -> RouteFile {
        RouteFile {
            path: dir.join(file_name(&identity.profile, &identity.region)),
            identity,
            lifetimes: Lifetimes::from(cache),
            contents: Mutex::new(None),
            write_failed: AtomicBool::new(false),
            untrusted: AtomicBool::new(false),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory the file is in.
    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Reads the file if this process has not yet, and answers from it.
    fn read<T>(&self, answer: impl FnOnce(&Contents, &Lifetimes) -> Option<T>) -> Option<T> {
        let mut contents = self.contents.lock().expect("route file lock");
        let contents = contents.get_or_insert_with(|| {
            if let Err(why) = private_fs::check_dir(self.dir()) {
                self.untrusted.store(true, Ordering::Relaxed);
                tracing::warn!("not using the route cache: {why}; carrying on without it");
                return Contents::empty(self.identity.clone());
            }
            match self.load() {
                Ok(contents) => contents,
                Err(Unusable::Missing) => Contents::empty(self.identity.clone()),
                Err(Unusable::Foreign(why)) => {
                    tracing::warn!(
                        "ignoring the route cache {}: {why}; it will be rewritten",
                        self.path.display()
                    );
                    Contents::empty(self.identity.clone())
                }
            }
        });
        answer(contents, &self.lifetimes)
    }

    /// The file's contents, if it is one of ours for this identity, no one
    /// else could have written it, and every answer in it is of AWS's shapes.
    fn load(&self) -> Result<Contents, Unusable> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Missing),
            Err(e) => return Err(Unusable::Foreign(format!("it cannot be read ({e})"))),
        };
        if let Err(e) = private_fs::check_file(&file, &self.path) {
            return Err(Unusable::Foreign(format!("it {}", e.why)));
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text)
            .map_err(|e| Unusable::Foreign(format!("it cannot be read ({e})")))?;
        let head: Head = serde_json::from_str(&text)
            .map_err(|e| Unusable::Foreign(format!("it is not a route cache file ({e})")))?;
        if head.format != FORMAT {
            return Err(Unusable::Foreign(format!(
                "it is of format {}, and this version reads format {FORMAT}",
                head.format
            )));
        }
        if head.identity != self.identity {
            let Identity {
                profile,
                region,
                api,
            } = &head.identity;
            return Err(Unusable::Foreign(format!(
                "it holds answers for profile {profile:?} in {region} from the EC2 API at {api}, \
                 not for profile {:?} in {} from {}",
                self.identity.profile, self.identity.region, self.identity.api
            )));
        }
        let contents: Contents = serde_json::from_str(&text)
            .map_err(|e| Unusable::Foreign(format!("it is corrupt ({e})")))?;
        contents
            .check()
            .map_err(|e| Unusable::Foreign(format!("it holds an answer AWS never gives: {e}")))?;
        Ok(contents)
    }

    /// A fresh answer for instance `id` (`Some(None)`: not in this region).
    pub fn instance(&self, id: &str) -> Option<Option<InstanceInfo>> {
        self.read(|c, l| c.instance(id, l))
    }

    /// A fresh answer for the Name tag `name`.
    pub fn named(&self, name: &str) -> Option<Vec<InstanceInfo>> {
        self.read(|c, l| c.named(name, l))
    }

    /// A fresh answer for the instance at `ip` in `vpc`.
    pub fn instance_at(&self, ip: std::net::IpAddr, vpc: &str) -> Option<Option<InstanceInfo>> {
        self.read(|c, l| c.instance_at(ip, vpc, l))
    }

    /// A fresh table of the region's VPC CIDR blocks.
    pub fn vpcs(&self) -> Option<Vec<(ipnet::IpNet, String)>> {
        self.read(|c, l| c.vpcs(l))
    }

    /// A fresh list of endpoints.
    pub fn endpoints(&self, of: &EndpointsOf) -> Option<Vec<EndpointInfo>> {
        self.read(|c, l| c.endpoints(of, l))
    }

    /// Whether it holds a fresh list of some VPC's endpoints (then a
    /// lookup need not list the region's: `regional::ahead`).
    pub fn knows_endpoints(&self) -> bool {
        self.read(|c, l| Some(c.knows_endpoints(l)))
            .unwrap_or(false)
    }

    /// Writes `change` (off the async threads: the lock may be held by
    /// another process for a moment). A failure is logged, never returned: a
    /// login never fails for its cache.
    pub async fn write(self: &Arc<Self>, change: Change) {
        if self.untrusted.load(Ordering::Relaxed) {
            return; // said when it was read
        }
        let file = Arc::clone(self);
        let written = tokio::task::spawn_blocking(move || file.write_now(change)).await;
        let error = match written {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        if !self.write_failed.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "cannot write the route cache {}: {error}",
                self.path.display()
            );
        }
    }

    /// Read, change, prune and replace the file, under its lock.
    fn write_now(&self, change: Change) -> std::io::Result<()> {
        let dir = self.dir();
        // Checked again, made or not: someone may have made it since it was read.
        private_fs::create_private_dir(dir)?;
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let lock = private_file(Path::new(&lock_path))?;
        lock.lock()?;
        let mut contents = match self.load() {
            Ok(contents) => contents,
            Err(Unusable::Missing) => Contents::empty(self.identity.clone()),
            Err(Unusable::Foreign(why)) => {
                tracing::debug!("replacing the route cache {}: {why}", self.path.display());
                Contents::empty(self.identity.clone())
            }
        };
        contents.apply(change);
        contents.prune(&self.lifetimes);
        let text = serde_json::to_vec_pretty(&contents).map_err(std::io::Error::other)?;
        // NamedTempFile is 0600 on Unix, in the same directory: the rename
        // is atomic.
        let mut temporary = tempfile::Builder::new()
            .prefix(".routes-")
            .tempfile_in(dir)?;
        std::io::Write::write_all(&mut temporary, &text)?;
        temporary.persist(&self.path).map_err(|e| e.error)?;
        *self.contents.lock().expect("route file lock") = Some(contents);
        drop(lock); // unlocks
        Ok(())
    }
}

/// Opens (creating) the lock file, 0600 on Unix.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_profile_makes_one_safe_file_name() {
        assert_eq!(
            file_name("default", "us-east-1"),
            "routes-default@us-east-1.json"
        );
        assert_eq!(
            file_name("../a b@c/%", "eu-west-1"),
            "routes-..%2Fa%20b%40c%2F%25@eu-west-1.json"
        );
        let long = file_name(&"x".repeat(300), "us-east-1");
        assert!(long.len() < 80 && !long.contains('/'), "{long}");
        assert_ne!(long, file_name(&"y".repeat(300), "us-east-1"));
    }

    fn identity(api: &str) -> Identity {
        Identity {
            profile: "dev".into(),
            region: "us-east-1".into(),
            api: api.into(),
        }
    }

    #[tokio::test]
    async fn a_written_answer_is_read_back_by_another_process_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("eice-proxy");
        let config = CacheConfig::default();
        let file = Arc::new(RouteFile::new(&cache_dir, identity("http://a/"), &config));
        file.write(Change::Instance("i-1".into(), None)).await;
        let other = RouteFile::new(&cache_dir, identity("http://a/"), &config);
        assert_eq!(other.instance("i-1"), Some(None));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&cache_dir), 0o700);
            assert_eq!(mode(file.path()), 0o600);
        }
        // Another EC2 API's file is not used.
        let foreign = RouteFile::new(&cache_dir, identity("http://b/"), &config);
        assert_eq!(foreign.instance("i-1"), None);
    }
}
