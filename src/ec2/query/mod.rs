//! The EC2 Query protocol, as much of it as read-only Describe calls need:
//! a form-encoded POST signed with SigV4, an XML answer, and retries for
//! throttling and passing failures ([`super::retry`]); `NextToken` pages are
//! walked in [`super::pages`].
//!
//! The proxy makes a handful of cached Describe calls, so it speaks the
//! protocol itself rather than linking the AWS SDK's EC2 crate, whose
//! thousands of generated operations took most of a first build (16 of 23
//! minutes). Connections are kept for reuse, so a burst of calls (a
//! paginated listing, `doctor`'s checks) pays for one TLS handshake (`conns`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

mod conns;

use super::endpoint::ApiUrl;
use super::failure::{Failure, excerpt};
use super::retry::{Quota, Retry};
use super::xml;
use super::{AwsError, auth};
use crate::clock::Clock;
use crate::credentials::CredentialCache;
use crate::metrics::{ApiOutcome, count_api_call};
use crate::net::Transport;
use conns::Idle;

/// The API version every request names (EC2 has kept it since 2016).
const API_VERSION: &str = "2016-11-15";

/// The SigV4 signing name of the EC2 API.
const SIGNING_NAME: &str = "ec2";

const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The largest answer read: 32 MiB.
///
/// The largest page the proxy reads is `DescribeInstances`' (at most 1000
/// items with `MaxResults`). An instance as EC2 writes it is about 6 KiB
/// (an interface, a volume, a few tags) and 26 KiB with fifty tags of full
/// length (keys of 128 characters, values of 256), so a page of a thousand
/// such is 25 MiB. A larger answer is refused without a retry, which would
/// only read it again; its XML nodes are bounded too ([`super::MAX_NODES`]).
pub const MAX_ANSWER: usize = 32 << 20;

/// Form encoding as SigV4 and EC2 expect it: everything but RFC 3986's
/// unreserved characters percent-encoded.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What a region's client is told besides each call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub url: ApiUrl,
    /// The signing region.
    pub region: String,
    pub retry: Retry,
    /// TCP and TLS set-up, per attempt.
    pub connect_timeout: Duration,
    /// One attempt, from connecting to the last byte of the answer.
    pub attempt_timeout: Duration,
    /// The largest answer read; a larger one is a final error, not retried
    /// (it would be as large again).
    pub max_answer: usize,
    /// Signing times, corrected by the skew the `Date` of each answer shows.
    pub clock: Clock,
}

impl Settings {
    /// AWS's endpoint for `region`, the SDKs' default retries and timeouts.
    pub fn new(url: ApiUrl, region: &str) -> Settings {
        Settings {
            url,
            region: region.to_owned(),
            retry: Retry::default(),
            connect_timeout: Duration::from_millis(3100),
            attempt_timeout: Duration::from_secs(30),
            max_answer: MAX_ANSWER,
            clock: Clock::process(),
        }
    }
}

/// One region's EC2 API: signs, sends, retries, and keeps connections.
pub(super) struct Query {
    settings: Settings,
    credentials: Arc<CredentialCache>,
    transport: Transport,
    idle: Mutex<Vec<Idle>>,
    /// Requests sent again on a fresh connection after a kept one failed
    /// before any answer: each one a close the reuse check did not see.
    resends: AtomicU64,
    /// The retry quota all of this client's calls draw on.
    quota: Quota,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("url", &self.settings.url.to_string())
            .field("region", &self.settings.region)
            .finish_non_exhaustive()
    }
}

impl Query {
    pub(super) fn new(
        settings: Settings,
        credentials: Arc<CredentialCache>,
        transport: Transport,
    ) -> Query {
        Query {
            settings,
            credentials,
            transport,
            idle: Mutex::new(Vec::new()),
            resends: AtomicU64::new(0),
            quota: Quota::default(),
        }
    }

    /// How many requests were sent again on a fresh connection because a
    /// kept one failed before answering.
    pub(super) fn resends(&self) -> u64 {
        self.resends.load(Ordering::Relaxed)
    }

    /// Calls `action` with `params` (retrying as [`Retry`] says, while the
    /// retry quota lasts), counts the call, and returns EC2's XML answer.
    pub(super) async fn call(
        &self,
        action: &'static str,
        params: &[(String, String)],
    ) -> Result<String, AwsError> {
        let mut body = format!("Action={action}&Version={API_VERSION}");
        for (name, value) in params {
            body.push('&');
            body.extend(utf8_percent_encode(name, FORM));
            body.push('=');
            body.extend(utf8_percent_encode(value, FORM));
        }
        let body = Bytes::from(body);
        let retry = self.settings.retry;
        let mut attempt = 1;
        let mut last_retry = None;
        let mut clock_corrected = false;
        let mut signed_with;
        let mut signer = None;
        let result = loop {
            signed_with = self.settings.clock.skew();
            let timeout = self.settings.attempt_timeout;
            let result = match tokio::time::timeout(timeout, self.attempt(&body, &mut signer)).await
            {
                Ok(result) => result,
                Err(_) => Err(Failure::TimedOut),
            };
            let failure = match result {
                Ok(answer) => {
                    self.quota.succeeded(last_retry);
                    break Ok(answer);
                }
                Err(failure) => failure,
            };
            if let Failure::Service { error, .. } = &failure
                && !clock_corrected
                && auth::is_clock_skew(&error.code, self.settings.clock.skew())
            {
                // Signed with a clock AWS calls wrong by the Date of its
                // answer: once more at once, at AWS's time (as the SDKs do).
                tracing::debug!(action, code = %error.code, "EC2 refused the clock; retrying");
                clock_corrected = true;
                continue;
            }
            let Some(kind) = failure.retry_kind() else {
                break Err(failure);
            };
            if attempt >= retry.max_attempts {
                break Err(failure);
            }
            let Some(cost) = self.quota.acquire(kind) else {
                tracing::debug!(
                    action,
                    attempt,
                    ?failure,
                    "EC2 call failed; no retry quota left"
                );
                break Err(failure);
            };
            last_retry = Some(cost);
            tracing::debug!(action, attempt, ?failure, "EC2 call failed; retrying");
            tokio::time::sleep(retry.backoff(attempt)).await;
            attempt += 1;
        };
        let result = result.map_err(|f| {
            let mut e = f.into_error(action, &self.settings.url, self.settings.attempt_timeout);
            let skew = self.settings.clock.skew();
            auth::after_failure(
                &mut e,
                &self.credentials,
                signer.as_ref(),
                skew.distance(signed_with),
            );
            e
        });
        count_api_call(
            action,
            match &result {
                Ok(_) => ApiOutcome::Ok,
                Err(e) if e.timed_out => ApiOutcome::TimedOut,
                Err(e) => ApiOutcome::Failed(e.code.as_deref()),
            },
        );
        result
    }

    /// The region this client asks about, which its answers' names must be of.
    pub(super) fn region(&self) -> &str {
        &self.settings.region
    }

    /// An answer that could not be read, as an error of `action`.
    pub(super) fn bad_answer(&self, action: &'static str, message: String) -> AwsError {
        AwsError {
            action,
            code: None,
            message: format!("{message} (from {})", self.settings.url),
            request_id: None,
            timed_out: false,
            signer: None,
        }
    }

    /// One signed POST and its answer.
    /// One attempt of a call; `signer` becomes the credentials it signs with.
    async fn attempt(
        &self,
        body: &Bytes,
        signer: &mut Option<Credentials>,
    ) -> Result<String, Failure> {
        let credentials = self
            .credentials
            .get()
            .await
            .map_err(|e| Failure::Local(e.to_string()))?;
        *signer = Some(credentials.clone());
        let (mut sender, reused) = match self.take_idle().await {
            Some(sender) => (sender, true),
            None => (self.connect().await?, false),
        };
        let mut sent = SystemTime::now();
        let mut response = sender.send_request(self.request(body, &credentials)?).await;
        if reused && response.is_err() {
            // The server closed the kept connection as we used it: nothing
            // was answered, so a fresh connection costs no attempt.
            self.resends.fetch_add(1, Ordering::Relaxed);
            sender = self.connect().await?;
            sent = SystemTime::now();
            response = sender.send_request(self.request(body, &credentials)?).await;
        }
        let response = response.map_err(|e| Failure::Transport {
            message: format!("the connection to {} failed: {e}", self.settings.url),
            retry: true,
        })?;
        self.learn_skew(response.headers(), sent);
        let status = response.status().as_u16();
        let max = self.settings.max_answer;
        let answer = Limited::new(response.into_body(), max)
            .collect()
            .await
            .map_err(|e| self.unread(e, max))?
            .to_bytes();
        self.keep(sender);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(match xml::error_document(&text) {
            Some(error) => Failure::Service { status, error },
            None => Failure::Http {
                status,
                excerpt: excerpt(&text),
            },
        })
    }

    /// Why an answer could not be read. One past the size cap is final:
    /// another attempt would download as much again.
    fn unread(&self, e: Box<dyn std::error::Error + Send + Sync>, max: usize) -> Failure {
        let url = &self.settings.url;
        if e.downcast_ref::<LengthLimitError>().is_some() {
            let most = if max >= 1 << 20 {
                format!("{} MiB", max >> 20)
            } else {
                format!("{max} bytes")
            };
            Failure::Transport {
                message: format!(
                    "the answer of {url} is larger than {most}, more than any page \
                     of a Describe call: refused"
                ),
                retry: false,
            }
        } else {
            Failure::Transport {
                message: format!("reading the answer of {url} failed: {e}"),
                retry: true,
            }
        }
    }

    /// Learns the clock skew from an answer's `Date`, unless a cache on the
    /// way answered (`Age`), whose date is old.
    fn learn_skew(&self, headers: &http::HeaderMap, sent: SystemTime) {
        if headers.contains_key(http::header::AGE) {
            return;
        }
        let date = headers
            .get(http::header::DATE)
            .and_then(|d| d.to_str().ok());
        self.settings.clock.learn(date, sent, SystemTime::now());
    }

    /// The POST for `body`, signed now by AWS's clock.
    fn request(
        &self,
        body: &Bytes,
        credentials: &Credentials,
    ) -> Result<http::Request<Full<Bytes>>, Failure> {
        let url = &self.settings.url;
        let authority = url.authority();
        let user_agent = concat!("eice-proxy/", env!("CARGO_PKG_VERSION"));
        let identity: Identity = credentials.clone().into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region(&self.settings.region)
            .name(SIGNING_NAME)
            .time(self.settings.clock.now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::Local(format!("cannot sign an EC2 call: {e}")))?;
        let uri = url.to_string();
        let headers = [("host", authority.as_str()), ("content-type", CONTENT_TYPE)];
        let signable = SignableRequest::new(
            "POST",
            uri.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| Failure::Local(format!("cannot sign an EC2 call: {e}")))?;
        let (instructions, _signature) = sign(signable, &params.into())
            .map_err(|e| Failure::Local(format!("cannot sign an EC2 call: {e}")))?
            .into_parts();
        let mut request = http::Request::builder()
            .method("POST")
            .uri(url.path.as_str())
            .header("host", authority.as_str())
            .header("content-type", CONTENT_TYPE)
            .header("user-agent", user_agent)
            .body(Full::new(body.clone()))
            .map_err(|e| Failure::Local(format!("cannot build an EC2 call: {e}")))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}
