//! `envhost-bench`: benchmarks that drive the built `envhost` binary through
//! its HTTP API and print figures. They are measurements, not pass/fail tests.
//!
//! ```text
//! envhost-bench leases [--count N] [--concurrency C] [--expire-in SECONDS]
//! ```
//!
//! The host binary is `ENVHOST_BIN`, else `<target>/release/envhost`; the fake
//! adapter is `ENVHOST_FAKE_ADAPTER`, else the one `scripts/build.sh` installs.

mod host;
mod leases;

use std::process::ExitCode;

const USAGE: &str =
    "usage: envhost-bench leases [--count N] [--concurrency C] [--expire-in SECONDS]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("leases") => match leases::Settings::parse(&args[1..]) {
            Ok(settings) => leases::run(settings).await,
            Err(err) => Err(format!("{err}\n{USAGE}")),
        },
        Some(other) => Err(format!("unknown benchmark `{other}`\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
