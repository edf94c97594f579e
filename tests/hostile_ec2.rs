//! An EC2 API that is not AWS (a stand-in the user was pointed at, a
//! man in the middle with a trusted certificate) answers with an instance id
//! that is an option to ssh, or an endpoint name that is its own host: the
//! product's EC2 client refuses the whole answer with an error that says
//! which value and why, before any of it reaches a tunnel or ssh.
//!
//! The API is a small server on 127.0.0.1 that answers every call with a
//! fixed document.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use eice_proxy::credentials::CredentialCache;
use eice_proxy::ec2::{ApiUrl, AwsError, Ec2, Retry, Settings};
use eice_proxy::net::{self, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ENDPOINT: &str = "eice-0a1b2c3d4e5f60021";
const VPC: &str = "vpc-0a1b2c3d4e5f60001";

/// Serves `document` as the 200 answer to every request, on a loopback port;
/// returns the API's URL.
async fn api_answering(document: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let document = Arc::new(document);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(answer_each(stream, Arc::clone(&document)));
        }
    });
    url
}

/// Reads each request (head, then `Content-Length` bytes) and answers it.
async fn answer_each(mut stream: TcpStream, document: Arc<String>) {
    let mut buffer = Vec::new();
    loop {
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buffer.len() < end + 4 + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..end + 4 + length);
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{document}",
            document.len()
        );
        if stream.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The product's client of the API at `url`, asking about us-east-1, once.
fn client(url: &str) -> Ec2 {
    let mut settings = Settings::new(ApiUrl::parse(url).unwrap(), "us-east-1");
    settings.retry = Retry {
        max_attempts: 1,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
    };
    let credentials = Credentials::new("AKIDTESTHOSTILEAPI01", "secret", None, None, "test");
    Ec2::new(
        settings,
        Arc::new(CredentialCache::fixed(credentials)),
        Transport::new(net::client_config(None).unwrap()),
    )
}

/// A `DescribeInstances` answer holding one running instance named `web`.
fn instances(id: &str) -> String {
    format!(
        r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r-1</requestId>
  <reservationSet><item><ownerId>123456789012</ownerId><instancesSet><item>
    <instanceId>{id}</instanceId>
    <instanceState><code>16</code><name>running</name></instanceState>
    <vpcId>{VPC}</vpcId>
    <privateIpAddress>10.0.1.10</privateIpAddress>
    <tagSet><item><key>Name</key><value>web</value></item></tagSet>
  </item></instancesSet></item></reservationSet>
</DescribeInstancesResponse>"#
    )
}

/// A `DescribeInstanceConnectEndpoints` answer holding one usable endpoint.
fn endpoints(id: &str, dns_name: &str) -> String {
    format!(
        r#"<DescribeInstanceConnectEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r-2</requestId>
  <instanceConnectEndpointSet><item>
    <instanceConnectEndpointId>{id}</instanceConnectEndpointId>
    <state>create-complete</state>
    <dnsName>{dns_name}</dnsName>
    <vpcId>{VPC}</vpcId>
  </item></instanceConnectEndpointSet>
</DescribeInstanceConnectEndpointsResponse>"#
    )
}

fn own_name(id: &str) -> String {
    format!("{id}.ec2-instance-connect-endpoint.us-east-1.amazonaws.com")
}

/// The refusal of `action`, which must name the API and why.
fn refusal(e: AwsError, action: &str, url: &str, why: &str) {
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("ec2:{action} failed: the answer is refused")),
        "{text}"
    );
    assert!(text.contains(why) && text.contains(url), "{text}");
}

#[tokio::test]
async fn an_instance_id_that_is_an_ssh_option_is_refused() {
    let url = api_answering(instances("i-0a1b2c3d4e5f60001")).await;
    let found = client(&url).by_name("web").await.unwrap();
    assert_eq!(found[0].id, "i-0a1b2c3d4e5f60001", "a good answer is used");

    for id in [
        "-oProxyCommand=touch${IFS}/tmp/owned",
        "i-0a1b2c3d;id",
        "I-0A1B2C3D",
    ] {
        let url = api_answering(instances(id)).await;
        let e = client(&url).by_name("web").await.unwrap_err();
        refusal(
            e,
            "DescribeInstances",
            &url,
            &format!("instance id {id:?} is not i- and 8 or 17 lowercase hex digits"),
        );
        // Asked by id, the same.
        let e = client(&url).instance(id).await.unwrap_err();
        assert!(e.to_string().contains("the answer is refused"), "{e}");
    }
}

#[tokio::test]
async fn an_endpoint_named_for_a_foreign_host_is_refused() {
    let url = api_answering(endpoints(ENDPOINT, &own_name(ENDPOINT))).await;
    let found = client(&url).endpoints(Some(VPC), None).await.unwrap();
    assert_eq!(
        found[0].dns_name,
        own_name(ENDPOINT),
        "a good answer is used"
    );

    let another_region =
        format!("{ENDPOINT}.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com");
    let cases = [
        ("evil.example".to_owned(), "evil.example"),
        ("127.0.0.1".to_owned(), "127.0.0.1"),
        (another_region.clone(), another_region.as_str()),
        (own_name("eice-0fedcba9876543210"), "eice-0fedcba9876543210"),
    ];
    for (name, shown) in &cases {
        let url = api_answering(endpoints(ENDPOINT, name)).await;
        let e = client(&url).endpoints(Some(VPC), None).await.unwrap_err();
        refusal(
            e,
            "DescribeInstanceConnectEndpoints",
            &url,
            &format!("DNS name of endpoint {ENDPOINT} \"{shown}"),
        );
    }
    // An endpoint id of no shape AWS issues.
    let id = "eice-../../x";
    let url = api_answering(endpoints(id, &own_name(id))).await;
    let e = client(&url).every_endpoint().await.unwrap_err();
    refusal(
        e,
        "DescribeInstanceConnectEndpoints",
        &url,
        "endpoint id \"eice-../../x\" is not eice- and 8 or 17 lowercase hex digits",
    );
}
