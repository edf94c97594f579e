//! AWS configuration and the credentials used to sign tunnels.
//!
//! Credentials come from `aws-config`'s default chain (environment, shared
//! profiles, SSO, web identity, container and instance metadata), exactly as the
//! AWS CLI finds them. Every tunnel needs a fresh signature, so the chain's
//! answer is cached here until shortly before it expires: a warm connection
//! must not wait on an SSO or metadata round trip.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::service_config::ServiceConfigKey;

/// Credentials this close to expiry are refreshed before signing, so that a
/// URL signed now is still backed by valid credentials when the service checks it.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// Why no credentials could be had.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "no AWS credentials found: configure a profile (aws configure / aws sso login), \
         set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoProvider,
    #[error("could not load AWS credentials: {0}")]
    Provider(String),
}

/// Loads the shared AWS configuration, with an optional region and profile
/// that win over the environment and the config files. Every call the SDK
/// makes (STS, SSO, EC2 Instance Connect) goes through `http`, which takes
/// the proxy our own connections take ([`crate::net::sdk`]).
pub async fn load_sdk_config(
    region: Option<String>,
    profile: Option<String>,
    http: SharedHttpClient,
) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// The EC2 API URL configured for this profile, as the AWS SDKs read it:
/// `AWS_ENDPOINT_URL_EC2`, an `ec2` `endpoint_url` in the profile's
/// `services` section, then `AWS_ENDPOINT_URL` or the profile's own
/// `endpoint_url` (`AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` turns all off).
pub fn ec2_endpoint_url(config: &SdkConfig) -> Option<String> {
    let key = ServiceConfigKey::builder()
        .service_id("EC2")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .expect("every field of the key is set");
    config
        .service_config()
        .and_then(|c| c.load_config(key))
        .or_else(|| config.endpoint_url().map(str::to_owned))
}

/// A credentials provider with a cache in front of it.
#[derive(Debug)]
pub struct CredentialCache {
    /// The chain that produces credentials; `None` when nothing is configured.
    provider: Option<SharedCredentialsProvider>,
    /// The last answer, reused while it is fresh.
    current: Mutex<Option<Credentials>>,
    /// Serialises refreshes so that many connections arriving at once make one call.
    refresh: tokio::sync::Mutex<()>,
}

impl CredentialCache {
    /// A cache over the credentials provider of `config`.
    pub fn from_sdk_config(config: &SdkConfig) -> CredentialCache {
        CredentialCache::new(config.credentials_provider())
    }

    /// A cache over any provider (tests pass fixed credentials).
    pub fn new(provider: Option<SharedCredentialsProvider>) -> CredentialCache {
        CredentialCache {
            provider,
            current: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Fixed credentials, never refreshed.
    pub fn fixed(credentials: Credentials) -> CredentialCache {
        CredentialCache::new(Some(SharedCredentialsProvider::new(credentials)))
    }

    /// Credentials valid for at least a few more minutes.
    pub async fn get(&self) -> Result<Credentials, CredentialsError> {
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        let provider = self.provider.as_ref().ok_or(CredentialsError::NoProvider)?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| CredentialsError::Provider(error_chain(&e)))?;
        *self.current.lock().expect("credential cache lock") = Some(credentials.clone());
        Ok(credentials)
    }

    /// Drops the cached answer, so the next `get` asks the chain again (after
    /// the service said the credentials were rejected).
    pub fn invalidate(&self) {
        *self.current.lock().expect("credential cache lock") = None;
    }

    fn fresh(&self) -> Option<Credentials> {
        let current = self.current.lock().expect("credential cache lock");
        current
            .as_ref()
            .filter(|c| is_fresh(c, SystemTime::now()))
            .cloned()
    }
}

fn is_fresh(credentials: &Credentials, now: SystemTime) -> bool {
    match credentials.expiry() {
        None => true,
        Some(expiry) => now + REFRESH_BEFORE_EXPIRY < expiry,
    }
}

/// An error and its sources on one line, the way a user needs to read them.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiring_at(expiry: Option<SystemTime>) -> Credentials {
        Credentials::new("AKID", "secret", None, expiry, "test")
    }

    #[test]
    fn credentials_near_expiry_are_not_fresh() {
        let now = SystemTime::now();
        assert!(is_fresh(&expiring_at(None), now));
        assert!(is_fresh(
            &expiring_at(Some(now + Duration::from_secs(3600))),
            now
        ));
        assert!(!is_fresh(
            &expiring_at(Some(now + Duration::from_secs(60))),
            now
        ));
    }

    #[tokio::test]
    async fn fixed_credentials_are_served_from_the_cache() {
        let cache = CredentialCache::fixed(expiring_at(None));
        assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID");
        assert!(cache.fresh().is_some());
        cache.invalidate();
        assert!(cache.fresh().is_none());
    }

    #[tokio::test]
    async fn no_provider_says_how_to_configure_one() {
        let err = CredentialCache::new(None).get().await.unwrap_err();
        assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
    }
}
