//! What ships beside the binary, checked against the real clap definition so
//! it cannot drift from the CLI: shell completions, the man page, and the
//! systemd and launchd service files.

use std::process::Command;

use clap::{CommandFactory, Parser};
use eice_proxy::cli::{Cli, Command as Subcommand};
use eice_proxy::config::Config;

/// `eice-proxy ARGS…`: its stdout, after checking that it succeeded.
fn run(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_eice-proxy"))
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "eice-proxy {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Every subcommand's name, from the definition itself.
fn subcommands() -> Vec<String> {
    let names: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    assert!(names.len() >= 9, "{names:?}");
    names
}

#[test]
fn the_bash_completion_knows_every_subcommand() {
    let script = run(&["completions", "bash"]);
    // The words offered after `eice-proxy`: the first `opts="…"` with any.
    let top: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("opts=\""))
        .find(|words| !words.starts_with('"'))
        .expect("the top-level words")
        .trim_end_matches('"')
        .split_whitespace()
        .collect();
    for name in subcommands() {
        assert!(
            top.contains(&name.as_str()),
            "{name} missing from the bash completion: {top:?}"
        );
    }
    assert!(script.contains("--metrics-listen") && script.contains("--log-format"));
}

#[test]
fn every_shell_gets_a_completion_script() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = run(&["completions", shell]);
        assert!(
            script.contains("eice-proxy") && script.contains("ssh-config"),
            "{shell}"
        );
    }
}

#[test]
fn the_man_page_is_roff_and_names_every_subcommand() {
    // roff writes each hyphen as `\-`.
    let page = run(&["man"]).replace(r"\-", "-");
    assert!(
        page.lines().any(|l| l.starts_with(".TH eice-proxy")),
        "{page}"
    );
    for name in subcommands() {
        assert!(
            page.contains(&format!("eice-proxy-{name}(1)")),
            "{name} missing from the man page"
        );
    }
    // The same page for every platform's archive: no build's commit or target.
    assert!(
        page.contains(concat!("v", env!("CARGO_PKG_VERSION"))) && !page.contains("commit:"),
        "{page}"
    );
    let serve = run(&["man", "serve"]).replace(r"\-", "-");
    assert!(
        serve.lines().any(|l| l.starts_with(".TH eice-proxy-serve")),
        "{serve}"
    );
    assert!(serve.contains("--metrics-listen"), "{serve}");
}

/// The eice-proxy command line of a service file, parsed by the real CLI.
fn parses_as_serve(argv: &[String]) -> Cli {
    assert!(argv[0].ends_with("/eice-proxy"), "{argv:?}");
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    match &cli.command {
        Subcommand::Serve(args) => {
            let config = args.config.config.as_ref().expect("--config");
            assert!(
                config.ends_with("eice-proxy/config.toml"),
                "{}",
                config.display()
            );
        }
        other => panic!("{argv:?} runs {other:?}, not serve"),
    }
    cli
}

#[test]
fn the_systemd_unit_runs_a_command_line_the_cli_accepts() {
    let unit = include_str!("../config/eice-proxy.service");
    let setting = |key: &str| -> Vec<&str> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .collect()
    };
    let exec = setting("ExecStart");
    assert_eq!(exec.len(), 1, "one ExecStart");
    let argv: Vec<String> = exec[0].split_whitespace().map(String::from).collect();
    parses_as_serve(&argv);
    assert_eq!(setting("Restart"), ["on-failure"]);
    assert_eq!(setting("WantedBy"), ["default.target"], "a user unit");
    // systemd must wait out the proxy's own shutdown grace before it kills.
    let stop: u64 = setting("TimeoutStopSec")[0]
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!(stop > Config::default().timeouts.shutdown_grace, "{stop}");
    // A user manager cannot switch users.
    assert!(setting("User").is_empty());
}

/// The `<string>`s of the `<array>` after `<key>name</key>`, or the one value.
fn plist_values(plist: &str, name: &str) -> Vec<String> {
    let after = plist
        .split_once(&format!("<key>{name}</key>"))
        .unwrap_or_else(|| panic!("no {name}"))
        .1
        .trim_start();
    let end = if after.starts_with("<array>") {
        after.find("</array>").unwrap()
    } else {
        after.find('\n').unwrap()
    };
    let mut values = Vec::new();
    let mut rest = &after[..end];
    while let Some(open) = rest.find('<') {
        let tag_end = rest[open..].find('>').unwrap() + open;
        let tag = &rest[open + 1..tag_end];
        if matches!(tag, "string" | "integer") {
            let close = rest[tag_end..].find("</").unwrap() + tag_end;
            values.push(rest[tag_end + 1..close].replace("&amp;", "&"));
            rest = &rest[close..];
        } else {
            rest = &rest[tag_end + 1..];
        }
    }
    values
}

#[test]
fn the_launchd_agent_runs_a_command_line_the_cli_accepts() {
    let plist = include_str!("../config/com.github.eice-proxy.plist");
    parses_as_serve(&plist_values(plist, "ProgramArguments"));
    assert_eq!(plist_values(plist, "Label"), ["com.github.eice-proxy"]);
    assert!(plist.contains("<key>KeepAlive</key>"));
    let exit: u64 = plist_values(plist, "ExitTimeOut")[0].parse().unwrap();
    assert!(exit > Config::default().timeouts.shutdown_grace, "{exit}");
    for log in ["StandardOutPath", "StandardErrorPath"] {
        assert!(plist_values(plist, log)[0].ends_with(".log"), "{log}");
    }
}

/// `git ARGS…` in the repository, or None where there is none (a packaged crate).
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

#[test]
fn version_names_the_commit_the_target_and_whether_demo_is_built_in() {
    let version = run(&["--version"]);
    let lines: Vec<&str> = version.lines().collect();
    assert_eq!(
        lines[0],
        concat!("eice-proxy ", env!("CARGO_PKG_VERSION")),
        "{version}"
    );
    let field = |name: &str| -> &str {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
            .unwrap_or_else(|| panic!("no {name} line in {version:?}"))
    };
    // The commit HEAD names, read by git; a tree without git says so.
    let commit = field("commit");
    let tracked = git(&["ls-files", "--error-unmatch", "Cargo.toml"]).is_some();
    match git(&["rev-parse", "HEAD"]).filter(|_| tracked) {
        Some(head) => assert!(commit.starts_with(&format!("{head} (git")), "{commit}"),
        None => assert!(
            commit == "unknown" || commit.contains("(packaged"),
            "{commit}"
        ),
    }
    // The triple this very test was built for (tests and binary share it).
    let target = field("target");
    let os = match std::env::consts::OS {
        "macos" => "apple-darwin",
        os => os,
    };
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains(os),
        "{target}"
    );
    let demo = if cfg!(feature = "demo") {
        "built in"
    } else {
        "not built in (cargo feature `demo` off)"
    };
    assert_eq!(field("demo"), demo);
    // `-V` stays one line: the version alone, for scripts.
    assert_eq!(
        run(&["-V"]).trim_end(),
        concat!("eice-proxy ", env!("CARGO_PKG_VERSION"))
    );
}

/// The quoted or braced words of `text` that look like target triples.
fn triples(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| {
            w.split('-').count() >= 3
                && ["linux", "darwin", "windows"]
                    .iter()
                    .any(|os| w.contains(os))
                && ["x86_64", "aarch64"].iter().any(|arch| w.starts_with(arch))
        })
        .map(String::from)
        .collect()
}

#[test]
fn the_release_builds_every_target_that_deny_judges_and_the_packages_install() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |path: &str| std::fs::read_to_string(format!("{root}/{path}")).unwrap();
    let workflow = read(".github/workflows/release.yml");
    let built = triples(
        &workflow
            .lines()
            .filter(|l| l.trim_start().starts_with("- { target:"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(built.len(), 5, "{built:?}");
    let deny = read("deny.toml");
    let start = deny.find("targets = [").expect("deny.toml's targets");
    let end = start + deny[start..].find(']').unwrap();
    let judged = triples(&deny[start..end]);
    assert_eq!(judged, built, "deny.toml's [graph] targets");
    // Every archive the formula and the manifest install, and nothing else.
    let mut installed = triples(&read("packaging/homebrew/eice-proxy.rb"));
    installed.extend(triples(&read("packaging/scoop/eice-proxy.json")));
    assert_eq!(installed, built, "Homebrew and Scoop");
}
