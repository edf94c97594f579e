//! SigV4 verification of the SDK's requests: what a wrong secret, an unknown key
//! or no signature at all earns, and that temporary credentials work.

use super::*;
use crate::ec2_api::Action;

#[tokio::test]
async fn a_wrong_secret_is_refused_and_not_counted() {
    let sim = start_demo();
    let client = client_with(&sim, "us-east-1", credentials("not-the-secret"));
    let err = client.describe_instances().send().await.unwrap_err();
    let (code, message, status) = failure(err);
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
    let stranger = Credentials::new("AKIAUNKNOWNKEY000000", SECRET, None, None, "test");
    let err = client_with(&sim, "us-east-1", stranger)
        .describe_vpcs()
        .send()
        .await
        .unwrap_err();
    let (code, message, status) = failure(err);
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
    let err = client_with(&sim, "eu-west-1", credentials(SECRET))
        .describe_vpcs()
        .send()
        .await
        .unwrap_err();
    let (code, message, _) = failure(err);
    assert_eq!(code, "AuthFailure");
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
    let with_token = Credentials::new(ACCESS_KEY, SECRET, Some("session-token".into()), None, "t");
    client_with(&sim, "us-east-1", with_token)
        .describe_subnets()
        .send()
        .await
        .unwrap();
    let err = client_with(&sim, "us-east-1", super::credentials(SECRET))
        .describe_subnets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "AuthFailure");
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
