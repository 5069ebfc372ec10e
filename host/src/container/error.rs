//! Errors of the container layer, one kind per outcome the adapter glue maps
//! onto a WIT `provider-error` case.

use bollard::errors::Error as EngineError;

/// Error returned by every operation of [`ContainerHost`](super::ContainerHost).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// No container, image or network with that id or name.
    #[error("{message}")]
    NotFound {
        /// Description of the missing object, naming its id or name.
        message: String,
    },
    /// Policy rejected the call. `rule` is the stable name of the rule, such
    /// as `workspace` or `ownership`; the message names the offending value.
    #[error("denied by policy rule `{rule}`: {message}")]
    Denied {
        /// Name of the policy rule that rejected the call.
        rule: &'static str,
        /// Description of the rejected value and the reason.
        message: String,
    },
    /// The request is malformed or names something that does not exist on
    /// the host, such as a missing bind mount source or an absent image.
    #[error("{0}")]
    InvalidRequest(String),
    /// The call collides with existing state, such as a container name that
    /// belongs to another environment.
    #[error("{0}")]
    Conflict(String),
    /// The Docker engine can not be reached or did not respond in time.
    #[error("{0}")]
    Unavailable(String),
    /// The policy configuration itself is invalid, such as a malformed image
    /// pattern. Returned by `ContainerHost::connect` only.
    #[error("{0}")]
    InvalidPolicy(String),
    /// Any other failure reported by the engine.
    #[error("{0}")]
    Engine(String),
}

impl ContainerError {
    /// Builds a `Denied` error for `rule`.
    pub(crate) fn denied(rule: &'static str, message: impl Into<String>) -> Self {
        ContainerError::Denied {
            rule,
            message: message.into(),
        }
    }

    /// Maps an engine error onto a kind, prefixing the engine's message with
    /// `context` (what was being done, naming the object).
    pub(crate) fn from_engine(context: impl AsRef<str>, err: EngineError) -> Self {
        let context = context.as_ref();
        match err {
            EngineError::DockerResponseServerError {
                status_code,
                message,
            } => {
                let message = format!("{context}: {message}");
                match status_code {
                    400 => ContainerError::InvalidRequest(message),
                    404 => ContainerError::NotFound { message },
                    409 => ContainerError::Conflict(message),
                    _ => ContainerError::Engine(format!("{message} (status {status_code})")),
                }
            }
            EngineError::SocketNotFoundError(_)
            | EngineError::RequestTimeoutError
            | EngineError::HyperResponseError { .. }
            | EngineError::HyperLegacyError { .. }
            | EngineError::IOError { .. } => {
                ContainerError::Unavailable(format!("{context}: docker engine unavailable: {err}"))
            }
            other => ContainerError::Engine(format!("{context}: {other}")),
        }
    }

    /// Returns true for a not-found error, such as an engine 404.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, ContainerError::NotFound { .. })
    }
}
