//! "Why can't I reach it?": `doctor TARGET` against simulated accounts whose
//! security groups and network ACLs block a path in each way AWS can, each
//! test asserting the ✗ line and the fix it prints; then the same answer on a
//! refused tunnel through `serve` and `connect`.

mod common;

use std::process::Command as StdCommand;

use common::clients::{self, CONNECT, Dest, SocksFailure};
use common::{Proxy, aws_command, run};
use eice_sim::account::SimAws;
use eice_sim::ec2_api::{Action, Fault};
use eice_sim::world::World;

/// A one-VPC account: the endpoint in subnet …e1, the instance in …e2 (so
/// both ACLs lie between them), and knobs for what each test breaks.
struct Scenario {
    endpoint_egress: &'static str,
    instance_ingress: &'static str,
    /// Entries of the instance subnet's ACL.
    acl: &'static str,
    endpoint_state: &'static str,
    family: &'static str,
    preserve_client_ip: bool,
    instance_state: &'static str,
}

const ENDPOINT: &str = "eice-0b1b2c3d4e5f60e01";
const INSTANCE: &str = "i-0b1b2c3d4e5f60e01";
const EICE_SG: &str = "sg-0b1b2c3d4e5f60e51";
const APP_SG: &str = "sg-0b1b2c3d4e5f60e52";
const ACL: &str = "acl-0b1b2c3d4e5f60e61";
const INSTANCE_SUBNET: &str = "subnet-0b1b2c3d4e5f60e12";

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            endpoint_egress: r#"{ protocol = "tcp", from_port = 22, to_port = 22, cidr = "10.1.0.0/16" }"#,
            instance_ingress: r#"{ protocol = "tcp", from_port = 22, to_port = 22, group = "sg-0b1b2c3d4e5f60e51" }"#,
            acl: r#"{ rule_number = 100, egress = false, protocol = "-1", action = "allow", cidr = "0.0.0.0/0" },
                    { rule_number = 100, egress = true, protocol = "-1", action = "allow", cidr = "0.0.0.0/0" }"#,
            endpoint_state: "create-complete",
            family: "ipv4",
            preserve_client_ip: false,
            instance_state: "running",
        }
    }
}

impl Scenario {
    fn world(&self) -> World {
        let toml = format!(
            r#"
region = "us-east-1"

[[vpc]]
id = "vpc-0b1b2c3d4e5f60e00"
cidrs = ["10.1.0.0/16"]
ipv6_cidrs = ["fd00:20::/56"]

[[subnet]]
id = "subnet-0b1b2c3d4e5f60e11"
vpc = "vpc-0b1b2c3d4e5f60e00"
cidr = "10.1.1.0/24"
availability_zone = "us-east-1a"

[[subnet]]
id = "{INSTANCE_SUBNET}"
vpc = "vpc-0b1b2c3d4e5f60e00"
cidr = "10.1.2.0/24"
availability_zone = "us-east-1a"

[[security_group]]
id = "{EICE_SG}"
vpc = "vpc-0b1b2c3d4e5f60e00"
name = "eice"
egress = [ {egress} ]

[[security_group]]
id = "{APP_SG}"
vpc = "vpc-0b1b2c3d4e5f60e00"
name = "app"
ingress = [ {ingress} ]

[[network_acl]]
id = "{ACL}"
vpc = "vpc-0b1b2c3d4e5f60e00"
subnets = ["{INSTANCE_SUBNET}"]
entries = [ {acl} ]

[[endpoint]]
id = "{ENDPOINT}"
subnet = "subnet-0b1b2c3d4e5f60e11"
state = "{endpoint_state}"
ip_address_type = "{family}"
preserve_client_ip = {preserve}
security_groups = ["{EICE_SG}"]

[[instance]]
id = "{INSTANCE}"
subnet = "{INSTANCE_SUBNET}"
private_ip = "10.1.2.10"
ipv6 = "fd00:20::2:10"
state = "{instance_state}"
name = "app-1"
security_groups = ["{APP_SG}"]
"#,
            egress = self.endpoint_egress,
            ingress = self.instance_ingress,
            acl = self.acl,
            endpoint_state = self.endpoint_state,
            family = self.family,
            preserve = self.preserve_client_ip,
            instance_state = self.instance_state,
        );
        World::from_toml(&toml).expect("the scenario's world loads")
    }
}

/// `eice-proxy doctor ARGS…` against `aws`: its exit status and stdout.
async fn doctor(aws: &SimAws, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let mut all = vec!["doctor", "--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let (cmd, _d) = aws_command(aws, &all);
    let (status, stdout, stderr) = run(cmd).await;
    (status.success(), stdout, stderr)
}

/// The one ✗ line of `stdout` that contains `what`, and the fix under it.
fn failure(stdout: &str, what: &str) -> (String, String) {
    let lines: Vec<&str> = stdout.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.trim_start().starts_with('✗') && l.contains(what))
        .unwrap_or_else(|| panic!("no ✗ line with {what:?} in:\n{stdout}"));
    let fix = lines
        .get(i + 1)
        .and_then(|l| l.trim_start().strip_prefix("fix: "))
        .unwrap_or_else(|| panic!("no fix under {:?} in:\n{stdout}", lines[i]));
    (lines[i].trim().to_owned(), fix.to_owned())
}

async fn scenario_doctor(s: Scenario, target: &str) -> (bool, String) {
    let aws = SimAws::start(s.world(), false).await.unwrap();
    let (ok, stdout, stderr) = doctor(&aws, &[target]).await;
    assert!(!stdout.is_empty(), "{stderr}");
    (ok, stdout)
}

#[tokio::test]
async fn a_healthy_path_is_all_ticks_and_exits_zero() {
    let (ok, stdout) = scenario_doctor(Scenario::default(), "app-1").await;
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains(&format!("path        {ENDPOINT} → {INSTANCE} port 22")),
        "{stdout}"
    );
    let marks: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim_start().chars().next())
        .filter(|c| matches!(c, '✓' | '✗' | '?'))
        .map(|c| if c == '✓' { "ok" } else { "not ok" })
        .collect();
    // States, family, both groups, and four ACL crossings.
    assert_eq!(marks, ["ok"; 9], "{stdout}");
}

#[tokio::test]
async fn the_demo_instance_whose_group_lacks_the_port_is_named_with_its_fix() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let (ok, stdout, _) = doctor(&aws, &["locked-1"]).await;
    assert!(!ok, "{stdout}");
    let (line, fix) = failure(
        &stdout,
        "instance groups sg-0a1b2c3d4e5f60053 inbound tcp 22",
    );
    assert!(
        line.ends_with("no rule allows it from the endpoint eice-0a1b2c3d4e5f60021"),
        "{line}"
    );
    assert_eq!(
        fix,
        "aws ec2 authorize-security-group-ingress --region us-east-1 --group-id \
         sg-0a1b2c3d4e5f60053 --protocol tcp --port 22 --source-group sg-0a1b2c3d4e5f60051"
    );
    // The same checks as JSON, for scripts.
    let (ok, json, _) = doctor(&aws, &["--json", "locked-1"]).await;
    assert!(!ok);
    let doc: serde_json::Value = serde_json::from_str(&json).expect("doctor --json prints JSON");
    assert_eq!(doc["failures"], 1);
    let checks = doc["legs"][0]["checks"].as_array().unwrap();
    let failed: Vec<_> = checks.iter().filter(|c| c["status"] == "fail").collect();
    assert_eq!(failed.len(), 1, "{json}");
    assert_eq!(failed[0]["kind"], "instance_ingress");
    assert_eq!(failed[0]["fix"].as_str().unwrap(), fix);
}

#[tokio::test]
async fn the_endpoints_group_without_an_egress_rule() {
    let s = Scenario {
        endpoint_egress: r#"{ protocol = "tcp", from_port = 3389, to_port = 3389, cidr = "10.1.0.0/16" }"#,
        ..Scenario::default()
    };
    let (ok, stdout) = scenario_doctor(s, "app-1").await;
    assert!(!ok);
    let (line, fix) = failure(
        &stdout,
        &format!("endpoint groups {EICE_SG} outbound tcp 22"),
    );
    assert!(
        line.contains(&format!("no rule allows it to {INSTANCE}")),
        "{line}"
    );
    assert_eq!(
        fix,
        format!(
            "aws ec2 authorize-security-group-egress --region us-east-1 --group-id {EICE_SG} \
             --ip-permissions 'IpProtocol=tcp,FromPort=22,ToPort=22,UserIdGroupPairs=[{{GroupId={APP_SG}}}]'"
        )
    );
}

#[tokio::test]
async fn preserve_client_ip_with_a_group_that_admits_only_the_endpoints_group() {
    let s = Scenario {
        preserve_client_ip: true,
        ..Scenario::default()
    };
    let (ok, stdout) = scenario_doctor(s, "app-1").await;
    assert!(!ok);
    let (line, fix) = failure(&stdout, &format!("instance groups {APP_SG} inbound tcp 22"));
    assert!(line.contains("Preserve Client IP is on"), "{line}");
    assert!(
        line.contains("a rule naming the endpoint's group does not match"),
        "{line}"
    );
    assert!(
        fix.starts_with(&format!(
            "aws ec2 authorize-security-group-ingress --region us-east-1 --group-id {APP_SG} \
             --protocol tcp --port 22 --cidr YOUR.PUBLIC.IP/32"
        )),
        "{fix}"
    );
}

#[tokio::test]
async fn an_acl_that_denies_the_port_in() {
    let s = Scenario {
        acl: r#"{ rule_number = 90, egress = false, protocol = "tcp", from_port = 22, to_port = 22, action = "deny", cidr = "0.0.0.0/0" },
                { rule_number = 100, egress = false, protocol = "-1", action = "allow", cidr = "0.0.0.0/0" },
                { rule_number = 100, egress = true, protocol = "-1", action = "allow", cidr = "0.0.0.0/0" }"#,
        ..Scenario::default()
    };
    let (ok, stdout) = scenario_doctor(s, "app-1").await;
    assert!(!ok);
    let (line, fix) = failure(
        &stdout,
        &format!("ACL of {INSTANCE_SUBNET} in from 10.1.1.0/24 tcp 22"),
    );
    assert!(
        line.ends_with(&format!("{ACL} denies tcp 22 by rule 90")),
        "{line}"
    );
    assert!(
        fix.starts_with(&format!(
            "aws ec2 create-network-acl-entry --region us-east-1 --network-acl-id {ACL} --ingress \
             --rule-number "
        )) && fix.ends_with(
            "--protocol tcp --port-range From=22,To=22 --cidr-block 10.1.1.0/24 --rule-action allow"
        ),
        "{fix}"
    );
}

#[tokio::test]
async fn an_acl_that_denies_the_ephemeral_ports_out() {
    let s = Scenario {
        acl: r#"{ rule_number = 100, egress = false, protocol = "-1", action = "allow", cidr = "0.0.0.0/0" },
                { rule_number = 100, egress = true, protocol = "tcp", from_port = 443, to_port = 443, action = "allow", cidr = "0.0.0.0/0" }"#,
        ..Scenario::default()
    };
    let (ok, stdout) = scenario_doctor(s, "app-1").await;
    assert!(!ok);
    let (line, fix) = failure(
        &stdout,
        &format!("ACL of {INSTANCE_SUBNET} out to 10.1.1.0/24 tcp 1024-65535"),
    );
    assert!(line.contains("by its default rule (*)"), "{line}");
    assert!(
        fix.contains("--egress") && fix.contains("--port-range From=1024,To=65535"),
        "{fix}"
    );
}

#[tokio::test]
async fn a_stopped_instance_is_told_to_start() {
    let s = Scenario {
        instance_state: "stopped",
        ..Scenario::default()
    };
    let (ok, stdout) = scenario_doctor(s, INSTANCE).await;
    assert!(!ok);
    assert!(stdout.contains("route       none: instance"), "{stdout}");
    let (line, fix) = failure(&stdout, &format!("instance {INSTANCE}"));
    assert!(line.ends_with("stopped, not running"), "{line}");
    assert_eq!(
        fix,
        format!("aws ec2 start-instances --region us-east-1 --instance-ids {INSTANCE}")
    );
}

#[tokio::test]
async fn an_endpoint_still_being_created() {
    let s = Scenario {
        endpoint_state: "create-in-progress",
        ..Scenario::default()
    };
    let (ok, stdout) = scenario_doctor(s, "app-1").await;
    assert!(!ok);
    let (line, fix) = failure(&stdout, &format!("endpoint {ENDPOINT}"));
    assert!(
        line.contains("create-in-progress: no tunnel opens until it is create-complete"),
        "{line}"
    );
    assert!(
        fix.ends_with(&format!(
            "aws ec2 describe-instance-connect-endpoints --region us-east-1 \
             --instance-connect-endpoint-ids {ENDPOINT}"
        )),
        "{fix}"
    );
}

#[tokio::test]
async fn an_ipv6_target_behind_an_ipv4_endpoint() {
    let (ok, stdout) = scenario_doctor(Scenario::default(), "[fd00:20::2:10]:22").await;
    assert!(!ok);
    let (line, fix) = failure(&stdout, "address family (fd00:20::2:10)");
    assert!(line.ends_with("an ipv4 endpoint cannot reach it"), "{line}");
    assert_eq!(
        fix,
        "aws ec2 create-instance-connect-endpoint --region us-east-1 --subnet-id \
         subnet-0b1b2c3d4e5f60e11 --ip-address-type dualstack"
    );
}

#[tokio::test]
async fn a_denied_describe_is_a_line_that_names_the_permission() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    aws.ec2
        .fail_always(Action::DescribeSecurityGroups, Fault::AccessDenied);
    let (_, stdout, _) = doctor(&aws, &["locked-1"]).await;
    let needs = "not checked: eice-proxy needs the IAM permission ec2:DescribeSecurityGroups";
    for what in ["endpoint groups", "instance groups"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("? {what}")) && l.contains(needs)),
            "{what}: {stdout}"
        );
    }
    assert!(!stdout.contains('✗'), "{stdout}");
}

#[tokio::test]
async fn a_hop_target_is_checked_as_two_legs() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hop_key");
    let made = StdCommand::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs");
    assert!(made.success());
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[hop]]\nname = \"web\"\ninstance = \"web-1\"\nos_user = \"ec2-user\"\nkey = {:?}\n\
             cidrs = [\"10.0.2.0/24\"]\n\n[[route]]\ncidr = \"10.0.0.0/16\"\n\
             vpc = \"vpc-0a1b2c3d4e5f60001\"\n",
            key.display().to_string()
        ),
    )
    .unwrap();
    let (mut cmd, _d) = aws_command(
        &aws,
        &["doctor", "--config", config.to_str().unwrap(), "db-1:5432"],
    );
    // A hop needs a private home for its learned host keys (never /tmp).
    cmd.env("HOME", dir.path());
    let (status, stdout, stderr) = run(cmd).await;
    assert!(!status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("via hop     web"), "{stdout}");
    assert!(
        stdout.contains("path        eice-0a1b2c3d4e5f60021 → i-0a1b2c3d4e5f60001 port 22"),
        "{stdout}"
    );
    assert!(
        stdout.contains("path        i-0a1b2c3d4e5f60001 → i-0a1b2c3d4e5f60002 port 5432"),
        "{stdout}"
    );
    let (line, fix) = failure(
        &stdout,
        "instance groups sg-0a1b2c3d4e5f60052 inbound tcp 5432",
    );
    assert!(
        line.ends_with("no rule allows it from the hop i-0a1b2c3d4e5f60001"),
        "{line}"
    );
    assert_eq!(
        fix,
        "aws ec2 authorize-security-group-ingress --region us-east-1 --group-id \
         sg-0a1b2c3d4e5f60052 --protocol tcp --port 5432 --source-group sg-0a1b2c3d4e5f60052"
    );
    // The first leg, to the hop's port 22, is open.
    assert_eq!(stdout.matches('✗').count(), 1, "{stdout}");
}

#[tokio::test]
async fn a_refused_tunnel_carries_the_hint_checked_once_a_minute() {
    let proxy = Proxy::start(World::demo(), "").await;
    let hint = "blocked by ✗ instance groups sg-0a1b2c3d4e5f60053 inbound tcp 22";

    let refused = clients::socks5(proxy.addr, Dest::Domain("locked-1"), 22, None, CONNECT).await;
    assert!(
        matches!(refused, Err(SocksFailure::Reply(0x05))),
        "{refused:?}"
    );
    let line = proxy.log_line("refused").await;
    assert!(
        line.contains("Unable to connect to target") && line.contains(hint),
        "{line}"
    );

    let answer = clients::http_connect(proxy.addr, "locked-1:22", None).await;
    assert_eq!(answer.status, 502, "{}", answer.head);
    assert!(answer.body.contains(hint), "{}", answer.body);
    assert!(
        answer.body.contains("--source-group sg-0a1b2c3d4e5f60051"),
        "{}",
        answer.body
    );
    // Two refusals, one look at the rules.
    assert_eq!(proxy.aws.ec2.calls(Action::DescribeSecurityGroups), 1);
    assert_eq!(proxy.aws.eice.stats().paths_blocked.len(), 2);

    // A reachable instance makes no Describe call of the path checks.
    let ok = clients::socks5(proxy.addr, Dest::Domain("web-1"), 22, None, CONNECT).await;
    assert!(ok.is_ok());
    assert_eq!(proxy.aws.ec2.calls(Action::DescribeSecurityGroups), 1);
}

#[tokio::test]
async fn connect_prints_the_hint_on_stderr_whatever_the_close_code() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    // EICE documents no code for "Unable to connect to target": a close
    // before the instance sent a byte is what says the tunnel did not reach it.
    for code in [1011, 1008, 4000] {
        aws.eice.close_unreachable_with(code);
        let (cmd, _d) = aws_command(&aws, &["connect", "locked-1", "22"]);
        let (status, _, stderr) = run(cmd).await;
        assert!(!status.success());
        assert!(stderr.contains(&format!("with code {code}")), "{stderr}");
        assert!(
            stderr.contains("blocked by ✗ instance groups sg-0a1b2c3d4e5f60053 inbound tcp 22"),
            "{code}: {stderr}"
        );
    }
}
