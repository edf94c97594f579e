//! Keys kept in a real OpenSSH `ssh-agent`: passphrase-protected keys added
//! with `ssh-add`, their private files then removed, so eice-proxy can read
//! no key file at all. The SSH hop logs in through the agent (its keys in
//! the agent's order, or the one a `[[hop]]` names by comment or
//! fingerprint); `eice-proxy ssh` and `[[push_key]]` push the agent's public
//! key with the simulated EC2 Instance Connect, and ssh logs in with it.
//! Without an agent holding it, a passphrase-protected key is an error that
//! says to `ssh-add` it.

// The agent listens on a Unix socket; the hop's sshd set-up is the hop
// tests', which are Linux only.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::process::Stdio;

use common::agent::{PASSPHRASE, SshAgent, blob, encrypted_key, fingerprint, pub_of};
use common::clients::{Dest, SocksFailure, socks5};
use common::hop::{LOOPBACK, WEB_1, account_with_hop, home, hop_sshd, service, svc_stream};
use common::sshd::Sshd;
use common::{Proxy, aws_command, run};
use eice_sim::account::SimAws;
use eice_sim::world::World;
use tokio::process::Command;

/// A `[[hop]]` named `name` on web-1 serving `cidr`, logging in with `auth`
/// (`key = …` or `agent_key = …`, or nothing for the defaults).
fn hop(sshd: &Sshd, name: &str, cidr: &str, auth: &str) -> String {
    format!(
        "[[hop]]\nname = \"{name}\"\ninstance = \"{WEB_1}\"\nos_user = {:?}\ncidrs = [\"{cidr}\"]\n{auth}\n",
        sshd.user
    )
}

/// The hop config's `[ssh]` table: a known_hosts file of the test's own.
fn ssh_table(sshd: &Sshd) -> String {
    let known_hosts = sshd.dir.path().join("hop_known_hosts");
    format!(
        "[ssh]\nknown_hosts = {:?}\n\n",
        known_hosts.display().to_string()
    )
}

/// A passphrase-protected key `name` (comment `name@test`) in the sshd's
/// directory, added to `agent`, its private file then removed: only its
/// `.pub` is left on disk. Returns the path of the (removed) private key.
async fn agent_only_key(agent: &SshAgent, sshd: &Sshd, name: &str) -> std::path::PathBuf {
    let key = sshd.dir.path().join(name);
    encrypted_key(&key, &format!("{name}@test"));
    agent.add(&key).await;
    std::fs::remove_file(&key).unwrap();
    key
}

/// Makes the hop's sshd accept `key` alone.
fn authorize_only(sshd: &Sshd, key: &Path) {
    std::fs::copy(pub_of(key), sshd.dir.path().join("authorized_keys")).unwrap();
}

#[tokio::test]
async fn the_hop_logs_in_through_the_agent_with_no_key_file_readable() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    let agent = SshAgent::start().await;
    let key = agent_only_key(&agent, &sshd, "hop_key").await;
    authorize_only(&sshd, &key);
    assert!(!key.exists(), "no private key file to read");
    let aws = account_with_hop(&mut sshd).await;
    // `key` names a file whose private half is gone: its .pub says which
    // agent key to use.
    let config = ssh_table(&sshd)
        + &hop(
            &sshd,
            "web",
            "127.0.0.0/8",
            &format!("key = {:?}", key.display().to_string()),
        );
    let (var, socket) = agent.env();
    let proxy = Proxy::start_with(aws, &config, &[("HOME", &home(&sshd)), (var, &socket)]).await;
    let port = service("svc").await;
    let mut s = svc_stream(proxy.addr, port).await;
    common::hop::echoes(&mut s, "through the agent\n").await;
    proxy.log_line("hop connected").await;
    let log = proxy.full_log().join("\n");
    assert!(!log.contains(PASSPHRASE), "no secret in the log");
}

#[tokio::test]
async fn a_hop_names_its_agent_key_by_comment_or_fingerprint() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    let agent = SshAgent::start().await;
    // The agent holds a decoy first, then the key the hop's sshd accepts.
    let decoy = agent_only_key(&agent, &sshd, "decoy").await;
    let key = agent_only_key(&agent, &sshd, "hop_key").await;
    authorize_only(&sshd, &key);
    let listed = agent.list().await;
    assert!(
        listed.find("decoy@test") < listed.find("hop_key@test"),
        "{listed}"
    );
    let aws = account_with_hop(&mut sshd).await;
    let (key_fp, decoy_fp) = (fingerprint(&pub_of(&key)), fingerprint(&pub_of(&decoy)));
    let config = [
        ssh_table(&sshd),
        hop(
            &sshd,
            "by-comment",
            "127.0.0.1/32",
            "agent_key = \"hop_key@test\"",
        ),
        hop(
            &sshd,
            "by-fingerprint",
            "127.0.0.2/32",
            &format!("agent_key = \"{key_fp}\""),
        ),
        hop(
            &sshd,
            "decoy",
            "127.0.0.3/32",
            &format!("agent_key = \"{decoy_fp}\""),
        ),
    ]
    .concat();
    let (var, socket) = agent.env();
    let proxy = Proxy::start_with(aws, &config, &[("HOME", &home(&sshd)), (var, &socket)]).await;
    let port = service("svc").await;

    // By comment: the second key of the agent, offered alone, logs in.
    let mut s = svc_stream(proxy.addr, port).await;
    common::hop::echoes(&mut s, "by comment\n").await;
    // By fingerprint: logged in (the stream is refused only after, by the
    // hop, since nothing listens on 127.0.0.2 at that port).
    let ip2 = "127.0.0.2".parse().unwrap();
    let refused = socks5(proxy.addr, Dest::Ip(ip2), port, None, 0x01).await;
    assert_eq!(refused.err(), Some(SocksFailure::Reply(0x05)));
    let line = proxy.log_line("hop connected").await;
    assert!(line.contains("by-comment"), "{line}");
    proxy.log_count("hop connected", 2).await;
    assert!(
        proxy
            .full_log()
            .iter()
            .any(|l| l.contains("hop connected") && l.contains("by-fingerprint")),
        "{:?}",
        proxy.full_log()
    );
    // The decoy, named by its fingerprint, is the one offered: and refused.
    let ip3 = "127.0.0.3".parse().unwrap();
    let refused = socks5(proxy.addr, Dest::Ip(ip3), port, None, 0x01).await;
    assert_eq!(refused.err(), Some(SocksFailure::Reply(0x02)));
    let line = proxy
        .log_line(&format!(
            "refused the key {decoy_fp} (decoy@test) from the ssh-agent"
        ))
        .await;
    assert!(!line.contains(&key_fp), "only the named key: {line}");
}

#[tokio::test]
async fn a_passphrase_protected_key_without_an_agent_holding_it_says_to_ssh_add_it() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    let key = sshd.dir.path().join("locked");
    encrypted_key(&key, "locked@test");
    authorize_only(&sshd, &key);
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let config_text = ssh_table(&sshd)
        + &hop(
            &sshd,
            "web",
            "127.0.0.0/8",
            &format!("key = {:?}", key.display().to_string()),
        );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, &config_text).unwrap();

    // No agent at all: `serve` stops at start-up, naming the file.
    let (mut cmd, _aws_dir) = aws_command(&aws, &["serve", "--listen", "127.0.0.1:0", "--config"]);
    cmd.arg(&config).env("HOME", home(&sshd));
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("`ssh-add {}`", key.display()))
            && stderr.contains("passphrase-protected"),
        "{stderr}"
    );
    drop(aws);

    // An agent that does not hold it: the first stream is refused with the same advice.
    let agent = SshAgent::start().await;
    let aws = account_with_hop(&mut sshd).await;
    let (var, socket) = agent.env();
    let proxy =
        Proxy::start_with(aws, &config_text, &[("HOME", &home(&sshd)), (var, &socket)]).await;
    let port = service("svc").await;
    let refused = socks5(proxy.addr, Dest::Ip(LOOPBACK), port, None, 0x01).await;
    assert_eq!(refused.err(), Some(SocksFailure::Reply(0x02)));
    let line = proxy.log_line("does not hold it").await;
    assert!(
        line.contains(&format!("`ssh-add {}`", key.display())),
        "{line}"
    );
    assert_eq!(
        proxy.aws.eice.stats().tunnels_opened,
        0,
        "refused before any tunnel"
    );

    // Once added, it works, with the file still passphrase-protected.
    agent.add(&key).await;
    let mut s = svc_stream(proxy.addr, port).await;
    common::hop::echoes(&mut s, "added\n").await;
    assert!(!proxy.full_log().join("\n").contains(PASSPHRASE));
}

#[tokio::test]
async fn a_missing_agent_socket_and_a_declined_signature_are_errors_that_say_so() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    let agent = SshAgent::declining().await;
    let key = agent_only_key(&agent, &sshd, "unused").await;
    let confirmed = sshd.dir.path().join("confirmed");
    encrypted_key(&confirmed, "confirmed@test");
    agent.add_confirmed(&confirmed).await;
    authorize_only(&sshd, &confirmed);
    let config = ssh_table(&sshd)
        + &hop(
            &sshd,
            "web",
            "127.0.0.0/8",
            "agent_key = \"confirmed@test\"",
        );
    let port = service("svc").await;

    // SSH_AUTH_SOCK names a socket nobody listens on.
    let missing = sshd.dir.path().join("no-agent.sock").display().to_string();
    let aws = account_with_hop(&mut sshd).await;
    let proxy = Proxy::start_with(
        aws,
        &config,
        &[("HOME", &home(&sshd)), ("SSH_AUTH_SOCK", &missing)],
    )
    .await;
    let refused = socks5(proxy.addr, Dest::Ip(LOOPBACK), port, None, 0x01).await;
    assert_eq!(refused.err(), Some(SocksFailure::Reply(0x01)));
    proxy
        .log_line(&format!(
            "cannot reach the ssh-agent at {missing} (SSH_AUTH_SOCK)"
        ))
        .await;
    drop(proxy);

    // The agent holds the key but its confirmation is declined.
    let aws = account_with_hop(&mut sshd).await;
    let (var, socket) = agent.env();
    let proxy = Proxy::start_with(aws, &config, &[("HOME", &home(&sshd)), (var, &socket)]).await;
    let refused = socks5(proxy.addr, Dest::Ip(LOOPBACK), port, None, 0x01).await;
    assert_eq!(refused.err(), Some(SocksFailure::Reply(0x02)));
    let fp = fingerprint(&pub_of(&confirmed));
    proxy
        .log_line(&format!(
            "the ssh-agent refused to sign with the key {fp} (confirmed@test)"
        ))
        .await;
    assert!(!key.exists());
}

/// web-1 with a real sshd that trusts only keys pushed to it.
async fn push_account() -> (SimAws, Sshd) {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let mut sshd = Sshd::with_pushed_keys(&aws.ec2.url(), WEB_1);
    let local = sshd.listen("web-1").await;
    aws.eice.add_target("10.0.1.10:22".parse().unwrap(), local);
    (aws, sshd)
}

/// `eice-proxy ssh ARGS… -- OPTIONS… echo $INSTANCE` with HOME and TMPDIR in
/// `home` and the agent's socket.
fn eice_ssh(aws: &SimAws, home: &Path, agent: Option<&SshAgent>, args: &[&str]) -> Command {
    let (mut cmd, dir) = common::eice_ssh(aws, home, args, &["echo $INSTANCE"]);
    std::mem::forget(dir); // its AWS config files must outlive the command
    if let Some(agent) = agent {
        let (var, socket) = agent.env();
        cmd.env(var, socket);
    }
    cmd
}

#[tokio::test]
async fn eice_proxy_ssh_pushes_the_agents_key_and_logs_in_with_it() {
    let (aws, sshd) = push_account().await;
    let home = tempfile::tempdir().unwrap();
    let agent = SshAgent::start().await;
    let key = home.path().join("laptop");
    let line = encrypted_key(&key, "laptop@test");
    agent.add(&key).await;
    std::fs::remove_file(&key).unwrap();

    // No -i, no ~/.ssh: the agent's first key is pushed, not a temporary one.
    let cmd = eice_ssh(
        &aws,
        home.path(),
        Some(&agent),
        &["-l", &sshd.user, "web-1"],
    );
    let (status, stdout, stderr) = run(cmd).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "web-1");
    let pushed = aws.ec2.keys().valid_keys(WEB_1, &sshd.user);
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert!(
        pushed[0].contains(blob(&line)),
        "the agent's key: {pushed:?}"
    );
    let left: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("eice-proxy-key-")
        })
        .collect();
    assert!(left.is_empty(), "nothing left behind: {left:?}");

    // `-i KEY` whose private file is gone: KEY.pub names the agent's key.
    aws.ec2
        .keys()
        .clock()
        .advance(std::time::Duration::from_secs(61));
    let k = key.display().to_string();
    let cmd = eice_ssh(
        &aws,
        home.path(),
        Some(&agent),
        &["-i", &k, "-l", &sshd.user, "web-1"],
    );
    let (status, stdout, stderr) = run(cmd).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "web-1");
    let pushed = aws.ec2.keys().valid_keys(WEB_1, &sshd.user);
    assert!(
        pushed.len() == 1 && pushed[0].contains(blob(&line)),
        "{pushed:?}"
    );

    // Without the agent, that key cannot be used, and the error says why.
    let cmd = eice_ssh(
        &aws,
        home.path(),
        None,
        &["-i", &k, "-l", &sshd.user, "web-1"],
    );
    let (status, _, stderr) = run(cmd).await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("`ssh-add {k}`")), "{stderr}");
}

#[tokio::test]
async fn a_push_key_rule_names_an_agent_key_for_plain_ssh_through_the_proxy() {
    let (aws, sshd) = push_account().await;
    let home = tempfile::tempdir().unwrap();
    let agent = SshAgent::start().await;
    let decoy = home.path().join("decoy");
    encrypted_key(&decoy, "decoy@test");
    agent.add(&decoy).await;
    let key = home.path().join("team");
    let line = encrypted_key(&key, "team@test");
    agent.add(&key).await;
    std::fs::remove_file(&key).unwrap();
    std::fs::remove_file(&decoy).unwrap();
    let config = format!(
        "[[push_key]]\nname = \"web-*\"\nos_user = \"{}\"\nagent_key = \"team@test\"\n",
        sshd.user
    );
    let (var, socket) = agent.env();
    let proxy = Proxy::start_with(aws, &config, &[(var, &socket)]).await;
    let mut cmd = Command::new("ssh");
    cmd.args(common::sshd::ssh_options(&home.path().join("known_hosts")))
        .args(["-o", "IdentitiesOnly=yes", "-i"])
        .arg(pub_of(&key))
        .arg("-o")
        .arg(format!("ProxyCommand=nc -X 5 -x {} %h %p", proxy.addr))
        .arg(format!("{}@web-1", sshd.user))
        .arg("echo $INSTANCE")
        .env(var, &socket)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let (status, stdout, stderr) = run(cmd).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "web-1");
    let pushed = proxy.aws.ec2.keys().valid_keys(WEB_1, &sshd.user);
    assert!(
        pushed.len() == 1 && pushed[0].contains(blob(&line)),
        "{pushed:?}"
    );
}
