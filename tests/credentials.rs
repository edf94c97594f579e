//! Credentials AWS refuses, with the real binary against the simulated
//! account: an unknown key is named with where it came from, never sent to
//! fix an IAM policy; and a session token that expired under a running
//! `serve` is dropped and fetched again, with no restart.

mod common;

use std::collections::HashMap;

use common::clients::{CONNECT, Dest, SocksFailure, reaches, socks5};
#[cfg(unix)]
use common::credential_process::{CredentialProcess, process_key_id};
use common::{PATIENCE, aws_command, run};
use eice_sim::account::SimAws;
use eice_sim::world::World;
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";

/// Asserts that `text` names the refused key and its source, and sends
/// nobody to an IAM policy.
fn names_the_credentials_not_iam(text: &str, key: &str, source: &str) {
    assert!(
        text.contains(&format!("access key {key} from {source}")),
        "{text}"
    );
    for iam in ["IAM", "permission", "polic"] {
        assert!(!text.contains(iam), "{iam:?} in: {text}");
    }
}

#[tokio::test]
async fn an_unknown_key_from_the_environment_is_named_with_its_source() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let (mut cmd, _dir) = aws_command(&aws, &["resolve", "web-1"]);
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN000000001");
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success());
    assert!(stderr.contains("(AuthFailure)"), "{stderr}");
    names_the_credentials_not_iam(
        &stderr,
        "AKIDUNKNOWN000000001",
        "the environment (AWS_ACCESS_KEY_ID)",
    );
    assert!(!stderr.contains("clock"), "the clock is right: {stderr}");
}

/// The SOCKS5 reply code of a refused CONNECT to `web-1:22`.
async fn socks_refusal(proxy: &common::Proxy) -> u8 {
    let result = timeout(
        PATIENCE,
        socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT),
    )
    .await
    .unwrap();
    match result {
        Ok(_) => panic!("expected a refusal"),
        Err(SocksFailure::Reply(code)) => code,
        Err(other) => panic!("expected a reply code, got {other:?}"),
    }
}

#[cfg(unix)]
#[tokio::test]
async fn an_unknown_key_from_a_credential_process_is_named_with_its_profile() {
    let process = CredentialProcess::new(3600);
    let proxy = process.start_proxy_knowing(HashMap::new()).await;
    assert_eq!(socks_refusal(&proxy).await, 0x02);
    let line = proxy.log_line("(AuthFailure)").await;
    names_the_credentials_not_iam(
        &line,
        &process_key_id(process.calls()),
        "the credential_process of profile sim",
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_credential_process_whose_first_token_expired_is_asked_again_without_a_restart() {
    // Its answers name no expiry, and the first token has already expired
    // at AWS: only AWS's RequestExpired says so.
    let process = CredentialProcess::without_expiration();
    let proxy = process
        .start_proxy_knowing(CredentialProcess::keys_with_expired(1))
        .await;
    assert_eq!(socks_refusal(&proxy).await, 0x02);
    let line = proxy.log_line("(RequestExpired)").await;
    assert!(line.contains("has expired"), "{line}");
    names_the_credentials_not_iam(
        &line,
        &process_key_id(1),
        "the credential_process of profile sim",
    );
    assert_eq!(process.calls(), 1);

    // The next connection gets fresh credentials from the same process.
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    assert_eq!(process.calls(), 2, "the expired token was dropped");
    assert_eq!(proxy.aws.eice.stats().access_keys, [process_key_id(2)]);
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    assert_eq!(process.calls(), 2, "good credentials are kept");
}
