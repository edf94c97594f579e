//! The simulator's shared state and the answer to one verified call.
//!
//! A call's region (its credential scope's) picks the world it is answered from
//! ([`Regions`]); calls are counted per region and action.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use http::request::Parts;

use super::error::ApiError;
use super::faults::FaultTable;
use super::params::Params;
use super::regions::Regions;
use super::{Action, Ec2SimConfig, acls, derived, endpoints, groups, instances, network, password};
use crate::clock::SimClock;
use crate::keys::{self, Call, KeyService, Reply};
use crate::sigv4::{
    Expected, HeaderSignedRequest, SigV4Error, SimCredential, Verified, claimed_scope,
    verify_header_auth,
};
use crate::sts::{self, Sts};
use crate::world::World;

/// The signing name of the EC2 API.
const SIGNING_NAME: &str = "ec2";

/// Everything the connection handlers share.
#[derive(Debug)]
pub(super) struct Shared {
    /// The worlds served, one per region.
    pub(super) regions: Regions,
    /// STS, served at the same URL.
    pub(super) sts: Sts,
    /// EC2 Instance Connect's key API, served at the same URL.
    pub(super) keys: KeyService,
    credentials: HashMap<String, SimCredential>,
    page_size: usize,
    /// AWS's time: signatures are checked against it, answers dated by it.
    pub(super) clock: SimClock,
    /// Calls per region and `Action` parameter (unknown actions included), after auth.
    calls: Mutex<HashMap<(String, String), usize>>,
    total: AtomicUsize,
    /// TCP connections accepted, for every service at this URL: proof that
    /// a client's calls ride one kept connection.
    pub(super) connections: AtomicUsize,
    /// The client address of every accepted connection, in order.
    pub(super) peers: Mutex<Vec<SocketAddr>>,
    faults: Mutex<FaultTable>,
    /// Answers held until a call of another action arrives: (held, until).
    holds: Mutex<Vec<(Action, Action)>>,
    /// Bumped on every counted call, so a held answer wakes to look again.
    counted: tokio::sync::watch::Sender<usize>,
    /// Distinguishes this simulator's request ids from another's in one test.
    instance_seed: u64,
    request_seq: AtomicU64,
}

/// A successful call's action and response body (without the document wrapper).
pub(super) struct Answer {
    pub(super) action: Action,
    pub(super) body: String,
}

impl Shared {
    pub(super) fn new(regions: Regions, config: Ec2SimConfig, instance_seed: u64) -> Shared {
        Shared {
            sts: Sts::new(&regions.first().account_id),
            keys: KeyService::default(),
            regions,
            credentials: config.credentials,
            page_size: config.page_size,
            clock: config.clock,
            calls: Mutex::default(),
            total: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            peers: Mutex::default(),
            faults: Mutex::default(),
            holds: Mutex::default(),
            counted: tokio::sync::watch::Sender::new(0),
            instance_seed,
            request_seq: AtomicU64::new(0),
        }
    }

    /// Calls of `action` in `region`, or in every region when `None`.
    pub(super) fn calls(&self, region: Option<&str>, action: &str) -> usize {
        let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls
            .iter()
            .filter(|((r, a), _)| a == action && region.is_none_or(|region| r == region))
            .map(|(_, count)| count)
            .sum()
    }

    pub(super) fn calls_total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    pub(super) fn faults(&self) -> std::sync::MutexGuard<'_, FaultTable> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh request id for the next response.
    pub(super) fn next_request_id(&self) -> String {
        let call = self.request_seq.fetch_add(1, Ordering::Relaxed);
        derived::request_id(self.instance_seed, call)
    }

    /// Verifies a header-signed call to `service`, scoped to the region it claims
    /// when a world serves that region (or it is `also_region`), else to the first
    /// world's region (which then refuses it as wrongly scoped). Returns the
    /// verification and the world of the call's region.
    pub(super) fn verify(
        &self,
        parts: &Parts,
        body: &[u8],
        service: &str,
        also_region: Option<&str>,
    ) -> (Result<Verified, SigV4Error>, Arc<World>) {
        let claimed = claimed_scope(&parts.headers);
        let claimed_region = claimed.as_ref().map(|s| s.region.as_str());
        let world = self.regions.for_claimed(claimed_region);
        let region = match claimed_region {
            Some(region) if also_region == Some(region) => region,
            _ => world.region.as_str(),
        };
        let verified = verify_header_auth(
            &HeaderSignedRequest {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or_default(),
                headers: &parts.headers,
                body,
            },
            &self.credentials,
            &Expected {
                service,
                region,
                now: self.clock.now(),
            },
        );
        (verified, world)
    }

    /// Verifies, counts and answers one EC2 call: signature, then the count, then
    /// any injected fault, then the action itself.
    pub(super) fn answer(&self, parts: &Parts, body: &[u8]) -> Result<Answer, ApiError> {
        let (verified, world) = self.verify(parts, body, SIGNING_NAME, None);
        let verified = verified.map_err(ApiError::Auth)?;
        let params = Params::new(verified.params, body)?;
        let name = params.get("Action").unwrap_or_default().to_owned();
        self.count(&world.region, &name);
        if name.is_empty() {
            return Err(ApiError::MissingAction);
        }
        let action = Action::from_name(&name).ok_or(ApiError::InvalidAction(name))?;
        if let Some(fault) = self.faults().take(action) {
            let message = fault.message(action.as_str(), &world.account_id);
            return Err(ApiError::Fault { fault, message });
        }
        let mut body = dispatch(action, &world, &params, self.page_size)?;
        if let Some(token) = params.get("NextToken").filter(|t| !t.is_empty())
            && self.faults().repeats_token(action)
        {
            body = with_next_token(&body, token);
        }
        Ok(Answer { action, body })
    }

    /// Answers one STS call (any served region, or STS's global one).
    pub(super) fn answer_sts(
        &self,
        parts: &Parts,
        body: &[u8],
        request_id: &str,
    ) -> (http::StatusCode, String) {
        let (verified, _) = self.verify(parts, body, sts::SERVICE, Some(sts::GLOBAL_REGION));
        self.sts.answer(verified, body, request_id)
    }

    /// Answers one EC2 Instance Connect call, in the world of its region.
    pub(super) fn answer_keys(&self, parts: &Parts, body: &[u8], request_id: &str) -> Reply {
        let (verified, world) = self.verify(parts, body, keys::SERVICE, None);
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        self.keys.answer(Call {
            verified,
            target,
            body,
            world: &world,
            sts: &self.sts,
            request_id,
        })
    }

    /// Answers sshd's question: the keys valid now for an instance and user.
    pub(super) fn authorized_keys(&self, path: &str) -> (http::StatusCode, String) {
        self.keys
            .authorized_keys_document(path, |id| self.regions.holds_instance(id))
    }

    fn count(&self, region: &str, action: &str) {
        let total = self.total.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            *calls
                .entry((region.to_owned(), action.to_owned()))
                .or_default() += 1;
        }
        self.counted.send_replace(total);
    }

    /// Holds every answer to `held` until a call of `until` has arrived.
    pub(super) fn hold(&self, held: Action, until: Action) {
        self.holds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((held, until));
    }

    /// Waits, before `action`'s answer goes out, for the calls its holds
    /// wait for (none: at once).
    pub(super) async fn released(&self, action: Action) {
        let waits: Vec<Action> = self
            .holds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(held, _)| *held == action)
            .map(|(_, until)| *until)
            .collect();
        let mut counted = self.counted.subscribe();
        for until in waits {
            // The sender lives in `self`, so the wait ends only with a call.
            let _ = counted
                .wait_for(|_| self.calls(None, until.as_str()) > 0)
                .await;
        }
    }
}

/// `body` with its `nextToken` (if any) replaced by `token`: the answer of a
/// service that hands a page's token back.
fn with_next_token(body: &str, token: &str) -> String {
    let kept = match (body.find("<nextToken>"), body.find("</nextToken>")) {
        (Some(start), Some(end)) => format!("{}{}", &body[..start], &body[end + 12..]),
        _ => body.to_owned(),
    };
    format!("{kept}<nextToken>{token}</nextToken>")
}

fn dispatch(
    action: Action,
    world: &World,
    params: &Params,
    page_size: usize,
) -> Result<String, ApiError> {
    match action {
        Action::DescribeInstances => instances::describe(world, params, page_size),
        Action::DescribeVpcs => network::describe_vpcs(world, params, page_size),
        Action::DescribeSubnets => network::describe_subnets(world, params, page_size),
        Action::DescribeInstanceConnectEndpoints => endpoints::describe(world, params, page_size),
        Action::DescribeSecurityGroups => groups::describe(world, params, page_size),
        Action::DescribeNetworkAcls => acls::describe(world, params, page_size),
        Action::GetPasswordData => password::get(world, params),
    }
}
