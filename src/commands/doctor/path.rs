//! `eice-proxy doctor TARGET[:PORT]`: "why can't I reach it?". The target's
//! route as `resolve` prints it, then each leg of the path checked against
//! the account's security groups and network ACLs ([`crate::diagnose`]),
//! one line per check and, for each failure, the command that fixes it.
//!
//! A target behind a `[[hop]]` has two legs: the proxy to the hop instance's
//! port 22 over EICE, then the hop to the target inside the VPC.

use anyhow::Context as _;

use crate::cli::{AwsArgs, DoctorArgs};
use crate::diagnose;
use crate::ec2::{Ec2, InstanceInfo};
use crate::error::Error;
use crate::reach::{Check, Kind, Status};
use crate::resolve::{Resolution, ResolveError, Way};
use crate::server::Proxy;
use crate::target::{Host, Target};

/// One leg of the path, and its checks.
#[derive(Debug, serde::Serialize)]
struct Leg {
    from: String,
    to: String,
    checks: Vec<Check>,
}

pub(super) async fn run(aws_args: &AwsArgs, args: &DoctorArgs, text: &str) -> anyhow::Result<()> {
    let config = crate::commands::load_config(&args.config, aws_args)?;
    let proxy = crate::commands::build_proxy(&config).await?;
    let target = Target::parse_or_port(text, 22)?;
    let way = match proxy.way(&target).await {
        Ok(way) => Some(way),
        Err(e) => match unresolved(&proxy, &target, &e).await {
            Some((route, leg)) => {
                return report(args.json, &target, route, vec![leg]);
            }
            None => return Err(e).with_context(|| format!("cannot resolve {target}")),
        },
    };
    let (route, legs) = match way.expect("resolved") {
        Way::Direct(resolution) => {
            let route = crate::commands::resolve::report(&target, &resolution);
            (route, vec![endpoint_leg(&proxy, &resolution).await?])
        }
        Way::Hop(hop_route) => {
            let name = proxy.hop_name(&hop_route);
            let route = crate::commands::resolve::report_hop(&target, &hop_route, name);
            let (hop_resolution, _) = proxy
                .locate_hop(proxy.hop_of(&hop_route))
                .await
                .with_context(|| format!("cannot resolve the hop {name}"))?;
            let first = endpoint_leg(&proxy, &hop_resolution).await?;
            let hop = instance(&proxy, &hop_resolution).await?;
            let target_instance = match &hop_route.resolution {
                Some(r) => proxy.resolver().instance_of(r).await.ok().flatten(),
                None => None,
            };
            let second = match (&hop, target_instance) {
                (Some(hop), Some(to)) => Leg {
                    from: hop.id.clone(),
                    to: format!("{} port {}", to.id, hop_route.port),
                    checks: diagnose::check_hop_leg(
                        ec2(&proxy, &hop_resolution)?,
                        &hop_resolution.scope.region,
                        hop,
                        &to,
                        hop_route.port,
                    )
                    .await,
                },
                _ => beyond_the_api(hop.as_deref(), &hop_route.host, hop_route.port),
            };
            (route, vec![first, second])
        }
    };
    report(args.json, &target, route, legs)
}

/// Prints the route and the legs' checks (or them all as JSON); fails when
/// any check failed.
fn report(json: bool, target: &Target, route: String, legs: Vec<Leg>) -> anyhow::Result<()> {
    let failures = legs
        .iter()
        .flat_map(|l| &l.checks)
        .filter(|c| c.status == Status::Fail)
        .count();
    if json {
        let doc = serde_json::json!({
            "target": target.to_string(),
            "route": route.lines().collect::<Vec<_>>(),
            "legs": legs,
            "failures": failures,
        });
        println!("{doc:#}");
    } else {
        print!("{route}");
        for leg in &legs {
            println!("\npath        {} → {}", leg.from, leg.to);
            for check in &leg.checks {
                print_check(check);
            }
        }
    }
    match failures {
        0 => Ok(()),
        n => anyhow::bail!(
            "{n} rule{} on the path to {target} block{} it",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" }
        ),
    }
}

/// When the resolver refuses a target for a reason the path checks explain
/// (a stopped instance, no usable endpoint, an address family), the facts are
/// read directly, so that the checks say which line fails and how to fix it.
async fn unresolved(proxy: &Proxy, target: &Target, error: &Error) -> Option<(String, Leg)> {
    let named = match error {
        Error::Resolve(ResolveError::WrongFamily { endpoint, .. }) => Some(endpoint.as_str()),
        Error::Resolve(
            ResolveError::NotRunning { .. }
            | ResolveError::NoneRunning { .. }
            | ResolveError::NoEndpoint { .. },
        ) => None,
        _ => return None,
    };
    for regional in proxy.resolver().regionals() {
        let ec2 = regional.ec2();
        let found = match &target.host {
            Host::InstanceId(id) => ec2.instance(id).await.ok().flatten().into_iter().collect(),
            Host::Name(name) => ec2.by_name(name).await.unwrap_or_default(),
            Host::Ip(ip) => ec2.holding(*ip).await.unwrap_or_default(),
            Host::PrivateDns { ip, .. } => ec2.holding((*ip).into()).await.unwrap_or_default(),
        };
        let Some(instance) = found.into_iter().next() else {
            continue;
        };
        let route = format!(
            "target      {target}\ninstance    {} ({})\nregion      {}\nroute       none: {error}\n",
            instance.id,
            instance.state,
            regional.scope()
        );
        let vpc = instance.vpc_id.clone().unwrap_or_default();
        let endpoints = ec2.every_endpoint().await.ok()?;
        let in_vpc: Vec<_> = endpoints.iter().filter(|e| e.vpc_id == vpc).collect();
        let chosen = match named {
            Some(id) => in_vpc.iter().find(|e| e.id == id),
            None => in_vpc
                .iter()
                .find(|e| e.subnet_id == instance.subnet_id)
                .or(in_vpc.first()),
        };
        let to = format!("{} port {}", instance.id, target.port);
        let Some(endpoint) = chosen else {
            let subnet = instance.subnet_id.as_deref().unwrap_or("SUBNET_ID");
            let check = Check::fail(
                Kind::State,
                format!("endpoint in {vpc}"),
                "the VPC has no EC2 Instance Connect Endpoint",
                format!(
                    "aws ec2 create-instance-connect-endpoint --region {} --subnet-id {subnet}",
                    regional.region()
                ),
            );
            let leg = Leg {
                from: "(no endpoint)".into(),
                to,
                checks: vec![check],
            };
            return Some((route, leg));
        };
        let addr = match &target.host {
            Host::Ip(ip) => Some(*ip),
            _ => None,
        };
        let checks = diagnose::check_path(
            ec2,
            regional.region(),
            endpoint,
            &instance,
            addr,
            target.port,
        )
        .await;
        let leg = Leg {
            from: endpoint.id.clone(),
            to,
            checks,
        };
        return Some((route, leg));
    }
    None
}

/// The EICE leg of `resolution`: its endpoint to its instance's port.
async fn endpoint_leg(proxy: &Proxy, resolution: &Resolution) -> anyhow::Result<Leg> {
    let port = resolution.tunnel().port;
    let endpoint = &resolution.endpoint;
    let Some(instance) = instance(proxy, resolution).await? else {
        let ip = resolution.tunnel().private_ip;
        return Ok(Leg {
            from: endpoint.id.clone(),
            to: format!("{ip} port {port}"),
            checks: vec![Check::fail(
                Kind::State,
                format!("address {ip}"),
                format!("no running instance holds it in {}", resolution.vpc_id),
                "check the address, or start the instance that holds it",
            )],
        });
    };
    let checks = diagnose::check_path(
        ec2(proxy, resolution)?,
        &resolution.scope.region,
        endpoint,
        &instance,
        Some(resolution.tunnel().private_ip),
        port,
    )
    .await;
    Ok(Leg {
        from: endpoint.id.clone(),
        to: format!("{} port {port}", instance.id),
        checks,
    })
}

async fn instance(
    proxy: &Proxy,
    resolution: &Resolution,
) -> anyhow::Result<Option<std::sync::Arc<InstanceInfo>>> {
    proxy
        .resolver()
        .instance_of(resolution)
        .await
        .context("cannot look up the instance")
}

fn ec2<'a>(proxy: &'a Proxy, resolution: &Resolution) -> anyhow::Result<&'a Ec2> {
    proxy
        .resolver()
        .ec2_of(&resolution.scope)
        .with_context(|| format!("no EC2 client for {}", resolution.scope))
}

/// A hop's target that is not an instance (an RDS address, a load
/// balancer): what lies between them is not read, and the line says so.
fn beyond_the_api(hop: Option<&InstanceInfo>, host: &str, port: u16) -> Leg {
    let (from, source) = match hop {
        Some(hop) => {
            let addr = hop
                .address()
                .map_or("its address".into(), |a| a.to_string());
            let groups = if hop.security_groups.is_empty() {
                String::new()
            } else {
                format!(" or its security groups {}", hop.security_groups.join(","))
            };
            (hop.id.clone(), format!("the hop {addr}{groups}"))
        }
        None => ("the hop".into(), "the hop".into()),
    };
    Leg {
        from,
        to: format!("{host} port {port}"),
        checks: vec![Check::undecided(
            Kind::InstanceIngress,
            format!("{host} inbound tcp {port}"),
            format!(
                "{host} is not an instance the EC2 API knows, so the rules in front of it (an RDS or \
             load balancer security group, a firewall) are not read here: they must admit tcp \
             {port} from {source}"
            ),
        )],
    }
}

fn print_check(check: &Check) {
    let mark = match check.status {
        Status::Ok => "✓",
        Status::Unknown => "?",
        Status::Fail => "✗",
    };
    println!("  {mark} {}: {}", check.what, check.detail);
    if let Some(fix) = &check.fix {
        println!("      fix: {fix}");
    }
}
