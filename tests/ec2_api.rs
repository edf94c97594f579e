//! The product's own EC2 Query client against the simulated EC2 API: it
//! signs as AWS checks, walks every page, retries what AWS says to retry and
//! nothing else, and keeps its connection between calls, never using one the
//! server has closed.
//!
//! A counting TCP relay sits between client and simulator, so each test can
//! say how many connections the calls took, and what the requests said.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use eice_proxy::credentials::CredentialCache;
use eice_proxy::ec2::{ApiUrl, Ec2, Retry, Settings};
use eice_proxy::net::{self, Transport};
use eice_sim::ec2_api::{Action, Ec2Sim, Ec2SimConfig, Fault};
use eice_sim::sigv4::SimCredential;
use eice_sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// A guard against a hung test.
const PATIENCE: Duration = Duration::from_secs(30);

const KEY: &str = "AKIAEC2CLIENTTEST001";
const SECRET: &str = "ec2/client/test/secret";

/// A TCP relay to the simulator that counts connections, keeps every byte
/// the client sent, and can cut them all.
struct Relay {
    url: String,
    accepted: Arc<AtomicUsize>,
    sent: Arc<Mutex<Vec<u8>>>,
    cut: broadcast::Sender<()>,
}

impl Relay {
    async fn to(sim: &Ec2Sim) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = sim.local_addr();
        let accepted = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (cut, _) = broadcast::channel(1);
        let (counter, cutter, log) = (Arc::clone(&accepted), cut.clone(), Arc::clone(&sent));
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                let mut cut = cutter.subscribe();
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let server = TcpStream::connect(upstream).await.unwrap();
                    let (mut from_client, mut to_client) = client.into_split();
                    let (mut from_server, mut to_server) = server.into_split();
                    let up = async {
                        let mut buf = vec![0; 16 * 1024];
                        while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                            log.lock().unwrap().extend_from_slice(&buf[..n]);
                            if to_server.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = tokio::io::copy(&mut from_server, &mut to_client);
                    tokio::select! {
                        _ = async { tokio::join!(up, down) } => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
        Relay {
            url,
            accepted,
            sent,
            cut,
        }
    }

    /// The form bodies of every request sent so far, each from its `Action=`.
    fn bodies(&self) -> Vec<String> {
        let sent = String::from_utf8_lossy(&self.sent.lock().unwrap()).into_owned();
        sent.split("Action=")
            .skip(1)
            .map(|rest| {
                let end = rest.find("POST ").unwrap_or(rest.len());
                format!("Action={}", rest[..end].trim())
            })
            .collect()
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes every open connection, as a server closing idle ones does.
    fn cut_all(&self) {
        let _ = self.cut.send(());
    }
}

fn sim(page_size: usize) -> Ec2Sim {
    let credentials = HashMap::from([(KEY.to_owned(), SimCredential::new(SECRET))]);
    let config = Ec2SimConfig {
        credentials,
        page_size,
        ..Ec2SimConfig::default()
    };
    Ec2Sim::start(Arc::new(World::demo()), config).expect("the simulator starts")
}

/// A client of `url` whose retries wait a millisecond, not a second.
fn client(url: &str, max_attempts: u32) -> Ec2 {
    let mut settings = Settings::new(ApiUrl::parse(url).unwrap(), "us-east-1");
    settings.retry = Retry {
        max_attempts,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    };
    let credentials = Credentials::new(KEY, SECRET, None, None, "test");
    Ec2::new(
        settings,
        Arc::new(CredentialCache::fixed(credentials)),
        Transport::new(net::client_config(None).unwrap()),
    )
}

#[tokio::test]
async fn every_page_is_read_over_one_kept_connection() {
    let sim = sim(1);
    let relay = Relay::to(&sim).await;
    let ec2 = client(&relay.url, 3);

    let cidrs = ec2.vpc_cidrs().await.unwrap();
    let vpcs: std::collections::BTreeSet<&str> = cidrs.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(vpcs.len(), 2, "{cidrs:?}");
    let endpoints = ec2.every_endpoint().await.unwrap();
    assert!(endpoints.len() >= 3, "{endpoints:?}");
    let dup = ec2.by_name("web-dup").await.unwrap();
    assert_eq!(dup.len(), 2, "both instances named web-dup, one per page");

    // One call per page of one item, each counted by the simulator.
    assert_eq!(sim.calls(Action::DescribeVpcs), 2);
    assert_eq!(
        sim.calls(Action::DescribeInstanceConnectEndpoints),
        endpoints.len()
    );
    assert_eq!(sim.calls(Action::DescribeInstances), 2);
    assert_eq!(
        relay.connections(),
        1,
        "every call reused the first connection"
    );
}

#[tokio::test]
async fn an_instance_is_found_by_id_and_an_unknown_id_is_none() {
    let sim = sim(1000);
    let ec2 = client(&sim.url(), 3);
    let web = ec2.instance("i-0a1b2c3d4e5f60001").await.unwrap().unwrap();
    assert_eq!(web.name.as_deref(), Some("web-1"));
    assert_eq!(web.private_ip, Some("10.0.1.10".parse().unwrap()));
    assert_eq!(web.state, "running");
    assert_eq!(ec2.instance("i-0fffffffffffffff0").await.unwrap(), None);
}

#[tokio::test]
async fn throttling_is_retried_until_it_clears() {
    let sim = sim(1000);
    let ec2 = client(&sim.url(), 3);
    sim.fail_next(Action::DescribeVpcs, Fault::RequestLimitExceeded, 2);
    assert!(!ec2.vpc_cidrs().await.unwrap().is_empty());
    assert_eq!(
        sim.calls(Action::DescribeVpcs),
        3,
        "two refusals, then the answer"
    );
}

#[tokio::test]
async fn a_standing_outage_takes_every_attempt_then_says_so() {
    let sim = sim(1000);
    let ec2 = client(&sim.url(), 4);
    sim.fail_always(Action::DescribeVpcs, Fault::Unavailable);
    let e = ec2.vpc_cidrs().await.unwrap_err();
    assert_eq!(sim.calls(Action::DescribeVpcs), 4);
    assert_eq!(e.code.as_deref(), Some(Fault::Unavailable.code()));
    assert!(e.to_string().starts_with("ec2:DescribeVpcs failed"), "{e}");
}

#[tokio::test]
async fn a_denial_is_not_retried_and_names_the_permission() {
    let sim = sim(1000);
    let ec2 = client(&sim.url(), 3);
    sim.fail_always(
        Action::DescribeInstanceConnectEndpoints,
        Fault::AccessDenied,
    );
    let e = ec2.endpoints(None, None).await.unwrap_err();
    assert_eq!(sim.calls(Action::DescribeInstanceConnectEndpoints), 1);
    assert!(e.is_denied());
    assert!(
        e.to_string()
            .contains("needs the IAM permission ec2:DescribeInstanceConnectEndpoints"),
        "{e}"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_signature_check() {
    let sim = sim(1000);
    let mut settings = Settings::new(ApiUrl::parse(&sim.url()).unwrap(), "us-east-1");
    settings.retry.max_attempts = 1;
    let wrong = Credentials::new(KEY, "not-the-secret", None, None, "test");
    let ec2 = Ec2::new(
        settings,
        Arc::new(CredentialCache::fixed(wrong)),
        Transport::new(net::client_config(None).unwrap()),
    );
    let e = ec2.vpc_cidrs().await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("SignatureDoesNotMatch"), "{e}");
    assert!(e.request_id.is_some(), "{e:?}");
}

/// Waits until the client has seen the server close its kept connection.
async fn close_noticed(ec2: &Ec2) {
    tokio::time::timeout(PATIENCE, async {
        while ec2.kept_open() > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the client sees the close");
}

#[tokio::test]
async fn a_connection_the_server_closed_is_never_used() {
    let sim = sim(1000);
    let relay = Relay::to(&sim).await;
    let ec2 = client(&relay.url, 1);
    for round in 1..=3 {
        ec2.vpc_cidrs().await.unwrap();
        assert_eq!(relay.connections(), round);
        assert_eq!(ec2.kept_open(), 1, "the connection is kept");
        relay.cut_all();
        close_noticed(&ec2).await;
    }
    assert_eq!(sim.calls(Action::DescribeVpcs), 3);
    // The reuse check dropped each closed connection; no request was sent
    // on one and then again on a fresh one.
    assert_eq!(
        ec2.resends(),
        0,
        "a request went out on a closed connection"
    );
}

#[tokio::test]
async fn a_request_lost_with_its_kept_connection_is_sent_again_on_a_fresh_one() {
    let sim = sim(1000);
    let relay = Relay::to(&sim).await;
    // One attempt only: without the resend, the lost request fails the call.
    let ec2 = client(&relay.url, 1);
    ec2.vpc_cidrs().await.unwrap();
    // Cut as the next request goes out: nothing of this test's runtime runs
    // between the cut and the call, so the client cannot have seen it.
    relay.cut_all();
    ec2.vpc_cidrs().await.unwrap();
    assert_eq!(ec2.resends(), 1);
    assert_eq!(relay.connections(), 2);
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error_naming_the_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let e = client(&url, 2).vpc_cidrs().await.unwrap_err();
    assert!(
        e.to_string().contains("cannot connect to 127.0.0.1:"),
        "{e}"
    );
    assert_eq!(e.code, None);
}

#[tokio::test]
async fn filter_only_listings_ask_for_full_pages_and_lookups_by_id_do_not() {
    let sim = sim(1000);
    let relay = Relay::to(&sim).await;
    let ec2 = client(&relay.url, 1);
    ec2.by_name("web-1").await.unwrap();
    ec2.vpc_cidrs().await.unwrap();
    ec2.every_endpoint().await.unwrap();
    ec2.instance("i-0a1b2c3d4e5f60001").await.unwrap();
    let bodies = relay.bodies();
    let of = |action: &str| -> Vec<&String> {
        bodies
            .iter()
            .filter(|b| b.starts_with(&format!("Action={action}&")))
            .collect()
    };
    let (instances, vpcs, endpoints) = (
        of("DescribeInstances"),
        of("DescribeVpcs"),
        of("DescribeInstanceConnectEndpoints"),
    );
    assert_eq!(
        (instances.len(), vpcs.len(), endpoints.len()),
        (2, 1, 1),
        "{bodies:?}"
    );
    assert!(
        instances[0].contains("&MaxResults=1000"),
        "{}",
        instances[0]
    );
    assert!(vpcs[0].contains("&MaxResults=1000"), "{}", vpcs[0]);
    assert!(endpoints[0].contains("&MaxResults=50"), "{}", endpoints[0]);
    // EC2 refuses MaxResults together with InstanceId.N.
    assert!(instances[1].contains("InstanceId.1="), "{}", instances[1]);
    assert!(!instances[1].contains("MaxResults"), "{}", instances[1]);
}

#[tokio::test]
async fn a_repeated_next_token_stops_the_listing_with_a_clear_error() {
    let sim = sim(1);
    let ec2 = client(&sim.url(), 1);
    sim.repeat_next_token(Action::DescribeVpcs);
    // Bounded: a client that trusts the token would page for ever.
    let listed = tokio::time::timeout(Duration::from_secs(30), ec2.vpc_cidrs()).await;
    let e = listed.expect("the listing stops").unwrap_err();
    assert!(
        e.to_string().contains("NextToken it had already given"),
        "{e}"
    );
    assert_eq!(
        sim.calls(Action::DescribeVpcs),
        2,
        "the first page, then the repeat"
    );
}

#[tokio::test]
async fn an_answer_past_the_size_cap_is_final_not_retried() {
    let sim = sim(1000);
    let mut settings = Settings::new(ApiUrl::parse(&sim.url()).unwrap(), "us-east-1");
    settings.retry.initial_backoff = Duration::from_millis(1);
    settings.max_answer = 512;
    let credentials = Credentials::new(KEY, SECRET, None, None, "test");
    let ec2 = Ec2::new(
        settings,
        Arc::new(CredentialCache::fixed(credentials)),
        Transport::new(net::client_config(None).unwrap()),
    );
    let e = ec2.vpc_cidrs().await.unwrap_err();
    assert!(e.to_string().contains("is larger than 512 bytes"), "{e}");
    assert_eq!(
        sim.calls(Action::DescribeVpcs),
        1,
        "one download, not three"
    );
}

#[tokio::test]
async fn an_outage_drains_the_retry_quota_then_calls_fail_at_once() {
    let sim = sim(1000);
    let ec2 = client(&sim.url(), 3);
    sim.fail_always(Action::DescribeVpcs, Fault::Unavailable);
    // 503 is transient: each retry takes 10 of the 500 tokens, so 25 calls
    // of three attempts each (two retries) drain the quota.
    for call in 1..=25 {
        ec2.vpc_cidrs().await.unwrap_err();
        assert_eq!(sim.calls(Action::DescribeVpcs), 3 * call);
    }
    ec2.vpc_cidrs().await.unwrap_err();
    assert_eq!(
        sim.calls(Action::DescribeVpcs),
        76,
        "no retry left: one attempt"
    );
    // Successes refill it: ten at once earn the ten tokens of one retry.
    sim.clear_faults();
    for _ in 0..10 {
        ec2.vpc_cidrs().await.unwrap();
    }
    sim.fail_next(Action::DescribeVpcs, Fault::Unavailable, 1);
    ec2.vpc_cidrs().await.unwrap();
    assert_eq!(
        sim.calls(Action::DescribeVpcs),
        76 + 10 + 2,
        "one retry, then the answer"
    );
}
