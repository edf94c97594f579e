//! An endpoint's network interface: its id and its addresses in the subnet.
//!
//! The instance sees a tunnel come from the endpoint's private address (unless the
//! endpoint preserves the client's), so security group and ACL rules written against
//! that address need one. A world may fix it (`private_ip`); otherwise a stable one
//! is derived from the endpoint's id, clear of the subnet's five reserved addresses
//! and of every address an instance or an earlier endpoint holds there.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::ids::{derived_id, derived_number};
use super::{Endpoint, Subnet, World};

/// AWS reserves the first four addresses of a subnet and its last.
const FIRST_USABLE: u64 = 4;

impl Endpoint {
    /// The id of the endpoint's network interface (`networkInterfaceIdSet`).
    pub fn network_interface_id(&self) -> String {
        derived_id("eni", &self.id)
    }
}

impl World {
    /// The endpoint's private IPv4 address: its `private_ip`, or the derived one.
    /// `None` only when its subnet is unknown or full (the loader refuses both).
    pub fn endpoint_private_ip(&self, endpoint: &Endpoint) -> Option<Ipv4Addr> {
        if let Some(ip) = endpoint.private_ip {
            return Some(ip);
        }
        let subnet = self.subnet(&endpoint.subnet)?;
        let mut taken: HashSet<Ipv4Addr> = self
            .instances
            .iter()
            .filter(|i| i.subnet == subnet.id)
            .flat_map(|i| i.private_ips())
            .chain(
                self.endpoints
                    .iter()
                    .filter(|e| e.subnet == subnet.id)
                    .filter_map(|e| e.private_ip),
            )
            .collect();
        // Earlier endpoints of the subnet pick first, so each choice is stable.
        for earlier in self.endpoints.iter().filter(|e| e.subnet == subnet.id) {
            if earlier.id == endpoint.id {
                break;
            }
            if earlier.private_ip.is_none() {
                taken.extend(pick_address(subnet, &earlier.id, &taken));
            }
        }
        pick_address(subnet, &endpoint.id, &taken)
    }

    /// The endpoint's IPv6 address, when its VPC has an IPv6 block: derived inside
    /// the VPC's first block, clear of every instance's.
    pub fn endpoint_private_ipv6(&self, endpoint: &Endpoint) -> Option<Ipv6Addr> {
        let vpc = self.vpc(&self.subnet(&endpoint.subnet)?.vpc)?;
        let block = vpc.ipv6_cidrs.first()?;
        let seed = derived_number(&format!("ipv6/{}", endpoint.id));
        (0..64u128)
            .map(|step| block.nth(seed.wrapping_add(step)))
            .find(|ip| {
                self.instances
                    .iter()
                    .all(|i| i.ipv6_addresses().all(|held| held != *ip))
            })
    }
}

/// A free usable address of `subnet`, starting at a point derived from `seed`.
fn pick_address(subnet: &Subnet, seed: &str, taken: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let usable = subnet.cidr.size().checked_sub(FIRST_USABLE + 1)?;
    if usable == 0 {
        return None;
    }
    let start = (derived_number(seed) % u128::from(usable)) as u64;
    (0..usable)
        .map(|step| subnet.cidr.nth(FIRST_USABLE + (start + step) % usable))
        .find(|ip| !taken.contains(ip))
}
