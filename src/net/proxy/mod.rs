//! Corporate HTTP proxies: which one a connection to AWS goes through, and
//! the HTTP `CONNECT` that opens a byte stream through it.
//!
//! The variables are read as curl and the AWS CLI read them:
//! `https_proxy`/`HTTPS_PROXY` for TLS connections (all of AWS), `http_proxy`/
//! `HTTP_PROXY` for plain ones (a loopback stand-in), `ALL_PROXY` for both,
//! and `no_proxy`/`NO_PROXY` for the hosts that go direct. A proxy URL's
//! user and password become `Proxy-Authorization: Basic`; the password is
//! never printed, in errors or logs.
//!
//! Loopback (`localhost`, 127.0.0.0/8, `::1`) goes direct whatever the
//! variables say, unlike curl: a `ws://127.0.0.1` endpoint override or an
//! `http://localhost` EC2 URL would otherwise cross the corporate proxy in
//! clear text, signed requests and presigned URLs included, and reach the
//! proxy's own loopback rather than ours. `[network] proxy_loopback` is the
//! deliberate exception (a debugging proxy on this machine, the tests).

use std::fmt;

use base64::Engine as _;
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod no_proxy;

pub use no_proxy::NoProxy;

/// The longest answer head a proxy may send to `CONNECT`.
const MAX_HEAD: usize = 16 * 1024;

/// Why a proxy could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("bad proxy URL {url} (from {source_name}): {why}")]
    BadUrl {
        url: String,
        source_name: String,
        why: String,
    },
    #[error(
        "the proxy {proxy} requires authentication (HTTP 407) to reach {target}: put the user \
         and password in the proxy URL (http://USER:PASSWORD@HOST:PORT)"
    )]
    AuthRequired { proxy: String, target: String },
    #[error(
        "the proxy {proxy} did not accept the credentials in its URL (HTTP {status}) for {target}"
    )]
    AuthRejected {
        proxy: String,
        target: String,
        status: u16,
    },
    #[error("the proxy {proxy} refused to connect to {target}: HTTP {status} {reason}")]
    Refused {
        proxy: String,
        target: String,
        status: u16,
        reason: String,
    },
    #[error("the proxy {proxy} answered CONNECT to {target} with something that is not HTTP")]
    NotHttp { proxy: String, target: String },
    #[error("the proxy {proxy} closed the connection before answering CONNECT to {target}: {why}")]
    Dropped {
        proxy: String,
        target: String,
        why: String,
    },
}

/// A proxy: where it listens, and the credentials its URL carries.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyUrl {
    pub host: String,
    pub port: u16,
    credentials: Option<(String, String)>,
    /// The variable or config key it came from, for messages.
    pub source: String,
}

impl ProxyUrl {
    /// Reads `http://[USER[:PASSWORD]@]HOST[:PORT][/]` (a URL without a scheme
    /// is taken as `http://`, as curl does). A TLS (`https://`) or SOCKS proxy
    /// is refused with the reason.
    pub fn parse(text: &str, source: &str) -> Result<ProxyUrl, ProxyError> {
        let bad = |why: &str| ProxyError::BadUrl {
            url: redact_url(text),
            source_name: source.to_owned(),
            why: why.to_owned(),
        };
        let text = text.trim();
        let rest = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(bad(&format!(
                    "a {scheme}:// proxy is not supported; give the proxy's http:// address"
                )));
            }
            None => text,
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains(['/', '?', '#']) {
            return Err(bad("a proxy URL has no path"));
        }
        let (userinfo, authority) = match rest.rsplit_once('@') {
            Some((userinfo, authority)) => (Some(userinfo), authority),
            None => (None, rest),
        };
        let credentials = userinfo.map(|u| {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            (decode(user), decode(password))
        });
        let (host, port) =
            split_authority(authority).ok_or_else(|| bad("no host, or a bad port"))?;
        Ok(ProxyUrl {
            host,
            port: port.unwrap_or(80),
            credentials,
            source: source.to_owned(),
        })
    }

    /// The user and password of the URL, for a client that builds the
    /// `Proxy-Authorization` header itself (the AWS SDK's).
    pub(super) fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// `Basic …` for `Proxy-Authorization`, when the URL has a user.
    fn authorization(&self) -> Option<String> {
        let (user, password) = self.credentials.as_ref()?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Some(format!("Basic {token}"))
    }

    /// Opens a byte stream to `host:port` through this proxy: connects to
    /// it (`tcp` is that connection), sends `CONNECT`, and reads the answer.
    pub async fn connect(
        &self,
        mut tcp: TcpStream,
        host: &str,
        port: u16,
    ) -> Result<TcpStream, ProxyError> {
        // CONNECT names the port always, and an IPv6 host in brackets.
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(auth) = self.authorization() {
            request.push_str("Proxy-Authorization: ");
            request.push_str(&auth);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        let dropped = |why: String| ProxyError::Dropped {
            proxy: self.to_string(),
            target: target.clone(),
            why,
        };
        tcp.write_all(request.as_bytes())
            .await
            .map_err(|e| dropped(e.to_string()))?;
        let head = read_head(&mut tcp).await.map_err(dropped)?;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let not_http = || ProxyError::NotHttp {
            proxy: self.to_string(),
            target: target.clone(),
        };
        match response.parse(&head) {
            Ok(httparse::Status::Complete(used)) if used == head.len() => {}
            _ => return Err(not_http()),
        }
        let status = response.code.ok_or_else(not_http)?;
        match status {
            200..=299 => Ok(tcp),
            // tinyproxy answers wrong credentials with 401, not 407.
            401 | 407 if self.credentials.is_some() => Err(ProxyError::AuthRejected {
                proxy: self.to_string(),
                target,
                status,
            }),
            407 => Err(ProxyError::AuthRequired {
                proxy: self.to_string(),
                target,
            }),
            status => Err(ProxyError::Refused {
                proxy: self.to_string(),
                target,
                status,
                reason: response.reason.unwrap_or_default().to_owned(),
            }),
        }
    }
}

/// The value of header `name` in a parsed answer head, trimmed; `None`
/// when it is missing or not UTF-8 (for the upgrade's answer too).
pub fn header<'h>(headers: &[httparse::Header<'h>], name: &str) -> Option<&'h str> {
    let found = headers.iter().find(|h| h.name.eq_ignore_ascii_case(name))?;
    std::str::from_utf8(found.value).ok().map(str::trim)
}

/// The answer head of a CONNECT, up to and including the blank line, read
/// byte by byte so that nothing of the tunnelled stream is consumed (also
/// `connect`'s reader of a running serve's answer).
pub async fn read_head<S: AsyncRead + Unpin>(tcp: &mut S) -> Result<Vec<u8>, String> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(format!("its answer head passed {MAX_HEAD} bytes"));
        }
        match tcp.read(&mut byte).await {
            Ok(0) => return Err("end of stream".into()),
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(head)
}

/// The URL as it may be shown: the password replaced.
impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("http://")?;
        if let Some((user, _)) = &self.credentials {
            write!(f, "{user}:***@")?;
        }
        write!(f, "{}", super::authority(false, &self.host, self.port))?;
        write!(f, " (from {})", self.source)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

/// `HOST[:PORT]` or `[V6][:PORT]`.
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return None,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => (authority, None),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some((host.to_ascii_lowercase(), port))
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// A URL with any password replaced, for an error about the URL itself.
fn redact_url(text: &str) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), text),
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}{user}:***@{host}")
        }
        None => text.to_owned(),
    }
}

/// Which proxy each connection to AWS uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    /// For TLS connections (every AWS endpoint).
    pub https: Option<ProxyUrl>,
    /// For plain connections (only loopback stand-ins use them).
    pub http: Option<ProxyUrl>,
    pub no_proxy: NoProxy,
    /// Whether loopback destinations take the proxy too; off unless the
    /// config file asks (`[network] proxy_loopback`).
    pub loopback: bool,
}

impl Proxies {
    /// From the environment, read through `var` (the process's own, or a
    /// test's): the lower-case name first, as curl reads them.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Proxies, ProxyError> {
        let first = |names: &[&str]| {
            names.iter().find_map(|name| {
                var(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (v, (*name).to_owned()))
            })
        };
        let url = |found: Option<(String, String)>| {
            found
                .map(|(value, name)| ProxyUrl::parse(&value, &name))
                .transpose()
        };
        let all = ["all_proxy", "ALL_PROXY"];
        Ok(Proxies {
            https: url(first(&["https_proxy", "HTTPS_PROXY"]).or_else(|| first(&all)))?,
            http: url(first(&["http_proxy", "HTTP_PROXY"]).or_else(|| first(&all)))?,
            no_proxy: NoProxy::parse(
                &first(&["no_proxy", "NO_PROXY"])
                    .map(|(v, _)| v)
                    .unwrap_or_default(),
            ),
            loopback: false,
        })
    }

    /// These proxies with the config file's `[network]` keys over them:
    /// `proxy` replaces both (`"none"` or `""`: no proxy), `no_proxy` the
    /// direct list.
    pub fn with_config(
        mut self,
        proxy: Option<&str>,
        no_proxy: Option<&str>,
    ) -> Result<Proxies, ProxyError> {
        match proxy.map(str::trim) {
            None => {}
            Some("" | "none") => (self.https, self.http) = (None, None),
            Some(url) => {
                let url = ProxyUrl::parse(url, "[network] proxy")?;
                (self.https, self.http) = (Some(url.clone()), Some(url));
            }
        }
        if let Some(list) = no_proxy {
            self.no_proxy = NoProxy::parse(list);
        }
        Ok(self)
    }

    /// The proxy a connection to `host:port` goes through, if any: none for
    /// loopback (unless [`Proxies::loopback`]) or a `NO_PROXY` match. Our
    /// dialer and the AWS SDK's client both ask here.
    pub fn for_host(&self, tls: bool, host: &str, port: u16) -> Option<&ProxyUrl> {
        if !self.loopback && super::is_loopback_host(host) {
            return None;
        }
        let proxy = if tls { &self.https } else { &self.http };
        proxy
            .as_ref()
            .filter(|_| !self.no_proxy.matches(host, port))
    }
}

#[cfg(test)]
mod tests;
