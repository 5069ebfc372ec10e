//! Checks of request fields that need no adapter: resource quantities,
//! environment variable names, ttl and metadata size. Each error names the
//! field and the value.

use std::collections::BTreeMap;
use std::time::Duration;

use envhost_guest::quantity::{parse_cpu_nanos, parse_memory_bytes};

use super::ServiceError;
use crate::model::{JsonObject, Resources};

/// Largest `metadata` object accepted, serialized, in bytes.
pub(crate) const MAX_METADATA_BYTES: usize = 64 * 1024;

pub(crate) fn resources(resources: &Resources) -> Result<(), ServiceError> {
    let invalid = |field: &str, err: String| {
        ServiceError::InvalidRequest(format!("invalid `resources.{field}`: {err}"))
    };
    if let Some(cpu) = &resources.cpu {
        parse_cpu_nanos(cpu).map_err(|err| invalid("cpu", err.to_string()))?;
    }
    if let Some(memory) = &resources.memory {
        parse_memory_bytes(memory).map_err(|err| invalid("memory", err.to_string()))?;
    }
    if let Some(disk) = &resources.disk {
        parse_memory_bytes(disk).map_err(|err| invalid("disk", err.to_string()))?;
    }
    if let Some(gpu) = &resources.gpu {
        let is_count = !gpu.is_empty() && gpu.bytes().all(|b| b.is_ascii_digit());
        if !is_count {
            return Err(invalid(
                "gpu",
                format!("`{gpu}` is not a whole number of GPUs, such as \"1\""),
            ));
        }
    }
    Ok(())
}

pub(crate) fn env(env: &BTreeMap<String, String>) -> Result<(), ServiceError> {
    for (name, value) in env {
        let valid = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(ServiceError::InvalidRequest(format!(
                "invalid environment variable name `{name}` in `env`: expected ASCII letters, \
                 digits and `_`, not starting with a digit"
            )));
        }
        if value.contains('\0') {
            return Err(ServiceError::InvalidRequest(format!(
                "environment variable `{name}` in `env` contains a NUL byte"
            )));
        }
    }
    Ok(())
}

/// Returns the lease length in milliseconds: the request's, or the default.
pub(crate) fn ttl_ms(
    requested: Option<u64>,
    default: Duration,
    max: Duration,
) -> Result<u64, ServiceError> {
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    let ttl = requested.unwrap_or_else(|| u64::try_from(default.as_millis()).unwrap_or(max_ms));
    if ttl == 0 {
        return Err(ServiceError::InvalidRequest(
            "invalid `ttlMs` 0: a lease must last at least 1 ms".to_owned(),
        ));
    }
    if ttl > max_ms {
        return Err(ServiceError::InvalidRequest(format!(
            "invalid `ttlMs` {ttl}: the maximum lease is {max_ms} ms ({})",
            humantime::format_duration(max)
        )));
    }
    Ok(ttl)
}

pub(crate) fn metadata(metadata: &JsonObject) -> Result<(), ServiceError> {
    let size = serde_json::to_vec(metadata)
        .map(|bytes| bytes.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(ServiceError::InvalidRequest(format!(
            "`metadata` is {size} bytes serialized; the maximum is {MAX_METADATA_BYTES}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_quantity_names_field_and_value() {
        let request = Resources {
            memory: Some("lots".into()),
            ..Resources::default()
        };
        let message = resources(&request).unwrap_err().to_string();
        assert!(message.contains("resources.memory"), "{message}");
        assert!(message.contains("`lots`"), "{message}");
    }

    #[test]
    fn gpu_must_be_a_count() {
        let request = Resources {
            gpu: Some("0.5".into()),
            ..Resources::default()
        };
        assert!(resources(&request).is_err());
    }

    #[test]
    fn env_names_are_checked() {
        let mut vars = BTreeMap::new();
        vars.insert("GOOD_1".to_owned(), "x".to_owned());
        assert!(env(&vars).is_ok());
        vars.insert("1BAD".to_owned(), "x".to_owned());
        assert!(env(&vars).unwrap_err().to_string().contains("`1BAD`"));
    }

    #[test]
    fn ttl_above_max_names_the_max() {
        let max = Duration::from_secs(60);
        let err = ttl_ms(Some(61_000), Duration::from_secs(10), max).unwrap_err();
        assert!(err.to_string().contains("60000 ms"), "{err}");
        assert_eq!(ttl_ms(None, Duration::from_secs(10), max).unwrap(), 10_000);
        assert!(ttl_ms(Some(0), Duration::from_secs(10), max).is_err());
    }
}
