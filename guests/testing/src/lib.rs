//! A minimal adapter built against `envhost:provider@0.1.0`, the first
//! released WIT version. The host's tests load it to prove that adapters
//! built for an older WIT keep loading, and use it where a test needs an
//! adapter that does not touch Docker.
//!
//! `create` and `get-status` report a `ready` environment without creating
//! anything, and `destroy` succeeds. The options may set `version`, which
//! `metadata` reports, and `failInit: true`, which makes `init` fail.

mod bindings {
    #![allow(unreachable_pub, missing_docs)]

    wit_bindgen::generate!({
        path: "../../wit/v0.1.0",
        world: "adapter",
    });
}

use std::sync::Mutex;

use bindings::envhost::provider::log::{Level, log};
use bindings::envhost::provider::types::{
    AdapterInfo, CreateRequest, EnvironmentState, ProviderError, Status,
};
use bindings::exports::envhost::provider::provider;

/// Version that `metadata` reports, from the `version` option.
static VERSION: Mutex<Option<String>> = Mutex::new(None);

struct TestingAdapter;

impl provider::Guest for TestingAdapter {
    fn init(options: String) -> Result<(), ProviderError> {
        if options.contains(r#""failInit":true"#) {
            return Err(ProviderError::InvalidRequest(
                "`failInit` is set in the options".to_owned(),
            ));
        }
        // A full JSON parser would triple the size of this fixture; the host
        // passes compact JSON, so a string search is enough here.
        let version = options
            .split(r#""version":""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned);
        *VERSION.lock().unwrap_or_else(|err| err.into_inner()) = version;
        Ok(())
    }

    fn metadata() -> AdapterInfo {
        let version = VERSION
            .lock()
            .unwrap_or_else(|err| err.into_inner())
            .clone();
        AdapterInfo {
            name: "testing".to_owned(),
            version: version.unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned()),
            custom_capabilities: r#"{"fixture":true}"#.to_owned(),
        }
    }

    fn create(
        environment_id: String,
        _request: CreateRequest,
    ) -> Result<EnvironmentState, ProviderError> {
        log(Level::Debug, &format!("created `{environment_id}`"));
        Ok(ready())
    }

    fn get_status(_environment_id: String) -> Result<EnvironmentState, ProviderError> {
        Ok(ready())
    }

    fn destroy(_environment_id: String, _reason: Option<String>) -> Result<(), ProviderError> {
        Ok(())
    }
}

fn ready() -> EnvironmentState {
    EnvironmentState {
        status: Status::Ready,
        reason: None,
        endpoints: Vec::new(),
        metadata: "{}".to_owned(),
    }
}

bindings::export!(TestingAdapter with_types_in bindings);
