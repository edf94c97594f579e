//! The worlds one simulator serves, one per region: the simulated EC2 API stands
//! for every regional endpoint at once, and a request's credential scope says which
//! region (so which world) it is for.
//!
//! Each world sits behind the lock as an `Arc` snapshot: a call takes its world once
//! and answers from it, so a run-time change ([`Regions::set_instance_state`]) is
//! seen whole by the next call and never half-way through a document.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, PoisonError, RwLock};

use crate::world::{InstanceState, World, WorldError};

/// One world per region, in the order given; the first is the default.
#[derive(Debug)]
pub(super) struct Regions {
    worlds: RwLock<Vec<Arc<World>>>,
}

impl Regions {
    /// Validates every world and that they fit together in one account: at least
    /// one, no region twice, no resource id in two of them (EC2 ids are unique
    /// across regions). Refusals are `InvalidInput`.
    pub(super) fn new(worlds: Vec<Arc<World>>) -> io::Result<Regions> {
        let invalid = |err: WorldError| io::Error::new(io::ErrorKind::InvalidInput, err);
        if worlds.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a simulated EC2 API needs at least one world",
            ));
        }
        let mut regions = HashSet::new();
        let mut ids = HashSet::new();
        for world in &worlds {
            world.validate().map_err(invalid)?;
            if !regions.insert(world.region.as_str()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("two worlds are both in region '{}'", world.region),
                ));
            }
            for (_, id) in world.resources() {
                if !ids.insert(id) {
                    return Err(invalid(WorldError::DuplicateId(id.to_owned())));
                }
            }
        }
        Ok(Regions {
            worlds: RwLock::new(worlds),
        })
    }

    /// The first world: the default region.
    pub(super) fn first(&self) -> Arc<World> {
        self.read()[0].clone()
    }

    /// The world of `region`, if served.
    pub(super) fn get(&self, region: &str) -> Option<Arc<World>> {
        self.read().iter().find(|w| w.region == region).cloned()
    }

    /// The world a request claiming `region` is answered from: that region's, or,
    /// for a region no world serves, the first one's (whose verification then
    /// refuses the signature as scoped to the wrong region, as a real regional
    /// endpoint does).
    pub(super) fn for_claimed(&self, region: Option<&str>) -> Arc<World> {
        region
            .and_then(|region| self.get(region))
            .unwrap_or_else(|| self.first())
    }

    /// Every served region, first one first.
    pub(super) fn names(&self) -> Vec<String> {
        self.read().iter().map(|w| w.region.clone()).collect()
    }

    /// Whether any world holds instance `id`.
    pub(super) fn holds_instance(&self, id: &str) -> bool {
        self.read().iter().any(|w| w.instance(id).is_some())
    }

    /// Changes an instance's state, in whichever world holds it, for every later call.
    pub(super) fn set_instance_state(
        &self,
        id: &str,
        state: InstanceState,
    ) -> Result<(), WorldError> {
        let mut worlds = self.worlds.write().unwrap_or_else(PoisonError::into_inner);
        let world = worlds
            .iter_mut()
            .find(|w| w.instance(id).is_some())
            .ok_or_else(|| WorldError::UnknownInstance(id.to_owned()))?;
        Arc::make_mut(world).set_instance_state(id, state)
    }

    /// Deletes an endpoint, in whichever world holds it, for every later call.
    pub(super) fn delete_endpoint(&self, id: &str) -> Result<(), WorldError> {
        let mut worlds = self.worlds.write().unwrap_or_else(PoisonError::into_inner);
        let world = worlds
            .iter_mut()
            .find(|w| w.endpoint(id).is_some())
            .ok_or_else(|| WorldError::UnknownEndpoint(id.to_owned()))?;
        Arc::make_mut(world).endpoints.retain(|e| e.id != id);
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<World>>> {
        self.worlds.read().unwrap_or_else(PoisonError::into_inner)
    }
}
