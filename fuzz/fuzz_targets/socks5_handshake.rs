//! Arbitrary client bytes → the SOCKS5 greeting, authentication and request
//! phases (`inbound::socks5::accept`), once without and once with a username
//! and password configured. The client writes the bytes, waits until the server
//! can do no more with them, and closes (`fuzz_harness::exchange`); the handshake
//! must end (answered, refused or failed) without a panic or a hang, and the
//! client must have received exactly the bytes `tests/oracle/socks5.rs` says
//! the input promises. A request that gets through is then refused, to drive
//! the reply path too.

#![no_main]

use eice_proxy::config::ProxyAuth;
use eice_proxy::inbound::socks5::accept;
use eice_proxy::reply::Reply;
use fuzz_harness::{exchange, socks5_oracle};
use libfuzzer_sys::fuzz_target;

/// What a request that gets through is refused with.
const REFUSAL: Reply = Reply::ConnectionRefused;

fuzz_target!(|data: &[u8]| {
    let auth = ProxyAuth {
        username: "user".into(),
        password: "pass".into(),
    };
    for auth in [None, Some(&auth)] {
        let reply = exchange(data, |io| async move {
            if let Ok(request) = accept(io, auth).await {
                let _ = request.fail(REFUSAL).await;
            }
        });
        let given = auth.map(|a| (a.username.as_str(), a.password.as_str()));
        let promised = socks5_oracle::promised(data, given, Some(REFUSAL.socks_code()));
        assert_eq!(
            reply,
            promised,
            "answer (auth: {}) to {data:?}",
            auth.is_some()
        );
    }
});
