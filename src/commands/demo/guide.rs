//! What the demo prints: the simulated account, and commands to paste, each
//! with what it shows. `tests/demo.rs` pastes every one of them.

use std::path::Path;

use eice_sim::account::SimAws;

use super::SSHD_INSTANCE;

/// What the newcomer reads: the simulated account and commands to paste.
pub(super) fn guide(
    aws: &SimAws,
    proxy: &str,
    ca: &Path,
    windows_key: &Path,
    sshd_user: Option<&str>,
) -> String {
    let mut out = String::from(
        "eice-proxy demo: the proxy in front of a simulated AWS account on this machine.\n\n",
    );
    out += &format!("  proxy       {proxy} (SOCKS5 and HTTP CONNECT)\n");
    out += &format!("  EC2 API     {} (simulated)\n", aws.ec2.url());
    out += &format!("  EICE        {} (simulated, TLS)\n\n", aws.eice.url());
    out += "  instances   (port 22 answers with an SSH banner and echoes; port 3389 serves a web page)\n";
    for world in &aws.worlds {
        for i in &world.instances {
            let real = match sshd_user {
                Some(user) if i.id == SSHD_INSTANCE.0 => {
                    format!(
                        "  (port 22: a real sshd that trusts only pushed keys, for {user} alone)"
                    )
                }
                _ => String::new(),
            };
            out += &format!(
                "              {}  {:<10} {:<11} {:<10} {}{real}\n",
                i.id,
                i.name.as_deref().unwrap_or("-"),
                i.private_ip,
                world.region,
                i.state.as_str(),
            );
        }
    }
    out += &one_shot(aws, ca, sshd_user);
    out += &windows(windows_key);
    out += &through_the_proxy(proxy);
    out += &real_account();
    out += "\nThe proxy's log follows. Ctrl-C stops the demo.";
    out
}

/// Each command indented under its section, what it shows on the next line,
/// as a shell comment: pasted together, the comment is harmless.
fn commands<S: AsRef<str>>(lines: &[(S, &str)]) -> String {
    lines
        .iter()
        .map(|(command, what)| format!("  {}\n      # {what}\n", command.as_ref()))
        .collect()
}

/// First, what needs nothing but eice-proxy: the environment that points it at
/// the simulated account, then `connect`, the command ssh's `ProxyCommand` runs.
/// A fresh machine has neither `nc` nor `curl`; these work there.
fn one_shot(aws: &SimAws, ca: &Path, sshd_user: Option<&str>) -> String {
    let mut out = String::from(
        "\nPaste these into another terminal; the first three need nothing but eice-proxy. First\n\
         this environment, which points eice-proxy at the simulated account. It dies with the\n\
         demo: the key pair is this run's alone and the CA file goes when the demo ends, so\n\
         paste it into a shell you close with the demo (or unset it then):\n",
    );
    let env: Vec<String> = aws
        .env()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain([
            format!("AWS_CA_BUNDLE={}", ca.display()),
            // The logins' route cache goes with the demo's other files, not
            // into the user's own cache.
            format!(
                "{}={}",
                crate::resolve::disk::CACHE_DIR_ENV,
                ca.with_file_name("route-cache").display()
            ),
            format!(
                "EICE_PROXY_REGIONS={}",
                aws.worlds
                    .iter()
                    .map(|w| w.region.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ])
        .collect();
    out += &format!("  export {}\n", env.join(" "));
    out += &commands(&[
        (
            "eice-proxy connect web-1 22 </dev/null",
            "web-1's banner: one tunnel on stdin and stdout, what ssh's ProxyCommand runs",
        ),
        (
            "eice-proxy resolve web-1 db-1 i-0a1b2c3d4e5f60001",
            "the route each takes: instance, region, VPC, endpoint, and who answered",
        ),
        (
            "eice-proxy doctor locked-1",
            "why locked-1 is refused: each rule on the path, and the command that adds the missing one",
        ),
    ]);
    if let Some(user) = sshd_user {
        out += &format!(
            "  eice-proxy ssh -l {user} {} -- -o BatchMode=yes -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR 'echo logged in to $INSTANCE'\n      \
             # no key set up: a key is pushed with EC2 Instance Connect, then ssh logs in (eu-west-1)\n      \
             # as {user}, an unprivileged user made for this run and removed when it ends;\n      \
             # keys are taken for no other user, and sshd logs in no other user, root least of all\n",
            SSHD_INSTANCE.1
        );
    }
    out
}

/// A Windows instance: its password fetched and decrypted with the launch
/// key, printed for a client (`--print` starts none, and this machine may
/// have none).
fn windows(key: &Path) -> String {
    let mut out = String::from(
        "
A Windows instance, win-1, whose Administrator password EC2 keeps encrypted to its
         launch key pair, as it does for every Windows instance (the key's .pem is the demo's):
",
    );
    out += &commands(&[(
        format!("eice-proxy rdp win-1 --key {} --print", key.display()),
        "win-1's address, user and password; without --print, FreeRDP (or your RDP client) starts on it; Ctrl-C closes the port",
    )]);
    out
}

/// Then the proxy on its port, as SOCKS5 and HTTP CONNECT clients use it.
/// `nc -X` is OpenBSD netcat's: Debian's netcat-openbsd (its traditional
/// netcat has no -X), macOS's own nc.
fn through_the_proxy(proxy: &str) -> String {
    let mut out = format!(
        "\nThrough the proxy on {proxy}, with curl and OpenBSD netcat's nc -X (Debian and Ubuntu:\n\
         sudo apt install curl netcat-openbsd; macOS has both):\n"
    );
    let lines = [
        (
            format!("nc -N -X 5 -x {proxy} i-0a1b2c3d4e5f60001 22 </dev/null"),
            "web-1's banner, by instance id over SOCKS5",
        ),
        (
            format!("nc -N -X connect -x {proxy} db-1 22 </dev/null"),
            "db-1's banner, by Name tag over HTTP CONNECT",
        ),
        (
            format!("curl -sS --socks5-hostname {proxy} http://web-1:3389/"),
            "a page from web-1 port 3389",
        ),
        (
            format!("curl -sS -p -x http://{proxy} http://ip-10-0-2-20.ec2.internal:3389/"),
            "db-1 by private DNS name (10.0.2.0/24 is pinned to one VPC by a [[route]])",
        ),
        (
            format!("nc -N -X 5 -x {proxy} old-1 22 </dev/null"),
            "refused: old-1 is stopped (see the log)",
        ),
        (
            format!("nc -N -X 5 -x {proxy} 10.0.1.10 22 </dev/null"),
            "refused: 10.0.1.10 is in two VPCs",
        ),
        (
            format!("curl -sS -p -x http://{proxy} http://web-1:8080/"),
            "refused: EICE accepts ports 22 and 3389",
        ),
        (
            format!("curl -sS -p -x http://{proxy} http://locked-1:22/"),
            "refused: locked-1's security group lacks the rule (the log names it; doctor above says which)",
        ),
    ];
    out += &commands(&lines);
    out
}

/// With a real account: `connect` first, since it needs nothing else.
fn real_account() -> String {
    [
        "\nWith a real AWS account, ssh needs nothing but eice-proxy:\n",
        "  ssh -o ProxyCommand='eice-proxy connect %h %p' ec2-user@i-0123456789abcdef0\n",
        "or, through `eice-proxy serve` on 127.0.0.1:1080, with nc from netcat-openbsd:\n",
        "  ssh -o ProxyCommand='nc -X 5 -x 127.0.0.1:1080 %h %p' ec2-user@i-0123456789abcdef0\n",
    ]
    .concat()
}
