//! One `run` per subcommand. This is the program's edge: errors become one
//! line on stderr and an exit status here, nowhere deeper.

mod child;
mod completions;
mod connect;
#[cfg(feature = "demo")]
mod demo;
mod doctor;
mod early;
mod forward;
mod passphrase;
mod presign;
mod rdp;
mod rdp_client;
mod rdp_mstsc;
mod resolve;
mod serve;
mod ssh;
mod ssh_config;
mod status;
#[cfg(unix)]
mod via_serve;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::cli::{AwsArgs, Cli, Command, ConfigArgs};
use crate::config::{self, Config};
use crate::credentials::{self, CredentialCache};
use crate::ec2::{self, ApiUrl, Ec2, EndpointParams};
use crate::eice::{Connector, TunnelSettings};
use crate::keys::KeyPusher;
use crate::net::pool::PoolSettings;
use crate::net::{self, Transport};
use crate::resolve::disk::{self as route_cache, Identity, RouteFile};
use crate::resolve::{Plan, Regional, Resolver, Scope};
use crate::server::Proxy;

/// Runs the command the user asked for; the exit status is success unless
/// it fails, except for `ssh` and `rdp`, whose status is their client's.
///
/// Each command's future is boxed: held side by side in this one future, their
/// deep state machines (accept → resolve → push → open → splice) exceed the
/// compiler's layout depth limit. One allocation per process.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => Box::pin(serve::run(&cli.aws, args)).await,
        Command::Forward(args) => Box::pin(forward::run(&cli.aws, args)).await,
        Command::Connect(args) => Box::pin(connect::run(&cli.aws, args)).await,
        Command::Resolve(args) => Box::pin(resolve::run(&cli.aws, args)).await,
        Command::Presign(args) => Box::pin(presign::run(&cli.aws, args)).await,
        #[cfg(feature = "demo")]
        Command::Demo(args) => Box::pin(demo::run(args)).await,
        Command::Doctor(args) => Box::pin(doctor::run(&cli.aws, args)).await,
        Command::SshConfig(args) => ssh_config::run(&cli.aws, args),
        Command::Ssh(args) => return Box::pin(ssh::run(&cli.aws, args)).await,
        Command::Rdp(args) => return Box::pin(rdp::run(&cli.aws, args)).await,
        Command::Status(args) => Box::pin(status::run(args)).await,
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// The config file that applies: `--config`/`EICE_PROXY_CONFIG`, else the
/// per-user file if there is one.
fn config_path(args: &ConfigArgs) -> Option<PathBuf> {
    args.config
        .clone()
        .or_else(|| config::default_path().filter(|p| p.exists()))
}

/// The config file (or the defaults), with the AWS flags applied over it.
fn load_config(args: &ConfigArgs, aws_args: &AwsArgs) -> anyhow::Result<Config> {
    let mut config = match config_path(args) {
        Some(path) => {
            tracing::debug!("using the config file {}", path.display());
            Config::load(&path)?
        }
        None => Config::default(),
    };
    if !aws_args.regions.is_empty() {
        for region in &aws_args.regions {
            config::region_name(region).map_err(anyhow::Error::msg)?;
        }
        config.regions = aws_args.regions.clone();
    }
    if aws_args.profile.is_some() {
        config.profile = aws_args.profile.clone();
    }
    Ok(config)
}

/// The shared AWS configuration for one profile, insisting on a region
/// (`region`, else the first `--region`, else the environment and profile).
async fn sdk_config(
    aws_args: &AwsArgs,
    settings: &TunnelSettings,
    region: Option<String>,
) -> anyhow::Result<(aws_config::SdkConfig, String)> {
    let region = region.or_else(|| aws_args.regions.first().cloned());
    let sdk =
        credentials::load_sdk_config(region, aws_args.profile.clone(), sdk_http(settings)?).await;
    let Some(region) = sdk.region().map(|r| r.to_string()) else {
        bail!("{NO_REGION}");
    };
    Ok((sdk, region))
}

const NO_REGION: &str = "no AWS region: pass --region, set `regions` in the config file, \
                         or set AWS_REGION or a region in the AWS profile";

/// The tunnel opener, with settings from the environment and timeouts and
/// keepalive from `config`.
fn connector(config: &Config) -> anyhow::Result<Connector> {
    connector_with_pool(config, PoolSettings::OFF)
}

/// [`connector`] with a pool of ready connections.
fn connector_with_pool(config: &Config, pool: PoolSettings) -> anyhow::Result<Connector> {
    let mut settings = settings(config)?;
    settings.open_timeout = std::time::Duration::from_secs(config.timeouts.open);
    settings.keepalive = config.keepalive.settings();
    settings.pool = pool;
    Ok(Connector::new(settings)?)
}

/// One profile's AWS configuration and the credentials cache shared by
/// every region it is used in.
struct ProfileAws {
    profile: Option<String>,
    sdk: aws_config::SdkConfig,
    credentials: Arc<CredentialCache>,
    /// The EC2 API URL the user configured for this profile, if any (checked
    /// to be one when loaded).
    ec2_url: Option<String>,
    /// TCP and TLS to AWS, trusting what the tunnels trust (`AWS_CA_BUNDLE`).
    transport: Transport,
}

impl ProfileAws {
    /// The one of `profiles` that `scope` uses.
    fn of<'a>(profiles: &'a [ProfileAws], scope: &Scope) -> &'a ProfileAws {
        profiles
            .iter()
            .find(|p| p.profile == scope.profile)
            .expect("every scope's profile was loaded")
    }

    /// The EC2 API in `region` with this profile: the configured URL or AWS's
    /// own (FIPS and dual-stack as the profile asks), with the profile's
    /// retry and timeout settings.
    fn ec2(&self, region: &str) -> anyhow::Result<Ec2> {
        let mut settings = ec2::Settings::new(self.ec2_url(region)?, region);
        if let Some(retry) = self.sdk.retry_config() {
            settings.retry = ec2::Retry::from_sdk(retry);
        }
        if let Some(timeouts) = self.sdk.timeout_config() {
            if let Some(connect) = timeouts.connect_timeout() {
                settings.connect_timeout = connect;
            }
            if let Some(attempt) = timeouts.operation_attempt_timeout() {
                settings.attempt_timeout = attempt;
            }
        }
        Ok(Ec2::new(
            settings,
            Arc::clone(&self.credentials),
            self.transport.clone(),
        ))
    }

    /// Whether this profile asks for FIPS endpoints (`use_fips_endpoint`, or
    /// `AWS_USE_FIPS_ENDPOINT` over it, as aws-config reads them): the one
    /// answer the EC2 API and the tunnels both follow.
    fn fips(&self) -> bool {
        self.sdk.use_fips().unwrap_or(false)
    }

    /// The EC2 API URL in `region`: the configured one, or AWS's own, as the
    /// EC2 endpoint rule set chooses (which refuses a configured URL together
    /// with FIPS or dual-stack).
    fn ec2_url(&self, region: &str) -> anyhow::Result<ApiUrl> {
        let params = EndpointParams {
            region: Some(region),
            use_fips: self.fips(),
            use_dual_stack: self.sdk.use_dual_stack().unwrap_or(false),
            endpoint: self.ec2_url.as_deref(),
        };
        ApiUrl::resolve(&params).map_err(|e| {
            let mut text = format!("no EC2 API for {region}: {e}");
            if params.endpoint.is_some() {
                text.push_str(
                    " (the URL is set by AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL or endpoint_url in \
                     the profile; FIPS by AWS_USE_FIPS_ENDPOINT or use_fips_endpoint, dual-stack by \
                     AWS_USE_DUALSTACK_ENDPOINT or use_dualstack_endpoint: unset one)",
                );
            }
            anyhow::anyhow!(text)
        })
    }

    /// The route file of `scope` in `dir`: named for the profile as the
    /// user set it (`--profile`, the config, `AWS_PROFILE`, else `default`),
    /// and holding answers of this EC2 API only.
    fn route_file(
        &self,
        dir: &std::path::Path,
        scope: &Scope,
        config: &Config,
    ) -> anyhow::Result<RouteFile> {
        let identity = Identity {
            profile: profile_name(scope.profile.as_deref()),
            region: scope.region.clone(),
            api: self.ec2_url(&scope.region)?.to_string(),
        };
        Ok(RouteFile::new(dir, identity, &config.cache))
    }

    /// The EC2 Instance Connect API in `region` with this profile.
    fn instance_connect(&self, region: &str) -> aws_sdk_ec2instanceconnect::Client {
        let config = aws_sdk_ec2instanceconnect::config::Builder::from(&self.sdk)
            .region(aws_config::Region::new(region.to_owned()))
            .build();
        aws_sdk_ec2instanceconnect::Client::from_conf(config)
    }
}

/// The scopes `config` needs, and each profile loaded once.
async fn load_aws(config: &Config) -> anyhow::Result<(Plan, Vec<ProfileAws>)> {
    let http = sdk_http(&settings(config)?)?;
    // The profile's own region stands in for an unset `regions`.
    let default_region = match config.regions.first() {
        Some(region) => region.clone(),
        None => credentials::load_sdk_config(None, config.profile.clone(), http.clone())
            .await
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| anyhow::anyhow!("{NO_REGION}"))?,
    };
    let plan = Plan::new(config, &default_region);
    let transport = api_transport(config)?;
    let mut profiles = Vec::new();
    for profile in plan.profiles() {
        let first_region = plan
            .scopes
            .iter()
            .find(|s| s.profile == profile)
            .map(|s| s.region.clone());
        let sdk = credentials::load_sdk_config(first_region, profile.clone(), http.clone()).await;
        let credentials = Arc::new(
            CredentialCache::from_sdk_config(&sdk).for_profile(profile_name(profile.as_deref())),
        );
        let ec2_url = credentials::ec2_endpoint_url(&sdk);
        if let Some(url) = &ec2_url {
            ApiUrl::parse(url).map_err(anyhow::Error::msg)?;
        }
        profiles.push(ProfileAws {
            profile,
            sdk,
            credentials,
            ec2_url,
            transport: transport.clone(),
        });
    }
    Ok((plan, profiles))
}

/// The AWS profile as the user set it (`--profile`, the config,
/// `AWS_PROFILE`), else `default`.
fn profile_name(profile: Option<&str>) -> String {
    profile
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "default".to_owned())
}

/// The tunnels' settings: the environment's, with the config file's
/// `[network]` proxy over it and its `endpoint_dns`.
fn settings(config: &Config) -> anyhow::Result<TunnelSettings> {
    let mut settings = TunnelSettings::from_env().context("bad environment")?;
    let network = &config.network;
    settings.endpoint_dns = network.endpoint_dns;
    settings.proxies = settings
        .proxies
        .with_config(network.proxy.as_deref(), network.no_proxy.as_deref())?;
    settings.proxies.loopback = network.proxy_loopback;
    Ok(settings)
}

/// TCP and TLS to AWS's APIs, with the trust and the proxy the tunnels have.
fn api_transport(config: &Config) -> anyhow::Result<Transport> {
    let settings = settings(config)?;
    let tls = net::client_config(settings.ca_bundle.as_deref())?;
    Ok(Transport::new(tls).with_proxies(settings.proxies))
}

/// The AWS SDK's HTTP client, with the trust and the proxy the tunnels have.
fn sdk_http(settings: &TunnelSettings) -> anyhow::Result<SharedHttpClient> {
    let ca_pem = settings
        .ca_bundle
        .as_ref()
        .map(|path| {
            std::fs::read(path)
                .with_context(|| format!("cannot read AWS_CA_BUNDLE {}", path.display()))
        })
        .transpose()?;
    Ok(net::sdk::http_client(settings.proxies.clone(), ca_pem))
}

/// The resolver and key pusher for `config`: per region and profile, one
/// EC2 client and one EC2 Instance Connect client; one credentials cache per
/// profile; and, when `route_cache` names a directory, one route file.
async fn build_aws(
    config: &Config,
    route_cache: Option<&std::path::Path>,
) -> anyhow::Result<(Resolver, KeyPusher)> {
    let (plan, profiles) = load_aws(config).await?;
    let mut regionals = Vec::new();
    let mut pushers = HashMap::new();
    for scope in &plan.scopes {
        let p = ProfileAws::of(&profiles, scope);
        let mut regional = Regional::new(
            p.ec2(&scope.region)?,
            scope.clone(),
            Arc::clone(&p.credentials),
            config,
        )
        .fips(p.fips());
        if let Some(dir) = route_cache {
            regional = regional.remembering(Arc::new(p.route_file(dir, scope, config)?));
        }
        regionals.push(regional);
        pushers.insert(scope.clone(), p.instance_connect(&scope.region));
    }
    Ok((
        Resolver::new(plan, regionals, config),
        KeyPusher::new(pushers),
    ))
}

/// A proxy for commands that look things up once (`resolve`, `doctor`): resolver, connector, policy; no pool, no route cache.
async fn build_proxy(config: &Config) -> anyhow::Result<Proxy> {
    let (resolver, keys) = build_aws(config, None).await?;
    Proxy::new(resolver, connector(config)?, keys, config)
}

/// `connect`'s and `ssh`'s proxy: one login among many, so the answers of
/// earlier logins are read from the route cache on disk and this one's kept
/// there (unless `[cache] disk = false`, `remember` is false, or there is no
/// cache directory), and a route the cache made is retried once with fresh
/// lookups when its tunnel shows it stale.
async fn build_login_proxy(config: &Config, remember: bool) -> anyhow::Result<Proxy> {
    let dir = (remember && config.cache.disk)
        .then(route_cache::cache_dir)
        .flatten();
    if remember && config.cache.disk && dir.is_none() {
        tracing::debug!("no home directory: the route cache is off");
    }
    let (resolver, keys) = build_aws(config, dir.as_deref()).await?;
    Ok(Proxy::new(resolver, connector(config)?, keys, config)?.retrying_stale_routes())
}

/// [`build_proxy`] for a process that serves tunnels until it is stopped
/// (`serve`, `forward`): its connector keeps ready connections to the
/// endpoints it uses (`[network] pool`). A process that opens one tunnel
/// does without, as the pool would only dial connections it never uses.
async fn build_serving_proxy(config: &Config) -> anyhow::Result<Proxy> {
    let (resolver, keys) = build_aws(config, None).await?;
    let connector = connector_with_pool(config, config.network.pool())?;
    Proxy::new(resolver, connector, keys, config)
}
