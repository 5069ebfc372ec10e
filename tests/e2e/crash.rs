//! Durable state and recovery against the real engine.
//!
//! SIGKILL at random moments loses no acknowledged change and leaks no
//! container. Leases that end while the host is down are collected at the next
//! start. Two hosts on one engine never remove each other's containers. A host
//! whose adapter file is gone still removes the containers of expired leases
//! by label.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use envhost_e2e::{
    CrashableHost, ENVIRONMENT_LABEL, HOST_LABEL, container_exists, containers_of_environment,
    environments_of_host_containers, host_label_of_environment, run_labelled_container, unique_id,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// How long past its deadline an expired environment may take to read
/// `terminated`, with headroom for a loaded machine.
const COLLECTION_TIMEOUT: Duration = Duration::from_secs(15);

/// Age a container of this host without a record must reach before the host
/// removes it at start-up: the host's creation grace of 60 s, plus margin.
const ORPHAN_AGE: Duration = Duration::from_secs(66);

/// Rounds of the SIGKILL test; each ends with a kill and a restart.
const KILL_ROUNDS: u64 = 20;

/// Clients sending creates and destroys at once in each round.
const CLIENTS_IN_FLIGHT: u64 = 4;

/// Statuses of an environment that has not ended.
const LIVE_STATUSES: [&str; 5] = [
    "pending",
    "provisioning",
    "ready",
    "degraded",
    "terminating",
];

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

/// Time from now until `deadline`, zero when it has passed.
fn until(deadline: chrono::DateTime<chrono::Utc>) -> Duration {
    (deadline - chrono::Utc::now()).to_std().unwrap_or_default()
}

/// Small xorshift generator, so that a failing run can be repeated from the
/// seed it prints (`ENVHOST_CRASH_SEED`).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Requests the clients of the SIGKILL test sent, and which of them the host
/// acknowledged, over all rounds.
#[derive(Default)]
struct Acknowledged {
    /// Environments whose create was sent, acknowledged or not.
    sent_creates: BTreeSet<String>,
    /// Environments whose create returned 2xx.
    creates: BTreeSet<String>,
    /// Environments whose destroy returned 2xx.
    destroys: BTreeSet<String>,
    /// Acknowledged creates without a destroy sent yet.
    live: Vec<String>,
    /// Requests that failed without a response, because the host died.
    lost_requests: usize,
}

/// Sends creates and destroys one after another until a request gets no
/// response, recording what was acknowledged.
async fn run_client(
    client: reqwest::Client,
    base_url: String,
    id_prefix: String,
    mut random: Random,
    acknowledged: Arc<Mutex<Acknowledged>>,
) {
    for sequence in 0.. {
        let create_id = format!("{id_prefix}-{sequence}");
        let destroy_target = {
            let mut acknowledged = acknowledged
                .lock()
                .expect("acknowledged requests lock poisoned");
            let live = acknowledged.live.len() as u64;
            if live > 0 && random.below(10) < 4 {
                let index = random.below(live) as usize;
                Some(acknowledged.live.swap_remove(index))
            } else {
                None
            }
        };

        let outcome = match &destroy_target {
            Some(id) => {
                client
                    .delete(format!("{base_url}/v1/environments/{id}"))
                    .send()
                    .await
            }
            None => {
                acknowledged
                    .lock()
                    .expect("acknowledged requests lock poisoned")
                    .sent_creates
                    .insert(create_id.clone());
                client
                    .post(format!("{base_url}/v1/environments"))
                    .json(&json!({ "environmentId": create_id, "ttlMs": 600_000 }))
                    .send()
                    .await
            }
        };

        let mut acknowledged = acknowledged
            .lock()
            .expect("acknowledged requests lock poisoned");
        let response = match outcome {
            Ok(response) => response,
            Err(_) => {
                acknowledged.lost_requests += 1;
                return;
            }
        };
        if !response.status().is_success() {
            // A rejected request was not acknowledged, and the final checks
            // cover whatever it left behind.
            let request = match &destroy_target {
                Some(id) => format!("destroy of `{id}`"),
                None => format!("create of `{create_id}`"),
            };
            eprintln!("crash test: {request} returned {}", response.status());
            continue;
        }
        match destroy_target {
            Some(id) => {
                acknowledged.destroys.insert(id);
            }
            None => {
                acknowledged.creates.insert(create_id.clone());
                acknowledged.live.push(create_id);
            }
        }
    }
}

#[tokio::test]
async fn sigkill_loses_nothing_acknowledged() {
    let started = Instant::now();
    let seed = std::env::var("ENVHOST_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock before 1970")
                .as_nanos();
            (nanos as u64) | 1
        });
    eprintln!("crash test: seed {seed} (set ENVHOST_CRASH_SEED={seed} to repeat)");
    let mut random = Random(seed);

    let mut host = CrashableHost::start().await;
    let prefix = unique_id("crash");
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("failed to build the HTTP client");

    for round in 0..KILL_ROUNDS {
        let mut clients = JoinSet::new();
        for index in 0..CLIENTS_IN_FLIGHT {
            clients.spawn(run_client(
                client.clone(),
                host.base_url().to_owned(),
                format!("{prefix}-{round}-{index}"),
                Random(random.next() | 1),
                Arc::clone(&acknowledged),
            ));
        }

        tokio::time::sleep(Duration::from_millis(50 + random.below(1500))).await;
        host.kill();
        let finished = tokio::time::timeout(Duration::from_secs(30), clients.join_all()).await;
        assert!(
            finished.is_ok(),
            "round {round}: clients still running 30 s after the kill"
        );
        host.start_again().await;
    }

    let acknowledged = Arc::try_unwrap(acknowledged)
        .ok()
        .expect("clients finished")
        .into_inner()
        .expect("acknowledged requests lock poisoned");
    eprintln!(
        "crash test: {} creates and {} destroys acknowledged, {} requests lost to kills, \
         {KILL_ROUNDS} rounds in {:?}",
        acknowledged.creates.len(),
        acknowledged.destroys.len(),
        acknowledged.lost_requests,
        started.elapsed()
    );
    assert!(
        !acknowledged.creates.is_empty(),
        "no create was acknowledged in {KILL_ROUNDS} rounds"
    );

    for id in &acknowledged.creates {
        let response = host.get(&format!("/v1/environments/{id}")).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "acknowledged create `{id}` has no record: {}",
            response.text
        );
        let status = response.body["status"].as_str().unwrap_or_default();
        let has_reason = response.body["reason"]
            .as_str()
            .is_some_and(|reason| !reason.is_empty());
        assert!(
            LIVE_STATUSES.contains(&status) || has_reason,
            "acknowledged create `{id}` ended without a reason: {}",
            response.text
        );
    }

    // A create that got no response may or may not have happened, but what
    // it left must be a record that is live or has the reason it ended.
    for id in acknowledged.sent_creates.difference(&acknowledged.creates) {
        let response = host.get(&format!("/v1/environments/{id}")).await;
        if response.status == StatusCode::NOT_FOUND {
            assert_eq!(
                containers_of_environment(id),
                Vec::<String>::new(),
                "create `{id}` has no record but left a container"
            );
            continue;
        }
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        let status = response.body["status"].as_str().unwrap_or_default();
        let has_reason = response.body["reason"]
            .as_str()
            .is_some_and(|reason| !reason.is_empty());
        assert!(
            LIVE_STATUSES.contains(&status) || has_reason,
            "unacknowledged create `{id}` ended without a reason: {}",
            response.text
        );
    }

    for id in &acknowledged.destroys {
        assert_eq!(
            containers_of_environment(id),
            Vec::<String>::new(),
            "acknowledged destroy of `{id}` left a container"
        );
        let response = host.get(&format!("/v1/environments/{id}")).await;
        assert_eq!(
            response.body["status"], "terminated",
            "acknowledged destroy of `{id}`: {}",
            response.text
        );
    }

    let host_id = host
        .host_id()
        .unwrap_or_else(|| host.fail("no environment of this host has a container"));
    for environment in environments_of_host_containers(&host_id) {
        assert!(
            !environment.is_empty(),
            "a container of host `{host_id}` has no `{ENVIRONMENT_LABEL}` label"
        );
        let response = host.get(&format!("/v1/environments/{environment}")).await;
        let status = response.body["status"].as_str().unwrap_or_default();
        assert!(
            response.status == StatusCode::OK && LIVE_STATUSES.contains(&status),
            "container of environment `{environment}` has no live record: {} {}",
            response.status,
            response.text
        );
    }
}

#[tokio::test]
async fn lease_ending_while_down_is_collected_at_start() {
    let mut host = CrashableHost::start().await;
    let created = host.create(&json!({ "ttlMs": 3000 })).await;
    let id = environment_id(&created);
    let deadline = timestamp(&created["lease"]["expiresAt"], "lease.expiresAt");

    host.kill();
    tokio::time::sleep(until(deadline) + Duration::from_secs(1)).await;
    assert_eq!(
        containers_of_environment(&id).len(),
        1,
        "the container went away while the host was down"
    );

    host.start_again().await;
    let ended = host
        .wait_for_listed_status(&id, "terminated", COLLECTION_TIMEOUT)
        .await;

    assert_eq!(ended["reason"], "lease-expired", "{ended}");
    assert_eq!(
        containers_of_environment(&id),
        Vec::<String>::new(),
        "container left behind after the lease expired while the host was down"
    );
}

#[tokio::test]
async fn restart_keeps_host_id() {
    let mut host = CrashableHost::start().await;
    let before = environment_id(&host.create(&json!({ "ttlMs": 600_000 })).await);
    let id_before = host_label_of_environment(&before).expect("first container has no host id");

    host.kill();
    host.start_again().await;
    let after = environment_id(&host.create(&json!({ "ttlMs": 600_000 })).await);
    let id_after = host_label_of_environment(&after).expect("second container has no host id");

    assert_eq!(id_before, id_after, "the host id changed across a restart");
    let survivor = host.get(&format!("/v1/environments/{before}")).await;
    assert_eq!(survivor.body["status"], "ready", "{}", survivor.text);
    assert_eq!(
        containers_of_environment(&before).len(),
        1,
        "the restart removed a live environment's container"
    );
}

#[tokio::test]
async fn removed_adapter_still_ends_leases() {
    let mut host = CrashableHost::start().await;
    let expiring = environment_id(&host.create(&json!({ "ttlMs": 6000 })).await);
    let destroyed = environment_id(&host.create(&json!({ "ttlMs": 600_000 })).await);
    let created = host.get(&format!("/v1/environments/{expiring}")).await;
    let deadline = timestamp(&created.body["lease"]["expiresAt"], "lease.expiresAt");

    host.kill();
    let adapter = host.dir().join("adapters").join("docker.wasm");
    std::fs::remove_file(&adapter)
        .unwrap_or_else(|err| panic!("failed to remove `{}`: {err}", adapter.display()));
    host.start_again().await;

    let adapters = host.get("/v1/adapters").await;
    assert!(
        !adapters.text.contains("\"docker\""),
        "the removed adapter is still loaded: {}",
        adapters.text
    );

    let ended = host
        .wait_for_listed_status(
            &expiring,
            "terminated",
            until(deadline) + COLLECTION_TIMEOUT,
        )
        .await;
    let reason = ended["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("lease-expired"),
        "reason does not say the lease expired: {reason}"
    );
    assert!(
        reason.contains("not loaded"),
        "reason does not say the adapter was missing: {reason}"
    );
    assert!(
        reason.contains("by label"),
        "reason does not say the host removed the containers: {reason}"
    );
    assert_eq!(
        containers_of_environment(&expiring),
        Vec::<String>::new(),
        "the expired environment's container was not removed by label"
    );

    let response = host.delete(&format!("/v1/environments/{destroyed}")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.body["status"], "terminated", "{}", response.text);
    assert_eq!(
        containers_of_environment(&destroyed),
        Vec::<String>::new(),
        "destroy without the adapter left a container"
    );
}

#[tokio::test]
async fn two_hosts_keep_to_their_own_containers() {
    let mut first = CrashableHost::start().await;
    let mut second = CrashableHost::start().await;

    let mut long_lived = Vec::new();
    let mut expiring = Vec::new();
    let mut destroyed = Vec::new();
    for host in [&first, &second] {
        long_lived.push(environment_id(
            &host.create(&json!({ "ttlMs": 600_000 })).await,
        ));
        expiring.push(environment_id(
            &host.create(&json!({ "ttlMs": 2000 })).await,
        ));
        destroyed.push(environment_id(
            &host.create(&json!({ "ttlMs": 600_000 })).await,
        ));
    }
    let first_id = first.host_id().expect("the first host's id is not known");
    let second_id = second.host_id().expect("the second host's id is not known");
    assert_ne!(first_id, second_id, "two state files gave the same host id");

    // Containers that look like creates that died half way: this host's labels,
    // no record. Each host must remove its own at start-up, never the other's.
    let orphans_created = Instant::now();
    let mut orphans = Vec::new();
    for host_id in [&first_id, &second_id] {
        let environment = unique_id("orphan");
        let name = format!("envhost-e2e-{environment}");
        run_labelled_container(
            &name,
            &[
                ("envhost.managed", "true"),
                (HOST_LABEL, host_id),
                (ENVIRONMENT_LABEL, &environment),
                ("envhost.adapter", "docker"),
            ],
        );
        orphans.push(name);
    }

    for (host, id) in [(&first, &destroyed[0]), (&second, &destroyed[1])] {
        let response = host.delete(&format!("/v1/environments/{id}")).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    }
    for (host, id) in [(&first, &expiring[0]), (&second, &expiring[1])] {
        host.wait_for_listed_status(id, "terminated", COLLECTION_TIMEOUT)
            .await;
    }
    for id in &long_lived {
        assert_eq!(
            containers_of_environment(id).len(),
            1,
            "destroys and expiries removed the container of `{id}`"
        );
    }
    for name in &orphans {
        assert!(
            container_exists(name),
            "destroys and expiries removed `{name}`"
        );
    }
    for id in expiring.iter().chain(&destroyed) {
        assert_eq!(
            containers_of_environment(id),
            Vec::<String>::new(),
            "`{id}` ended but its container is still there"
        );
    }

    tokio::time::sleep(ORPHAN_AGE.saturating_sub(orphans_created.elapsed())).await;
    first.kill();
    first.start_again().await;
    assert!(
        !container_exists(&orphans[0]),
        "the first host did not remove its own orphan at start-up"
    );
    assert!(
        container_exists(&orphans[1]),
        "the first host removed the second host's orphan at start-up"
    );
    assert_eq!(
        containers_of_environment(&long_lived[1]).len(),
        1,
        "the first host's recovery removed the second host's environment"
    );

    second.kill();
    second.start_again().await;
    assert!(
        !container_exists(&orphans[1]),
        "the second host did not remove its own orphan at start-up"
    );
    assert_eq!(
        containers_of_environment(&long_lived[0]).len(),
        1,
        "the second host's recovery removed the first host's environment"
    );
    for (host, id) in [(&first, &long_lived[0]), (&second, &long_lived[1])] {
        let response = host.get(&format!("/v1/environments/{id}")).await;
        assert_eq!(response.body["status"], "ready", "{}", response.text);
    }
}
