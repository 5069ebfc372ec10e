//! Fuzz target: a create request body, decoded as the API decodes it and
//! checked as `create` checks it, must not panic, and a rejection must give a
//! reason.

#![no_main]

use std::time::Duration;

use envhost::environments::{EnvironmentService, ServiceSettings};
use envhost::model::CreateRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(request) = serde_json::from_slice::<CreateRequest>(body) else {
        return;
    };
    let settings = ServiceSettings {
        default_adapter: None,
        default_ttl: Duration::from_secs(15 * 60),
        max_ttl: Duration::from_secs(24 * 60 * 60),
        tombstone_retention: Duration::from_secs(24 * 60 * 60),
    };
    if let Err(err) = EnvironmentService::check_create_request(&request, &settings) {
        assert!(
            !err.to_string().is_empty(),
            "empty rejection for {request:?}"
        );
    }
});
