//! Sizes, counts and bounds of a run, from `E2E_*` variables (documented at
//! the top of `e2e.rs`), and the config file the proxy is given.

use anyhow::bail;
use serde::Serialize;

use crate::peers::Dir;
use crate::vars::{directions, list, var};

/// The names `E2E_MEASURE` accepts: (a), (b), (c), (d).
pub const MEASUREMENTS: [&str; 4] = ["throughput", "ttfb", "idle", "aggregate"];

/// Everything a run can be told.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub mib: u64,
    pub reps: usize,
    pub ttfb_connections: usize,
    pub ttfb_warmup: usize,
    pub cold_proxies: usize,
    pub idle_tunnels: usize,
    pub open_parallel: usize,
    pub streams: usize,
    pub aggregate_mib: u64,
    pub relay_buffer: usize,
    pub transports: Vec<String>,
    #[serde(skip)]
    pub directions: Vec<Dir>,
    pub target: String,
    pub measure: Vec<String>,
    /// Whether to take the direct and relay-chain figures too.
    pub baseline: bool,
    pub timeout_secs: u64,
    pub deadline_secs: u64,
    pub wait_quiet_secs: u64,
    pub proxy_wrapper: Vec<String>,
    /// The proxy binaries measured, each with a label (empty: the one cargo
    /// built), so that two builds are compared in one run.
    pub proxies: Vec<(String, String)>,
    /// The proxy's config file, as written.
    pub proxy_config: String,
}

/// `E2E_PROXIES=before=/path/a,after=/path/b`: label=binary pairs; unset,
/// the binary cargo built for this bench, unlabelled.
fn proxies() -> anyhow::Result<Vec<(String, String)>> {
    let text = var("E2E_PROXIES", String::new())?;
    if text.trim().is_empty() {
        return Ok(vec![(String::new(), super::PROXY_EXE.to_owned())]);
    }
    list(&text)
        .into_iter()
        .map(|pair| {
            let (label, path) = pair
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("E2E_PROXIES: {pair:?} is not label=path"))?;
            if !std::path::Path::new(path).is_file() {
                bail!("E2E_PROXIES: {path} is not a file");
            }
            Ok((label.to_owned(), path.to_owned()))
        })
        .collect()
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Settings> {
        let transports = transports()?;
        let directions = directions("E2E_DIRECTIONS")?;
        let measure = list(&var("E2E_MEASURE", MEASUREMENTS.join(","))?);
        if let Some(bad) = measure.iter().find(|m| !MEASUREMENTS.contains(&m.as_str())) {
            bail!("E2E_MEASURE: {bad:?} is not one of {MEASUREMENTS:?}");
        }
        let wrapper = var("E2E_PROXY_WRAPPER", String::new())?;
        let mut settings = Settings {
            mib: var("E2E_MIB", 512)?,
            reps: var("E2E_REPS", 3)?,
            ttfb_connections: var("E2E_TTFB_CONNECTIONS", 2000)?,
            ttfb_warmup: var("E2E_TTFB_WARMUP", 20)?,
            cold_proxies: var("E2E_COLD_PROXIES", 3)?,
            idle_tunnels: var("E2E_IDLE_TUNNELS", 1000)?,
            open_parallel: var("E2E_OPEN_PARALLEL", 32)?,
            streams: var("E2E_STREAMS", 100)?,
            aggregate_mib: var("E2E_AGGREGATE_MIB", 512)?,
            relay_buffer: var("E2E_RELAY_BUFFER", 65536)?,
            transports,
            directions,
            target: var("E2E_TARGET", "i-0a1b2c3d4e5f60001".to_owned())?,
            measure,
            baseline: var("E2E_BASELINE", 1u8)? != 0,
            timeout_secs: var("E2E_TIMEOUT_SECS", 300)?,
            deadline_secs: var("E2E_DEADLINE_SECS", 1200)?,
            wait_quiet_secs: var("E2E_WAIT_QUIET_SECS", 0)?,
            proxy_wrapper: wrapper.split_whitespace().map(str::to_owned).collect(),
            proxies: proxies()?,
            proxy_config: String::new(),
        };
        if settings.mib == 0 || settings.reps == 0 || settings.streams == 0 {
            bail!("E2E_MIB, E2E_REPS and E2E_STREAMS must be at least 1");
        }
        settings.proxy_config = proxy_config(&settings);
        Ok(settings)
    }

    /// Whether `E2E_MEASURE` asks for `measurement`.
    pub fn wants(&self, measurement: &str) -> bool {
        self.measure.iter().any(|m| m == measurement)
    }

    /// The directions to take `measurement` in; none when it is not wanted.
    pub fn directions_for(&self, measurement: &str) -> Vec<Dir> {
        if self.wants(measurement) {
            self.directions.clone()
        } else {
            Vec::new()
        }
    }

    pub fn bytes(&self) -> u64 {
        self.mib << 20
    }

    pub fn aggregate_bytes(&self) -> u64 {
        self.aggregate_mib << 20
    }
}

/// The proxy's config file. The demo's two VPCs share 10.0.0.0/16, so it is
/// pinned to one and a bare IP is unambiguous. The proxy holds each endpoint
/// to EICE's default quota of 20 tunnels, as the simulated service does;
/// the idle and many-stream figures need more, so both are raised (as for an
/// account whose quota AWS raised).
fn proxy_config(s: &Settings) -> String {
    let tunnels = s.idle_tunnels.max(s.streams) + 64;
    format!(
        "[[route]]\ncidr = \"10.0.0.0/16\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\n\n\
         [limits]\nmax_connections = {}\ntunnels_per_endpoint = {tunnels}\n",
        tunnels.max(1024)
    )
}

/// `E2E_TRANSPORTS`: `ws`, `wss`, or `none` (only the baseline).
fn transports() -> anyhow::Result<Vec<String>> {
    let mut transports = list(&var("E2E_TRANSPORTS", "ws,wss".to_owned())?);
    transports.retain(|t| t != "none");
    match transports
        .iter()
        .find(|t| !matches!(t.as_str(), "ws" | "wss"))
    {
        Some(bad) => bail!("E2E_TRANSPORTS: {bad:?} is neither ws nor wss"),
        None => Ok(transports),
    }
}
