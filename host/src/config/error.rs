//! Errors of loading the configuration file. Each names the file and, where
//! one is at fault, the dotted key (`policy.max_cpu`).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Error for a configuration file that can not be read or is not valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read config file `{}`: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not valid TOML.
    #[error("invalid TOML in `{}`: {message}", path.display())]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// The parser's message, with the line and column.
        message: String,
    },
    /// A key that no section defines, usually a misspelling.
    #[error("unknown key `{key}` in `{}`: expected one of {expected}", path.display())]
    UnknownKey {
        /// The config file.
        path: PathBuf,
        /// Dotted path of the key, such as `policy.allowed_image`.
        key: String,
        /// The keys allowed at that level, comma-separated.
        expected: String,
    },
    /// A value of the wrong TOML type, such as an integer for a duration.
    #[error(
        "invalid type for `{key}` in `{}`: expected {expected}, found {found}",
        path.display()
    )]
    InvalidType {
        /// The config file.
        path: PathBuf,
        /// Dotted path of the key.
        key: String,
        /// The type the key takes, such as `a duration string like "15m"`.
        expected: &'static str,
        /// The TOML type found, such as `integer`.
        found: &'static str,
    },
    /// A value of the right type that is not allowed, such as `"15 parsecs"`
    /// for a duration.
    #[error("invalid value `{value}` for `{key}` in `{}`: {reason}", path.display())]
    InvalidValue {
        /// The config file.
        path: PathBuf,
        /// Dotted path of the key.
        key: String,
        /// The rejected value as written.
        value: String,
        /// The reason the value is rejected.
        reason: String,
    },
    /// `leases.default_ttl` is longer than `leases.max_ttl`, so every lease
    /// would be cut to the maximum.
    #[error(
        "`leases.default_ttl` ({}) is longer than `leases.max_ttl` ({}) in `{}`",
        humantime::format_duration(*default_ttl),
        humantime::format_duration(*max_ttl),
        path.display()
    )]
    DefaultTtlExceedsMax {
        /// The config file.
        path: PathBuf,
        /// The configured default lease length.
        default_ttl: Duration,
        /// The configured maximum lease length.
        max_ttl: Duration,
    },
}
