//! Records what `eice-proxy --version` reports beyond the version: the commit
//! the binary was built from and the target triple, the facts a bug report
//! needs. The `demo` feature is read by the crate itself (`cfg!`).
//!
//! The commit comes from, in order:
//! 1. `.cargo_vcs_info.json`, which `cargo package` writes into a packaged
//!    crate (a crate from crates.io or a `.crate` file has no `.git`);
//! 2. `git`, when this crate's own `Cargo.toml` is tracked by the repository
//!    around it (not a repository that merely happens to contain the sources);
//! 3. otherwise "unknown": a wrong commit would be worse than none.

use std::path::Path;
use std::process::Command;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&dir);
    let commit = from_vcs_info(dir)
        .or_else(|| from_git(dir))
        .unwrap_or_else(|| "unknown".to_owned());
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rustc-env=EICE_PROXY_COMMIT={commit}");
    println!("cargo:rustc-env=EICE_PROXY_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
    rerun_if_changed(&dir.join(".cargo_vcs_info.json"));
}

/// Asks cargo to run the build script again when `path` changes. Only for a
/// path that exists: cargo takes a missing one as changed on every build.
fn rerun_if_changed(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// The `git.sha1` (and `dirty`) that `cargo package` recorded, read by hand
/// to keep serde out of the build script.
fn from_vcs_info(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    let sha = string_after(&text, "\"sha1\"")?;
    let dirty = text.contains("\"dirty\": true") || text.contains("\"dirty\":true");
    Some(describe(&sha, dirty, "packaged"))
}

/// The first JSON string value after `key`.
fn string_after(text: &str, key: &str) -> Option<String> {
    let rest = &text[text.find(key)? + key.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let value = &rest[..rest.find('"')?];
    let hex = value.len() >= 7 && value.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| value.to_owned())
}

/// HEAD of the repository that tracks this crate's `Cargo.toml`, and whether
/// the tracked files differ from it ("modified"). The build script runs again
/// when HEAD moves (a commit, a checkout) and when the sources that make the
/// binary change, so neither can be stale.
fn from_git(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    git(&["ls-files", "--error-unmatch", "Cargo.toml"])?;
    let sha = git(&["rev-parse", "HEAD"])?;
    for file in ["HEAD", "packed-refs"] {
        rerun_if_git_path_changed(&git, file);
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        rerun_if_git_path_changed(&git, &branch);
    }
    for path in ["src", "Cargo.toml", "Cargo.lock", "crates/eice-sim"] {
        rerun_if_changed(&dir.join(path));
    }
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(describe(&sha, dirty, "git"))
}

/// Asks cargo to run the build script again when a file of the git directory
/// changes (`git rev-parse --git-path` finds it in a worktree too).
fn rerun_if_git_path_changed(git: &dyn Fn(&[&str]) -> Option<String>, name: &str) {
    if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", name]) {
        rerun_if_changed(Path::new(&path));
    }
}

fn describe(sha: &str, dirty: bool, source: &str) -> String {
    let modified = if dirty { ", modified" } else { "" };
    format!("{sha} ({source}{modified})")
}
