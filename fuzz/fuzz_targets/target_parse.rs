//! Any UTF-8 text → `Host::parse`: never panics, and an accepted host prints
//! (Display) as text that parses back to the same host, since that printed form
//! is what logs, errors and the resolver's cache keys show.

#![no_main]

use eice_proxy::target::Host;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Host::parse(text) {
        Ok(host) => {
            let shown = host.to_string();
            let again = Host::parse(&shown);
            assert_eq!(
                again.as_ref(),
                Ok(&host),
                "{text:?} parsed as {host:?}, printed as {shown:?}, which parses as {again:?}"
            );
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
