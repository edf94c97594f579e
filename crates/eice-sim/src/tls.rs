//! A throwaway certificate authority for the simulated `wss://` endpoint.
//!
//! The real EICE endpoint speaks TLS, and the product's TLS setup (custom CA
//! bundles via `AWS_CA_BUNDLE`, ALPN, rustls with aws-lc-rs) deserves to be exercised
//! too. [`TestCa`] generates a fresh CA and a server certificate for `localhost`,
//! `127.0.0.1` and `::1` (and, for a service standing for real endpoints, their
//! DNS names) at start, so tests never depend on files or on real PKI.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::default_provider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names the server certificate is valid for: every way a test reaches 127.0.0.1/::1.
const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why the test CA could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Key or certificate generation failed.
    #[error("generating the test certificates failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the generated material or the protocol settings.
    #[error("building the rustls configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A generated CA plus a server certificate it signed, ready for rustls.
pub struct TestCa {
    /// PEM of the CA certificate: what clients must trust.
    ca_pem: String,
    /// The DER of the CA certificate, for client configs built here.
    ca_der: CertificateDer<'static>,
    /// The server side, shared by every accepted connection.
    server_config: Arc<ServerConfig>,
}

impl TestCa {
    /// Generates a new CA and a `localhost`/`127.0.0.1`/`::1` server certificate.
    pub fn generate() -> Result<TestCa, TlsError> {
        TestCa::generate_for(&[])
    }

    /// [`TestCa::generate`], the server certificate also valid for `names`
    /// (endpoints' DNS names, which a client dials at a loopback address).
    pub fn generate_for(names: &[String]) -> Result<TestCa, TlsError> {
        let ca_key = KeyPair::generate()?;
        let ca_params = ca_params()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate()?;
        let server_cert = server_params(names)?.signed_by(&server_key, &issuer)?;
        let ca_der = ca_cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let chain = vec![server_cert.der().clone(), ca_der.clone()];
        let mut server_config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TestCa {
            ca_pem: ca_cert.pem(),
            ca_der,
            server_config: Arc::new(server_config),
        })
    }

    /// The CA certificate in PEM form, for clients that take a trust bundle.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The rustls server configuration (ALPN `http/1.1`) for the simulated endpoint.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.server_config)
    }

    /// Writes the CA PEM to `path`, so a test can point `AWS_CA_BUNDLE` at it.
    pub fn write_ca_pem(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, &self.ca_pem)
    }

    /// A rustls client configuration that trusts only this CA (ALPN `http/1.1`), for
    /// tests that talk to the simulated endpoint directly.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone())?;
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The aws-lc-rs provider, named explicitly: a process-wide default may be unset (or
/// set to something else) in whatever test binary embeds the simulator.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(default_provider())
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "eice-proxy simulated AWS test CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn server_params(extra: &[String]) -> Result<CertificateParams, rcgen::Error> {
    let mut names: Vec<String> = SERVER_NAMES.iter().map(|name| name.to_string()).collect();
    names.extend(extra.iter().cloned());
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_pem_is_written_and_is_a_certificate() {
        let ca = TestCa::generate().unwrap();
        assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        ca.write_ca_pem(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), ca.ca_pem());
        assert_eq!(
            ca.server_config().alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
        ca.client_config().unwrap();
    }
}
