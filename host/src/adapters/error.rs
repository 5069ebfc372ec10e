//! Errors of loading and calling adapters.

use std::path::PathBuf;
use std::time::Duration;

use crate::ids::AdapterName;

/// Kind of a typed error an adapter returned, mirroring the WIT
/// `provider-error` cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// `not-found`
    NotFound,
    /// `invalid-request`
    InvalidRequest,
    /// `denied`
    Denied,
    /// `unavailable`
    Unavailable,
    /// `conflict`
    Conflict,
    /// `internal`
    Internal,
}

/// Error of a call into an adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The adapter returned a typed error.
    #[error("adapter `{adapter}` failed in `{function}`: {message}")]
    Provider {
        adapter: AdapterName,
        function: &'static str,
        kind: ProviderErrorKind,
        message: String,
    },
    /// The guest trapped (panic, out of memory, deadline); the instance is
    /// gone and the host goes on.
    #[error("adapter `{adapter}` trapped in `{function}`: {reason}{}", guest_output_suffix(.guest_output))]
    Trap {
        adapter: AdapterName,
        function: &'static str,
        reason: String,
        /// What the guest printed before it trapped, such as its panic
        /// message.
        guest_output: String,
    },
    /// The call did not finish within the configured deadline.
    #[error("adapter `{adapter}` did not finish `{function}` within {timeout:?}")]
    Timeout {
        adapter: AdapterName,
        function: &'static str,
        timeout: Duration,
    },
    /// The adapter does not export the interface the call needs.
    #[error("adapter `{adapter}` does not support {capability}")]
    Unsupported {
        adapter: AdapterName,
        capability: &'static str,
    },
    /// The adapter trapped or overran its deadline too often in a row and
    /// rejects calls until its cool-down ends.
    #[error(
        "adapter `{adapter}` is unhealthy after {failures} consecutive failed calls \
         and rejects calls for another {}s (last failure: {last_failure})",
        remaining.as_secs().max(1)
    )]
    Unhealthy {
        adapter: AdapterName,
        failures: u32,
        last_failure: String,
        remaining: Duration,
    },
    /// The host could not create an instance (for example all instance slots
    /// are busy).
    #[error("failed to instantiate adapter `{adapter}`: {reason}")]
    Instantiate {
        adapter: AdapterName,
        reason: String,
    },
}

fn guest_output_suffix(output: &str) -> String {
    let trimmed = output.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(" (guest output: {trimmed})")
    }
}

/// Error of loading an adapter file; the previous version, if any, keeps
/// serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("failed to read adapter file `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file stem is not a valid adapter name.
    #[error("adapter file `{}` has an invalid name: {reason}", path.display())]
    InvalidName { path: PathBuf, reason: String },
    /// The bytes are not a WebAssembly component.
    #[error("adapter file `{}` is not usable: {reason}", path.display())]
    NotAComponent { path: PathBuf, reason: String },
    /// Compilation, linking or export checks failed.
    #[error("adapter file `{}` was rejected: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    /// The adapter's `init` rejected its options, or trapped.
    #[error("adapter `{adapter}` failed to initialize: {reason}")]
    Init {
        adapter: AdapterName,
        reason: String,
    },
}
