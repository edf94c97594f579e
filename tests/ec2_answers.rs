//! The product's EC2 client against answers the simulated EC2 API does not
//! give: a server that accepts and never answers, a proxy's HTML 502, a
//! 200 whose XML is cut short, and `ExpiredToken`. A scripted HTTP server on
//! 127.0.0.1 plays each, recording every request it reads, so each test can
//! say how many attempts a call made and what signed them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use eice_proxy::credentials::CredentialCache;
use eice_proxy::ec2::{ApiUrl, Ec2, Retry, Settings};
use eice_proxy::net::{self, Transport};
use eice_proxy::reply::Reply;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

/// A guard against a hung test.
const PATIENCE: Duration = Duration::from_secs(30);

/// One page of `DescribeVpcs`, as EC2 writes it.
const VPCS: &str = "<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
    <requestId>r-1</requestId><vpcSet><item><vpcId>vpc-0a1b2c3d</vpcId>\
    <cidrBlock>10.0.0.0/16</cidrBlock></item></vpcSet></DescribeVpcsResponse>";

/// How the scripted server answers one request.
#[derive(Debug, Clone)]
enum Answer {
    /// Reads it and never answers, holding the connection open.
    Never,
    /// `HTTP/1.1 status` with `body`.
    Status(u16, &'static str),
}

/// What the server read of one request.
#[derive(Debug, Clone)]
struct Request {
    authorization: String,
    body: String,
}

/// The answers still to give (the last one repeats) and the requests read.
#[derive(Default)]
struct Script {
    answers: Vec<Answer>,
    requests: Vec<Request>,
}

/// An HTTP/1.1 server on 127.0.0.1 that answers from a script.
struct Scripted {
    url: String,
    script: Arc<Mutex<Script>>,
}

impl Scripted {
    async fn start(answers: Vec<Answer>) -> Scripted {
        assert!(!answers.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script {
            answers,
            requests: Vec::new(),
        }));
        let shared = Arc::clone(&script);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Scripted { url, script }
    }

    fn requests(&self) -> Vec<Request> {
        self.script.lock().unwrap().requests.clone()
    }
}

async fn serve(stream: TcpStream, script: Arc<Mutex<Script>>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    while let Some(request) = read_request(&mut read).await {
        let answer = {
            let mut script = script.lock().unwrap();
            script.requests.push(request);
            if script.answers.len() > 1 {
                script.answers.remove(0)
            } else {
                script.answers[0].clone()
            }
        };
        match answer {
            Answer::Never => {
                // Until the client gives up and closes.
                let _ = read.read_to_end(&mut Vec::new()).await;
                return;
            }
            Answer::Status(status, body) => {
                let head = format!(
                    "HTTP/1.1 {status} Scripted\r\nContent-Type: text/xml;charset=UTF-8\r\n\
                     Content-Length: {}\r\n\r\n",
                    body.len()
                );
                if write.write_all((head + body).as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The next request on the connection; `None` once the client closed it.
async fn read_request(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Request> {
    let (mut authorization, mut length) = (String::new(), 0);
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        match name.to_ascii_lowercase().as_str() {
            "authorization" => authorization = value.trim().to_owned(),
            "content-length" => length = value.trim().parse().unwrap(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    read.read_exact(&mut body).await.ok()?;
    Some(Request {
        authorization,
        body: String::from_utf8(body).unwrap(),
    })
}

/// Credentials from a provider that hands out a new key on each call and
/// counts the calls: key `AKIDCOUNTING0000000N` on the Nth.
#[derive(Debug, Default)]
struct Counting {
    calls: Arc<AtomicUsize>,
}

impl ProvideCredentials for Counting {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        future::ProvideCredentials::ready(Ok(Credentials::new(
            format!("AKIDCOUNTING{n:08}"),
            format!("secret-{n}"),
            Some(format!("token-{n}")),
            None,
            "counting",
        )))
    }
}

/// A client of `url` making up to `max_attempts` attempts of at most a
/// second each, its retries a millisecond apart; and its provider's count.
fn client(url: &str, max_attempts: u32) -> (Ec2, Arc<AtomicUsize>) {
    let mut settings = Settings::new(ApiUrl::parse(url).unwrap(), "us-east-1");
    settings.retry = Retry {
        max_attempts,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    };
    settings.attempt_timeout = Duration::from_secs(1);
    let provider = Counting::default();
    let calls = Arc::clone(&provider.calls);
    let credentials = CredentialCache::new(Some(SharedCredentialsProvider::new(provider)));
    let ec2 = Ec2::new(
        settings,
        Arc::new(credentials),
        Transport::new(net::client_config(None).unwrap()),
    );
    (ec2, calls)
}

#[tokio::test]
async fn a_server_that_never_answers_times_each_attempt_out_then_says_so() {
    let server = Scripted::start(vec![Answer::Never]).await;
    let (ec2, _) = client(&server.url, 2);
    let started = Instant::now();
    let e = timeout(PATIENCE, ec2.vpc_cidrs())
        .await
        .expect("the attempt timeout ends the call")
        .unwrap_err();
    assert!(e.timed_out, "{e:?}");
    assert_eq!(e.reply(), Reply::TimedOut);
    let text = e.to_string();
    assert!(
        text.starts_with("ec2:DescribeVpcs failed: no answer from ")
            && text.contains(&server.url)
            && text.ends_with(" within 1 s"),
        "{text}"
    );
    // Each of the two attempts waited its whole second, and no more were made.
    assert_eq!(server.requests().len(), 2);
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn an_html_502_is_retried_then_quoted_with_its_status() {
    let page = "<html>\n<body>\n<h1>502 Bad Gateway</h1>\n</body>\n</html>\n";
    let server = Scripted::start(vec![Answer::Status(502, page)]).await;
    let (ec2, _) = client(&server.url, 3);
    let e = ec2.vpc_cidrs().await.unwrap_err();
    assert_eq!(server.requests().len(), 3, "every attempt was made");
    assert_eq!(e.code, None, "no EC2 error code: {e:?}");
    let text = e.to_string();
    assert!(
        text.contains("answered HTTP 502: <html> <body> <h1>502 Bad Gateway</h1> </body> </html>"),
        "{text}"
    );
}

#[tokio::test]
async fn a_200_with_broken_xml_is_a_parse_error_and_not_retried() {
    let cut_short = "<DescribeVpcsResponse><vpcSet><item><vpcId>vpc-0a1b2c3d</vpcId>";
    let server = Scripted::start(vec![Answer::Status(200, cut_short)]).await;
    let (ec2, _) = client(&server.url, 3);
    let e = ec2.vpc_cidrs().await.unwrap_err();
    assert_eq!(server.requests().len(), 1, "an answer was read: no retry");
    let text = e.to_string();
    assert!(
        text.starts_with("ec2:DescribeVpcs failed: EC2 sent a document that is not XML")
            && text.contains(&format!("(from {}", server.url)),
        "{text}"
    );
}

#[tokio::test]
async fn expired_token_makes_the_next_call_load_credentials_afresh() {
    let expired = "<Response><Errors><Error><Code>ExpiredToken</Code>\
        <Message>The provided token has expired.</Message></Error></Errors>\
        <RequestID>r-expired</RequestID></Response>";
    let server = Scripted::start(vec![
        Answer::Status(400, expired),
        Answer::Status(200, VPCS),
    ])
    .await;
    let (ec2, loads) = client(&server.url, 3);

    let e = ec2.vpc_cidrs().await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("ExpiredToken"), "{e:?}");
    assert_eq!(loads.load(Ordering::SeqCst), 1);

    let cidrs = ec2.vpc_cidrs().await.unwrap();
    assert_eq!(
        cidrs,
        [("10.0.0.0/16".parse().unwrap(), "vpc-0a1b2c3d".to_owned())]
    );
    assert_eq!(
        loads.load(Ordering::SeqCst),
        2,
        "the credentials were loaded again"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests
            .iter()
            .all(|r| r.body.contains("Action=DescribeVpcs"))
    );
    assert!(
        requests[0]
            .authorization
            .contains("Credential=AKIDCOUNTING00000001/"),
        "{requests:?}"
    );
    assert!(
        requests[1]
            .authorization
            .contains("Credential=AKIDCOUNTING00000002/"),
        "the call after ExpiredToken was signed with the new key: {requests:?}"
    );
}
