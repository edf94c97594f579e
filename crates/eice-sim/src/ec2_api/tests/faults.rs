//! Injected faults as a client sees them: each call that an armed fault fails gets
//! EC2's status, code and message, and the calls after it work again. Retrying is a
//! client's business; the simulator only promises which calls fail.

use super::*;
use crate::ec2_api::{Action, Fault};

#[tokio::test]
async fn access_denied_names_the_action_and_then_clears() {
    let sim = start_demo();
    let client = client(&sim);
    sim.fail_next(Action::DescribeInstances, Fault::AccessDenied, 1);
    let reply = client.call(Call::new("DescribeInstances")).await;
    let (code, message, status) = reply.error();
    assert_eq!(code, "UnauthorizedOperation");
    assert_eq!(status, 403);
    assert_eq!(
        message,
        "You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/test \
         is not authorized to perform: ec2:DescribeInstances because no identity-based policy \
         allows the ec2:DescribeInstances action"
    );
    assert_eq!(sim.calls(Action::DescribeInstances), 1);
    let reply = client.ok(Call::new("DescribeInstances")).await;
    assert!(!reply.texts("reservationSet/item").is_empty());
    assert_eq!(sim.calls(Action::DescribeInstances), 2);
}

#[tokio::test]
async fn throttling_fails_the_armed_call_and_the_next_one_succeeds() {
    let sim = start_demo();
    let client = client(&sim);
    let action = Action::DescribeInstanceConnectEndpoints;
    sim.fail_next(action, Fault::RequestLimitExceeded, 1);
    let reply = client.call(Call::new(action.as_str())).await;
    let (code, _, status) = reply.error();
    assert_eq!((code.as_str(), status), ("RequestLimitExceeded", 503));
    let reply = client.ok(Call::new(action.as_str())).await;
    let ids = reply.texts("instanceConnectEndpointSet/item/instanceConnectEndpointId");
    assert_eq!(ids.len(), 3);
    assert_eq!(sim.calls(action), 2);
}

#[tokio::test]
async fn a_standing_outage_fails_every_call_until_cleared() {
    let sim = start_demo();
    let client = client(&sim);
    sim.fail_always(Action::DescribeVpcs, Fault::Unavailable);
    for _ in 0..3 {
        let (code, message, status) = client.call(Call::new("DescribeVpcs")).await.error();
        assert_eq!((code.as_str(), status), ("Unavailable", 503));
        assert_eq!(
            message,
            "The service is unavailable. Please try again shortly."
        );
    }
    assert_eq!(sim.calls(Action::DescribeVpcs), 3);
    // Other actions are unaffected.
    client.ok(Call::new("DescribeSubnets")).await;
    sim.clear_faults();
    let reply = client.ok(Call::new("DescribeVpcs")).await;
    assert_eq!(reply.texts("vpcSet/item/vpcId").len(), 2);
    assert_eq!(sim.calls(Action::DescribeVpcs), 4);
    assert_eq!(sim.calls_total(), 5);
}

#[tokio::test]
async fn throttling_armed_for_three_calls_fails_exactly_three() {
    let sim = start_demo();
    let client = client(&sim);
    sim.fail_next(Action::DescribeSubnets, Fault::RequestLimitExceeded, 3);
    for _ in 0..3 {
        let reply = client.call(Call::new("DescribeSubnets")).await;
        let (code, message, status) = reply.error();
        assert_eq!(
            (code.as_str(), message.as_str(), status),
            ("RequestLimitExceeded", "Request limit exceeded.", 503)
        );
    }
    client.ok(Call::new("DescribeSubnets")).await;
    assert_eq!(sim.calls(Action::DescribeSubnets), 4);
}

#[tokio::test]
async fn describe_instance_connect_endpoints_can_be_denied_alone() {
    let sim = start_demo();
    let client = client(&sim);
    let action = Action::DescribeInstanceConnectEndpoints;
    sim.fail_next(action, Fault::AccessDenied, 1);
    client.ok(Call::new("DescribeInstances")).await;
    let (code, message, status) = client.call(Call::new(action.as_str())).await.error();
    assert_eq!((code.as_str(), status), ("UnauthorizedOperation", 403));
    assert!(
        message.contains("ec2:DescribeInstanceConnectEndpoints"),
        "{message}"
    );
}

#[tokio::test]
async fn a_repeated_token_hands_each_later_page_its_own_token_back() {
    let sim = start(World::demo(), 1);
    let client = client(&sim);
    let action = Action::DescribeVpcs;
    sim.repeat_next_token(action);
    let first = client.ok(Call::new(action.as_str())).await;
    let token = first
        .texts("nextToken")
        .pop()
        .expect("a first page's token");
    let second = client
        .ok(Call::new(action.as_str()).param("NextToken", &token))
        .await;
    // A page of its own (the second VPC), but the same token again.
    assert_ne!(
        first.texts("vpcSet/item/vpcId"),
        second.texts("vpcSet/item/vpcId")
    );
    assert_eq!(second.texts("nextToken"), [token]);
    sim.clear_faults();
    let token = first.texts("nextToken").pop().unwrap();
    let second = client
        .ok(Call::new(action.as_str()).param("NextToken", &token))
        .await;
    assert!(second.texts("nextToken").is_empty(), "the last page");
}
