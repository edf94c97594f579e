//! Which config file applies: `--config FILE` (or `EICE_PROXY_CONFIG`), else
//! `$XDG_CONFIG_HOME/eice-proxy/config.toml` (`~/.config/…` when the variable
//! is unset) if it exists, else none and the built-in defaults; and where a
//! path the file names (`~/.ssh/…`) points.

use std::path::{Path, PathBuf};

/// The variable that names the config file, like `--config`.
pub const CONFIG_ENV: &str = "EICE_PROXY_CONFIG";

/// The per-user config file's path, whether or not it exists.
pub fn default_path() -> Option<PathBuf> {
    Some(xdg_dir("XDG_CONFIG_HOME", ".config")?.join("config.toml"))
}

/// eice-proxy's directory under an XDG base directory: `$VAR/eice-proxy`
/// when `VAR` (`XDG_CONFIG_HOME`, `XDG_CACHE_HOME`) holds an absolute path,
/// else `~/DEFAULT/eice-proxy`; `None` without a home directory.
pub fn xdg_dir(var: &str, default: &str) -> Option<PathBuf> {
    let base = match std::env::var_os(var) {
        // The XDG spec says a relative value is invalid and must be ignored.
        Some(dir) if PathBuf::from(&dir).is_absolute() => PathBuf::from(dir),
        _ => home_dir()?.join(default),
    };
    Some(base.join("eice-proxy"))
}

/// `~/…` made absolute with the home directory, as a shell would.
pub fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_owned(),
    }
}

/// The user's home directory: `$HOME`, and on Windows (where a shell rarely
/// sets it) `%USERPROFILE%`, where Windows' OpenSSH keeps `.ssh` too.
pub fn home_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let home = var("HOME");
    #[cfg(windows)]
    let home = home.or_else(|| var("USERPROFILE"));
    home.map(PathBuf::from)
}
