//! AWS configuration and the credentials used to sign tunnels.
//!
//! Credentials come from `aws-config`'s default chain (environment, shared
//! profiles, SSO, web identity, container and instance metadata), exactly as the
//! AWS CLI finds them. Every tunnel needs a fresh signature, so the chain's
//! answer is cached here until shortly before it expires: a warm connection
//! must not wait on an SSO or metadata round trip. Credentials that name no
//! expiry (a `credential_process` without `Expiration`) are kept 15 minutes,
//! as the SDKs' identity cache keeps them, so a long-running `serve` picks up
//! new ones without a restart.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::service_config::ServiceConfigKey;

/// Credentials this close to expiry are refreshed before signing, so that a
/// URL signed now is still backed by valid credentials when the service checks it.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// How long credentials without an expiry are used before the chain is asked
/// again: the SDKs' identity cache's default.
const LIFETIME_WITHOUT_EXPIRY: Duration = Duration::from_secs(15 * 60);

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
    /// The last answer and when it came, reused while it is fresh.
    current: Mutex<Option<(Credentials, SystemTime)>>,
    /// Serialises refreshes so that many connections arriving at once make one call.
    refresh: tokio::sync::Mutex<()>,
    /// The AWS profile the chain reads, to say where rejected credentials came from.
    profile: Option<String>,
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
            profile: None,
        }
    }

    /// The same cache, knowing that its chain reads profile `name` (for
    /// [`CredentialCache::describe`]).
    pub fn for_profile(mut self, name: impl Into<String>) -> CredentialCache {
        self.profile = Some(name.into());
        self
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
        *self.current.lock().expect("credential cache lock") =
            Some((credentials.clone(), SystemTime::now()));
        Ok(credentials)
    }

    /// Which credentials these are and where they came from ("access key
    /// AKIA… from the environment (AWS_ACCESS_KEY_ID)"), for an error that
    /// says AWS did not accept them. Given the ones the failed request was
    /// signed with, not read from the cache: calls made side by side fail
    /// together, and the first to fail may already have dropped them.
    pub fn describe(&self, credentials: &Credentials) -> String {
        format!(
            "access key {} from {}",
            credentials.access_key_id(),
            source(credentials, self.profile.as_deref())
        )
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
            .filter(|(c, fetched)| is_fresh(c, *fetched, SystemTime::now()))
            .map(|(c, _)| c.clone())
    }
}

/// Whether credentials fetched at `fetched` may still sign at `now`.
fn is_fresh(credentials: &Credentials, fetched: SystemTime, now: SystemTime) -> bool {
    match credentials.expiry() {
        None => now < fetched + LIFETIME_WITHOUT_EXPIRY,
        Some(expiry) => now + REFRESH_BEFORE_EXPIRY < expiry,
    }
}

/// Where the chain found `credentials`, in the words of the AWS configuration
/// (read from the features the SDK's providers record on what they return;
/// else the provider's name).
fn source(credentials: &Credentials, profile: Option<&str>) -> String {
    use AwsCredentialFeature as F;
    let profile = match profile {
        Some(name) => format!("profile {name}"),
        None => "the profile".to_owned(),
    };
    let features = credentials
        .get_property::<Vec<AwsCredentialFeature>>()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let has = |wanted: &[F]| features.iter().any(|f| wanted.contains(f));
    if has(&[F::CredentialsProcess, F::CredentialsProfileProcess]) {
        format!("the credential_process of {profile}")
    } else if has(&[F::CredentialsSso, F::CredentialsProfileSso]) {
        format!("SSO ({profile}; aws sso login renews it)")
    } else if has(&[
        F::CredentialsStsAssumeRoleWebId,
        F::CredentialsEnvVarsStsWebIdToken,
        F::CredentialsProfileStsWebIdToken,
    ]) {
        "a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)".to_owned()
    } else if has(&[F::CredentialsStsAssumeRole]) {
        format!("a role assumed for {profile}")
    } else if has(&[F::CredentialsLogin, F::CredentialsProfileLogin]) {
        format!("aws login ({profile})")
    } else if has(&[F::CredentialsImds]) {
        "the instance metadata service (IMDS)".to_owned()
    } else if has(&[F::CredentialsHttp]) {
        "the container credentials endpoint".to_owned()
    } else if has(&[F::CredentialsEnvVars]) {
        "the environment (AWS_ACCESS_KEY_ID)".to_owned()
    } else if has(&[F::CredentialsProfile]) {
        profile
    } else {
        format!("the credential provider {}", provider_name(credentials))
    }
}

/// The name a provider gave its credentials, which they show only in their
/// `Debug` form.
fn provider_name(credentials: &Credentials) -> String {
    let debug = format!("{credentials:?}");
    debug
        .split_once("provider_name: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or_else(|| "in use".to_owned(), |(name, _)| name.to_owned())
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
        assert!(is_fresh(&expiring_at(None), now, now));
        let hour = expiring_at(Some(now + Duration::from_secs(3600)));
        assert!(is_fresh(&hour, now, now));
        let minute = expiring_at(Some(now + Duration::from_secs(60)));
        assert!(!is_fresh(&minute, now, now));
    }

    #[test]
    fn credentials_without_an_expiry_are_kept_fifteen_minutes() {
        let fetched = SystemTime::now();
        let never = expiring_at(None);
        let minutes = |m: u64| fetched + Duration::from_secs(m * 60);
        assert!(is_fresh(&never, fetched, minutes(14)));
        assert!(!is_fresh(&never, fetched, minutes(15)));
        // An expiry of their own still rules, however old the answer.
        let later = expiring_at(Some(minutes(180)));
        assert!(is_fresh(&later, fetched, minutes(60)));
    }

    #[test]
    fn the_source_of_credentials_is_named_as_the_aws_config_names_it() {
        let with = |features: &[AwsCredentialFeature]| {
            let mut c = expiring_at(None);
            c.get_property_mut_or_default::<Vec<AwsCredentialFeature>>()
                .extend_from_slice(features);
            c
        };
        use AwsCredentialFeature as F;
        let env = with(&[F::CredentialsEnvVars]);
        assert_eq!(source(&env, None), "the environment (AWS_ACCESS_KEY_ID)");
        let process = with(&[F::CredentialsProcess, F::CredentialsProfile]);
        assert_eq!(
            source(&process, Some("dev")),
            "the credential_process of profile dev"
        );
        assert_eq!(
            source(&with(&[F::CredentialsProfile]), Some("dev")),
            "profile dev"
        );
        assert!(source(&with(&[F::CredentialsImds]), None).contains("IMDS"));
        assert!(source(&with(&[F::CredentialsSso]), None).contains("SSO"));
        // No feature recorded: the provider's own name.
        assert_eq!(
            source(&expiring_at(None), None),
            "the credential provider test"
        );
    }

    #[tokio::test]
    async fn the_cache_describes_the_key_it_signs_with() {
        let cache = CredentialCache::fixed(expiring_at(None)).for_profile("ops");
        let signer = cache.get().await.unwrap();
        assert_eq!(
            cache.describe(&signer),
            "access key AKID from the credential provider test"
        );
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
