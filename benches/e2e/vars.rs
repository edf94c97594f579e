//! Reading a bench's settings from environment variables, shared by the
//! `e2e` and `hop` benches.

use std::str::FromStr;

use anyhow::bail;

use crate::peers::Dir;

/// `name` parsed, or `default` when it is unset or blank.
pub fn var<T: FromStr>(name: &str, default: T) -> anyhow::Result<T>
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

/// A comma-separated list, blanks dropped.
pub fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

/// The transfer directions variable `name` asks for: `up`, `down` or both.
pub fn directions(name: &str) -> anyhow::Result<Vec<Dir>> {
    let names = list(&var(name, "up,down".to_owned())?);
    let directions: Vec<Dir> = Dir::BOTH
        .into_iter()
        .filter(|d| names.iter().any(|n| n == d.label()))
        .collect();
    if directions.is_empty() {
        bail!("{name} must name up, down or both");
    }
    Ok(directions)
}
