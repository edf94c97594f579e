//! A private network behind an SSH hop, for the hop tests.
//!
//! [`HopNet`] makes a network namespace with nothing in it but its loopback
//! interface, and runs inside it a real PostgreSQL server, an HTTP server and
//! a TCP echo server, each under a VPC-style name that only the namespace's
//! own hosts file knows. A [`SimSshd`](eice_sim::sshd::SimSshd) told
//! to run there ([`HopNet::sshd`]) is the hop: its listener accepts in our
//! namespace and hands the socket to `sshd -i` inside, so the sshd's
//! `direct-tcpip` channels are the one way in. There is deliberately no veth
//! pair: with no link to the namespace at all, a service answering proves the
//! connection went through the hop, and nothing can leave the machine.
//!
//! The fixed ports are safe here: each `HopNet` is a namespace of its own, so
//! tests running side by side never contend for them.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

use super::PATIENCE;
use super::sshd::Sshd;
use postgres::{POSTGRES_ROOT, postgres_bin};

mod postgres;

/// The PostgreSQL server's name inside the private network.
pub const DB_HOST: &str = "db.vpc.internal";
/// Its port.
pub const DB_PORT: u16 = 5432;
/// The HTTP server's name (`GET /` answers [`WEB_BODY`], `GET /size/N` N bytes).
pub const WEB_HOST: &str = "web.vpc.internal";
/// Its port.
pub const WEB_PORT: u16 = 8080;
/// What `GET /` on the HTTP server answers.
pub const WEB_BODY: &str = "hello from web.vpc.internal\n";
/// The TCP echo server's name: every byte back until the client half-closes.
pub const ECHO_HOST: &str = "echo.vpc.internal";
/// Its port.
pub const ECHO_PORT: u16 = 7777;

/// Where `ip netns exec` looks for a namespace's own /etc files.
const NETNS_ETC: &str = "/etc/netns";
/// The HTTP and echo services, run with python3.
const SERVICES_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hop_services.py");

/// Makes namespace names unique among the tests of one process.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A network namespace with PostgreSQL, HTTP and echo servers inside it,
/// removed with everything it started when dropped.
pub struct HopNet {
    /// The namespace's name, as `ip netns` knows it.
    name: String,
    /// Owned by the postgres user: the cluster (`data/`), its unix socket and
    /// its log. Removed last, once the server is gone.
    dir: TempDir,
    /// The postmaster, the leader of its own process group.
    postgres: Option<Child>,
    /// python3 running the HTTP and echo services; its stdin is held open,
    /// since its closing tells the script to exit.
    services: Option<Child>,
}

impl HopNet {
    /// What this machine lacks to build a `HopNet`, each with where it comes from.
    pub fn missing() -> Vec<String> {
        let mut missing = sshd_missing();
        for (program, package) in [
            ("ip", "iproute2"),
            ("python3", "python3"),
            ("setpriv", "util-linux"),
        ] {
            if !on_path(program) {
                missing.push(format!("{program} (Debian package {package})"));
            }
        }
        if postgres_bin().is_none() {
            missing.push(format!(
                "initdb, postgres and pg_isready under {POSTGRES_ROOT}/*/bin (Debian package postgresql)"
            ));
        }
        missing
    }

    /// Builds the network and starts its services; `None` (the test skips)
    /// when [`HopNet::missing`] finds something missing, except under
    /// `CI=true`, where a missing prerequisite fails the test instead.
    pub async fn start() -> Option<HopNet> {
        if !super::prerequisites("the hop tests", &HopNet::missing()) {
            return None;
        }
        let bin = postgres_bin().expect("checked above");
        // From here on the value exists, so a failure part way still cleans up.
        let mut net = HopNet {
            name: add_netns(),
            dir: tempfile::Builder::new()
                .prefix("eiceproxy-hopnet-")
                .tempdir()
                .expect("a temporary directory"),
            postgres: None,
            services: None,
        };
        net.write_hosts();
        net.start_postgres(&bin).await;
        net.start_services().await;
        Some(net)
    }

    /// The namespace's name: what [`Sshd::in_netns`] and `ip netns exec` take.
    pub fn netns(&self) -> &str {
        &self.name
    }

    /// A real sshd, trusting [`Sshd::key`], whose sessions run in this network.
    pub fn sshd(&self) -> Sshd {
        let mut sshd = Sshd::new();
        sshd.in_netns(&self.name);
        sshd
    }

    /// The PostgreSQL cluster's directory, as `SHOW data_directory` names it.
    pub fn pg_data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The directory holding everything the network keeps on disk.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The ids of the processes this network started and still runs.
    pub fn pids(&self) -> Vec<u32> {
        [&self.postgres, &self.services]
            .into_iter()
            .flatten()
            .filter_map(Child::id)
            .collect()
    }

    /// `PROGRAM` run inside the namespace (`ip netns exec`), with piped
    /// stdout and stderr, killed if dropped.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `PROGRAM ARGS…` inside the namespace to its end: its exit status,
    /// stdout and stderr.
    pub async fn run(&self, program: &str, args: &[&str]) -> (ExitStatus, String, String) {
        let mut cmd = self.command(program);
        cmd.args(args);
        super::run(cmd).await
    }

    /// The namespace's hosts file: `ip netns exec` mounts it over /etc/hosts,
    /// so the VPC names resolve inside (and only inside) the namespace.
    fn write_hosts(&self) {
        let etc = Path::new(NETNS_ETC).join(&self.name);
        std::fs::create_dir_all(&etc).expect("create the namespace's /etc directory");
        let mut hosts = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for name in [DB_HOST, WEB_HOST, ECHO_HOST] {
            hosts.push_str(&format!("127.0.0.1 {name}\n"));
        }
        std::fs::write(etc.join("hosts"), hosts).expect("write the namespace's hosts file");
    }

    /// The HTTP and echo services; returns once the script says both listen.
    async fn start_services(&mut self) {
        let mut services = self.command("python3");
        services
            .args(["-u", SERVICES_SCRIPT])
            .stdin(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        let mut child = services.spawn().expect("start python3");
        let stdout = child.stdout.take().expect("piped stdout");
        self.services = Some(child);
        let mut lines = BufReader::new(stdout).lines();
        let line = timeout(PATIENCE, lines.next_line())
            .await
            .expect("the services start within PATIENCE")
            .expect("read the services' stdout");
        assert_eq!(line.as_deref(), Some("ready"), "the services did not start");
    }
}

impl Drop for HopNet {
    /// Stops the servers, then removes the namespace and its files. Never
    /// panics: a failure here would hide the test's own.
    fn drop(&mut self) {
        // SIGQUIT is PostgreSQL's immediate shutdown; python3 takes the
        // plain SIGTERM (its default SIGQUIT action would dump core).
        for (child, signal) in [
            (self.postgres.take(), libc::SIGQUIT),
            (self.services.take(), libc::SIGTERM),
        ] {
            if let Some(child) = child {
                stop(child, signal);
            }
        }
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(Path::new(NETNS_ETC).join(&self.name));
    }
}

/// Ends `child` and its process group: `signal` first, SIGKILL if that is not
/// enough in a few seconds. Waits, bounded, so that nothing still writes into
/// a directory about to be removed.
fn stop(mut child: Child, signal: libc::c_int) {
    let Some(pid) = child.id() else { return };
    let group = -(pid as libc::pid_t);
    for (signal, patience) in [(signal, 5), (libc::SIGKILL, 5)] {
        // SAFETY: kill(2) touches no memory of ours; the group is our child's.
        unsafe { libc::kill(group, signal) };
        for _ in 0..patience * 20 {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Creates a namespace with only its loopback interface, up, and returns its
/// name; skips names still taken.
pub fn add_netns() -> String {
    remove_stale();
    for _ in 0..100 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("eiceproxy-{}-{n}", std::process::id());
        let added = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .stderr(Stdio::null())
            .status()
            .expect("run ip");
        if !added.success() {
            continue;
        }
        let up = std::process::Command::new("ip")
            .args(["-n", &name, "link", "set", "lo", "up"])
            .status()
            .expect("run ip");
        assert!(up.success(), "bring up lo in {name}: {up}");
        return name;
    }
    panic!("cannot create a network namespace (see `ip netns add`)");
}

/// Removes the namespaces (and their hosts files) of test processes that
/// died without dropping their `HopNet` (killed at a timeout, say), so they do
/// not pile up. The name's pid tells whose a namespace is.
fn remove_stale() {
    let Ok(list) = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
    else {
        return;
    };
    for name in String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
    {
        let owner = name
            .strip_prefix("eiceproxy-")
            .and_then(|rest| rest.split('-').next());
        if owner.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", name])
                .status();
            let _ = std::fs::remove_dir_all(Path::new(NETNS_ETC).join(name));
        }
    }
}

/// What the hop's real sshd needs that this machine lacks, if anything.
pub fn sshd_missing() -> Vec<String> {
    if eice_sim::sshd::SimSshd::available() {
        Vec::new()
    } else {
        vec!["root and sshd (Debian package openssh-server)".to_owned()]
    }
}

/// Whether `program` is in a directory of `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
