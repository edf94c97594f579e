//! IPv4 and IPv6 CIDR blocks, as VPCs and subnets carry them.
//!
//! The world file is the only source of these blocks, so they are parsed strictly
//! (the address must be the block's network address, as EC2 itself insists) and
//! a typo fails at load with the offending text rather than at the first lookup.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why a CIDR block in the world file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not `address/prefix` with an address of the right family and a prefix in range.
    #[error("'{0}' is not a valid {1} CIDR block (expected e.g. {2})")]
    Syntax(String, &'static str, &'static str),
    /// Bits are set below the prefix, e.g. `10.0.1.5/24`; EC2 refuses these too.
    #[error("'{0}' has host bits set; the block's network address is {1}")]
    HostBitsSet(String, String),
}

/// An IPv4 block such as `10.0.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

/// An IPv6 block such as `fd00:10::/56`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv6Cidr {
    network: Ipv6Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// The prefix length, e.g. 16 for a /16.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies inside the block: the resolver's CIDR matching in miniature.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        same_network(
            u32::from(self.network).into(),
            u32::from(ip).into(),
            self.prefix,
            32,
        )
    }

    /// Whether all of `other` lies inside this block (a subnet inside its VPC).
    pub fn contains_block(&self, other: &Ipv4Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }

    /// How many addresses the block holds, for `availableIpAddressCount`.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// The address `offset` places after the network address, wrapping inside the
    /// block.
    pub fn nth(&self, offset: u64) -> Ipv4Addr {
        let host = host_bits(u128::from(offset), self.prefix, 32) as u32;
        Ipv4Addr::from(u32::from(self.network) | host)
    }
}

impl Ipv6Cidr {
    /// Whether `ip` lies inside the block.
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        same_network(self.network.into(), ip.into(), self.prefix, 128)
    }

    /// The address in the block whose host part is `host`'s low bits.
    pub fn nth(&self, host: u128) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.network) | host_bits(host, self.prefix, 128))
    }
}

/// Compares the top `prefix` bits of two addresses `width` bits wide.
fn same_network(network: u128, ip: u128, prefix: u8, width: u32) -> bool {
    host_bits(network ^ ip, prefix, width) == network ^ ip
}

/// The bits of `value` below the prefix, i.e. the host part.
fn host_bits(value: u128, prefix: u8, width: u32) -> u128 {
    let host_len = width - u32::from(prefix);
    if host_len == 0 {
        0
    } else {
        value & (u128::MAX >> (128 - host_len))
    }
}

/// Splits `addr/prefix`, checking the prefix against the family's width.
fn split(text: &str, width: u32) -> Option<(&str, u8)> {
    let (addr, prefix) = text.split_once('/')?;
    let prefix: u8 = prefix.parse().ok()?;
    (u32::from(prefix) <= width).then_some((addr, prefix))
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, CidrError> {
        let syntax = || CidrError::Syntax(text.to_owned(), "IPv4", "10.0.0.0/16");
        let (addr, prefix) = split(text, 32).ok_or_else(syntax)?;
        let network: Ipv4Addr = addr.parse().map_err(|_| syntax())?;
        let host = host_bits(u32::from(network).into(), prefix, 32);
        if host != 0 {
            let clean = Ipv4Addr::from(u32::from(network) & !(host as u32));
            return Err(CidrError::HostBitsSet(text.to_owned(), clean.to_string()));
        }
        Ok(Ipv4Cidr { network, prefix })
    }
}

impl FromStr for Ipv6Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, CidrError> {
        let syntax = || CidrError::Syntax(text.to_owned(), "IPv6", "fd00:10::/56");
        let (addr, prefix) = split(text, 128).ok_or_else(syntax)?;
        let network: Ipv6Addr = addr.parse().map_err(|_| syntax())?;
        let host = host_bits(network.into(), prefix, 128);
        if host != 0 {
            let clean = Ipv6Addr::from(u128::from(network) & !host);
            return Err(CidrError::HostBitsSet(text.to_owned(), clean.to_string()));
        }
        Ok(Ipv6Cidr { network, prefix })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl fmt::Display for Ipv6Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl TryFrom<String> for Ipv4Cidr {
    type Error = CidrError;

    fn try_from(text: String) -> Result<Self, CidrError> {
        text.parse()
    }
}

impl TryFrom<String> for Ipv6Cidr {
    type Error = CidrError;

    fn try_from(text: String) -> Result<Self, CidrError> {
        text.parse()
    }
}

impl From<Ipv4Cidr> for String {
    fn from(cidr: Ipv4Cidr) -> String {
        cidr.to_string()
    }
}

impl From<Ipv6Cidr> for String {
    fn from(cidr: Ipv6Cidr) -> String {
        cidr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_block_contains_its_addresses_only() {
        let block: Ipv4Cidr = "10.0.1.0/24".parse().unwrap();
        assert!(block.contains("10.0.1.0".parse().unwrap()));
        assert!(block.contains("10.0.1.255".parse().unwrap()));
        assert!(!block.contains("10.0.2.0".parse().unwrap()));
        assert_eq!(block.size(), 256);
    }

    #[test]
    fn nested_blocks_are_recognised() {
        let vpc: Ipv4Cidr = "10.0.0.0/16".parse().unwrap();
        assert!(vpc.contains_block(&"10.0.1.0/24".parse().unwrap()));
        assert!(!vpc.contains_block(&"10.0.0.0/8".parse().unwrap()));
        assert!(!vpc.contains_block(&"10.1.0.0/24".parse().unwrap()));
        let any: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn nth_addresses_stay_inside_their_block() {
        let block: Ipv4Cidr = "10.0.1.0/24".parse().unwrap();
        assert_eq!(block.nth(4), Ipv4Addr::new(10, 0, 1, 4));
        assert_eq!(block.nth(256 + 7), Ipv4Addr::new(10, 0, 1, 7));
        let v6: Ipv6Cidr = "fd00:10::/56".parse().unwrap();
        assert!(v6.contains(v6.nth(u128::MAX)));
        assert_eq!(v6.nth(0x25), "fd00:10::25".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn ipv6_block_contains_its_addresses_only() {
        let block: Ipv6Cidr = "fd00:10::/56".parse().unwrap();
        assert!(block.contains("fd00:10::25".parse().unwrap()));
        assert!(block.contains("fd00:10:0:ff::1".parse().unwrap()));
        assert!(!block.contains("fd00:10:0:100::1".parse().unwrap()));
    }

    #[test]
    fn malformed_blocks_are_refused_with_their_text() {
        let err = "10.0.1.5/24".parse::<Ipv4Cidr>().unwrap_err();
        assert_eq!(
            err,
            CidrError::HostBitsSet("10.0.1.5/24".into(), "10.0.1.0".into())
        );
        for bad in ["10.0.0.0", "10.0.0.0/33", "fd00::/56", "x/8"] {
            let err = bad.parse::<Ipv4Cidr>().unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
        assert!("fd00:10::1/56".parse::<Ipv6Cidr>().is_err());
        assert!("10.0.0.0/8".parse::<Ipv6Cidr>().is_err());
    }
}
