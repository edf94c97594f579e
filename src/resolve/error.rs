//! Why a target has no route, in the words a user is shown, and the reply
//! each reason makes to a proxy client.

use std::net::IpAddr;

use crate::ec2::{AwsError, Family};
use crate::reply::Reply;

/// Why a target has no route.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    #[error("instance {id} was not found in {region}")]
    InstanceNotFound { id: String, region: String },
    #[error("instance {id} is {state}, not running: start it first")]
    NotRunning { id: String, state: String },
    #[error("instance {id} has no private IP address")]
    NoAddress { id: String },
    #[error("no instance has the Name tag {name:?} in {region}")]
    NameNotFound { name: String, region: String },
    #[error("no instance with the Name tag {name:?} is running ({states})")]
    NoneRunning { name: String, states: String },
    #[error("{} running instances have the Name tag {name:?}: {}; connect by instance id", ids.len(), ids.join(", "))]
    NameAmbiguous { name: String, ids: Vec<String> },
    #[error("{host} is in {region}, but the proxy works in {configured}")]
    OtherRegion {
        host: String,
        region: String,
        configured: String,
    },
    #[error("{ip} is not inside any VPC's CIDR blocks in {region}")]
    NotInAnyVpc { ip: IpAddr, region: String },
    #[error("{}", several_vpcs(*ip, vpcs))]
    SeveralVpcs {
        ip: IpAddr,
        /// Each VPC, with its region.
        vpcs: Vec<(String, String)>,
    },
    #[error(
        "VPC {vpc} has no usable EC2 Instance Connect Endpoint (none exists, or none is in a create-complete/update state)"
    )]
    NoEndpoint { vpc: String },
    #[error("endpoint {id} named by a [[route]] rule was not found or is not usable")]
    PinnedEndpointMissing { id: String },
    #[error("{ip} cannot be reached through endpoint {endpoint}: its IpAddressType is {family}")]
    WrongFamily {
        ip: IpAddr,
        endpoint: String,
        family: Family,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl ResolveError {
    /// What a proxy client is told.
    pub fn reply(&self) -> Reply {
        match self {
            ResolveError::NoEndpoint { .. } | ResolveError::PinnedEndpointMissing { .. } => {
                Reply::NetworkUnreachable
            }
            ResolveError::WrongFamily { .. } => Reply::AddressTypeNotSupported,
            ResolveError::Aws(e) => e.reply(),
            _ => Reply::HostUnreachable,
        }
    }
}

/// The words for an address that several VPCs hold, with the `[[route]]`
/// line that pins the first (naming its region when they differ).
fn several_vpcs(ip: IpAddr, vpcs: &[(String, String)]) -> String {
    let regions_differ = vpcs.iter().any(|(_, r)| *r != vpcs[0].1);
    let list: Vec<String> = vpcs
        .iter()
        .map(|(vpc, region)| {
            if regions_differ {
                format!("{vpc} in {region}")
            } else {
                vpc.clone()
            }
        })
        .collect();
    let (vpc, region) = &vpcs[0];
    let pin_region = if regions_differ {
        format!(" region = \"{region}\"")
    } else {
        String::new()
    };
    format!(
        "{ip} is inside the CIDR blocks of several VPCs ({}); pin one in the config file: \
         [[route]] cidr = \"{ip}/32\" vpc = \"{vpc}\"{pin_region}",
        list.join(", ")
    )
}
