//! Validation of a create request on its own, without an adapter, a store or
//! an engine, so that fuzzing can drive the same checks `create` runs.

use super::{EnvironmentService, ServiceSettings};
use crate::environments::{ServiceError, validate};
use crate::ids::{AdapterName, EnvironmentId};
use crate::model::CreateRequest;

impl EnvironmentService {
    /// Runs the checks that `create` runs on a request before it writes a
    /// record: the caller's `environmentId` and `provider`, `ttlMs` against
    /// the lease settings, resource quantities, environment variable names
    /// and the metadata size. The workspace path is not checked, because
    /// that needs the container policy.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` naming the offending field and value.
    pub fn check_create_request(
        request: &CreateRequest,
        settings: &ServiceSettings,
    ) -> Result<(), ServiceError> {
        if let Some(id) = &request.environment_id {
            EnvironmentId::parse(id)?;
        }
        if let Some(provider) = &request.provider {
            AdapterName::parse(provider)?;
        }
        validate::ttl_ms(request.ttl_ms, settings.default_ttl, settings.max_ttl)?;
        validate::resources(&request.resources)?;
        validate::env(&request.env)?;
        validate::metadata(&request.metadata)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings() -> ServiceSettings {
        ServiceSettings {
            default_adapter: None,
            default_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(3600),
            tombstone_retention: Duration::from_secs(60),
        }
    }

    fn check(json: &str) -> Result<(), ServiceError> {
        let request: CreateRequest = serde_json::from_str(json).unwrap();
        EnvironmentService::check_create_request(&request, &settings())
    }

    #[test]
    fn valid_request_passes() {
        let result = check(r#"{"resources": {"cpu": "500m", "memory": "64Mi"}, "ttlMs": 1000}"#);
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn invalid_fields_are_named() {
        let cases = [
            (r#"{"resources": {"memory": "lots"}}"#, "lots"),
            (r#"{"ttlMs": 7200000}"#, "ttlMs"),
            (r#"{"environmentId": "a b"}"#, "a b"),
            (r#"{"provider": "Bad Name"}"#, "Bad Name"),
        ];
        for (json, named) in cases {
            let err = check(json).unwrap_err();
            assert!(
                matches!(err, ServiceError::InvalidRequest(_)),
                "{json}: {err:?}"
            );
            assert!(err.to_string().contains(named), "{json}: {err}");
        }
    }
}
