//! Living with the proxy day to day: which config file applies, what
//! overrides it, several regions at once, and `doctor`.

mod common;

use std::path::Path;

use common::{aws_command, run};
use eice_sim::account::SimAws;
use eice_sim::ec2_api::{Action, Fault};
use eice_sim::world::World;
use tokio::process::Command;

/// An address both demo VPCs hold: resolving it needs a `[[route]]` rule.
const AMBIGUOUS: &str = "10.0.1.10";
const PIN: &str = "[[route]]\ncidr = \"10.0.1.0/24\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn the_per_user_config_file_applies_when_no_config_is_named() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let home = tempfile::tempdir().unwrap();

    // No file yet: the address is ambiguous.
    let (mut cmd, _dir) = aws_command(&aws, &["resolve", AMBIGUOUS]);
    cmd.env("XDG_CONFIG_HOME", home.path());
    let (status, _, stderr) = run(cmd).await;
    assert!(
        !status.success() && stderr.contains("several VPCs"),
        "{stderr}"
    );

    // $XDG_CONFIG_HOME/eice-proxy/config.toml pins it.
    write(&home.path().join("eice-proxy/config.toml"), PIN);
    let (mut cmd, _dir) = aws_command(&aws, &["resolve", AMBIGUOUS]);
    cmd.env("XDG_CONFIG_HOME", home.path());
    let (status, stdout, stderr) = run(cmd).await;
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("answered by route: config"), "{stdout}");

    // Without XDG_CONFIG_HOME, ~/.config is the place.
    let (mut cmd, _dir) = aws_command(&aws, &["resolve", AMBIGUOUS]);
    write(&home.path().join(".config/eice-proxy/config.toml"), PIN);
    cmd.env("HOME", home.path());
    let (status, _, stderr) = run(cmd).await;
    assert!(status.success(), "{stderr}");

    // --config and EICE_PROXY_CONFIG name another file, which must exist.
    let (mut cmd, _dir) = aws_command(&aws, &["resolve", AMBIGUOUS]);
    cmd.env("XDG_CONFIG_HOME", home.path())
        .env("EICE_PROXY_CONFIG", home.path().join("missing.toml"));
    let (status, _, stderr) = run(cmd).await;
    assert!(
        !status.success()
            && stderr.contains("cannot read the config file")
            && stderr.contains("missing.toml"),
        "{stderr}"
    );
}

#[tokio::test]
async fn flags_beat_variables_which_beat_the_file() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    // A region the simulated account does not serve: lookups fail there.
    write(&file, &format!("regions = [\"ap-south-1\"]\n{PIN}"));
    let file = file.to_str().unwrap();

    let (cmd, _d) = aws_command(&aws, &["resolve", "--config", file, "web-1"]);
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success(), "the file's region is used: {stderr}");

    let (mut cmd, _d) = aws_command(&aws, &["resolve", "--config", file, "web-1"]);
    cmd.env("EICE_PROXY_REGIONS", "us-east-1");
    let (status, stdout, stderr) = run(cmd).await;
    assert!(
        status.success(),
        "the variable wins over the file: {stderr}"
    );
    assert!(stdout.contains("region      us-east-1\n"), "{stdout}");

    let (mut cmd, _d) = aws_command(
        &aws,
        &[
            "resolve",
            "--config",
            file,
            "--region",
            "us-east-1",
            "web-1",
        ],
    );
    cmd.env("EICE_PROXY_REGIONS", "ap-south-1");
    let (status, _, stderr) = run(cmd).await;
    assert!(
        status.success(),
        "the flag wins over the variable: {stderr}"
    );

    let (cmd, _d) = aws_command(&aws, &["resolve", "--region", "us-east1", "web-1"]);
    let (status, _, stderr) = run(cmd).await;
    assert!(
        !status.success() && stderr.contains("\"us-east1\" is not an AWS region name"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_profiles_max_attempts_and_aws_max_attempts_set_the_ec2_retries() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("aws-config");
    write(&profile, "[default]\nmax_attempts = 4\n");
    let resolve = |extra: &[(&str, &str)]| {
        let (mut cmd, d) = aws_command(&aws, &["resolve", "web-1"]);
        cmd.env("AWS_CONFIG_FILE", &profile)
            .envs(extra.iter().copied());
        (cmd, d)
    };
    // Three outages, then the answer: the fourth attempt the profile allows.
    aws.ec2
        .fail_next(Action::DescribeInstances, Fault::Unavailable, 3);
    let (cmd, _d) = resolve(&[]);
    let (status, _, stderr) = run(cmd).await;
    assert!(status.success(), "{stderr}");
    assert_eq!(aws.ec2.calls(Action::DescribeInstances), 4);
    // The variable wins over the profile, as in the SDKs.
    aws.ec2
        .fail_next(Action::DescribeInstances, Fault::Unavailable, 3);
    let (cmd, _d) = resolve(&[("AWS_MAX_ATTEMPTS", "2")]);
    let (status, _, stderr) = run(cmd).await;
    assert!(
        !status.success() && stderr.contains("Unavailable"),
        "{stderr}"
    );
    assert_eq!(aws.ec2.calls(Action::DescribeInstances), 6);
    aws.ec2.clear_faults();
}

#[tokio::test]
async fn a_bad_value_in_the_file_names_the_key_and_line() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    write(
        &file,
        "listen = \"127.0.0.1:1080\"\n\n[timeouts]\nresolve = 0\n",
    );
    let (cmd, _d) = aws_command(&aws, &["serve", "--config", file.to_str().unwrap()]);
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success());
    assert!(
        stderr.contains("line 4") && stderr.contains("must be at least 1, got 0"),
        "{stderr}"
    );
    write(&file, "[limits]\nmax_conections = 5\n");
    let (cmd, _d) = aws_command(&aws, &["serve", "--config", file.to_str().unwrap()]);
    let (status, _, stderr) = run(cmd).await;
    assert!(
        !status.success()
            && stderr.contains("line 2")
            && stderr.contains("unknown field `max_conections`"),
        "{stderr}"
    );
}

/// `doctor` with a config that listens on a free port, so the listen check
/// does not depend on what else runs here.
fn doctor(aws: &SimAws, dir: &Path) -> (Command, tempfile::TempDir) {
    let file = dir.join("config.toml");
    write(&file, "listen = \"127.0.0.1:0\"\n");
    aws_command(aws, &["doctor", "--config", file.to_str().unwrap()])
}

#[tokio::test]
async fn doctor_reports_a_healthy_setup() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cmd, _d) = doctor(&aws, dir.path());
    let (status, stdout, stderr) = run(cmd).await;
    assert!(status.success(), "{stdout}\n{stderr}");
    for expected in [
        "ok    config file",
        "ok    regions                          us-east-1",
        "ok    credentials (default chain)      AKID…MPLE from environment variables",
        "ok    identity (default chain)         arn:aws:iam::123456789012:user/sim-user \
         (account 123456789012)",
        "ok    permissions (us-east-1)          ec2:DescribeInstances, ec2:DescribeVpcs, \
         ec2:DescribeInstanceConnectEndpoints",
        "ok    endpoint (us-east-1)             eice-0a1b2c3d4e5f60021 in vpc-0a1b2c3d4e5f60001 \
         (create-complete, ipv4)",
        "ok    listen                           127.0.0.1:0 is free",
        "no problems found",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[tokio::test]
async fn doctor_checks_each_hop_instance_and_key() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hop_key");
    eice_sim::sshd::keygen(&key).expect("ssh-keygen (openssh-client)");
    // web-1's host key, recorded in the hops' known_hosts file.
    let known_hosts = dir.path().join("known_hosts");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let recorded: Vec<&str> = public.split_whitespace().take(2).collect();
    write(
        &known_hosts,
        &format!("i-0a1b2c3d4e5f60001 {}\n", recorded.join(" ")),
    );
    let file = dir.path().join("config.toml");
    write(
        &file,
        &format!(
            "listen = \"127.0.0.1:0\"\n[ssh]\nknown_hosts = {known_hosts:?}\n\n\
             [[hop]]\nname = \"web\"\ninstance = \"web-1\"\nkey = {key:?}\ndefault = true\n\n\
             [[hop]]\nname = \"gone\"\ninstance = \"no-such-name\"\nkey = {key:?}\n\
             cidrs = [\"10.9.0.0/16\"]\n",
            key = key.display().to_string(),
            known_hosts = known_hosts.display().to_string(),
        ),
    );
    let (mut cmd, _d) = aws_command(&aws, &["doctor", "--config", file.to_str().unwrap()]);
    // No known_hosts of this machine's user is read.
    cmd.env("HOME", dir.path());
    let (status, stdout, stderr) = run(cmd).await;
    assert!(
        !status.success(),
        "a hop that cannot be found fails: {stdout}"
    );
    let web = format!(
        "ok    hop web                          i-0a1b2c3d4e5f60001 in vpc-0a1b2c3d4e5f60001 \
         through eice-0a1b2c3d4e5f60021, as ec2-user with {}\n",
        key.display()
    );
    assert!(
        stdout.contains(&web),
        "missing {web:?} in:\n{stdout}\n{stderr}"
    );
    let host_key = stdout
        .lines()
        .find(|l| l.contains("host key of i-0a1b2c3d4e5f60001"))
        .unwrap_or_else(|| panic!("no host key check in:\n{stdout}"));
    assert!(
        host_key.starts_with("ok ")
            && host_key.ends_with(&format!("ED25519 key in {}:1", known_hosts.display())),
        "{host_key}"
    );
    assert!(
        stdout.contains("FAIL  hop gone ") && stdout.contains("no-such-name"),
        "{stdout}"
    );
    assert!(
        stdout.contains("doctor found 1 problem") || stderr.contains("doctor found 1 problem"),
        "{stdout}\n{stderr}"
    );
}

#[tokio::test]
async fn doctor_warns_when_the_listen_address_is_taken() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    write(&file, &format!("listen = \"{addr}\"\n"));
    let (cmd, _d) = aws_command(&aws, &["doctor", "--config", file.to_str().unwrap()]);
    let (status, stdout, _) = run(cmd).await;
    assert!(status.success(), "a warning is no failure: {stdout}");
    assert!(
        stdout.contains(&format!(
            "warn  listen                           {addr} is in use: is `eice-proxy serve` already running?"
        )),
        "{stdout}"
    );
}

#[tokio::test]
async fn doctor_names_a_denied_permission_and_its_fix() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    aws.ec2.fail_always(
        Action::DescribeInstanceConnectEndpoints,
        Fault::AccessDenied,
    );
    let dir = tempfile::tempdir().unwrap();
    let (cmd, _d) = doctor(&aws, dir.path());
    let (status, stdout, stderr) = run(cmd).await;
    assert!(!status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL  ec2:DescribeInstanceConnectEndpoints (us-east-1)")
            && stdout.contains("needs the IAM permission ec2:DescribeInstanceConnectEndpoints")
            && stdout.contains("fix: allow ec2:DescribeInstanceConnectEndpoints"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "ok    permissions (us-east-1)          ec2:DescribeInstances, ec2:DescribeVpcs\n"
        ),
        "the other permissions are still reported: {stdout}"
    );
    assert!(stderr.contains("doctor found 1 problem"), "{stderr}");
}

const TWO_REGIONS: &str = "regions = [\"us-east-1\", \"eu-west-1\"]\n";
const EU_WEB_1: &str = "i-0e1a2b3c4d5e60001";

#[tokio::test]
async fn two_regions_resolve_an_instance_in_the_second_and_remember_where() {
    let aws = SimAws::start_regions(vec![World::demo(), World::demo_eu()], false)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    write(&file, TWO_REGIONS);
    let (cmd, _d) = aws_command(
        &aws,
        &[
            "resolve",
            "--config",
            file.to_str().unwrap(),
            EU_WEB_1,
            &format!("{EU_WEB_1}:3389"),
            "10.20.1.20",
            "web-1",
        ],
    );
    let (status, stdout, stderr) = run(cmd).await;
    assert!(status.success(), "{stderr}");
    let reports: Vec<&str> = stdout.split("\n\n").collect();
    assert_eq!(reports.len(), 4, "{stdout}");
    for expected in [
        "instance    i-0e1a2b3c4d5e60001 (eu-web-1, running)",
        "region      eu-west-1\n",
        "endpoint    eice-0e1a2b3c4d5e60021",
        ".ec2-instance-connect-endpoint.eu-west-1.amazonaws.com",
        // Asked in both regions at once.
        "answered by instance: EC2 API, instance: EC2 API, endpoints: EC2 API",
    ] {
        assert!(
            reports[0].contains(expected),
            "{expected:?} in {}",
            reports[0]
        );
    }
    // The second time, only the region that has it is asked, from its cache.
    assert!(
        reports[1].contains("answered by instance: cache, endpoints: cache"),
        "{}",
        reports[1]
    );
    // An address is placed by both regions' VPC blocks.
    assert!(
        reports[2].contains("region      eu-west-1\n")
            && reports[2].contains("answered by vpc cidrs: EC2 API, vpc cidrs: EC2 API"),
        "{}",
        reports[2]
    );
    // A name in the first region is still found.
    assert!(
        reports[3].contains("region      us-east-1\n"),
        "{}",
        reports[3]
    );
    assert!(
        aws.ec2.calls_in("us-east-1", Action::DescribeInstances) >= 2
            && aws.ec2.calls_in("eu-west-1", Action::DescribeInstances) >= 2,
        "both regions were searched"
    );
}

#[tokio::test]
async fn the_proxy_tunnels_to_an_instance_in_a_second_region_signed_for_that_region() {
    use common::Proxy;
    use common::clients::{Dest, reaches};

    let aws = SimAws::start_regions(vec![World::demo(), World::demo_eu()], false)
        .await
        .unwrap();
    let proxy = Proxy::start_with(aws, TWO_REGIONS, &[]).await;
    for target in ["eu-web-1", "web-1"] {
        reaches(proxy.addr, Dest::Domain(target), 22, target).await;
    }
    // The EICE simulator checks each signature's region against its endpoint's.
    let stats = proxy.aws.eice.stats();
    assert_eq!(stats.tunnels_opened, 2, "{:?}", stats.rejected);
}
