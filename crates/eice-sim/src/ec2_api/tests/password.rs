//! `GetPasswordData`: a Windows instance's password as its launch key
//! decrypts it, an empty one while Windows generates it, EC2's errors for
//! bad ids, and the IAM denial a test arms.

use super::*;
use crate::ec2_api::{Action, Fault};
use crate::world::windows::{WIN_1, WIN_NEW};

const ACTION: &str = "GetPasswordData";

fn for_instance(id: &str) -> Call {
    Call::new(ACTION).param("InstanceId", id)
}

#[tokio::test]
async fn a_windows_instance_answers_its_encrypted_password_and_a_new_one_an_empty_one() {
    let sim = start_demo();
    let reply = client(&sim).ok(for_instance(WIN_1)).await;
    assert_eq!(reply.text("instanceId"), WIN_1);
    let data = reply.text("passwordData");
    // 2048-bit RSA: 256 bytes of ciphertext, 344 characters of base64.
    assert_eq!(data.len(), 344, "{data}");
    let reply = client(&sim).ok(for_instance(WIN_NEW)).await;
    assert_eq!(reply.text_opt("passwordData").unwrap_or_default(), "");
    // Linux too: EC2 answers, with nothing.
    let reply = client(&sim).ok(for_instance("i-0a1b2c3d4e5f60001")).await;
    assert_eq!(reply.text_opt("passwordData").unwrap_or_default(), "");
}

#[tokio::test]
async fn an_unknown_or_malformed_id_and_a_denial_are_ec2_s_errors() {
    let sim = start_demo();
    let reply = client(&sim).call(for_instance("i-0ffffffffffffffff")).await;
    assert_eq!(reply.error().0, "InvalidInstanceID.NotFound");
    let reply = client(&sim).call(for_instance("win-1")).await;
    assert_eq!(reply.error().0, "InvalidInstanceID.Malformed");
    sim.fail_always(Action::GetPasswordData, Fault::AccessDenied);
    let reply = client(&sim).call(for_instance(WIN_1)).await;
    let (code, message, status) = reply.error();
    assert_eq!((code.as_str(), status), ("UnauthorizedOperation", 403));
    assert!(message.contains("ec2:GetPasswordData"), "{message}");
    assert_eq!(sim.calls(Action::GetPasswordData), 3);
}

#[tokio::test]
async fn describe_instances_names_the_platform_and_the_launch_key() {
    let sim = start_demo();
    let reply = client(&sim)
        .ok(Call::new("DescribeInstances").list("InstanceId", &[WIN_1]))
        .await;
    let item = "reservationSet/item/instancesSet/item";
    assert_eq!(reply.text(&format!("{item}/platform")), "windows");
    assert_eq!(reply.text(&format!("{item}/platformDetails")), "Windows");
    assert_eq!(reply.text(&format!("{item}/keyName")), "eice-sim-windows");
}
