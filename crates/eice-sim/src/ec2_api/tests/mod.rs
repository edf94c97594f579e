//! The simulator driven by requests signed here, as any EC2 Query client signs
//! them, with its XML answers read by `roxmltree` at the element paths AWS's EC2 API
//! reference documents (`reservationSet/item/instancesSet/item/instanceId`…).
//!
//! These tests prove what the simulator answers; the product's own EC2 client is
//! checked against this simulator by the product's tests. Every request goes to
//! 127.0.0.1 on a fresh connection, and nothing here retries: a test sees each
//! answer the simulator gives.

mod auth;
mod clock;
mod endpoints;
mod faults;
mod instances;
mod keys;
mod network;
mod password;
mod regions;
mod security;
mod sts;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use roxmltree::{Document, Node};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Ec2Sim, Ec2SimConfig};
use crate::sigv4::{HeaderSignInput, SimCredential, sign_headers};
use crate::world::World;

/// The access key the test account accepts.
const ACCESS_KEY: &str = "AKIASIMULATEDTEST001";
/// Its secret.
const SECRET: &str = "simulated/secret/key/for+tests";

/// The EC2 Query API version every call names.
const EC2_VERSION: &str = "2016-11-15";

/// The content type of a Query API body.
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

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

/// How a request is signed: the scope's service and region, and the key.
#[derive(Debug, Clone, Copy)]
struct Signer<'a> {
    service: &'a str,
    region: &'a str,
    access_key: &'a str,
    secret: &'a str,
    session_token: Option<&'a str>,
}

impl<'a> Signer<'a> {
    /// The accepted key, for `service` in `region`.
    fn new(service: &'a str, region: &'a str) -> Signer<'a> {
        Signer {
            service,
            region,
            access_key: ACCESS_KEY,
            secret: SECRET,
            session_token: None,
        }
    }
}

/// An EC2 Query API client for the tests: signs each call as `signer` says.
struct Client<'s> {
    sim: &'s Ec2Sim,
    signer: Signer<'s>,
}

/// A client with the accepted key, for the us-east-1 demo world.
fn client(sim: &Ec2Sim) -> Client<'_> {
    client_in(sim, "us-east-1")
}

/// A client with the accepted key, signing for `region`.
fn client_in<'s>(sim: &'s Ec2Sim, region: &'s str) -> Client<'s> {
    Client {
        sim,
        signer: Signer::new("ec2", region),
    }
}

impl Client<'_> {
    /// Signs and sends one call; whatever the simulator answers comes back.
    async fn call(&self, call: Call) -> Reply {
        let body = call.body();
        let (status, head, body) = signed_post(self.sim, &self.signer, &[FORM], &body).await;
        Reply { status, head, body }
    }

    /// [`Client::call`] for a call that must succeed.
    async fn ok(&self, call: Call) -> Reply {
        let reply = self.call(call).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply
    }

    /// Walks every page of `call` by its `nextToken`, returning each page's answer.
    async fn pages(&self, call: Call) -> Vec<Reply> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut this = call.clone();
            if let Some(token) = &token {
                this = this.param("NextToken", token);
            }
            let page = self.ok(this).await;
            token = page.text_opt("nextToken");
            pages.push(page);
            if token.is_none() {
                return pages;
            }
            assert!(pages.len() < 100, "pagination does not end");
        }
    }
}

/// One call's action and parameters, numbered as the Query protocol numbers lists.
#[derive(Debug, Clone)]
struct Call {
    params: Vec<(String, String)>,
    filters: usize,
}

impl Call {
    /// A call of `action` (any name: unknown ones too).
    fn new(action: &str) -> Call {
        Call {
            params: vec![
                ("Action".to_owned(), action.to_owned()),
                ("Version".to_owned(), EC2_VERSION.to_owned()),
            ],
            filters: 0,
        }
    }

    /// One parameter, as named (misspelt ones too).
    fn param(mut self, name: &str, value: &str) -> Call {
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A list parameter: `{name}.1`, `{name}.2`…
    fn list(mut self, name: &str, values: &[&str]) -> Call {
        for (n, value) in values.iter().enumerate() {
            self = self.param(&format!("{name}.{}", n + 1), value);
        }
        self
    }

    /// The next filter: `Filter.N.Name` and its `Filter.N.Value.M`.
    fn filter(mut self, name: &str, values: &[&str]) -> Call {
        self.filters += 1;
        let prefix = format!("Filter.{}", self.filters);
        self = self.param(&format!("{prefix}.Name"), name);
        self.list(&format!("{prefix}.Value"), values)
    }

    /// The form-encoded body.
    fn body(&self) -> String {
        let pairs: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        pairs.join("&")
    }
}

/// Everything but RFC 3986's unreserved characters is escaped.
const FORM_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn form_encode(text: &str) -> String {
    utf8_percent_encode(text, FORM_ESCAPED).to_string()
}

/// One answer: the status, the head (header names in lower case) and the body.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    /// The parsed document.
    fn doc(&self) -> Document<'_> {
        Document::parse(&self.body).unwrap_or_else(|err| panic!("not XML ({err}): {}", self.body))
    }

    /// The texts at `path` below the document's root element, in order.
    fn texts(&self, path: &str) -> Vec<String> {
        let doc = self.doc();
        texts(doc.root_element(), path)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The text at `path`; panics when there is none.
    fn text(&self, path: &str) -> String {
        self.text_opt(path)
            .unwrap_or_else(|| panic!("no {path} in {}", self.body))
    }

    /// The first text at `path`, if the element is there.
    fn text_opt(&self, path: &str) -> Option<String> {
        self.texts(path).into_iter().next()
    }

    /// An EC2 error document's code and message, and the status.
    fn error(&self) -> (String, String, u16) {
        assert_eq!(self.doc().root_element().tag_name().name(), "Response");
        let code = self.text("Errors/Error/Code");
        let message = self.text("Errors/Error/Message");
        (code, message, self.status)
    }
}

/// The elements at `path` (tag names joined by `/`) below `from`: every match of
/// each step, in document order.
fn nodes<'a, 'i>(from: Node<'a, 'i>, path: &str) -> Vec<Node<'a, 'i>> {
    let mut found = vec![from];
    for step in path.split('/').filter(|step| !step.is_empty()) {
        found = found
            .iter()
            .flat_map(|node| node.children())
            .filter(|child| child.is_element() && child.tag_name().name() == step)
            .collect();
    }
    found
}

/// The texts at `path` below `from` (an empty element's is `""`).
fn texts<'a>(from: Node<'a, '_>, path: &str) -> Vec<&'a str> {
    nodes(from, path)
        .into_iter()
        .map(|node| node.text().unwrap_or_default())
        .collect()
}

/// The first text at `path` below `from`.
fn text<'a>(from: Node<'a, '_>, path: &str) -> Option<&'a str> {
    texts(from, path).into_iter().next()
}

/// Sends one unsigned form POST over a plain socket. Returns what [`send_raw`]
/// does.
async fn raw_post(sim: &Ec2Sim, body: &str) -> (u16, String, String) {
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        sim.local_addr(),
        body.len()
    );
    send_raw(sim, &request).await
}

/// Sends one POST to `/` with `headers` and `body`, all signed as `signer` says by
/// the sim's reference signer. Returns what [`send_raw`] does.
async fn signed_post(
    sim: &Ec2Sim,
    signer: &Signer<'_>,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    signed_post_at(sim, signer, headers, body, std::time::SystemTime::now()).await
}

/// [`signed_post`], signed at `signed_at` rather than now.
async fn signed_post_at(
    sim: &Ec2Sim,
    signer: &Signer<'_>,
    headers: &[(&str, &str)],
    body: &str,
    signed_at: std::time::SystemTime,
) -> (u16, String, String) {
    let host = sim.local_addr().to_string();
    let auth = sign_headers(&HeaderSignInput {
        method: "POST",
        host: &host,
        path: "/",
        query: "",
        headers,
        body: body.as_bytes(),
        access_key_id: signer.access_key,
        secret: signer.secret,
        session_token: signer.session_token,
        region: signer.region,
        service: signer.service,
        signed_at,
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
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(sim.local_addr())
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .expect("the simulator answers");
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
