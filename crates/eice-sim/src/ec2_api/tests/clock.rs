//! The simulator's clock set apart from the client's: a signature more than
//! five minutes from it is refused as each service refuses it (EC2's
//! `AuthFailure`, STS's `SignatureDoesNotMatch`, EC2 Instance Connect's
//! `InvalidSignatureException`), every answer's `Date` tells the simulated
//! time, and an expired session token is EC2's `RequestExpired`.

use std::time::SystemTime;

use super::*;
use crate::sigv4::format_http_date;

const TEN_MINUTES: Duration = Duration::from_secs(600);

const DESCRIBE_VPCS: &str = "Action=DescribeVpcs&Version=2016-11-15";

/// The `Date` of a response head (names in lower case).
fn date(head: &str) -> &str {
    head.lines()
        .find_map(|line| line.strip_prefix("date: "))
        .unwrap_or_else(|| panic!("no Date: {head}"))
}

/// Whether `date` is the simulated clock's time, give or take the second
/// that passed while the answer was on its way.
fn is_sim_time(sim: &Ec2Sim, date: &str) -> bool {
    let now = sim.clock().now();
    [now, now - Duration::from_secs(1)]
        .iter()
        .any(|t| format_http_date(*t) == date)
}

/// The text of the first `name` element of an XML document.
fn element<'a>(document: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = document.find(&open).map(|i| i + open.len()).unwrap();
    let end = document[start..].find('<').unwrap();
    &document[start..start + end]
}

#[tokio::test]
async fn a_signature_ten_minutes_off_either_way_is_an_auth_failure_dated_by_the_sim() {
    let sim = start_demo();
    for ahead in [true, false] {
        if ahead {
            sim.clock().advance(TEN_MINUTES);
        } else {
            sim.clock().rewind(TEN_MINUTES * 2);
        }
        let signer = Signer::new("ec2", "us-east-1");
        let (status, head, body) = signed_post(&sim, &signer, &[FORM], DESCRIBE_VPCS).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(element(&body, "Code"), "AuthFailure");
        assert_eq!(
            element(&body, "Message"),
            "AWS was not able to validate the provided access credentials"
        );
        assert!(is_sim_time(&sim, date(head.as_str())), "{head}");
        let real = format_http_date(SystemTime::now());
        assert_ne!(date(&head), real, "the sim's time, not the real one");
    }
    assert_eq!(sim.calls_total(), 0);
}

#[tokio::test]
async fn four_minutes_off_is_still_accepted_and_dated() {
    let sim = start_demo();
    sim.clock().rewind(Duration::from_secs(240));
    let signer = Signer::new("ec2", "us-east-1");
    let (status, head, body) = signed_post(&sim, &signer, &[FORM], DESCRIBE_VPCS).await;
    assert_eq!(status, 200, "{body}");
    assert!(is_sim_time(&sim, date(&head)), "{head}");
}

#[tokio::test]
async fn an_expired_session_token_is_request_expired() {
    let credentials = HashMap::from([(
        ACCESS_KEY.to_owned(),
        SimCredential::with_session_token(SECRET, "token")
            .expiring_at(SystemTime::now() + Duration::from_secs(3600)),
    )]);
    let config = Ec2SimConfig {
        credentials,
        ..Ec2SimConfig::default()
    };
    let sim = Ec2Sim::start(Arc::new(World::demo()), config).unwrap();
    let signer = Signer {
        session_token: Some("token"),
        ..Signer::new("ec2", "us-east-1")
    };
    let (status, _, body) = signed_post(&sim, &signer, &[FORM], DESCRIBE_VPCS).await;
    assert_eq!(status, 200, "valid for an hour: {body}");
    // An hour later by the simulated clock, signed at that time too.
    sim.clock().advance(Duration::from_secs(3600));
    let (status, _, body) =
        signed_post_at(&sim, &signer, &[FORM], DESCRIBE_VPCS, sim.clock().now()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(element(&body, "Code"), "RequestExpired");
    assert_eq!(element(&body, "Message"), "Request has expired.");
}

#[tokio::test]
async fn sts_and_instance_connect_refuse_a_skewed_signature_as_their_sdks_expect() {
    let sim = start_demo();
    sim.clock().advance(TEN_MINUTES);
    let sts = Signer::new("sts", "us-east-1");
    let form = "Action=GetCallerIdentity&Version=2011-06-15";
    let (status, head, body) = signed_post(&sim, &sts, &[FORM], form).await;
    assert_eq!(
        (status, element(&body, "Code")),
        (403, "SignatureDoesNotMatch")
    );
    assert!(is_sim_time(&sim, date(&head)), "{head}");

    let keys = Signer::new("ec2-instance-connect", "us-east-1");
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        (
            "x-amz-target",
            "AWSEC2InstanceConnectService.SendSSHPublicKey",
        ),
    ];
    let (status, head, body) = signed_post(&sim, &keys, &headers, "{}").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        head.contains("x-amzn-errortype: InvalidSignatureException"),
        "{head}"
    );
    assert!(is_sim_time(&sim, date(&head)), "{head}");
}
