//! The `eice-proxy` binary: parse the command line, set up logging, run.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use eice_proxy::cli::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

/// Libraries that log canonical requests, signed headers or credential
/// details at debug and trace. They stay at `info` whatever `RUST_LOG` says,
/// so that no log level can leak a signature, a session token or a
/// presigned URL (those last are never logged by eice-proxy itself).
const SECRET_BEARING: [&str; 11] = [
    "aws_sigv4=info",
    "aws_smithy_runtime=info",
    "aws_smithy_runtime_api=info",
    "aws_smithy_http_client=info",
    "aws_runtime=info",
    "aws_config=info",
    "aws_credential_types=info",
    "hyper=info",
    "hyper_util=info",
    "h2=info",
    // The SOCKS5 username and password, as byte lists, at debug.
    "fast_socks5=info",
];

fn main() -> ExitCode {
    // Beside everything else start-up does (see `seed_random`).
    std::thread::spawn(eice_proxy::net::seed_random);
    // The system's CA roots, read beside start-up and needed only when the
    // first server certificate arrives (`net::roots`).
    eice_proxy::net::warm_roots();
    let cli = Cli::parse();
    // `serve` and `forward` log each connection; the others stay quiet, since
    // `connect` shares the terminal with ssh.
    let long_running = match cli.command {
        Command::Serve(_) | Command::Forward(_) => true,
        #[cfg(feature = "demo")]
        Command::Demo(_) => true,
        _ => false,
    };
    let default = if long_running { "info" } else { "warn" };
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    for directive in SECRET_BEARING {
        filter = filter.add_directive(directive.parse().expect("a valid directive"));
    }
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // Each line carries the current span's fields (a connection's id,
        // client and target) and the list of spans it is in.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("eice-proxy: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(eice_proxy::commands::run(cli));
    // Do not wait for a blocking stdin read that may never return: the work is done.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("eice-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}
