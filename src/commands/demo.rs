//! `eice-proxy demo`: the proxy in front of a simulated AWS account, for a
//! first run with no AWS account at all.
//!
//! The simulated EC2 API and EICE service (over TLS, with a throwaway CA) run
//! in this process, with stand-ins for the instances of the demo world; the
//! proxy is the real one, configured to use them. It prints commands to paste.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use eice_sim::account::SimAws;
use eice_sim::eice::{EXAMPLE_ACCESS_KEY_ID, EXAMPLE_SECRET_ACCESS_KEY};
use eice_sim::sshd::{SimSshd, pushed_keys_dir};
use eice_sim::world::World;

use crate::cli::DemoArgs;
use crate::config::Config;
use crate::credentials::CredentialCache;
use crate::ec2::{self, ApiUrl, Ec2};
use crate::eice::{Connector, EndpointOverride, TunnelSettings};
use crate::keys::KeyPusher;
use crate::net::{self, Transport};
use crate::resolve::{Plan, Regional, Resolver};
use crate::server::{self, Proxy};

pub(super) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let aws = SimAws::start_regions(vec![World::demo(), World::demo_eu()], true)
        .await
        .context("starting the simulated AWS")?;
    let ca = CaFile::write(aws.eice.ca_pem().expect("the demo serves TLS"))?;
    let config = Config::parse(DEMO_CONFIG).map_err(anyhow::Error::msg)?;
    let proxy = Arc::new(demo_proxy(&aws, &ca, &config)?);
    // A real sshd behind eu-web-1 that trusts only pushed keys, where this
    // machine can run one.
    let sshd = if SimSshd::available() {
        Some(
            real_sshd(&aws)
                .await
                .context("starting sshd for eu-web-1")?,
        )
    } else {
        None
    };

    let listener = server::bind(args.listen, false).await?;
    let listen = listener.local_addr()?;
    println!(
        "{}",
        guide(&aws, &listen.to_string(), &ca.0, sshd.is_some())
    );
    tracing::info!(
        "listening on {listen} for SOCKS5 and HTTP CONNECT (simulated us-east-1 and eu-west-1)"
    );
    let listeners = vec![server::Listener {
        socket: listener,
        front: server::Front::Proxy,
    }];
    server::run(listeners, proxy, super::serve::shutdown_signal()).await;
    Ok(())
}

/// The real proxy, its clients pointed at the simulated account.
fn demo_proxy(aws: &SimAws, ca: &CaFile, config: &Config) -> anyhow::Result<Proxy> {
    let credentials = Credentials::new(
        EXAMPLE_ACCESS_KEY_ID,
        EXAMPLE_SECRET_ACCESS_KEY,
        None,
        None,
        "demo",
    );
    let settings = TunnelSettings {
        endpoint_override: Some(EndpointOverride::parse(&aws.eice.url())?),
        ca_bundle: Some(ca.0.clone()),
        ..TunnelSettings::default()
    };
    let signing = Arc::new(CredentialCache::fixed(credentials.clone()));
    let api = Transport::new(net::client_config(Some(&ca.0))?);
    let plan = Plan::new(config, &aws.world.region);
    let mut regionals = Vec::new();
    let mut pushers = HashMap::new();
    for scope in &plan.scopes {
        let region = aws_config::Region::new(scope.region.clone());
        let ec2 = ec2::Settings::new(
            ApiUrl::parse(&aws.ec2.url()).map_err(anyhow::Error::msg)?,
            &scope.region,
        );
        regionals.push(Regional::new(
            Ec2::new(ec2, Arc::clone(&signing), api.clone()),
            scope.clone(),
            Arc::clone(&signing),
            config,
        ));
        let eic = aws_sdk_ec2instanceconnect::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .endpoint_url(aws.ec2.url())
            .credentials_provider(credentials.clone())
            .build();
        pushers.insert(
            scope.clone(),
            aws_sdk_ec2instanceconnect::Client::from_conf(eic),
        );
    }
    Proxy::new(
        Resolver::new(plan, regionals, config),
        Connector::new(settings)?,
        KeyPusher::new(pushers),
        config,
    )
}

/// The instance whose port 22 is a real sshd, and its address.
const SSHD_INSTANCE: (&str, &str, &str) = ("i-0e1a2b3c4d5e60001", "eu-web-1", "10.20.1.10:22");

/// Starts sshd for [`SSHD_INSTANCE`].
async fn real_sshd(aws: &SimAws) -> anyhow::Result<(tempfile::TempDir, SimSshd)> {
    let (id, label, address) = SSHD_INSTANCE;
    let dir = pushed_keys_dir("eice-proxy-demo-sshd-")?;
    let mut sshd = SimSshd::with_pushed_keys(dir.path(), &aws.ec2.url(), id)?;
    let local = sshd.listen(label).await?;
    aws.eice
        .add_target(address.parse().expect("a socket address"), local);
    Ok((dir, sshd))
}

/// The demo's config file: two regions, and one `[[route]]` rule.
const DEMO_CONFIG: &str = "regions = [\"us-east-1\", \"eu-west-1\"]\n\
                           [[route]]\ncidr = \"10.0.2.0/24\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\n";

/// The demo CA written where the AWS CLI convention (`AWS_CA_BUNDLE`) can
/// name it; removed when the demo ends.
struct CaFile(PathBuf);

impl CaFile {
    fn write(pem: &str) -> anyhow::Result<CaFile> {
        let dir = std::env::temp_dir().join(format!("eice-proxy-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("ca.pem");
        std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
        Ok(CaFile(path))
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What the newcomer reads: the simulated account and commands to paste.
fn guide(aws: &SimAws, proxy: &str, ca: &std::path::Path, sshd: bool) -> String {
    let mut out = String::from(
        "eice-proxy demo: the proxy in front of a simulated AWS account on this machine.\n\n",
    );
    out += &format!("  proxy       {proxy} (SOCKS5 and HTTP CONNECT)\n");
    out += &format!("  EC2 API     {} (simulated)\n", aws.ec2.url());
    out += &format!("  EICE        {} (simulated, TLS)\n\n", aws.eice.url());
    out += "  instances   (port 22 answers with an SSH banner and echoes; port 3389 serves a web page)\n";
    for world in &aws.worlds {
        for i in &world.instances {
            let real = sshd && i.id == SSHD_INSTANCE.0;
            out += &format!(
                "              {}  {:<10} {:<11} {:<10} {}{}\n",
                i.id,
                i.name.as_deref().unwrap_or("-"),
                i.private_ip,
                world.region,
                i.state.as_str(),
                if real {
                    "  (port 22: a real sshd that trusts only pushed keys)"
                } else {
                    ""
                }
            );
        }
    }
    out += "\nPaste these into another terminal:\n";
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
            "refused: locked-1's security group lacks the rule (the log names it; see doctor below)",
        ),
    ];
    for (command, what) in lines {
        out += &format!("  {command}\n      # {what}\n");
    }
    out += "\nThe one-shot commands work against it too, with this environment:\n";
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
    out += "  eice-proxy resolve web-1 db-1 i-0a1b2c3d4e5f60001\n";
    out += "  eice-proxy connect web-1 22 </dev/null\n";
    out += "  eice-proxy doctor locked-1\n      \
            # why locked-1 is refused: each rule on the path, and the command that adds the missing one\n";
    if sshd {
        out += &format!(
            "  eice-proxy ssh -l root {} -- -o BatchMode=yes -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR 'echo logged in to $INSTANCE'\n      \
             # no key set up: a key is pushed with EC2 Instance Connect, then ssh logs in (eu-west-1)\n",
            SSHD_INSTANCE.1
        );
    }
    out += "\nWith a real AWS account, `eice-proxy serve` is the command, and ssh uses it like this:\n";
    out += "  ssh -o ProxyCommand='nc -X 5 -x 127.0.0.1:1080 %h %p' ec2-user@i-0123456789abcdef0\n";
    out += "\nThe proxy's log follows. Ctrl-C stops the demo.";
    out
}
