//! The contract rules a conformance run checks, and the calls behind them.

mod snapshots;

use std::collections::BTreeMap;

use chrono::Utc;

use super::{Outcome, RuleResult};
use crate::adapters::{Adapter, AdapterState, CallError, ProviderErrorKind};
use crate::container::ContainerHost;
use crate::ids::EnvironmentId;
use crate::model::{self, Protocol, Status};

/// Every rule, by name, with what it checks. Reports list them in this
/// order.
pub const RULES: &[(&str, &str)] = &[
    ("loads", "the adapter loads and `init` accepts its options"),
    (
        "create-returns-valid-descriptor",
        "create of a new id succeeds with a live status and well-formed endpoints",
    ),
    (
        "create-is-idempotent",
        "create again with the same id and request succeeds and adopts the first \
         (at most one container)",
    ),
    (
        "status-values-are-valid",
        "get-status of a created environment succeeds with a live status",
    ),
    (
        "unknown-id-is-not-found",
        "get-status of an id never created is a `not-found` error",
    ),
    (
        "destroy-unknown-id-succeeds",
        "destroy of an id never created succeeds",
    ),
    ("destroy-is-idempotent", "destroy twice succeeds both times"),
    (
        "destroyed-reads-terminated",
        "after destroy, get-status reads `terminated` or `not-found` (the host then \
         answers `terminated` from its own record)",
    ),
    (
        "reserve-is-idempotent",
        "two-phase: reserve of a new id returns `pending` or `provisioning`, twice",
    ),
    (
        "start-is-idempotent",
        "two-phase: start of the reservation returns a live status, twice, and destroy \
         succeeds",
    ),
    (
        "snapshots-round-trip",
        "snapshots: create-snapshot, list-snapshots shows it, delete-snapshot twice succeeds, \
         list-snapshots no longer shows it",
    ),
    (
        "errors-are-typed",
        "every error the adapter returned is a typed `provider-error`: no trap, no timeout",
    ),
];

/// Lease length passed with every request, in milliseconds.
const TTL_MS: u64 = 10 * 60 * 1000;

/// Statuses a freshly created or started environment may read.
const LIVE: [Status; 4] = [
    Status::Pending,
    Status::Provisioning,
    Status::Ready,
    Status::Degraded,
];

/// Results of a run whose adapter did not load: `loads` fails, the rest are
/// skipped.
pub(super) fn not_loaded(reason: &str) -> Vec<RuleResult> {
    RULES
        .iter()
        .map(|(rule, _)| RuleResult {
            rule,
            outcome: if *rule == "loads" {
                Outcome::Fail(reason.to_owned())
            } else {
                Outcome::Skip("the adapter did not load".to_owned())
            },
        })
        .collect()
}

/// Checks every rule against a loaded adapter.
pub(super) async fn check(
    adapter: &Adapter,
    containers: Option<&ContainerHost>,
) -> Vec<RuleResult> {
    let mut run = Run {
        adapter,
        containers,
        untyped: Vec::new(),
        created: Vec::new(),
        outcomes: BTreeMap::new(),
    };
    run.outcomes.insert(
        "loads",
        Outcome::Pass(format!(
            "version {}, WIT {}",
            adapter.version(),
            adapter.wit_version()
        )),
    );

    run.single_phase().await;
    run.unknown_ids().await;
    run.two_phase().await;
    run.snapshots().await;
    let untyped = std::mem::take(&mut run.untyped);
    run.outcomes.insert(
        "errors-are-typed",
        if untyped.is_empty() {
            Outcome::Pass("no call trapped or timed out".to_owned())
        } else {
            Outcome::Fail(untyped.join("; "))
        },
    );
    run.clean_up().await;

    let mut outcomes = run.outcomes;
    RULES
        .iter()
        .map(|(rule, _)| RuleResult {
            rule,
            outcome: outcomes
                .remove(rule)
                .unwrap_or_else(|| Outcome::Skip("not reached".to_owned())),
        })
        .collect()
}

struct Run<'a> {
    adapter: &'a Adapter,
    containers: Option<&'a ContainerHost>,
    /// Errors that were not typed provider errors, by call.
    untyped: Vec<String>,
    /// Ids whose containers are removed by label at the end.
    created: Vec<EnvironmentId>,
    outcomes: BTreeMap<&'static str, Outcome>,
}

impl Run<'_> {
    /// Notes an error that is not a typed provider error, and passes it on.
    fn note(&mut self, call: &str, err: CallError) -> CallError {
        if !matches!(err, CallError::Provider { .. }) {
            self.untyped.push(format!("{call}: {err}"));
        }
        err
    }

    async fn single_phase(&mut self) {
        let id = EnvironmentId::mint();
        self.created.push(id.clone());
        let request = create_request();

        let first = match self.adapter.create(&id, &request, TTL_MS, None).await {
            Ok(state) => state,
            Err(err) => {
                let err = self.note("create", err);
                self.outcomes.insert(
                    "create-returns-valid-descriptor",
                    Outcome::Fail(format!("create of `{id}` failed: {err}")),
                );
                return;
            }
        };
        self.outcomes.insert(
            "create-returns-valid-descriptor",
            match invalid_state(&first) {
                None => Outcome::Pass(format!("create returned `{}`", first.status.as_str())),
                Some(problem) => Outcome::Fail(format!("create of `{id}` returned {problem}")),
            },
        );

        let second = self.adapter.create(&id, &request, TTL_MS, None).await;
        let outcome = match second {
            Err(err) => {
                let err = self.note("create", err);
                Outcome::Fail(format!("second create of `{id}` failed: {err}"))
            }
            Ok(state) => match invalid_state(&state) {
                Some(problem) => {
                    Outcome::Fail(format!("second create of `{id}` returned {problem}"))
                }
                None => self.one_container(&id).await,
            },
        };
        self.outcomes.insert("create-is-idempotent", outcome);

        let outcome = match self.adapter.get_status(&id).await {
            Ok(state) if LIVE.contains(&state.status) => {
                Outcome::Pass(format!("get-status returned `{}`", state.status.as_str()))
            }
            Ok(state) => Outcome::Fail(format!(
                "get-status of the environment just created returned `{}`{}",
                state.status.as_str(),
                reason_suffix(&state)
            )),
            Err(err) => {
                let err = self.note("get-status", err);
                Outcome::Fail(format!("get-status of `{id}` failed: {err}"))
            }
        };
        self.outcomes.insert("status-values-are-valid", outcome);

        let destroyed = self.destroy_twice(&id).await;
        self.outcomes.insert("destroy-is-idempotent", destroyed);

        let outcome = match self.adapter.get_status(&id).await {
            Ok(state) if state.status == Status::Terminated => {
                Outcome::Pass("get-status returned `terminated`".to_owned())
            }
            Ok(state) => Outcome::Fail(format!(
                "get-status after destroy returned `{}`{}",
                state.status.as_str(),
                reason_suffix(&state)
            )),
            Err(CallError::Provider {
                kind: ProviderErrorKind::NotFound,
                ..
            }) => Outcome::Pass("get-status returned `not-found`".to_owned()),
            Err(err) => {
                let err = self.note("get-status", err);
                Outcome::Fail(format!("get-status after destroy failed: {err}"))
            }
        };
        self.outcomes.insert("destroyed-reads-terminated", outcome);
    }

    async fn destroy_twice(&mut self, id: &EnvironmentId) -> Outcome {
        let reason = Some("conformance");
        if let Err(err) = self.adapter.destroy(id, reason).await {
            let err = self.note("destroy", err);
            return Outcome::Fail(format!("first destroy of `{id}` failed: {err}"));
        }
        match self.adapter.destroy(id, reason).await {
            Ok(()) => Outcome::Pass("both destroys succeeded".to_owned()),
            Err(err) => {
                let err = self.note("destroy", err);
                Outcome::Fail(format!("second destroy of `{id}` failed: {err}"))
            }
        }
    }

    /// Checks that no more than one container carries the environment's
    /// label, when the run has an engine to ask.
    async fn one_container(&self, id: &EnvironmentId) -> Outcome {
        let Some(containers) = self.containers else {
            return Outcome::Pass(
                "second create succeeded (no engine to count containers)".to_owned(),
            );
        };
        match containers.list_host_containers().await {
            Ok(all) => {
                let count = all
                    .iter()
                    .filter(|container| container.environment.as_deref() == Some(id.as_str()))
                    .count();
                if count <= 1 {
                    Outcome::Pass(format!("second create succeeded, {count} container(s)"))
                } else {
                    Outcome::Fail(format!(
                        "two creates of `{id}` left {count} containers; a retry must adopt the first"
                    ))
                }
            }
            Err(err) => Outcome::Fail(format!("failed to list containers: {err}")),
        }
    }

    async fn unknown_ids(&mut self) {
        let id = EnvironmentId::mint();

        let outcome = match self.adapter.get_status(&id).await {
            Err(CallError::Provider {
                kind: ProviderErrorKind::NotFound,
                ..
            }) => Outcome::Pass("get-status returned `not-found`".to_owned()),
            Err(err) => {
                let err = self.note("get-status", err);
                Outcome::Fail(format!("expected `not-found`, got: {err}"))
            }
            Ok(state) => Outcome::Fail(format!(
                "expected `not-found`, got status `{}`",
                state.status.as_str()
            )),
        };
        self.outcomes.insert("unknown-id-is-not-found", outcome);

        let outcome = match self.adapter.destroy(&id, Some("conformance")).await {
            Ok(()) => Outcome::Pass("destroy succeeded".to_owned()),
            Err(err) => {
                let err = self.note("destroy", err);
                Outcome::Fail(format!("destroy of unknown `{id}` failed: {err}"))
            }
        };
        self.outcomes.insert("destroy-unknown-id-succeeds", outcome);
    }

    async fn two_phase(&mut self) {
        if !self.adapter.capabilities().supports_two_phase {
            let skip = || Outcome::Skip("the adapter does not export `two-phase`".to_owned());
            self.outcomes.insert("reserve-is-idempotent", skip());
            self.outcomes.insert("start-is-idempotent", skip());
            return;
        }

        let id = EnvironmentId::mint();
        self.created.push(id.clone());
        let request = model::ReserveRequest {
            namespace: Some("conformance".to_owned()),
            run_id: Some(id.to_string()),
            ..Default::default()
        };

        let mut reservation = None;
        for attempt in ["first", "second"] {
            match self.adapter.reserve(&id, &request, TTL_MS).await {
                Ok(state) if matches!(state.status, Status::Pending | Status::Provisioning) => {
                    reservation = Some(state);
                }
                Ok(state) => {
                    self.outcomes.insert(
                        "reserve-is-idempotent",
                        Outcome::Fail(format!(
                            "{attempt} reserve of `{id}` returned `{}`, expected `pending` or \
                             `provisioning`",
                            state.status.as_str()
                        )),
                    );
                    return;
                }
                Err(err) => {
                    let err = self.note("reserve", err);
                    self.outcomes.insert(
                        "reserve-is-idempotent",
                        Outcome::Fail(format!("{attempt} reserve of `{id}` failed: {err}")),
                    );
                    return;
                }
            }
        }
        let Some(reservation) = reservation else {
            return;
        };
        self.outcomes.insert(
            "reserve-is-idempotent",
            Outcome::Pass(format!(
                "both reserves returned `{}`",
                reservation.status.as_str()
            )),
        );

        let start = model::StartRequest::default();
        for attempt in ["first", "second"] {
            let failure = match self.adapter.start(&id, &reservation, &start, None).await {
                Ok(state) => invalid_state(&state),
                Err(err) => Some(format!("an error: {}", self.note("start", err))),
            };
            if let Some(problem) = failure {
                self.outcomes.insert(
                    "start-is-idempotent",
                    Outcome::Fail(format!("{attempt} start of `{id}` returned {problem}")),
                );
                return;
            }
        }
        let outcome = match self.adapter.destroy(&id, Some("conformance")).await {
            Ok(()) => Outcome::Pass("both starts succeeded, destroy succeeded".to_owned()),
            Err(err) => {
                let err = self.note("destroy", err);
                Outcome::Fail(format!("destroy of started `{id}` failed: {err}"))
            }
        };
        self.outcomes.insert("start-is-idempotent", outcome);
    }

    /// Removes by label whatever the run created, whatever the adapter did.
    async fn clean_up(&self) {
        let Some(containers) = self.containers else {
            return;
        };
        for id in &self.created {
            if let Err(err) = containers.remove_environment_containers(id).await {
                tracing::warn!(environment_id = %id, error = %err, "failed to remove conformance containers");
            }
            if let Err(err) = containers.remove_environment_images(id).await {
                tracing::warn!(environment_id = %id, error = %err, "failed to remove conformance snapshot images");
            }
        }
    }
}

fn create_request() -> model::CreateRequest {
    let mut metadata = model::JsonObject::new();
    metadata.insert("conformance".to_owned(), true.into());
    metadata.insert("startedAt".to_owned(), Utc::now().to_rfc3339().into());
    model::CreateRequest {
        namespace: Some("conformance".to_owned()),
        run_id: Some("conformance".to_owned()),
        ttl_ms: Some(TTL_MS),
        metadata,
        ..Default::default()
    }
}

/// Describes what is wrong with the state of a live environment, if
/// anything.
fn invalid_state(state: &AdapterState) -> Option<String> {
    if !LIVE.contains(&state.status) {
        return Some(format!(
            "status `{}`{}, expected pending, provisioning, ready or degraded",
            state.status.as_str(),
            reason_suffix(state)
        ));
    }
    for endpoint in &state.endpoints {
        if endpoint.name.is_empty() {
            return Some("an endpoint without a name".to_owned());
        }
        if endpoint.host.is_empty() {
            return Some(format!("endpoint `{}` without a host", endpoint.name));
        }
        if endpoint.port == 0 && endpoint.protocol != Protocol::Unix {
            return Some(format!("endpoint `{}` with port 0", endpoint.name));
        }
    }
    None
}

fn reason_suffix(state: &AdapterState) -> String {
    match &state.reason {
        Some(reason) => format!(" ({reason})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Endpoint;

    fn state(status: Status) -> AdapterState {
        AdapterState {
            status,
            reason: None,
            endpoints: Vec::new(),
            metadata: model::JsonObject::new(),
        }
    }

    fn endpoint(name: &str, host: &str, port: u16, protocol: Protocol) -> Endpoint {
        Endpoint {
            name: name.to_owned(),
            protocol,
            host: host.to_owned(),
            port,
            path: None,
        }
    }

    #[test]
    fn live_statuses_are_valid_states() {
        for status in LIVE {
            assert_eq!(invalid_state(&state(status)), None, "{status:?}");
        }
        let failed = AdapterState {
            reason: Some("exited with code 3".to_owned()),
            ..state(Status::Failed)
        };
        let problem = invalid_state(&failed).expect("failed is not live");
        assert!(
            problem.contains("`failed` (exited with code 3)"),
            "{problem}"
        );
    }

    #[test]
    fn malformed_endpoints_are_invalid_states() {
        let cases = [
            (
                endpoint("", "127.0.0.1", 80, Protocol::Http),
                "without a name",
            ),
            (endpoint("http", "", 80, Protocol::Http), "without a host"),
            (endpoint("http", "127.0.0.1", 0, Protocol::Tcp), "port 0"),
        ];
        for (endpoint, expected) in cases {
            let ready = AdapterState {
                endpoints: vec![endpoint],
                ..state(Status::Ready)
            };
            let problem = invalid_state(&ready).expect("endpoint is malformed");
            assert!(problem.contains(expected), "{problem}");
        }

        let unix = AdapterState {
            endpoints: vec![endpoint("socket", "/run/app.sock", 0, Protocol::Unix)],
            ..state(Status::Ready)
        };
        assert_eq!(invalid_state(&unix), None);
    }

    #[test]
    fn unloaded_adapter_fails_only_the_load_rule() {
        let results = not_loaded("bad options");

        assert_eq!(results.len(), RULES.len());
        assert_eq!(results[0].rule, "loads");
        assert_eq!(results[0].outcome, Outcome::Fail("bad options".to_owned()));
        assert!(
            results[1..]
                .iter()
                .all(|result| matches!(result.outcome, Outcome::Skip(_)))
        );
    }
}
