//! Arbitrary client bytes → the HTTP CONNECT server (`inbound::http_connect::serve`,
//! hyper underneath), once without and once with proxy authentication. `open`
//! refuses every target at once and `join` is never reached, so nothing is
//! connected. The server must end without a panic or a hang, whatever it
//! answers must be well-formed HTTP responses that are all refusals (>= 400),
//! and the first of them must be the one `tests/oracle/http_connect.rs` says
//! the request promises (none for a head left incomplete): a silent close or
//! a wrong status is a finding.

#![no_main]

use std::sync::Arc;
use std::time::Duration;

use eice_proxy::config::ProxyAuth;
use eice_proxy::inbound::http_connect::{Refusal, Upgraded, serve};
use eice_proxy::reply::Reply;
use eice_proxy::target::Target;
use fuzz_harness::http_oracle::{self, First};
use fuzz_harness::{exchange, response_statuses};
use libfuzzer_sys::fuzz_target;

/// Longer than the harness's `LINGER`, so a client that stops sending is
/// closed before this fires; well inside its `DEADLINE`, so this fires before that.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// What `open` answers every target with.
const REFUSAL: Reply = Reply::ConnectionRefused;

const USER: &str = "user";
const PASSWORD: &str = "pass";

fuzz_target!(|data: &[u8]| {
    let auth = Arc::new(ProxyAuth {
        username: USER.into(),
        password: PASSWORD.into(),
    });
    for auth in [None, Some(auth)] {
        let given = auth.is_some().then_some((USER, PASSWORD));
        let reply = exchange(data, |io| async move {
            let _ = serve(io, auth, HEADER_TIMEOUT, refuse, ignore).await;
        });
        let (statuses, whole) = response_statuses(&reply);
        assert!(
            whole,
            "the server wrote something other than whole HTTP responses: {:?}",
            String::from_utf8_lossy(&reply)
        );
        assert!(
            statuses.iter().all(|&s| s >= 400),
            "a refused CONNECT was answered {statuses:?}"
        );
        // The harness's client waits until the server can do no more before
        // it closes, so a complete head is always answered.
        let promised = match http_oracle::first(data, given, REFUSAL.http_status().as_u16()) {
            First::Nothing => None,
            First::Hyper(status) | First::Serve(status) => Some(status),
        };
        assert_eq!(
            statuses.first().copied(),
            promised,
            "first answer (auth: {}) to {:?}",
            given.is_some(),
            String::from_utf8_lossy(data)
        );
    }
});

async fn refuse(_target: Target) -> Result<(), Refusal> {
    Err(Refusal {
        reply: REFUSAL,
        message: "refused by the fuzz harness".into(),
    })
}

async fn ignore(_client: Upgraded, (): ()) {}
