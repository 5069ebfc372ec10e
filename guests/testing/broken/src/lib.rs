//! A deliberately broken adapter, built on `envhost-guest`, for the tests of
//! `envhost conformance`.
//!
//! Each environment is a container that is created but never started, named
//! by the host after the id. Everything honours the contract except
//! `destroy`, which passes on the engine's `not-found` when the container is
//! already gone: destroying twice, or destroying an unknown id, fails. The
//! conformance run must fail `destroy-is-idempotent` and
//! `destroy-unknown-id-succeeds` and pass the other rules.

use envhost_guest::container::{self, ContainerSpec, container_name};
use envhost_guest::types::{CreateRequest, EnvironmentState, Status};
use envhost_guest::{Provider, Result};

/// Image the containers are created from; never run.
const IMAGE: &str = "envhost/busybox:test";

struct Broken;

impl Provider for Broken {
    type Options = serde_json::Value;
    const NAME: &'static str = "broken";

    fn new(_options: serde_json::Value) -> Result<Self> {
        Ok(Broken)
    }

    fn create(&self, environment_id: &str, _request: CreateRequest) -> Result<EnvironmentState> {
        container::create(environment_id, &ContainerSpec::new(IMAGE))?;
        Ok(EnvironmentState::new(Status::Ready))
    }

    fn get_status(&self, environment_id: &str) -> Result<EnvironmentState> {
        container::inspect(&container_name(environment_id))?;
        Ok(EnvironmentState::new(Status::Ready))
    }

    fn destroy(&self, environment_id: &str, _reason: Option<&str>) -> Result<()> {
        // The bug under test: a missing container is an error here.
        container::remove(&container_name(environment_id), true)
    }
}

envhost_guest::export_adapter!(Broken);
