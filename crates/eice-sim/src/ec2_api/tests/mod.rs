//! The simulator driven by the real `aws-sdk-ec2` client, proving that its
//! documents, errors and pagination are what the SDK expects.
//!
//! Clients are built explicitly (no environment, no IMDS, no profile) so tests never
//! reach beyond 127.0.0.1, and with a short retry back-off so retry tests are fast.

mod auth;
mod endpoints;
mod faults;
mod instances;
mod keys;
mod network;
mod regions;
mod sts;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Ec2Sim, Ec2SimConfig};
use crate::sigv4::{HeaderSignInput, SimCredential, sign_headers};
use crate::world::World;

/// The access key the test account accepts.
const ACCESS_KEY: &str = "AKIASIMULATEDTEST001";
/// Its secret.
const SECRET: &str = "simulated/secret/key/for+tests";

/// A world with a multi-block VPC, for the checks `World::demo` does not cover.
const MULTI_CIDR_WORLD: &str = r#"
region = "eu-west-1"
account_id = "210987654321"

[[vpc]]
id = "vpc-0a1b2c3d4e5f60001"
cidrs = ["10.0.0.0/16", "100.64.0.0/24"]
ipv6_cidrs = ["fd00:10::/56"]

[[subnet]]
id = "subnet-0a1b2c3d4e5f60011"
vpc = "vpc-0a1b2c3d4e5f60001"
cidr = "100.64.0.0/26"
availability_zone = "eu-west-1c"

[[instance]]
id = "i-0123456789abcdef0"
subnet = "subnet-0a1b2c3d4e5f60011"
private_ip = "100.64.0.25"
state = "running"
tags = { team = "a&b <ops>" }

[[endpoint]]
id = "eice-0123456789abcdef0"
subnet = "subnet-0a1b2c3d4e5f60011"
state = "create-complete"
ip_address_type = "ipv6"
preserve_client_ip = true
fips = false
"#;

/// Starts a simulator for `world` that accepts [`ACCESS_KEY`].
fn start(world: World, page_size: usize) -> Ec2Sim {
    let credentials = HashMap::from([(ACCESS_KEY.to_owned(), SimCredential::new(SECRET))]);
    let config = Ec2SimConfig {
        credentials,
        page_size,
        ..Ec2SimConfig::default()
    };
    Ec2Sim::start(Arc::new(world), config).expect("the simulator starts")
}

/// Starts a simulator for the demo world.
fn start_demo() -> Ec2Sim {
    start(World::demo(), 1000)
}

/// A real SDK client for `sim`, signing for `region` with `credentials`.
fn client_with(sim: &Ec2Sim, region: &str, credentials: Credentials) -> aws_sdk_ec2::Client {
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(sim.url())
        .credentials_provider(credentials)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .build();
    aws_sdk_ec2::Client::from_conf(config)
}

/// A client with the accepted key, for the us-east-1 demo world.
fn client(sim: &Ec2Sim) -> aws_sdk_ec2::Client {
    client_with(sim, "us-east-1", credentials(SECRET))
}

fn credentials(secret: &str) -> Credentials {
    Credentials::new(ACCESS_KEY, secret, None, None, "ec2-sim-tests")
}

/// The error code, message and HTTP status of a failed SDK call.
fn failure<E>(err: SdkError<E, HttpResponse>) -> (String, String, u16)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = match err.raw_response() {
        Some(raw) => raw.status().as_u16(),
        None => panic!("expected a response from the simulator, got {err:?}"),
    };
    let code = err.code().unwrap_or_default().to_owned();
    let message = err.message().unwrap_or_default().to_owned();
    (code, message, status)
}

/// Sends one unsigned form POST over a plain socket: for the requests the SDK
/// would never send. Returns what [`send_raw`] does.
async fn raw_post(sim: &Ec2Sim, body: &str) -> (u16, String, String) {
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        sim.local_addr(),
        body.len()
    );
    send_raw(sim, &request).await
}

/// How [`signed_post`] signs: the service and region of the scope, and the secret.
struct Signer<'a> {
    service: &'a str,
    region: &'a str,
    secret: &'a str,
}

/// Sends one POST to `/` with `headers` and `body`, all signed as `signer` says
/// for [`ACCESS_KEY`] by the sim's reference signer (for the APIs whose SDK is not
/// a dependency). Returns what [`send_raw`] does.
async fn signed_post(
    sim: &Ec2Sim,
    signer: &Signer<'_>,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let host = sim.local_addr().to_string();
    let auth = sign_headers(&HeaderSignInput {
        method: "POST",
        host: &host,
        path: "/",
        query: "",
        headers,
        body: body.as_bytes(),
        access_key_id: ACCESS_KEY,
        secret: signer.secret,
        session_token: None,
        region: signer.region,
        service: signer.service,
        signed_at: std::time::SystemTime::now(),
    });
    let mut request = format!("POST / HTTP/1.1\r\nHost: {host}\r\n");
    let all = headers.iter().map(|(n, v)| (*n, *v));
    for (name, value) in all.chain(auth.iter().map(|(n, v)| (n.as_str(), v.as_str()))) {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    send_raw(sim, &request).await
}

/// Writes `request` on a fresh connection and reads the whole response: the
/// status, the head with header names in lower case, and the body.
async fn send_raw(sim: &Ec2Sim, request: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(sim.local_addr())
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let head: Vec<String> = head
        .lines()
        .map(|line| match line.split_once(':') {
            Some((name, value)) => format!("{}:{value}", name.to_ascii_lowercase()),
            None => line.to_owned(),
        })
        .collect();
    (status, head.join("\r\n"), body.to_owned())
}
