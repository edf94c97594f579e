//! Trust roots read once, TCP keepalive's timings, a missing CA bundle.

use super::*;

/// How many times this test process read the system's roots.
pub(super) static ROOT_LOADS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

#[test]
fn the_system_roots_are_read_once_per_process_when_a_certificate_is_checked() {
    use rustls::client::danger::ServerCertVerifier;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let name = ServerName::try_from("example.com").unwrap();
    for _ in 0..2 {
        // Each configuration has a verifier of its own.
        let roots = roots::Roots::new(rustls::RootCertStore::empty(), Arc::clone(&provider));
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let now = rustls_pki_types::UnixTime::now();
        assert!(
            roots
                .verify_server_cert(&garbage, &[], &name, &[], now)
                .is_err()
        );
    }
    assert_eq!(ROOT_LOADS.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn keep_alive_turns_tcp_keepalive_on_with_its_timings() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    keep_alive(&tcp);
    let socket = socket2::SockRef::from(&tcp);
    assert!(socket.keepalive().unwrap());
    assert_eq!(socket.tcp_keepalive_time().unwrap(), TCP_KEEPALIVE_IDLE);
    assert_eq!(
        socket.tcp_keepalive_interval().unwrap(),
        TCP_KEEPALIVE_INTERVAL
    );
    assert_eq!(
        socket.tcp_keepalive_retries().unwrap(),
        TCP_KEEPALIVE_PROBES
    );
}

#[test]
fn a_missing_ca_bundle_names_the_file() {
    let err = client_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
