//! STS `GetCallerIdentity` at the EC2 API's URL, signed by hand (the STS SDK is not
//! a dependency): STS's documents, its error shape, identities per key, regions.

use super::*;
use crate::sts::SimIdentity;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const GET_CALLER_IDENTITY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

fn sts_in(region: &str) -> Signer<'_> {
    Signer::new("sts", region)
}

/// The text of the first `<name>` element of `document`.
fn element<'a>(document: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = document.find(&open).expect(name) + open.len();
    let end = start + document[start..].find('<').unwrap();
    &document[start..end]
}

#[tokio::test]
async fn get_caller_identity_reports_sim_user_in_sts_shape() {
    let sim = start_demo();
    let (status, head, body) =
        signed_post(&sim, &sts_in("us-east-1"), &[FORM], GET_CALLER_IDENTITY).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        ),
        "{body}"
    );
    assert_eq!(
        element(&body, "Arn"),
        "arn:aws:iam::123456789012:user/sim-user"
    );
    assert_eq!(element(&body, "Account"), "123456789012");
    let user_id = element(&body, "UserId");
    assert!(
        user_id.starts_with("AIDA") && user_id.len() == 21,
        "{user_id}"
    );
    let request_id = element(&body, "RequestId");
    assert!(
        head.contains(&format!("x-amzn-requestid: {request_id}")),
        "{head}"
    );
    assert!(body.contains("</GetCallerIdentityResult>\n  <ResponseMetadata>"));
    assert_eq!((sim.sts().calls(), sim.calls_total()), (1, 0));
}

#[tokio::test]
async fn a_test_sets_the_identity_per_access_key() {
    let sim = start_demo();
    let role = SimIdentity::assumed_role("123456789012", "ops", "alice");
    sim.sts().set_identity(ACCESS_KEY, role.clone());
    let (_, _, body) = signed_post(&sim, &sts_in("us-east-1"), &[FORM], GET_CALLER_IDENTITY).await;
    assert_eq!(
        element(&body, "Arn"),
        "arn:aws:sts::123456789012:assumed-role/ops/alice"
    );
    assert_eq!(element(&body, "UserId"), role.user_id);
    assert!(role.user_id.starts_with("AROA") && role.user_id.ends_with(":alice"));
}

#[tokio::test]
async fn bad_signatures_get_the_sts_error_shape() {
    let sim = start_demo();
    let wrong = Signer {
        secret: "not-the-secret",
        ..sts_in("us-east-1")
    };
    let (status, _, body) = signed_post(&sim, &wrong, &[FORM], GET_CALLER_IDENTITY).await;
    assert_eq!(status, 403);
    assert!(
        body.starts_with(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    \
             <Type>Sender</Type>\n    <Code>SignatureDoesNotMatch</Code>\n    <Message>The request signature"
        ),
        "{body}"
    );
    assert!(body.contains("</Error>\n  <RequestId>"), "{body}");
    let nowhere = sts_in("ap-south-1");
    let (status, _, body) = signed_post(&sim, &nowhere, &[FORM], GET_CALLER_IDENTITY).await;
    assert_eq!(
        (status, element(&body, "Code")),
        (403, "SignatureDoesNotMatch")
    );
    let message = element(&body, "Message");
    assert!(message.contains("not &apos;ap-south-1&apos;"), "{body}");
    assert_eq!(sim.sts().calls(), 0);
}

#[tokio::test]
async fn sts_answers_in_every_served_region_and_the_global_one() {
    let credentials = HashMap::from([(ACCESS_KEY.to_owned(), SimCredential::new(SECRET))]);
    let config = Ec2SimConfig {
        credentials,
        ..Ec2SimConfig::default()
    };
    let sim = Ec2Sim::start(Arc::new(World::demo_eu()), config).unwrap();
    for region in ["eu-west-1", "us-east-1"] {
        let (status, _, body) =
            signed_post(&sim, &sts_in(region), &[FORM], GET_CALLER_IDENTITY).await;
        assert_eq!(status, 200, "{region}: {body}");
    }
    let (status, _, body) = signed_post(
        &sim,
        &sts_in("eu-west-1"),
        &[FORM],
        "Action=AssumeRole&Version=2011-06-15",
    )
    .await;
    assert_eq!((status, element(&body, "Code")), (400, "InvalidAction"));
    assert_eq!(sim.sts().calls(), 3);
}
