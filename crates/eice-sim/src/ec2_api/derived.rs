//! Values EC2 reports that the world file does not spell out: reservation, network
//! interface, security group and association ids, request ids, timestamps.
//!
//! They are derived from stable seeds (the resource's own id) rather than drawn at
//! random, so two runs of a test see the same documents and a failure replays.

use sha2::{Digest, Sha256};

pub(super) use crate::world::derived_id;

/// When every simulated instance was launched and every endpoint created; a fixed
/// past instant keeps documents reproducible.
pub(super) const CREATED_AT: &str = "2024-05-01T12:00:00.000Z";

/// A request id in the UUID shape AWS uses, unique per simulator and call.
pub(super) fn request_id(simulator: u64, call: u64) -> String {
    let hex = hex::encode(Sha256::digest(format!("{simulator}/{call}")));
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id(1, 2);
        let parts: Vec<_> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_ne!(id, request_id(1, 3));
    }
}
