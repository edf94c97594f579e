//! `eice-proxy doctor`: every setting and permission the proxy depends on,
//! checked in the order a connection needs them, each failure with its fix.
//!
//! It makes only read-only calls (STS GetCallerIdentity and the EC2
//! Describe* actions the proxy itself uses) and opens no tunnel: the
//! `ec2-instance-connect:OpenTunnel` permission can only be seen by using it,
//! and a hop's SSH login only by making it.

mod hops;
mod network;
mod path;

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_sdk_sts::error::ProvideErrorMetadata;

use super::{ProfileAws, config_path, load_aws, load_config};
use crate::cli::{AwsArgs, DoctorArgs};
use crate::config::{Config, default_path};
use crate::resolve::{AwsError, Ec2, Scope};
use crate::server;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Ok,
    /// Works, but something is worth knowing.
    Warn,
    /// The proxy will not work until this is fixed.
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        })
    }
}

/// One check, as `--json` prints it.
#[derive(Debug, serde::Serialize)]
struct Line {
    status: Status,
    check: String,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

/// The checks so far: printed as they are made, or kept for `--json`.
#[derive(Default)]
struct Report {
    failures: usize,
    /// `Some` under `--json`: the lines, printed at the end as one document.
    json: Option<Vec<Line>>,
}

impl Report {
    fn line(&mut self, status: Status, check: &str, detail: impl fmt::Display) {
        if status == Status::Fail {
            self.failures += 1;
        }
        match &mut self.json {
            Some(lines) => lines.push(Line {
                status,
                check: check.to_owned(),
                detail: detail.to_string(),
                fix: None,
            }),
            None => println!("{status:<5} {check:<32} {detail}"),
        }
    }

    fn fix(&mut self, how: impl fmt::Display) {
        match self.json.as_mut().and_then(|lines| lines.last_mut()) {
            Some(line) => line.fix = Some(how.to_string()),
            None => println!("{:<38} fix: {how}", ""),
        }
    }

    /// Under `--json`, the whole report as one JSON document on stdout.
    fn finish_json(&mut self) {
        if let Some(lines) = self.json.take() {
            let doc = serde_json::json!({ "checks": lines, "failures": self.failures });
            println!("{doc:#}");
        }
    }
}

pub(super) async fn run(aws_args: &AwsArgs, args: DoctorArgs) -> anyhow::Result<()> {
    if let Some(target) = &args.target {
        return path::run(aws_args, &args, target).await;
    }
    let mut report = Report {
        json: args.json.then(Vec::new),
        ..Report::default()
    };
    let Some(config) = check_config(&mut report, aws_args, &args) else {
        report.finish_json();
        anyhow::bail!("doctor found a problem with the config file");
    };
    match load_aws(&config).await {
        Ok((plan, profiles)) => {
            let fips = profiles.iter().any(ProfileAws::fips);
            network::check_environment(&mut report, &config, fips);
            let regions: Vec<String> = plan.scopes[..plan.searched]
                .iter()
                .map(Scope::to_string)
                .collect();
            report.line(Status::Ok, "regions", regions.join(", "));
            let names: Vec<String> = plan.scopes[..plan.searched]
                .iter()
                .map(|s| s.region.clone())
                .collect();
            network::check_proxy(&mut report, &config, &names).await;
            for profile in &profiles {
                check_profile(&mut report, profile).await;
            }
            for scope in &plan.scopes {
                match ProfileAws::of(&profiles, scope).ec2(&scope.region) {
                    Ok(ec2) => check_region(&mut report, scope, &ec2).await,
                    Err(e) => {
                        report.line(Status::Fail, &format!("EC2 API ({scope})"), e);
                        report.fix("unset the custom endpoint URL, or FIPS and dual-stack");
                    }
                }
            }
        }
        Err(e) => {
            network::check_environment(&mut report, &config, false);
            report.line(Status::Fail, "regions", e);
            report.fix("add `regions = [\"us-east-1\"]` to the config file, or pass --region");
        }
    }
    hops::check_hops(&mut report, &config).await;
    hops::check_overflow(&mut report, &config);
    check_listen(&mut report, &config).await;
    let json = report.json.is_some();
    report.finish_json();
    match report.failures {
        0 => {
            if !json {
                println!("\nno problems found");
            }
            Ok(())
        }
        n => anyhow::bail!("doctor found {n} problem{}", if n == 1 { "" } else { "s" }),
    }
}

/// Which file applies, and whether it loads.
fn check_config(report: &mut Report, aws_args: &AwsArgs, args: &DoctorArgs) -> Option<Config> {
    let which = match config_path(&args.config) {
        Some(path) => path.display().to_string(),
        None => format!(
            "none (no {}); built-in defaults",
            default_path().map_or("per-user file".into(), |p| p.display().to_string())
        ),
    };
    match load_config(&args.config, aws_args) {
        Ok(config) => {
            report.line(Status::Ok, "config file", which);
            Some(config)
        }
        Err(e) => {
            report.line(Status::Fail, "config file", format!("{e:#}"));
            report.fix(
                "correct the key on the line named; config/eice-proxy.example.toml lists every key",
            );
            None
        }
    }
}

/// The profile's credentials: where they come from, and whose they are.
async fn check_profile(report: &mut Report, p: &ProfileAws) {
    let name = p.profile.as_deref().unwrap_or("default chain");
    let credentials = match p.credentials.get().await {
        Ok(credentials) => credentials,
        Err(e) => {
            report.line(Status::Fail, &format!("credentials ({name})"), e);
            report.fix(match &p.profile {
                Some(profile) => format!(
                    "aws sso login --profile {profile} (SSO), or aws configure --profile {profile}"
                ),
                None => "aws configure, aws sso login, or set AWS_PROFILE".to_owned(),
            });
            return;
        }
    };
    let expiry = match credentials.expiry() {
        Some(at) => match at.duration_since(SystemTime::now()) {
            Ok(left) => format!(", expire in {} min", left.as_secs() / 60),
            Err(_) => ", expired".to_owned(),
        },
        None => String::new(),
    };
    report.line(
        Status::Ok,
        &format!("credentials ({name})"),
        format!(
            "{} from {}{expiry}",
            masked(credentials.access_key_id()),
            source(&credentials)
        ),
    );
    let sts = aws_sdk_sts::Client::new(&p.sdk);
    match sts.get_caller_identity().send().await {
        Ok(identity) => report.line(
            Status::Ok,
            &format!("identity ({name})"),
            format!(
                "{} (account {})",
                identity.arn().unwrap_or("?"),
                identity.account().unwrap_or("?")
            ),
        ),
        Err(e) => match e.code() {
            Some(code @ ("InvalidClientTokenId" | "SignatureDoesNotMatch" | "ExpiredToken")) => {
                report.line(
                    Status::Fail,
                    &format!("identity ({name})"),
                    format!(
                        "STS refused the credentials: {code}: {}",
                        e.message().unwrap_or("")
                    ),
                );
                report.fix(
                    "the keys are wrong or expired: refresh them (aws sso login, aws configure)",
                );
            }
            _ => report.line(
                Status::Warn,
                &format!("identity ({name})"),
                format!(
                    "STS GetCallerIdentity did not answer ({}); the EC2 checks below still tell",
                    crate::credentials::error_chain(&e)
                ),
            ),
        },
    }
}

/// The region's read permissions and its endpoints.
async fn check_region(report: &mut Report, scope: &Scope, ec2: &Ec2) {
    let region = &scope.region;
    let mut permitted = Vec::new();
    // An id no instance has: a permitted call answers "not found".
    match ec2.instance("i-00000000000000000").await {
        Ok(_) => permitted.push("ec2:DescribeInstances"),
        Err(e) => denied(report, region, &e),
    }
    match ec2.vpc_cidrs().await {
        Ok(_) => permitted.push("ec2:DescribeVpcs"),
        Err(e) => denied(report, region, &e),
    }
    let endpoints = match ec2.every_endpoint().await {
        Ok(endpoints) => {
            permitted.push("ec2:DescribeInstanceConnectEndpoints");
            Some(endpoints)
        }
        Err(e) => {
            denied(report, region, &e);
            None
        }
    };
    if !permitted.is_empty() {
        report.line(
            Status::Ok,
            &format!("permissions ({region})"),
            permitted.join(", "),
        );
    }
    let Some(endpoints) = endpoints else { return };
    if endpoints.is_empty() {
        report.line(
            Status::Warn,
            &format!("endpoints ({region})"),
            "none: instances in this region cannot be reached",
        );
        report.fix(format!(
            "aws ec2 create-instance-connect-endpoint --region {region} --subnet-id subnet-… \
             (one per VPC; its security group must reach the instances' ports 22/3389)"
        ));
        return;
    }
    for e in &endpoints {
        let usable = e.is_usable();
        let status = if usable { Status::Ok } else { Status::Warn };
        report.line(
            status,
            &format!("endpoint ({region})"),
            format!(
                "{} in {} ({}, {}){}",
                e.id,
                e.vpc_id,
                e.state,
                e.family,
                if usable {
                    ""
                } else {
                    ": not usable in this state"
                }
            ),
        );
    }
}

/// A denied (or failed) EC2 call, with the permission it needs.
fn denied(report: &mut Report, region: &str, e: &AwsError) {
    report.line(Status::Fail, &format!("ec2:{} ({region})", e.action), e);
    if e.is_denied() {
        report.fix(format!(
            "allow ec2:{} on \"*\" in the IAM policy of this identity \
             (Describe* actions cannot be limited to resources)",
            e.action
        ));
    }
}

/// Whether `serve` could listen where the config says.
async fn check_listen(report: &mut Report, config: &Config) {
    let addr = config.listen;
    match server::bind(addr, config.auth.is_some()).await {
        Ok(_) => report.line(Status::Ok, "listen", format!("{addr} is free")),
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse) =>
        {
            report.line(
                Status::Warn,
                "listen",
                format!("{addr} is in use: is `eice-proxy serve` already running?"),
            );
        }
        Err(e) => {
            report.line(Status::Fail, "listen", format!("{e:#}"));
            report.fix("listen on 127.0.0.1, or configure [auth]");
        }
    }
}

/// Where the credentials chain found these credentials, in words.
fn source(credentials: &aws_credential_types::Credentials) -> &'static str {
    use AwsCredentialFeature as F;
    let features = credentials.get_property::<Vec<AwsCredentialFeature>>();
    let Some(last) = features.and_then(|f| f.last()) else {
        return "the default chain";
    };
    match last {
        F::CredentialsEnvVars => "environment variables (AWS_ACCESS_KEY_ID)",
        F::CredentialsProfile => "the shared credentials file (static keys)",
        F::CredentialsProfileSourceProfile | F::CredentialsStsAssumeRole => {
            "an assumed role (role_arn in the profile)"
        }
        F::CredentialsProfileSso | F::CredentialsSso => "IAM Identity Center (SSO)",
        F::CredentialsProfileProcess | F::CredentialsProcess => "a credential_process",
        F::CredentialsEnvVarsStsWebIdToken
        | F::CredentialsProfileStsWebIdToken
        | F::CredentialsStsAssumeRoleWebId => "a web identity token",
        F::CredentialsHttp => "the container credentials endpoint",
        F::CredentialsImds => "the instance metadata service",
        _ => "the default chain",
    }
}

/// An access key id with its middle hidden: enough to tell keys apart.
fn masked(key: &str) -> String {
    if key.len() > 8 {
        format!("{}…{}", &key[..4], &key[key.len() - 4..])
    } else {
        "****".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_keys_are_masked() {
        assert_eq!(masked("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(masked("short"), "****");
    }
}
