//! Why one attempt at an EC2 call failed, whether another is worth it
//! ([`super::retry`] classifies), and the [`AwsError`] it becomes: kept apart
//! from the protocol itself (`query`) so both stay readable.

use std::time::Duration;

use super::AwsError;
use super::endpoint::ApiUrl;
use super::retry::{RetryKind, classify_answer};
use super::xml::ErrorDocument;

/// Why one attempt failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// EC2 answered with its error document.
    Service {
        status: u16,
        error: ErrorDocument,
    },
    /// Something answered, but not with EC2's error document (a proxy, a
    /// load balancer): its status and the start of what it said.
    Http {
        status: u16,
        excerpt: String,
    },
    Transport {
        message: String,
        retry: bool,
    },
    TimedOut,
    /// No credentials, or none that could be signed with.
    Local(String),
}

impl Failure {
    /// Whether the attempt is worth another, and what kind of failure it
    /// was ([`super::retry`]); `None` when it is final.
    pub(super) fn retry_kind(&self) -> Option<RetryKind> {
        match self {
            Failure::Service { status, error } => classify_answer(*status, Some(&error.code)),
            Failure::Http { status, .. } => classify_answer(*status, None),
            Failure::Transport { retry: true, .. } | Failure::TimedOut => {
                Some(RetryKind::Transient)
            }
            Failure::Transport { retry: false, .. } | Failure::Local(_) => None,
        }
    }

    pub(super) fn into_error(
        self,
        action: &'static str,
        url: &ApiUrl,
        timeout: Duration,
    ) -> AwsError {
        let mut e = AwsError {
            action,
            code: None,
            message: String::new(),
            request_id: None,
            timed_out: false,
            signer: None,
        };
        match self {
            Failure::Service { error, .. } => {
                e.code = Some(error.code);
                e.message = error.message;
                e.request_id = error.request_id;
            }
            Failure::Http { status, excerpt } => {
                e.message = format!("{url} answered HTTP {status}: {excerpt}");
            }
            Failure::Transport { message, .. } | Failure::Local(message) => e.message = message,
            Failure::TimedOut => {
                e.timed_out = true;
                e.message = format!("no answer from {url} within {} s", timeout.as_secs());
            }
        }
        e
    }
}

/// The start of a non-EC2 answer, on one line, for an error message.
pub(super) fn excerpt(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None if one_line.is_empty() => "(no body)".into(),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_retried_as_the_sdk_classifies_them() {
        let service = |status, code: &str| Failure::Service {
            status,
            error: ErrorDocument {
                code: code.into(),
                message: String::new(),
                request_id: None,
            },
        };
        use RetryKind::{Throttling, Transient};
        assert_eq!(
            service(503, "RequestLimitExceeded").retry_kind(),
            Some(Throttling)
        );
        assert_eq!(
            service(400, "RequestLimitExceeded").retry_kind(),
            Some(Throttling)
        );
        assert_eq!(service(500, "InternalError").retry_kind(), Some(Transient));
        assert_eq!(service(403, "UnauthorizedOperation").retry_kind(), None);
        assert_eq!(
            service(400, "InvalidInstanceID.NotFound").retry_kind(),
            None
        );
        let http = |status| Failure::Http {
            status,
            excerpt: String::new(),
        };
        assert_eq!(http(502).retry_kind(), Some(Transient));
        // Not every 5xx, and no 429 without a throttling code: as the SDK.
        for status in [501, 505, 507, 429, 407] {
            assert_eq!(http(status).retry_kind(), None, "{status}");
        }
        assert_eq!(Failure::TimedOut.retry_kind(), Some(Transient));
        let transport = |retry| Failure::Transport {
            message: String::new(),
            retry,
        };
        assert_eq!(transport(true).retry_kind(), Some(Transient));
        assert_eq!(transport(false).retry_kind(), None);
        assert_eq!(Failure::Local("no credentials".into()).retry_kind(), None);
    }

    #[test]
    fn a_foreign_answer_is_quoted_short_and_on_one_line() {
        assert_eq!(
            excerpt("<html>\n  <h1>Bad gateway</h1>\n</html>"),
            "<html> <h1>Bad gateway</h1> </html>"
        );
        assert_eq!(excerpt(""), "(no body)");
        assert!(excerpt(&"x ".repeat(500)).ends_with('…'));
    }
}
