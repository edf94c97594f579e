//! SigV4 verification of EC2 calls: what a wrong secret, an unknown key, the wrong
//! region or no signature at all earns, and that temporary credentials work.

use super::*;
use crate::ec2_api::Action;

/// A client whose requests are signed by `signer` instead of the accepted key.
fn signed_by<'s>(sim: &'s Ec2Sim, signer: Signer<'s>) -> Client<'s> {
    Client { sim, signer }
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_not_counted() {
    let sim = start_demo();
    let wrong = Signer {
        secret: "not-the-secret",
        ..Signer::new("ec2", "us-east-1")
    };
    let reply = signed_by(&sim, wrong)
        .call(Call::new("DescribeInstances"))
        .await;
    let (code, message, status) = reply.error();
    assert_eq!(code, "SignatureDoesNotMatch");
    assert!(
        message.starts_with("The request signature we calculated"),
        "{message}"
    );
    assert_eq!(status, 403);
    assert_eq!(sim.calls_total(), 0);
}

#[tokio::test]
async fn an_unknown_access_key_is_an_auth_failure() {
    let sim = start_demo();
    let stranger = Signer {
        access_key: "AKIAUNKNOWNKEY000000",
        ..Signer::new("ec2", "us-east-1")
    };
    let reply = signed_by(&sim, stranger)
        .call(Call::new("DescribeVpcs"))
        .await;
    let (code, message, status) = reply.error();
    assert_eq!(code, "AuthFailure");
    assert_eq!(
        message,
        "AWS was not able to validate the provided access credentials"
    );
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_signature_for_another_region_is_refused_naming_both() {
    let sim = start_demo();
    let reply = client_in(&sim, "eu-west-1")
        .call(Call::new("DescribeVpcs"))
        .await;
    let (code, message, status) = reply.error();
    assert_eq!((code.as_str(), status), ("AuthFailure", 401));
    assert!(
        message.contains("'eu-west-1'") && message.contains("'us-east-1'"),
        "{message}"
    );
}

#[tokio::test]
async fn temporary_credentials_need_their_session_token() {
    let credentials = HashMap::from([(
        ACCESS_KEY.to_owned(),
        SimCredential::with_session_token(SECRET, "session-token"),
    )]);
    let config = Ec2SimConfig {
        credentials,
        ..Ec2SimConfig::default()
    };
    let sim = Ec2Sim::start(Arc::new(World::demo()), config).unwrap();
    let with_token = Signer {
        session_token: Some("session-token"),
        ..Signer::new("ec2", "us-east-1")
    };
    signed_by(&sim, with_token)
        .ok(Call::new("DescribeSubnets"))
        .await;
    let wrong_token = Signer {
        session_token: Some("another-token"),
        ..with_token
    };
    for signer in [wrong_token, Signer::new("ec2", "us-east-1")] {
        let reply = signed_by(&sim, signer)
            .call(Call::new("DescribeSubnets"))
            .await;
        assert_eq!(reply.error().0, "AuthFailure", "{signer:?}");
    }
    assert_eq!(sim.calls(Action::DescribeSubnets), 1);
}

#[tokio::test]
async fn an_unsigned_request_gets_an_ec2_error_document() {
    let sim = start_demo();
    let (status, head, body) = raw_post(&sim, "Action=DescribeInstances&Version=2016-11-15").await;
    assert_eq!(status, 401);
    assert!(head.contains("x-amzn-requestid: "), "{head}");
    assert!(
        body.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
             <Code>MissingAuthenticationToken</Code>"
        ),
        "{body}"
    );
    assert!(body.contains("</Errors><RequestID>"), "{body}");
    assert_eq!(sim.calls_total(), 0);
}

#[tokio::test]
async fn an_invalid_world_is_refused_at_start() {
    let mut world = World::demo();
    world.instances[0].subnet = "subnet-0000000000000beef".into();
    let err = Ec2Sim::start(Arc::new(world), Ec2SimConfig::default()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("i-0a1b2c3d4e5f60001"), "{err}");
}
