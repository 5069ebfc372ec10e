//! Errors of the environments service, one kind per outcome a caller can act
//! on. The HTTP layer maps each kind to a status code and a stable `code`.

use crate::ids::InvalidId;

/// Error returned by every operation of the environments service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The request is malformed or names a value that is not allowed.
    #[error("{0}")]
    InvalidRequest(String),
    /// No environment, reservation or adapter with that name or id.
    #[error("{0}")]
    NotFound(String),
    /// The id exists with a different request, or the environment is in a
    /// state that does not allow the operation.
    #[error("{0}")]
    Conflict(String),
    /// Policy rejected the request; the message names the rule.
    #[error("{0}")]
    Denied(String),
    /// The adapter does not export the interface the operation needs.
    #[error("{0}")]
    NotImplemented(String),
    /// The adapter trapped (panicked, ran out of memory): the message names
    /// the adapter, the function and the reason, with what the guest printed.
    #[error("{0}")]
    AdapterFailed(String),
    /// A backend (Docker engine, adapter) can not serve the request now.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else; the message is logged, and callers see a generic text.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// Stable machine-readable code, returned in problem+json bodies.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::InvalidRequest(_) => "invalid-request",
            ServiceError::NotFound(_) => "not-found",
            ServiceError::Conflict(_) => "conflict",
            ServiceError::Denied(_) => "denied",
            ServiceError::NotImplemented(_) => "not-implemented",
            ServiceError::AdapterFailed(_) => "adapter-failed",
            ServiceError::Unavailable(_) => "unavailable",
            ServiceError::Internal(_) => "internal",
        }
    }
}

impl From<InvalidId> for ServiceError {
    fn from(err: InvalidId) -> Self {
        ServiceError::InvalidRequest(err.to_string())
    }
}
