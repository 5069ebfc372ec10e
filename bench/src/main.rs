//! `envhost-bench`: figures of envhost measured against a baseline in the
//! same run. They are measurements, not pass/fail tests.
//!
//! ```text
//! envhost-bench docker [--rounds N]
//! envhost-bench calls [--clients N] [--seconds S] [--calls N]
//! envhost-bench startup [--starts N]
//! envhost-bench reload [--reloads N]
//! envhost-bench all [--out DIR]
//! envhost-bench leases [--count N] [--concurrency C] [--expire-in SECONDS]
//! ```
//!
//! Each figure prints its JSON on stdout; `all` runs every figure and writes
//! the report under `DIR` (default `bench/results`). The host binary is
//! `ENVHOST_BIN`, else `<target>/release/envhost`; the adapters are
//! `ENVHOST_DOCKER_ADAPTER` and `ENVHOST_TESTING_ADAPTER`, else the builds of
//! `scripts/build.sh`.

mod calls;
mod docker;
mod host;
mod leases;
mod reload;
mod report;
mod server;
mod startup;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

const USAGE: &str = "usage: envhost-bench docker [--rounds N] | calls [--clients N] [--seconds S] \
                     [--calls N] | startup [--starts N] | reload [--reloads N] | all [--out DIR] \
                     | leases [--count N] [--concurrency C] [--expire-in SECONDS]";

/// Options of every figure, with their defaults.
struct Options {
    rounds: usize,
    clients: usize,
    seconds: u64,
    calls: usize,
    starts: usize,
    reloads: usize,
    out: PathBuf,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            rounds: 30,
            clients: 16,
            seconds: 10,
            calls: 5000,
            starts: 10,
            reloads: 20,
            out: server::workspace_root().join("bench/results"),
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| format!("missing value after `{flag}`"))?;
            let count = || {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|count| *count > 0)
                    .ok_or_else(|| format!("invalid {flag} `{value}`: expected a positive integer"))
            };
            match flag.as_str() {
                "--rounds" => options.rounds = count()?,
                "--clients" => options.clients = count()?,
                "--seconds" => options.seconds = count()? as u64,
                "--calls" => options.calls = count()?,
                "--starts" => options.starts = count()?,
                "--reloads" => options.reloads = count()?,
                "--out" => options.out = PathBuf::from(value),
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        Ok(options)
    }

    fn calls(&self) -> calls::Settings {
        calls::Settings {
            clients: self.clients,
            duration: Duration::from_secs(self.seconds),
            calls: self.calls,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(figure) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    // The leases figure takes options of its own and prints its figures.
    let outcome = if figure == "leases" {
        match leases::Settings::parse(&args[1..]) {
            Ok(settings) => leases::run(settings).await,
            Err(err) => Err(format!("{err}\n{USAGE}")),
        }
    } else {
        match Options::parse(&args[1..]) {
            Ok(options) => run(figure, &options, &args).await,
            Err(err) => Err(format!("{err}\n{USAGE}")),
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(figure: &str, options: &Options, args: &[String]) -> Result<(), String> {
    let single = match figure {
        "docker" => docker::run(options.rounds).await?,
        "calls" => calls::run(options.calls()).await?,
        "startup" => startup::run(options.starts).await?,
        "reload" => reload::run(options.reloads).await?,
        "all" => return run_all(options, args).await,
        other => return Err(format!("unknown figure `{other}`\n{USAGE}")),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&single).unwrap_or_default()
    );
    Ok(())
}

async fn run_all(options: &Options, args: &[String]) -> Result<(), String> {
    let started_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    eprintln!("startup: {} starts", options.starts);
    let startup = startup::run(options.starts).await?;
    eprintln!(
        "calls: {} clients for {} s, {} in-process calls",
        options.clients, options.seconds, options.calls
    );
    let calls = calls::run(options.calls()).await?;
    eprintln!("docker: {} rounds", options.rounds);
    let docker = docker::run(options.rounds).await?;
    eprintln!("reload: {} reloads and cache-hit loads", options.reloads);
    let reload = reload::run(options.reloads).await?;

    let report = json!({
        "startedAt": started_at,
        "command": format!("envhost-bench {}", args.join(" ")),
        "machine": machine(),
        "figures": {"docker": docker, "calls": calls, "startup": startup, "reload": reload},
    });
    println!("{}", report::markdown(&report));
    report::write(&options.out, &report)
}

/// Describes the machine: CPU model and count, memory and the 1-minute load
/// average, from `/proc`.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / (1024.0 * 1024.0));
    // Other work on the machine skews every figure: record how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("unknown");
    format!("{cpus} × {model}, {memory_gib:.1} GiB, load average {load} at start")
}
