//! Extractors whose rejections are problem+json instead of axum's plain text.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::problem::Problem;
use crate::ids::EnvironmentId;
use crate::model::{ListFilter, Status};

/// Request extension with the router's body limit in bytes, so that a 413
/// can name it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyLimit(pub(crate) usize);

/// JSON request body. Syntax errors, wrong types, unknown fields and a missing
/// content type are 400s, which name the field when serde reports one. A body
/// over the router's limit is a 413.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = request.extensions().get::<BodyLimit>().map(|limit| limit.0);
        let Json(value) = Json::<serde_json::Value>::from_request(request, state)
            .await
            .map_err(|rejection| Problem::from_json_rejection(rejection, limit))?;

        // serde's derived structs also accept a JSON array, filling fields in
        // order and skipping the unknown-field check, so `[5]` would read as
        // `{"ttlMs": 5}`. Every request body of this API is an object.
        if !value.is_object() {
            return Err(Problem::invalid_request(format!(
                "invalid JSON body: expected a JSON object, got {}",
                json_kind(&value)
            )));
        }
        serde_path_to_error::deserialize(value)
            .map(Self)
            .map_err(|err| {
                let path = err.path().to_string();
                let detail = if path == "." {
                    format!("invalid JSON body: {}", err.inner())
                } else {
                    format!("invalid JSON body: {path}: {}", err.inner())
                };
                Problem::invalid_request(detail)
            })
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Query string deserialized into `T`; errors are 400s with serde's message.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// The single parameter of a route's path, such as `{name}`.
pub(crate) struct PathParam(pub(crate) String);

impl<S> FromRequestParts<S> for PathParam
where
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| Problem::invalid_request(format!("invalid path: {rejection}")))?;
        Ok(Self(value))
    }
}

/// The `{id}` path parameter, checked with [`EnvironmentId::parse`].
pub(crate) struct IdPath(pub(crate) EnvironmentId);

impl<S> FromRequestParts<S> for IdPath
where
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let PathParam(value) = PathParam::from_request_parts(parts, state).await?;
        let id = EnvironmentId::parse(&value)
            .map_err(|err| Problem::invalid_request(err.to_string()))?;
        Ok(Self(id))
    }
}

/// The `{id}` and `{snapshotId}` path parameters of a snapshot route. The
/// snapshot id is checked by the service.
pub(crate) struct SnapshotPath(pub(crate) EnvironmentId, pub(crate) String);

impl<S> FromRequestParts<S> for SnapshotPath
where
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((id, snapshot_id)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| Problem::invalid_request(format!("invalid path: {rejection}")))?;
        let id =
            EnvironmentId::parse(&id).map_err(|err| Problem::invalid_request(err.to_string()))?;
        Ok(Self(id, snapshot_id))
    }
}

/// Query of `GET /v1/environments`, parsed by hand so that an unknown or
/// repeated parameter and a bad status each get a message naming the
/// parameter.
pub(crate) struct ListQuery(pub(crate) ListFilter);

impl<S> FromRequestParts<S> for ListQuery
where
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiQuery(pairs) =
            ApiQuery::<Vec<(String, String)>>::from_request_parts(parts, state).await?;
        parse_list_filter(pairs).map(Self)
    }
}

fn parse_list_filter(pairs: Vec<(String, String)>) -> Result<ListFilter, Problem> {
    let mut filter = ListFilter::default();
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "tenantId" => &mut filter.tenant_id,
            "namespace" => &mut filter.namespace,
            "runId" => &mut filter.run_id,
            "status" => {
                if filter.status.is_some() {
                    return Err(repeated_parameter(&name));
                }
                let status = value.parse::<Status>().map_err(|err| {
                    Problem::invalid_request(format!("invalid query parameter `status`: {err}"))
                })?;
                filter.status = Some(status);
                continue;
            }
            _ => {
                return Err(Problem::invalid_request(format!(
                    "unknown query parameter `{name}`: expected tenantId, namespace, runId \
                     or status"
                )));
            }
        };
        if slot.is_some() {
            return Err(repeated_parameter(&name));
        }
        *slot = Some(value);
    }
    Ok(filter)
}

fn repeated_parameter(name: &str) -> Problem {
    Problem::invalid_request(format!("query parameter `{name}` is given more than once"))
}
