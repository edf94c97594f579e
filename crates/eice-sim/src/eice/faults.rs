//! Injected misbehaviour: what a real EICE does on a bad day that a test cannot
//! otherwise provoke — an IAM denial or throttling on the upgrade, a 5xx, an
//! upgrade that never completes, a tunnel cut in the middle of a stream.
//!
//! Like the EC2 simulator's faults, one-shot faults queue up in the order armed
//! and are used by the next requests, so a test says "refuse the next upgrade,
//! then work" without timing tricks. [`EiceSim`](super::EiceSim) exposes them.

use std::collections::{HashMap, VecDeque};

use http::StatusCode;

/// A refusal of the WebSocket upgrade: an HTTP status and the AWS-shaped JSON
/// body `{"ErrorCode": …, "Message": …}`, with the usual `x-amzn-RequestId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeFault {
    /// The HTTP status (400–599).
    pub status: StatusCode,
    /// `ErrorCode`, e.g. `AccessDeniedException` or `ThrottlingException`.
    pub error_code: String,
    /// `Message`.
    pub message: String,
}

impl UpgradeFault {
    /// A refusal with `status`, which must be an error status (400–599): a test
    /// that arms anything else has a typo, and is told so at once.
    pub fn new(status: u16, error_code: &str, message: &str) -> UpgradeFault {
        let status = StatusCode::from_u16(status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .unwrap_or_else(|| panic!("an upgrade fault needs a 4xx or 5xx status, not {status}"));
        UpgradeFault {
            status,
            error_code: error_code.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// How a tunnel is cut short: after `after_bytes` bytes of instance data have
/// reached the client, the service sends Close `code` with `reason` and stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelCut {
    /// Instance → client payload bytes delivered before the Close.
    pub after_bytes: u64,
    /// The Close code, e.g. 1011.
    pub code: u16,
    /// The Close reason.
    pub reason: String,
}

/// The armed faults of one simulated service.
#[derive(Debug, Default)]
pub(super) struct FaultTable {
    /// Refusals for the next upgrades, each with how many it still refuses.
    next_upgrades: VecDeque<(UpgradeFault, usize)>,
    /// Refusals of every upgrade for an endpoint id, once one-shot ones are used.
    per_endpoint: HashMap<String, UpgradeFault>,
    /// How many of the next upgrade requests are left unanswered.
    hangs: usize,
    /// Cuts for the next tunnels opened, in order.
    cuts: VecDeque<TunnelCut>,
    /// The Close code for a target that cannot be reached, instead of 1011:
    /// the real service's code for it is not documented (only its reason).
    unreachable_code: Option<u16>,
}

impl FaultTable {
    pub(super) fn fail_next_upgrades(&mut self, times: usize, fault: UpgradeFault) {
        if times > 0 {
            self.next_upgrades.push_back((fault, times));
        }
    }

    pub(super) fn fail_upgrades_for(&mut self, endpoint_id: &str, fault: UpgradeFault) {
        self.per_endpoint.insert(endpoint_id.to_owned(), fault);
    }

    pub(super) fn hang_next_upgrades(&mut self, times: usize) {
        self.hangs += times;
    }

    pub(super) fn cut_next_tunnel(&mut self, cut: TunnelCut) {
        self.cuts.push_back(cut);
    }

    pub(super) fn close_unreachable_with(&mut self, code: u16) {
        self.unreachable_code = Some(code);
    }

    /// The Close code an unreachable target's tunnel ends with.
    pub(super) fn unreachable_code(&self) -> u16 {
        self.unreachable_code.unwrap_or(1011)
    }

    pub(super) fn clear(&mut self) {
        *self = FaultTable::default();
    }

    /// Whether this upgrade request must go unanswered, using up one hang.
    pub(super) fn take_hang(&mut self) -> bool {
        let hang = self.hangs > 0;
        self.hangs = self.hangs.saturating_sub(1);
        hang
    }

    /// The refusal this authenticated upgrade for `endpoint_id` gets, if any,
    /// using up a one-shot one first.
    pub(super) fn take_refusal(&mut self, endpoint_id: Option<&str>) -> Option<UpgradeFault> {
        if let Some((fault, left)) = self.next_upgrades.front_mut() {
            let fault = fault.clone();
            *left -= 1;
            if *left == 0 {
                self.next_upgrades.pop_front();
            }
            return Some(fault);
        }
        endpoint_id.and_then(|id| self.per_endpoint.get(id).cloned())
    }

    /// How the tunnel being opened now is to be cut, if at all.
    pub(super) fn take_cut(&mut self) -> Option<TunnelCut> {
        self.cuts.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_refusals_run_out_before_the_endpoint_one() {
        let mut table = FaultTable::default();
        let throttled = UpgradeFault::new(429, "ThrottlingException", "Rate exceeded");
        let denied = UpgradeFault::new(403, "AccessDeniedException", "denied");
        table.fail_upgrades_for("eice-1", denied.clone());
        table.fail_next_upgrades(2, throttled.clone());
        let seen: Vec<_> = (0..3).map(|_| table.take_refusal(Some("eice-1"))).collect();
        assert_eq!(
            seen,
            [Some(throttled.clone()), Some(throttled), Some(denied)]
        );
        assert_eq!(table.take_refusal(Some("eice-2")), None);
        assert_eq!(table.take_refusal(None), None);
        table.clear();
        assert_eq!(table.take_refusal(Some("eice-1")), None);
    }

    #[test]
    fn hangs_and_cuts_are_used_once_each() {
        let mut table = FaultTable::default();
        table.hang_next_upgrades(2);
        assert_eq!(
            [table.take_hang(), table.take_hang(), table.take_hang()],
            [true, true, false]
        );
        let cut = TunnelCut {
            after_bytes: 3,
            code: 1011,
            reason: "reset".into(),
        };
        table.cut_next_tunnel(cut.clone());
        assert_eq!(table.take_cut(), Some(cut));
        assert_eq!(table.take_cut(), None);
    }

    #[test]
    #[should_panic(expected = "4xx or 5xx")]
    fn a_success_status_is_no_fault() {
        UpgradeFault::new(200, "Ok", "fine");
    }
}
