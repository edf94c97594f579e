//! `eice-proxy demo`: the proxy in front of a simulated AWS account, for a
//! first run with no AWS account at all.
//!
//! The simulated EC2 API and EICE service (over TLS, with a throwaway CA) run
//! in this process, with stand-ins for the instances of the demo world; the
//! proxy is the real one, configured to use them. It prints commands to paste.
//!
//! Every local user can reach what the demo serves on 127.0.0.1, so nothing in
//! it may be reached with what anyone knows: the account takes one random key
//! pair made for this run (printed in the guide's export line, never the public
//! documentation pair), a real sshd logs in only an unprivileged user made for
//! the run (never root), and the simulated Instance Connect takes keys for that
//! user alone. Its files live in a private directory ([`files`]).

mod files;
mod guide;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use eice_sim::account::SimAws;
use eice_sim::sshd::{SimSshd, ThrowawayUser, pushed_keys_dir};
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
use files::DemoDir;

pub(super) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let aws = SimAws::start_private(vec![World::demo(), World::demo_eu()], true)
        .await
        .context("starting the simulated AWS")?;
    let dir = DemoDir::create_in(&std::env::temp_dir())
        .context("creating the demo's private directory")?;
    let ca = dir
        .write_new(
            "ca.pem",
            aws.eice.ca_pem().expect("the demo serves TLS").as_bytes(),
        )
        .context("writing the demo's CA file")?;
    // win-1's launch key, for `rdp --key` to decrypt its password with.
    let windows_key = dir
        .write_new(
            "eice-sim-windows.pem",
            eice_sim::world::windows::LAUNCH_KEY_PEM.as_bytes(),
        )
        .context("writing the demo's Windows launch key")?;
    let config = Config::parse(DEMO_CONFIG).map_err(anyhow::Error::msg)?;
    let proxy = Arc::new(demo_proxy(&aws, &ca, &config)?);
    // A real sshd behind eu-web-1 that trusts only pushed keys, where this
    // machine can run one (as root: see `RealSshd`).
    let sshd = if SimSshd::available() {
        Some(
            RealSshd::start(&aws)
                .await
                .context("starting sshd for eu-web-1")?,
        )
    } else {
        None
    };
    let user = sshd.as_ref().map(|s| s.user.name());
    // Keys are taken for the sshd's one user alone; with no sshd, for no one.
    aws.ec2.keys().allow_only_os_users(user);

    let listener = server::bind(args.listen, false).await?;
    let listen = listener.local_addr()?;
    println!(
        "{}",
        guide::guide(&aws, &listen.to_string(), &ca, &windows_key, user)
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
fn demo_proxy(aws: &SimAws, ca: &Path, config: &Config) -> anyhow::Result<Proxy> {
    let key = aws.access_key();
    let credentials = Credentials::new(&key.id, &key.secret, None, None, "demo");
    let settings = TunnelSettings {
        endpoint_override: Some(EndpointOverride::parse(&aws.eice.url())?),
        ca_bundle: Some(ca.to_owned()),
        ..TunnelSettings::default()
    };
    let signing = Arc::new(CredentialCache::fixed(credentials.clone()));
    let api = Transport::new(net::client_config(Some(ca))?);
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

/// A real sshd for [`SSHD_INSTANCE`] that logs in a throwaway unprivileged user
/// alone. sshd runs a key command only as root, so the demo has one only when
/// run as root, and then must not log in the user it runs as: it makes one.
/// Fields drop in order: the server, its directory, then the user.
struct RealSshd {
    _server: SimSshd,
    _dir: tempfile::TempDir,
    /// The one user it logs in, removed when the demo ends.
    user: ThrowawayUser,
}

impl RealSshd {
    async fn start(aws: &SimAws) -> anyhow::Result<RealSshd> {
        let (id, label, address) = SSHD_INSTANCE;
        let user = ThrowawayUser::create("eice-demo-").context("creating the demo's user")?;
        // The pid tells this run's directory from another demo's.
        let dir = pushed_keys_dir(&format!("eice-proxy-demo-sshd-{}-", std::process::id()))?;
        let mut server = SimSshd::with_pushed_keys(dir.path(), &aws.ec2.url(), id)?;
        server.only_user(user.name())?;
        let local = server.listen(label).await?;
        aws.eice
            .add_target(address.parse().expect("a socket address"), local);
        Ok(RealSshd {
            _server: server,
            _dir: dir,
            user,
        })
    }
}

/// The demo's config file: two regions, and one `[[route]]` rule.
const DEMO_CONFIG: &str = "regions = [\"us-east-1\", \"eu-west-1\"]\n\
                           [[route]]\ncidr = \"10.0.2.0/24\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\n";
