//! Where doctor's connections would go: the tunnel client's environment
//! knobs, which of an endpoint's names a tunnel dials, and the corporate
//! proxy each kind of connection takes.

use super::{Report, Status};
use crate::config::Config;
use crate::eice::{ENDPOINT_ADDRS_ENV, ENDPOINT_URL_ENV, EndpointDns, TunnelSettings};

/// The tunnel client's environment knobs, and which of an endpoint's names
/// a tunnel dials.
/// `fips`: a profile in use asks for FIPS endpoints.
pub(super) fn check_environment(report: &mut Report, config: &Config, fips: bool) {
    match TunnelSettings::from_env() {
        Ok(settings) => {
            let detail = match &settings.endpoint_override {
                Some(o) => format!(
                    "{ENDPOINT_URL_ENV} sends every tunnel to {}://{}:{}",
                    if o.tls { "wss" } else { "ws" },
                    o.host,
                    o.port
                ),
                None => dialled_name(&settings, config.network.endpoint_dns, fips),
            };
            report.line(Status::Ok, "tunnel settings", detail);
        }
        Err(e) => {
            report.line(Status::Fail, "tunnel settings", e);
            report.fix("correct or unset the variable named");
        }
    }
}

/// Which of each endpoint's names tunnels dial (and sign), and where.
fn dialled_name(settings: &TunnelSettings, endpoint_dns: EndpointDns, fips: bool) -> String {
    let fips = if fips { " FIPS" } else { "" };
    let mut text = match endpoint_dns {
        EndpointDns::Ipv4 => format!("tunnels dial each endpoint's ipv4{fips} name (DnsName)"),
        EndpointDns::Dualstack => format!(
            "tunnels dial each endpoint's dualstack{fips} name (PublicDnsNames.Dualstack), \
             IPv6 or IPv4, whichever answers first"
        ),
    };
    if !settings.endpoint_addrs.is_empty() {
        let addrs: Vec<String> = settings
            .endpoint_addrs
            .iter()
            .map(|a| a.to_string())
            .collect();
        text.push_str(&format!(" at {} ({ENDPOINT_ADDRS_ENV})", addrs.join(", ")));
    }
    text
}

/// Which proxy the EC2 API, the SDK's calls and the tunnels of each region
/// go through, and whether it answers.
pub(super) async fn check_proxy(report: &mut Report, config: &Config, regions: &[String]) {
    let settings = match super::super::settings(config) {
        Ok(settings) => settings,
        Err(e) => {
            report.line(Status::Fail, "proxy", e);
            report.fix("correct the proxy URL named, or unset it");
            return;
        }
    };
    let proxies = &settings.proxies;
    if proxies.https.is_none() && proxies.http.is_none() {
        report.line(Status::Ok, "proxy", "none: connections to AWS go direct");
        return;
    }
    for region in regions {
        let Ok(api) = crate::ec2::ApiUrl::resolve(&crate::ec2::EndpointParams {
            region: Some(region),
            ..Default::default()
        }) else {
            continue;
        };
        let eice = format!("eice-example.ec2-instance-connect-endpoint.{region}.amazonaws.com");
        let way = |host: &str| match proxies.for_host(true, host, 443) {
            Some(proxy) => format!("via {proxy}"),
            None => "direct (NO_PROXY)".to_owned(),
        };
        let sdk = format!("sts.{region}.amazonaws.com");
        let detail = format!(
            "EC2 API {}; STS, SSO and Instance Connect {}; tunnels {}",
            way(&api.host),
            way(&sdk),
            way(&eice)
        );
        report.line(Status::Ok, &format!("proxy ({region})"), detail);
    }
    let mut checked = Vec::new();
    for proxy in [&proxies.https, &proxies.http].into_iter().flatten() {
        if checked.contains(&(&proxy.host, proxy.port)) {
            continue;
        }
        checked.push((&proxy.host, proxy.port));
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            tokio::net::TcpStream::connect((proxy.host.as_str(), proxy.port)),
        )
        .await;
        match answer {
            Ok(Ok(_)) => report.line(Status::Ok, "proxy answers", proxy),
            Ok(Err(e)) => {
                report.line(Status::Fail, "proxy answers", format!("{proxy}: {e}"));
                report.fix("check the proxy's address, or unset the variable named");
            }
            Err(_) => {
                report.line(
                    Status::Fail,
                    "proxy answers",
                    format!("{proxy}: no answer in 3 s"),
                );
                report.fix("check the proxy's address, or unset the variable named");
            }
        }
    }
}
