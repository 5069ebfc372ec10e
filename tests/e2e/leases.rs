//! Leases through the HTTP API and the CLI, against the real engine: expiry
//! removes the container and records `lease-expired`, renewal moves the
//! deadline, and renewal is rejected once the environment has ended.

use std::time::{Duration, Instant};

use envhost_e2e::{CRASHABLE_MAX_TTL_MS, CrashableHost, containers_of_environment};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long past its deadline an expired environment may take to read
/// `terminated`. Collection itself takes milliseconds; the rest is headroom
/// for a loaded machine.
const COLLECTION_TIMEOUT: Duration = Duration::from_secs(15);

fn environment_id(descriptor: &Value) -> String {
    descriptor["environmentId"]
        .as_str()
        .unwrap_or_else(|| panic!("descriptor has no environmentId: {descriptor}"))
        .to_owned()
}

fn timestamp(value: &Value, field: &str) -> chrono::DateTime<chrono::Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` is not a string: {value}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|err| panic!("`{field}` `{text}` is not RFC 3339: {err}"))
        .to_utc()
}

#[tokio::test]
async fn expired_lease_removes_container() {
    let host = CrashableHost::start().await;
    let created = host.create(&json!({ "ttlMs": 2000 })).await;
    let id = environment_id(&created);
    assert_eq!(
        containers_of_environment(&id).len(),
        1,
        "no container right after create"
    );

    let ended = host
        .wait_for_listed_status(
            &id,
            "terminated",
            Duration::from_secs(2) + COLLECTION_TIMEOUT,
        )
        .await;

    assert_eq!(ended["reason"], "lease-expired", "{ended}");
    assert_eq!(
        containers_of_environment(&id),
        Vec::<String>::new(),
        "container left behind after the lease expired"
    );
    let expires_at = timestamp(&ended["lease"]["expiresAt"], "lease.expiresAt");
    let updated_at = timestamp(&ended["updatedAt"], "updatedAt");
    assert!(
        updated_at >= expires_at,
        "terminated at {updated_at}, before the lease expired at {expires_at}"
    );
}

/// A caller that polls an environment while its lease is collected never sees
/// `failed` on the way to `terminated`. The container exits while the adapter
/// stops it, and that exit is part of the collection, not a failure.
// NOTE: this fails against the current host. `GET` refreshes a `terminating`
// record from the adapter without the environment's lock, so it records the
// exit as `failed` until the collector writes `terminated`, and a refresh
// that writes last can leave `failed` for good.
#[tokio::test]
async fn polling_during_collection_never_reports_failed() {
    let host = CrashableHost::start().await;
    let created = host.create(&json!({ "ttlMs": 2000 })).await;
    let id = environment_id(&created);

    let deadline = Instant::now() + Duration::from_secs(2) + COLLECTION_TIMEOUT;
    let mut statuses_seen: Vec<String> = Vec::new();
    while Instant::now() < deadline {
        let response = host.get(&format!("/v1/environments/{id}")).await;
        let status = response.body["status"].as_str().unwrap_or_default();
        if statuses_seen.last().map(String::as_str) != Some(status) {
            statuses_seen.push(status.to_owned());
        }
        if status == "terminated" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert!(
        !statuses_seen.iter().any(|status| status == "failed"),
        "polling saw `failed` during collection; statuses seen: {statuses_seen:?}"
    );
    let ended = host.get(&format!("/v1/environments/{id}")).await;
    assert_eq!(ended.body["status"], "terminated", "{}", ended.text);
    assert_eq!(ended.body["reason"], "lease-expired", "{}", ended.text);
}

#[tokio::test]
async fn renewed_lease_outlives_first_deadline() {
    let host = CrashableHost::start().await;
    let created = host.create(&json!({ "ttlMs": 3000 })).await;
    let id = environment_id(&created);
    let first_deadline = timestamp(&created["lease"]["expiresAt"], "lease.expiresAt");

    let renewed = host
        .put(
            &format!("/v1/environments/{id}/lease"),
            &json!({ "ttlMs": 60_000 }),
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    let new_deadline = timestamp(&renewed.body["expiresAt"], "expiresAt");
    assert!(
        new_deadline > first_deadline + chrono::Duration::seconds(50),
        "renewal to 60 s moved the deadline from {first_deadline} only to {new_deadline}"
    );

    // Wait past the first deadline with room for a collection to finish, so
    // that a renewal the collector ignored would show as `terminated`.
    let first_deadline_in = (first_deadline - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(first_deadline_in + Duration::from_secs(3)).await;

    let after = host.get(&format!("/v1/environments/{id}")).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    assert_eq!(after.body["status"], "ready", "{}", after.text);
    assert_eq!(
        timestamp(&after.body["lease"]["expiresAt"], "lease.expiresAt"),
        new_deadline,
        "the stored deadline is not the renewed one"
    );
    assert_eq!(
        containers_of_environment(&id).len(),
        1,
        "the renewed environment lost its container"
    );
}

#[tokio::test]
async fn renew_after_expiry_is_conflict() {
    let host = CrashableHost::start().await;
    let created = host.create(&json!({ "ttlMs": 1000 })).await;
    let id = environment_id(&created);
    host.wait_for_listed_status(
        &id,
        "terminated",
        Duration::from_secs(1) + COLLECTION_TIMEOUT,
    )
    .await;

    let renewed = host
        .put(
            &format!("/v1/environments/{id}/lease"),
            &json!({ "ttlMs": 60_000 }),
        )
        .await;

    assert_eq!(renewed.status, StatusCode::CONFLICT, "{}", renewed.text);
    assert_eq!(renewed.body["code"], "conflict", "{}", renewed.text);
    let detail = renewed.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&id),
        "detail does not name the id: {detail}"
    );
    assert!(
        detail.contains("terminated"),
        "detail does not say the environment ended: {detail}"
    );
}

#[tokio::test]
async fn renew_after_destroy_is_conflict() {
    let host = CrashableHost::start().await;
    let created = host.create(&json!({ "ttlMs": 600_000 })).await;
    let id = environment_id(&created);
    let destroyed = host.delete(&format!("/v1/environments/{id}")).await;
    assert_eq!(destroyed.status, StatusCode::OK, "{}", destroyed.text);

    let renewed = host
        .put(
            &format!("/v1/environments/{id}/lease"),
            &json!({ "ttlMs": 60_000 }),
        )
        .await;

    assert_eq!(renewed.status, StatusCode::CONFLICT, "{}", renewed.text);
    assert_eq!(renewed.body["code"], "conflict", "{}", renewed.text);
    let detail = renewed.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("terminated"),
        "detail does not say the environment ended: {detail}"
    );
    assert!(
        detail.contains("can not be renewed"),
        "detail does not say the lease can not be renewed: {detail}"
    );
    let after = host.get(&format!("/v1/environments/{id}")).await;
    assert_eq!(after.body["status"], "terminated", "{}", after.text);
}

#[tokio::test]
async fn renew_beyond_max_ttl_is_rejected() {
    let host = CrashableHost::start().await;
    let created = host.create(&json!({ "ttlMs": 600_000 })).await;
    let id = environment_id(&created);

    let renewed = host
        .put(
            &format!("/v1/environments/{id}/lease"),
            &json!({ "ttlMs": CRASHABLE_MAX_TTL_MS + 1 }),
        )
        .await;

    assert_eq!(renewed.status, StatusCode::BAD_REQUEST, "{}", renewed.text);
    assert_eq!(renewed.body["code"], "invalid-request", "{}", renewed.text);
    let detail = renewed.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&CRASHABLE_MAX_TTL_MS.to_string()),
        "detail does not name the maximum of {CRASHABLE_MAX_TTL_MS} ms: {detail}"
    );
    let after = host.get(&format!("/v1/environments/{id}")).await;
    assert_eq!(
        after.body["lease"]["expiresAt"], created["lease"]["expiresAt"],
        "a rejected renewal changed the lease"
    );
}

#[tokio::test]
async fn renew_unknown_id_is_not_found() {
    let host = CrashableHost::start().await;

    let renewed = host
        .put(
            "/v1/environments/never-created/lease",
            &json!({ "ttlMs": 60_000 }),
        )
        .await;

    assert_eq!(renewed.status, StatusCode::NOT_FOUND, "{}", renewed.text);
    assert_eq!(renewed.body["code"], "not-found", "{}", renewed.text);
    let detail = renewed.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("never-created"),
        "detail does not name the id: {detail}"
    );
}

#[tokio::test]
async fn cli_renew_moves_deadline() {
    let host = CrashableHost::start().await;
    let created = host.create(&json!({ "ttlMs": 60_000 })).await;
    let id = environment_id(&created);

    let before = chrono::Utc::now();
    let output = host.run_cli(&["env", "renew", &id, "--ttl", "30m"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`envhost env renew` failed ({}): {stderr}",
        output.status
    );
    assert!(
        stdout.contains(&id),
        "output does not name the id: {stdout}"
    );

    let after = host.get(&format!("/v1/environments/{id}")).await;
    let deadline = timestamp(&after.body["lease"]["expiresAt"], "lease.expiresAt");
    let thirty_minutes = chrono::Duration::minutes(30);
    assert!(
        deadline >= before + thirty_minutes,
        "deadline {deadline} is earlier than 30 minutes after {before}"
    );
    assert!(
        deadline <= chrono::Utc::now() + thirty_minutes,
        "deadline {deadline} is later than 30 minutes from now"
    );

    let missing = host.run_cli(&["env", "renew", "never-created", "--ttl", "30m"]);
    assert!(
        !missing.status.success(),
        "`envhost env renew` of an unknown id succeeded"
    );
}
