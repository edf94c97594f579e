//! `eice-proxy completions SHELL` and `eice-proxy man`: generated from the
//! clap definition in [`crate::cli`], so they cannot drift from the real flags.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

/// Writes the completion script for `args.shell` to stdout.
pub(super) fn completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    to_stdout(&script).context("writing the completion script")
}

/// Writes the main man page, or a subcommand's, in roff to stdout.
pub(super) fn man(args: &ManArgs) -> anyhow::Result<()> {
    // Built as clap_mangen builds its pages: globals propagated, and each
    // subcommand named `eice-proxy-NAME`, the page the main one refers to.
    // The page documents the command line, not one build of it: the version
    // alone, without `--version`'s commit and target, so that the page packed
    // beside every platform's binary is the same one.
    let mut command = Cli::command()
        .disable_help_subcommand(true)
        .long_version(None);
    command.build();
    let page = match &args.subcommand {
        None => command,
        Some(name) => match command.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let names: Vec<&str> = command.get_subcommands().map(|s| s.get_name()).collect();
                bail!(
                    "no subcommand {name:?}; the subcommands are {}",
                    names.join(", ")
                );
            }
        },
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    to_stdout(&roff).context("writing the man page")
}

/// Writes `bytes` to stdout; a reader that stopped early (`| head`) is no error.
fn to_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}
