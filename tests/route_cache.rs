//! The route cache on disk of `connect` and `ssh`: the real binary against
//! the simulated AWS, its EC2 API call and connection counters the proof.
//! A second login makes no API call; a corrupt or foreign file is ignored
//! with a warning and rewritten; a stale entry costs one failed attempt and
//! never a failed login; concurrent logins leave one good file; the first
//! login's Describe calls by name ride one connection, and by id go out at
//! once.

mod common;

use std::path::{Path, PathBuf};

use common::exchange::exchange;
use common::sshd::Sshd;
use common::{aws_command, eice_ssh, run};
use eice_sim::account::SimAws;
use eice_sim::ec2_api::Action;
use eice_sim::world::World;
use serde_json::Value;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const WEB_1_ENDPOINT: &str = "eice-0a1b2c3d4e5f60021";
const OTHER_ENDPOINT: &str = "eice-0a1b2c3d4e5f60022";
const FILE: &str = "routes-default@us-east-1.json";

/// The calls a resolution makes: instances and endpoints.
fn describe_calls(aws: &SimAws) -> (usize, usize) {
    (
        aws.ec2.calls(Action::DescribeInstances),
        aws.ec2.calls(Action::DescribeInstanceConnectEndpoints),
    )
}

/// `eice-proxy connect TARGET 22 EXTRA…` with its cache under `cache_home`
/// (as `XDG_CACHE_HOME`), logging at info.
fn connect(
    aws: &SimAws,
    cache_home: &Path,
    target: &str,
    extra: &[&str],
) -> (tokio::process::Command, tempfile::TempDir) {
    let mut args = vec!["connect"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[target, "22"]);
    let (mut cmd, dir) = aws_command(aws, &args);
    cmd.env("XDG_CACHE_HOME", cache_home)
        .env("RUST_LOG", "info");
    (cmd, dir)
}

/// Logs in to `target` through `connect`: the instance's banner must come
/// back, then our greeting echoed. Returns connect's stderr.
async fn login(
    aws: &SimAws,
    cache_home: &Path,
    target: &str,
    extra: &[&str],
    expect: &str,
) -> String {
    let (mut cmd, _dir) = connect(aws, cache_home, target, extra);
    let (out, output) = exchange(&mut cmd, b"hello").await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "login to {target} failed: {stderr}"
    );
    assert!(
        out.starts_with("SSH-2.0-eice-proxy-simulated ")
            && out.contains(expect)
            && out.ends_with("\r\nhello"),
        "{target}: {out:?}"
    );
    stderr
}

fn cache_file(cache_home: &Path) -> PathBuf {
    cache_home.join("eice-proxy").join(FILE)
}

/// The file as JSON; it must be a good one of this account.
fn good_file(aws: &SimAws, cache_home: &Path) -> Value {
    let text = std::fs::read_to_string(cache_file(cache_home)).expect("the route file exists");
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(json["format"], 2, "{json}");
    assert_eq!(json["profile"], "default", "{json}");
    assert_eq!(json["region"], "us-east-1", "{json}");
    assert_eq!(
        json["api"].as_str().unwrap().trim_end_matches('/'),
        aws.ec2.url(),
        "{json}"
    );
    json
}

async fn account() -> SimAws {
    SimAws::start(World::demo(), false).await.unwrap()
}

#[tokio::test]
async fn a_second_connect_makes_no_ec2_call_and_the_first_a_connection_per_call_at_most() {
    let aws = account().await;
    let home = tempfile::tempdir().unwrap();
    login(&aws, home.path(), "web-1", &[], WEB_1).await;
    assert_eq!(describe_calls(&aws), (1, 1));
    // Side by side, each call rides a connection of its own (HTTP/1.1
    // carries one request at a time); one that starts after the other has
    // finished takes the kept one. Never more than one each.
    let first = aws.ec2.connections();
    assert!(
        (1..=2).contains(&first),
        "the first login's two Describe calls opened {first} connections"
    );
    let json = good_file(&aws, home.path());
    assert!(json["names"]["web-1"]["value"][0]["id"] == WEB_1, "{json}");

    login(&aws, home.path(), "web-1", &[], WEB_1).await;
    assert_eq!(
        describe_calls(&aws),
        (1, 1),
        "the second login asked no API"
    );
    assert_eq!(aws.ec2.calls_total(), 2);
    assert_eq!(aws.ec2.connections(), first, "nor connected to it");
    assert_eq!(aws.eice.stats().tunnels_opened, 2);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home.path().join("eice-proxy")), 0o700);
        assert_eq!(mode(&cache_file(home.path())), 0o600);
    }
}

#[tokio::test]
async fn a_first_login_by_id_lists_the_endpoints_while_the_instance_is_looked_up() {
    first_login_lists_the_endpoints_beside(WEB_1).await;
}

#[tokio::test]
async fn a_first_login_by_name_lists_the_endpoints_while_the_instance_is_looked_up() {
    first_login_lists_the_endpoints_beside("web-1").await;
}

/// A first login to `target` (web-1's id or Name tag) asks for the
/// instance and the region's endpoints at once, and keeps what it learned.
async fn first_login_lists_the_endpoints_beside(target: &str) {
    let aws = account().await;
    // The instance's answer waits for the endpoints' call: a login that
    // asks one after the other never gets it, and fails.
    aws.ec2.hold_answers(
        Action::DescribeInstances,
        Action::DescribeInstanceConnectEndpoints,
    );
    let home = tempfile::tempdir().unwrap();
    login(&aws, home.path(), target, &[], WEB_1).await;
    assert_eq!(describe_calls(&aws), (1, 1));
    let json = good_file(&aws, home.path());
    // The region's listing is kept as the instance's VPC's endpoints, and
    // only those: not the other VPC's (eice-…60041).
    let kept = json["endpoints"]["vpc:vpc-0a1b2c3d4e5f60001"]["value"]
        .as_array()
        .unwrap_or_else(|| panic!("{json}"));
    let ids: Vec<&str> = kept.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids, [WEB_1_ENDPOINT, OTHER_ENDPOINT], "{json}");
    login(&aws, home.path(), target, &[], WEB_1).await;
    assert_eq!(
        describe_calls(&aws),
        (1, 1),
        "the second login asked no API"
    );
}

#[tokio::test]
async fn no_cache_asks_the_api_every_time_and_writes_nothing() {
    let aws = account().await;
    let home = tempfile::tempdir().unwrap();
    for round in 1..=2 {
        login(&aws, home.path(), "web-1", &["--no-cache"], WEB_1).await;
        assert_eq!(describe_calls(&aws), (round, round));
    }
    assert!(!home.path().join("eice-proxy").exists());
    // So does `[cache] disk = false`.
    let config = home.path().join("config.toml");
    std::fs::write(&config, "[cache]\ndisk = false\n").unwrap();
    let config = config.display().to_string();
    login(&aws, home.path(), "web-1", &["--config", &config], WEB_1).await;
    assert_eq!(describe_calls(&aws), (3, 3));
    assert!(!home.path().join("eice-proxy").exists());
}

/// Puts `text` where the route file goes, logs in, and checks the warning
/// and that the file was rewritten good.
async fn ignored_and_rewritten(text: &str, why: &str) {
    let aws = account().await;
    let home = tempfile::tempdir().unwrap();
    let path = cache_file(home.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    let stderr = login(&aws, home.path(), "web-1", &[], WEB_1).await;
    let warning = stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("ignoring the route cache"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(
        warning.contains(&path.display().to_string()) && warning.contains(why),
        "{warning}"
    );
    assert_eq!(
        describe_calls(&aws),
        (1, 1),
        "the file's answers were not used"
    );
    let json = good_file(&aws, home.path());
    assert!(json["names"]["web-1"]["value"][0]["id"] == WEB_1, "{json}");
}

/// A good file of `aws`'s, written by a login, as JSON.
async fn written_file(aws: &SimAws) -> Value {
    let home = tempfile::tempdir().unwrap();
    login(aws, home.path(), "web-1", &[], WEB_1).await;
    good_file(aws, home.path())
}

#[tokio::test]
async fn a_corrupt_cache_file_is_ignored_with_a_warning_and_rewritten() {
    ignored_and_rewritten(
        "{\"format\": 2, \"profile\": \"defa",
        "not a route cache file",
    )
    .await;
}

#[tokio::test]
async fn a_file_of_another_format_version_is_ignored_and_rewritten() {
    let aws = account().await;
    let mut json = written_file(&aws).await;
    json["format"] = 99.into();
    drop(aws);
    ignored_and_rewritten(&json.to_string(), "format 99").await;
}

#[tokio::test]
async fn a_file_written_against_another_ec2_api_is_never_used() {
    // Answers learned from one simulated account, whose endpoint the other
    // account does not have: used, they would route the login wrong.
    let other = account().await;
    let json = written_file(&other).await;
    let text = json.to_string();
    let api = json["api"].as_str().unwrap().to_owned();
    drop(other);
    ignored_and_rewritten(&text, &format!("from the EC2 API at {api}")).await;
}

#[tokio::test]
async fn a_file_of_another_profile_is_never_used() {
    let aws = account().await;
    let mut json = written_file(&aws).await;
    json["profile"] = "prod".into();
    drop(aws);
    ignored_and_rewritten(&json.to_string(), "profile \"prod\"").await;
}

#[tokio::test]
async fn a_deleted_endpoint_costs_one_attempt_and_leaves_the_cache() {
    let aws = account().await;
    let home = tempfile::tempdir().unwrap();
    login(&aws, home.path(), "web-1", &[], WEB_1).await;
    let json = good_file(&aws, home.path());
    assert!(json.to_string().contains(WEB_1_ENDPOINT), "{json}");

    // The endpoint the cache names is deleted; the VPC's other one remains.
    aws.delete_endpoint(WEB_1_ENDPOINT).unwrap();
    let stderr = login(&aws, home.path(), "web-1", &[], WEB_1).await;
    assert!(
        stderr.contains("the cached route to web-1:22 was stale")
            && stderr.contains("InvalidInstanceConnectEndpointId.NotFound"),
        "{stderr}"
    );
    assert_eq!(
        describe_calls(&aws),
        (1, 2),
        "the endpoints were looked up again; the name was still good"
    );
    let json = good_file(&aws, home.path()).to_string();
    assert!(
        !json.contains(WEB_1_ENDPOINT),
        "the stale entry is gone: {json}"
    );
    assert!(json.contains(OTHER_ENDPOINT), "{json}");

    // The next login uses the new entry, with no call.
    login(&aws, home.path(), "web-1", &[], WEB_1).await;
    assert_eq!(describe_calls(&aws), (1, 2));
}

#[tokio::test]
async fn an_unreachable_cached_instance_is_looked_up_again_and_its_state_told() {
    let aws = account().await;
    let home = tempfile::tempdir().unwrap();
    login(&aws, home.path(), WEB_1, &[], WEB_1).await;
    // Stopped behind the cache's back: the cached route now fails at EICE.
    aws.ec2
        .set_instance_state(WEB_1, eice_sim::world::InstanceState::Stopped)
        .unwrap();
    aws.eice.remove_target("10.0.1.10:22".parse().unwrap());
    let (mut cmd, _dir) = connect(&aws, home.path(), WEB_1, &[]);
    cmd.stdin(std::process::Stdio::null());
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success());
    assert!(
        stderr.contains("was stale") && stderr.contains("code 1011"),
        "the cache was blamed first: {stderr}"
    );
    assert!(
        stderr.contains("is stopped, not running: start it first"),
        "then the fresh answer told why: {stderr}"
    );
    assert_eq!(describe_calls(&aws), (2, 1));
    let json = good_file(&aws, home.path());
    assert_eq!(
        json["instances"][WEB_1]["value"]["state"], "stopped",
        "{json}"
    );
}

#[tokio::test]
async fn concurrent_logins_against_an_empty_cache_all_succeed_and_leave_one_good_file() {
    let aws = account().await;
    let home = tempfile::tempdir().unwrap();
    let targets = [
        ("web-1", WEB_1),
        ("db-1", "i-0a1b2c3d4e5f60002"),
        ("other-vpc", "i-0a1b2c3d4e5f60006"),
        ("i-0a1b2c3d4e5f60004", "i-0a1b2c3d4e5f60004"),
        ("i-0a1b2c3d4e5f60005", "i-0a1b2c3d4e5f60005"),
        (WEB_1, WEB_1),
    ];
    let logins = targets
        .iter()
        .map(|(target, expect)| login(&aws, home.path(), target, &[], expect));
    futures_util::future::join_all(logins).await;

    let json = good_file(&aws, home.path());
    for name in ["web-1", "db-1", "other-vpc"] {
        assert!(json["names"][name]["value"].is_array(), "{name}: {json}");
    }
    for id in ["i-0a1b2c3d4e5f60004", "i-0a1b2c3d4e5f60005", WEB_1] {
        assert!(json["instances"][id]["value"].is_object(), "{id}: {json}");
    }
    // Every answer is there: the same logins again make no call.
    let calls = aws.ec2.calls_total();
    for (target, expect) in targets {
        login(&aws, home.path(), target, &[], expect).await;
    }
    assert_eq!(aws.ec2.calls_total(), calls);
    // Nothing but the file and its lock is left in the directory.
    let mut left: Vec<String> = std::fs::read_dir(home.path().join("eice-proxy"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [FILE.to_owned(), format!("{FILE}.lock")]);
}

#[tokio::test]
async fn eice_proxy_ssh_uses_the_cache_for_its_lookup_and_its_proxy_command() {
    let aws = account().await;
    let mut sshd = Sshd::with_pushed_keys(&aws.ec2.url(), WEB_1);
    let local = sshd.listen("web-1").await;
    aws.eice.add_target("10.0.1.10:22".parse().unwrap(), local);
    let home = tempfile::tempdir().unwrap();
    let key = sshd.key.display().to_string();
    let ssh = || {
        // HOME, and no XDG_CACHE_HOME: the cache goes to ~/.cache.
        eice_ssh(
            &aws,
            home.path(),
            &["-i", &key, "-l", &sshd.user, "web-1"],
            &["echo logged-in-as-$INSTANCE"],
        )
    };
    let mut connections = Vec::new();
    for round in 1..=2 {
        let (cmd, _dir) = ssh();
        let before = aws.ec2.connections();
        let (status, stdout, stderr) = run(cmd).await;
        assert_eq!(status.code(), Some(0), "round {round}: {stderr}");
        assert_eq!(stdout.trim(), "logged-in-as-web-1");
        // The first run's lookup is kept for its own ProxyCommand, and for
        // the second run, whose only call is the key push.
        assert_eq!(describe_calls(&aws), (1, 1), "round {round}");
        connections.push(aws.ec2.connections() - before);
    }
    // Each run pushes a key (and sshd reads it back) over the same URL; the
    // first run's lookups added one connection for each of its Describe
    // calls made side by side (one, if one call finished before the other
    // began and left its connection to it).
    let lookups = connections[0] - connections[1];
    assert!((1..=2).contains(&lookups), "{connections:?}");
    assert!(home.path().join(".cache/eice-proxy").join(FILE).exists());
}
