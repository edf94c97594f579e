//! The service's host check: the `Host` a tunnel was dialled and signed for
//! must be a name its endpoint publishes (IPv4 or dual-stack, plain or FIPS),
//! as the real service is only reachable by those names. A client that
//! signed one name and dialled another, or dialled another endpoint's name,
//! is refused here rather than by chance elsewhere.
//!
//! The service's own loopback address is accepted too: it is what a client
//! pointed at the simulator by `EICE_PROXY_ENDPOINT_URL` dials and signs.
//! An endpoint no world knows has no published names to compare with, and
//! passes.

use std::net::IpAddr;
use std::sync::Arc;

use crate::world::World;

/// `Ok` when `host` (a `Host` header, perhaps with a port) may carry a
/// tunnel through `endpoint_id`; else the refusal's message.
pub(super) fn check(host: &str, endpoint_id: &str, worlds: &[Arc<World>]) -> Result<(), String> {
    let name = without_port(host);
    if name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    {
        return Ok(());
    }
    let Some((world, endpoint)) = worlds
        .iter()
        .find_map(|w| w.endpoint(endpoint_id).map(|e| (w, e)))
    else {
        return Ok(());
    };
    if endpoint
        .dns_names(&world.region)
        .iter()
        .any(|known| known.eq_ignore_ascii_case(name))
    {
        return Ok(());
    }
    Err(format!(
        "The Host '{host}' is not a DNS name of the instance connect endpoint '{endpoint_id}'. \
         Connect to (and sign for) one of the names DescribeInstanceConnectEndpoints lists for it."
    ))
}

/// The host of a `Host` header: `[v6]:port`, `name:port`, or either alone.
fn without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Vec<Arc<World>> {
        vec![Arc::new(World::demo())]
    }

    #[test]
    fn every_published_name_is_accepted_and_others_refused() {
        let worlds = demo();
        let (world, endpoint) = (&worlds[0], &worlds[0].endpoints[0]);
        for name in endpoint.dns_names(&world.region) {
            assert_eq!(check(&name, &endpoint.id, &worlds), Ok(()), "{name}");
            assert_eq!(check(&format!("{name}:443"), &endpoint.id, &worlds), Ok(()));
        }
        let other = &world.endpoints[1];
        let err = check(&other.dns_name(&world.region), &endpoint.id, &worlds).unwrap_err();
        assert!(err.contains(&endpoint.id), "{err}");
        assert!(check("eice.example.test", &endpoint.id, &worlds).is_err());
    }

    #[test]
    fn the_services_own_loopback_address_is_accepted() {
        let worlds = demo();
        let id = &worlds[0].endpoints[0].id;
        for host in [
            "127.0.0.1:8443",
            "[::1]:8443",
            "localhost:9000",
            "127.0.0.1",
        ] {
            assert_eq!(check(host, id, &worlds), Ok(()), "{host}");
        }
    }

    #[test]
    fn an_endpoint_no_world_knows_is_not_judged() {
        assert_eq!(check("anything.example", "eice-unknown", &demo()), Ok(()));
        assert_eq!(check("anything.example", "eice-unknown", &[]), Ok(()));
    }
}
