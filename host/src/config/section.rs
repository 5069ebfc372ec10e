//! Typed reads from one TOML table of the config file, with errors that name
//! the dotted key and the file.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use toml::{Table, Value};

use super::ConfigError;
use crate::model::JsonObject;

/// One table of the config file and where it sits: its dotted prefix and the
/// file it came from.
pub(super) struct Section<'a> {
    table: &'a Table,
    prefix: String,
    source: &'a Path,
}

impl<'a> Section<'a> {
    /// Wraps the top-level table of the file at `source`.
    pub(super) fn root(table: &'a Table, source: &'a Path) -> Self {
        Self {
            table,
            prefix: String::new(),
            source,
        }
    }

    /// Returns the dotted path of `key` in this table, such as `policy.max_cpu`.
    pub(super) fn key_path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// Rejects the first key not in `allowed`, listing the allowed keys.
    pub(super) fn check_keys(&self, allowed: &[&str]) -> Result<(), ConfigError> {
        match self
            .table
            .keys()
            .find(|key| !allowed.contains(&key.as_str()))
        {
            Some(key) => Err(self.unknown_key(key, &allowed.join(", "))),
            None => Ok(()),
        }
    }

    /// Returns the keys and values of this table, for tables whose keys are
    /// names rather than settings.
    pub(super) fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> + use<'a> {
        self.table.iter()
    }

    pub(super) fn unknown_key(&self, key: &str, expected: &str) -> ConfigError {
        ConfigError::UnknownKey {
            path: self.source.to_owned(),
            key: self.key_path(key),
            expected: expected.to_owned(),
        }
    }

    pub(super) fn invalid_type(
        &self,
        key: &str,
        expected: &'static str,
        found: &Value,
    ) -> ConfigError {
        ConfigError::InvalidType {
            path: self.source.to_owned(),
            key: self.key_path(key),
            expected,
            found: found.type_str(),
        }
    }

    pub(super) fn invalid_value(
        &self,
        key: &str,
        value: impl ToString,
        reason: impl ToString,
    ) -> ConfigError {
        ConfigError::InvalidValue {
            path: self.source.to_owned(),
            key: self.key_path(key),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Returns the sub-table under `key`; an absent key reads as an empty
    /// table, so every section is optional.
    pub(super) fn table(&self, key: &str) -> Result<Section<'a>, ConfigError> {
        static EMPTY: LazyLock<Table> = LazyLock::new(Table::new);
        let table = match self.table.get(key) {
            None => &*EMPTY,
            Some(Value::Table(table)) => table,
            Some(other) => return Err(self.invalid_type(key, "a table", other)),
        };
        Ok(self.nested(key, table))
    }

    /// Wraps `table`, found under `key` of this table.
    pub(super) fn nested(&self, key: &str, table: &'a Table) -> Section<'a> {
        Section {
            table,
            prefix: self.key_path(key),
            source: self.source,
        }
    }

    pub(super) fn string(&self, key: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.invalid_type(key, "a string", other)),
        }
    }

    pub(super) fn boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Boolean(flag)) => Ok(Some(*flag)),
            Some(other) => Err(self.invalid_type(key, "a boolean", other)),
        }
    }

    /// Reads an integer that must be greater than zero.
    pub(super) fn positive_integer(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Integer(number)) if *number > 0 => Ok(Some(*number)),
            Some(Value::Integer(number)) => {
                Err(self.invalid_value(key, number, "must be greater than zero"))
            }
            Some(other) => Err(self.invalid_type(key, "an integer", other)),
        }
    }

    /// Reads an array of strings.
    pub(super) fn strings(&self, key: &str) -> Result<Option<Vec<&'a str>>, ConfigError> {
        const EXPECTED: &str = "an array of strings";
        let items = match self.table.get(key) {
            None => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(self.invalid_type(key, EXPECTED, other)),
        };

        let mut strings = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::String(text) => strings.push(text.as_str()),
                other => return Err(self.invalid_type(key, EXPECTED, other)),
            }
        }
        Ok(Some(strings))
    }

    /// Reads a string and parses it with `FromStr`, such as a socket address.
    pub(super) fn parsed<T>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: ToString,
    {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        text.parse()
            .map(Some)
            .map_err(|err: T::Err| self.invalid_value(key, text, err))
    }

    /// Reads a non-zero duration written as a string such as `"15m"`.
    pub(super) fn duration(&self, key: &str) -> Result<Option<Duration>, ConfigError> {
        let text = match self.table.get(key) {
            None => return Ok(None),
            Some(Value::String(text)) => text,
            Some(other) => {
                return Err(self.invalid_type(key, r#"a duration string such as "15m""#, other));
            }
        };

        let duration = humantime::parse_duration(text).map_err(|err| {
            self.invalid_value(
                key,
                text,
                format!("{err}; expected a duration such as \"15m\""),
            )
        })?;
        if duration.is_zero() {
            return Err(self.invalid_value(key, text, "must be greater than zero"));
        }
        Ok(Some(duration))
    }

    /// Reads a quantity string and parses it with `parse`, one of the
    /// `envhost_guest::quantity` parsers.
    pub(super) fn quantity<E: ToString>(
        &self,
        key: &str,
        parse: fn(&str) -> Result<u64, E>,
    ) -> Result<Option<u64>, ConfigError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        parse(text)
            .map(Some)
            .map_err(|err| self.invalid_value(key, text, err))
    }

    /// Reads a path and resolves it against `base`, the directory of the
    /// config file. Absolute paths are kept as written.
    pub(super) fn path(&self, key: &str, base: &Path) -> Result<Option<PathBuf>, ConfigError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        if text.is_empty() {
            return Err(self.invalid_value(key, text, "must not be empty"));
        }
        Ok(Some(base.join(text)))
    }

    /// Converts this whole table to a JSON object, for adapter options.
    pub(super) fn to_json(&self) -> Result<JsonObject, ConfigError> {
        let mut object = JsonObject::new();
        for (key, value) in self.table {
            object.insert(key.clone(), self.value_to_json(key, value)?);
        }
        Ok(object)
    }

    fn value_to_json(&self, key: &str, value: &Value) -> Result<serde_json::Value, ConfigError> {
        let json = match value {
            Value::String(text) => serde_json::Value::String(text.clone()),
            Value::Integer(number) => serde_json::Value::from(*number),
            Value::Float(number) => serde_json::Number::from_f64(*number)
                .map(serde_json::Value::Number)
                .ok_or_else(|| self.invalid_value(key, number, "JSON has no infinity or NaN"))?,
            Value::Boolean(flag) => serde_json::Value::Bool(*flag),
            // JSON has no date type: adapters receive the TOML text, which is
            // RFC 3339.
            Value::Datetime(datetime) => serde_json::Value::String(datetime.to_string()),
            Value::Array(items) => {
                let mut array = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    array.push(self.value_to_json(&format!("{key}[{index}]"), item)?);
                }
                serde_json::Value::Array(array)
            }
            Value::Table(table) => serde_json::Value::Object(self.nested(key, table).to_json()?),
        };
        Ok(json)
    }
}
