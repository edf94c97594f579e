//! The search across the configured regions: which region holds an
//! instance id, a Name tag or an address, answered from the remembered
//! home (in memory, or the route file) when there is one, else by asking
//! every searched region at once.

use std::net::IpAddr;
use std::sync::Arc;

use futures_util::future::join_all;

use super::{Lookups, Regional, Resolution, ResolveError, Resolver, cidr};
use crate::config::RouteRule;
use crate::ec2::InstanceInfo;

impl Resolver {
    /// The most specific `[[route]]` rule holding `ip`, and its scope.
    pub(super) fn pinned(&self, ip: IpAddr) -> Option<(&RouteRule, &Arc<Regional>)> {
        let (rule, i) = cidr::pinned(&self.routes, |(rule, _)| rule, ip)?;
        Some((rule, &self.regionals[*i]))
    }

    /// The instance `id` and its region: the remembered one, else every
    /// searched region at once (ids are unique across regions).
    pub(super) async fn find_instance(
        &self,
        id: &str,
    ) -> Result<(Arc<Regional>, Arc<InstanceInfo>, Lookups), ResolveError> {
        let mut lookups = Vec::new();
        // One region: its own cache is the whole story.
        let home = match self.searched() {
            [_] => Some(0),
            _ => match self.homes.get(id).await {
                Some(home) => Some(home),
                None => self.disk_home(|r| r.remembers_instance(id)),
            },
        };
        if let Some(home) = home {
            let regional = &self.regionals[home];
            if let Some(instance) = regional.instance(id, &mut lookups).await? {
                return Ok((Arc::clone(regional), instance, lookups));
            }
            if self.searched == 1 {
                return Err(self.instance_not_found(id));
            }
        }
        let answers = join_all(self.searched().iter().map(|regional| async move {
            let mut lookups = Vec::new();
            let found = regional.instance(id, &mut lookups).await;
            (found, lookups)
        }))
        .await;
        let mut first_error = None;
        for (i, (found, mut more)) in answers.into_iter().enumerate() {
            lookups.append(&mut more);
            match found {
                Ok(Some(instance)) => {
                    self.homes.insert(id.to_owned(), i).await;
                    return Ok((Arc::clone(&self.regionals[i]), instance, lookups));
                }
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // A region that could not answer may hold it: say why it could not.
        Err(first_error.unwrap_or_else(|| self.instance_not_found(id)))
    }

    /// The one searched region whose route file remembers what `holds`
    /// asks, as [`Resolver::homes`] would in a process that had looked.
    fn disk_home(&self, holds: impl Fn(&Regional) -> bool) -> Option<usize> {
        let mut holders = (0..self.searched).filter(|&i| holds(&self.regionals[i]));
        match (holders.next(), holders.next()) {
            (Some(home), None) => Some(home),
            _ => None,
        }
    }

    fn instance_not_found(&self, id: &str) -> ResolveError {
        ResolveError::InstanceNotFound {
            id: id.to_owned(),
            region: self.regions().join(", "),
        }
    }

    /// The one instance with the Name tag `name` across the searched regions
    /// (running, or the only one there is, whose state is then the answer).
    pub(super) async fn find_named(
        &self,
        name: &str,
    ) -> Result<(Arc<Regional>, Arc<InstanceInfo>, Lookups), ResolveError> {
        let key = format!("name:{}", name.to_ascii_lowercase());
        let mut lookups = Vec::new();
        let home = match self.homes.get(&key).await {
            Some(home) => Some(home),
            None => self.disk_home(|r| r.remembers_name(name)),
        };
        let candidates: Vec<usize> = match home {
            Some(home) => vec![home],
            None => (0..self.searched).collect(),
        };
        let answers = join_all(candidates.iter().map(|&i| async move {
            let mut lookups = Vec::new();
            let found = self.regionals[i].named(name, &mut lookups).await;
            (i, found, lookups)
        }))
        .await;
        let mut found: Vec<(usize, Arc<InstanceInfo>)> = Vec::new();
        let mut first_error = None;
        for (i, answer, mut more) in answers {
            lookups.append(&mut more);
            match answer {
                Ok(instances) => found.extend(instances.iter().map(|x| (i, Arc::clone(x)))),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if found.is_empty()
            && let Some(e) = first_error
        {
            return Err(e);
        }
        let (i, instance) = pick_named(name, &found, &self.regions().join(", "))?;
        let regional = Arc::clone(&self.regionals[i]);
        self.homes.insert(key, i).await;
        if instance.state == "running" {
            regional.remember(&instance).await;
        }
        Ok((regional, instance, lookups))
    }

    /// An address without a `[[route]]` rule: the one VPC, in any searched
    /// region, whose CIDR blocks hold it.
    pub(super) async fn route_address(
        &self,
        ip: IpAddr,
        port: u16,
    ) -> Result<Resolution, ResolveError> {
        if let [only] = self.searched() {
            return only.route_address(ip, port, Vec::new()).await;
        }
        let answers = join_all(self.searched().iter().map(|regional| async move {
            let mut lookups = Vec::new();
            let vpcs = regional.vpcs_containing(ip, &mut lookups).await;
            (vpcs, lookups)
        }))
        .await;
        let mut lookups = Vec::new();
        let mut holders: Vec<(String, usize)> = Vec::new();
        for (i, (vpcs, mut more)) in answers.into_iter().enumerate() {
            lookups.append(&mut more);
            holders.extend(vpcs?.into_iter().map(|vpc| (vpc, i)));
        }
        match holders.as_slice() {
            [] => Err(ResolveError::NotInAnyVpc {
                ip,
                region: self.regions().join(", "),
            }),
            [(vpc, i)] => {
                self.regionals[*i]
                    .route_in_vpc(vpc, ip, port, lookups)
                    .await
            }
            _ => Err(ResolveError::SeveralVpcs {
                ip,
                vpcs: holders
                    .iter()
                    .map(|(vpc, i)| (vpc.clone(), self.regionals[*i].region().to_owned()))
                    .collect(),
            }),
        }
    }
}

/// Among every instance found with the Name tag `name` (with the index of its
/// region): the one running, or the only one; else why not.
fn pick_named(
    name: &str,
    found: &[(usize, Arc<InstanceInfo>)],
    regions: &str,
) -> Result<(usize, Arc<InstanceInfo>), ResolveError> {
    let running: Vec<&(usize, Arc<InstanceInfo>)> =
        found.iter().filter(|(_, i)| i.state == "running").collect();
    match running.as_slice() {
        [] if found.is_empty() => Err(ResolveError::NameNotFound {
            name: name.to_owned(),
            region: regions.to_owned(),
        }),
        // Not running: the state is the answer (`running_address` says it).
        [] if found.len() == 1 => Ok(found[0].clone()),
        [] => Err(ResolveError::NoneRunning {
            name: name.to_owned(),
            states: found
                .iter()
                .map(|(_, i)| format!("{} is {}", i.id, i.state))
                .collect::<Vec<_>>()
                .join(", "),
        }),
        [one] => Ok((*one).clone()),
        several => Err(ResolveError::NameAmbiguous {
            name: name.to_owned(),
            ids: several.iter().map(|(_, i)| i.id.clone()).collect(),
        }),
    }
}
