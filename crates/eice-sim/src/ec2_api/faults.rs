//! Injected failures: the errors a real account produces that a test cannot
//! otherwise provoke (an IAM denial, throttling, an outage).
//!
//! Faults are armed per action. One-shot faults ([`FaultTable::fail_next`]) queue up
//! and are used before a standing fault ([`FaultTable::fail_always`]), so a test can
//! say "throttle the first call, then work" or "always deny" without timing tricks.

use std::collections::{HashMap, HashSet, VecDeque};

use http::StatusCode;

use super::Action;

/// A failure the simulated EC2 API can be told to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// An IAM denial: 403 `UnauthorizedOperation`, whose message names the
    /// `ec2:` action, so the proxy's error can tell the user which permission to add.
    AccessDenied,
    /// Throttling: 503 `RequestLimitExceeded`, which clients are expected to
    /// retry with back-off (the simulator only fails the calls it is told to).
    RequestLimitExceeded,
    /// An outage: 503 `Unavailable`.
    Unavailable,
}

impl Fault {
    /// The HTTP status EC2 answers this failure with.
    pub fn status(self) -> StatusCode {
        match self {
            Fault::AccessDenied => StatusCode::FORBIDDEN,
            Fault::RequestLimitExceeded | Fault::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// EC2's error code.
    pub fn code(self) -> &'static str {
        match self {
            Fault::AccessDenied => "UnauthorizedOperation",
            Fault::RequestLimitExceeded => "RequestLimitExceeded",
            Fault::Unavailable => "Unavailable",
        }
    }

    /// EC2's message for the failure of `action` in `account`.
    pub fn message(self, action: &str, account: &str) -> String {
        match self {
            Fault::AccessDenied => format!(
                "You are not authorized to perform this operation. User: \
                 arn:aws:iam::{account}:user/test is not authorized to perform: \
                 ec2:{action} because no identity-based policy allows the ec2:{action} action"
            ),
            Fault::RequestLimitExceeded => "Request limit exceeded.".to_owned(),
            Fault::Unavailable => {
                "The service is unavailable. Please try again shortly.".to_owned()
            }
        }
    }
}

/// The armed faults of one simulator.
#[derive(Debug, Default)]
pub(super) struct FaultTable {
    /// One-shot faults in the order armed, each with how many calls it still fails.
    next: HashMap<Action, VecDeque<(Fault, usize)>>,
    /// Faults that fail every call once the one-shot ones are used up.
    always: HashMap<Action, Fault>,
    /// Actions whose pages after the first hand back the `NextToken` they
    /// were asked with: a paginator that trusts the service loops forever.
    repeat_tokens: HashSet<Action>,
}

impl FaultTable {
    /// Fails the next `times` calls of `action` (after any already queued).
    pub(super) fn fail_next(&mut self, action: Action, fault: Fault, times: usize) {
        if times > 0 {
            self.next
                .entry(action)
                .or_default()
                .push_back((fault, times));
        }
    }

    /// Fails every call of `action` from now on.
    pub(super) fn fail_always(&mut self, action: Action, fault: Fault) {
        self.always.insert(action, fault);
    }

    /// Makes every later page of `action` repeat the token it was asked with.
    pub(super) fn repeat_next_token(&mut self, action: Action) {
        self.repeat_tokens.insert(action);
    }

    /// Whether pages of `action` repeat their token.
    pub(super) fn repeats_token(&self, action: Action) -> bool {
        self.repeat_tokens.contains(&action)
    }

    /// Disarms everything.
    pub(super) fn clear(&mut self) {
        *self = FaultTable::default();
    }

    /// The fault this call of `action` must fail with, using up a one-shot one.
    pub(super) fn take(&mut self, action: Action) -> Option<Fault> {
        if let Some(queue) = self.next.get_mut(&action)
            && let Some((fault, left)) = queue.front_mut()
        {
            let fault = *fault;
            *left -= 1;
            if *left == 0 {
                queue.pop_front();
            }
            return Some(fault);
        }
        self.always.get(&action).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_faults_run_out_before_the_standing_one() {
        let mut table = FaultTable::default();
        let action = Action::DescribeVpcs;
        table.fail_always(action, Fault::Unavailable);
        table.fail_next(action, Fault::AccessDenied, 2);
        table.fail_next(action, Fault::RequestLimitExceeded, 1);
        let seen: Vec<_> = (0..5).map(|_| table.take(action)).collect();
        use Fault::*;
        assert_eq!(
            seen,
            [
                Some(AccessDenied),
                Some(AccessDenied),
                Some(RequestLimitExceeded),
                Some(Unavailable),
                Some(Unavailable)
            ]
        );
        assert_eq!(table.take(Action::DescribeSubnets), None);
        table.clear();
        assert_eq!(table.take(action), None);
    }

    #[test]
    fn access_denied_names_the_action() {
        let message = Fault::AccessDenied.message("DescribeInstances", "123456789012");
        assert!(message.contains("arn:aws:iam::123456789012:user/test"));
        assert!(message.contains("perform: ec2:DescribeInstances because"));
        assert!(message.ends_with("allows the ec2:DescribeInstances action"));
    }
}
