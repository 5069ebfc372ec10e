//! Prometheus metrics of the host, served at `GET /metrics` in the
//! OpenMetrics text format.
//!
//! Counters and histograms live in one process-wide registry, so that the
//! service, the adapter runtime, the container layer and the lease collector
//! record with a one-line call and need no handle passed down to them. The
//! number of environments by adapter and status is not counted as it changes:
//! [`render`] reads it from the records at every scrape, so it can never
//! drift from the state store.

use std::fmt::Write as _;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::model::Descriptor;

/// Content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Operations of the contract counted by adapter and outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Destroy,
    Renew,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Destroy => "destroy",
            Operation::Renew => "renew",
        }
    }
}

/// Outcome label of a successful operation; failures carry the problem
/// `code` of their error (`denied`, `unavailable`, ...).
pub const OK: &str = "ok";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
    adapter: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    adapter: String,
    function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdapterOutcomeLabels {
    adapter: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ContainerLabels {
    operation: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnvironmentLabels {
    adapter: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExpiryLabels {
    outcome: String,
}

/// Buckets of adapter call latency: 50 µs to about 105 s, doubling, because
/// a call to the test guest takes microseconds and a Docker create seconds.
fn call_latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 22))
}

/// Buckets of lease collection lag: 1 ms to about 65 s, doubling.
fn collection_lag_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

struct Metrics {
    registry: Registry,
    operations: Family<OperationLabels, Counter>,
    call_latency: Family<CallLabels, Histogram, fn() -> Histogram>,
    traps: Family<CallLabels, Counter>,
    deadline_hits: Family<CallLabels, Counter>,
    adapter_loads: Family<AdapterOutcomeLabels, Counter>,
    container_calls: Family<ContainerLabels, Counter>,
    container_denials: Family<RuleLabels, Counter>,
    lease_expiries: Family<ExpiryLabels, Counter>,
    collection_lag: Histogram,
    state_writes: Counter,
    state_commits: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("envhost");
        let operations = Family::default();
        registry.register(
            "operations",
            "Creates, destroys and lease renewals by adapter and outcome (`ok` or the problem code)",
            operations.clone(),
        );
        let call_latency = Family::new_with_constructor(call_latency_histogram as fn() -> _);
        registry.register(
            "adapter_call_duration_seconds",
            "Time spent in guest functions, by function; `init` runs before every call",
            call_latency.clone(),
        );
        let traps = Family::default();
        registry.register("adapter_traps", "Adapter calls that trapped", traps.clone());
        let deadline_hits = Family::default();
        registry.register(
            "adapter_deadline_hits",
            "Adapter calls stopped at the call deadline",
            deadline_hits.clone(),
        );
        let adapter_loads = Family::default();
        registry.register(
            "adapter_loads",
            "Adapter file loads and reloads by outcome (`loaded` or `failed`), start-up included",
            adapter_loads.clone(),
        );
        let container_calls = Family::default();
        registry.register(
            "container_calls",
            "Container API calls of adapters by operation and outcome (`ok`, `denied`, `error`)",
            container_calls.clone(),
        );
        let container_denials = Family::default();
        registry.register(
            "container_denials",
            "Container API calls rejected by policy, by rule",
            container_denials.clone(),
        );
        let lease_expiries = Family::default();
        registry.register(
            "lease_expiries",
            "Environments collected at the end of their lease, by how (`adapter` or `by_label`)",
            lease_expiries.clone(),
        );
        let collection_lag = collection_lag_histogram();
        registry.register(
            "lease_collection_lag_seconds",
            "Time from a lease's expiry to the start of its collection",
            collection_lag.clone(),
        );
        let state_writes = Counter::default();
        registry.register(
            "state_writes",
            "Record inserts, updates and deletes acknowledged by the state store",
            state_writes.clone(),
        );
        let state_commits = Counter::default();
        registry.register(
            "state_commits",
            "Durable commits of the state store; writes that arrive together share one",
            state_commits.clone(),
        );
        Self {
            registry,
            operations,
            call_latency,
            traps,
            deadline_hits,
            adapter_loads,
            container_calls,
            container_denials,
            lease_expiries,
            collection_lag,
            state_writes,
            state_commits,
        }
    }
}

/// Counts one create, destroy or renewal on `adapter` that ended with
/// `outcome`: [`OK`] or a problem code.
pub fn record_operation(operation: Operation, adapter: &str, outcome: &str) {
    let labels = OperationLabels {
        operation: operation.as_str().to_owned(),
        adapter: adapter.to_owned(),
        outcome: outcome.to_owned(),
    };
    METRICS.operations.get_or_create(&labels).inc();
}

/// Records the latency of one adapter call, whatever its outcome.
pub fn record_adapter_call(adapter: &str, function: &str, elapsed: Duration) {
    METRICS
        .call_latency
        .get_or_create(&call_labels(adapter, function))
        .observe(elapsed.as_secs_f64());
}

/// Counts an adapter call that trapped.
pub fn record_trap(adapter: &str, function: &str) {
    METRICS
        .traps
        .get_or_create(&call_labels(adapter, function))
        .inc();
}

/// Counts an adapter call stopped at the call deadline.
pub fn record_deadline_hit(adapter: &str, function: &str) {
    METRICS
        .deadline_hits
        .get_or_create(&call_labels(adapter, function))
        .inc();
}

/// Counts a load of an adapter file: `loaded` is whether it now serves.
pub fn record_adapter_load(adapter: &str, loaded: bool) {
    let labels = AdapterOutcomeLabels {
        adapter: adapter.to_owned(),
        outcome: if loaded { "loaded" } else { "failed" }.to_owned(),
    };
    METRICS.adapter_loads.get_or_create(&labels).inc();
}

/// Counts a container API call; `denied_by` names the policy rule that
/// rejected it, if one did.
pub fn record_container_call(operation: &str, outcome: &str, denied_by: Option<&str>) {
    let labels = ContainerLabels {
        operation: operation.to_owned(),
        outcome: outcome.to_owned(),
    };
    METRICS.container_calls.get_or_create(&labels).inc();
    if let Some(rule) = denied_by {
        let labels = RuleLabels {
            rule: rule.to_owned(),
        };
        METRICS.container_denials.get_or_create(&labels).inc();
    }
}

/// Counts a collected environment and how late its collection started.
pub fn record_lease_expiry(by_label: bool, lag: Duration) {
    let labels = ExpiryLabels {
        outcome: if by_label { "by_label" } else { "adapter" }.to_owned(),
    };
    METRICS.lease_expiries.get_or_create(&labels).inc();
    METRICS.collection_lag.observe(lag.as_secs_f64());
}

/// Counts one durable commit of the state store holding `writes` writes.
pub fn record_state_commit(writes: usize) {
    METRICS.state_commits.inc();
    METRICS.state_writes.inc_by(writes as u64);
}

fn call_labels(adapter: &str, function: &str) -> CallLabels {
    CallLabels {
        adapter: adapter.to_owned(),
        function: function.to_owned(),
    }
}

/// Renders every metric, with `environments` as the source of the gauge of
/// environments by adapter and status.
pub fn render(environments: &[Descriptor]) -> String {
    let gauge = Family::<EnvironmentLabels, Gauge>::default();
    for descriptor in environments {
        let labels = EnvironmentLabels {
            adapter: descriptor.provider.clone(),
            status: descriptor.status.to_string(),
        };
        gauge.get_or_create(&labels).inc();
    }
    let mut snapshot = Registry::with_prefix("envhost");
    snapshot.register(
        "environments",
        "Environments on record by adapter and status, destroyed ones within retention included",
        gauge,
    );

    let mut text = String::new();
    // Writing into a String can not fail; an error here would be a bug in
    // the encoder, and a partial scrape is still better than none.
    let encoded = encode_registry(&mut text, &METRICS.registry)
        .and_then(|()| encode_registry(&mut text, &snapshot))
        .and_then(|()| encode_eof(&mut text));
    if let Err(err) = encoded {
        tracing::error!(error = %err, "failed to encode metrics");
        let _ = writeln!(text, "# EOF");
    }
    text
}
