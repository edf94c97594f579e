//! Checks that run while the config file is deserialized.
//!
//! A value refused here is refused by serde, inside toml's deserializer, so
//! the message names the key and the line it is on ("TOML parse error at line
//! 3 … max_tunnel_duration must be …"); a check after loading could only
//! name the key.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::{RouteRule, Via};

/// `max_tunnel_duration`: what EICE accepts, 1 to 3600 seconds.
pub(super) fn tunnel_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let seconds = i64::deserialize(d)?;
    if !(1..=3600).contains(&seconds) {
        return Err(de::Error::custom(format!(
            "max_tunnel_duration must be 1 to 3600 seconds (EICE's limits), got {seconds}"
        )));
    }
    Ok(Some(seconds as u32))
}

/// A duration or a count that must be at least 1.
pub(super) fn positive<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let value = i64::deserialize(d)?;
    if value < 1 {
        return Err(de::Error::custom(format!(
            "must be at least 1, got {value}"
        )));
    }
    T::try_from(value).map_err(|_| de::Error::custom(format!("{value} is too large")))
}

/// A time in seconds, fractions allowed: `[keepalive] interval = 0.5`. Zero
/// is allowed where it means "off"; `timeout` refuses it itself.
pub(super) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let seconds = f64::deserialize(d)?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| de::Error::custom(format!("must be 0 or more seconds, got {seconds}")))
}

/// A time in seconds, fractions allowed, more than 0.
pub(super) fn positive_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let duration = seconds(d)?;
    if duration.is_zero() {
        return Err(de::Error::custom("must be more than 0 seconds"));
    }
    Ok(duration)
}

/// `[network] pool`: a few connections per endpoint, not a fleet (EICE
/// takes 20 tunnels per endpoint; ready connections are for the next few).
pub(super) fn pool_size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let size = i64::deserialize(d)?;
    if !(0..=8).contains(&size) {
        return Err(de::Error::custom(format!(
            "pool must be 0 (off) to 8 connections per endpoint, got {size}"
        )));
    }
    Ok(size as usize)
}

/// `allowed_ports`: real ports, no 0.
pub(super) fn ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
    let ports = Vec::<i64>::deserialize(d)?;
    ports
        .into_iter()
        .map(|p| match u16::try_from(p) {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(de::Error::custom(format!(
                "allowed_ports: {p} is not a port (1-65535)"
            ))),
        })
        .collect()
}

/// `regions`: region names, each once.
pub(super) fn regions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let regions = Vec::<String>::deserialize(d)?;
    let mut seen = Vec::with_capacity(regions.len());
    for region in regions {
        region_name(&region).map_err(de::Error::custom)?;
        if seen.contains(&region) {
            return Err(de::Error::custom(format!("regions lists {region:?} twice")));
        }
        seen.push(region);
    }
    Ok(seen)
}

/// `[region_profiles]`: region name → profile name.
pub(super) fn region_profiles<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let map = BTreeMap::<String, String>::deserialize(d)?;
    for region in map.keys() {
        region_name(region).map_err(de::Error::custom)?;
    }
    Ok(map)
}

/// Whether `name` looks like an AWS region (`us-east-1`, `us-gov-west-1`):
/// lowercase words joined by `-`, ending in a number. A typo such as
/// `us-east1` or `US-EAST-1` would otherwise surface only as a DNS failure.
pub fn region_name(name: &str) -> Result<(), String> {
    let parts: Vec<&str> = name.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an AWS region name (like \"us-east-1\")"
        ))
    }
}

/// `[[route]]` as written, before the check that it says where to go.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    cidr: IpNet,
    vpc: Option<String>,
    endpoint: Option<String>,
    region: Option<String>,
    profile: Option<String>,
    via: Option<String>,
    hop: Option<String>,
}

impl TryFrom<RawRoute> for RouteRule {
    type Error = String;

    fn try_from(raw: RawRoute) -> Result<RouteRule, String> {
        let via = match (raw.via.as_deref(), raw.hop) {
            (None | Some("eice"), None) => None,
            (None | Some("hop"), hop) => Some(Via::Hop(hop)),
            (Some("eice"), Some(_)) => {
                return Err(format!(
                    "[[route]] for {}: hop = … goes with via = \"hop\", not via = \"eice\"",
                    raw.cidr
                ));
            }
            (Some(other), _) => {
                return Err(format!(
                    "[[route]] for {}: via must be \"eice\" or \"hop\", got {other:?}",
                    raw.cidr
                ));
            }
        };
        if via.is_none()
            && raw.vpc.is_none()
            && raw.endpoint.is_none()
            && raw.region.is_none()
            && raw.profile.is_none()
        {
            return Err(format!(
                "[[route]] for {} needs at least one of vpc = \"vpc-…\", endpoint = \"eice-…\", \
                 region, profile or via = \"hop\"",
                raw.cidr
            ));
        }
        if let Some(region) = &raw.region {
            region_name(region)?;
        }
        Ok(RouteRule {
            cidr: raw.cidr,
            vpc: raw.vpc,
            endpoint: raw.endpoint,
            region: raw.region,
            profile: raw.profile,
            via,
        })
    }
}
