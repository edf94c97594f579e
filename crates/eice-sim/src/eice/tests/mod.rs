//! End-to-end tests of the simulated EICE over real sockets on 127.0.0.1: URLs are
//! signed by the sigv4 module's reference presigner and opened with a
//! tokio-tungstenite client (or a raw client where tungstenite cannot play the part).
//! This file holds the helpers and the handshake tests; `data_phase` the tunnel ones,
//! `faults` those of injected misbehaviour, `paths` those of security groups and
//! network ACLs.

mod data_phase;
mod faults;
mod paths;
mod quota;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

use super::*;
use crate::sigv4::{PresignInput, presign_query};

/// A guard against hangs; every wait in these tests is on an event.
const GUARD: Duration = Duration::from_secs(20);

const PRIVATE_IP: &str = "10.0.1.25";

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(GUARD, future)
        .await
        .expect("the test timed out")
}

/// The usual parameters: endpoint, port 22, the test instance's address.
fn params(port: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "instanceConnectEndpointId",
            "eice-0123456789abcdef0".to_owned(),
        ),
        ("remotePort", port.to_owned()),
        ("privateIpAddress", PRIVATE_IP.to_owned()),
    ]
}

/// How a test URL is signed; [`Signing::default`] is correct for the default config.
struct Signing<'a> {
    host: String,
    access_key_id: &'a str,
    secret: &'a str,
    region: &'a str,
    signed_at: SystemTime,
}

impl Signing<'_> {
    fn for_sim(sim: &EiceSim) -> Self {
        Signing {
            host: sim.addr().to_string(),
            access_key_id: EXAMPLE_ACCESS_KEY_ID,
            secret: EXAMPLE_SECRET_ACCESS_KEY,
            region: "us-east-1",
            signed_at: SystemTime::now(),
        }
    }

    /// `/openTunnel?...` presigned for these parameters.
    fn path(&self, params: &[(&str, String)]) -> String {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let query = presign_query(&PresignInput {
            method: "GET",
            host: &self.host,
            path: "/openTunnel",
            params: &params,
            access_key_id: self.access_key_id,
            secret: self.secret,
            session_token: None,
            region: self.region,
            service: SERVICE,
            signed_at: self.signed_at,
            expires_secs: 60,
        });
        format!("/openTunnel?{query}")
    }
}

type Client = WebSocketStream<TcpStream>;

/// Opens a WebSocket to the simulator with a correctly signed URL for `params`.
async fn open(sim: &EiceSim, params: &[(&str, String)]) -> Result<Client, tungstenite::Error> {
    open_path(sim, &Signing::for_sim(sim).path(params)).await
}

async fn open_path(sim: &EiceSim, path: &str) -> Result<Client, tungstenite::Error> {
    let tcp = TcpStream::connect(sim.addr()).await?;
    let url = format!("ws://{}{path}", sim.addr());
    let (ws, response) = client_async(url, tcp).await?;
    assert_uuid_shaped(response.headers()["x-amzn-requestid"].to_str().unwrap());
    Ok(ws)
}

fn assert_uuid_shaped(id: &str) {
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
    assert!(
        id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
        "{id}"
    );
}

/// The status and JSON body of a refused handshake.
fn refusal(result: Result<Client, tungstenite::Error>) -> (u16, serde_json::Value, String) {
    let Err(tungstenite::Error::Http(response)) = result else {
        panic!(
            "expected an HTTP error, got {:?}",
            result.map(|_| "a WebSocket")
        );
    };
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_uuid_shaped(response.headers()["x-amzn-requestid"].to_str().unwrap());
    let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
    let json = serde_json::from_str(&body).unwrap();
    (response.status().as_u16(), json, body)
}

/// A listener standing for an instance that echoes and closes after the client's EOF.
async fn echo_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.into_split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                let _ = write.shutdown().await;
            });
        }
    });
    addr
}

fn private(port: u16) -> SocketAddr {
    SocketAddr::new(PRIVATE_IP.parse().unwrap(), port)
}

/// A simulator whose instance `10.0.1.25:22` is `target`.
async fn sim_with(target: SocketAddr, tweak: impl FnOnce(&mut EiceSimConfig)) -> EiceSim {
    let mut config = EiceSimConfig {
        targets: HashMap::from([(private(22), target)]),
        ..EiceSimConfig::default()
    };
    tweak(&mut config);
    EiceSim::start(config).await.unwrap()
}

/// Reads until the server's Close, skipping pings; fails on data frames.
async fn next_close(ws: &mut Client) -> CloseFrame {
    loop {
        match ws
            .next()
            .await
            .expect("the stream ended before a Close")
            .unwrap()
        {
            Message::Close(Some(frame)) => return frame,
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a Close, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn port_8080_is_refused_with_the_exact_invalid_parameter_body() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        let (status, _, body) = refusal(open(&sim, &params("8080")).await);
        assert_eq!(status, 400);
        assert_eq!(
            body,
            r#"{"ErrorCode":"InvalidParameter","Message":"The specified RemotePort is not valid. Specify either 22 or 3389 as the RemotePort and retry your request."}"#
        );
        assert_eq!(sim.stats().rejected, ["InvalidParameter"]);
        assert_eq!(sim.stats().tunnels_opened, 0);
    })
    .await;
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_signature_does_not_match() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        let signing = Signing { secret: "not-the-secret", ..Signing::for_sim(&sim) };
        let (status, json, _) = refusal(open_path(&sim, &signing.path(&params("22"))).await);
        assert_eq!(status, 403);
        assert_eq!(json["ErrorCode"], "SignatureDoesNotMatch");
        assert_eq!(
            json["Message"],
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
        );
    })
    .await;
}

#[tokio::test]
async fn a_url_expired_by_the_service_clock_is_refused() {
    within(async {
        let clock = crate::clock::SimClock::skewed(600);
        let sim = sim_with(echo_target().await, |c| c.clock = clock.clone()).await;
        let refused = open(&sim, &params("22")).await;
        let Err(tungstenite::Error::Http(response)) = &refused else {
            panic!("expected a refusal");
        };
        // Dated by the service's clock, whose skew a client can learn from it.
        let date = response.headers()["date"].to_str().unwrap();
        let now = clock.now();
        assert!(
            [now, now - Duration::from_secs(1)]
                .iter()
                .any(|t| crate::sigv4::format_http_date(*t) == date),
            "{date}"
        );
        let (status, json, _) = refusal(refused);
        assert_eq!(status, 403);
        assert_eq!(json["ErrorCode"], "InvalidSignatureException");
        let message = json["Message"].as_str().unwrap();
        assert!(message.contains("Signature expired"), "{message}");
        assert_eq!(
            message.matches('Z').count(),
            3,
            "names expiry, now and signing time: {message}"
        );
    })
    .await;
}

#[tokio::test]
async fn each_bad_request_is_refused_with_its_own_error_code() {
    within(async {
        let sim = sim_with(echo_target().await, |c| {
            c.endpoint_ids = vec!["eice-0123456789abcdef0".into()]
        })
        .await;
        let with = |name: &'static str, value: &str| {
            let mut p = params("22");
            p.retain(|(k, _)| *k != name);
            p.push((name, value.to_owned()));
            p
        };
        let cases = [
            (
                Signing::for_sim(&sim)
                    .path(&with("instanceConnectEndpointId", "eice-0ffffffffffffffff")),
                400,
                "InvalidInstanceConnectEndpointId.NotFound",
            ),
            (
                Signing::for_sim(&sim).path(&with("privateIpAddress", "10.0.1")),
                400,
                "InvalidParameter",
            ),
            (
                Signing::for_sim(&sim).path(&with("maxTunnelDuration", "3601")),
                400,
                "InvalidParameter",
            ),
            (
                Signing {
                    access_key_id: "AKIDUNKNOWN",
                    ..Signing::for_sim(&sim)
                }
                .path(&params("22")),
                403,
                "UnrecognizedClientException",
            ),
            (
                Signing {
                    region: "eu-west-1",
                    ..Signing::for_sim(&sim)
                }
                .path(&params("22")),
                403,
                "InvalidSignatureException",
            ),
            (
                "/openTunnel?remotePort=22".to_owned(),
                403,
                "MissingAuthenticationToken",
            ),
            ("/somethingElse".to_owned(), 404, "NotFound"),
        ];
        for (path, status, code) in &cases {
            let (got_status, json, body) = refusal(open_path(&sim, path).await);
            assert_eq!(
                (got_status, json["ErrorCode"].as_str().unwrap()),
                (*status, *code),
                "{body}"
            );
        }
        let (_, json, _) = refusal(open_path(&sim, &cases[0].0).await);
        assert!(
            json["Message"]
                .as_str()
                .unwrap()
                .contains("eice-0ffffffffffffffff")
        );
        let (_, json, _) = refusal(open_path(&sim, &cases[4].0).await);
        assert!(json["Message"].as_str().unwrap().contains("region"));
        let expected: Vec<&str> = cases.iter().map(|(_, _, code)| *code).collect();
        assert_eq!(sim.stats().rejected[..cases.len()], expected[..]);
    })
    .await;
}

#[tokio::test]
async fn a_tunnel_must_be_signed_for_its_endpoints_region() {
    within(async {
        let sim = sim_with(echo_target().await, |c| {
            c.endpoint_regions =
                HashMap::from([("eice-0123456789abcdef0".to_owned(), "eu-west-1".to_owned())]);
        })
        .await;
        // Signed for the service's default region, but the endpoint is in eu-west-1.
        let (status, json, _) = refusal(open(&sim, &params("22")).await);
        assert_eq!(status, 403);
        assert_eq!(json["ErrorCode"], "InvalidSignatureException");
        assert_eq!(
            json["Message"],
            "Credential should be scoped to a valid region, not 'us-east-1'. This endpoint is in 'eu-west-1'."
        );
        let eu = Signing {
            region: "eu-west-1",
            ..Signing::for_sim(&sim)
        };
        let mut ws = open_path(&sim, &eu.path(&params("22"))).await.unwrap();
        ws.close(None).await.unwrap();
        // Other endpoints stay in the default region.
        let mut other = params("22");
        other[0].1 = "eice-0123456789abcdef1".to_owned();
        let mut ws = open(&sim, &other).await.unwrap();
        ws.close(None).await.unwrap();
        assert_eq!(sim.stats().rejected, ["InvalidSignatureException"]);
    })
    .await;
}

#[tokio::test]
async fn a_plain_http_request_is_refused_with_400() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        let mut tcp = TcpStream::connect(sim.addr()).await.unwrap();
        let path = Signing::for_sim(&sim).path(&params("22"));
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            sim.addr()
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        assert!(response.contains(
            r#"{"ErrorCode":"InvalidRequest","Message":"openTunnel requires a WebSocket upgrade"#
        ));
        assert!(response.to_ascii_lowercase().contains("x-amzn-requestid: "));
    })
    .await;
}
