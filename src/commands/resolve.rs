//! `eice-proxy resolve TARGET…`: how each target would be reached, and who
//! answered each lookup (the EC2 API, the cache, or the config file). Later
//! targets in one call show the cache at work.

use anyhow::Context as _;

use crate::cli::{AwsArgs, ResolveArgs};
use crate::resolve::{HopRoute, Lookups, Resolution, Source, Way};
use crate::target::Target;

pub(super) async fn run(aws_args: &AwsArgs, args: ResolveArgs) -> anyhow::Result<()> {
    let config = super::load_config(&args.config, aws_args)?;
    let proxy = super::build_proxy(&config).await?;
    for (i, text) in args.targets.iter().enumerate() {
        // The port defaults to 22: `resolve web-1` asks where ssh would go.
        let target = Target::parse_or_port(text, 22)?;
        let way = proxy
            .way(&target)
            .await
            .with_context(|| format!("cannot resolve {target}"))?;
        if i > 0 {
            println!();
        }
        match way {
            Way::Direct(resolution) => print!("{}", report(&target, &resolution)),
            Way::Hop(route) => print!("{}", report_hop(&target, &route, proxy.hop_name(&route))),
        }
    }
    Ok(())
}

/// A target reached through a hop: which hop, why, what it connects to, and
/// the target's own route when it was looked up.
pub(super) fn report_hop(target: &Target, route: &HopRoute, hop: &str) -> String {
    let mut out = format!("target      {target}\n");
    out += &format!("via hop     {hop} ({})\n", route.why);
    out += &format!("hop opens   {}:{}\n", route.host, route.port);
    if let Some(r) = &route.resolution {
        if let Some(i) = &r.instance {
            out += &format!("instance    {}\n", i.id);
        }
        out += &format!("region      {}\nvpc         {}\n", r.scope, r.vpc_id);
    }
    out += &answered_by(&route.lookups);
    out
}

pub(super) fn report(target: &Target, r: &Resolution) -> String {
    let request = r.tunnel();
    let mut out = format!("target      {target}\n");
    if let Some(i) = &r.instance {
        let name = i
            .name
            .as_deref()
            .map(|n| format!("{n}, "))
            .unwrap_or_default();
        out += &format!("instance    {} ({name}{})\n", i.id, i.state);
    }
    out += &format!("private ip  {}\n", request.private_ip);
    out += &format!("region      {}\n", r.scope);
    out += &format!("vpc         {}\n", r.vpc_id);
    if let Some(subnet) = r.instance.as_ref().and_then(|i| i.subnet_id.as_deref()) {
        out += &format!("subnet      {subnet}\n");
    }
    let e = &r.endpoint;
    out += &format!(
        "endpoint    {} ({}, {}, {})\n",
        e.id,
        e.subnet_id.as_deref().unwrap_or("?"),
        e.availability_zone.as_deref().unwrap_or("?"),
        e.family
    );
    out += &format!("dns name    {}\n", e.dns_name);
    out += &answered_by(&r.lookups);
    out
}

/// `answered by instance: EC2 API, endpoints: cache, …`.
fn answered_by(lookups: &Lookups) -> String {
    let lookups: Vec<String> = lookups
        .iter()
        .map(|(what, source)| {
            let source = match source {
                Source::Api => "EC2 API",
                Source::Cache => "cache",
                Source::Disk => "route cache file",
                Source::Config => "config",
            };
            format!("{what}: {source}")
        })
        .collect();
    format!("answered by {}\n", lookups.join(", "))
}
