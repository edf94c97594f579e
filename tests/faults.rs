//! `eice-proxy serve` while the simulated AWS misbehaves: EICE refusing the
//! upgrade, cutting a tunnel mid-stream or never answering; the EC2 API
//! throttling or denying; credentials that expire, are refreshed or are
//! rejected. Each case proves three things: the client gets the reply that
//! `src/error.rs` maps the failure to, the proxy's log says why in one line,
//! and the proxy goes on serving — the next connection succeeds.

mod common;

use std::time::Instant;

use common::clients::{CONNECT, Dest, SocksFailure, http_connect, reaches, socks5};
#[cfg(unix)]
use common::credential_process::{CredentialProcess, process_key_id};
use common::{PATIENCE, Proxy};
use eice_sim::account::{self, SimAws};
use eice_sim::ec2_api::{Action, Fault};
use eice_sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const DB_1: &str = "i-0a1b2c3d4e5f60002";
/// The endpoint in web-1's subnet, which its tunnels go through; db-1's go
/// through the other one.
const WEB_1_ENDPOINT: &str = "eice-0a1b2c3d4e5f60021";

/// Waits for the tunnel open no longer than a second, so a hung upgrade is
/// reported quickly.
const OPEN_WITHIN_1S: &str = "[timeouts]\nopen = 1\n";

/// The SOCKS5 reply code of a refused CONNECT to `instance:22`.
async fn socks_refusal(proxy: &Proxy, instance: &str) -> u8 {
    let result = timeout(
        PATIENCE,
        socks5(proxy.addr, Dest::Domain(instance), 22, None, CONNECT),
    )
    .await
    .unwrap();
    match result {
        Ok(_) => panic!("expected {instance} to be refused"),
        Err(SocksFailure::Reply(code)) => code,
        Err(other) => panic!("expected a reply code, got {other:?}"),
    }
}

/// The status and body of an HTTP CONNECT to `instance:22` that must fail.
async fn http_refusal(proxy: &Proxy, instance: &str) -> (u16, String) {
    let answer = timeout(
        PATIENCE,
        http_connect(proxy.addr, &format!("{instance}:22"), None),
    )
    .await
    .unwrap();
    assert_ne!(answer.status, 200, "expected {instance} to be refused");
    (answer.status, answer.body.trim().to_owned())
}

/// The `x-amzn-RequestId` of the last request the simulated EICE answered.
fn last_request_id(proxy: &Proxy) -> String {
    let ids = proxy.aws.eice.stats().request_ids;
    ids.last().expect("EICE answered a request").clone()
}

/// Asserts that `text` contains every one of `needles`.
fn assert_says(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
}

/// One refusal of the upgrade and what the client must be told about it.
struct UpgradeRefusal {
    status: u16,
    code: &'static str,
    message: &'static str,
    socks: u8,
    http: u16,
    /// What the proxy adds for the user, beyond the service's words.
    hint: &'static str,
}

const UPGRADE_REFUSALS: [UpgradeRefusal; 5] = [
    UpgradeRefusal {
        status: 403,
        code: "AccessDeniedException",
        message: "User: arn:aws:iam::123456789012:user/test is not authorized to perform this action",
        socks: 0x02,
        http: 403,
        hint: "the caller needs ec2-instance-connect:OpenTunnel on \
               instance-connect-endpoint/eice-0a1b2c3d4e5f60021",
    },
    UpgradeRefusal {
        status: 404,
        code: "ResourceNotFoundException",
        message: "The requested resource was not found.",
        socks: 0x04,
        http: 404,
        hint: "EICE refused the tunnel (HTTP 404",
    },
    UpgradeRefusal {
        status: 429,
        code: "ThrottlingException",
        message: "Rate exceeded",
        socks: 0x01,
        http: 502,
        hint: "the service is throttling requests: retry shortly",
    },
    UpgradeRefusal {
        status: 500,
        code: "InternalServerException",
        message: "An internal error occurred. Try again.",
        socks: 0x01,
        http: 502,
        hint: "the EICE service had trouble: retry shortly",
    },
    UpgradeRefusal {
        status: 503,
        code: "ServiceUnavailableException",
        message: "The service is unavailable. Try again later.",
        socks: 0x01,
        http: 502,
        hint: "the EICE service had trouble: retry shortly",
    },
];

#[tokio::test]
async fn each_refused_upgrade_gets_its_mapped_reply_and_a_log_line_with_the_request_id() {
    let proxy = Proxy::start(World::demo(), "").await;
    for case in &UPGRADE_REFUSALS {
        let (status, code) = (case.status, case.code);
        let words = [
            &format!("EICE refused the tunnel (HTTP {status} {code})"),
            case.message,
            case.hint,
        ];
        proxy
            .aws
            .eice
            .fail_next_upgrades(2, status, code, case.message);

        assert_eq!(socks_refusal(&proxy, WEB_1).await, case.socks, "{code}");
        let id = last_request_id(&proxy);
        let line = proxy.log_line(&id).await;
        assert_says(&line, &["refused: "]);
        assert_says(&line, &words);

        let (http, body) = http_refusal(&proxy, WEB_1).await;
        assert_eq!(http, case.http, "{code}: {body}");
        let id = last_request_id(&proxy);
        assert_says(&body, &words);
        assert_says(&body, &[&format!("[request id {id}]")]);
        proxy.log_line(&id).await;

        reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    }
    let rejected = proxy.aws.eice.stats().rejected;
    assert_eq!(rejected.len(), 2 * UPGRADE_REFUSALS.len(), "{rejected:?}");
}

#[tokio::test]
async fn refusals_for_one_endpoint_leave_the_others_working() {
    let proxy = Proxy::start(World::demo(), "").await;
    proxy.aws.eice.fail_upgrades_for(
        WEB_1_ENDPOINT,
        503,
        "ServiceUnavailableException",
        "The endpoint is unavailable.",
    );
    assert_eq!(socks_refusal(&proxy, WEB_1).await, 0x01);
    let line = proxy.log_line("The endpoint is unavailable.").await;
    assert_says(&line, &[WEB_1, &last_request_id(&proxy)]);
    // The other endpoint is unaffected, and the refusal stands until cleared.
    reaches(proxy.addr, Dest::Domain(DB_1), 22, DB_1).await;
    let (status, _) = http_refusal(&proxy, WEB_1).await;
    assert_eq!(status, 502);
    proxy.aws.eice.clear_faults();
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
}

#[tokio::test]
async fn a_tunnel_cut_mid_stream_delivers_what_came_before_then_eof_and_logs_code_and_reason() {
    let proxy = Proxy::start(World::demo(), "").await;
    let greeting = account::banner(&format!("{WEB_1} web-1 port 22"));
    let sent = common::payload(4000, 7);
    let echoed_before_cut = 1000;
    let reason = "connection reset by instance";

    // Over SOCKS5, then HTTP CONNECT: the same cut, the same ending.
    for round in 1..=2 {
        proxy.aws.eice.close_next_tunnel_after(
            (greeting.len() + echoed_before_cut) as u64,
            1011,
            reason,
        );
        let mut received = Vec::new();
        if round == 1 {
            let mut s = timeout(
                PATIENCE,
                socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT),
            )
            .await
            .unwrap()
            .expect("the tunnel opens");
            s.write_all(&sent).await.unwrap();
            timeout(PATIENCE, s.read_to_end(&mut received))
                .await
                .unwrap()
                .unwrap();
        } else {
            let answer = http_connect(proxy.addr, &format!("{WEB_1}:22"), None).await;
            assert_eq!(answer.status, 200, "{}", answer.head);
            let mut s = answer.stream.unwrap();
            s.write_all(&sent).await.unwrap();
            timeout(PATIENCE, s.read_to_end(&mut received))
                .await
                .unwrap()
                .unwrap();
        }
        let mut expected = greeting.clone().into_bytes();
        expected.extend_from_slice(&sent[..echoed_before_cut]);
        assert_eq!(received.len(), expected.len(), "round {round}");
        assert!(received == expected, "round {round}: the bytes differ");

        proxy.log_count("tunnel ended with an error", round).await;
        let line = proxy.log_line("tunnel ended with an error").await;
        assert_says(
            &line,
            &["EICE closed the tunnel with code 1011: connection reset by instance"],
        );
    }
    assert_eq!(proxy.aws.eice.stats().close_codes_sent, [1011, 1011]);
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
}

/// Two clients (SOCKS5 and HTTP) whose upgrades the service leaves hanging
/// are told the step timed out; then a third gets through.
async fn hung_upgrades_time_out_and_the_next_connection_works(proxy: &Proxy) {
    proxy.aws.eice.hang_next_upgrades(2);
    let (socks, (status, body)) =
        tokio::join!(socks_refusal(proxy, WEB_1), http_refusal(proxy, WEB_1));
    assert_eq!(socks, 0x06);
    assert_eq!(status, 504, "{body}");
    assert_says(&body, &["opening the tunnel timed out after 1s"]);
    let line = proxy
        .log_line("refused: opening the tunnel timed out after 1s")
        .await;
    assert_says(&line, &["socks=6", "http=504"]);
    proxy
        .log_count("refused: opening the tunnel timed out after 1s", 2)
        .await;
    // The service did receive both requests (this was not a refused TCP connect).
    assert_eq!(proxy.aws.eice.stats().upgrades_hung, 2);
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
}

#[tokio::test]
async fn an_upgrade_that_never_completes_times_out_with_0x06_and_504() {
    let proxy = Proxy::start(World::demo(), OPEN_WITHIN_1S).await;
    hung_upgrades_time_out_and_the_next_connection_works(&proxy).await;
}

#[tokio::test]
async fn an_upgrade_that_never_completes_over_tls_times_out_with_0x06_and_504() {
    let aws = SimAws::start(World::demo(), true).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, aws.eice.ca_pem().expect("a TLS service has a CA")).unwrap();
    let ca = ca.display().to_string();
    let proxy = Proxy::start_with(aws, OPEN_WITHIN_1S, &[("AWS_CA_BUNDLE", &ca)]).await;
    assert!(proxy.aws.eice.url().starts_with("wss://"));
    hung_upgrades_time_out_and_the_next_connection_works(&proxy).await;
}

#[tokio::test]
async fn ec2_throttling_is_retried_then_reported_and_the_proxy_recovers() {
    let proxy = Proxy::start(World::demo(), "").await;
    let ec2 = &proxy.aws.ec2;
    ec2.fail_always(Action::DescribeInstances, Fault::RequestLimitExceeded);
    let started = Instant::now();
    // Two targets, two lookups: each is retried by the SDK before it gives up.
    let (socks, (status, body)) =
        tokio::join!(socks_refusal(&proxy, WEB_1), http_refusal(&proxy, DB_1));
    eprintln!("throttled lookups failed after {:?}", started.elapsed());
    assert_eq!(socks, 0x01);
    assert_eq!(status, 502, "{body}");
    assert_says(
        &body,
        &[
            "ec2:DescribeInstances failed (RequestLimitExceeded)",
            "EC2 is throttling this account's API calls; retry shortly",
        ],
    );
    // Each lookup is tried three times (the AWS SDKs' standard retry mode),
    // and both refusals came after their last try.
    let calls = ec2.calls(Action::DescribeInstances);
    assert_eq!(calls, 2 * 3, "DescribeInstances calls for two lookups");
    let line = proxy.log_line("RequestLimitExceeded").await;
    assert_says(&line, &["refused: ", "throttling"]);

    ec2.clear_faults();
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    reaches(proxy.addr, Dest::Domain(DB_1), 22, DB_1).await;
    eprintln!("the whole test took {:?}", started.elapsed());
}

/// A denied `action` refuses with 0x02 / 403 and names the permission; once
/// the denial is lifted the same target works (the error was not cached).
async fn a_denied_ec2_call_names_the_missing_permission(action: Action) {
    let proxy = Proxy::start(World::demo(), "").await;
    let ec2 = &proxy.aws.ec2;
    ec2.fail_always(action, Fault::AccessDenied);
    let permission = format!(
        "the caller needs the IAM permission ec2:{}",
        action.as_str()
    );
    let failed = format!("ec2:{} failed (UnauthorizedOperation)", action.as_str());

    assert_eq!(socks_refusal(&proxy, WEB_1).await, 0x02);
    let line = proxy.log_line(&failed).await;
    assert_says(&line, &["refused: ", &permission]);
    let (status, body) = http_refusal(&proxy, WEB_1).await;
    assert_eq!(status, 403, "{body}");
    assert_says(&body, &[&failed, &permission]);
    assert_eq!(ec2.calls(action), 2, "a denial is not retried");

    ec2.clear_faults();
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
}

#[tokio::test]
async fn denied_describe_instances_is_not_allowed_and_names_the_permission() {
    a_denied_ec2_call_names_the_missing_permission(Action::DescribeInstances).await;
}

#[tokio::test]
async fn denied_describe_instance_connect_endpoints_is_not_allowed_and_names_the_permission() {
    a_denied_ec2_call_names_the_missing_permission(Action::DescribeInstanceConnectEndpoints).await;
}

#[cfg(unix)]
#[tokio::test]
async fn credentials_from_a_process_are_fetched_again_before_they_expire() {
    // Valid for a minute: inside the five minutes before expiry in which the
    // proxy refreshes credentials before signing.
    let process = CredentialProcess::new(60);
    let proxy = process.start_proxy().await;
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    assert!(process.calls() >= 2, "{} calls", process.calls());
    let keys = proxy.aws.eice.stats().access_keys;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter().all(|k| k.starts_with("AKIDPROCESS")),
        "{keys:?}"
    );
    assert_ne!(keys[0], keys[1], "each tunnel was signed with fresh keys");
}

/// The first tunnel's credentials are rejected (403 `code`): that client gets
/// 0x02 and the log says to refresh the credentials; the next tunnel is signed
/// with fresh ones although the rejected ones had an hour left.
#[cfg(unix)]
async fn rejected_credentials_are_replaced_for_the_next_tunnel(code: &str, message: &str) {
    let process = CredentialProcess::new(3600);
    let proxy = process.start_proxy().await;
    proxy.aws.eice.fail_next_upgrades(1, 403, code, message);
    assert_eq!(socks_refusal(&proxy, WEB_1).await, 0x02);
    let line = proxy.log_line(&last_request_id(&proxy)).await;
    assert_says(&line, &[code, "refresh the credentials"]);
    assert!(!line.contains("clock"), "not a clock problem: {line}");

    let before = process.calls();
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    assert_eq!(process.calls(), before + 1, "the rejected keys were reused");
    assert_eq!(
        proxy.aws.eice.stats().access_keys,
        [process_key_id(before + 1)]
    );
}

#[cfg(unix)]
#[tokio::test]
async fn an_unrecognized_session_token_is_dropped_and_the_next_tunnel_gets_fresh_credentials() {
    rejected_credentials_are_replaced_for_the_next_tunnel(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
    .await;
}

#[cfg(unix)]
#[tokio::test]
async fn an_expired_session_token_asks_for_fresh_credentials_not_a_clock_check() {
    rejected_credentials_are_replaced_for_the_next_tunnel(
        "ExpiredToken",
        "The security token included in the request is expired",
    )
    .await;
}
