//! Arbitrary client bytes → the SOCKS5 greeting, authentication and request
//! phases (`inbound::socks5::accept`), once without and once with a username
//! and password configured. The client writes the bytes, waits until the server
//! can do no more with them, and closes (`fuzz_harness::exchange`); the handshake
//! must end (answered, refused or failed) without a panic or a hang.
//! A request that gets through is then refused, to drive the reply path too.

#![no_main]

use eice_proxy::config::ProxyAuth;
use eice_proxy::reply::Reply;
use eice_proxy::inbound::socks5::accept;
use fuzz_harness::exchange;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let auth = ProxyAuth {
        username: "user".into(),
        password: "pass".into(),
    };
    for auth in [None, Some(&auth)] {
        exchange(data, |io| async move {
            if let Ok(request) = accept(io, auth).await {
                let _ = request.fail(Reply::ConnectionRefused).await;
            }
        });
    }
});
