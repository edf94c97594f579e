//! When an endpoint already carries every tunnel EICE allows it (20): the
//! connection goes through the hop serving its VPC, waits in line for a
//! tunnel to close, or is refused (`[limits] when_full`; unset, the hop
//! where one serves the VPC, else the line). The log says which way each
//! connection went and why.

use std::time::Duration;

use tracing::{info, warn};

use super::Proxy;
use crate::config::WhenFull;
use crate::error::Error;
use crate::resolve::{HopRoute, Resolution};
use crate::slots::{Busy, Slot};

/// What a direct route gets: a tunnel slot of its endpoint, or the way
/// around a full endpoint through a hop.
pub(super) enum Admission {
    Slot(Slot),
    Hop(HopRoute),
}

impl Proxy {
    /// A slot of `resolution`'s endpoint; when every one is in use, the hop
    /// that serves its VPC, a place in line, or a refusal, as configured.
    /// Where connections overflow onto a hop, direct tunnels leave the last
    /// slot free for the hop's own connection (which may need it first).
    pub(super) async fn admit(&self, resolution: &Resolution) -> Result<Admission, Error> {
        let endpoint = resolution.endpoint.id.as_str();
        let ip = resolution.tunnel().private_ip;
        let vpc = resolution.vpc_id.as_str();
        let hop = self.router.hop_serving(vpc, ip);
        let policy = self.when_full.unwrap_or(match hop {
            Some(_) => WhenFull::Hop,
            None => WhenFull::Wait,
        });
        let keep = usize::from(policy == WhenFull::Hop && hop.is_some());
        if let Some(slot) = self.slots.try_take_keeping(endpoint, keep) {
            return Ok(Admission::Slot(slot));
        }
        let limit = self.slots.limit();
        match (policy, hop) {
            (WhenFull::Hop, Some(i)) => {
                info!(
                    endpoint,
                    hop = %self.hops[i].name(),
                    "endpoint {endpoint} is full ({limit} tunnels, the last kept for the hop): \
                     going through hop {} (it serves {vpc}), a stream on its one SSH connection",
                    self.hops[i].name()
                );
                self.metrics.overflowed();
                Ok(Admission::Hop(self.router.overflow(i, resolution.clone())))
            }
            (WhenFull::Refuse, _) => Err(self.busy(resolution, None)),
            (policy, _) => {
                let why = if policy == WhenFull::Hop {
                    format!("when_full = \"hop\", but no [[hop]] serves {vpc}")
                } else {
                    "no [[hop]] to go through instead".to_owned()
                };
                let slot = self.wait_in_line(resolution, &why).await?;
                Ok(Admission::Slot(slot))
            }
        }
    }

    /// A slot of `resolution`'s endpoint, waiting in line for one if need
    /// be: for a hop's own tunnel, and for a route looked up again.
    pub(super) async fn slot(&self, resolution: &Resolution) -> Result<Slot, Error> {
        match self.slots.try_take(&resolution.endpoint.id) {
            Some(slot) => Ok(slot),
            None => {
                self.wait_in_line(resolution, "a tunnel of its own is needed")
                    .await
            }
        }
    }

    async fn wait_in_line(&self, resolution: &Resolution, why: &str) -> Result<Slot, Error> {
        let endpoint = resolution.endpoint.id.as_str();
        let limit = self.slots.limit();
        info!(
            endpoint,
            "endpoint {endpoint} carries {limit} of {limit} tunnels: waiting in line up to {:.1}s \
             for one to close ({why})",
            self.queue_wait.as_secs_f64()
        );
        match self.slots.wait(endpoint, self.queue_wait).await {
            Ok((slot, waited)) => {
                info!(
                    endpoint,
                    "a tunnel of {endpoint} was free after {} in line",
                    secs(waited)
                );
                Ok(slot)
            }
            Err(waited) => {
                warn!(
                    endpoint,
                    "no tunnel of {endpoint} was freed in {}",
                    secs(waited.waited)
                );
                Err(self.busy(resolution, Some(waited)))
            }
        }
    }

    fn busy(&self, resolution: &Resolution, waited: Option<crate::slots::Waited>) -> Error {
        Error::EndpointBusy(Box::new(Busy {
            endpoint: resolution.endpoint.id.clone(),
            limit: self.slots.limit(),
            vpc: resolution.vpc_id.clone(),
            waited,
        }))
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
