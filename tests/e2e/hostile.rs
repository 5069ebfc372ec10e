//! A hostile adapter against a real host and engine: every attack is refused
//! with its expected error, nothing is created or touched, and the host keeps
//! serving requests. The adapter is `guests/testing/hostile`; the request metadata
//! picks the attack.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use envhost_e2e::{Host, containers_of_environment, hostile_adapter, inspect_container, unique_id};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Deadline of one adapter call in [`CONFIG`].
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Time a deadline may overrun before the test fails: the epoch tick, the
/// cleanup `destroy` call after the failed create and the HTTP round trip.
const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// The harness's default config with a short call deadline and a small guest
/// memory, so that the loop and the memory bomb end quickly.
const CONFIG: &str = r#"
[server]
listen = "{listen}"

[state]
path = "state/envhost.db"

[adapters]
dir = "adapters"
default = "docker"

[adapters.docker.options]
defaultImage = "envhost/busybox:test"
stopGraceSeconds = 1

[leases]
default_ttl = "10m"

[policy]
allowed_images = ["envhost/*"]
workspace_roots = ["workspaces"]

[limits]
call_timeout = "2s"
guest_memory = "64Mi"
"#;

async fn start_host(config: &str) -> Host {
    let hostile = hostile_adapter();
    Host::start_with_adapters(config, &[("hostile.wasm", hostile.as_path())]).await
}

/// Sends a create to the hostile adapter with the given metadata.
async fn attack(host: &Host, id: &str, metadata: Value) -> envhost_e2e::Response {
    let body = json!({
        "provider": "hostile",
        "environmentId": id,
        "metadata": metadata,
    });
    host.post("/v1/environments", &body).await
}

/// Checks that the attack on `id` left nothing behind and that `/healthz`
/// still returns 200.
async fn assert_nothing_changed(host: &Host, id: &str) {
    assert_eq!(
        containers_of_environment(id),
        Vec::<String>::new(),
        "a container exists for the refused environment `{id}`"
    );
    let status = host.get(&format!("/v1/environments/{id}")).await;
    assert_eq!(
        status.status,
        StatusCode::NOT_FOUND,
        "the refused environment `{id}` has a record: {}",
        status.text
    );
    assert_healthy(host).await;
}

async fn assert_healthy(host: &Host) {
    let health = host.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK, "/healthz: {}", health.text);
}

/// Returns the `/v1/adapters` entry of `name`.
async fn adapter_summary(host: &Host, name: &str) -> Value {
    let adapters = host.get("/v1/adapters").await;
    assert_eq!(adapters.status, StatusCode::OK, "{}", adapters.text);
    let list = adapters.body.as_array().cloned().unwrap_or_default();
    list.into_iter()
        .find(|adapter| adapter["name"] == name)
        .unwrap_or_else(|| panic!("no adapter `{name}` in {}", adapters.text))
}

/// Runs `docker` with `args` and returns its trimmed stdout.
///
/// # Panics
///
/// Panics with the engine's error when the command fails.
fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("failed to run `docker`");
    assert!(
        output.status.success(),
        "`docker {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A container the test creates outside envhost; removed on drop.
struct UnmanagedContainer {
    id: String,
    name: String,
}

impl UnmanagedContainer {
    fn start() -> Self {
        let name = unique_id("envhost-sec-unmanaged");
        let id = docker(&[
            "run",
            "--detach",
            "--name",
            &name,
            "--label",
            "envhost-security-test=true",
            envhost_e2e::TEST_IMAGE,
        ]);
        Self { id, name }
    }
}

impl Drop for UnmanagedContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "--force", &self.id])
            .stdin(Stdio::null())
            .output();
    }
}

fn is_running(container: &str) -> bool {
    inspect_container(container)["State"]["Running"] == true
}

#[tokio::test]
async fn policy_denies_every_container_attack() {
    let host = start_host(CONFIG).await;
    let outside = host.dir().join("outside");
    std::fs::create_dir_all(&outside).expect("failed to create a folder outside the root");
    let link = host.dir().join("workspaces").join("escape");
    std::os::unix::fs::symlink(&outside, &link).expect("failed to create the escaping symlink");
    let link = link.display().to_string();

    let cases: [(&str, Value, &str); 9] = [
        (
            "privileged",
            json!({"attack": "privileged"}),
            "`privileged`",
        ),
        (
            "host-network",
            json!({"attack": "host-network"}),
            "`network-mode`",
        ),
        ("cap-add", json!({"attack": "cap-add"}), "`cap-add`"),
        ("device", json!({"attack": "device"}), "`devices`"),
        ("mount-root", json!({"attack": "mount-root"}), "`workspace`"),
        (
            "mount-docker-socket",
            json!({"attack": "mount-docker-socket"}),
            "`workspace`",
        ),
        (
            "mount-symlink",
            json!({"attack": "mount-source", "source": link}),
            "`workspace`",
        ),
        (
            "envhost-label",
            json!({"attack": "envhost-label"}),
            "`labels`",
        ),
        (
            "publish-all-interfaces",
            json!({"attack": "publish-all-interfaces"}),
            "`publish-address`",
        ),
    ];
    for (name, metadata, rule) in cases {
        let id = unique_id(&format!("sec-{name}"));
        let response = attack(&host, &id, metadata).await;
        let detail = response.expect_problem(StatusCode::FORBIDDEN, "denied");
        assert!(
            detail.contains(&format!("denied by policy rule {rule}")),
            "attack `{name}`: detail does not name rule {rule}: {detail}"
        );
        assert_nothing_changed(&host, &id).await;
    }

    let summary = adapter_summary(&host, "hostile").await;
    assert_eq!(
        summary["health"], "healthy",
        "denials are answers, not failures: {summary}"
    );
}

#[tokio::test]
async fn foreign_containers_are_untouchable() {
    let host = start_host(CONFIG).await;
    let victim = host
        .create(&json!({"command": ["sleep", "600"], "ttlMs": 600_000}))
        .await;
    let victim_id = victim["environmentId"].as_str().unwrap().to_owned();
    let victim_containers = containers_of_environment(&victim_id);
    assert_eq!(victim_containers.len(), 1, "{victim_containers:?}");
    let victim_container = victim_containers[0].clone();
    let victim_name = format!("envhost-{victim_id}");
    let unmanaged = UnmanagedContainer::start();

    let targets = [
        (
            "docker adapter's container by id",
            victim_container.as_str(),
        ),
        ("docker adapter's container by name", victim_name.as_str()),
        ("unmanaged container by id", unmanaged.id.as_str()),
        ("unmanaged container by name", unmanaged.name.as_str()),
    ];
    for (target_name, target) in targets {
        for action in ["stop-foreign", "remove-foreign", "inspect-foreign"] {
            let id = unique_id("sec-foreign");
            let response = attack(&host, &id, json!({"attack": action, "target": target})).await;
            let detail = response.expect_problem(StatusCode::FORBIDDEN, "denied");
            assert!(
                detail.contains("denied by policy rule `ownership`"),
                "{action} of the {target_name}: {detail}"
            );
            assert_nothing_changed(&host, &id).await;
        }
    }

    assert!(
        is_running(&victim_container),
        "the docker adapter's container was stopped"
    );
    assert!(
        is_running(&unmanaged.id),
        "the unmanaged container was stopped"
    );
    let victim_status = host.get(&format!("/v1/environments/{victim_id}")).await;
    assert_eq!(
        victim_status.body["status"], "ready",
        "{}",
        victim_status.text
    );
}

#[tokio::test]
async fn endless_loop_ends_at_the_deadline() {
    let host = start_host(CONFIG).await;
    let id = unique_id("sec-loop");

    let started = Instant::now();
    let response = attack(&host, &id, json!({"attack": "loop"})).await;
    let elapsed = started.elapsed();

    let detail = response.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(
        detail.contains("adapter `hostile` did not finish `create` within 2s"),
        "{detail}"
    );
    assert!(
        elapsed >= CALL_TIMEOUT,
        "the loop returned after {elapsed:?}, before the deadline"
    );
    assert!(
        elapsed < CALL_TIMEOUT + DEADLINE_MARGIN,
        "the loop returned after {elapsed:?}, later than the deadline plus {DEADLINE_MARGIN:?}"
    );
    assert_nothing_changed(&host, &id).await;
}

#[tokio::test]
async fn memory_bomb_and_panic_fail_only_their_call() {
    let host = start_host(CONFIG).await;

    let bomb = unique_id("sec-bomb");
    let response = attack(&host, &bomb, json!({"attack": "memory-bomb"})).await;
    let detail = response.expect_problem(StatusCode::BAD_GATEWAY, "adapter-failed");
    assert!(
        detail.contains("`hostile`"),
        "detail does not name the adapter: {detail}"
    );
    assert!(
        detail.contains("`create`"),
        "detail does not name the function: {detail}"
    );
    assert_nothing_changed(&host, &bomb).await;

    let panic = unique_id("sec-panic");
    let response = attack(&host, &panic, json!({"attack": "panic"})).await;
    let detail = response.expect_problem(StatusCode::BAD_GATEWAY, "adapter-failed");
    assert!(
        detail.contains("hostile adapter panics on purpose"),
        "detail lacks the guest's panic message: {detail}"
    );
    assert_nothing_changed(&host, &panic).await;

    let log = host.log();
    assert!(
        log.contains("hostile adapter panics on purpose"),
        "the host log lacks the guest's panic message"
    );
    assert!(
        log.contains("adapter trapped"),
        "the host log lacks the trap"
    );

    // The next call gets a fresh instance and works.
    let calm = host
        .create(&json!({"provider": "hostile", "environmentId": unique_id("sec-calm")}))
        .await;
    assert_eq!(calm["status"], "ready", "{calm}");
}

#[tokio::test]
async fn repeated_traps_mark_adapter_unhealthy() {
    let host = start_host(CONFIG).await;

    for _ in 0..5 {
        let id = unique_id("sec-trap");
        let response = attack(&host, &id, json!({"attack": "panic"})).await;
        response.expect_problem(StatusCode::BAD_GATEWAY, "adapter-failed");
    }

    let id = unique_id("sec-refused");
    let response = attack(&host, &id, json!({})).await;
    let detail = response.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(
        detail.contains("adapter `hostile` is unhealthy after 5 consecutive failed calls"),
        "{detail}"
    );
    assert!(
        detail.contains("hostile adapter panics on purpose"),
        "the refusal lacks the last failure: {detail}"
    );
    assert_nothing_changed(&host, &id).await;

    let hostile = adapter_summary(&host, "hostile").await;
    assert_eq!(hostile["health"], "unhealthy", "{hostile}");
    let docker = adapter_summary(&host, "docker").await;
    assert_eq!(docker["health"], "healthy", "{docker}");

    // A new version of the file (here: the same code with a custom section
    // appended) is a reload, which starts with a clean count.
    let digest_before = hostile["digest"].clone();
    reload_with_custom_section(&host.dir().join("adapters"), "hostile.wasm");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let summary = adapter_summary(&host, "hostile").await;
        if summary["digest"] != digest_before {
            assert_eq!(summary["health"], "healthy", "{summary}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hostile adapter was not reloaded within 30s: {summary}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let calm = host
        .create(&json!({"provider": "hostile", "environmentId": unique_id("sec-calm")}))
        .await;
    assert_eq!(calm["status"], "ready", "{calm}");
}

/// Rewrites `dir/file_name` with a custom section appended, through a hidden
/// temporary file and a rename, as a deploy tool would.
fn reload_with_custom_section(dir: &Path, file_name: &str) {
    let path = dir.join(file_name);
    let mut bytes = std::fs::read(&path).expect("failed to read the adapter file");
    // Section id 0 (custom), 5 bytes of contents: name length 4, then `note`.
    bytes.extend_from_slice(&[0x00, 0x05, 0x04, b'n', b'o', b't', b'e']);
    let partial = dir.join(format!(".{file_name}.partial"));
    std::fs::write(&partial, bytes).expect("failed to write the new adapter file");
    std::fs::rename(&partial, &path).expect("failed to rename the new adapter file");
}

#[tokio::test]
async fn log_flood_is_capped() {
    let host = start_host(CONFIG).await;
    let id = unique_id("sec-flood");

    let created = host
        .create(&json!({
            "provider": "hostile",
            "environmentId": id,
            "metadata": {"attack": "log-flood"},
        }))
        .await;
    assert_eq!(created["status"], "ready", "{created}");

    let log = host.log();
    let log_lines = log.matches("flood line").count();
    assert!(
        log_lines <= 200,
        "{log_lines} guest log lines reached the host log, more than the per-call cap"
    );
    assert!(log_lines > 0, "no guest log line reached the host log");
    assert!(
        log.contains("adapter log lines dropped by the rate limit"),
        "the host log does not report the dropped lines"
    );
    // The adapter printed 20 000 lines of 100 bytes (2 MB); the host keeps
    // 16 KiB of output per call.
    let stdout_lines = log.matches("flood stdout line").count();
    assert!(
        stdout_lines <= 200,
        "{stdout_lines} lines of guest stdout reached the host log"
    );
    assert!(
        log.contains("adapter output truncated"),
        "the host log does not report the truncated stdout"
    );
    assert_healthy(&host).await;
}

#[tokio::test]
async fn ungranted_import_fails_the_load() {
    let config = format!("{CONFIG}\n[adapters.hostile]\ngrants = [\"log\"]\n");
    let host = start_host(&config).await;

    let hostile = adapter_summary(&host, "hostile").await;
    assert_eq!(hostile["health"], "failed", "{hostile}");
    let error = hostile["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("lacks the grant `container`"),
        "the load error does not name the missing grant: {error}"
    );
    assert!(
        error.contains("envhost:provider/container@0.2.0"),
        "the load error does not name the import: {error}"
    );

    let id = unique_id("sec-ungranted");
    let response = attack(&host, &id, json!({})).await;
    response.expect_problem(StatusCode::NOT_FOUND, "not-found");
    assert_nothing_changed(&host, &id).await;
}
