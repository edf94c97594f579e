//! Skipped tests, made visible. A test that cannot run here (no root, no
//! sshd, no tinyproxy…) returns early and so passes, and libtest shows
//! nothing of what it printed: alone, a skip is silent. So every skip goes
//! through [`skip`], which appends `test: why` to the file named by
//! [`SKIPS_ENV`]; `scripts/test` empties that file first, names every skip
//! at its end, and fails on any under CI.

use std::io::Write;

/// The variable naming the file skips are appended to (one line each).
/// Unset (`cargo test` run by hand), a skip is only printed.
pub const SKIPS_ENV: &str = "EICE_PROXY_TEST_SKIPS";

/// Records that the running test skips `what` (the whole test, or a part
/// of it), and why.
pub fn skip(what: &str, why: &str) {
    let line = format!("{}: {what} skipped: {why}", test_name());
    eprintln!("{line}");
    let Some(path) = std::env::var_os(SKIPS_ENV).filter(|p| !p.is_empty()) else {
        return;
    };
    // One write of one short line in append mode: lines from tests running
    // at once, in this process or another, never interleave.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot record a skip in {}: {e}", path.display()));
    file.write_all(format!("{line}\n").as_bytes())
        .unwrap_or_else(|e| panic!("cannot record a skip in {}: {e}", path.display()));
}

/// `file::test`: the test binary's name and the running test's. libtest
/// runs each test on a thread named after it.
fn test_name() -> String {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("an unnamed test");
    format!("{}::{name}", env!("CARGO_CRATE_NAME"))
}
