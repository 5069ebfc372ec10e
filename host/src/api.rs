//! The HTTP API: JSON routes over the [`Environments`] service, with
//! `application/problem+json` errors, a body size cap and optional bearer
//! authentication.
//!
//! | route | success |
//! |---|---|
//! | `POST /v1/environments` | 201, descriptor |
//! | `GET /v1/environments?tenantId&namespace&runId&status` | 200, descriptors |
//! | `GET /v1/environments/{id}` | 200, descriptor |
//! | `DELETE /v1/environments/{id}?reason=` | 200, descriptor; 204 for an unknown id |
//! | `POST /v1/reservations` | 201, descriptor |
//! | `POST /v1/environments/{id}/start` | 200, descriptor |
//! | `PUT /v1/environments/{id}/lease` (body `{ttlMs}`) | 200, lease |
//! | `GET /v1/environments/{id}/logs?tail=N` | 200, `{environmentId, lines}` |
//! | `POST /v1/environments/{id}/probe` | 200, `{environmentId, exitCode, output, truncated}` |
//! | `POST /v1/environments/{id}/snapshots` | 201, the snapshot |
//! | `GET /v1/environments/{id}/snapshots` | 200, `{environmentId, snapshots}` |
//! | `DELETE /v1/environments/{id}/snapshots/{snapshotId}` | 204, also when already gone |
//! | `GET /v1/adapters`, `GET /v1/adapters/{name}` | 200, adapter summaries |
//! | `GET /v1/adapters/{name}/capabilities` | 200, capabilities |
//! | `GET /healthz` | 200, `{"status":"ok"}`, never needs a token |
//! | `GET /metrics` | 200, Prometheus metrics in the OpenMetrics text format |
//! | `GET /v1/openapi.json` | 200, the OpenAPI document of these routes |

mod auth;
mod extract;
mod openapi;
mod problem;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::{Extension, Router};
use tower_http::trace::TraceLayer;
use tracing::Span;

pub use openapi::document as openapi_document;
pub use problem::{PROBLEM_JSON, Problem, status_for};

use crate::environments::Environments;

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// Largest accepted request body, in bytes; larger bodies get a 413.
    pub max_body_bytes: usize,
    /// Bearer token every route but `/healthz` requires; `None` turns
    /// authentication off. An empty token matches no request.
    pub token: Option<String>,
}

/// Builds the router of the HTTP API over `service`.
pub fn router(service: Arc<dyn Environments>, options: ApiOptions) -> Router {
    let mut router = Router::new()
        .route("/v1/environments", post(routes::create).get(routes::list))
        .route(
            "/v1/environments/{id}",
            get(routes::get).delete(routes::destroy),
        )
        .route("/v1/environments/{id}/start", post(routes::start))
        .route("/v1/environments/{id}/lease", put(routes::renew))
        .route("/v1/environments/{id}/logs", get(routes::logs))
        .route("/v1/environments/{id}/probe", post(routes::probe))
        .route(
            "/v1/environments/{id}/snapshots",
            post(routes::create_snapshot).get(routes::list_snapshots),
        )
        .route(
            "/v1/environments/{id}/snapshots/{snapshotId}",
            delete(routes::delete_snapshot),
        )
        .route("/v1/reservations", post(routes::reserve))
        .route("/v1/adapters", get(routes::adapters))
        .route("/v1/adapters/{name}", get(routes::adapter))
        .route(
            "/v1/adapters/{name}/capabilities",
            get(routes::capabilities),
        )
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(routes::metrics))
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .fallback(routes::unknown_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(service)
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(Extension(extract::BodyLimit(options.max_body_bytes)));

    if let Some(token) = &options.token {
        let digest = auth::TokenDigest::new(token);
        router = router.layer(middleware::from_fn_with_state(digest, auth::require_bearer));
    }

    // Added last so that it wraps everything, rejected requests included.
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(make_request_span)
            .on_request(())
            .on_response(record_response)
            .on_failure(()),
    )
}

fn make_request_span(request: &Request) -> Span {
    tracing::info_span!(
        "http.request",
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    )
}

fn record_response(response: &Response, latency: Duration, span: &Span) {
    let latency_ms = latency.as_secs_f64() * 1000.0;
    span.record("status", response.status().as_u16());
    span.record("latency_ms", latency_ms);
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms,
        "request finished"
    );
}

/// Checks that the host may listen on `listen` with the given token.
///
/// # Errors
///
/// Fails when `listen` is not a loopback address and there is no non-empty
/// token, because anyone who can reach the port could then create and destroy
/// environments.
pub fn require_token_for(listen: SocketAddr, token: Option<&str>) -> Result<(), String> {
    // `::ffff:127.0.0.1` is loopback too, but `Ipv6Addr::is_loopback` returns false for it.
    let loopback = listen.ip().to_canonical().is_loopback();
    let has_token = token.is_some_and(|token| !token.trim().is_empty());
    if loopback || has_token {
        return Ok(());
    }
    Err(format!(
        "listen address `{listen}` is not loopback, so it requires a bearer token: \
         configure a token file in [server] or listen on 127.0.0.1"
    ))
}

#[cfg(test)]
mod tests;
