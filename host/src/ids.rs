//! Identifier types, so that an environment id, an adapter name and a host id
//! can not be mixed up.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest accepted environment id, in bytes. Container names embed it, and
/// Docker limits names to 128 characters together with the `envhost-` prefix.
pub const MAX_ENVIRONMENT_ID_LEN: usize = 64;

/// Error for an identifier that does not have the expected form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind} `{value}`: {expected}")]
pub struct InvalidId {
    /// What kind of identifier it was meant to be, such as `environment id`.
    pub kind: &'static str,
    /// The rejected value.
    pub value: String,
    /// What a valid value looks like.
    pub expected: &'static str,
}

/// Id of one environment: minted by the host (UUIDv7, sortable by creation
/// time) or chosen by the caller as an idempotency key.
///
/// Valid ids are 1 to 64 characters of ASCII letters, digits, `-` and `_`,
/// starting with a letter or digit, so they are safe in URLs, container names
/// and labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvironmentId(String);

impl EnvironmentId {
    /// Mints a new id: a UUIDv7 without dashes, so ids sort by creation time.
    pub fn mint() -> Self {
        Self(uuid::Uuid::now_v7().simple().to_string())
    }

    /// Checks a caller-supplied id.
    ///
    /// # Errors
    ///
    /// Fails when the value is empty, longer than 64 bytes, or contains
    /// anything but ASCII letters, digits, `-` and `_`.
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let valid_chars = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let valid_start = value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
        if value.len() > MAX_ENVIRONMENT_ID_LEN || !valid_chars || !valid_start {
            return Err(InvalidId {
                kind: "environment id",
                value: value.to_owned(),
                expected: "1 to 64 ASCII letters, digits, `-` or `_`, \
                           starting with a letter or digit",
            });
        }
        Ok(Self(value.to_owned()))
    }

    /// Returns the id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the deterministic name of the environment's container.
    pub fn container_name(&self) -> String {
        format!("envhost-{}", self.0)
    }
}

impl TryFrom<String> for EnvironmentId {
    type Error = InvalidId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EnvironmentId> for String {
    fn from(id: EnvironmentId) -> Self {
        id.0
    }
}

impl fmt::Display for EnvironmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Name of an adapter: the stem of its `.wasm` file.
///
/// Valid names are 1 to 63 characters of lowercase ASCII letters, digits, `-`
/// and `_`, starting with a letter, so they work as labels and config keys.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AdapterName(String);

impl AdapterName {
    /// Checks an adapter name.
    ///
    /// # Errors
    ///
    /// Fails when the value is not 1 to 63 lowercase letters, digits, `-` or
    /// `_` starting with a letter.
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let valid_chars = value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let valid_start = value.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        if value.len() > 63 || !valid_chars || !valid_start {
            return Err(InvalidId {
                kind: "adapter name",
                value: value.to_owned(),
                expected: "1 to 63 lowercase ASCII letters, digits, `-` or `_`, \
                           starting with a letter",
            });
        }
        Ok(Self(value.to_owned()))
    }

    /// Returns the name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AdapterName {
    type Error = InvalidId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<AdapterName> for String {
    fn from(name: AdapterName) -> Self {
        name.0
    }
}

impl fmt::Display for AdapterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Id of one envhost installation, created once and kept in the state store.
/// Stamped on every container as `envhost.host`, so that hosts sharing an
/// engine never touch each other's containers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostId(String);

impl HostId {
    /// Mints a new host id.
    pub fn mint() -> Self {
        Self(uuid::Uuid::now_v7().simple().to_string())
    }

    /// Wraps a stored host id.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// Returns the id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_environment_ids_parse_and_sort() {
        let first = EnvironmentId::mint();
        let second = EnvironmentId::mint();
        assert_eq!(EnvironmentId::parse(first.as_str()).unwrap(), first);
        assert!(first < second);
    }

    #[test]
    fn environment_id_rejects_unsafe_values() {
        for bad in ["", "-lead", "a/b", "a b", "ü", &"x".repeat(65)] {
            let err = EnvironmentId::parse(bad).unwrap_err();
            assert_eq!(err.value, bad);
        }
        assert!(EnvironmentId::parse("run-42_a").is_ok());
    }

    #[test]
    fn adapter_name_rejects_uppercase_and_dots() {
        assert!(AdapterName::parse("docker").is_ok());
        assert!(AdapterName::parse("Docker").is_err());
        assert!(AdapterName::parse("my.adapter").is_err());
        assert!(AdapterName::parse("1st").is_err());
    }
}
