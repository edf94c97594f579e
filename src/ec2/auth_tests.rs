//! The EC2 client against fixture answers in AWS's shapes (`AuthFailure`,
//! `RequestExpired`, …, each with a `Date` of a clock that may be off),
//! served on 127.0.0.1 by a scripted server that records what each request
//! was signed with: the clock skew is learned and corrected as the SDKs
//! correct it, and refused credentials are named, or dropped when expired.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::SharedCredentialsProvider;
use eice_sim::sigv4::{format_http_date, parse_amz_date};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::clock::Clock;
use crate::net;

const TEN_MINUTES: i64 = 600;

/// EC2's error document, as it sends it.
fn error_document(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors>\
         <RequestID>0d9f4a8e-3b1c-4d7e-9f2a-example</RequestID></Response>"
    )
}

const AUTH_FAILURE: &str = "AWS was not able to validate the provided access credentials";

const NO_VPCS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>7a62c49f-347e-4fc4-9331-example</requestId>
    <vpcSet/>
</DescribeVpcsResponse>"#;

/// One scripted answer: its status and body, dated `skew` seconds from now
/// (a `Date` from a clock that far ahead of this one).
struct Answer {
    status: u16,
    body: String,
    skew: i64,
    /// Sent with `Age`, as a cache on the way would answer.
    cached: bool,
}

fn answer(status: u16, body: String, skew: i64) -> Answer {
    Answer {
        status,
        body,
        skew,
        cached: false,
    }
}

fn ok(skew: i64) -> Answer {
    answer(200, NO_VPCS.to_owned(), skew)
}

fn refused(status: u16, code: &str, message: &str, skew: i64) -> Answer {
    answer(status, error_document(code, message), skew)
}

/// What a request was signed with.
#[derive(Debug, Clone)]
struct Seen {
    signed_at: SystemTime,
    access_key: String,
}

/// An HTTP/1.1 server answering its script in order, one answer per request.
struct Scripted {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    async fn start(answers: Vec<Answer>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(VecDeque::from(answers)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, Arc::clone(&script), Arc::clone(&log)));
            }
        });
        Scripted { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    mut socket: TcpStream,
    script: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = read_until_head(&mut socket, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .map(str::to_owned)
        };
        let length: usize = header("content-length").map_or(0, |l| l.parse().unwrap());
        while buf.len() < head_end + length {
            let mut more = [0; 4096];
            let n = socket.read(&mut more).await.unwrap();
            assert!(n > 0, "the request was cut");
            buf.extend_from_slice(&more[..n]);
        }
        buf.drain(..head_end + length);
        let amz_date = header("x-amz-date").unwrap().to_ascii_uppercase();
        let credential = header("authorization").unwrap();
        let access_key = credential
            .split("credential=")
            .nth(1)
            .and_then(|c| c.split('/').next())
            .unwrap()
            .to_ascii_uppercase();
        seen.lock().unwrap().push(Seen {
            signed_at: parse_amz_date(&amz_date).unwrap(),
            access_key,
        });
        let next = script.lock().unwrap().pop_front();
        let Answer {
            status,
            body,
            skew,
            cached,
        } = next.expect("no answer left in the script");
        let date = format_http_date(shifted(SystemTime::now(), skew));
        let age = if cached { "Age: 100\r\n" } else { "" };
        let response = format!(
            "HTTP/1.1 {status} Fixture\r\nContent-Type: text/xml;charset=UTF-8\r\nDate: {date}\r\n\
             {age}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
    }
}

/// Reads until a whole request head is in `buf`; its length, or `None` at EOF.
async fn read_until_head(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at + 4);
        }
        let mut more = [0; 4096];
        match socket.read(&mut more).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&more[..n]),
        }
    }
}

fn shifted(time: SystemTime, secs: i64) -> SystemTime {
    let by = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 { time + by } else { time - by }
}

/// Asserts that `at` is `secs` seconds from now, give or take a few.
fn assert_signed_at(at: SystemTime, secs: i64) {
    let expected = shifted(SystemTime::now(), secs);
    let off = expected.duration_since(at).unwrap_or_else(|e| e.duration());
    assert!(
        off < Duration::from_secs(5),
        "signed {off:?} from {secs} s off"
    );
}

/// Credentials as the environment provider hands them out.
fn from_environment(key: &str) -> Credentials {
    let mut credentials = Credentials::new(key, "fixture-secret", None, None, "Environment");
    credentials
        .get_property_mut_or_default::<Vec<AwsCredentialFeature>>()
        .push(AwsCredentialFeature::CredentialsEnvVars);
    credentials
}

/// A provider handing out `AKIDFIXTURE1`, `AKIDFIXTURE2`, … one per call.
fn counting_provider(calls: Arc<AtomicUsize>) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(aws_credential_types::credential_fn::provide_credentials_fn(
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok(from_environment(&format!("AKIDFIXTURE{n}"))) }
        },
    ))
}

/// A client of `server`, signing by a clock of its own, with `credentials`.
fn client(server: &Scripted, credentials: Arc<CredentialCache>) -> (Ec2, Clock) {
    let mut settings = Settings::new(ApiUrl::parse(&server.url).unwrap(), "us-east-1");
    settings.clock = Clock::own();
    settings.retry.initial_backoff = Duration::from_millis(1);
    let clock = settings.clock.clone();
    let transport = Transport::new(net::client_config(None).unwrap());
    (Ec2::new(settings, credentials, transport), clock)
}

fn fixed(key: &str) -> Arc<CredentialCache> {
    Arc::new(CredentialCache::fixed(from_environment(key)))
}

#[tokio::test]
async fn an_auth_failure_dated_ten_minutes_off_is_retried_once_at_aws_time() {
    for skew in [TEN_MINUTES, -TEN_MINUTES] {
        let server = Scripted::start(vec![
            refused(401, "AuthFailure", AUTH_FAILURE, skew),
            ok(skew),
        ])
        .await;
        let (ec2, clock) = client(&server, fixed("AKIDFIXTURE"));
        ec2.vpc_cidrs().await.unwrap();
        let seen = server.seen();
        assert_eq!(seen.len(), 2, "one retry");
        assert_signed_at(seen[0].signed_at, 0);
        assert_signed_at(seen[1].signed_at, skew);
        assert!(
            clock
                .skew()
                .distance(crate::clock::Skew::from_millis(skew * 1000))
                .as_secs()
                < 5
        );
    }
}

#[tokio::test]
async fn the_clock_is_corrected_once_per_call() {
    let server = Scripted::start(vec![
        refused(401, "AuthFailure", AUTH_FAILURE, TEN_MINUTES),
        refused(401, "AuthFailure", AUTH_FAILURE, TEN_MINUTES),
    ])
    .await;
    let (ec2, _) = client(&server, fixed("AKIDFIXTURE"));
    let e = ec2.vpc_cidrs().await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("AuthFailure"));
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn an_auth_failure_with_a_right_clock_names_the_key_and_its_source_not_iam() {
    let server = Scripted::start(vec![refused(401, "AuthFailure", AUTH_FAILURE, 0)]).await;
    let (ec2, _) = client(&server, fixed("AKIDFIXTURE"));
    let e = ec2.vpc_cidrs().await.unwrap_err();
    assert_eq!(server.seen().len(), 1, "not the clock: no retry");
    let text = e.to_string();
    assert!(
        text.contains("access key AKIDFIXTURE from the environment (AWS_ACCESS_KEY_ID)"),
        "{text}"
    );
    assert!(text.contains(AUTH_FAILURE), "{text}");
    for iam in ["IAM", "permission", "polic"] {
        assert!(!text.contains(iam), "{iam} in {text}");
    }
    assert!(!e.is_denied());
    assert_eq!(e.reply(), Reply::NotAllowed);
}

#[tokio::test]
async fn an_expired_session_token_is_dropped_and_the_next_call_fetches_new_credentials() {
    for (status, code, message) in [
        (400, "RequestExpired", "Request has expired."),
        (
            403,
            "ExpiredToken",
            "The security token included in the request is expired",
        ),
        (
            400,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
    ] {
        let server = Scripted::start(vec![refused(status, code, message, 0), ok(0)]).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let cache = CredentialCache::new(Some(counting_provider(Arc::clone(&calls))));
        let (ec2, _) = client(&server, Arc::new(cache));
        let e = ec2.vpc_cidrs().await.unwrap_err();
        let text = e.to_string();
        assert!(text.contains("AKIDFIXTURE1"), "{text}");
        assert!(text.contains("has expired"), "{text}");
        ec2.vpc_cidrs().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "{code}: fetched again");
        let keys: Vec<String> = server.seen().into_iter().map(|s| s.access_key).collect();
        assert_eq!(keys, ["AKIDFIXTURE1", "AKIDFIXTURE2"], "{code}");
    }
}

#[tokio::test]
async fn request_expired_from_a_skewed_clock_is_the_clocks_and_keeps_the_credentials() {
    let skew = 2 * TEN_MINUTES;
    let server = Scripted::start(vec![
        refused(400, "RequestExpired", "Request has expired.", skew),
        ok(skew),
    ])
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = CredentialCache::new(Some(counting_provider(Arc::clone(&calls))));
    let (ec2, _) = client(&server, Arc::new(cache));
    ec2.vpc_cidrs().await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_signed_at(seen[1].signed_at, skew);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the credentials were fine");
}

#[tokio::test]
async fn a_successful_answer_teaches_the_next_call_awss_time_unless_a_cache_answered() {
    let mut cached = ok(-TEN_MINUTES);
    cached.cached = true;
    let server = Scripted::start(vec![cached, ok(TEN_MINUTES), ok(TEN_MINUTES)]).await;
    let (ec2, _) = client(&server, fixed("AKIDFIXTURE"));
    for _ in 0..3 {
        ec2.vpc_cidrs().await.unwrap();
    }
    let seen = server.seen();
    assert_signed_at(seen[0].signed_at, 0);
    assert_signed_at(seen[1].signed_at, 0);
    assert_signed_at(seen[2].signed_at, TEN_MINUTES);
}

#[tokio::test]
async fn request_expired_after_the_clock_was_corrected_is_the_tokens() {
    let skew = 2 * TEN_MINUTES;
    let server = Scripted::start(vec![
        refused(400, "RequestExpired", "Request has expired.", skew),
        refused(400, "RequestExpired", "Request has expired.", skew),
        ok(skew),
    ])
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = CredentialCache::new(Some(counting_provider(Arc::clone(&calls))));
    let (ec2, _) = client(&server, Arc::new(cache));
    let e = ec2.vpc_cidrs().await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("RequestExpired"));
    ec2.vpc_cidrs().await.unwrap();
    let keys: Vec<String> = server.seen().into_iter().map(|s| s.access_key).collect();
    assert_eq!(keys, ["AKIDFIXTURE1", "AKIDFIXTURE1", "AKIDFIXTURE2"]);
}

#[tokio::test]
async fn request_expired_signed_before_the_clock_jumped_again_keeps_the_credentials() {
    // The clock is corrected once, then jumps again while the call is retried.
    let server = Scripted::start(vec![
        refused(401, "AuthFailure", AUTH_FAILURE, TEN_MINUTES),
        refused(503, "Unavailable", "The server is overloaded.", TEN_MINUTES),
        refused(
            400,
            "RequestExpired",
            "Request has expired.",
            3 * TEN_MINUTES,
        ),
        ok(3 * TEN_MINUTES),
    ])
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = CredentialCache::new(Some(counting_provider(Arc::clone(&calls))));
    let (ec2, _) = client(&server, Arc::new(cache));
    let e = ec2.vpc_cidrs().await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("RequestExpired"));
    ec2.vpc_cidrs().await.unwrap();
    let seen = server.seen();
    assert_signed_at(seen[3].signed_at, 3 * TEN_MINUTES);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the token was not the cause"
    );
}
