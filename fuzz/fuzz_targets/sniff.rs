//! Any first byte → `classify`: it never panics, its verdict matches the rule
//! in `inbound` (0x05 SOCKS5, an ASCII letter HTTP, everything else refused),
//! and every refusal can be put into words for the log.

#![no_main]

use eice_proxy::inbound::{Protocol, classify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for &first in data {
        match classify(first) {
            Ok(Protocol::Socks5) => assert_eq!(first, 0x05),
            Ok(Protocol::Http) => assert!(first.is_ascii_alphabetic(), "0x{first:02x}"),
            // Only a forward port counts its connections as Forward; no byte names one.
            Ok(Protocol::Forward) => panic!("0x{first:02x} classified as a forward port"),
            // Only serve's control socket counts its connections as Control.
            Ok(Protocol::Control) => panic!("0x{first:02x} classified as the control socket"),
            Err(refusal) => {
                assert!(first != 0x05 && !first.is_ascii_alphabetic());
                assert!(!refusal.to_string().is_empty());
            }
        }
    }
});
