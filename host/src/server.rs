//! `envhost serve`: loads the configuration, opens the state store, connects
//! to Docker, loads the adapters and serves the HTTP API until SIGTERM or
//! ctrl-c.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::adapters::{AdapterWatcher, GrantTable, GuestLimits, Registry, Runtime};
use crate::api::{self, ApiOptions};
use crate::config::Config;
use crate::container::{ContainerHost, Policy};
use crate::environments::{EnvironmentService, ServiceSettings};
use crate::leases::{self, LeaseSchedule};
use crate::state::{Durability, SqliteStore, Store};

/// Containers of this host that no live record owns are removed at start-up
/// only when older than this, so that a second process started by mistake on
/// the same state file can not remove containers the first is creating.
const ORPHAN_GRACE: Duration = Duration::from_secs(60);

/// Time requests in flight get to finish after SIGTERM or ctrl-c.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);

/// Runs the host with the configuration file at `config_path`.
///
/// # Errors
///
/// Fails when the configuration is invalid, the state store or the Docker
/// engine can not be opened, the adapters directory can not be read, or the
/// listen address can not be bound.
pub async fn serve(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;

    let token = read_token(&config)?;
    api::require_token_for(config.server.listen, token.as_deref())
        .map_err(|message| anyhow::anyhow!(message))?;

    let _state_lock = lock_state(&config.state.path)?;
    let store = open_store(&config.state.path, config.state.sync).await?;
    let host_id = store
        .host_id()
        .context("failed to read the host id from the state store")?;

    for root in &config.policy.workspace_roots {
        std::fs::create_dir_all(root)
            .with_context(|| format!("failed to create workspace root `{}`", root.display()))?;
    }
    let policy = Policy {
        allowed_images: config.policy.allowed_images.clone(),
        allow_pulls: config.policy.allow_pulls,
        workspace_roots: config.policy.workspace_roots.clone(),
        publish_address: config.policy.publish_address,
        max_nano_cpus: config.policy.max_cpu_nanos,
        max_memory_bytes: config.policy.max_memory_bytes,
        pids_limit: config.policy.pids_limit,
    };
    let containers = ContainerHost::connect(config.docker.host.as_deref(), policy, host_id.clone())
        .await
        .context("failed to connect to the Docker engine")?;

    let limits = GuestLimits {
        memory_bytes: config.limits.guest_memory_bytes,
        call_timeout: config.limits.call_timeout,
        compiler: config.adapters.compiler,
    };
    let runtime =
        Runtime::with_artifact_cache(limits, Some(containers.clone()), &config.adapters.cache_dir)?;
    runtime.set_grants(GrantTable::new(
        config
            .adapters
            .adapters
            .iter()
            .map(|(name, adapter)| (name.clone(), adapter.grants.clone()))
            .collect(),
    ));
    let options: BTreeMap<String, serde_json::Value> = config
        .adapters
        .adapters
        .iter()
        .map(|(name, adapter)| {
            (
                name.to_string(),
                serde_json::Value::Object(adapter.options.clone()),
            )
        })
        .collect();
    let dir = &config.adapters.dir;
    let registry = Registry::load_dir(&runtime, dir, &options)
        .await
        .with_context(|| format!("failed to read adapters directory `{}`", dir.display()))?;
    if let Some(default) = &config.adapters.default
        && registry.get(default).is_none()
    {
        tracing::warn!(adapter = %default, dir = %dir.display(), "the default adapter is not loaded");
    }
    // Files that failed to load are listed too, without a loaded version.
    let loaded = registry
        .summaries()
        .iter()
        .filter(|summary| summary.loaded_at.is_some())
        .count();
    let registry = Arc::new(registry);
    // Kept alive until the server stops; dropping it stops the watching.
    let _watcher = if config.adapters.reload {
        let watcher =
            AdapterWatcher::start(Arc::clone(&runtime), Arc::clone(&registry), dir, options)
                .context(
                    "failed to start hot reload (set `adapters.reload = false` to run without it)",
                )?;
        Some(watcher)
    } else {
        None
    };

    let settings = ServiceSettings {
        default_adapter: config.adapters.default.clone(),
        default_ttl: config.leases.default_ttl,
        max_ttl: config.leases.max_ttl,
        tombstone_retention: config.leases.tombstone_retention,
    };
    let schedule = Arc::new(LeaseSchedule::new());
    let service = Arc::new(EnvironmentService::new(
        store,
        registry,
        containers,
        settings,
        Arc::clone(&schedule),
    ));

    // Recovery runs before the API accepts requests, so that no caller sees
    // a record that the engine has already contradicted.
    service.recover(ORPHAN_GRACE).await;
    tokio::spawn(leases::run_collector(Arc::clone(&service), schedule));
    tokio::spawn(leases::run_tombstone_purge(Arc::clone(&service)));

    let router = api::router(
        service,
        ApiOptions {
            max_body_bytes: config.server.max_body_bytes,
            token,
        },
    );

    let listen = config.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("failed to listen on `{listen}`"))?;
    tracing::info!(
        %listen,
        host_id = %host_id,
        adapters = loaded,
        state_sync = config.state.sync.as_str(),
        compiler = config.adapters.compiler.as_str(),
        "envhost serving"
    );
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stopping_tx.send(());
    });
    let server = tokio::spawn(async move { server.await });

    // Requests in flight get SHUTDOWN_DEADLINE to finish after the signal;
    // environments keep running either way, and their records are already
    // in the store.
    tokio::pin!(server);
    tokio::select! {
        outcome = &mut server => {
            outcome.context("HTTP server task failed")?.context("HTTP server failed")?;
        }
        Ok(()) = stopping_rx => {
            match tokio::time::timeout(SHUTDOWN_DEADLINE, &mut server).await {
                Ok(outcome) => {
                    outcome.context("HTTP server task failed")?.context("HTTP server failed")?;
                }
                Err(_) => tracing::warn!(
                    deadline_secs = SHUTDOWN_DEADLINE.as_secs(),
                    "requests still in flight at the shutdown deadline; stopping anyway"
                ),
            }
        }
    }
    tracing::info!("envhost stopped");
    Ok(())
}

fn read_token(config: &Config) -> anyhow::Result<Option<String>> {
    let Some(path) = &config.server.token_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read token file `{}`", path.display()))?;
    let token = text.trim().to_owned();
    anyhow::ensure!(
        !token.is_empty(),
        "token file `{}` is empty",
        path.display()
    );
    Ok(Some(token))
}

/// Takes an exclusive lock next to the state database, held until the
/// process exits. Two hosts on one database would share a host id and
/// collect each other's leases and containers, so the second one must not
/// start.
fn lock_state(database: &Path) -> anyhow::Result<std::fs::File> {
    let mut lock_path = database.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    if let Some(parent) = lock_path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create state directory `{}`", parent.display()))?;
    }
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("failed to open state lock `{}`", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "state database `{}` is in use by another envhost process (lock `{}` is held): \
             stop it, or give this host its own `[state] path`",
            database.display(),
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("failed to lock `{}`", lock_path.display()))
        }
    }
}

async fn open_store(path: &Path, durability: Durability) -> anyhow::Result<Arc<dyn Store>> {
    let path = path.to_owned();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open_with(&path, durability))
        .await
        .context("state store task failed")??;
    Ok(Arc::new(store))
}

/// Resolves on SIGTERM or ctrl-c. Environments keep running: their records
/// and leases are in the store.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "failed to listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "failed to listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
