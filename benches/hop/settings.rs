//! Sizes, counts and bounds of a run, from `HOP_*` variables (documented at
//! the top of `hop.rs`).

use std::str::FromStr;

use anyhow::bail;
use serde::Serialize;

use crate::peers::Dir;

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
        let names = list(&var("HOP_DIRECTIONS", "up,down".to_owned())?);
        let directions: Vec<Dir> = Dir::BOTH
            .into_iter()
            .filter(|d| names.iter().any(|name| name == d.label()))
            .collect();
        if directions.is_empty() {
            bail!("HOP_DIRECTIONS must name up, down or both");
        }
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

fn var<T: FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={text:?}: {e}")),
        _ => Ok(default),
    }
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}
