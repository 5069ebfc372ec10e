//! The conformance kit behind `envhost conformance FILE.wasm`: loads an
//! adapter in a test host and checks that it honours the provider contract,
//! one named rule at a time.
//!
//! The rules call the adapter directly, below the environments service, so
//! that a failure points at the adapter and not at the host's own
//! bookkeeping. When a Docker engine is reachable the adapter gets the real
//! container API under the default policy and a fresh host id. Every
//! container and snapshot image the run created is removed by label at the
//! end, even when the adapter's own `destroy` or `delete-snapshot` is broken.

mod report;
mod rules;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::adapters::{CompileSource, Compiler, GuestLimits, Runtime};
use crate::container::{ContainerHost, Policy};
use crate::ids::HostId;

pub use report::render;
pub use rules::RULES;

/// Limits of adapter calls during a run: the host's defaults.
const LIMITS: GuestLimits = GuestLimits {
    memory_bytes: 256 * 1024 * 1024,
    call_timeout: Duration::from_secs(30),
    compiler: Compiler::Winch,
};

/// Settings of a conformance run.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Options passed to the adapter's `init`, as the host's
    /// `[adapters.<name>.options]` table would be. Default: `{}`.
    pub options: serde_json::Value,
    /// Docker socket path or `unix://` URL. Default: `DOCKER_HOST`, then
    /// `/var/run/docker.sock`.
    pub docker_host: Option<String>,
    /// Folder of compiled adapters, created when missing, so that a second
    /// run of the same file skips compiling. Default: no cache.
    pub cache_dir: Option<PathBuf>,
}

/// Outcome of one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The adapter honours the rule; the text says what was observed.
    Pass(String),
    /// The adapter breaks the rule; the text says how.
    Fail(String),
    /// The rule does not apply, for example to an interface the adapter
    /// does not export; the text says why.
    Skip(String),
}

/// One checked rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleResult {
    /// Stable rule name, such as `destroy-is-idempotent`.
    pub rule: &'static str,
    /// What was observed.
    pub outcome: Outcome,
}

/// Findings of a conformance run.
#[derive(Clone, Debug)]
pub struct Report {
    /// Adapter name, from the file stem.
    pub adapter: String,
    /// Version the adapter reports, once it loaded.
    pub version: Option<String>,
    /// WIT version the component targets, once it loaded.
    pub wit_version: Option<String>,
    /// Names of the optional interfaces the component exports.
    pub capabilities: Vec<&'static str>,
    /// Whether the run had a Docker engine, or why not.
    pub docker: Result<(), String>,
    /// Time to load the adapter: compile (or read the cached artifact),
    /// link and the `init` probe.
    pub load_time: Option<Duration>,
    /// Whether the component was compiled or read from the cache, once it
    /// loaded.
    pub compile_source: Option<CompileSource>,
    /// One entry per rule, in the order of [`RULES`].
    pub results: Vec<RuleResult>,
}

impl Report {
    /// Whether no rule failed.
    pub fn passed(&self) -> bool {
        !self
            .results
            .iter()
            .any(|result| matches!(result.outcome, Outcome::Fail(_)))
    }

    /// Returns the outcome of `rule`, if it was checked.
    pub fn outcome(&self, rule: &str) -> Option<&Outcome> {
        self.results
            .iter()
            .find(|result| result.rule == rule)
            .map(|result| &result.outcome)
    }
}

/// Loads `file` and checks every rule against it.
///
/// A file that does not load gives a report whose `loads` rule failed and
/// whose other rules are skipped.
///
/// # Errors
///
/// Fails only when the test host itself can not be built (engine, linker or
/// cache folder); an adapter's faults are rule failures in the report.
pub async fn run(file: &Path, settings: &Settings) -> anyhow::Result<Report> {
    let adapter_name = crate::adapters::adapter_name_for(file)
        .map(|name| name.to_string())
        .unwrap_or_else(|_| file.display().to_string());

    let containers = match ContainerHost::connect(
        settings.docker_host.as_deref(),
        Policy::default(),
        HostId::mint(),
    )
    .await
    {
        Ok(containers) => Ok(containers),
        Err(err) => Err(err.to_string()),
    };
    let container_host = containers.as_ref().ok().cloned();
    let runtime = match &settings.cache_dir {
        Some(dir) => Runtime::with_artifact_cache(LIMITS, container_host, dir)?,
        None => Runtime::new(LIMITS, container_host)?,
    };

    let mut report = Report {
        adapter: adapter_name,
        version: None,
        wit_version: None,
        capabilities: Vec::new(),
        docker: containers.as_ref().map(|_| ()).map_err(Clone::clone),
        load_time: None,
        compile_source: None,
        results: Vec::new(),
    };

    let adapter = match runtime.load_file(file, &settings.options).await {
        Ok(adapter) => adapter,
        Err(err) => {
            report.results = rules::not_loaded(&err.to_string());
            return Ok(report);
        }
    };
    report.version = Some(adapter.version().to_owned());
    report.wit_version = Some(adapter.wit_version().to_owned());
    report.load_time = Some(adapter.load_time());
    report.compile_source = Some(adapter.compile_source());
    report.capabilities = capability_names(adapter.capabilities());

    report.results = rules::check(&adapter, containers.as_ref().ok()).await;
    Ok(report)
}

fn capability_names(capabilities: &crate::model::Capabilities) -> Vec<&'static str> {
    let mut names = Vec::new();
    if capabilities.supports_two_phase {
        names.push("two-phase");
    }
    if capabilities.supports_lease_hooks {
        names.push("lease-hooks");
    }
    if capabilities.supports_logs {
        names.push("logs");
    }
    if capabilities.supports_exec_probe {
        names.push("exec-probe");
    }
    if capabilities.supports_snapshots {
        names.push("snapshots");
    }
    names
}
