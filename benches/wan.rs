//! WAN login benchmark: how long a real OpenSSH login (`ssh host echo x`)
//! takes when the laptop is 20–150 ms from the region, by every way a user
//! reaches an instance. Run with `cargo bench --bench wan` (as root, with
//! OpenSSH's server installed; otherwise it says why and exits).
//!
//! All on 127.0.0.1. The simulated AWS account (`SimAws`, `World::demo()`,
//! EICE over `wss://`) has real sshds standing for web-1 and db-1 (db-1
//! accepts only keys pushed with EC2 Instance Connect). The laptop↔AWS leg
//! is stretched by user-space delay relays ([`delay`]): one in front of the
//! simulated EICE, one in front of the AWS APIs (EC2, EC2 Instance Connect,
//! STS), which are served over HTTPS by [`tls_front`] as AWS serves them. The
//! instance's side of EICE (EICE → sshd) is not delayed: it runs inside AWS.
//!
//! Ways measured at each round-trip time (median of `WAN_LOGINS`):
//!
//! - **direct ssh**: ssh to web-1's sshd through a delayed link of its own,
//!   the yardstick; the other rows are also given as round trips over it.
//! - **serve + nc, warm**: `ProxyCommand=nc -X 5 -x PROXY %h %p` to a running
//!   `eice-proxy serve` that has reached web-1 before.
//! - **connect, first / second login**: `ProxyCommand=eice-proxy connect %h
//!   %p`, with an empty cache directory, then with the one a login left.
//! - **eice-proxy ssh, first / second**: the key push and ssh through
//!   `connect`, to db-1.
//! - **connect + serve, warm** (`connect+serve`): `ProxyCommand=eice-proxy
//!   connect %h %p` with a `serve` of the profile running, which it asks for
//!   the tunnel through its control socket. The other `connect` rows see no
//!   serve: each login's `XDG_RUNTIME_DIR` is a directory of its own.
//!
//! With `WAN_TRACE_RTT_MS`, one more login of each way is traced at that
//! round-trip time: every chunk each link delivered, in time order, so a
//! login's round trips can be accounted for one by one.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `WAN_RTTS_MS` | `20,60,150` | round-trip times to measure at |
//! | `WAN_LOGINS` | 7 | timed logins per way and round-trip time; the median counts |
//! | `WAN_WAYS` | `direct,serve,connect,ssh` (also `connect+serve`) | which ways to measure |
//! | `WAN_TRACE_RTT_MS` | 0 (none) | trace one login of each way at this round-trip time |
//! | `WAN_PROXY` | the built binary | the `eice-proxy` binary to measure |
//! | `WAN_PROXY_CONFIG` | empty | the config file both `serve` and `connect` read |
//! | `WAN_TIMEOUT_SECS` | 60 | bound on any one login |

#[allow(dead_code)]
#[path = "wan/delay.rs"]
mod delay;
#[allow(dead_code)]
#[path = "e2e/figures.rs"]
mod figures;
#[path = "wan/login.rs"]
mod login;
#[allow(dead_code)]
#[path = "e2e/peers.rs"]
mod peers;
#[allow(dead_code)]
#[path = "e2e/process.rs"]
mod process;
#[path = "wan/report.rs"]
mod report;
#[allow(dead_code)]
#[path = "../tests/common/sshd.rs"]
mod sshd;
#[path = "wan/tls_front.rs"]
mod tls_front;
#[allow(dead_code)]
#[path = "e2e/vars.rs"]
mod vars;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use eice_sim::account::SimAws;
use eice_sim::sshd::{SSHD, SimSshd};
use eice_sim::world::World;

use delay::Trace;
use figures::Machine;
use login::{Logins, Way, fresh_home};
use process::{ProxyFiles, ProxyProcess};
use report::{Report, Row, RttReport, Settings, TracedLogin};
use sshd::Sshd;

/// The proxy binary cargo built for this bench (the bench profile).
const PROXY_EXE: &str = env!("CARGO_BIN_EXE_eice-proxy");

/// web-1's and db-1's port 22, which the sshds stand for.
const WEB_1_SSH: &str = "10.0.1.10:22";
const DB_1_SSH: &str = "10.0.2.20:22";
const DB_1: &str = "i-0a1b2c3d4e5f60002";

fn main() -> anyhow::Result<()> {
    if !SimSshd::available() {
        println!("wan bench skipped: it needs root and OpenSSH's server at {SSHD}");
        return Ok(());
    }
    let settings = Settings::from_env(PROXY_EXE)?;
    figures::run_bench(run(settings), report::render, PROXY_EXE, "wan-bench.json")
}

async fn run(s: Settings) -> anyhow::Result<Report> {
    let started = Instant::now();
    let loadavg_start = figures::loadavg();
    let aws = SimAws::start(World::demo(), true).await?;
    let mut web = Sshd::new();
    let web_addr = web.listen("web-1").await;
    aws.eice.add_target(WEB_1_SSH.parse()?, web_addr);
    let mut db = Sshd::with_pushed_keys(&aws.ec2.url(), DB_1);
    aws.eice
        .add_target(DB_1_SSH.parse()?, db.listen("db-1").await);
    let api = tls_front::start(aws.ec2.local_addr()).await?;
    let files = ProxyFiles::new(&aws, &s.proxy_config)?;
    let bundle = web.dir.path().join("ca-bundle.pem");
    let eice_ca = aws.eice.ca_pem().context("the simulated EICE runs TLS")?;
    std::fs::write(&bundle, format!("{eice_ca}\n{}", api.ca_pem))?;

    let mut rtts = Vec::new();
    let mut traces = Vec::new();
    let mut errors = Vec::new();
    for &rtt_ms in &s.rtts_ms {
        let rtt = Duration::from_secs_f64(rtt_ms / 1e3);
        let trace = Trace::default();
        let eice = delay::start("eice", aws.eice.addr(), rtt, trace.clone()).await?;
        let api_link = delay::start("api", api.server.addr, rtt, trace.clone()).await?;
        let ssh_link = delay::start("ssh", web_addr, rtt, trace.clone()).await?;
        let env = environment(&aws, &files, &bundle, eice.addr, api_link.addr);
        // The serve's control socket, for `connect+serve`.
        let runtime = tempfile::tempdir()?;
        let proxy = if s.wants("serve") || s.wants("connect+serve") {
            let exe = Path::new(&s.proxy);
            let mut env = env.clone();
            env.push((
                "XDG_RUNTIME_DIR".into(),
                runtime.path().display().to_string(),
            ));
            let p = ProxyProcess::start_with_env(exe, &[], &aws, &files, &env).await?;
            Some(p)
        } else {
            None
        };
        let logins = Logins {
            exe: Path::new(&s.proxy),
            env,
            web: &web,
            db: &db,
            direct: ssh_link.addr,
            serve: proxy.as_ref().map(|p| p.addr),
            runtime: runtime.path(),
            timeout: Duration::from_secs(s.timeout_secs),
        };
        eprintln!("wan: RTT {rtt_ms} ms");
        let rows = measure_rtt(&s, &logins, &mut errors).await;
        let direct = rows.iter().find(|r| r.way == "direct ssh");
        let direct_ms = direct.and_then(|r| r.median_ms);
        let rows = rows
            .iter()
            .map(|r| r.with_over_direct(direct_ms, rtt_ms))
            .collect();
        rtts.push(RttReport { rtt_ms, rows });
        if s.trace_rtt_ms == Some(rtt_ms) {
            traces.extend(trace_logins(&s, &logins, &trace, rtt_ms, &mut errors).await);
        }
        if let Some(proxy) = proxy {
            proxy.stop().await;
        }
    }
    Ok(Report {
        machine: Machine::probe(process::raise_open_files(1024), PROXY_EXE),
        settings: s,
        rtts,
        traces,
        errors,
        loadavg_start,
        loadavg_end: figures::loadavg(),
        wall_secs: started.elapsed().as_secs_f64(),
    })
}

/// What every client process (and `serve`) sees: the account, with EICE
/// and the APIs behind the delayed links, and one CA bundle for both.
fn environment(
    aws: &SimAws,
    files: &ProxyFiles,
    bundle: &Path,
    eice: std::net::SocketAddr,
    api: std::net::SocketAddr,
) -> Vec<(String, String)> {
    let api_url = format!("https://{api}");
    let mut env: Vec<(String, String)> = aws
        .isolated_env(files.empty())
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    for (name, value) in env.iter_mut() {
        if name.starts_with("AWS_ENDPOINT_URL") {
            *value = api_url.clone();
        }
        if name == "EICE_PROXY_ENDPOINT_URL" {
            *value = format!("wss://{eice}");
        }
    }
    env.push(("AWS_CA_BUNDLE".into(), bundle.display().to_string()));
    env.push(("RUST_LOG".into(), "warn,eice_proxy=info".into()));
    env
}

/// Every way, `WAN_LOGINS` times each, at one round-trip time.
async fn measure_rtt(s: &Settings, logins: &Logins<'_>, errors: &mut Vec<String>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (way, label, warm) in ways(s) {
        let mut samples = Vec::new();
        let outcome: anyhow::Result<()> = async {
            // A warm way shares one HOME (and cache) whose first login is not timed.
            let shared = fresh_home()?;
            if warm {
                logins.login(way, &shared.1).await?;
            }
            for _ in 0..s.logins {
                let own = fresh_home()?;
                let home = if warm { &shared.1 } else { &own.1 };
                samples.push(logins.login(way, home).await?.1.as_secs_f64() * 1e3);
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            errors.push(format!("{label}: {e:#}"));
            eprintln!("wan: {label}: {e:#}");
        }
        rows.push(Row::new(label, samples));
    }
    rows
}

/// The ways `WAN_WAYS` asks for: (way, label, whether a login precedes the
/// timed ones in the same HOME).
fn ways(s: &Settings) -> Vec<(Way, &'static str, bool)> {
    let all = [
        ("direct", Way::Direct, "direct ssh", true),
        ("serve", Way::Serve, "serve + nc -X 5, warm", true),
        ("connect", Way::Connect, "connect, first login", false),
        ("connect", Way::Connect, "connect, second login", true),
        ("ssh", Way::EiceSsh, "eice-proxy ssh, first", false),
        ("ssh", Way::EiceSsh, "eice-proxy ssh, second", true),
        (
            "connect+serve",
            Way::ConnectServe,
            "connect + serve, warm",
            true,
        ),
    ];
    all.into_iter()
        .filter(|(name, ..)| s.wants(name))
        .map(|(_, way, label, warm)| (way, label, warm))
        .collect()
}

/// One more login of each way with every link's traffic recorded.
async fn trace_logins(
    s: &Settings,
    logins: &Logins<'_>,
    trace: &Trace,
    rtt_ms: f64,
    errors: &mut Vec<String>,
) -> Vec<TracedLogin> {
    let mut traced = Vec::new();
    for (way, label, warm) in ways(s) {
        let outcome: anyhow::Result<TracedLogin> = async {
            let home: (tempfile::TempDir, PathBuf) = fresh_home()?;
            if warm {
                logins.login(way, &home.1).await?;
            }
            trace.start();
            let (began, took) = logins.login(way, &home.1).await?;
            let events = trace.take();
            Ok(TracedLogin::new(label, rtt_ms, began, took, &events))
        }
        .await;
        match outcome {
            Ok(t) => traced.push(t),
            Err(e) => errors.push(format!("trace {label}: {e:#}")),
        }
    }
    traced
}
