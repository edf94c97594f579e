//! What ships beside the binary, checked against the real clap definition so
//! it cannot drift from the CLI: shell completions and the man page.

use std::process::Command;

use clap::CommandFactory;
use eice_proxy::cli::Cli;

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
    let serve = run(&["man", "serve"]).replace(r"\-", "-");
    assert!(
        serve.lines().any(|l| l.starts_with(".TH eice-proxy-serve")),
        "{serve}"
    );
    assert!(serve.contains("--metrics-listen"), "{serve}");
}
