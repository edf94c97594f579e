//! Why a tunnel could not be opened or ended badly, in words a user can act on.
//!
//! EICE reports trouble two ways: an HTTP status on the upgrade with a JSON
//! body `{"ErrorCode": …, "Message": …}`, or a close frame whose code is not
//! 1000 and whose reason says why. Both become a [`TunnelError`] that keeps the
//! service's own words, adds what to do about them, and knows which
//! [`Reply`] a proxy client gets.

use std::fmt;
use std::time::Duration;

use tokio_tungstenite::tungstenite;

use super::sign::SignError;
use crate::credentials::CredentialsError;
use crate::net::TransportError;
use crate::reply::Reply;

/// The close code a normal end of tunnel carries.
pub const CLOSE_NORMAL: u16 = 1000;

/// The close code of an internal error on the service side; EICE has been
/// seen to use it when the instance cannot be reached on the port (it
/// documents no code for that: [`TunnelError::NotReached`] does not rely on it).
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// A tunnel failure.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("{0}")]
    Endpoint(String),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("the WebSocket upgrade failed: {0}")]
    Handshake(String),
    #[error("{0}")]
    Refused(ServiceError),
    #[error(
        "EICE closed the tunnel with code {code}: {}",
        reason_or_unknown(reason)
    )]
    Closed { code: u16, reason: String },
    /// EICE closed the tunnel (any code but 1000) before a single byte
    /// came from the instance: the tunnel never reached it, whatever the
    /// code says (EICE documents no code for "Unable to connect to target").
    #[error(
        "EICE closed the tunnel with code {code} before the instance sent anything: {}",
        reason_or_unknown(reason)
    )]
    NotReached { code: u16, reason: String },
    #[error("EICE sent a text frame; the tunnel protocol carries binary frames only")]
    TextFrame,
    #[error("the connection to EICE ended without a close frame")]
    Dropped,
    #[error("WebSocket error: {0}")]
    WebSocket(#[from] tungstenite::Error),
    #[error("{step} timed out after {}s", after.as_secs_f32())]
    Timeout { step: &'static str, after: Duration },
    /// The same, with a corporate proxy on the way: the user must learn
    /// that the proxy is one of the parties that kept silent.
    #[error(
        "opening the tunnel through the proxy {proxy} timed out after {}s: the proxy did not \
         answer, or the endpoint behind it did not",
        after.as_secs_f32()
    )]
    ProxyTimeout { proxy: String, after: Duration },
    #[error(
        "EICE did not answer keepalive pings within {}s: the tunnel is presumed dead and was \
         closed (a NAT, firewall or proxy on the way may have dropped it)",
        after.as_secs_f32()
    )]
    Unanswered { after: Duration },
}

fn reason_or_unknown(reason: &str) -> &str {
    if reason.is_empty() {
        "(no reason given)"
    } else {
        reason
    }
}

impl TunnelError {
    /// What a proxy client is told about this failure.
    pub fn reply(&self) -> Reply {
        match self {
            TunnelError::Refused(e) => e.reply(),
            TunnelError::NotReached { .. } => Reply::ConnectionRefused,
            TunnelError::Closed { code, .. } if *code == CLOSE_INTERNAL_ERROR => {
                Reply::ConnectionRefused
            }
            TunnelError::Timeout { .. }
            | TunnelError::ProxyTimeout { .. }
            | TunnelError::Unanswered { .. } => Reply::TimedOut,
            _ => Reply::GeneralFailure,
        }
    }

    /// Whether the tunnel did not reach the instance's port: EICE closed it
    /// before any byte came from the instance (a security group, a network
    /// ACL, or nothing listening), with whatever code.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, TunnelError::NotReached { .. })
    }

    /// The AWS request id of the refused upgrade, for support cases and CloudTrail.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            TunnelError::Refused(e) => e.request_id.as_deref(),
            _ => None,
        }
    }
}

/// The service refused the WebSocket upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// The HTTP status of the refusal.
    pub status: u16,
    /// `ErrorCode` from the JSON body, when there was one.
    pub code: Option<String>,
    /// `Message` from the JSON body, or the body itself when it was not JSON.
    pub message: Option<String>,
    /// `x-amzn-RequestId`, which AWS support asks for.
    pub request_id: Option<String>,
    /// The endpoint that refused, for the IAM hint.
    pub endpoint_id: String,
}

impl ServiceError {
    /// Reads a refusal from its status, headers and body.
    pub fn from_response(
        status: u16,
        request_id: Option<String>,
        body: &[u8],
        endpoint_id: &str,
    ) -> ServiceError {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(alias = "errorCode", alias = "__type", alias = "code")]
            #[serde(rename = "ErrorCode")]
            code: Option<String>,
            #[serde(alias = "message", alias = "errorMessage")]
            #[serde(rename = "Message")]
            message: Option<String>,
        }
        let (code, message) = match serde_json::from_slice::<Body>(body) {
            Ok(b) => (b.code, b.message),
            Err(_) => {
                let text = String::from_utf8_lossy(body)
                    .trim()
                    .chars()
                    .take(300)
                    .collect::<String>();
                (None, Some(text).filter(|t| !t.is_empty()))
            }
        };
        ServiceError {
            status,
            code,
            message,
            request_id,
            endpoint_id: endpoint_id.to_owned(),
        }
    }

    fn code_is(&self, code: &str) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }

    fn says(&self, word: &str) -> bool {
        self.message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains(word))
    }

    /// What a proxy client is told about this refusal.
    pub fn reply(&self) -> Reply {
        match self.status {
            403 => Reply::NotAllowed,
            400 if self.code_is("InvalidParameter") && self.says("remoteport") => Reply::NotAllowed,
            404 => Reply::HostUnreachable,
            _ if self
                .code
                .as_deref()
                .is_some_and(|c| c.ends_with(".NotFound")) =>
            {
                Reply::NetworkUnreachable
            }
            504 => Reply::TimedOut,
            _ => Reply::GeneralFailure,
        }
    }

    /// What the user can do about it, when there is something to say.
    fn hint(&self) -> Option<String> {
        // Credentials first: "The security token included in the request is
        // expired" is about the session, not the clock.
        if self.code_is("UnrecognizedClientException")
            || self.code_is("InvalidClientTokenId")
            || self.code_is("ExpiredToken")
            || self.code_is("ExpiredTokenException")
        {
            return Some(
                "the access key or session token is not valid: refresh the credentials \
                 (for SSO: aws sso login)"
                    .into(),
            );
        }
        if self.says("signature expired") || self.says("request has expired") {
            return Some(
                "a signed URL is valid for 60 s: check that this machine's clock is right (NTP)"
                    .into(),
            );
        }
        if self.code_is("SignatureDoesNotMatch") {
            return Some(
                "the secret key does not match the access key id: check the credentials in use \
                 (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
                    .into(),
            );
        }
        if self.status == 403 {
            return Some(format!(
                "the caller needs ec2-instance-connect:OpenTunnel on instance-connect-endpoint/{}; \
                 a policy condition on remotePort, privateIpAddress or maxTunnelDuration can also refuse it",
                self.endpoint_id
            ));
        }
        if self.says("remoteport") {
            return Some("EICE accepts only ports 22 and 3389".into());
        }
        // AWS documents the quota of 20 concurrent connections per endpoint,
        // not the words of its refusal: both likely shapes are recognised.
        if self.code_is("ServiceQuotaExceededException") || self.says("concurrent connections") {
            return Some(format!(
                "{} already carries its 20 concurrent tunnels, some not this proxy's (the AWS \
                 CLI, another proxy): retry once one closes, or add a [[hop]] for the VPC, whose \
                 streams share one tunnel",
                self.endpoint_id
            ));
        }
        match self.status {
            429 => Some("the service is throttling requests: retry shortly".into()),
            500..=599 => Some("the EICE service had trouble: retry shortly".into()),
            _ => None,
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EICE refused the tunnel (HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        f.write_str(")")?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(hint) = self.hint() {
            write!(f, " — {hint}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT_BODY: &str = r#"{"ErrorCode":"InvalidParameter","Message":"The specified RemotePort is not valid. Specify either 22 or 3389 as the RemotePort and retry your request."}"#;

    #[test]
    fn a_port_refusal_keeps_the_service_words_and_is_not_allowed() {
        let e =
            ServiceError::from_response(400, Some("rid-1".into()), PORT_BODY.as_bytes(), "eice-1");
        let text = e.to_string();
        assert!(text.contains("HTTP 400 InvalidParameter"), "{text}");
        assert!(text.contains("Specify either 22 or 3389"), "{text}");
        assert!(text.contains("[request id rid-1]"), "{text}");
        assert_eq!(e.reply(), Reply::NotAllowed);
    }

    #[test]
    fn an_iam_denial_names_the_permission_and_the_endpoint() {
        let body = br#"{"ErrorCode":"AccessDeniedException","Message":"User is not authorized"}"#;
        let e = ServiceError::from_response(403, None, body, "eice-0abc");
        assert!(
            e.to_string()
                .contains("ec2-instance-connect:OpenTunnel on instance-connect-endpoint/eice-0abc")
        );
        assert_eq!(e.reply(), Reply::NotAllowed);
    }

    #[test]
    fn an_expired_url_points_at_the_clock() {
        let body = br#"{"ErrorCode":"InvalidSignatureException","Message":"Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z"}"#;
        let e = ServiceError::from_response(403, None, body, "eice-1");
        assert!(e.to_string().contains("clock"), "{e}");
    }

    #[test]
    fn a_full_endpoint_refused_by_the_service_says_who_else_may_hold_it() {
        let body = br#"{"ErrorCode":"ServiceQuotaExceededException","Message":"The instance connect endpoint eice-1 already has the maximum number of 20 concurrent connections."}"#;
        let e = ServiceError::from_response(429, None, body, "eice-1");
        let text = e.to_string();
        assert!(
            text.contains("not this proxy's") && text.contains("[[hop]]"),
            "{text}"
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_kept_as_text() {
        let e = ServiceError::from_response(502, None, b"Bad Gateway", "eice-1");
        assert_eq!(e.message.as_deref(), Some("Bad Gateway"));
        assert!(e.to_string().contains("retry"), "{e}");
    }

    #[test]
    fn an_unreachable_instance_is_connection_refused() {
        let e = TunnelError::Closed {
            code: CLOSE_INTERNAL_ERROR,
            reason: "Failed to connect".into(),
        };
        assert_eq!(e.reply(), Reply::ConnectionRefused);
        // Closed before any data, with any code: not reached, and refused.
        for code in [1011, 1008, 1006, 4000] {
            let e = TunnelError::NotReached {
                code,
                reason: "Unable to connect to target".into(),
            };
            assert!(e.is_unreachable(), "{code}");
            assert_eq!(e.reply(), Reply::ConnectionRefused);
            assert!(e.to_string().contains("Unable to connect to target"), "{e}");
        }
        // Closed once data flowed is not a path problem, 1011 or not.
        assert!(!e_closed(1011).is_unreachable());
        let e = TunnelError::Closed {
            code: 1008,
            reason: String::new(),
        };
        assert!(e.to_string().contains("(no reason given)"));
    }

    fn e_closed(code: u16) -> TunnelError {
        TunnelError::Closed {
            code,
            reason: String::new(),
        }
    }
}
