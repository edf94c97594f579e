//! `eice-proxy rdp TARGET [-- CLIENT_ARGS…]`: a Windows desktop in one
//! command, as `ssh` is for Linux. It finds the instance, fetches and
//! decrypts its Administrator password (`--key`, or the first matching
//! `[[rdp]]` rule's key), opens a `forward` port on a free loopback port to
//! TARGET:3389 (straight through EICE, or through the hop a route names),
//! starts the platform's RDP client on it ([`super::rdp_client`]), and
//! closes the port when the client exits.
//!
//! The password is never logged (it is held in a zeroizing string that has
//! no `Debug`), never written to a file that outlives the session, and never
//! put on a command line: FreeRDP reads it from stdin; other clients are
//! shown it on the terminal.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use zeroize::Zeroizing;

use super::rdp_client::{Client, Login};
use crate::cli::{AwsArgs, RdpArgs};
use crate::config::{Config, ForwardRule, first_match};
use crate::ec2::{Ec2, InstanceInfo};
use crate::password::{self, LaunchKey};
use crate::resolve::{Scope, Way};
use crate::server::{self, Proxy};
use crate::target::{Host, Target};

/// The port RDP listens on, and EICE carries.
const RDP_PORT: u16 = 3389;

/// The user a Windows instance's fetched password belongs to.
const ADMINISTRATOR: &str = "Administrator";

pub(super) async fn run(aws_args: &AwsArgs, args: RdpArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(&args.config, aws_args)?;
    let target = Target {
        host: Host::parse(&args.target)?,
        port: RDP_PORT,
    };
    let proxy = Arc::new(super::build_login_proxy(&config, true).await?);
    let login = match &args.user {
        Some(user) => Login {
            user: user.clone(),
            password: None,
        },
        None => {
            let (instance, scope) = instance_of(&proxy, &target).await?;
            let ec2 = proxy
                .resolver()
                .ec2_of(&scope)
                .context("no EC2 API for the instance's region")?;
            let password = fetch_password(ec2, &config, &instance, args.key.as_deref())
                .await
                .with_context(|| format!("cannot get the Windows password of {}", instance.id))?;
            Login {
                user: ADMINISTRATOR.to_owned(),
                password: Some(password),
            }
        }
    };
    let rule = ForwardRule {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        target: target.clone(),
        allow_remote: false,
    };
    let listener = server::bind_forward(&rule).await?;
    let address = listener.socket.local_addr()?;
    tracing::info!("forwarding {address} → {target}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::run(vec![listener], Arc::clone(&proxy), async {
        let _ = stopped.await;
    }));
    let status = if args.print {
        print_login(address, &login);
        super::serve::shutdown_signal().await;
        0
    } else {
        let client = Client::choose(args.client.as_deref())?;
        client.run(address, &login, &args.client_args).await?
    };
    let _ = stop.send(());
    let _ = serving.await;
    if status != 0 && refused(&proxy) {
        eprintln!(
            "eice-proxy: the tunnel to {target} was refused (the log above says why); \
             `eice-proxy doctor {}:{RDP_PORT}` checks the path to it",
            args.target
        );
    }
    drop(login); // zeroizes the password
    Ok(ExitCode::from(status))
}

/// The instance behind `target`, whichever way it is reached, and the
/// region and profile that found it.
async fn instance_of(proxy: &Proxy, target: &Target) -> anyhow::Result<(InstanceInfo, Scope)> {
    let way = proxy
        .way(target)
        .await
        .with_context(|| format!("cannot resolve {target}"))?;
    let resolution = match way {
        Way::Direct(resolution) => Some(resolution),
        Way::Hop(route) => route.resolution,
    };
    let found = match resolution {
        Some(resolution) => proxy
            .resolver()
            .instance_of(&resolution)
            .await?
            .map(|i| ((*i).clone(), resolution.scope)),
        None => None,
    };
    found.ok_or_else(|| {
        anyhow::anyhow!(
            "no instance found behind {target}, so there is no Windows password to fetch: \
             pass --user USER and type the password into the client"
        )
    })
}

/// The instance's password, decrypted with `--key` or the key of the first
/// `[[rdp]]` rule covering it.
async fn fetch_password(
    ec2: &Ec2,
    config: &Config,
    instance: &InstanceInfo,
    key: Option<&Path>,
) -> anyhow::Result<Zeroizing<String>> {
    // Said before any key is asked for or read.
    if !instance.is_windows() {
        return Err(password::PasswordError::NotWindows {
            id: instance.id.clone(),
        }
        .into());
    }
    let ip = instance
        .address()
        .unwrap_or(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let path = match key {
        Some(path) => crate::config::expand_home(path),
        None => match first_match(&config.rdp_rules, instance, ip) {
            Some(rule) => rule.key.clone(),
            None => bail!(
                "no key to decrypt the password of {} with: pass --key KEY.pem (the .pem of key \
                 pair {}), or add an [[rdp]] rule with key = \"…\" for it",
                instance.id,
                instance.key_name.as_deref().unwrap_or("(unnamed)")
            ),
        },
    };
    let key = LaunchKey::read(&path, super::passphrase::ask)?;
    Ok(password::fetch(ec2, instance, &key).await?)
}

/// Whether any connection to the port was refused, or its tunnel closed
/// before the instance answered (the log said why).
fn refused(proxy: &Proxy) -> bool {
    proxy.metrics().unreached() > 0
        || proxy.metrics().render().lines().any(|line| {
            line.starts_with("eice_proxy_connections_total")
                && line.contains("outcome=\"refused_")
                && !line.ends_with(" 0")
        })
}

/// `--print`: what a client this command cannot start needs, on stdout.
fn print_login(address: SocketAddr, login: &Login) {
    println!("address   {address}");
    println!("user      {}", login.user);
    if let Some(password) = &login.password {
        println!("password  {}", password.as_str());
    }
    println!("(the port stays open until Ctrl-C)");
}
