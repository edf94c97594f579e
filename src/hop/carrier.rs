//! Why the EICE tunnel under a hop's SSH connection could not be opened.
//!
//! The proxy opens that tunnel (resolve the hop instance, push its key, open
//! the tunnel) and fails with the crate-wide error, which gathers the hop's
//! own error among others; holding it here would make the two modules need
//! each other. So the hop keeps what it needs of it: the reply a client gets,
//! the endpoint and request id for the logs, and the failure itself, type
//! erased, which still prints the same words and the same chain of causes.

use std::error::Error as StdError;
use std::fmt;

use crate::reply::Reply;

/// The failure to open a hop connection's tunnel, as the proxy reported it.
#[derive(Debug)]
pub struct CarrierError {
    reply: Reply,
    endpoint: Option<String>,
    request_id: Option<String>,
    error: Box<dyn StdError + Send + Sync>,
}

impl CarrierError {
    /// `error`, which tells a client `reply`; `endpoint` refused it, in the
    /// AWS request `request_id`, when the service answered.
    pub fn new(
        error: impl StdError + Send + Sync + 'static,
        reply: Reply,
        endpoint: Option<String>,
        request_id: Option<String>,
    ) -> CarrierError {
        CarrierError {
            reply,
            endpoint,
            request_id,
            error: Box::new(error),
        }
    }

    /// What a proxy client is told: what it would be told of the failure itself.
    pub fn reply(&self) -> Reply {
        self.reply
    }

    /// The endpoint that refused the tunnel, when the service answered.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The AWS request id behind the failure, when there is one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

impl fmt::Display for CarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl StdError for CarrierError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.error.source()
    }
}
