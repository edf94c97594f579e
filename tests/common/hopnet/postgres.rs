//! The hop network's PostgreSQL server: a throwaway cluster owned by the
//! postgres user, served on 127.0.0.1 inside the namespace.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::time::timeout;

use super::{DB_PORT, HopNet};
use crate::common::PATIENCE;

/// Where Debian's packages put the server binaries, one directory per version.
pub(super) const POSTGRES_ROOT: &str = "/usr/lib/postgresql";

impl HopNet {
    /// A fresh cluster trusting every local connection, served on
    /// 127.0.0.1:5432 inside the namespace; returns once it accepts connections.
    pub(super) async fn start_postgres(&mut self, bin: &Path) {
        let dir = self.dir.path().to_owned();
        let status = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .expect("run chown");
        assert!(
            status.success(),
            "chown postgres {}: {status}",
            dir.display()
        );
        let mut initdb = as_postgres(Command::new("setpriv"), &dir);
        initdb
            .arg(bin.join("initdb"))
            .arg("-D")
            .arg(self.pg_data())
            .args(["--auth=trust", "--username=postgres", "--no-sync"])
            .args(["--locale=C", "--encoding=UTF8"]);
        let (status, out, err) = crate::common::run(initdb).await;
        assert!(status.success(), "initdb failed: {out}{err}");

        let log = std::fs::File::create(dir.join("postgres.log")).expect("postgres log");
        let mut postgres = as_postgres(self.command("setpriv"), &dir);
        postgres
            .arg(bin.join("postgres"))
            .arg("-D")
            .arg(self.pg_data())
            .arg("-k")
            .arg(&dir)
            .args(["-h", "127.0.0.1", "-p", &DB_PORT.to_string()])
            .args(["-c", "fsync=off", "-c", "logging_collector=off"])
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        self.postgres = Some(postgres.spawn().expect("start postgres"));
        self.wait_for_postgres(bin).await;
    }

    /// Polls `pg_isready` inside the namespace until the server accepts
    /// connections, failing early if the postmaster exits.
    async fn wait_for_postgres(&mut self, bin: &Path) {
        let ready = bin.join("pg_isready").display().to_string();
        let port = DB_PORT.to_string();
        let waited = timeout(PATIENCE, async {
            loop {
                let (status, _, _) = self
                    .run(&ready, &["-q", "-h", "127.0.0.1", "-p", &port])
                    .await;
                if status.success() {
                    return;
                }
                let postmaster = self.postgres.as_mut().expect("postgres was started");
                if let Some(exit) = postmaster.try_wait().expect("postgres status") {
                    panic!("postgres exited ({exit}): {}", self.postgres_log());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "postgres not ready within {PATIENCE:?}: {}",
            self.postgres_log()
        );
    }

    fn postgres_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}

/// `setpriv` set up to run its program as the postgres user, in `dir` (the
/// test's own directory may be closed to that user).
fn as_postgres(mut setpriv: Command, dir: &Path) -> Command {
    setpriv
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--clear-groups",
            "--",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    setpriv
}

/// The newest PostgreSQL version's binary directory with all the server
/// programs the network runs.
pub(super) fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(POSTGRES_ROOT)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            ["initdb", "postgres", "pg_isready"]
                .iter()
                .all(|p| bin.join(p).is_file())
                .then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}
