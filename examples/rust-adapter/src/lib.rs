//! `ledger`: an example envhost adapter whose environments run nothing.
//!
//! Each environment is a record: a container that is created but never
//! started, so it uses no process, CPU or memory, only its name and labels
//! in the engine. That record is what makes the adapter honest across calls,
//! because the host gives every call a fresh instance and nothing kept in
//! memory survives. A fake that kept its environments in memory could not
//! answer `not-found` for an unknown id or `terminated` after a destroy.
//!
//! It implements the required provider functions and two-phase
//! provisioning: `reserve` records nothing and `start` creates the record.
//! Build it with `cargo build --release --target wasm32-wasip2`.

use envhost_guest::container::{self, ContainerSpec, container_name};
use envhost_guest::types::{
    CreateRequest, EnvironmentState, Reservation, ReserveRequest, StartRequest, Status,
};
use envhost_guest::{Error, Provider, Result, TwoPhase, log};
use serde::Deserialize;

/// Options, from the host's `[adapters.ledger.options]` table.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// Local image the record containers are created from. It is never
    /// run. Default: `envhost/busybox:test`.
    #[serde(default = "default_image")]
    image: String,
}

fn default_image() -> String {
    "envhost/busybox:test".to_owned()
}

/// The adapter of one call.
pub struct Ledger {
    image: String,
}

impl Provider for Ledger {
    type Options = Options;
    const NAME: &'static str = "ledger";

    fn new(options: Options) -> Result<Self> {
        if options.image.trim().is_empty() {
            return Err(Error::invalid_request("option `image` is empty"));
        }
        Ok(Ledger {
            image: options.image,
        })
    }

    fn custom_capabilities(&self) -> serde_json::Value {
        serde_json::json!({ "runsWorkloads": false })
    }

    fn create(&self, environment_id: &str, request: CreateRequest) -> Result<EnvironmentState> {
        self.record(environment_id, request.namespace)
    }

    fn get_status(&self, environment_id: &str) -> Result<EnvironmentState> {
        // `inspect` returns `not-found` for an id never created or already
        // destroyed, which is what the contract requires.
        let info = container::inspect(&container_name(environment_id))?;
        let namespace = info
            .labels
            .iter()
            .find(|(key, _)| key == NAMESPACE_LABEL)
            .map(|(_, value)| value.clone());
        Ok(ready(&info.id, namespace))
    }

    fn destroy(&self, environment_id: &str, reason: Option<&str>) -> Result<()> {
        match container::remove(&container_name(environment_id), true) {
            Ok(()) => {
                let reason = reason.unwrap_or("none given");
                log::info(&format!(
                    "removed record of `{environment_id}` (reason: {reason})"
                ));
                Ok(())
            }
            // Already gone, or never made: destroy is idempotent.
            Err(Error::NotFound(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

impl TwoPhase for Ledger {
    fn reserve(&self, _environment_id: &str, request: ReserveRequest) -> Result<Reservation> {
        let data = serde_json::json!({ "namespace": request.namespace });
        Ok(Reservation {
            status: Status::Pending,
            data: data.to_string(),
        })
    }

    fn start(
        &self,
        environment_id: &str,
        reservation: Reservation,
        _request: StartRequest,
    ) -> Result<EnvironmentState> {
        #[derive(Deserialize)]
        struct Data {
            namespace: Option<String>,
        }
        let data: Data =
            envhost_guest::options::parse_json_field("reservation data", &reservation.data)?;
        self.record(environment_id, data.namespace)
    }
}

/// Label that keeps the request's namespace on the record.
const NAMESPACE_LABEL: &str = "ledger.namespace";

impl Ledger {
    /// Creates the record of an environment, or adopts the one a previous
    /// attempt made: the host names the container after the id.
    fn record(&self, environment_id: &str, namespace: Option<String>) -> Result<EnvironmentState> {
        let mut spec = ContainerSpec::new(self.image.clone());
        spec.init = false;
        if let Some(namespace) = &namespace {
            spec.labels
                .push((NAMESPACE_LABEL.to_owned(), namespace.clone()));
        }
        let id = container::create(environment_id, &spec)?;
        Ok(ready(&id, namespace))
    }
}

fn ready(container_id: &str, namespace: Option<String>) -> EnvironmentState {
    let metadata = serde_json::json!({ "recordId": container_id, "namespace": namespace });
    EnvironmentState::new(Status::Ready).with_metadata(&metadata)
}

envhost_guest::export_adapter!(Ledger: TwoPhase);
