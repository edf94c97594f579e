//! The EICE endpoint's TLS identity: a server presenting anything but a
//! certificate for the dialled name, chained to a trusted root, is refused
//! during the handshake, before the presigned URL (the credential) or any
//! other byte of the tunnel is sent.
//!
//! A TLS server of the test's own stands for the endpoint
//! (`EICE_PROXY_ENDPOINT_URL=wss://localhost:PORT`) and reports what it
//! received. `AWS_CA_BUNDLE` names the one CA the test trusts; each case
//! changes one thing: an unknown CA, another name, a self-signed certificate.
//! The trusted case is the control: the same server, with a good
//! certificate, does receive the signed upgrade request.

mod common;

use std::sync::Arc;

use common::{PATIENCE, Sim};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

/// A certificate authority made for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `name` signed by this CA, with its chain.
    fn server(&self, name: &str) -> Identity {
        let key = KeyPair::generate().unwrap();
        let cert = leaf(name).signed_by(&key, &self.issuer).unwrap();
        Identity {
            chain: vec![cert.der().clone(), self.cert.clone()],
            key,
        }
    }
}

/// What a server presents: its chain, leaf first, and the leaf's key.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: KeyPair,
}

impl Identity {
    /// A certificate for `name` that signs itself.
    fn self_signed(name: &str) -> Identity {
        let key = KeyPair::generate().unwrap();
        let cert = leaf(name).self_signed(&key).unwrap();
        Identity {
            chain: vec![cert.der().clone()],
            key,
        }
    }
}

fn leaf(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

/// What the stand-in endpoint saw of its one client.
#[derive(Debug)]
enum Seen {
    /// The handshake failed (the client refused the certificate): the error.
    Refused(String),
    /// The handshake succeeded; what the client then sent, up to the end of
    /// its request head.
    Request(String),
}

/// Serves one TLS connection with `identity` on localhost; returns the port
/// and what it saw.
async fn endpoint(identity: Identity) -> (u16, tokio::task::JoinHandle<Seen>) {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(identity.chain, key)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut tls = match acceptor.accept(socket).await {
            Ok(tls) => tls,
            Err(e) => return Seen::Refused(e.to_string()),
        };
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        Seen::Request(String::from_utf8_lossy(&got).into_owned())
    });
    (port, seen)
}

/// `eice-proxy connect` through the endpoint on `port`, trusting only `ca`:
/// its exit status and standard error, and what the endpoint saw.
async fn connect_through(ca: &Ca, identity: Identity) -> (bool, String, Seen) {
    let sim = Sim::start(false).await;
    let bundle = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bundle.path(), &ca.pem).unwrap();
    let (port, seen) = endpoint(identity).await;
    let mut cmd = sim.connect("10.0.1.25", 22, &[]);
    cmd.env("EICE_PROXY_ENDPOINT_URL", format!("wss://localhost:{port}"))
        .env("AWS_CA_BUNDLE", bundle.path());
    let out = timeout(PATIENCE, cmd.output())
        .await
        .expect("connect ends")
        .unwrap();
    let seen = timeout(PATIENCE, seen).await.unwrap().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        seen,
    )
}

/// The refusal cases' common ground: connect fails naming the certificate
/// problem (`why`), and the endpoint got no byte past the handshake.
fn assert_refused(result: (bool, String, Seen), why: &str) {
    let (ok, stderr, seen) = result;
    assert!(!ok, "connect must fail");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
    assert!(stderr.contains(why), "{stderr}");
    assert!(stderr.contains("AWS_CA_BUNDLE"), "names the fix: {stderr}");
    let Seen::Refused(alert) = seen else {
        panic!("the endpoint must see the handshake fail and no request: {seen:?}")
    };
    // The client said why, in a TLS alert, and hung up.
    assert!(alert.contains("alert"), "{alert}");
}

#[tokio::test]
async fn a_certificate_from_the_trusted_ca_for_the_dialled_name_gets_the_signed_request() {
    let ca = Ca::new("trusted test CA");
    let (_, _, seen) = connect_through(&ca, ca.server("localhost")).await;
    let Seen::Request(head) = seen else {
        panic!("the handshake should succeed: {seen:?}")
    };
    assert!(head.starts_with("GET /openTunnel?"), "{head}");
    assert!(head.contains("X-Amz-Signature="), "{head}");
}

#[tokio::test]
async fn a_certificate_from_a_ca_outside_the_bundle_is_refused_before_any_byte() {
    let trusted = Ca::new("trusted test CA");
    let other = Ca::new("another CA");
    let result = connect_through(&trusted, other.server("localhost")).await;
    assert_refused(result, "UnknownIssuer");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_before_any_byte() {
    let ca = Ca::new("trusted test CA");
    let result = connect_through(&ca, ca.server("eice.example.com")).await;
    assert_refused(result, "not valid for name");
}

#[tokio::test]
async fn a_self_signed_certificate_is_refused_before_any_byte() {
    let ca = Ca::new("trusted test CA");
    let result = connect_through(&ca, Identity::self_signed("localhost")).await;
    // Which check fails first depends on the machine's root store (a root
    // whose name matches the certificate's issuer is tried); refused it is.
    assert_refused(result, "invalid peer certificate");
}
