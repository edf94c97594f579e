//! The lifecycle states and address types of simulated resources, with the exact
//! strings and codes EC2 uses, so a client parsing the simulator's XML meets the
//! values it knows rather than ones it must treat as unknown.

use serde::Deserialize;

/// An instance's lifecycle state, with EC2's names and codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// Launching.
    Pending,
    /// Up; the only state in which a tunnel can reach it.
    Running,
    /// Being stopped.
    Stopping,
    /// Stopped; keeps its private IP.
    Stopped,
    /// Being terminated.
    ShuttingDown,
    /// Gone; EC2 still lists it for a while, without network details.
    Terminated,
}

/// An endpoint's lifecycle state, with EC2's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointState {
    /// Being created; not usable yet.
    CreateInProgress,
    /// Created and usable.
    CreateComplete,
    /// Creation failed; never usable.
    CreateFailed,
    /// Being deleted; no longer usable.
    DeleteInProgress,
    /// Deleted; EC2 still lists it for a while.
    DeleteComplete,
    /// Deletion failed.
    DeleteFailed,
    /// Being updated; still usable.
    UpdateInProgress,
    /// Updated; usable.
    UpdateComplete,
    /// An update failed; still usable with its old settings.
    UpdateFailed,
}

/// Which address families an endpoint reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpAddressType {
    /// IPv4 targets only (EC2's default).
    #[default]
    Ipv4,
    /// IPv4 or IPv6 targets.
    Dualstack,
    /// IPv6 targets only.
    Ipv6,
}

impl InstanceState {
    /// EC2's name for the state, e.g. `shutting-down`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
        }
    }

    /// EC2's numeric state code (the low byte of `instanceState/code`).
    pub fn code(self) -> i32 {
        match self {
            InstanceState::Pending => 0,
            InstanceState::Running => 16,
            InstanceState::ShuttingDown => 32,
            InstanceState::Terminated => 48,
            InstanceState::Stopping => 64,
            InstanceState::Stopped => 80,
        }
    }
}

impl EndpointState {
    /// EC2's name for the state, e.g. `create-complete`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointState::CreateInProgress => "create-in-progress",
            EndpointState::CreateComplete => "create-complete",
            EndpointState::CreateFailed => "create-failed",
            EndpointState::DeleteInProgress => "delete-in-progress",
            EndpointState::DeleteComplete => "delete-complete",
            EndpointState::DeleteFailed => "delete-failed",
            EndpointState::UpdateInProgress => "update-in-progress",
            EndpointState::UpdateComplete => "update-complete",
            EndpointState::UpdateFailed => "update-failed",
        }
    }
}

impl IpAddressType {
    /// EC2's name for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            IpAddressType::Ipv4 => "ipv4",
            IpAddressType::Dualstack => "dualstack",
            IpAddressType::Ipv6 => "ipv6",
        }
    }
}
