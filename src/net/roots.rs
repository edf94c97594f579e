//! What server certificates are checked against: webpki's roots, the
//! system's and `AWS_CA_BUNDLE`'s, with the system's store read once per
//! process and off the way to the first ClientHello.
//!
//! Reading the system's store is most of what a start costs (a few hundred
//! PEM files parsed, twice over on Debian: the bundle file and the directory
//! of the same certificates), and `connect` is a new process per login. The
//! store is needed only when the server's certificate arrives, a round trip
//! after the ClientHello: so [`warm`] starts reading it on a thread at
//! start-up, and the verifier ([`Roots`]) waits for that read, if it is not
//! done yet, only when it has a certificate to check. The check itself is
//! rustls's own WebPKI verifier, built once from the whole set.

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// webpki's roots and the system's, read and parsed once per process.
pub(super) fn base_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        #[cfg(test)]
        super::tests::ROOT_LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // Unreadable system certificates are skipped, not fatal: webpki's roots remain.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        roots
    })
}

/// Starts reading the system's roots on a thread of its own, so that the
/// first handshake finds them read (`main` calls it first thing).
pub fn warm() {
    std::thread::spawn(base_roots);
}

/// A server certificate verifier over [`base_roots`] and `extra` (the
/// bundle's certificates, already checked to be usable roots), built at its
/// first certificate.
#[derive(Debug)]
pub(super) struct Roots {
    extra: RootCertStore,
    provider: Arc<CryptoProvider>,
    webpki: OnceLock<Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
}

impl Roots {
    pub(super) fn new(extra: RootCertStore, provider: Arc<CryptoProvider>) -> Roots {
        Roots {
            extra,
            provider,
            webpki: OnceLock::new(),
        }
    }

    /// rustls's verifier over every root, waiting for [`base_roots`].
    fn webpki(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.webpki
            .get_or_init(|| {
                let mut roots = base_roots().clone();
                roots.roots.extend(self.extra.roots.iter().cloned());
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&self.provider),
                )
                .build()
                .map_err(|e| rustls::Error::General(format!("no usable TLS roots: {e}")))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for Roots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
