//! The `envhost` binary: parses the command line, sets up logging, then runs
//! the host or a client subcommand.

use std::process::ExitCode;

use clap::Parser;
use envhost::cli::{self, Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

/// Environment variable with the log filter, in `tracing_subscriber`'s
/// `EnvFilter` syntax, such as `info` or `envhost=debug`.
const LOG_ENV: &str = "ENVHOST_LOG";

#[tokio::main]
async fn main() -> ExitCode {
    // Exits with status 2 on usage errors, and 0 after `--help`.
    let cli = Cli::parse();
    init_tracing(cli.log_format);

    match cli.command {
        Command::Serve { config } => match envhost::server::serve(&config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(config = %config.display(), error = format!("{err:#}"), "host stopped");
                ExitCode::FAILURE
            }
        },
        Command::Check { file, options } => cli::check(&file, &options).await,
        Command::Conformance {
            file,
            options,
            cache_dir,
            no_cache,
        } => {
            let cache = if no_cache {
                cli::ConformanceCache::Disabled
            } else {
                cache_dir.map_or(cli::ConformanceCache::Default, cli::ConformanceCache::Dir)
            };
            cli::conformance(&file, options.as_deref(), cache).await
        }
        Command::Client(command) => match cli::run(cli.client, command).await {
            Ok(code) => ExitCode::from(code),
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Sends logs to stderr, so that a client's stdout carries only its output.
fn init_tracing(format: LogFormat) {
    let filter = match EnvFilter::try_from_env(LOG_ENV) {
        Ok(filter) => filter,
        Err(err) => {
            // An unset variable is the normal case. A malformed one gets a
            // warning, because the operator requested some other filter.
            if std::env::var_os(LOG_ENV).is_some() {
                eprintln!("warning: ignoring invalid {LOG_ENV}: {err}; logging at info");
            }
            EnvFilter::new("info")
        }
    };

    // Colour codes only help a terminal; in a log file they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
