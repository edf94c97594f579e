//! The first status `inbound::http_connect::serve` promises a client for
//! anything it sends: what `inbound/http_connect.rs` documents (405 for a
//! method other than CONNECT, 407 without valid `Proxy-Authorization: Basic`,
//! 400 for a target that is no `host:port`, 404 for a host that cannot exist,
//! else the refusal `open` chose), behind what hyper, the HTTP/1.1 server
//! underneath, answers by itself (400 for a head it cannot parse or frame,
//! 431 for too many headers, nothing for a head still incomplete).
//!
//! Shared by `tests/parsers_prop.rs` and the `http_connect_request` fuzz
//! target (which includes this file by path), so it uses only crates both
//! have. The request head is read with httparse, as hyper reads it.

use base64::Engine as _;
use eice_proxy::target::Host;

/// The most headers hyper reads in a request head (its default).
const MAX_HEADERS: usize = 100;
/// The longest request target hyper takes.
const MAX_URI_LEN: usize = (u16::MAX - 1) as usize;
/// The start of HTTP/2's connection preface, which hyper's HTTP/1 server
/// hands back as an error without answering.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Who answers the first request of an input, and with what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum First {
    /// Nobody: the head is incomplete (the client closed or went quiet), or
    /// it is HTTP/2's preface.
    Nothing,
    /// hyper, before any of our code runs: a head it cannot parse or frame.
    Hyper(u16),
    /// `serve`'s own answer to a request hyper handed it.
    Serve(u16),
}

/// The first answer to `input` from a server with `auth` (username and
/// password) configured whose `open` refuses every target with `refusal`.
pub fn first(input: &[u8], auth: Option<(&str, &str)>, refusal: u16) -> First {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(input) {
        Ok(httparse::Status::Partial) => return First::Nothing,
        Err(_) if input.starts_with(H2_PREFACE) => return First::Nothing,
        Err(httparse::Error::TooManyHeaders) => return First::Hyper(431),
        Err(_) => return First::Hyper(400),
        Ok(httparse::Status::Complete(_)) => {}
    }
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        unreachable!("a complete head has a request line");
    };
    if target.len() > MAX_URI_LEN {
        return First::Hyper(414);
    }
    if http::Method::from_bytes(method.as_bytes()).is_err() {
        return First::Hyper(400);
    }
    let Ok(uri) = http::Uri::try_from(target) else {
        return First::Hyper(400);
    };
    if let Err(status) = framing(request.headers, version) {
        return First::Hyper(status);
    }
    First::Serve(serve(method, &uri, request.headers, auth, refusal))
}

/// hyper's checks of the body's framing (RFC 9112 §6): `Transfer-Encoding`
/// only in HTTP/1.1 and ending in `chunked`, `Content-Length` digits only
/// and never two different ones.
fn framing(headers: &[httparse::Header<'_>], version: u8) -> Result<(), u16> {
    let (mut chunked, mut length) = (None, None);
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            if version == 0 {
                return Err(400);
            }
            let last = std::str::from_utf8(header.value)
                .ok()
                .filter(|v| v.bytes().all(|b| b == b'\t' || (32..127).contains(&b)))
                .and_then(|v| v.rsplit(',').next());
            chunked = Some(last.is_some_and(|e| e.trim().eq_ignore_ascii_case("chunked")));
        } else if header.name.eq_ignore_ascii_case("content-length") && chunked.is_none() {
            let digits = header.value;
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(400);
            }
            let value = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<u64>().ok())
                .ok_or(400u16)?;
            match length {
                Some(first) if first != value => return Err(400),
                Some(_) => {}
                // hyper's largest body length; the next two values mean "chunked" and "until close".
                None if value > u64::MAX - 2 => return Err(431),
                None => length = Some(value),
            }
        }
    }
    match chunked {
        Some(false) => Err(400),
        _ => Ok(()),
    }
}

/// What `serve` answers a request hyper accepted.
fn serve(
    method: &str,
    uri: &http::Uri,
    headers: &[httparse::Header<'_>],
    auth: Option<(&str, &str)>,
    refusal: u16,
) -> u16 {
    if method != "CONNECT" {
        return 405;
    }
    if let Some(auth) = auth {
        let given = headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("proxy-authorization"))
            .and_then(|h| basic_credentials(h.value));
        if given
            .as_ref()
            .is_none_or(|(u, p)| (u.as_str(), p.as_str()) != auth)
        {
            return 407;
        }
    }
    let Some(authority) = uri.authority() else {
        return 400;
    };
    if authority.port_u16().is_none() {
        return 400;
    }
    if Host::parse(authority.host()).is_err() {
        return 404;
    }
    refusal
}

/// The user and password of a `Basic` credential (RFC 7617), scheme name
/// in either case the module accepts.
fn basic_credentials(value: &[u8]) -> Option<(String, String)> {
    let value = http::HeaderValue::from_bytes(value).ok()?;
    let value = value.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
