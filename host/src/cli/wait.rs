//! `envhost env create --wait`: polls an environment until it is ready or
//! has failed, and shows each status change with the elapsed time on stderr,
//! so that stdout carries only the final descriptor.

use std::time::{Duration, Instant};

use reqwest::{Method, Url};

use super::client::{ApiClient, ApiResponse, CliError, decode};
use crate::model::{Descriptor, Status};

/// First delay between two polls; it grows by half up to [`MAX_POLL_DELAY`].
const FIRST_POLL_DELAY: Duration = Duration::from_millis(100);

/// Maximum delay between two polls.
const MAX_POLL_DELAY: Duration = Duration::from_secs(1);

/// Interval at which an unchanged status is shown again, so that a long wait
/// still shows progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// Returns whether waiting stops at `status`: the environment is usable
/// (`ready`, `degraded`) or will never be (`failed`, `terminated`).
fn is_settled(status: Status) -> bool {
    matches!(
        status,
        Status::Ready | Status::Degraded | Status::Failed | Status::Terminated
    )
}

/// Polls `url` (an environment) from `first`, the create response, until its
/// status settles, and returns the last response. `started` is when the
/// create was sent, which the elapsed times count from.
///
/// # Errors
///
/// `WaitTimedOut` when the status has not settled after `timeout`,
/// `EnvironmentFailed` when it settled as `failed` or `terminated`, and the
/// errors of the API calls.
pub(crate) async fn wait_until_settled(
    client: &ApiClient,
    url: &Url,
    first: ApiResponse,
    started: Instant,
    timeout: Duration,
) -> Result<ApiResponse, CliError> {
    let mut response = first;
    let mut descriptor: Descriptor = decode(url, &response)?;
    let mut shown = descriptor.status;
    let mut shown_at = Instant::now();
    let mut delay = FIRST_POLL_DELAY;
    show(started, &descriptor, false);

    while !is_settled(descriptor.status) {
        if started.elapsed() >= timeout {
            return Err(CliError::WaitTimedOut {
                id: descriptor.environment_id.to_string(),
                status: descriptor.status.to_string(),
                timeout,
            });
        }
        let remaining = timeout.saturating_sub(started.elapsed());
        tokio::time::sleep(delay.min(remaining)).await;
        delay = (delay * 3 / 2).min(MAX_POLL_DELAY);

        response = client.send::<()>(Method::GET, url.clone(), None).await?;
        descriptor = decode(url, &response)?;
        if descriptor.status != shown {
            show(started, &descriptor, false);
            shown = descriptor.status;
            shown_at = Instant::now();
        } else if shown_at.elapsed() >= PROGRESS_INTERVAL {
            show(started, &descriptor, true);
            shown_at = Instant::now();
        }
    }

    if matches!(descriptor.status, Status::Failed | Status::Terminated) {
        return Err(CliError::EnvironmentFailed {
            id: descriptor.environment_id.to_string(),
            status: descriptor.status.to_string(),
            reason: descriptor
                .reason
                .unwrap_or_else(|| "no reason given".to_owned()),
        });
    }
    Ok(response)
}

fn show(started: Instant, descriptor: &Descriptor, unchanged: bool) {
    let elapsed = started.elapsed().as_secs_f64();
    let status = descriptor.status;
    let id = &descriptor.environment_id;
    match (&descriptor.reason, unchanged) {
        (_, true) => eprintln!("{elapsed:>7.1}s  {id}  still {status}"),
        (Some(reason), false) => eprintln!("{elapsed:>7.1}s  {id}  {status}: {reason}"),
        (None, false) => eprintln!("{elapsed:>7.1}s  {id}  {status}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::routing::get;
    use axum::{Json, Router};
    use serde_json::{Value, json};

    use super::*;

    const ID: &str = "env-wait";

    fn body(status: &str) -> Value {
        json!({
            "environmentId": ID,
            "provider": "testing",
            "status": status,
            "reason": (status == "failed").then_some("exited with code 3"),
            "createdAt": "2026-12-01T10:00:00.000Z",
            "updatedAt": "2026-12-01T10:00:00.000Z",
        })
    }

    /// Serves an environment whose status goes through `statuses`, one per
    /// poll, and stays at the last one; returns the client and its URL.
    async fn serve(statuses: &'static [&'static str]) -> (ApiClient, Url, Arc<AtomicUsize>) {
        let polls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&polls);
        let app = Router::new().route(
            "/v1/environments/{id}",
            get(move || {
                let poll = counter.fetch_add(1, Ordering::SeqCst);
                let status = statuses[poll.min(statuses.len() - 1)];
                async move { Json(body(status)) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client =
            ApiClient::new(Url::parse(&format!("http://{address}")).unwrap(), None).unwrap();
        let url = client.url(&["v1", "environments", ID]);
        (client, url, polls)
    }

    fn created(status: &str) -> ApiResponse {
        ApiResponse {
            status: reqwest::StatusCode::CREATED,
            body: body(status).to_string(),
        }
    }

    #[tokio::test]
    async fn wait_polls_until_ready() {
        let (client, url, polls) = serve(&["provisioning", "provisioning", "ready"]).await;

        let response = wait_until_settled(
            &client,
            &url,
            created("provisioning"),
            Instant::now(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

        let descriptor: Descriptor = decode(&url, &response).unwrap();
        assert_eq!(descriptor.status, Status::Ready);
        assert_eq!(polls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn wait_for_ready_create_sends_no_poll() {
        let (client, url, polls) = serve(&["ready"]).await;

        wait_until_settled(
            &client,
            &url,
            created("ready"),
            Instant::now(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

        assert_eq!(polls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn wait_reports_failure_with_reason() {
        let (client, url, _polls) = serve(&["provisioning", "failed"]).await;

        let err = wait_until_settled(
            &client,
            &url,
            created("provisioning"),
            Instant::now(),
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();

        assert!(matches!(err, CliError::EnvironmentFailed { .. }), "{err:?}");
        assert!(err.to_string().contains("exited with code 3"), "{err}");
    }

    #[tokio::test]
    async fn wait_times_out_naming_the_status() {
        let (client, url, _polls) = serve(&["provisioning"]).await;

        let err = wait_until_settled(
            &client,
            &url,
            created("provisioning"),
            Instant::now(),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();

        assert!(matches!(err, CliError::WaitTimedOut { .. }), "{err:?}");
        assert!(err.to_string().contains("still provisioning"), "{err}");
    }

    #[test]
    fn settled_statuses_end_the_wait() {
        let settled = [
            Status::Ready,
            Status::Degraded,
            Status::Failed,
            Status::Terminated,
        ];
        for status in settled {
            assert!(is_settled(status), "{status}");
        }
        for status in [Status::Pending, Status::Provisioning, Status::Terminating] {
            assert!(!is_settled(status), "{status}");
        }
    }
}
