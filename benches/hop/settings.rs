//! Sizes, counts and bounds of a run, from `HOP_*` variables (documented at
//! the top of `hop.rs`).

use anyhow::bail;
use serde::Serialize;

use crate::peers::Dir;
use crate::vars::{directions, list, var};

/// The paths `HOP_PATHS` accepts.
pub const PATHS: [&str; 3] = ["direct", "hop", "ssh-l"];

/// Everything a run can be told.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub mib: u64,
    pub reps: usize,
    pub ttfb_streams: usize,
    pub ttfb_warmup: usize,
    pub cold: usize,
    pub paths: Vec<String>,
    #[serde(skip)]
    pub directions: Vec<Dir>,
    pub ssh_options: Vec<String>,
    pub timeout_secs: u64,
    pub proxy_wrapper: Vec<String>,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Settings> {
        let paths = list(&var("HOP_PATHS", PATHS.join(","))?);
        if let Some(bad) = paths.iter().find(|p| !PATHS.contains(&p.as_str())) {
            bail!("HOP_PATHS: {bad:?} is not one of {PATHS:?}");
        }
        let directions = directions("HOP_DIRECTIONS")?;
        let words = |text: String| text.split_whitespace().map(str::to_owned).collect();
        let settings = Settings {
            mib: var("HOP_MIB", 256)?,
            reps: var("HOP_REPS", 3)?,
            ttfb_streams: var("HOP_TTFB_STREAMS", 200)?,
            ttfb_warmup: var("HOP_TTFB_WARMUP", 20)?,
            cold: var("HOP_COLD", 3)?,
            paths,
            directions,
            ssh_options: words(var("HOP_SSH_OPTIONS", String::new())?),
            timeout_secs: var("HOP_TIMEOUT_SECS", 300)?,
            proxy_wrapper: words(var("HOP_PROXY_WRAPPER", String::new())?),
        };
        if settings.mib == 0 {
            bail!("HOP_MIB must be at least 1 (HOP_REPS=0 skips the transfers)");
        }
        Ok(settings)
    }

    /// Whether `HOP_PATHS` names `path`.
    pub fn wants(&self, path: &str) -> bool {
        self.paths.iter().any(|p| p == path)
    }

    pub fn bytes(&self) -> u64 {
        self.mib << 20
    }
}
