//! `application/problem+json` error bodies (RFC 9457) and the one mapping from
//! error kinds to HTTP status codes.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::environments::ServiceError;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Detail sent for internal errors, whose real message stays in the host log.
const INTERNAL_DETAIL: &str = "internal error; the host log has the details";

/// An error response: `{type, title, status, detail, code}`.
///
/// `code` is stable and meant for programs; `detail` is for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI of the problem type: `urn:envhost:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Reason phrase of the status code.
    pub title: String,
    /// HTTP status code, repeated from the response.
    pub status: u16,
    /// Explanation of this failure, naming the offending value.
    pub detail: String,
    /// Stable machine-readable code, such as `not-found`.
    pub code: String,
}

impl Problem {
    /// Builds a problem with the given status, code and detail.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("urn:envhost:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
        }
    }

    /// Builds a 400 `invalid-request` problem.
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-request", detail)
    }

    /// Builds a 404 `not-found` problem.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// Returns the status code of the problem.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Returns the HTTP status for a service error kind. This is the only place
/// that maps kinds to statuses.
pub fn status_for(err: &ServiceError) -> StatusCode {
    match err {
        ServiceError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Conflict(_) => StatusCode::CONFLICT,
        ServiceError::Denied(_) => StatusCode::FORBIDDEN,
        ServiceError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
        ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::AdapterFailed(_) => StatusCode::BAD_GATEWAY,
        // `ServiceError` is non-exhaustive: a kind added later is a server
        // fault until it gets its own status here.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for Problem {
    fn from(err: ServiceError) -> Self {
        let status = status_for(&err);
        let code = err.code();
        match &err {
            ServiceError::Internal(_) | ServiceError::AdapterFailed(_) => {
                tracing::error!(code, error = %err, "request failed")
            }
            ServiceError::Unavailable(_) => tracing::warn!(code, error = %err, "request failed"),
            _ => {}
        }

        // Internal messages may carry paths, SQL or adapter internals that
        // callers have no use for.
        let detail = match err {
            ServiceError::Internal(_) => INTERNAL_DETAIL.to_owned(),
            other => other.to_string(),
        };
        Problem::new(status, code, detail)
    }
}

impl Problem {
    /// Converts a rejected JSON body into a problem. `max_body_bytes` is the
    /// limit to name in a 413, when known.
    pub(crate) fn from_json_rejection(
        rejection: JsonRejection,
        max_body_bytes: Option<usize>,
    ) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let detail = match max_body_bytes {
                Some(max) => format!("request body is larger than the maximum of {max} bytes"),
                None => "request body is larger than the configured maximum".to_owned(),
            };
            return Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", detail);
        }

        let detail = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "missing or wrong content type: expected `application/json`".to_owned()
            }
            // For data errors the source is serde's message, prefixed with the
            // path of the offending field when serde tracks it (`ttlMs: invalid
            // type ...`).
            JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
                match std::error::Error::source(&rejection) {
                    Some(source) => format!("invalid JSON body: {source}"),
                    None => format!("invalid JSON body: {rejection}"),
                }
            }
            _ => format!("failed to read request body: {rejection}"),
        };
        Problem::invalid_request(detail)
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        let detail = match std::error::Error::source(&rejection) {
            Some(source) => format!("invalid query string: {source}"),
            None => format!("invalid query string: {rejection}"),
        };
        Problem::invalid_request(detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut response = (status, Json(self)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}
