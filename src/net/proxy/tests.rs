//! The proxy URL, `NO_PROXY` and the choice of proxy per host, on the
//! cases curl and the AWS CLI agree on.

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn a_proxy_url_keeps_its_credentials_and_never_shows_the_password() {
    let p = ProxyUrl::parse("http://alice:s%40cret@proxy.corp:3128/", "HTTPS_PROXY").unwrap();
    assert_eq!((p.host.as_str(), p.port), ("proxy.corp", 3128));
    assert_eq!(p.authorization().as_deref(), Some("Basic YWxpY2U6c0BjcmV0"));
    let shown = format!("{p} {p:?}");
    assert!(!shown.contains("cret"), "{shown}");
    assert!(
        shown.contains("http://alice:***@proxy.corp:3128 (from HTTPS_PROXY)"),
        "{shown}"
    );
    // No scheme is http://, no port is 80; IPv6 in brackets.
    let p = ProxyUrl::parse("[::1]", "ALL_PROXY").unwrap();
    assert_eq!((p.host.as_str(), p.port), ("::1", 80));
    assert_eq!(p.authorization(), None);
}

#[test]
fn other_proxy_kinds_and_bad_urls_are_refused_without_the_password() {
    for (url, why) in [
        ("https://proxy:443", "https:// proxy is not supported"),
        ("socks5://proxy:1080", "socks5:// proxy is not supported"),
        ("http://proxy:port", "bad port"),
        ("http://proxy:3128/path", "no path"),
    ] {
        let e = ProxyUrl::parse(url, "HTTPS_PROXY").unwrap_err().to_string();
        assert!(e.contains(why) && e.contains("HTTPS_PROXY"), "{url}: {e}");
    }
    let e = ProxyUrl::parse("https://bob:hunter2@proxy", "X")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("hunter2") && e.contains("bob:***@proxy"), "{e}");
}

#[test]
fn no_proxy_matches_names_below_a_suffix_addresses_blocks_and_ports() {
    let n = NoProxy::parse(
        ".internal, example.com,*.corp.net 10.0.0.0/8, 192.168.1.5, ::1, vpce.amazonaws.com:443",
    );
    for (host, port, direct) in [
        ("ec2.internal", 443, true),
        ("internal", 443, true),
        ("example.com", 443, true),
        ("api.example.com", 443, true),
        ("badexample.com", 443, false),
        ("a.corp.net", 443, true),
        ("10.1.2.3", 443, true),
        ("11.0.0.1", 443, false),
        ("192.168.1.5", 80, true),
        ("::1", 443, true),
        ("[::1]", 443, true),
        ("x.vpce.amazonaws.com", 443, true),
        ("x.vpce.amazonaws.com", 8443, false),
        ("ec2.us-east-1.amazonaws.com", 443, false),
        ("EXAMPLE.COM.", 443, true),
    ] {
        assert_eq!(n.matches(host, port), direct, "{host}:{port}");
    }
    assert!(NoProxy::parse("*").matches("anything", 1));
    assert!(!NoProxy::parse("").matches("anything", 1));
}

#[test]
fn the_environment_is_read_as_curl_reads_it() {
    let p = Proxies::from_env(env(&[
        ("HTTPS_PROXY", "http://upper:3128"),
        ("https_proxy", "http://lower:3128"),
        ("ALL_PROXY", "http://all:3128"),
        ("NO_PROXY", ".amazonaws.com"),
    ]))
    .unwrap();
    assert_eq!(p.https.as_ref().unwrap().host, "lower");
    assert_eq!(p.http.as_ref().unwrap().host, "all");
    assert_eq!(p.for_host(true, "ec2.us-east-1.amazonaws.com", 443), None);
    assert_eq!(p.for_host(true, "eice.example", 443).unwrap().host, "lower");
    let none = Proxies::from_env(env(&[("HTTPS_PROXY", "  ")])).unwrap();
    assert_eq!(none, Proxies::default());
}

#[test]
fn the_config_file_wins_over_the_environment() {
    let from_env = Proxies::from_env(env(&[("HTTPS_PROXY", "http://env:3128")])).unwrap();
    let p = from_env
        .clone()
        .with_config(Some("http://file:8080"), Some("*.internal"))
        .unwrap();
    assert_eq!(p.for_host(true, "eice.example", 443).unwrap().host, "file");
    assert_eq!(
        p.for_host(false, "eice.example", 80).unwrap().source,
        "[network] proxy"
    );
    assert_eq!(p.for_host(true, "ec2.internal", 443), None);
    let direct = from_env.with_config(Some("none"), None).unwrap();
    assert_eq!(direct.for_host(true, "eice.example", 443), None);
}

#[test]
fn loopback_never_takes_the_proxy_unless_asked() {
    let mut p = Proxies::from_env(env(&[("ALL_PROXY", "http://proxy.corp:3128")])).unwrap();
    for host in [
        "127.0.0.1",
        "127.9.8.7",
        "::1",
        "[::1]",
        "::ffff:127.0.0.1",
        "localhost",
        "LOCALHOST.",
    ] {
        for tls in [true, false] {
            assert_eq!(p.for_host(tls, host, 8080), None, "{host} tls={tls}");
        }
    }
    for host in ["128.0.0.1", "localhost.example", "10.0.0.1", "::2"] {
        assert!(p.for_host(false, host, 80).is_some(), "{host}");
    }
    p.loopback = true;
    assert!(p.for_host(false, "127.0.0.1", 80).is_some());
    assert!(p.for_host(true, "localhost", 443).is_some());
}
