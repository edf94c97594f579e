//! The AWS SDK's HTTP client: STS, SSO and EC2 Instance Connect calls take
//! the same way to AWS as our own connections.
//!
//! The SDK carries its own proxy support (`CONNECT` for `https://`,
//! absolute-form requests for `http://`, Basic auth); what it lacks is our
//! choice of proxy per host, with `NO_PROXY`'s full grammar (CIDRs, ports)
//! and the config file's `[network]` keys. So each request is routed here,
//! by [`Proxies::for_host`], to one of up to three SDK connectors: direct,
//! through the `https` proxy, or through the `http` one. A connection to AWS
//! then goes through a proxy exactly when a tunnel to the same host would.
//!
//! Trust is the SDK's (the system's roots) plus `AWS_CA_BUNDLE`, as for the
//! tunnels, so a corporate TLS inspector is trusted by every call or none.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Connector, proxy};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use super::proxy::{Proxies, ProxyUrl};

/// The SDK's client for `proxies`, trusting `ca_pem` (the contents of
/// `AWS_CA_BUNDLE`) beside the system's roots.
pub fn http_client(proxies: Proxies, ca_pem: Option<Vec<u8>>) -> SharedHttpClient {
    SharedHttpClient::new(SdkClient {
        proxies: Arc::new(proxies),
        ca_pem,
        connectors: Mutex::new(HashMap::new()),
    })
}

/// Builds the routed connectors, one per set of timeouts the SDK asks for
/// (in practice one: every client of a profile shares its timeouts), and
/// keeps them, so that their connection pools are kept too.
struct SdkClient {
    proxies: Arc<Proxies>,
    ca_pem: Option<Vec<u8>>,
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

/// The settings a connector is built with: connect and read timeouts.
type Timeouts = (Option<Duration>, Option<Duration>);

impl HttpClient for SdkClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().expect("not poisoned");
        connectors
            .entry(key)
            .or_insert_with(|| {
                let build = |proxy: Option<&ProxyUrl>| {
                    let mut builder = Connector::builder()
                        .connector_settings(settings.clone())
                        .proxy_config(proxy.map_or_else(ProxyConfig::disabled, sdk_proxy));
                    if let Some(sleep) = components.sleep_impl() {
                        builder = builder.sleep_impl(sleep);
                    }
                    builder
                        .tls_provider(tls::Provider::Rustls(
                            tls::rustls_provider::CryptoMode::AwsLc,
                        ))
                        .tls_context(self.tls_context())
                        .build()
                };
                SharedHttpConnector::new(Routed {
                    proxies: Arc::clone(&self.proxies),
                    direct: build(None),
                    https: self.proxies.https.as_ref().map(|p| build(Some(p))),
                    http: self.proxies.http.as_ref().map(|p| build(Some(p))),
                })
            })
            .clone()
    }
}

impl SdkClient {
    fn tls_context(&self) -> TlsContext {
        let mut roots = TrustStore::default();
        if let Some(pem) = &self.ca_pem {
            roots = roots.with_pem_certificate(pem.clone());
        }
        TlsContext::builder()
            .with_trust_store(roots)
            .build()
            .expect("a trust store and no extra names make a valid context")
    }
}

/// The SDK's proxy setting for `url`: every request it is used for goes
/// through it (the routing was decided already), with Basic auth when the URL
/// has a user.
fn sdk_proxy(url: &ProxyUrl) -> ProxyConfig {
    let address = format!("http://{}", super::authority(false, &url.host, url.port));
    let config = ProxyConfig::all(address.as_str()).unwrap_or_else(|e: proxy::ProxyError| {
        // ProxyUrl::parse accepted the host and port, so this cannot happen;
        // going direct would silently bypass the user's proxy, so refuse all.
        tracing::error!("the proxy {url} cannot be used for AWS API calls: {e}");
        ProxyConfig::all("http://0.0.0.0:9").expect("a fixed valid URL")
    });
    match url.credentials() {
        Some((user, password)) => config.with_basic_auth(user, password),
        None => config,
    }
}

/// Sends each request direct or through the proxy [`Proxies`] chooses for
/// its host.
struct Routed {
    proxies: Arc<Proxies>,
    direct: Connector,
    https: Option<Connector>,
    http: Option<Connector>,
}

// Debug by hand: the SDK's own connectors would show the proxy's password.
impl fmt::Debug for SdkClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SdkClient({:?})", self.proxies)
    }
}

impl fmt::Debug for Routed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Routed({:?})", self.proxies)
    }
}

impl HttpConnector for Routed {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let uri: http::Uri = match request.uri().parse() {
            Ok(uri) => uri,
            // Let the connector report a URI it cannot use, in its own words.
            Err(_) => return self.direct.call(request),
        };
        let tls = uri.scheme_str() != Some("http");
        let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let via = match self.proxies.for_host(tls, host, port) {
            None => None,
            Some(_) if tls => self.https.as_ref(),
            Some(_) => self.http.as_ref(),
        };
        via.unwrap_or(&self.direct).call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_with_credentials_is_used_for_every_request_given_to_it() {
        let url = ProxyUrl::parse("http://alice:s3cret@proxy.corp:3128", "HTTPS_PROXY").unwrap();
        assert!(!sdk_proxy(&url).is_disabled());
        let plain = ProxyUrl::parse("proxy.corp:3128", "HTTPS_PROXY").unwrap();
        assert!(!sdk_proxy(&plain).is_disabled());
    }

    #[test]
    fn the_client_never_shows_the_proxy_password() {
        let proxies = Proxies {
            https: Some(ProxyUrl::parse("http://alice:s3cret@p:3128", "HTTPS_PROXY").unwrap()),
            ..Proxies::default()
        };
        let shown = format!("{:?}", http_client(proxies, None));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
