//! Property tests of what a client can send before anything is connected: the
//! target host text (`Host::parse`), the first byte (`classify`), the SOCKS5
//! handshake (`socks5::accept`) and the HTTP CONNECT server (`http_connect::serve`).
//! Whatever the servers answer is compared with what `oracle/` says their
//! protocols promise for that input (the SOCKS5 method selection and reply
//! bytes, the first HTTP status), so a reply that goes missing, a silent
//! close, fails the case.
//!
//! Every exchange runs over an in-memory duplex stream (nothing binds or
//! connects) on one current-thread runtime per test thread, bounded by
//! [`PATIENCE`] so a hang fails the case instead of stalling `cargo test`.
//! 256 cases per property keep the file to a few seconds in a debug build;
//! `scripts/fuzz` explores the same entry points for longer.

mod oracle;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use eice_proxy::config::ProxyAuth;
use eice_proxy::inbound::http_connect::{self, Refusal, Upgraded};
use eice_proxy::inbound::{Protocol, classify, socks5};
use eice_proxy::reply::Reply;
use eice_proxy::target::{Host, Target};
use oracle::http_connect::First;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::runtime::Runtime;

/// Real time a single exchange may take; a passing one takes milliseconds.
const PATIENCE: Duration = Duration::from_secs(10);

/// What hyper waits for a request head; shorter than [`PATIENCE`] so it fires first.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

const USER: &str = "alice";
const PASSWORD: &str = "wonderland";

thread_local! {
    /// One runtime per test thread: building one per case would dominate the run.
    static RUNTIME: Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
}

fn credentials() -> ProxyAuth {
    ProxyAuth {
        username: USER.into(),
        password: PASSWORD.into(),
    }
}

/// The `Proxy-Authorization: Basic` value for [`credentials`].
fn basic_token() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
}

/// When the scripted client closes its write half.
#[derive(Debug, Clone, Copy)]
enum Close {
    /// Right after its last byte, like `printf … | nc -N`.
    AfterWrite,
    /// Once a whole HTTP response has arrived. A CONNECT client keeps its side
    /// open until it is answered; hyper drops a CONNECT whose client half-closed.
    AfterResponse,
}

/// Plays `input` as the client (write it all, close the write half as `close`
/// says, and read everything the server sends until it drops its end) against
/// `server`. Returns the server's result and the bytes the client received.
fn exchange<S, F, R>(input: &[u8], close: Close, server: S) -> (R, Vec<u8>)
where
    S: FnOnce(DuplexStream) -> F,
    F: Future<Output = R>,
{
    RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let (client, server_end) = tokio::io::duplex(16 * 1024);
            let (mut from_server, mut to_server) = tokio::io::split(client);
            let (answered, answer_seen) = tokio::sync::oneshot::channel::<()>();
            let write = async move {
                // The server may stop reading and drop its end early: not an error here.
                let _ = to_server.write_all(input).await;
                if let Close::AfterResponse = close {
                    // Err: the server left without answering, which the caller will see.
                    let _ = answer_seen.await;
                }
                let _ = to_server.shutdown().await;
            };
            let read = async move {
                let mut answered = Some(answered);
                let mut received = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = from_server.read(&mut chunk).await {
                    received.extend_from_slice(&chunk[..n]);
                    if !response_statuses(&received).0.is_empty()
                        && let Some(answered) = answered.take()
                    {
                        let _ = answered.send(());
                    }
                }
                received
            };
            let all = async {
                let ((), received, outcome) = tokio::join!(write, read, server(server_end));
                (outcome, received)
            };
            tokio::time::timeout(PATIENCE, all)
                .await
                .unwrap_or_else(|_| panic!("hang: no end within {PATIENCE:?} for {input:?}"))
        })
    })
}

/// Status codes of the complete HTTP/1.1 responses (head and `Content-Length`
/// body) at the start of `bytes`, and whether every byte belonged to one of them.
fn response_statuses(mut bytes: &[u8]) -> (Vec<u16>, bool) {
    let mut statuses = Vec::new();
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let (Ok(httparse::Status::Complete(head)), Some(code)) =
            (response.parse(bytes), response.code)
        else {
            return (statuses, false);
        };
        let body = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
            .unwrap_or(0usize);
        let Some(rest) = bytes.get(head + body..) else {
            return (statuses, false);
        };
        statuses.push(code);
        bytes = rest;
    }
    (statuses, true)
}

// ---- strategies -------------------------------------------------------------

/// `text` with each ASCII letter upper- or lowercased at random.
fn any_case(text: String) -> impl Strategy<Value = String> {
    vec(any::<bool>(), text.len()).prop_map(move |upper| {
        text.chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

/// Appends the trailing dot of a fully qualified name, half the time.
fn maybe_fqdn(text: String) -> impl Strategy<Value = String> {
    any::<bool>().prop_map(move |dot| {
        if dot {
            format!("{text}.")
        } else {
            text.clone()
        }
    })
}

fn dashed(ip: Ipv4Addr) -> String {
    ip.to_string().replace('.', "-")
}

fn instance_id() -> impl Strategy<Value = (String, Host)> {
    let hex = select(b"0123456789abcdefABCDEF".to_vec());
    let digits = prop_oneof![vec(hex.clone(), 8), vec(hex, 17)];
    (select(vec!["i-", "I-"]), digits).prop_map(|(prefix, digits)| {
        let digits = String::from_utf8(digits).expect("ASCII");
        let id = format!("i-{}", digits.to_ascii_lowercase());
        (format!("{prefix}{digits}"), Host::InstanceId(id))
    })
}

fn ip_literal() -> impl Strategy<Value = (String, Host)> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(|ip| (ip.to_string(), Host::Ip(ip.into()))),
        (any::<Ipv6Addr>(), any::<bool>()).prop_map(|(ip, bracketed)| {
            let text = if bracketed {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            (text, Host::Ip(ip.into()))
        }),
    ]
}

fn region() -> impl Strategy<Value = String> {
    let area = select(vec!["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"]);
    let direction = select(vec![
        "east",
        "west",
        "north",
        "south",
        "central",
        "northeast",
        "southeast",
    ]);
    (area, direction, 1u8..=9).prop_map(|(a, d, n)| format!("{a}-{d}-{n}"))
}

/// Both EC2 private DNS forms, in any case.
fn private_dns() -> impl Strategy<Value = (String, Host)> {
    let us_east_1 = any::<Ipv4Addr>().prop_map(|ip| {
        let host = Host::PrivateDns {
            ip,
            region: "us-east-1".into(),
        };
        (format!("ip-{}.ec2.internal", dashed(ip)), host)
    });
    let regional = (any::<Ipv4Addr>(), region()).prop_map(|(ip, region)| {
        let text = format!("ip-{}.{region}.compute.internal", dashed(ip));
        (text, Host::PrivateDns { ip, region })
    });
    prop_oneof![us_east_1, regional]
        .prop_flat_map(|(text, host)| any_case(text).prop_map(move |t| (t, host.clone())))
}

/// Name tags: dotted labels of letters, digits and dashes that start with a
/// letter and are none of the other forms. Their case is kept.
fn name_tag() -> impl Strategy<Value = (String, Host)> {
    let letters = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".to_vec();
    let mut rest = letters.clone();
    rest.extend_from_slice(b"0123456789-");
    let label = (select(letters), vec(select(rest), 0..15)).prop_map(|(first, rest)| {
        let mut label = vec![first];
        label.extend(rest);
        String::from_utf8(label).expect("ASCII")
    });
    vec(label, 1..4)
        .prop_map(|labels| labels.join("."))
        .prop_filter("another form of host", |name| {
            let lower = name.to_ascii_lowercase();
            !lower.starts_with("i-") && !lower.starts_with("ip-")
        })
        .prop_map(|name| (name.clone(), Host::Name(name)))
}

/// A host in any accepted spelling, with the value it must parse to.
fn valid_host() -> impl Strategy<Value = (String, Host)> {
    prop_oneof![instance_id(), ip_literal(), private_dns(), name_tag()]
        .prop_flat_map(|(text, host)| maybe_fqdn(text).prop_map(move |t| (t, host.clone())))
}

/// Any string, and strings made of the characters the parser branches on.
fn any_text() -> impl Strategy<Value = String> {
    let tricky: Vec<char> = "iIpP-.:[]%0123456789abcdefABCDEFecnomputrl \t\0\u{7f}é\u{130}K"
        .chars()
        .collect();
    prop_oneof![
        any::<String>(),
        vec(select(tricky), 0..48).prop_map(String::from_iter),
        valid_host().prop_map(|(text, _)| text),
    ]
}

fn any_reply() -> impl Strategy<Value = Reply> {
    select(Reply::ALL.to_vec())
}

/// Host names `Host::parse` refuses, in characters a URI authority allows:
/// instance ids of the wrong length or digits, empty labels.
fn impossible_host() -> impl Strategy<Value = String> {
    let id_char = select(b"0123456789abcdefxyz".to_vec());
    let label = vec(select(b"abcdefghij0123456789-".to_vec()), 1..8)
        .prop_map(|label| String::from_utf8(label).expect("ASCII"));
    prop_oneof![
        vec(id_char, 0..20).prop_map(|id| format!("i-{}", String::from_utf8(id).expect("ASCII"))),
        (label.clone(), label.clone()).prop_map(|(a, b)| format!("{a}..{b}")),
        label.clone().prop_map(|a| format!(".{a}")),
        label.prop_map(|a| format!("{a}..")),
    ]
    .prop_filter("a possible host", |text| Host::parse(text).is_err())
}

/// An RFC 1929 username/password request.
fn user_pass(user: &str, password: &str) -> Vec<u8> {
    let mut bytes = vec![1, user.len() as u8];
    bytes.extend(user.as_bytes());
    bytes.push(password.len() as u8);
    bytes.extend(password.as_bytes());
    bytes
}

/// A SOCKS5 domain address: length and name, cut to the 255 bytes a length byte holds.
fn socks_domain(name: &[u8]) -> Vec<u8> {
    let name = &name[..name.len().min(255)];
    let mut address = vec![3, name.len() as u8];
    address.extend(name);
    address
}

/// Whether the server asks for a password, and what a client sends it: random
/// bytes, or a greeting, authentication and request that mostly fit the
/// server (so that most cases get as far as the request) with random fields,
/// sometimes cut short. Each outcome the handshake promises turns up in a few
/// percent of the cases at least: the method refused (0xff), the password
/// refused, the request refused with 0x04, 0x05, 0x07 or 0x08, or accepted.
fn socks_bytes() -> impl Strategy<Value = (bool, Vec<u8>)> {
    any::<bool>().prop_flat_map(|with_auth| {
        let method = if with_auth { 2u8 } else { 0 };
        let greeting = prop_oneof![
            3 => Just(vec![5, 2, 0, 2]),
            1 => vec(select(vec![0u8, 1, 2, 0xff]), 0..4).prop_map(|methods| {
                [vec![5, methods.len() as u8], methods].concat()
            }),
            1 => Just(vec![5, 1, method ^ 2]),
        ];
        let sub_negotiation = if with_auth {
            prop_oneof![
                6 => Just(user_pass(USER, PASSWORD)),
                2 => Just(user_pass(USER, "wrong")),
                1 => Just(user_pass("", PASSWORD)),
                1 => vec(any::<u8>(), 0..8),
            ]
            .boxed()
        } else {
            Just(Vec::new()).boxed()
        };
        let command = prop_oneof![4 => Just(1u8), 3 => select(vec![2u8, 3]), 1 => any::<u8>()];
        let address = prop_oneof![
            1 => vec(any::<u8>(), 4).prop_map(|ip| [vec![1], ip].concat()),
            1 => vec(any::<u8>(), 16).prop_map(|ip| [vec![4], ip].concat()),
            1 => valid_host().prop_map(|(text, _)| socks_domain(text.as_bytes())),
            2 => impossible_host().prop_map(|text| socks_domain(text.as_bytes())),
            1 => any_text().prop_map(|text| socks_domain(text.as_bytes())),
            1 => vec(any::<u8>(), 0..32).prop_map(|name| socks_domain(&name)),
            1 => (any::<u8>(), vec(any::<u8>(), 0..20)).prop_map(|(atyp, rest)| [vec![atyp], rest].concat()),
        ];
        // Mostly version 5; the rest tries the version check.
        let version = prop_oneof![15 => Just(5u8), 1 => any::<u8>()];
        let request = (version, command, address, vec(any::<u8>(), 2..4)).prop_map(
            |(version, command, address, port)| [vec![version, command, 0], address, port].concat(),
        );
        let plausible = (greeting, sub_negotiation, request, any::<Index>(), 0..4).prop_map(
            |(greeting, sub_negotiation, request, cut, whole)| {
                let bytes = [greeting, sub_negotiation, request].concat();
                let end = if whole > 0 { bytes.len() } else { cut.index(bytes.len()) };
                bytes[..end].to_vec()
            },
        );
        let bytes = prop_oneof![1 => vec(any::<u8>(), 0..64), 5 => plausible];
        bytes.prop_map(move |bytes| (with_auth, bytes))
    })
}

/// What a SOCKS5 client can ask for, and the host it must arrive as.
#[derive(Debug, Clone)]
enum SocksDest {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    Domain(String, Host),
}

fn socks_dest() -> impl Strategy<Value = SocksDest> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(SocksDest::V4),
        any::<Ipv6Addr>().prop_map(SocksDest::V6),
        valid_host().prop_map(|(text, host)| SocksDest::Domain(text, host)),
    ]
}

impl SocksDest {
    /// ATYP, DST.ADDR and the host `accept` must report.
    fn encode(&self) -> (u8, Vec<u8>, Host) {
        match self {
            SocksDest::V4(ip) => (1, ip.octets().to_vec(), Host::Ip(IpAddr::V4(*ip))),
            SocksDest::V6(ip) => (4, ip.octets().to_vec(), Host::Ip(IpAddr::V6(*ip))),
            SocksDest::Domain(text, host) => {
                let mut addr = vec![u8::try_from(text.len()).expect("short names")];
                addr.extend(text.as_bytes());
                (3, addr, host.clone())
            }
        }
    }
}

/// Mostly characters that can appear in a request target or header value,
/// sometimes ones that cannot (spaces, controls, non-ASCII).
fn http_text() -> impl Strategy<Value = String> {
    let usual: Vec<char> = "ab0i-:[]._%/?@=".chars().collect();
    let odd: Vec<char> = "ab0:[]-. *\t\r\n\0\u{7f}\u{e9}".chars().collect();
    prop_oneof![
        3 => vec(select(usual), 0..24).prop_map(String::from_iter),
        1 => vec(select(odd), 0..24).prop_map(String::from_iter),
    ]
}

/// HTTP/1.1-shaped requests with random methods, targets and headers, and raw bytes.
fn http_garbage() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        4 => Just("CONNECT"),
        1 => select(vec!["GET", "POST", "PRI", "connect", "C"]),
    ];
    let version = prop_oneof![
        6 => Just("HTTP/1.1"),
        1 => select(vec!["HTTP/1.0", "HTTP/2.0", "HTTP/9", "", "http/1.1"]),
    ];
    // Mostly headers hyper passes on; a few that decide how a body is framed.
    let name = prop_oneof![
        3 => select(vec!["Host", "Proxy-Authorization", "Upgrade", "Expect", "X"]),
        1 => select(vec!["Content-Length", "Transfer-Encoding"]),
    ];
    let header = prop_oneof![
        3 => (name, http_text()).prop_map(|(name, value)| format!("{name}: {value}\r\n")),
        1 => Just(format!("Proxy-Authorization: Basic {}\r\n", basic_token())),
    ];
    let target = prop_oneof![
        3 => (valid_host(), any::<u16>()).prop_map(|((text, host), port)| match host {
            Host::Ip(IpAddr::V6(_)) => format!("{host}:{port}"),
            _ => format!("{text}:{port}"),
        }),
        2 => (impossible_host(), any::<u16>()).prop_map(|(host, port)| format!("{host}:{port}")),
        1 => select(vec!["/", "*", "http://web-1/", "web-1"]).prop_map(String::from),
        1 => http_text(),
    ];
    let shaped = (method, target, version, vec(header, 0..4), any::<bool>()).prop_map(
        |(method, target, version, headers, end)| {
            let end = if end { "\r\n" } else { "" };
            format!("{method} {target} {version}\r\n{}{end}", headers.concat()).into_bytes()
        },
    );
    prop_oneof![1 => vec(any::<u8>(), 0..256), 5 => shaped]
}

// ---- properties -------------------------------------------------------------

/// Every byte value: 0x05 is SOCKS5, an ASCII letter HTTP, anything else a
/// refusal that can be put into words. 256 values, so all of them, not a sample.
#[test]
fn classify_is_total_and_follows_the_first_byte_rule() {
    for first in 0..=u8::MAX {
        match classify(first) {
            Ok(Protocol::Socks5) => assert_eq!(first, 0x05),
            Ok(Protocol::Http) => assert!(first.is_ascii_alphabetic(), "0x{first:02x}"),
            // Only a forward port counts its connections as Forward, and only
            // serve's control socket as Control; no byte names either.
            Ok(p @ (Protocol::Forward | Protocol::Control)) => {
                panic!("0x{first:02x} classified as {p:?}")
            }
            Err(refusal) => {
                assert!(
                    first != 0x05 && !first.is_ascii_alphabetic(),
                    "0x{first:02x}"
                );
                assert!(!refusal.to_string().is_empty());
            }
        }
    }
}

proptest! {
    // No regression files: a failure prints its minimal input, which belongs in a named test.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn host_parse_never_panics_on_any_string(text in any_text()) {
        if let Err(e) = Host::parse(&text) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn valid_hosts_parse_and_round_trip_through_display((text, expected) in valid_host()) {
        prop_assert_eq!(Host::parse(&text), Ok(expected.clone()));
        let shown = expected.to_string();
        prop_assert_eq!(Host::parse(&shown), Ok(expected), "printed as {:?}", shown);
    }

    #[test]
    fn socks5_accept_answers_any_bytes_as_the_rfcs_promise((with_auth, bytes) in socks_bytes()) {
        let auth = with_auth.then(credentials);
        let auth = auth.as_ref();
        let ((), answer) = exchange(&bytes, Close::AfterWrite, |io| async move {
            // A request that gets through is refused, so that its reply is checked too.
            if let Ok(request) = socks5::accept(io, auth).await {
                let _ = request.fail(Reply::NotAllowed).await;
            }
        });
        let given = auth.map(|a| (a.username.as_str(), a.password.as_str()));
        let promised = oracle::socks5::promised(&bytes, given, Some(Reply::NotAllowed.socks_code()));
        prop_assert_eq!(answer, promised, "{:?} with auth {}", bytes, with_auth);
    }

    #[test]
    fn socks5_connect_yields_the_requested_target_and_relays_the_reply(
        dest in socks_dest(),
        port in any::<u16>(),
        with_auth in any::<bool>(),
        reply in any_reply(),
    ) {
        let (atyp, addr, host) = dest.encode();
        let mut bytes = Vec::new();
        let mut expected_answer = Vec::new();
        if with_auth {
            bytes.extend([5, 1, 2, 1, USER.len() as u8]);
            bytes.extend(USER.as_bytes());
            bytes.push(PASSWORD.len() as u8);
            bytes.extend(PASSWORD.as_bytes());
            expected_answer.extend([5, 2, 1, 0]);
        } else {
            bytes.extend([5, 1, 0]);
            expected_answer.extend([5, 0]);
        }
        bytes.extend([5, 1, 0, atyp]);
        bytes.extend(addr);
        bytes.extend(port.to_be_bytes());
        expected_answer.extend([5, reply.socks_code(), 0, 1, 0, 0, 0, 0, 0, 0]);

        let auth = with_auth.then(credentials);
        let (target, answer) = exchange(&bytes, Close::AfterWrite, |io| async move {
            let request = socks5::accept(io, auth.as_ref()).await.map_err(|e| e.to_string())?;
            let target = request.target.clone();
            request.fail(reply).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(target)
        });
        prop_assert_eq!(target, Ok(Target { host, port }));
        prop_assert_eq!(answer, expected_answer);
    }

    #[test]
    fn http_connect_is_answered_with_the_refusal_open_chose(
        (text, host) in valid_host(),
        port in any::<u16>(),
        with_auth in any::<bool>(),
        reply in any_reply(),
    ) {
        // A bare IPv6 address needs its brackets in an authority.
        let authority_host = match host {
            Host::Ip(IpAddr::V6(_)) => host.to_string(),
            _ => text,
        };
        let authority = format!("{authority_host}:{port}");
        let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if with_auth {
            request.push_str(&format!("Proxy-Authorization: Basic {}\r\n", basic_token()));
        }
        request.push_str("\r\n");

        let asked = Arc::new(Mutex::new(Vec::new()));
        let open = {
            let asked = Arc::clone(&asked);
            move |target: Target| {
                asked.lock().unwrap().push(target);
                async move {
                    Err::<(), _>(Refusal { reply, message: "refused by the test".into() })
                }
            }
        };
        let auth = with_auth.then(|| Arc::new(credentials()));
        let (served, answer) = exchange(request.as_bytes(), Close::AfterResponse, |io| {
            http_connect::serve(io, auth, HEADER_TIMEOUT, open, never_joined)
        });
        prop_assert!(served.is_ok(), "{:?}", served);
        let (statuses, whole) = response_statuses(&answer);
        prop_assert!(whole, "{:?}", String::from_utf8_lossy(&answer));
        prop_assert_eq!(statuses, vec![reply.http_status().as_u16()]);
        let asked = asked.lock().unwrap().clone();
        prop_assert_eq!(asked, vec![Target { host, port }]);
    }

    #[test]
    fn http_garbage_is_answered_as_promised(bytes in http_garbage()) {
        // Closed at once, hyper answers what it cannot parse, and may drop a
        // request whose client has left. Ended with a blank line and kept
        // open until answered, a parsable head reaches the service too; a
        // head still incomplete meets the short header timeout, unanswered.
        let mut ended = bytes.clone();
        ended.extend_from_slice(b"\r\n\r\n");
        let runs = [
            (&bytes, Close::AfterWrite, HEADER_TIMEOUT),
            (&ended, Close::AfterResponse, Duration::from_millis(200)),
        ];
        let credentials = Arc::new(credentials());
        for (input, close, header_timeout) in runs {
            for auth in [None, Some(Arc::clone(&credentials))] {
                let with_auth = auth.is_some();
                let given = with_auth.then_some((USER, PASSWORD));
                let refusal = Reply::NotAllowed;
                let open = move |_: Target| async move {
                    Err::<(), _>(Refusal { reply: refusal, message: "refused by the test".into() })
                };
                let ((), answer) = exchange(input, close, |io| async move {
                    let _ = http_connect::serve(io, auth, header_timeout, open, never_joined).await;
                });
                let (statuses, whole) = response_statuses(&answer);
                let shown = String::from_utf8_lossy(input);
                prop_assert!(whole, "not HTTP: {:?}", String::from_utf8_lossy(&answer));
                let status = refusal.http_status().as_u16();
                let promised = oracle::http_connect::first(input, given, status);
                let first = statuses.first().copied();
                match (promised, close) {
                    (First::Nothing, _) => prop_assert!(
                        answer.is_empty(), "{:?} answered {:?}", shown, statuses
                    ),
                    (First::Hyper(status), _) | (First::Serve(status), Close::AfterResponse) => {
                        prop_assert_eq!(first, Some(status), "{:?}, auth {}", shown, with_auth);
                    }
                    (First::Serve(status), Close::AfterWrite) => prop_assert!(
                        first.is_none_or(|first| first == status),
                        "{:?}, auth {}: answered {:?}, not {}", shown, with_auth, statuses, status
                    ),
                }
                // What follows (pipelined requests) is refused too, whatever it is.
                prop_assert!(
                    statuses.iter().all(|s| (400..500).contains(s)),
                    "{:?} answered {:?}", shown, statuses
                );
            }
        }
    }
}

/// `join` for servers whose `open` always refuses.
async fn never_joined(_client: Upgraded, (): ()) {
    unreachable!("open refused, so nothing can be joined");
}
