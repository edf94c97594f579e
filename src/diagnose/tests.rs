//! The hint a refused tunnel carries, from the checks of its path.

use super::*;

fn line(kind: Kind, status: Status, what: &str) -> Check {
    Check {
        kind,
        status,
        what: what.into(),
        detail: "detail".into(),
        fix: (status == Status::Fail).then(|| format!("fix {what}")),
    }
}

#[test]
fn the_first_failing_rule_is_the_hint_with_its_fix() {
    let checks = [
        line(Kind::State, Status::Ok, "instance i-1"),
        line(Kind::EndpointEgress, Status::Unknown, "endpoint groups"),
        line(
            Kind::InstanceIngress,
            Status::Fail,
            "instance groups sg-1 inbound tcp 22",
        ),
        line(Kind::Acl, Status::Fail, "ACL of subnet-1"),
    ];
    let hint = hint(&checks, 22);
    assert!(
        hint.starts_with("blocked by ✗ instance groups sg-1 inbound tcp 22"),
        "{hint}"
    );
    assert!(hint.contains("fix: fix instance groups"), "{hint}");
    assert!(!hint.contains("ACL"), "{hint}");
}

#[test]
fn an_open_path_points_at_the_listener_and_an_undecided_one_says_why() {
    let open = [line(Kind::State, Status::Ok, "instance i-1")];
    assert!(hint(&open, 3389).contains("listening on port 3389"));
    let undecided = [
        line(Kind::State, Status::Ok, "instance i-1"),
        line(Kind::Acl, Status::Unknown, "network ACLs"),
    ];
    let h = hint(&undecided, 22);
    assert!(
        h.starts_with("no rule found blocking it, but network ACLs: detail"),
        "{h}"
    );
}

#[test]
fn a_denied_describe_names_the_permission() {
    let e = AwsError {
        action: "DescribeSecurityGroups",
        code: Some("UnauthorizedOperation".into()),
        message: "You are not authorized".into(),
        request_id: None,
        timed_out: false,
        signer: None,
    };
    assert_eq!(
        not_read(&e),
        "not checked: eice-proxy needs the IAM permission ec2:DescribeSecurityGroups to read it"
    );
}
