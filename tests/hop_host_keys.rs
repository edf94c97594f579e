//! The hop's host-key check against real OpenSSH servers: what a server
//! holding other keys than the recorded one can and cannot get past.
//!
//! Each test gives web-1's sshd the host keys it needs (ed25519, ECDSA or
//! both), records keys in `~/.ssh/known_hosts` (the test's `HOME`) the way
//! `eice-proxy ssh` does, under the instance id, and reads sshd's own log
//! (at `DEBUG1`) for what it saw of the client.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::clients::{Dest, SocksFailure, socks5};
use common::hop::{LOOPBACK, WEB_1, echoes, hop_proxy, hop_sshd, service, svc_stream};
use common::sshd::Sshd;
use common::{PATIENCE, Proxy};
use tokio::time::timeout;

/// sshd at DEBUG1 logs this for every authentication request it receives.
const AUTH_ATTEMPT: &str = "userauth-request for user";

/// `~/.ssh/known_hosts` of the proxy's user (its `HOME` is the sshd's directory).
fn user_known_hosts(sshd: &Sshd) -> PathBuf {
    let dir = sshd.dir.path().join(".ssh");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("known_hosts")
}

/// `WEB_1 TYPE BASE64`: the line recording the key in the `.pub` file `public`.
fn recorded_line(public: &Path) -> String {
    let text = std::fs::read_to_string(public).unwrap();
    let fields: Vec<&str> = text.split_whitespace().take(2).collect();
    format!("{WEB_1} {}\n", fields.join(" "))
}

/// A key pair of `kind` that no server holds, for a pin no server matches.
fn foreign_key(sshd: &Sshd, kind: &str) -> PathBuf {
    let path = sshd.dir.path().join(format!("foreign_{kind}"));
    eice_sim::sshd::keygen_of(&path, kind).unwrap();
    path.with_extension("pub")
}

/// Waits until sshd's log for web-1 holds `needle`, and returns the log.
async fn sshd_logged(sshd: &Sshd, needle: &str) -> String {
    timeout(PATIENCE, async {
        loop {
            let log = sshd.log("web-1");
            if log.contains(needle) {
                return log;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("sshd's log never said {needle:?}:\n{}", sshd.log("web-1")))
}

/// A SOCKS5 stream through the hop to a fresh service: its reply code when refused.
async fn refused(proxy: &Proxy) -> SocksFailure {
    let port = service("svc").await;
    socks5(proxy.addr, Dest::Ip(LOOPBACK), port, None, 0x01)
        .await
        .expect_err("the hop must be refused")
}

#[tokio::test]
async fn a_pinned_ed25519_key_refuses_a_server_with_only_ecdsa_before_any_authentication() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    sshd.host_keys(&["ecdsa"]);
    sshd.log_level("DEBUG1");
    let user = user_known_hosts(&sshd);
    let pinned = recorded_line(&foreign_key(&sshd, "ed25519"));
    std::fs::write(&user, &pinned).unwrap();
    let own = sshd.dir.path().join("hop_known_hosts");
    let proxy = hop_proxy(&mut sshd, &own).await;

    assert_eq!(refused(&proxy).await, SocksFailure::Reply(0x02));
    let line = proxy
        .log_line("REMOTE HOST IDENTIFICATION HAS CHANGED")
        .await;
    assert!(
        line.contains("offers only ecdsa-sha2-nistp256 host keys"),
        "{line}"
    );
    assert!(
        line.contains(&format!("Offending ED25519 key in {}:1", user.display())),
        "{line}"
    );
    assert!(line.contains(&format!("ssh-keygen -R {WEB_1}")), "{line}");
    // Only the pinned type was asked for, so the exchange itself failed:
    // sshd never saw an authentication request, let alone the user's key.
    let log = sshd_logged(&sshd, "no matching host key type found").await;
    assert!(log.contains("Their offer: ssh-ed25519"), "{log}");
    assert!(!log.contains(AUTH_ATTEMPT), "{log}");
    // Nothing learned, nothing rewritten.
    assert!(!own.exists(), "the ECDSA key was not learned");
    assert_eq!(std::fs::read_to_string(&user).unwrap(), pinned);
    assert_eq!(proxy.aws.eice.stats().tunnels_opened, 1);
}

#[tokio::test]
async fn a_server_with_several_keys_presents_the_pinned_type_and_the_stream_works() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    let public = sshd.host_keys(&["ed25519", "ecdsa"]);
    sshd.log_level("DEBUG1");
    // Only the ECDSA key is recorded; sshd would pick ed25519 if asked for anything.
    let user = user_known_hosts(&sshd);
    std::fs::write(&user, recorded_line(&public[1])).unwrap();
    let own = sshd.dir.path().join("hop_known_hosts");
    let proxy = hop_proxy(&mut sshd, &own).await;

    let port = service("svc").await;
    let mut s = svc_stream(proxy.addr, port).await;
    echoes(&mut s, "through the ECDSA-checked hop\n").await;
    let log = sshd_logged(&sshd, AUTH_ATTEMPT).await;
    assert!(
        log.contains("kex: host key algorithm: ecdsa-sha2-nistp256"),
        "{log}"
    );
    assert!(!own.exists(), "a recorded key is not learned again");
}

#[tokio::test]
async fn names_hashed_by_ssh_keygen_h_are_honoured() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    let public = sshd.host_keys(&["ed25519"]);
    let user = user_known_hosts(&sshd);
    let other = recorded_line(&foreign_key(&sshd, "ecdsa")).replace(WEB_1, "i-0fedcba9876543210");
    std::fs::write(&user, other + &recorded_line(&public[0])).unwrap();
    let hashing = Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&user)
        .output()
        .unwrap();
    assert!(hashing.status.success());
    let hashed = std::fs::read_to_string(&user).unwrap();
    assert!(
        !hashed.contains(WEB_1) && hashed.contains("|1|"),
        "{hashed}"
    );
    let own = sshd.dir.path().join("hop_known_hosts");
    let proxy = hop_proxy(&mut sshd, &own).await;

    let port = service("svc").await;
    let mut s = svc_stream(proxy.addr, port).await;
    echoes(&mut s, "hashed names\n").await;
    assert!(
        !own.exists(),
        "the key was found under its hashed name, not learned"
    );
}

#[tokio::test]
async fn a_changed_host_key_is_refused() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    let own = sshd.dir.path().join("hop_known_hosts");
    // Another ed25519 key recorded for web-1: what a man in the middle would look like.
    std::fs::write(&own, recorded_line(&foreign_key(&sshd, "ed25519"))).unwrap();
    let proxy = hop_proxy(&mut sshd, &own).await;
    assert_eq!(refused(&proxy).await, SocksFailure::Reply(0x02));
    let line = proxy
        .log_line("REMOTE HOST IDENTIFICATION HAS CHANGED")
        .await;
    assert!(line.contains(&format!("ssh-keygen -R {WEB_1}")), "{line}");
    assert!(line.contains("sent the ED25519 key SHA256:"), "{line}");
    assert_eq!(proxy.aws.eice.stats().tunnels_opened, 1);
}

#[tokio::test]
async fn a_revoked_key_is_refused_even_where_it_is_also_recorded_as_good() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    let public = sshd.host_keys(&["ed25519"]);
    let good = recorded_line(&public[0]);
    let revoked = format!("@revoked * {}", good.split_once(' ').unwrap().1);
    std::fs::write(user_known_hosts(&sshd), good + &revoked).unwrap();
    let own = sshd.dir.path().join("hop_known_hosts");
    let proxy = hop_proxy(&mut sshd, &own).await;
    assert_eq!(refused(&proxy).await, SocksFailure::Reply(0x02));
    let line = proxy.log_line("REVOKED HOST KEY DETECTED").await;
    assert!(line.contains(":2"), "names the @revoked line: {line}");
    assert!(!own.exists());
}

#[tokio::test]
async fn strict_checking_refuses_an_unrecorded_hop_and_names_the_line_that_admits_it() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    let own = sshd.dir.path().join("hop_known_hosts");
    let aws = common::hop::account_with_hop(&mut sshd).await;
    let config = common::hop::hop_config(&sshd, &own, "cidrs = [\"127.0.0.0/8\"]")
        .replace("[ssh]\n", "[ssh]\nstrict_host_key_checking = \"yes\"\n");
    let proxy = Proxy::start_with(aws, &config, &[("HOME", &common::hop::home(&sshd))]).await;

    assert_eq!(refused(&proxy).await, SocksFailure::Reply(0x02));
    let line = proxy.log_line("strict_host_key_checking is").await;
    assert!(line.contains("Host key verification failed"), "{line}");
    assert!(!own.exists(), "nothing learned");
    // The line the refusal names, added where it says, lets the hop in.
    let told = "(or ~/.ssh/known_hosts): ";
    let after = &line[line.find(told).expect(&line) + told.len()..];
    let record = after
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        record.starts_with(&format!("{WEB_1} ssh-ed25519 ")),
        "{record}"
    );
    std::fs::write(&own, format!("{record}\n")).unwrap();
    let port = service("svc").await;
    let mut s = svc_stream(proxy.addr, port).await;
    echoes(&mut s, "recorded by hand\n").await;
}
