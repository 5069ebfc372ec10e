//! `calls`: the cost of the host around an adapter that does nothing. The
//! testing adapter (WIT 0.1.0) reports `ready` without touching Docker, so
//! what is measured is envhost itself.
//!
//! - Lifecycles per second: create, status and destroy through the HTTP API,
//!   from concurrent clients, for a fixed time.
//! - Per-call cost in-process: a fresh instance from the pre-instantiated
//!   component, its `init`, and one `get-status` call, as the service makes
//!   for every adapter call.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use envhost::adapters::{Compiler, GuestLimits, Registry, Runtime};
use envhost::config::{DEFAULT_CALL_TIMEOUT, DEFAULT_GUEST_MEMORY_BYTES};
use envhost::ids::{AdapterName, EnvironmentId};
use serde_json::{Value, json};

use crate::server::{Host, HostDir, host_binary, testing_adapter};
use crate::stats::Summary;

const CONFIG: &str = r#"
[server]
listen = "{listen}"

[state]
path = "state/envhost.db"
sync = "{sync}"

[adapters]
dir = "adapters"
default = "testing"

[leases]
default_ttl = "10m"
"#;

/// Settings of the figure.
pub(crate) struct Settings {
    /// Clients sending lifecycles at the same time.
    pub(crate) clients: usize,
    /// Measured time of the HTTP part, after a warm-up of one second.
    pub(crate) duration: Duration,
    /// Calls timed in-process.
    pub(crate) calls: usize,
}

/// Runs both parts and returns the figure as JSON.
pub(crate) async fn run(settings: Settings) -> Result<Value, String> {
    let adapter = testing_adapter()?;
    let lifecycles =
        lifecycles_per_second(&adapter, settings.clients, settings.duration, "full").await?;
    let lifecycles_normal =
        lifecycles_per_second(&adapter, settings.clients, settings.duration, "normal").await?;
    let per_call = per_call_cost(&adapter, settings.calls).await?;
    Ok(json!({
        "clients": settings.clients,
        "durationSeconds": settings.duration.as_secs_f64(),
        "lifecyclesPerSecond": lifecycles,
        "lifecyclesPerSecondSyncNormal": lifecycles_normal,
        "lifecyclesGoal": "at least 5000 per second",
        "perCall": {
            "medianUs": per_call.median_ms * 1000.0,
            "p90Us": per_call.p90_ms * 1000.0,
            "samples": per_call.samples,
        },
        "perCallGoal": "median under 20 us",
    }))
}

/// Lifecycles per second with the state store's `sync` setting `sync`.
async fn lifecycles_per_second(
    adapter: &[u8],
    clients: usize,
    duration: Duration,
    sync: &str,
) -> Result<f64, String> {
    let dir = HostDir::new(&CONFIG.replace("{sync}", sync))?;
    dir.add_adapter("testing", adapter)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .map_err(|err| format!("failed to build the HTTP client: {err}"))?;
    let host = Host::start(&dir, &host_binary()?, &client).await?;
    let url = format!("{}/v1/environments", host.base_url());

    let counting = Arc::new(AtomicBool::new(false));
    let stopping = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (client, url) = (client.clone(), url.clone());
        let (counting, stopping, completed) = (
            Arc::clone(&counting),
            Arc::clone(&stopping),
            Arc::clone(&completed),
        );
        tasks.push(tokio::spawn(async move {
            while !stopping.load(Ordering::Relaxed) {
                lifecycle(&client, &url).await?;
                if counting.load(Ordering::Relaxed) {
                    completed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<(), String>(())
        }));
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    let count = completed.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stopping.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await
            .map_err(|err| format!("a client task failed: {err}"))??;
    }
    drop(host);
    Ok(count as f64 / elapsed.as_secs_f64())
}

/// Creates an environment, reads its status and destroys it.
async fn lifecycle(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let created: Value = client
        .post(url)
        .json(&json!({}))
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .map_err(|err| format!("create failed: {err}"))?
        .json()
        .await
        .map_err(|err| format!("create returned no JSON: {err}"))?;
    let id = created["environmentId"]
        .as_str()
        .ok_or_else(|| format!("create returned no environmentId: {created}"))?;
    let environment = format!("{url}/{id}");
    client
        .get(&environment)
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .map_err(|err| format!("status of `{id}` failed: {err}"))?;
    client
        .delete(&environment)
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .map_err(|err| format!("destroy of `{id}` failed: {err}"))?;
    Ok(())
}

async fn per_call_cost(adapter: &[u8], calls: usize) -> Result<Summary, String> {
    let dir = tempfile::tempdir().map_err(|err| format!("failed to create a folder: {err}"))?;
    std::fs::write(dir.path().join("testing.wasm"), adapter)
        .map_err(|err| format!("failed to write the adapter: {err}"))?;
    // The limits of `envhost serve` without a `[limits]` section.
    let limits = GuestLimits {
        memory_bytes: DEFAULT_GUEST_MEMORY_BYTES,
        call_timeout: DEFAULT_CALL_TIMEOUT,
        compiler: Compiler::default(),
    };
    let runtime = Runtime::new(limits, None).map_err(|err| format!("{err:#}"))?;
    let registry = Registry::load_dir(&runtime, dir.path(), &BTreeMap::new())
        .await
        .map_err(|err| format!("failed to load the testing adapter: {err}"))?;
    let name = AdapterName::parse("testing").map_err(|err| err.to_string())?;
    let adapter = registry
        .get(&name)
        .ok_or("the testing adapter did not load")?;
    let id = EnvironmentId::mint();

    // Warm-up: the first calls fault in the pooled memory slots.
    for _ in 0..calls.min(200) {
        adapter
            .get_status(&id)
            .await
            .map_err(|err| err.to_string())?;
    }
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        adapter
            .get_status(&id)
            .await
            .map_err(|err| err.to_string())?;
        samples.push(started.elapsed());
    }
    Ok(Summary::of(&samples))
}
