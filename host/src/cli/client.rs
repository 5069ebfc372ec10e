//! A small HTTP client for the envhost API.

use std::path::PathBuf;

use reqwest::{Method, StatusCode, Url};
use serde::Serialize;

use crate::api::Problem;

/// How long to wait for the TCP connection before calling the host
/// unreachable. Requests themselves have no deadline, because a create may
/// wait for the engine to start a container.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Error of a client command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Nothing accepted a connection at the API address.
    #[error(
        "envhost is not reachable at {url}: {cause}\n\
         start it with `envhost serve --config FILE`, or point --api (ENVHOST_API) at a \
         running host"
    )]
    Unreachable {
        /// API base address.
        url: Url,
        /// The transport error and its causes.
        cause: String,
    },
    /// The host returned a problem+json error.
    #[error("{detail} (code {code}, HTTP {status})")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The problem's stable code, such as `not-found`.
        code: String,
        /// The problem's detail.
        detail: String,
    },
    /// The host returned something other than the expected JSON.
    #[error("unexpected response from {url} (HTTP {status}): {message}")]
    UnexpectedResponse {
        /// Requested address.
        url: Url,
        /// HTTP status code.
        status: u16,
        /// Reason the response was rejected.
        message: String,
    },
    /// The request failed after the connection was made.
    #[error("request to {url} failed: {cause}")]
    Request {
        /// Requested address.
        url: Url,
        /// The transport error and its causes.
        cause: String,
    },
    /// The token file could not be read or is empty.
    #[error("failed to read token file `{}`: {message}", path.display())]
    TokenFile {
        /// Path given with `--token-file`.
        path: PathBuf,
        /// Reason the file is unusable.
        message: String,
    },
    /// An argument that clap accepted but that is still invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// `--wait` ran out before the environment was ready or failed.
    #[error(
        "timed out after {} waiting for environment `{id}`: it is still {status} \
         (raise --wait-timeout, or follow it with `envhost env get {id}`)",
        humantime::format_duration(*timeout)
    )]
    WaitTimedOut {
        /// Environment id.
        id: String,
        /// Last status seen.
        status: String,
        /// The `--wait-timeout`.
        timeout: std::time::Duration,
    },
    /// `--wait` saw the environment end up `failed` or `terminated`.
    #[error("environment `{id}` is {status}: {reason}")]
    EnvironmentFailed {
        /// Environment id.
        id: String,
        /// `failed` or `terminated`.
        status: String,
        /// The reason the host reported.
        reason: String,
    },
}

/// A successful response: its status and raw body.
#[derive(Debug)]
pub(crate) struct ApiResponse {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
}

/// Client for one API base address.
pub(crate) struct ApiClient {
    base: Url,
    token: Option<String>,
    http: reqwest::Client,
}

impl ApiClient {
    pub(crate) fn new(base: Url, token: Option<String>) -> Result<Self, CliError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|err| CliError::Request {
                url: base.clone(),
                cause: error_chain(&err),
            })?;
        Ok(Self { base, token, http })
    }

    /// Returns the address of `segments` under the base, each segment
    /// percent-encoded.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http(s) base URLs always have path segments")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// Sends a request and returns the response when its status is a success.
    ///
    /// # Errors
    ///
    /// `Unreachable` when the connection fails, `Api` for a problem+json
    /// response, `UnexpectedResponse` for any other failure status.
    pub(crate) async fn send<B: Serialize>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<ApiResponse, CliError> {
        let mut request = self.http.request(method, url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }

        let response = request
            .send()
            .await
            .map_err(|err| self.transport_error(&url, &err))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|err| self.transport_error(&url, &err))?;
        if status.is_success() {
            return Ok(ApiResponse { status, body });
        }

        match serde_json::from_str::<Problem>(&body) {
            Ok(mut problem) => {
                if status == StatusCode::UNAUTHORIZED && self.token.is_none() {
                    problem.detail.push_str(
                        "; pass the host's token with --token-file or ENVHOST_TOKEN_FILE",
                    );
                }
                Err(CliError::Api {
                    status: status.as_u16(),
                    code: problem.code,
                    detail: problem.detail,
                })
            }
            Err(_) => Err(CliError::UnexpectedResponse {
                url,
                status: status.as_u16(),
                message: truncate(&body, 200),
            }),
        }
    }

    fn transport_error(&self, url: &Url, err: &reqwest::Error) -> CliError {
        if err.is_connect() {
            CliError::Unreachable {
                url: self.base.clone(),
                cause: root_cause(err),
            }
        } else {
            CliError::Request {
                url: url.clone(),
                cause: error_chain(err),
            }
        }
    }
}

/// Parses a successful response's body as `T`.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    url: &Url,
    response: &ApiResponse,
) -> Result<T, CliError> {
    serde_json::from_str(&response.body).map_err(|err| CliError::UnexpectedResponse {
        url: url.clone(),
        status: response.status.as_u16(),
        message: format!("invalid JSON: {err}"),
    })
}

/// Joins an error and its sources with `: `, because reqwest's own message
/// ("error sending request") leaves out the cause, such as "connection
/// refused".
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Returns the innermost source of an error, such as "Connection refused (os
/// error 111)", which is all a user needs when the host is not running.
fn root_cause(err: &dyn std::error::Error) -> String {
    let mut innermost = err;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::HeaderMap;
    use axum::routing::get;

    use super::*;

    /// Serves `app` on an ephemeral loopback port and returns its base URL.
    async fn serve(app: Router) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Url::parse(&format!("http://{address}")).unwrap()
    }

    async fn get_path(client: &ApiClient, path: &str) -> Result<ApiResponse, CliError> {
        client
            .send::<()>(Method::GET, client.url(&[path]), None)
            .await
    }

    #[tokio::test]
    async fn closed_port_is_unreachable_naming_the_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        let client = ApiClient::new(base.clone(), None).unwrap();

        let err = get_path(&client, "healthz").await.err().unwrap();

        assert!(matches!(err, CliError::Unreachable { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(base.as_str()), "{message}");
        assert!(message.contains("envhost serve"), "{message}");
    }

    #[tokio::test]
    async fn problem_response_becomes_api_error() {
        let app = Router::new().route(
            "/missing",
            get(|| async { Problem::not_found("environment `e1` not found") }),
        );
        let client = ApiClient::new(serve(app).await, None).unwrap();

        let err = get_path(&client, "missing").await.err().unwrap();

        let CliError::Api {
            status,
            code,
            detail,
        } = &err
        else {
            panic!("expected an API error, got {err:?}");
        };
        assert_eq!(*status, 404);
        assert_eq!(code, "not-found");
        assert_eq!(detail, "environment `e1` not found");
        assert_eq!(
            err.to_string(),
            "environment `e1` not found (code not-found, HTTP 404)"
        );
    }

    #[tokio::test]
    async fn plain_text_error_is_unexpected_response() {
        let app = Router::new().route(
            "/proxy",
            get(|| async { (StatusCode::BAD_GATEWAY, "upstream down") }),
        );
        let client = ApiClient::new(serve(app).await, None).unwrap();

        let err = get_path(&client, "proxy").await.err().unwrap();

        assert!(
            matches!(err, CliError::UnexpectedResponse { status: 502, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("upstream down"), "{err}");
    }

    #[tokio::test]
    async fn token_is_sent_as_bearer() {
        let app = Router::new().route(
            "/echo",
            get(|headers: HeaderMap| async move {
                headers["authorization"].to_str().unwrap().to_owned()
            }),
        );
        let client = ApiClient::new(serve(app).await, Some("s3cret".to_owned())).unwrap();

        let response = get_path(&client, "echo").await.unwrap();

        assert_eq!(response.body, "Bearer s3cret");
    }

    #[test]
    fn url_percent_encodes_segments_under_base_path() {
        let base = Url::parse("http://127.0.0.1:8480/envhost/").unwrap();
        let client = ApiClient::new(base, None).unwrap();

        let url = client.url(&["v1", "adapters", "a/b c"]);

        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8480/envhost/v1/adapters/a%2Fb%20c"
        );
    }
}
