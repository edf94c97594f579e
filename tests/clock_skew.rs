//! A machine whose clock is ten minutes off AWS's, either way: the simulated
//! account's clock is moved, not this machine's. `resolve`, `connect` (from
//! a cold and from a warm route cache), `serve` (also one whose clock jumps
//! while it runs) and `eice-proxy ssh` all work, each process's log says once
//! how far off the clock is, and a presigned URL refused for the clock is
//! signed again at AWS's time, learned from the refusal's `Date`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use common::clients::{Dest, reaches};
use common::exchange::exchange;
use common::request::tunnel_request;
use common::sshd::Sshd;
use common::{Proxy, aws_command, eice_ssh, run};
use eice_proxy::clock::{Clock, Skew};
use eice_proxy::credentials::CredentialCache;
use eice_proxy::eice::{Connector, EndpointOverride, TunnelRequest, TunnelSettings};
use eice_sim::account::SimAws;
use eice_sim::clock::SimClock;
use eice_sim::eice::{EXAMPLE_ACCESS_KEY_ID, EXAMPLE_SECRET_ACCESS_KEY, EiceSim, EiceSimConfig};
use eice_sim::world::World;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const TEN_MINUTES: Duration = Duration::from_secs(600);

/// What the log says when the clock is off.
const WARNING: &str = "this machine's clock is ";

/// AWS's clock moved ten minutes `ahead` of this machine's, or behind it.
fn move_clock(clock: &SimClock, ahead: bool) {
    if ahead {
        clock.advance(TEN_MINUTES);
    } else {
        clock.rewind(TEN_MINUTES);
    }
}

/// How the warning words a clock ten minutes off AWS's: this machine is
/// behind when AWS is ahead.
fn how_far(ahead: bool) -> &'static str {
    if ahead {
        "behind AWS's"
    } else {
        "ahead of AWS's"
    }
}

/// Asserts that `log` says once, as a warning, that the clock is ten minutes off.
fn warned_once(log: &str, ahead: bool) {
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(WARNING)).collect();
    assert_eq!(lines.len(), 1, "one warning: {log}");
    let line = lines[0];
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains(&format!("{WARNING}10 min ")) || line.contains(&format!("{WARNING}9 min 5")),
        "{line}"
    );
    assert!(line.contains(how_far(ahead)), "{line}");
}

#[tokio::test]
async fn resolve_works_with_awss_clock_ten_minutes_off_either_way() {
    for ahead in [true, false] {
        let aws = SimAws::start(World::demo(), false).await.unwrap();
        move_clock(aws.clock(), ahead);
        let (cmd, _dir) = aws_command(&aws, &["resolve", "web-1"]);
        let (status, stdout, stderr) = run(cmd).await;
        assert!(status.success(), "{stderr}");
        assert!(stdout.contains("private ip  10.0.1.10"), "{stdout}");
        warned_once(&stderr, ahead);
    }
}

/// `connect web-1 22` with its route cache under `cache_home`: the banner
/// comes back and our bytes are echoed. Returns its stderr.
async fn login(aws: &SimAws, cache_home: &Path) -> String {
    let (mut cmd, _dir) = aws_command(aws, &["connect", "web-1", "22"]);
    cmd.env("XDG_CACHE_HOME", cache_home);
    let (out, output) = exchange(&mut cmd, b"hello").await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    assert!(
        out.contains("web-1 port 22") && out.ends_with("hello"),
        "{out:?}"
    );
    stderr
}

#[tokio::test]
async fn connect_works_from_a_cold_and_a_warm_route_cache_with_the_clock_ten_minutes_off() {
    for ahead in [true, false] {
        let aws = SimAws::start(World::demo(), false).await.unwrap();
        move_clock(aws.clock(), ahead);
        let cache_home = tempfile::tempdir().unwrap();
        // Cold: EC2's answers teach the skew, and the URL is signed right.
        let stderr = login(&aws, cache_home.path()).await;
        warned_once(&stderr, ahead);
        assert_eq!(aws.eice.stats().rejected, Vec::<String>::new());
        // Warm: no EC2 call to learn from; EICE's refusal teaches it.
        let calls = aws.ec2.calls_total();
        let stderr = login(&aws, cache_home.path()).await;
        assert_eq!(
            aws.ec2.calls_total(),
            calls,
            "the route came from the cache"
        );
        warned_once(&stderr, ahead);
        let stats = aws.eice.stats();
        assert_eq!(stats.rejected, ["InvalidSignatureException"]);
        assert_eq!(stats.tunnels_opened, 2);
    }
}

#[tokio::test]
async fn serve_works_with_the_clock_ten_minutes_off_and_warns_once() {
    for ahead in [true, false] {
        let aws = SimAws::start(World::demo(), false).await.unwrap();
        move_clock(aws.clock(), ahead);
        let proxy = Proxy::start_with(aws, "", &[]).await;
        reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
        reaches(proxy.addr, Dest::Domain("db-1"), 22, "db-1").await;
        reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
        proxy.log_line(WARNING).await;
        warned_once(&proxy.full_log().join("\n"), ahead);
        assert_eq!(proxy.aws.eice.stats().rejected, Vec::<String>::new());
    }
}

#[tokio::test]
async fn a_warm_serve_survives_a_clock_that_jumps_while_it_runs() {
    for ahead in [true, false] {
        let aws = SimAws::start(World::demo(), false).await.unwrap();
        let proxy = Proxy::start_with(aws, "", &[]).await;
        reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
        let calls = proxy.aws.ec2.calls_total();
        // A laptop back from sleep: the route is cached, the clock is not right.
        move_clock(proxy.aws.clock(), ahead);
        reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
        reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
        assert_eq!(
            proxy.aws.ec2.calls_total(),
            calls,
            "no EC2 call to learn from"
        );
        let stats = proxy.aws.eice.stats();
        assert_eq!(stats.rejected, ["InvalidSignatureException"], "once");
        assert_eq!(stats.tunnels_opened, 3);
        proxy.log_line(WARNING).await;
        warned_once(&proxy.full_log().join("\n"), ahead);
    }
}

#[tokio::test]
async fn eice_proxy_ssh_logs_in_with_the_clock_ten_minutes_off() {
    for ahead in [true, false] {
        let aws = SimAws::start(World::demo(), false).await.unwrap();
        let mut sshd = Sshd::with_pushed_keys(&aws.ec2.url(), WEB_1);
        let local = sshd.listen("web-1").await;
        aws.eice.add_target("10.0.1.10:22".parse().unwrap(), local);
        move_clock(aws.clock(), ahead);
        let home = tempfile::tempdir().unwrap();
        let key = sshd.key.display().to_string();
        let (cmd, _dir) = eice_ssh(
            &aws,
            home.path(),
            &["-i", &key, "-l", &sshd.user, "web-1"],
            &["echo logged-in-as-$INSTANCE"],
        );
        let (status, stdout, stderr) = run(cmd).await;
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert_eq!(stdout.trim(), "logged-in-as-web-1");
        // The ProxyCommand signed with what `ssh` learned: no refusal, no
        // second warning.
        warned_once(&stderr, ahead);
        assert_eq!(aws.eice.stats().rejected, Vec::<String>::new());
        assert_eq!(aws.ec2.keys().valid_keys(WEB_1, &sshd.user).len(), 1);
    }
}

/// The simulated EICE alone, its clock `skew` seconds off, with an instance
/// stand-in that echoes.
async fn eice_with_clock(clock: SimClock) -> (EiceSim, Connector) {
    let instance = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = instance.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = instance.accept().await {
            tokio::spawn(async move {
                let (mut rd, mut wr) = socket.split();
                let _ = tokio::io::copy(&mut rd, &mut wr).await;
            });
        }
    });
    let sim = EiceSim::start(EiceSimConfig {
        clock,
        ..EiceSimConfig::default()
    })
    .await
    .unwrap();
    sim.add_target("10.0.1.25:22".parse().unwrap(), local);
    let settings = TunnelSettings {
        endpoint_override: Some(EndpointOverride::parse(&sim.url()).unwrap()),
        ..TunnelSettings::default()
    };
    let connector = Connector::new(settings).unwrap().with_clock(Clock::own());
    (sim, connector)
}

/// The request every in-process test here opens.
fn web_request() -> TunnelRequest {
    tunnel_request("eice-0123456789abcdef0", "10.0.1.25")
}

/// A credential cache over the example key, counting how often it is filled.
fn counted(secret: &'static str) -> (CredentialCache, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let provider = aws_credential_types::credential_fn::provide_credentials_fn(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok(Credentials::new(
                EXAMPLE_ACCESS_KEY_ID,
                secret,
                None,
                None,
                "test",
            ))
        }
    });
    let cache = CredentialCache::new(Some(SharedCredentialsProvider::new(provider)));
    (cache, calls)
}

#[tokio::test]
async fn a_url_refused_for_the_clock_is_signed_again_at_the_services_time() {
    for skew_secs in [600i64, -600] {
        let (sim, connector) = eice_with_clock(SimClock::skewed(skew_secs)).await;
        let (credentials, fetched) = counted(EXAMPLE_SECRET_ACCESS_KEY);
        let mut tunnel = connector.open(&web_request(), &credentials).await.unwrap();
        tunnel
            .send_early(bytes::Bytes::from_static(b"ping"))
            .await
            .unwrap();
        let stats = sim.stats();
        assert_eq!(stats.rejected, ["InvalidSignatureException"]);
        assert_eq!(stats.tunnels_opened, 1);
        assert_eq!(
            fetched.load(Ordering::SeqCst),
            1,
            "the credentials were kept"
        );
        // The next tunnel is signed right the first time.
        connector.open(&web_request(), &credentials).await.unwrap();
        assert_eq!(sim.stats().rejected.len(), 1);
        assert_eq!(sim.stats().tunnels_opened, 2);
    }
}

#[tokio::test]
async fn a_refusal_from_a_service_whose_clock_agrees_is_not_tried_again() {
    let (sim, connector) = eice_with_clock(SimClock::new()).await;
    let (credentials, fetched) = counted("not-the-secret");
    let e = connector
        .open(&web_request(), &credentials)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("SignatureDoesNotMatch"), "{e}");
    assert_eq!(sim.stats().rejected, ["SignatureDoesNotMatch"], "no retry");
    // Rejected credentials are dropped: the next tunnel asks the chain again.
    let _ = connector.open(&web_request(), &credentials).await;
    assert_eq!(fetched.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_skew_learned_elsewhere_signs_the_url_right_the_first_time() {
    let sim_clock = SimClock::skewed(600);
    let (sim, connector) = eice_with_clock(sim_clock.clone()).await;
    // As if an EC2 answer had been dated by AWS's clock.
    let clock = Clock::own();
    let now = SystemTime::now();
    let skew = clock.learn(Some(&sim_clock.http_date()), now, now).unwrap();
    assert!(skew.distance(Skew::from_millis(600_000)) < Duration::from_secs(2));
    let connector = connector.with_clock(clock);
    let (credentials, _) = counted(EXAMPLE_SECRET_ACCESS_KEY);
    connector.open(&web_request(), &credentials).await.unwrap();
    assert_eq!(sim.stats().rejected, Vec::<String>::new());
}
