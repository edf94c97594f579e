//! A two-region account end to end at the EICE level: each region's endpoints take
//! signatures for their own region, and every region's instances answer.

use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

use super::*;
use crate::eice::SERVICE;
use crate::sigv4::{PresignInput, presign_query};

/// A guard against hangs; every wait here is on an event.
const GUARD: Duration = Duration::from_secs(20);

/// Opens a tunnel through `endpoint` to `ip:22`, signed for `region` with the
/// account's own key.
async fn open(
    aws: &SimAws,
    endpoint: &str,
    ip: &str,
    region: &str,
) -> Result<WebSocketStream<TcpStream>, tungstenite::Error> {
    open_as(aws, &aws.access_key().clone(), endpoint, ip, region).await
}

/// [`open`], signed with `key`.
async fn open_as(
    aws: &SimAws,
    key: &AccessKey,
    endpoint: &str,
    ip: &str,
    region: &str,
) -> Result<WebSocketStream<TcpStream>, tungstenite::Error> {
    let host = aws.eice.addr().to_string();
    let params = [
        ("instanceConnectEndpointId", endpoint),
        ("remotePort", "22"),
        ("privateIpAddress", ip),
    ];
    let query = presign_query(&PresignInput {
        method: "GET",
        host: &host,
        path: "/openTunnel",
        params: &params,
        access_key_id: &key.id,
        secret: &key.secret,
        session_token: None,
        region,
        service: SERVICE,
        signed_at: SystemTime::now(),
        expires_secs: 60,
    });
    let tcp = TcpStream::connect(aws.eice.addr()).await?;
    let url = format!("ws://{host}/openTunnel?{query}");
    Ok(client_async(url, tcp).await?.0)
}

/// The first data the instance sends: its banner.
async fn first_text(ws: &mut WebSocketStream<TcpStream>) -> String {
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(data) => return String::from_utf8(data.to_vec()).unwrap(),
            Message::Ping(_) => continue,
            other => panic!("expected the banner, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn both_regions_instances_answer_through_their_own_endpoints() {
    tokio::time::timeout(GUARD, async {
        let aws = SimAws::start_regions(vec![World::demo(), World::demo_eu()], false)
            .await
            .unwrap();
        assert_eq!(aws.worlds.len(), 2);
        let env: HashMap<_, _> = aws.env().into_iter().collect();
        assert_eq!(env["AWS_REGION"], "us-east-1");
        assert_eq!(env["AWS_ENDPOINT_URL_STS"], aws.ec2.url());
        assert_eq!(env["AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT"], aws.ec2.url());
        let mut eu = open(&aws, "eice-0e1a2b3c4d5e60021", "10.20.1.10", "eu-west-1")
            .await
            .unwrap();
        assert_eq!(
            first_text(&mut eu).await,
            banner("i-0e1a2b3c4d5e60001 eu-web-1 port 22")
        );
        let mut us = open(&aws, "eice-0a1b2c3d4e5f60021", "10.0.1.10", "us-east-1")
            .await
            .unwrap();
        assert!(first_text(&mut us).await.contains("web-1 port 22"));
    })
    .await
    .expect("the test timed out");
}

#[tokio::test]
async fn an_eu_endpoint_refuses_a_us_east_1_signature() {
    tokio::time::timeout(GUARD, async {
        let aws = SimAws::start_regions(vec![World::demo(), World::demo_eu()], false)
            .await
            .unwrap();
        let result = open(&aws, "eice-0e1a2b3c4d5e60021", "10.20.1.10", "us-east-1").await;
        let Err(tungstenite::Error::Http(response)) = result else {
            panic!("expected a refusal");
        };
        assert_eq!(response.status(), 403);
        assert_eq!(aws.eice.stats().rejected, ["InvalidSignatureException"]);
    })
    .await
    .expect("the test timed out");
}

/// The first Close the service sends, skipping pings.
async fn first_close(ws: &mut WebSocketStream<TcpStream>) -> (u16, String) {
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Close(Some(frame)) => return (frame.code.into(), frame.reason.to_string()),
            Message::Ping(_) => continue,
            other => panic!("expected a Close, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_demo_worlds_locked_instance_answers_no_tunnel_and_the_others_do() {
    tokio::time::timeout(GUARD, async {
        let aws = SimAws::start(World::demo(), false).await.unwrap();
        let endpoint = "eice-0a1b2c3d4e5f60021";
        let mut locked = open(&aws, endpoint, "10.0.1.60", "us-east-1")
            .await
            .expect("the upgrade is accepted");
        assert_eq!(
            first_close(&mut locked).await,
            (1011, "Unable to connect to target".to_owned())
        );
        let mut web = open(&aws, endpoint, "10.0.1.10", "us-east-1")
            .await
            .unwrap();
        assert!(first_text(&mut web).await.contains("web-1 port 22"));
        let stats = aws.eice.stats();
        assert_eq!(stats.paths_blocked.len(), 1, "{:?}", stats.paths_blocked);
        assert!(
            stats.paths_blocked[0].starts_with(
                "no ingress rule of sg-0a1b2c3d4e5f60053 allows tcp 22 from 10.0.1.5 or from sg-0a1b2c3d4e5f60051"
            ),
            "{:?}",
            stats.paths_blocked
        );
    })
    .await
    .expect("the test timed out");
}

#[tokio::test]
async fn a_private_account_refuses_the_example_key_and_takes_its_own_random_one() {
    tokio::time::timeout(GUARD, async {
        let aws = SimAws::start_private(vec![World::demo()], false)
            .await
            .unwrap();
        let key = aws.access_key().clone();
        assert_ne!(key, AccessKey::example());
        assert!(key.id.starts_with("AKIA") && key.id.len() == 20, "{key:?}");
        assert_eq!(key.secret.len(), 40);
        let env: HashMap<_, _> = aws.env().into_iter().collect();
        assert_eq!(env["AWS_ACCESS_KEY_ID"], key.id);
        assert_eq!(env["AWS_SECRET_ACCESS_KEY"], key.secret);
        assert!(!format!("{key:?}").contains(&key.secret));

        let endpoint = "eice-0a1b2c3d4e5f60021";
        let refused = open_as(
            &aws,
            &AccessKey::example(),
            endpoint,
            "10.0.1.10",
            "us-east-1",
        )
        .await;
        match refused {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
            other => panic!("the example key opened a tunnel: {:?}", other.map(|_| ())),
        }
        let mut web = open(&aws, endpoint, "10.0.1.10", "us-east-1")
            .await
            .unwrap();
        assert!(first_text(&mut web).await.contains("web-1 port 22"));

        let other = SimAws::start_private(vec![World::demo()], false)
            .await
            .unwrap();
        assert_ne!(other.access_key(), &key, "two runs share a key");
    })
    .await
    .expect("the test timed out");
}
