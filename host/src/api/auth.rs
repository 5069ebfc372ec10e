//! Bearer-token check for every route except `/healthz`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::problem::Problem;

/// Path served without a token, so that load balancers and process
/// supervisors can probe the host.
const UNAUTHENTICATED_PATH: &str = "/healthz";

/// SHA-256 of the configured token. Comparing digests in constant time hides
/// both the token's bytes and its length from timing.
#[derive(Clone)]
pub(crate) struct TokenDigest(Arc<[u8; 32]>);

impl TokenDigest {
    pub(crate) fn new(token: &str) -> Self {
        Self(Arc::new(Sha256::digest(token.as_bytes()).into()))
    }

    fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(self.0.as_ref()).into()
    }
}

/// Middleware that rejects a request without `Authorization: Bearer <token>`
/// matching the configured token, with a 401 and `WWW-Authenticate: Bearer`.
pub(crate) async fn require_bearer(
    State(expected): State<TokenDigest>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == UNAUTHENTICATED_PATH {
        return next.run(request).await;
    }

    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token);
    let detail = match presented {
        Some(token) if expected.matches(token) => return next.run(request).await,
        Some(_) => "invalid bearer token",
        None => "missing bearer token: send `Authorization: Bearer <token>`",
    };

    tracing::warn!(path = %request.uri().path(), detail, "rejected unauthenticated request");
    let mut response =
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Returns the token of an `Authorization` value, or `None` when the scheme is
/// not `Bearer` (compared case-insensitively, as RFC 9110 requires) or the
/// token is empty. An empty configured token therefore matches nothing.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_accepts_any_scheme_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
    }

    #[test]
    fn bearer_token_rejects_other_schemes_and_empty() {
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn token_digest_matches_only_the_same_token() {
        let digest = TokenDigest::new("s3cret");
        assert!(digest.matches("s3cret"));
        assert!(!digest.matches("s3cret "));
        assert!(!digest.matches("s3cre"));
    }
}
