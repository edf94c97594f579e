//! Secret random bytes, from the aws-lc-rs generator rustls already links (no
//! extra RNG crate): for what an attacker on the same machine must not guess,
//! such as the demo's access key and its throwaway user's name.

use std::io;

/// Fills `buf` with secret random bytes.
pub(crate) fn fill(buf: &mut [u8]) -> io::Result<()> {
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(buf)
        .map_err(|_| io::Error::other("the system's random number generator failed"))
}
