//! Benchmark `leases`: many environments on the fake adapter whose leases all
//! end at one common deadline. It prints the host's CPU use while the leases
//! wait, the time a restart takes to recover the records, and the lag from
//! each lease's expiry to its environment reading `terminated`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::host::BenchHost;

/// Creates must be done this long before the common deadline, so that the
/// CPU sample and the restart fit before it.
const MIN_IDLE_BEFORE_DEADLINE: Duration = Duration::from_secs(12);

/// Pause after the last create before sampling CPU, so that the sample does
/// not include the tail of the create burst.
const SETTLE: Duration = Duration::from_secs(1);

/// Length of the CPU sample while the leases wait.
const CPU_SAMPLE: Duration = Duration::from_secs(5);

/// How long after the deadline the benchmark waits for every environment to
/// read `terminated`.
const COLLECTION_TIMEOUT: Duration = Duration::from_secs(300);

/// Interval between two polls of the terminated list.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Options of the benchmark.
pub(crate) struct Settings {
    /// Environments to create.
    count: usize,
    /// Creates in flight at once.
    concurrency: usize,
    /// Time from the start of the creates to the common lease deadline.
    expire_in: Duration,
}

impl Settings {
    /// Parses `--count N`, `--concurrency C` and `--expire-in SECONDS`.
    pub(crate) fn parse(args: &[String]) -> Result<Settings, String> {
        let mut settings = Settings {
            count: 10_000,
            concurrency: 16,
            expire_in: Duration::from_secs(60),
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| format!("missing value after `{flag}`"))?;
            let number: u64 = value
                .parse()
                .map_err(|err| format!("invalid value `{value}` of `{flag}`: {err}"))?;
            if number == 0 {
                return Err(format!(
                    "invalid value `{value}` of `{flag}`: must be at least 1"
                ));
            }
            match flag.as_str() {
                "--count" => settings.count = number as usize,
                "--concurrency" => settings.concurrency = number as usize,
                "--expire-in" => settings.expire_in = Duration::from_secs(number),
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        Ok(settings)
    }
}

/// Runs the benchmark and prints its figures on stdout.
pub(crate) async fn run(settings: Settings) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|err| format!("failed to build the HTTP client: {err}"))?;
    let mut host = BenchHost::start(&client).await?;
    println!(
        "leases: {} environments on the fake adapter, {} creates at a time",
        settings.count, settings.concurrency
    );

    let deadline = Utc::now() + to_chrono(settings.expire_in);
    let started = Instant::now();
    let expiries = create_all(&client, host.base_url(), &settings, deadline).await?;
    let create_time = started.elapsed();
    let earliest = expiries.iter().min().copied().unwrap_or(deadline);
    let latest = expiries.iter().max().copied().unwrap_or(deadline);
    println!(
        "  created:  {} in {:.1} s ({:.0}/s); lease expiries span {} ms, from {}",
        settings.count,
        create_time.as_secs_f64(),
        settings.count as f64 / create_time.as_secs_f64(),
        (latest - earliest).num_milliseconds(),
        earliest.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    let idle = (deadline - Utc::now()).to_std().unwrap_or_default();
    if idle < MIN_IDLE_BEFORE_DEADLINE {
        return Err(format!(
            "the creates ended {:.1} s before the common deadline, less than the {} s the \
             CPU sample and the restart need: raise --expire-in",
            idle.as_secs_f64(),
            MIN_IDLE_BEFORE_DEADLINE.as_secs()
        ));
    }

    tokio::time::sleep(SETTLE).await;
    let cpu_before = host.cpu_time()?;
    let sample_started = Instant::now();
    tokio::time::sleep(CPU_SAMPLE).await;
    let cpu_used = host.cpu_time()?.saturating_sub(cpu_before);
    let wall = sample_started.elapsed();
    println!(
        "  waiting:  host CPU {:.2}% of one core over {:.1} s ({} ms CPU) with {} leases pending",
        100.0 * cpu_used.as_secs_f64() / wall.as_secs_f64(),
        wall.as_secs_f64(),
        cpu_used.as_millis(),
        settings.count
    );

    let recovery = host.kill_and_restart(&client).await?;
    let live = list(&client, host.base_url(), "ready").await?.len();
    println!(
        "  restart:  SIGKILL, then {:.0} ms from process start to /healthz 200; {live} records \
         read `ready` afterwards (host pid {})",
        recovery.as_secs_f64() * 1000.0,
        host.pid()
    );
    if live != settings.count {
        return Err(format!(
            "{live} of {} environments read `ready` after the restart",
            settings.count
        ));
    }
    if Utc::now() >= earliest {
        return Err(
            "the restart ended after the first lease expired, so the lag below would include \
             it: raise --expire-in"
                .to_owned(),
        );
    }

    let until_expiry = (latest - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_expiry).await;
    let cpu_before = host.cpu_time()?;
    let collection_started = Instant::now();
    let terminated = wait_for_terminated(&client, host.base_url(), settings.count).await?;
    let cpu_used = host.cpu_time()?.saturating_sub(cpu_before);
    let wall = collection_started.elapsed();
    report_lag(&terminated, latest)?;
    println!(
        "  collecting: host CPU {:.0}% of one core over {:.1} s, including the list polls",
        100.0 * cpu_used.as_secs_f64() / wall.as_secs_f64(),
        wall.as_secs_f64()
    );
    Ok(())
}

/// Creates `settings.count` environments whose leases end at `deadline`, and
/// returns the `lease.expiresAt` of each.
async fn create_all(
    client: &reqwest::Client,
    base_url: &str,
    settings: &Settings,
    deadline: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..settings.concurrency {
        let client = client.clone();
        let url = format!("{base_url}/v1/environments");
        let next = Arc::clone(&next);
        let count = settings.count;
        workers.spawn(async move {
            let mut expiries = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                // Each request gets the time left until the common deadline,
                // so that every lease ends at the same moment.
                let ttl_ms = (deadline - Utc::now()).num_milliseconds();
                if ttl_ms < 1000 {
                    return Err(
                        "the creates reached the common deadline: raise --expire-in".to_owned()
                    );
                }
                let response = client
                    .post(&url)
                    .json(&json!({ "ttlMs": ttl_ms }))
                    .send()
                    .await
                    .map_err(|err| format!("create failed: {err}"))?;
                let status = response.status();
                let body: Value = response
                    .json()
                    .await
                    .map_err(|err| format!("failed to read a create response ({status}): {err}"))?;
                if !status.is_success() {
                    return Err(format!("create returned {status}: {body}"));
                }
                expiries.push(timestamp(&body["lease"]["expiresAt"])?);
            }
            Ok(expiries)
        });
    }

    let mut expiries = Vec::with_capacity(settings.count);
    while let Some(outcome) = workers.join_next().await {
        let worker = outcome.map_err(|err| format!("create worker failed: {err}"))?;
        expiries.extend(worker?);
    }
    Ok(expiries)
}

/// Polls the terminated list until it contains `count` environments, and returns
/// them.
async fn wait_for_terminated(
    client: &reqwest::Client,
    base_url: &str,
    count: usize,
) -> Result<Vec<Value>, String> {
    let give_up = Instant::now() + COLLECTION_TIMEOUT;
    loop {
        let terminated = list(client, base_url, "terminated").await?;
        if terminated.len() >= count {
            return Ok(terminated);
        }
        if Instant::now() >= give_up {
            return Err(format!(
                "{} of {count} environments read `terminated` {} s after their leases expired",
                terminated.len(),
                COLLECTION_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Prints the lag from lease expiry to `terminated` (the record's `updatedAt`).
fn report_lag(terminated: &[Value], latest_expiry: DateTime<Utc>) -> Result<(), String> {
    let mut lags_ms = Vec::with_capacity(terminated.len());
    let mut last_terminated = latest_expiry;
    for descriptor in terminated {
        if descriptor["reason"] != "lease-expired" {
            return Err(format!(
                "an environment ended for another reason: {descriptor}"
            ));
        }
        let expired = timestamp(&descriptor["lease"]["expiresAt"])?;
        let updated = timestamp(&descriptor["updatedAt"])?;
        lags_ms.push((updated - expired).num_milliseconds());
        last_terminated = last_terminated.max(updated);
    }
    lags_ms.sort_unstable();
    println!(
        "  expiry:   lag from lease expiry to `terminated`: p50 {} ms, p99 {} ms, max {} ms; \
         the last one {} ms after the latest expiry",
        percentile(&lags_ms, 50),
        percentile(&lags_ms, 99),
        lags_ms.last().copied().unwrap_or_default(),
        (last_terminated - latest_expiry).num_milliseconds()
    );
    Ok(())
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], percent: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank - 1]
}

async fn list(
    client: &reqwest::Client,
    base_url: &str,
    status: &str,
) -> Result<Vec<Value>, String> {
    let url = format!("{base_url}/v1/environments?status={status}");
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|err| format!("GET {url} failed: {err}"))?;
    let body: Value = response
        .json()
        .await
        .map_err(|err| format!("failed to read the response of GET {url}: {err}"))?;
    match body {
        Value::Array(items) => Ok(items),
        other => Err(format!("GET {url} returned no list: {other}")),
    }
}

fn timestamp(value: &Value) -> Result<DateTime<Utc>, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("expected an RFC 3339 timestamp, found {value}"))?;
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.to_utc())
        .map_err(|err| format!("invalid timestamp `{text}`: {err}"))
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
