//! EC2 Instance Connect `SendSSHPublicKey` at the EC2 API's URL, signed by hand (its
//! SDK is not a dependency): success, every exception, regions, and the key listing
//! sshd reads.

use serde_json::{Value, json};

use super::*;
use crate::keys::tests::ed25519_line;
use crate::keys::{KEY_LIFETIME, KeyFault};

const WEB_1: &str = "i-0a1b2c3d4e5f60001";

/// Pushes a key with `request` as the body, signed for `region` with `secret`.
/// Returns the status, `x-amzn-ErrorType` (if any) and the JSON body.
async fn send(
    sim: &Ec2Sim,
    region: &str,
    secret: &str,
    request: &Value,
) -> (u16, Option<String>, Value) {
    let signer = Signer {
        secret,
        ..Signer::new("ec2-instance-connect", region)
    };
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        (
            "x-amz-target",
            "AWSEC2InstanceConnectService.SendSSHPublicKey",
        ),
    ];
    let (status, head, body) = signed_post(sim, &signer, &headers, &request.to_string()).await;
    assert!(
        head.contains("content-type: application/x-amz-json-1.1"),
        "{head}"
    );
    let error_type = head
        .lines()
        .find_map(|line| line.strip_prefix("x-amzn-errortype: "))
        .map(str::to_owned);
    (status, error_type, serde_json::from_str(&body).unwrap())
}

fn push_request(instance: &str, user: &str, key: &str) -> Value {
    json!({"InstanceId": instance, "InstanceOSUser": user, "SSHPublicKey": key})
}

/// `GET /sim/authorized-keys/{instance}/{user}`: status and body.
async fn authorized_keys(sim: &Ec2Sim, instance: &str, user: &str) -> (u16, String) {
    let request = format!(
        "GET /sim/authorized-keys/{instance}/{user} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        sim.local_addr()
    );
    let (status, _, body) = send_raw(sim, &request).await;
    (status, body)
}

#[tokio::test]
async fn a_pushed_key_is_served_to_sshd_until_60_seconds_pass() {
    let sim = start_demo();
    let key = ed25519_line(1);
    let request = json!({
        "InstanceId": WEB_1,
        "InstanceOSUser": "ec2-user",
        "SSHPublicKey": key,
        "AvailabilityZone": "us-east-1a",
    });
    let (status, error, body) = send(&sim, "us-east-1", SECRET, &request).await;
    assert_eq!((status, error), (200, None), "{body}");
    assert_eq!(body["Success"], true);
    assert_eq!(body["RequestId"].as_str().unwrap().len(), 36);
    assert_eq!(
        authorized_keys(&sim, WEB_1, "ec2-user").await,
        (200, format!("{key}\n"))
    );
    assert_eq!(
        authorized_keys(&sim, WEB_1, "root").await,
        (200, String::new())
    );
    sim.keys()
        .clock()
        .advance(KEY_LIFETIME - Duration::from_secs(1));
    assert_eq!(
        sim.keys().valid_keys(WEB_1, "ec2-user"),
        std::slice::from_ref(&key)
    );
    sim.keys().clock().advance(Duration::from_secs(1));
    assert_eq!(
        authorized_keys(&sim, WEB_1, "ec2-user").await,
        (200, String::new())
    );
    assert_eq!(sim.keys().calls(), 1);
    let (status, body) = authorized_keys(&sim, "i-0123456789abcdef9", "ec2-user").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn with_os_users_allowed_a_push_for_root_is_refused_and_theirs_accepted() {
    let sim = start_demo();
    sim.keys().allow_only_os_users(["eice-demo-0a1b"]);
    let key = ed25519_line(3);
    let (status, error, body) = send(
        &sim,
        "us-east-1",
        SECRET,
        &push_request(WEB_1, "root", &key),
    )
    .await;
    assert_eq!((status, error.as_deref()), (400, Some("AuthException")));
    let message = body["Message"].as_str().unwrap();
    assert!(message.contains("with ec2:osuser 'root'"), "{message}");
    assert_eq!(
        authorized_keys(&sim, WEB_1, "root").await,
        (200, String::new())
    );
    // A fault-clearing test step does not lift the policy.
    sim.keys().clear_faults();
    let (status, ..) = send(
        &sim,
        "us-east-1",
        SECRET,
        &push_request(WEB_1, "ec2-user", &key),
    )
    .await;
    assert_eq!(status, 400);
    let (status, error, body) = send(
        &sim,
        "us-east-1",
        SECRET,
        &push_request(WEB_1, "eice-demo-0a1b", &key),
    )
    .await;
    assert_eq!((status, error), (200, None), "{body}");
    assert_eq!(
        authorized_keys(&sim, WEB_1, "eice-demo-0a1b").await,
        (200, format!("{key}\n"))
    );
}

#[tokio::test]
async fn each_refusal_has_the_services_exception() {
    let sim = start_demo();
    sim.keys().deny(WEB_1, "root");
    let sk = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t test";
    let cases = [
        (
            push_request(WEB_1, "root", &ed25519_line(1)),
            "AuthException",
            400,
        ),
        (
            push_request("i-0123456789abcdef9", "ec2-user", &ed25519_line(1)),
            "EC2InstanceNotFoundException",
            400,
        ),
        (
            push_request("i-0a1b2c3d4e5f60003", "ec2-user", &ed25519_line(1)),
            "EC2InstanceStateInvalidException",
            400,
        ),
        (
            push_request(WEB_1, "ec2-user", sk),
            "InvalidArgsException",
            400,
        ),
        (
            push_request(WEB_1, "ec2-user", "ssh-ed25519 !!"),
            "InvalidArgsException",
            400,
        ),
        (
            json!({"InstanceId": WEB_1, "InstanceOSUser": "ec2-user",
                   "SSHPublicKey": ed25519_line(1), "AvailabilityZone": "us-east-1b"}),
            "InvalidArgsException",
            400,
        ),
        (
            json!({"InstanceId": WEB_1, "SSHPublicKey": ed25519_line(1)}),
            "ValidationException",
            400,
        ),
        (
            push_request(WEB_1, "bad user", &ed25519_line(1)),
            "ValidationException",
            400,
        ),
    ];
    let mut messages = Vec::new();
    for (request, expected, expected_status) in &cases {
        let (status, error, body) = send(&sim, "us-east-1", SECRET, request).await;
        assert_eq!(
            (status, error.as_deref(), body["__type"].as_str()),
            (*expected_status, Some(*expected), Some(*expected)),
            "{request}: {body}"
        );
        messages.push(body["Message"].as_str().unwrap().to_owned());
    }
    assert!(
        messages[0].contains("user/sim-user is not authorized"),
        "{}",
        messages[0]
    );
    assert!(messages[0].contains("ec2:osuser 'root'"), "{}", messages[0]);
    assert!(messages[2].contains("'stopped'"), "{}", messages[2]);
    assert!(messages[5].contains("us-east-1a"), "{}", messages[5]);
    assert!(sim.keys().valid_keys(WEB_1, "ec2-user").is_empty());
    sim.keys().clear_faults();
    let (status, _, _) = send(&sim, "us-east-1", SECRET, &cases[0].0).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_signatures_are_auth_exceptions_and_not_counted() {
    let sim = start_demo();
    let request = push_request(WEB_1, "ec2-user", &ed25519_line(1));
    let (status, error, body) = send(&sim, "us-east-1", "not-the-secret", &request).await;
    assert_eq!((status, error.as_deref()), (400, Some("AuthException")));
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .starts_with("The request signature we calculated"),
        "{body}"
    );
    let unsigned = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Target: AWSEC2InstanceConnectService.SendSSHPublicKey\r\n\
         Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
        sim.local_addr()
    );
    let (status, head, body) = send_raw(&sim, &unsigned).await;
    assert_eq!(status, 400);
    assert!(head.contains("x-amzn-errortype: AuthException"), "{head}");
    assert!(body.contains("Missing Authentication Token"), "{body}");
    assert_eq!(sim.keys().calls(), 0);
}

#[tokio::test]
async fn throttling_and_unavailability_fail_the_next_calls_only() {
    let sim = start_demo();
    sim.keys().fail_next(KeyFault::Throttling, 2);
    sim.keys().fail_next(KeyFault::InstanceUnavailable, 1);
    let request = push_request(WEB_1, "ec2-user", &ed25519_line(1));
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (status, error, _) = send(&sim, "us-east-1", SECRET, &request).await;
        seen.push((status, error));
    }
    let throttled = (400, Some("ThrottlingException".to_owned()));
    let unavailable = (503, Some("EC2InstanceUnavailableException".to_owned()));
    assert_eq!(
        seen,
        [throttled.clone(), throttled, unavailable, (200, None)]
    );
    assert_eq!(sim.keys().calls(), 4);
}

#[tokio::test]
async fn the_signatures_region_picks_the_instances_world() {
    let credentials = HashMap::from([(ACCESS_KEY.to_owned(), SimCredential::new(SECRET))]);
    let config = Ec2SimConfig {
        credentials,
        ..Ec2SimConfig::default()
    };
    let worlds = vec![Arc::new(World::demo()), Arc::new(World::demo_eu())];
    let sim = Ec2Sim::start_many(worlds, config).unwrap();
    let eu_web = "i-0e1a2b3c4d5e60001";
    let request = push_request(eu_web, "ec2-user", &ed25519_line(1));
    let (status, error, body) = send(&sim, "us-east-1", SECRET, &request).await;
    assert_eq!(
        (status, error.as_deref()),
        (400, Some("EC2InstanceNotFoundException"))
    );
    assert!(body["Message"].as_str().unwrap().contains("us-east-1"));
    let (status, _, _) = send(&sim, "eu-west-1", SECRET, &request).await;
    assert_eq!(status, 200);
    assert_eq!(sim.keys().valid_keys(eu_web, "ec2-user"), [ed25519_line(1)]);
}
