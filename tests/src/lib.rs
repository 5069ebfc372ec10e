//! Harness for envhost's end-to-end tests: it runs the built `envhost serve` binary
//! with the built Docker adapter against the local Docker engine, and speaks the
//! HTTP API as a caller would.
//!
//! Each [`Host`] gets its own temporary folder with a config, a state database, an
//! adapters folder holding a copy of `docker.wasm` and a workspace root, and listens
//! on a free port of 127.0.0.1. Dropping it kills the host and removes the Docker
//! containers and networks the host created.
//!
//! Nothing here is skipped: a missing binary, adapter, engine or test image fails
//! the test with the command that fixes it.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

pub mod conformance;

/// Image every environment of the default config runs, built by
/// `scripts/build-test-image.sh`.
pub const TEST_IMAGE: &str = "envhost/busybox:test";

/// Config of a test host. `{listen}` is replaced by the address the host listens
/// on. Relative paths resolve against the host's temporary folder.
///
/// Template `web` serves the workspace over HTTP on container port 8080, published
/// as the endpoint `http`.
pub const DEFAULT_CONFIG: &str = r#"
[server]
listen = "{listen}"

[state]
path = "state/envhost.db"

[adapters]
dir = "adapters"
default = "docker"

[adapters.docker.options]
defaultImage = "envhost/busybox:test"
stopGraceSeconds = 2

[adapters.docker.options.templates.web]
image = "envhost/busybox:test"
command = ["httpd", "-f", "-v", "-p", "8080", "-h", "/workspace"]
ports = [{ port = 8080, name = "http", endpointProtocol = "http" }]

[leases]
default_ttl = "10m"

[policy]
allowed_images = ["envhost/*"]
workspace_roots = ["workspaces"]
"#;

/// How long a starting host may take before `/healthz` responds.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a host may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Lines of the host's log shown when something fails.
const LOG_TAIL_LINES: usize = 60;

/// A running `envhost serve` with its own config, state and adapters folder.
pub struct Host {
    process: Child,
    binary: PathBuf,
    config_path: PathBuf,
    base_url: String,
    client: reqwest::Client,
    /// `None` only while dropping, when a failing test keeps the folder.
    dir: Option<TempDir>,
    log_path: PathBuf,
    /// Environment ids seen in responses; cleanup finds this host's id through
    /// the labels of their containers.
    environment_ids: Mutex<BTreeSet<String>>,
}

/// An HTTP response of the host's API.
#[derive(Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: StatusCode,
    /// Value of the `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Body as text.
    pub text: String,
    /// Body parsed as JSON; `Value::Null` when it is empty or not JSON.
    pub body: Value,
}

/// What a run of the `envhost` CLI printed, and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit status of the process.
    pub status: std::process::ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Response {
    /// Checks that the response is an `application/problem+json` with the
    /// given HTTP status and `code`, and returns its `detail`.
    ///
    /// # Panics
    ///
    /// Panics with the whole response when any of those differ.
    pub fn expect_problem(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "unexpected status: {}", self.text);
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json"),
            "unexpected content type: {}",
            self.text
        );
        assert_eq!(
            self.body["code"], code,
            "unexpected problem code: {}",
            self.text
        );
        self.body["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("problem without a `detail`: {}", self.text))
            .to_owned()
    }
}

impl Host {
    /// Starts a host with [`DEFAULT_CONFIG`] and waits until `/healthz` responds.
    ///
    /// # Panics
    ///
    /// Panics with the command to run when the host binary, the adapter, the
    /// Docker engine or the test image is missing, and with the host's log when
    /// it does not start.
    pub async fn start() -> Host {
        Host::start_with_config(DEFAULT_CONFIG).await
    }

    /// Starts a host with the given config (see [`DEFAULT_CONFIG`] for the
    /// placeholders) and waits until `/healthz` responds.
    ///
    /// # Panics
    ///
    /// As [`Host::start`].
    pub async fn start_with_config(config: &str) -> Host {
        Host::start_with_adapters(config, &[]).await
    }

    /// Starts a host as [`Host::start_with_config`] does, with each file of
    /// `extra_adapters` copied into the adapters folder under its name (such
    /// as `hostile.wasm`) next to `docker.wasm`.
    ///
    /// # Panics
    ///
    /// As [`Host::start`], and when a file can not be copied.
    pub async fn start_with_adapters(config: &str, extra_adapters: &[(&str, &Path)]) -> Host {
        let binary = host_binary();
        let adapter = docker_adapter();
        require_docker();

        let dir = tempfile::Builder::new()
            .prefix("envhost-e2e-")
            .tempdir()
            .expect("failed to create a temporary folder for the host");
        let adapters_dir = dir.path().join("adapters");
        fs::create_dir_all(&adapters_dir).expect("failed to create the adapters folder");
        fs::create_dir_all(dir.path().join("state")).expect("failed to create the state folder");
        fs::create_dir_all(dir.path().join("workspaces"))
            .expect("failed to create the workspace root");
        fs::copy(&adapter, adapters_dir.join("docker.wasm")).unwrap_or_else(|err| {
            panic!(
                "failed to copy `{}` into the adapters folder: {err}",
                adapter.display()
            )
        });

        for (file_name, source) in extra_adapters {
            fs::copy(source, adapters_dir.join(file_name)).unwrap_or_else(|err| {
                panic!(
                    "failed to copy `{}` into the adapters folder: {err}",
                    source.display()
                )
            });
        }

        let listen = format!("127.0.0.1:{}", free_port());
        let config_path = dir.path().join("envhost.toml");
        fs::write(&config_path, config.replace("{listen}", &listen))
            .expect("failed to write the host's config");

        let log_path = dir.path().join("envhost.log");
        let process = spawn_host(&binary, &config_path, dir.path(), &log_path);

        let mut host = Host {
            process,
            binary,
            config_path,
            base_url: format!("http://{listen}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("failed to build the HTTP client"),
            dir: Some(dir),
            log_path,
            environment_ids: Mutex::new(BTreeSet::new()),
        };
        host.wait_until_healthy().await;
        host
    }

    /// Stops the host with SIGTERM, as an operator would, and starts a new
    /// process on the same config, state database, adapters folder and port.
    /// Containers keep running in between.
    ///
    /// # Panics
    ///
    /// Panics with the host's log when the old process does not exit within
    /// [`STOP_TIMEOUT`] or the new one does not start.
    pub async fn restart(&mut self) {
        self.stop().await;
        let dir = self.dir().to_path_buf();
        self.process = spawn_host(&self.binary, &self.config_path, &dir, &self.log_path);
        self.wait_until_healthy().await;
    }

    /// Sends SIGTERM to the host process and waits for it to exit.
    async fn stop(&mut self) {
        let pid = self.process.id().to_string();
        let signalled = Command::new("kill")
            .args(["-TERM", &pid])
            .stdin(Stdio::null())
            .status()
            .expect("failed to run `kill`");
        assert!(
            signalled.success(),
            "`kill -TERM {pid}` failed: {signalled}"
        );

        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.process.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(None) => self.fail(&format!(
                    "envhost (pid {pid}) did not exit within {STOP_TIMEOUT:?} of SIGTERM"
                )),
                Err(err) => self.fail(&format!("failed to wait for envhost (pid {pid}): {err}")),
            }
        }
    }

    /// Runs the `envhost` binary as a client of this host (`--api` set to its
    /// base URL) with the given arguments, and returns what it printed.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let output = Command::new(&self.binary)
            .arg("--api")
            .arg(&self.base_url)
            .args(args)
            .env_remove("ENVHOST_API")
            .env_remove("ENVHOST_TOKEN_FILE")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("failed to run `envhost {}`: {err}", args.join(" ")));
        let cli_output = CliOutput {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        if let Ok(body) = serde_json::from_str::<Value>(&cli_output.stdout) {
            self.remember_environment(&body);
        }
        cli_output
    }

    /// Sends `POST /v1/environments` and returns the descriptor of the
    /// created environment.
    ///
    /// # Panics
    ///
    /// Panics with the response and the host's log unless the status is 201
    /// and the body has an `environmentId`.
    pub async fn create(&self, body: &Value) -> Value {
        let response = self.post("/v1/environments", body).await;
        if response.status != StatusCode::CREATED || !response.body["environmentId"].is_string() {
            self.fail(&format!(
                "create returned {}, expected 201 with a descriptor: {}",
                response.status, response.text
            ));
        }
        response.body
    }

    /// Returns the API's base URL, such as `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Returns the host's temporary folder (config, state, adapters, workspaces).
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("the host's folder exists until drop")
            .path()
    }

    /// Creates a workspace folder under the host's workspace root and returns its
    /// absolute path, ready to pass as `workspacePath`.
    pub fn workspace(&self, name: &str) -> PathBuf {
        let path = self.dir().join("workspaces").join(name);
        fs::create_dir_all(&path)
            .unwrap_or_else(|err| panic!("failed to create workspace `{}`: {err}", path.display()));
        path
    }

    /// Returns what the host has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends `GET {path}` to the API.
    pub async fn get(&self, path: &str) -> Response {
        self.send(self.client.get(self.url(path))).await
    }

    /// Sends `POST {path}` with a JSON body to the API.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    /// Sends `DELETE {path}` to the API.
    pub async fn delete(&self, path: &str) -> Response {
        self.send(self.client.delete(self.url(path))).await
    }

    /// Polls `GET /v1/environments/{id}` until its status is `expected` and
    /// returns that descriptor.
    ///
    /// # Panics
    ///
    /// Panics with the last response when the status is not reached within
    /// `timeout`, or as soon as the environment reaches another terminal status.
    pub async fn wait_for_status(&self, id: &str, expected: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let response = self.get(&format!("/v1/environments/{id}")).await;
            let status = response.body["status"].as_str().unwrap_or_default();
            if response.status == StatusCode::OK && status == expected {
                return response.body;
            }
            let terminal = matches!(status, "terminated" | "failed");
            if terminal || Instant::now() >= deadline {
                self.fail(&format!(
                    "environment `{id}` did not reach status `{expected}` within {timeout:?}: \
                     last response {} {}",
                    response.status, response.text
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Returns the host id stamped on this host's containers as `envhost.host`.
    /// The harness reads it off the containers of environments seen in responses,
    /// so it is `None` until the first environment has a container.
    pub fn host_id(&self) -> Option<String> {
        let ids = self
            .environment_ids
            .lock()
            .expect("environment id set poisoned")
            .clone();
        ids.iter().find_map(|id| {
            let hosts = docker_lines(&[
                "ps",
                "--all",
                "--filter",
                &format!("label=envhost.environment={id}"),
                "--format",
                "{{.Label \"envhost.host\"}}",
            ]);
            let distinct: BTreeSet<String> = hosts.into_iter().collect();
            // Two hosts sharing an environment id (tests that choose ids must
            // choose unique ones) would make the result a guess.
            if distinct.len() == 1 {
                distinct.into_iter().next()
            } else {
                None
            }
        })
    }

    /// Panics with `message` and the tail of the host's log.
    pub fn fail(&self, message: &str) -> ! {
        panic!(
            "{message}\n--- host log (last {LOG_TAIL_LINES} lines) ---\n{}",
            self.log_tail()
        )
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => self.fail(&format!("request to the host failed: {err}")),
        };
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let text = match response.text().await {
            Ok(text) => text,
            Err(err) => self.fail(&format!("failed to read a response body ({status}): {err}")),
        };
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.remember_environment(&body);
        Response {
            status,
            content_type,
            text,
            body,
        }
    }

    fn remember_environment(&self, body: &Value) {
        let descriptors = match body {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut ids = self
            .environment_ids
            .lock()
            .expect("environment id set poisoned");
        for descriptor in descriptors {
            if let Some(id) = descriptor["environmentId"].as_str() {
                ids.insert(id.to_owned());
            }
        }
    }

    async fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let url = self.url("/healthz");
        loop {
            let response = self.client.get(&url).send().await;
            if response.is_ok_and(|response| response.status() == StatusCode::OK) {
                return;
            }
            if let Ok(Some(exit)) = self.process.try_wait() {
                self.fail(&format!("envhost exited while starting ({exit})"));
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "envhost did not respond at {url} within {STARTUP_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    fn remove_containers(&self) {
        let Some(host_id) = self.host_id() else {
            return;
        };
        let label = format!("label=envhost.host={host_id}");

        let containers = docker_lines(&["ps", "--all", "--quiet", "--filter", &label]);
        if !containers.is_empty() {
            let mut args = vec!["rm", "--force", "--volumes"];
            args.extend(containers.iter().map(String::as_str));
            run_docker_quietly(&args);
        }

        for network in docker_lines(&["network", "ls", "--quiet", "--filter", &label]) {
            run_docker_quietly(&["network", "rm", &network]);
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Kill first, so that the host does not recreate or adopt containers
        // while they are being removed.
        let _ = self.process.kill();
        let _ = self.process.wait();
        self.remove_containers();

        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!(
                "envhost e2e: kept the failed host's folder {} (log: envhost.log)",
                kept.display()
            );
        }
    }
}

/// Returns the URL of the named endpoint of a descriptor, such as
/// `http://127.0.0.1:49153/`.
///
/// # Panics
///
/// Panics when the descriptor has no endpoint of that name, or when the endpoint
/// is not on the loopback address, because tests reach containers only through
/// ports published on 127.0.0.1.
pub fn endpoint_url(descriptor: &Value, name: &str) -> String {
    let endpoints = descriptor["endpoints"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(endpoint) = endpoints.iter().find(|endpoint| endpoint["name"] == name) else {
        panic!("descriptor has no endpoint named `{name}`: {descriptor}");
    };

    let host = endpoint["host"].as_str().unwrap_or_default();
    assert!(
        host == "127.0.0.1" || host == "localhost",
        "endpoint `{name}` is on `{host}`, expected 127.0.0.1: {endpoint}"
    );
    let port = endpoint["port"]
        .as_u64()
        .unwrap_or_else(|| panic!("endpoint `{name}` has no numeric port: {endpoint}"));
    let path = endpoint["path"].as_str().unwrap_or("/");
    format!("http://{host}:{port}{path}")
}

/// Sends `GET url` until it returns 200, and returns the body. A server in a
/// container that was just started may need a moment before it accepts
/// connections.
///
/// # Panics
///
/// Panics with the last error when no 200 comes within `timeout`.
pub async fn get_text_eventually(url: &str, timeout: Duration) -> String {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("failed to build the HTTP client");
    let deadline = Instant::now() + timeout;
    loop {
        let last_error = match client.get(url).send().await {
            Ok(response) if response.status() == StatusCode::OK => {
                return response
                    .text()
                    .await
                    .expect("failed to read the endpoint's body");
            }
            Ok(response) => format!("status {}", response.status()),
            Err(err) => err.to_string(),
        };
        if Instant::now() >= deadline {
            panic!("GET {url} did not return 200 within {timeout:?}: {last_error}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Returns the ids of all containers, running or not, labelled with the given
/// environment id.
pub fn containers_of_environment(environment_id: &str) -> Vec<String> {
    docker_lines(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        &format!("label=envhost.environment={environment_id}"),
    ])
}

/// Returns an id no other test uses, for tests that choose their own
/// `environmentId`: cleanup relies on environment ids being unique per host.
pub fn unique_id(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock before 1970")
        .as_nanos();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

/// Returns the folder Cargo builds into: `CARGO_TARGET_DIR` when set, else the one holding
/// this test executable (`<target>/<profile>/deps/<test>`).
pub(crate) fn target_dir() -> PathBuf {
    let workspace_root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate lives in a folder of the workspace")
        .to_path_buf();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return workspace_root.join(dir);
    }

    let executable = std::env::current_exe().expect("failed to find the test executable");
    executable
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace_root.join("target"))
}

/// Returns the path of the release host binary, or `ENVHOST_BIN` when set.
pub(crate) fn host_binary() -> PathBuf {
    let path = std::env::var_os("ENVHOST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("release").join("envhost"));
    assert!(
        path.is_file(),
        "the envhost binary `{}` is missing: run scripts/build.sh (or set ENVHOST_BIN)",
        path.display()
    );
    path
}

/// Returns the path of the built Docker adapter component, or
/// `ENVHOST_DOCKER_ADAPTER` when set.
pub(crate) fn docker_adapter() -> PathBuf {
    let path = std::env::var_os("ENVHOST_DOCKER_ADAPTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("wasm32-wasip2/guest/envhost_docker_adapter.wasm"));
    assert!(
        path.is_file(),
        "the Docker adapter `{}` is missing: run scripts/build.sh (or set ENVHOST_DOCKER_ADAPTER)",
        path.display()
    );
    path
}

/// Returns the path of the built hostile adapter component
/// (`guests/testing/hostile`), or `ENVHOST_HOSTILE_ADAPTER` when set.
///
/// # Panics
///
/// Panics with the command that builds it when the file is missing.
pub fn hostile_adapter() -> PathBuf {
    let path = std::env::var_os("ENVHOST_HOSTILE_ADAPTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("wasm32-wasip2/guest/envhost_hostile_adapter.wasm"));
    assert!(
        path.is_file(),
        "the hostile adapter `{}` is missing: run scripts/build.sh (or set ENVHOST_HOSTILE_ADAPTER)",
        path.display()
    );
    path
}

/// Returns the path of the built testing adapter component (`guests/testing`,
/// WIT 0.1.0, no optional exports), or `ENVHOST_TESTING_ADAPTER` when set.
///
/// # Panics
///
/// Panics with the command that builds it when the file is missing.
pub fn testing_adapter() -> PathBuf {
    let path = std::env::var_os("ENVHOST_TESTING_ADAPTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("wasm32-wasip2/guest/envhost_testing_adapter.wasm"));
    assert!(
        path.is_file(),
        "the testing adapter `{}` is missing: run scripts/build.sh (or set ENVHOST_TESTING_ADAPTER)",
        path.display()
    );
    path
}

/// Checks that a Docker engine responds and that the test image exists.
pub(crate) fn require_docker() {
    let version = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output();
    match version {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "no Docker engine is reachable (`docker version` failed: {}): \
             run scripts/ensure-docker.sh",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(err) => panic!(
            "no Docker engine is reachable (failed to run `docker`: {err}): \
             run scripts/ensure-docker.sh"
        ),
    }

    let image = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE])
        .stdin(Stdio::null())
        .output()
        .expect("failed to run `docker image inspect`");
    assert!(
        image.status.success(),
        "the test image `{TEST_IMAGE}` is missing: run scripts/build-test-image.sh"
    );
}

/// Runs a docker command and returns its non-empty output lines; empty when the
/// command fails, because callers use it for best-effort lookups.
fn docker_lines(args: &[&str]) -> Vec<String> {
    let output = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
        Ok(output) => {
            eprintln!(
                "envhost e2e: `docker {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
            Vec::new()
        }
        Err(err) => {
            eprintln!(
                "envhost e2e: failed to run `docker {}`: {err}",
                args.join(" ")
            );
            Vec::new()
        }
    }
}

/// Runs a docker cleanup command, reporting a failure without panicking, because
/// it runs during drop.
fn run_docker_quietly(args: &[&str]) {
    let output = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => eprintln!(
            "envhost e2e: cleanup `docker {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(err) => eprintln!(
            "envhost e2e: failed to run `docker {}`: {err}",
            args.join(" ")
        ),
    }
}

/// Returns a port on 127.0.0.1 that was free a moment ago. Another process may
/// take it before the host binds it; the host then fails to start and the test
/// shows its log.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("failed to bind a free port");
    listener
        .local_addr()
        .expect("bound listener has an address")
        .port()
}

/// Starts `envhost serve` on a config, with stdout and stderr appended to
/// `log_path`, so that a restarted host keeps the log of the first one.
fn spawn_host(binary: &Path, config_path: &Path, dir: &Path, log_path: &Path) -> Child {
    let log = File::options()
        .create(true)
        .append(true)
        .open(log_path)
        .expect("failed to open the host's log file");
    let log_for_stderr = log
        .try_clone()
        .expect("failed to share the host's log file");
    Command::new(binary)
        .arg("serve")
        .arg("--config")
        .arg(config_path)
        .current_dir(dir)
        .env("ENVHOST_LOG", "info,envhost=debug")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_for_stderr)
        .spawn()
        .unwrap_or_else(|err| panic!("failed to start `{}`: {err}", binary.display()))
}

/// Returns `docker inspect` of one container, by name or id, as JSON.
///
/// # Panics
///
/// Panics with the engine's error when the container does not exist or the
/// output is not the one-element array `docker inspect` prints.
pub fn inspect_container(name_or_id: &str) -> Value {
    let output = Command::new("docker")
        .args(["container", "inspect", name_or_id])
        .stdin(Stdio::null())
        .output()
        .expect("failed to run `docker container inspect`");
    assert!(
        output.status.success(),
        "`docker container inspect {name_or_id}` failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let parsed: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!("`docker container inspect {name_or_id}` printed invalid JSON: {err}")
    });
    match parsed {
        Value::Array(mut items) if items.len() == 1 => items.remove(0),
        other => panic!("`docker container inspect {name_or_id}` printed {other}"),
    }
}

/// Returns the names (without the leading `/`) of all containers, running or
/// not, whose name contains `fragment`. Docker matches name filters as
/// substrings.
pub fn containers_named_like(fragment: &str) -> Vec<String> {
    docker_lines(&[
        "ps",
        "--all",
        "--filter",
        &format!("name={fragment}"),
        "--format",
        "{{.Names}}",
    ])
}

// ---------------------------------------------------------------------------
// Hosts that crash: SIGKILL, restart on the same state, several hosts on one
// engine. Used by the lease, crash and recovery tests.
// ---------------------------------------------------------------------------

/// Config of a [`CrashableHost`]. `{listen}` is replaced by the address the host
/// listens on.
///
/// Containers stop within a second on destroy, so that tests that destroy many
/// environments stay fast. `max_ttl` is one hour, so that tests can ask for a
/// longer lease and see it rejected.
pub const CRASHABLE_CONFIG: &str = r#"
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
max_ttl = "1h"

[policy]
allowed_images = ["envhost/*"]
workspace_roots = ["workspaces"]
"#;

/// Maximum lease (`max_ttl`) of [`CRASHABLE_CONFIG`], in milliseconds.
pub const CRASHABLE_MAX_TTL_MS: u64 = 3_600_000;

/// Label on the containers of a host that carries its host id.
pub const HOST_LABEL: &str = "envhost.host";

/// Label on the containers of a host that carries the environment id.
pub const ENVIRONMENT_LABEL: &str = "envhost.environment";

/// An `envhost serve` that a test can kill with SIGKILL at any moment and start
/// again on the same config, state database, adapters folder and port.
///
/// Dropping it kills the host and removes the containers and networks labelled
/// with its host id, and nothing else, so that several of them can share the
/// engine.
pub struct CrashableHost {
    process: Option<Child>,
    binary: PathBuf,
    config_path: PathBuf,
    base_url: String,
    client: reqwest::Client,
    /// `None` only while dropping, when a failing test keeps the folder.
    dir: Option<TempDir>,
    log_path: PathBuf,
    /// The `envhost.host` label of this host's containers, once seen.
    host_id: Mutex<Option<String>>,
    /// Environment ids seen in responses; when the log does not show the host
    /// id, it is read off the labels of their containers.
    environment_ids: Mutex<BTreeSet<String>>,
}

impl CrashableHost {
    /// Starts a host with [`CRASHABLE_CONFIG`] and the Docker adapter, and
    /// waits until `/healthz` responds.
    ///
    /// # Panics
    ///
    /// As [`Host::start`].
    pub async fn start() -> CrashableHost {
        let binary = host_binary();
        let adapter = docker_adapter();
        require_docker();

        let dir = tempfile::Builder::new()
            .prefix("envhost-e2e-crash-")
            .tempdir()
            .expect("failed to create a temporary folder for the host");
        for folder in ["adapters", "state", "workspaces"] {
            fs::create_dir_all(dir.path().join(folder))
                .unwrap_or_else(|err| panic!("failed to create the `{folder}` folder: {err}"));
        }
        fs::copy(&adapter, dir.path().join("adapters/docker.wasm")).unwrap_or_else(|err| {
            panic!(
                "failed to copy `{}` into the adapters folder: {err}",
                adapter.display()
            )
        });

        let listen = format!("127.0.0.1:{}", free_port());
        let config_path = dir.path().join("envhost.toml");
        fs::write(&config_path, CRASHABLE_CONFIG.replace("{listen}", &listen))
            .expect("failed to write the host's config");

        let mut host = CrashableHost {
            process: None,
            binary,
            config_path,
            base_url: format!("http://{listen}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("failed to build the HTTP client"),
            log_path: dir.path().join("envhost.log"),
            dir: Some(dir),
            host_id: Mutex::new(None),
            environment_ids: Mutex::new(BTreeSet::new()),
        };
        host.start_again().await;
        host
    }

    /// Starts the host process on this host's folder and port, and waits until
    /// `/healthz` responds. The host recovers from its state before it
    /// responds, so recovery is done when this returns.
    ///
    /// # Panics
    ///
    /// Panics when the process is still running, and with the host's log when
    /// it does not start.
    pub async fn start_again(&mut self) {
        if let Some(process) = self.process.as_mut() {
            let running = matches!(process.try_wait(), Ok(None));
            assert!(
                !running,
                "start_again called while envhost is still running"
            );
        }

        // Appends, so that the log shows every run of the host in order.
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("failed to open the host's log file");
        let log_for_stderr = log
            .try_clone()
            .expect("failed to share the host's log file");
        let process = Command::new(&self.binary)
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(self.dir())
            .env("ENVHOST_LOG", "info,envhost=debug")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .unwrap_or_else(|err| panic!("failed to start `{}`: {err}", self.binary.display()));
        self.process = Some(process);
        self.wait_until_healthy().await;
    }

    /// Kills the host process with SIGKILL and waits for it to exit. Requests
    /// in flight fail; containers keep running.
    pub fn kill(&mut self) {
        if let Some(process) = self.process.as_mut() {
            // `Child::kill` sends SIGKILL on Unix.
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Returns the API's base URL, such as `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Returns the host's temporary folder (config, state, adapters, workspaces).
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("the host's folder exists until drop")
            .path()
    }

    /// Returns what the host has logged so far, over all its runs.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends `GET {path}` to the API.
    pub async fn get(&self, path: &str) -> Response {
        self.send_or_fail(self.client.get(self.url(path))).await
    }

    /// Sends `POST {path}` with a JSON body to the API.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send_or_fail(self.client.post(self.url(path)).json(body))
            .await
    }

    /// Sends `PUT {path}` with a JSON body to the API.
    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.send_or_fail(self.client.put(self.url(path)).json(body))
            .await
    }

    /// Sends `DELETE {path}` to the API.
    pub async fn delete(&self, path: &str) -> Response {
        self.send_or_fail(self.client.delete(self.url(path))).await
    }

    /// Creates an environment and returns its descriptor.
    ///
    /// # Panics
    ///
    /// Panics with the response and the host's log unless the status is 201
    /// and the body has an `environmentId`.
    pub async fn create(&self, body: &Value) -> Value {
        let response = self.post("/v1/environments", body).await;
        if response.status != StatusCode::CREATED || !response.body["environmentId"].is_string() {
            self.fail(&format!(
                "create returned {}, expected 201 with a descriptor: {}",
                response.status, response.text
            ));
        }
        response.body
    }

    /// Polls `GET /v1/environments?status={expected}` until it lists `id`, and
    /// returns that descriptor. The list returns stored records and does not
    /// ask the adapter for the current status, so polling adds no adapter
    /// calls to what the test observes.
    ///
    /// # Panics
    ///
    /// Panics with the environment's stored record when it is not listed
    /// within `timeout`.
    pub async fn wait_for_listed_status(
        &self,
        id: &str,
        expected: &str,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let response = self
                .get(&format!("/v1/environments?status={expected}"))
                .await;
            let listed = response
                .body
                .as_array()
                .and_then(|items| items.iter().find(|item| item["environmentId"] == id));
            if let Some(descriptor) = listed {
                return descriptor.clone();
            }
            if Instant::now() >= deadline {
                let all = self.get("/v1/environments").await;
                let record = all
                    .body
                    .as_array()
                    .and_then(|items| items.iter().find(|item| item["environmentId"] == id))
                    .cloned()
                    .unwrap_or(Value::Null);
                self.fail(&format!(
                    "environment `{id}` was not listed as `{expected}` within {timeout:?}: \
                     stored record {record}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs the `envhost` binary as a client of this host with the given
    /// arguments, and returns its output.
    pub fn run_cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.binary)
            .arg("--api")
            .arg(&self.base_url)
            .args(args)
            .env_remove("ENVHOST_API")
            .env_remove("ENVHOST_TOKEN_FILE")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("failed to run `envhost {}`: {err}", args.join(" ")))
    }

    /// Returns the host id stamped on this host's containers as `envhost.host`,
    /// and keeps it once found. It is read from the host's start-up log, or
    /// else off the containers of environments seen so far, and is `None`
    /// when neither contains it.
    pub fn host_id(&self) -> Option<String> {
        let mut known = self.host_id.lock().expect("host id poisoned");
        if known.is_none() {
            *known = host_id_from_log(&self.log());
        }
        if known.is_none() {
            let ids = self
                .environment_ids
                .lock()
                .expect("environment id set poisoned")
                .clone();
            *known = ids.iter().find_map(|id| host_label_of_environment(id));
        }
        known.clone()
    }

    /// Returns the ids of all containers, running or not, labelled with this
    /// host's id.
    ///
    /// # Panics
    ///
    /// Panics when the host id is not known yet (see [`CrashableHost::host_id`]).
    pub fn containers(&self) -> Vec<String> {
        let host_id = self.host_id().unwrap_or_else(|| {
            self.fail("the host id is not known: no environment has a container")
        });
        docker_lines(&[
            "ps",
            "--all",
            "--quiet",
            "--filter",
            &format!("label={HOST_LABEL}={host_id}"),
        ])
    }

    /// Panics with `message` and the tail of the host's log.
    pub fn fail(&self, message: &str) -> ! {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        panic!("{message}\n--- host log (last {LOG_TAIL_LINES} lines) ---\n{tail}")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn send_or_fail(&self, request: reqwest::RequestBuilder) -> Response {
        match self.send(request).await {
            Ok(response) => response,
            Err(err) => self.fail(&err),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response, String> {
        let response = request
            .send()
            .await
            .map_err(|err| format!("request to the host failed: {err}"))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let text = response
            .text()
            .await
            .map_err(|err| format!("failed to read a response body ({status}): {err}"))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.remember_environment(&body);
        Ok(Response {
            status,
            content_type,
            text,
            body,
        })
    }

    fn remember_environment(&self, body: &Value) {
        let descriptors = match body {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut ids = self
            .environment_ids
            .lock()
            .expect("environment id set poisoned");
        for descriptor in descriptors {
            if let Some(id) = descriptor["environmentId"].as_str() {
                ids.insert(id.to_owned());
            }
        }
    }

    async fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let url = self.url("/healthz");
        loop {
            let response = self.client.get(&url).send().await;
            if response.is_ok_and(|response| response.status() == StatusCode::OK) {
                return;
            }
            let process = self.process.as_mut().expect("the host was started");
            if let Ok(Some(exit)) = process.try_wait() {
                self.fail(&format!("envhost exited while starting ({exit})"));
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "envhost did not respond at {url} within {STARTUP_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for CrashableHost {
    fn drop(&mut self) {
        // Kill first, so that the host does not adopt or collect containers
        // while they are being removed.
        self.kill();
        if let Some(host_id) = self.host_id() {
            remove_labelled(&format!("label={HOST_LABEL}={host_id}"));
        }

        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!(
                "envhost e2e: kept the failed host's folder {} (log: envhost.log)",
                kept.display()
            );
        }
    }
}

/// Returns the first `host_id=` field of a host's log, with terminal colour
/// codes removed.
fn host_id_from_log(log: &str) -> Option<String> {
    let mut plain = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An SGR sequence such as `ESC [ 3 m` ends with `m`.
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }

    let start = plain.find("host_id=")? + "host_id=".len();
    let id: String = plain[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!id.is_empty()).then_some(id)
}

/// Returns the `envhost.host` label of the containers of an environment, when
/// it has containers and they all carry the same one.
pub fn host_label_of_environment(environment_id: &str) -> Option<String> {
    let hosts: BTreeSet<String> = docker_lines(&[
        "ps",
        "--all",
        "--filter",
        &format!("label={ENVIRONMENT_LABEL}={environment_id}"),
        "--format",
        &format!("{{{{.Label \"{HOST_LABEL}\"}}}}"),
    ])
    .into_iter()
    .collect();
    if hosts.len() == 1 {
        hosts.into_iter().next()
    } else {
        None
    }
}

/// Returns the `envhost.environment` label of every container labelled with
/// the given host id, one entry per container (empty when unlabelled).
pub fn environments_of_host_containers(host_id: &str) -> Vec<String> {
    docker_lines(&[
        "ps",
        "--all",
        "--filter",
        &format!("label={HOST_LABEL}={host_id}"),
        "--format",
        &format!("{{{{.ID}}}} {{{{.Label \"{ENVIRONMENT_LABEL}\"}}}}"),
    ])
    .into_iter()
    .map(|line| {
        line.split_once(' ')
            .map(|(_, environment)| environment.trim().to_owned())
            .unwrap_or_default()
    })
    .collect()
}

/// Runs `docker run --detach` of the test image with the given labels and
/// name, as if a host had created it, and returns the container id.
///
/// # Panics
///
/// Panics with docker's error output when the container can not be created.
pub fn run_labelled_container(name: &str, labels: &[(&str, &str)]) -> String {
    let mut command = Command::new("docker");
    command.args(["run", "--detach", "--name", name]);
    for (key, value) in labels {
        command.arg("--label").arg(format!("{key}={value}"));
    }
    let output = command
        .arg(TEST_IMAGE)
        .stdin(Stdio::null())
        .output()
        .expect("failed to run `docker run`");
    assert!(
        output.status.success(),
        "`docker run` of `{name}` failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Returns whether a container with this name or id exists, running or not.
pub fn container_exists(name_or_id: &str) -> bool {
    Command::new("docker")
        .args(["container", "inspect", "--format", "{{.Id}}", name_or_id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Removes the containers and networks that match a docker `--filter`, such as
/// `label=envhost.host=…`, reporting failures without panicking.
pub fn remove_labelled(filter: &str) {
    let containers = docker_lines(&["ps", "--all", "--quiet", "--filter", filter]);
    if !containers.is_empty() {
        let mut args = vec!["rm", "--force", "--volumes"];
        args.extend(containers.iter().map(String::as_str));
        run_docker_quietly(&args);
    }
    for network in docker_lines(&["network", "ls", "--quiet", "--filter", filter]) {
        run_docker_quietly(&["network", "rm", &network]);
    }
}
