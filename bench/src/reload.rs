//! `reload`: time from the rename of a new Docker adapter file into the
//! adapters folder of a running host to the first request that reports the
//! new version, and the load time of an unchanged file whose compiled
//! artifact is cached.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use envhost::adapters::{
    Adapter, CompileSource, Compiler, GuestLimits, LoadOutcome, LoadPhases, Registry, Runtime,
};
use envhost::config::{DEFAULT_CALL_TIMEOUT, DEFAULT_GUEST_MEMORY_BYTES};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::server::{Host, HostDir, host_binary, locate};
use crate::startup::variant;
use crate::stats::Summary;

/// How long one reload may take before the figure gives up.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// Interval between two polls of the adapter's digest; it bounds how much
/// the poll adds to each sample.
const POLL: Duration = Duration::from_millis(1);

const CONFIG: &str = r#"
[server]
listen = "{listen}"

[state]
path = "state/envhost.db"

[adapters]
dir = "adapters"
default = "docker"
"#;

/// Runs `rounds` reloads of the Docker adapter on a running host and
/// `rounds` cache-hit loads in-process, and returns the figure as JSON.
pub(crate) async fn run(rounds: usize) -> Result<Value, String> {
    let path = locate(
        "ENVHOST_DOCKER_ADAPTER",
        "wasm32-wasip2/guest/envhost_docker_adapter.wasm",
        "the Docker adapter",
    )?;
    let adapter =
        fs::read(&path).map_err(|err| format!("failed to read `{}`: {err}", path.display()))?;
    let reload = reload_on_host(&adapter, rounds).await?;
    let cache_hit = cache_hit_loads(&adapter, rounds).await?;
    Ok(json!({
        "rounds": rounds,
        "adapterBytes": adapter.len(),
        "renameToServed": reload.to_json(),
        "cacheHitLoad": cache_hit,
        "cacheHitGoal": "under 5 ms",
    }))
}

/// Deploys `rounds` variants of the adapter, each with its own digest so
/// that every one is compiled, and times each from the rename to the first
/// `GET /v1/adapters/docker` that reports its digest.
async fn reload_on_host(adapter: &[u8], rounds: usize) -> Result<Summary, String> {
    let dir = HostDir::new(CONFIG)?;
    dir.add_adapter("docker", adapter)?;
    let client = reqwest::Client::new();
    let host = Host::start(&dir, &host_binary()?, &client).await?;
    let url = format!("{}/v1/adapters/docker", host.base_url());
    let target = dir.path().join("adapters").join("docker.wasm");

    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // The variant numbers start past those of `startup`, so that no
        // variant's artifact is in the cache already.
        let bytes = variant(adapter, 1000 + round as u32);
        let expected = format!("sha256:{:x}", Sha256::digest(&bytes));
        // Written beside the folder and renamed in, as a deployment would,
        // so that the watcher never sees a half-written file.
        let staged = dir.path().join("docker.wasm.staged");
        fs::write(&staged, &bytes)
            .map_err(|err| format!("failed to write `{}`: {err}", staged.display()))?;

        let started = Instant::now();
        fs::rename(&staged, &target)
            .map_err(|err| format!("failed to rename into `{}`: {err}", target.display()))?;
        wait_for_digest(&client, &url, &expected, started).await?;
        samples.push(started.elapsed());
    }
    Ok(Summary::of(&samples))
}

async fn wait_for_digest(
    client: &reqwest::Client,
    url: &str,
    expected: &str,
    started: Instant,
) -> Result<(), String> {
    loop {
        let response = client
            .get(url)
            .send()
            .await
            .map_err(|err| format!("GET {url} failed: {err}"))?;
        let body: Value = response
            .json()
            .await
            .map_err(|err| format!("GET {url} returned invalid JSON: {err}"))?;
        if body["digest"] == expected {
            return Ok(());
        }
        if started.elapsed() > RELOAD_TIMEOUT {
            return Err(format!(
                "the host did not load digest {expected} within {RELOAD_TIMEOUT:?}; last \
                 response: {body}"
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Loads the unchanged adapter file `rounds` times from a filled artifact
/// cache, in-process, and returns the total and each phase. Each load goes
/// through a fresh [`Registry`], as a host start-up or a reload does, so the
/// total includes reading the file and the registry's own digest of it.
async fn cache_hit_loads(adapter: &[u8], rounds: usize) -> Result<Value, String> {
    let dir = tempfile::tempdir().map_err(|err| format!("failed to create a folder: {err}"))?;
    let file = dir.path().join("docker.wasm");
    fs::write(&file, adapter).map_err(|err| format!("failed to write the adapter: {err}"))?;
    let cache = dir.path().join("cache");
    // The limits of `envhost serve` without a `[limits]` section.
    let limits = GuestLimits {
        memory_bytes: DEFAULT_GUEST_MEMORY_BYTES,
        call_timeout: DEFAULT_CALL_TIMEOUT,
        compiler: Compiler::default(),
    };
    let runtime =
        Runtime::with_artifact_cache(limits, None, &cache).map_err(|err| format!("{err:#}"))?;

    let (first, _) = load(&runtime, &file).await?;
    if first.compile_source() != CompileSource::Compiled {
        return Err("the first load found an artifact in a fresh cache".to_owned());
    }
    let mut totals = Vec::with_capacity(rounds);
    let mut phases = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let (adapter, total) = load(&runtime, &file).await?;
        if adapter.compile_source() != CompileSource::Cache {
            return Err("a load of an unchanged file missed the artifact cache".to_owned());
        }
        totals.push(total);
        phases.push(adapter.load_phases());
    }

    let phase = |pick: fn(&LoadPhases) -> Duration| {
        let samples: Vec<Duration> = phases.iter().map(pick).collect();
        Summary::of(&samples).to_json()
    };
    Ok(json!({
        "total": Summary::of(&totals).to_json(),
        "digest": phase(|phases| phases.digest),
        "deserialize": phase(|phases| phases.compile),
        "link": phase(|phases| phases.link),
        "probe": phase(|phases| phases.probe),
    }))
}

/// Loads `file` through a fresh registry and returns the adapter and the
/// wall time of the load.
async fn load(runtime: &Arc<Runtime>, file: &Path) -> Result<(Arc<Adapter>, Duration), String> {
    let registry = Registry::empty();
    let started = Instant::now();
    let outcome = registry.load_file(runtime, file, &BTreeMap::new()).await;
    let elapsed = started.elapsed();
    match outcome {
        LoadOutcome::Loaded(adapter) => Ok((adapter, elapsed)),
        LoadOutcome::Unchanged => Err("a fresh registry reported the file unchanged".to_owned()),
        LoadOutcome::Failed(err) => Err(format!("failed to load the Docker adapter: {err}")),
    }
}
