//! Typed errors of provider calls.
//!
//! [`Error`] is the contract's `provider-error`: one case per kind, each
//! mapped by the host onto an HTTP status (not-found 404, invalid-request
//! 400, denied 403, unavailable 503, conflict 409, internal 500). Host calls
//! in [`crate::container`] return the same type, so `?` passes their errors
//! on unchanged.

pub use crate::types::ProviderError as Error;

/// Result of a provider call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds a `not-found` error: the backend has nothing for this id.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound(message.into())
    }

    /// Builds an `invalid-request` error: the request or the options are
    /// wrong, and retrying them unchanged fails again.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Error::InvalidRequest(message.into())
    }

    /// Builds a `denied` error: a policy forbids what was requested.
    pub fn denied(message: impl Into<String>) -> Self {
        Error::Denied(message.into())
    }

    /// Builds an `unavailable` error: the backend can not serve now, and a
    /// retry may succeed.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::Unavailable(message.into())
    }

    /// Builds a `conflict` error: the id is in use in a way that contradicts
    /// the request.
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict(message.into())
    }

    /// Builds an `internal` error: a bug or an unexpected backend answer.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }

    /// Returns the contract's name of the error kind, such as `not-found`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not-found",
            Error::InvalidRequest(_) => "invalid-request",
            Error::Denied(_) => "denied",
            Error::Unavailable(_) => "unavailable",
            Error::Conflict(_) => "conflict",
            Error::Internal(_) => "internal",
        }
    }

    /// Returns the message for people.
    pub fn message(&self) -> &str {
        match self {
            Error::NotFound(message)
            | Error::InvalidRequest(message)
            | Error::Denied(message)
            | Error::Unavailable(message)
            | Error::Conflict(message)
            | Error::Internal(message) => message,
        }
    }
}

impl From<crate::quantity::QuantityError> for Error {
    fn from(err: crate::quantity::QuantityError) -> Self {
        Error::InvalidRequest(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_pick_the_kind() {
        assert_eq!(Error::not_found("a").kind(), "not-found");
        assert_eq!(Error::invalid_request("a").kind(), "invalid-request");
        assert_eq!(Error::denied("a").kind(), "denied");
        assert_eq!(Error::unavailable("a").kind(), "unavailable");
        assert_eq!(Error::conflict("a").kind(), "conflict");
        assert_eq!(Error::internal("a").kind(), "internal");
        assert_eq!(
            Error::conflict("id `x` is in use").message(),
            "id `x` is in use"
        );
    }

    #[test]
    fn quantity_error_is_invalid_request() {
        let err: Error = crate::quantity::parse_cpu_nanos("lots").unwrap_err().into();
        assert!(matches!(&err, Error::InvalidRequest(message) if message.contains("`lots`")));
    }
}
