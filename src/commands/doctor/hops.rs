//! Each `[[hop]]` doctor checks: its key, its instance and endpoint, and
//! what is recorded of its host key.

use super::{Report, Status};
use crate::config::{Config, StrictHostKeyChecking, WhenFull};
use crate::hop::{Expected, HostKeys};

/// Each `[[hop]]`: its key loads, and its instance is found with the
/// endpoint that reaches it. Logging in needs a tunnel, which doctor does
/// not open; the first stream through the hop shows the rest.
pub(super) async fn check_hops(report: &mut Report, config: &Config) {
    if config.hops.is_empty() {
        return;
    }
    let proxy = match super::super::build_proxy(config).await {
        Ok(proxy) => proxy,
        Err(e) => {
            report.line(Status::Fail, "hops", format!("{e:#}"));
            return;
        }
    };
    for hop in proxy.hops() {
        let check = format!("hop {}", hop.name());
        match proxy.locate_hop(hop).await {
            Ok((r, id)) => {
                report.line(
                    Status::Ok,
                    &check,
                    format!(
                        "{id} in {} through {}, as {} with {}",
                        r.vpc_id,
                        r.endpoint.id,
                        hop.config.os_user,
                        hop.identity()
                    ),
                );
                check_hop_host_key(report, hop.host_keys(), &id);
            }
            Err(e) => {
                report.line(Status::Fail, &check, e);
                report.fix("set the hop's `instance` to a running instance's id or Name tag");
            }
        }
    }
}

/// What a connection does when its endpoint's tunnels are all in use, and
/// which VPCs have a hop to overflow onto (`[limits] when_full`).
pub(super) fn check_overflow(report: &mut Report, config: &Config) {
    let limits = &config.limits;
    let wait = format!(
        "wait in line up to {:.0}s (limits.queue_wait), then are refused",
        limits.queue_wait.as_secs_f64()
    );
    let served: Vec<String> = config
        .hops
        .iter()
        .map(|h| {
            let mut what: Vec<String> = h.vpc.iter().cloned().collect();
            what.extend(h.cidrs.iter().map(|c| c.to_string()));
            if h.default {
                what.push("every other VPC (default)".to_owned());
            }
            format!("hop {} serves {}", h.name, what.join(", "))
        })
        .filter(|line| !line.ends_with("serves "))
        .collect();
    let limit = limits.tunnels_per_endpoint;
    let (status, text) = match (limits.when_full, served.is_empty()) {
        (Some(WhenFull::Refuse), _) => (
            Status::Warn,
            format!(
                "connections that find an endpoint's {limit} tunnels in use are refused at once (when_full = \"refuse\")"
            ),
        ),
        (Some(WhenFull::Wait), _) | (None, true) => (
            Status::Ok,
            format!(
                "connections that find an endpoint's {limit} tunnels in use {wait}; no hop to overflow onto{}",
                if served.is_empty() {
                    ""
                } else {
                    " (when_full = \"wait\")"
                }
            ),
        ),
        (_, true) => (
            Status::Warn,
            format!(
                "when_full = \"hop\", but no [[hop]] serves a VPC: connections that find an endpoint full {wait}"
            ),
        ),
        (_, false) => (
            Status::Ok,
            format!(
                "connections that find an endpoint's {limit} tunnels in use go through the hop serving their VPC ({}); in any other VPC they {wait}",
                served.join("; ")
            ),
        ),
    };
    report.line(status, "when an endpoint is full", text);
}

/// Where the hop `id`'s host key is recorded, or what happens on first use.
fn check_hop_host_key(report: &mut Report, keys: &HostKeys, id: &str) {
    let check = format!("host key of {id}");
    match keys.expect(id) {
        Ok(Expected {
            pinned: Some(recorded),
            ..
        }) => report.line(Status::Ok, &check, format!("{recorded}")),
        Ok(_) if keys.strict == StrictHostKeyChecking::Yes => {
            report.line(
                Status::Fail,
                &check,
                "none recorded, and strict_host_key_checking = \"yes\" forbids learning it",
            );
            report.fix(format!(
                "record the instance's key as a line `{id} TYPE KEY` in {} or ~/.ssh/known_hosts \
                 (the first refused stream prints the exact line)",
                keys.own_file.display()
            ));
        }
        Ok(_) => report.line(
            Status::Warn,
            &check,
            format!(
                "none recorded: the first connection trusts the key it is shown and records it in {}",
                keys.own_file.display()
            ),
        ),
        Err(e) => {
            report.line(Status::Fail, &check, e.to_string());
            report.fix("correct or remove the known_hosts line named");
        }
    }
}
