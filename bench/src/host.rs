//! A host process for benchmarks: its own folder with a config, a state
//! database and an adapters folder holding only the fake adapter.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a starting host may take before `/healthz` responds.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// Config of a benchmark host. `{listen}` is replaced by the listen address.
const CONFIG: &str = r#"
[server]
listen = "{listen}"

[state]
path = "state/envhost.db"

[adapters]
dir = "adapters"
default = "fake"

[leases]
default_ttl = "10m"
max_ttl = "1h"
"#;

/// Log filter of the benchmark host: one line per request or environment
/// would cost the host more than the work being measured.
const LOG_FILTER: &str = "warn";

/// A running `envhost serve` on a temporary folder.
pub(crate) struct BenchHost {
    process: Child,
    binary: PathBuf,
    dir: TempDir,
    base_url: String,
}

impl BenchHost {
    /// Starts a host with the fake adapter as its only adapter and waits until
    /// `/healthz` responds.
    pub(crate) async fn start(client: &reqwest::Client) -> Result<BenchHost, String> {
        let binary = locate(
            "ENVHOST_BIN",
            &[target_dir().join("release/envhost")],
            "the envhost binary",
        )?;
        let adapter = locate(
            "ENVHOST_FAKE_ADAPTER",
            &[
                workspace_root().join("target/testing-adapters/fake.wasm"),
                target_dir().join("wasm32-wasip2/guest/envhost_fake_adapter.wasm"),
            ],
            "the fake adapter",
        )?;

        let dir = tempfile::Builder::new()
            .prefix("envhost-bench-")
            .tempdir()
            .map_err(|err| format!("failed to create a temporary folder: {err}"))?;
        for folder in ["adapters", "state"] {
            fs::create_dir_all(dir.path().join(folder))
                .map_err(|err| format!("failed to create the `{folder}` folder: {err}"))?;
        }
        fs::copy(&adapter, dir.path().join("adapters/fake.wasm"))
            .map_err(|err| format!("failed to copy `{}`: {err}", adapter.display()))?;
        let listen = format!("127.0.0.1:{}", free_port()?);
        fs::write(
            dir.path().join("envhost.toml"),
            CONFIG.replace("{listen}", &listen),
        )
        .map_err(|err| format!("failed to write the config: {err}"))?;

        let process = spawn(&binary, dir.path())?;
        let mut host = BenchHost {
            process,
            binary,
            dir,
            base_url: format!("http://{listen}"),
        };
        host.wait_until_healthy(client).await?;
        Ok(host)
    }

    /// Returns the API's base URL.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Returns the host's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Kills the host with SIGKILL, starts it again on the same folder and
    /// returns the time from the new process's start to the first `/healthz`
    /// that responds 200. The host recovers its records before it serves, so
    /// this is the recovery time plus process start-up.
    pub(crate) async fn kill_and_restart(
        &mut self,
        client: &reqwest::Client,
    ) -> Result<Duration, String> {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let started = Instant::now();
        self.process = spawn(&self.binary, self.dir.path())?;
        self.wait_until_healthy(client).await?;
        Ok(started.elapsed())
    }

    /// Returns the host's CPU time so far (user plus system), from
    /// `/proc/<pid>/stat`.
    pub(crate) fn cpu_time(&self) -> Result<Duration, String> {
        let path = format!("/proc/{}/stat", self.pid());
        let stat =
            fs::read_to_string(&path).map_err(|err| format!("failed to read `{path}`: {err}"))?;
        // The command name (field 2) may contain spaces, so the fields are
        // counted from the `)` that ends it. utime and stime are fields 14
        // and 15, in clock ticks.
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| format!("unexpected format of `{path}`: {stat}"))?;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |index: usize| -> Result<u64, String> {
            fields
                .get(index)
                .and_then(|field| field.parse().ok())
                .ok_or_else(|| format!("unexpected format of `{path}`: {stat}"))
        };
        // Field 3 is the first after the name, at index 0.
        let total_ticks = ticks(14 - 3)? + ticks(15 - 3)?;
        let per_second = clock_ticks_per_second()?;
        Ok(Duration::from_secs_f64(
            total_ticks as f64 / per_second as f64,
        ))
    }

    async fn wait_until_healthy(&mut self, client: &reqwest::Client) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let url = format!("{}/healthz", self.base_url);
        loop {
            let response = client.get(&url).send().await;
            if response.is_ok_and(|response| response.status().is_success()) {
                return Ok(());
            }
            if let Ok(Some(exit)) = self.process.try_wait() {
                return Err(format!(
                    "envhost exited while starting ({exit}); its log is {}",
                    self.log_path().display()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "envhost did not respond at {url} within {STARTUP_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("envhost.log")
    }
}

impl Drop for BenchHost {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn spawn(binary: &Path, dir: &Path) -> Result<Child, String> {
    let log = File::options()
        .create(true)
        .append(true)
        .open(dir.join("envhost.log"))
        .map_err(|err| format!("failed to open the host's log: {err}"))?;
    let log_for_stderr = log
        .try_clone()
        .map_err(|err| format!("failed to share the host's log: {err}"))?;
    Command::new(binary)
        .arg("serve")
        .arg("--config")
        .arg(dir.join("envhost.toml"))
        .current_dir(dir)
        .env("ENVHOST_LOG", LOG_FILTER)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_for_stderr)
        .spawn()
        .map_err(|err| format!("failed to start `{}`: {err}", binary.display()))
}

fn clock_ticks_per_second() -> Result<u64, String> {
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .map_err(|err| format!("failed to run `getconf CLK_TCK`: {err}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().parse().map_err(|err| {
        format!(
            "invalid output of `getconf CLK_TCK` `{}`: {err}",
            text.trim()
        )
    })
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the bench crate lives in a folder of the workspace")
        .to_path_buf()
}

/// Returns `CARGO_TARGET_DIR` when set, else the workspace's `target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Returns the path in `variable` when set, else the first candidate that
/// exists.
fn locate(variable: &str, candidates: &[PathBuf], what: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(variable) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{what} `{}` ({variable}) is missing",
                path.display()
            ))
        };
    }
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "{what} is missing at {}: run scripts/build.sh (or set {variable})",
                candidates
                    .iter()
                    .map(|path| format!("`{}`", path.display()))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        })
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|err| format!("failed to bind a free port: {err}"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|err| format!("failed to read the bound port: {err}"))
}
