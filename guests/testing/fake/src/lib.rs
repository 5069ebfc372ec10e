//! envhost adapter with no backend at all, for tests and benchmarks of what
//! the host does on its own: leases, durable state and recovery.
//!
//! `create` returns `ready` with no endpoints, `get-status` returns `ready` for
//! any id and `destroy` always succeeds. It never calls the host's `container`
//! import, so its environments own no containers and cost the host only the
//! adapter call itself.

mod bindings {
    #![allow(unreachable_pub, missing_docs)]

    wit_bindgen::generate!({
        path: "../../../wit/v0.1.0",
        world: "adapter",
    });
}

use bindings::envhost::provider::types::{
    AdapterInfo, CreateRequest, EnvironmentState, ProviderError, Status,
};
use bindings::exports::envhost::provider::provider;

struct FakeAdapter;

fn ready() -> EnvironmentState {
    EnvironmentState {
        status: Status::Ready,
        reason: None,
        endpoints: Vec::new(),
        metadata: "{}".to_owned(),
    }
}

impl provider::Guest for FakeAdapter {
    fn init(_options: String) -> Result<(), ProviderError> {
        Ok(())
    }

    fn metadata() -> AdapterInfo {
        AdapterInfo {
            name: "fake".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            custom_capabilities: r#"{"backend":"none"}"#.to_owned(),
        }
    }

    fn create(
        _environment_id: String,
        _request: CreateRequest,
    ) -> Result<EnvironmentState, ProviderError> {
        Ok(ready())
    }

    // Without a backend there is nothing to look up, so every id reads as
    // ready. The host requests the status of live environments only.
    fn get_status(_environment_id: String) -> Result<EnvironmentState, ProviderError> {
        Ok(ready())
    }

    fn destroy(_environment_id: String, _reason: Option<String>) -> Result<(), ProviderError> {
        Ok(())
    }
}

bindings::export!(FakeAdapter with_types_in bindings);
