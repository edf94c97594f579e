//! Injected faults as the SDK sees them, including its standard retry.

use super::*;
use crate::ec2_api::{Action, Fault};

#[tokio::test]
async fn access_denied_names_the_action_and_then_clears() {
    let sim = start_demo();
    let client = client(&sim);
    sim.fail_next(Action::DescribeInstances, Fault::AccessDenied, 1);
    let err = client.describe_instances().send().await.unwrap_err();
    let (code, message, status) = failure(err);
    assert_eq!(code, "UnauthorizedOperation");
    assert_eq!(status, 403);
    assert_eq!(
        message,
        "You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/test \
         is not authorized to perform: ec2:DescribeInstances because no identity-based policy \
         allows the ec2:DescribeInstances action"
    );
    // A denial is not retryable: one call, and the next one works.
    assert_eq!(sim.calls(Action::DescribeInstances), 1);
    client.describe_instances().send().await.unwrap();
    assert_eq!(sim.calls(Action::DescribeInstances), 2);
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk() {
    let sim = start_demo();
    sim.fail_next(
        Action::DescribeInstanceConnectEndpoints,
        Fault::RequestLimitExceeded,
        1,
    );
    let output = client(&sim)
        .describe_instance_connect_endpoints()
        .send()
        .await
        .unwrap();
    assert_eq!(output.instance_connect_endpoints().len(), 3);
    assert_eq!(sim.calls(Action::DescribeInstanceConnectEndpoints), 2);
}

#[tokio::test]
async fn a_standing_outage_exhausts_the_retries_until_cleared() {
    let sim = start_demo();
    let client = client(&sim);
    sim.fail_always(Action::DescribeVpcs, Fault::Unavailable);
    let err = client.describe_vpcs().send().await.unwrap_err();
    let (code, _, status) = failure(err);
    assert_eq!((code.as_str(), status), ("Unavailable", 503));
    assert_eq!(
        sim.calls(Action::DescribeVpcs),
        3,
        "three attempts, all failed"
    );
    // Other actions are unaffected.
    client.describe_subnets().send().await.unwrap();
    sim.clear_faults();
    client.describe_vpcs().send().await.unwrap();
    assert_eq!(sim.calls(Action::DescribeVpcs), 4);
    assert_eq!(sim.calls_total(), 5);
}

#[tokio::test]
async fn throttling_that_persists_surfaces_its_code() {
    let sim = start_demo();
    sim.fail_next(Action::DescribeSubnets, Fault::RequestLimitExceeded, 3);
    let err = client(&sim).describe_subnets().send().await.unwrap_err();
    let (code, message, status) = failure(err);
    assert_eq!(
        (code.as_str(), message.as_str(), status),
        ("RequestLimitExceeded", "Request limit exceeded.", 503)
    );
    assert_eq!(sim.calls(Action::DescribeSubnets), 3);
}
