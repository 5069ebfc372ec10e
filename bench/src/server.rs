//! An `envhost serve` process for benchmarks, on a temporary folder with its
//! own config, state, adapters and listen port, and the files it needs.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a starting host may take before `/healthz` responds.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Interval between two `/healthz` polls while a host starts, short so that
/// it adds little to the measured start-up time.
const HEALTH_POLL: Duration = Duration::from_millis(2);

/// Returns the workspace root, where the bench crate's parent is.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the bench crate lives inside the workspace")
        .to_owned()
}

/// Returns Cargo's output folder: `CARGO_TARGET_DIR` or `<workspace>/target`.
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Returns the file named by `variable`, else `default` under the target
/// folder, checking that it exists.
pub(crate) fn locate(variable: &str, default: &str, what: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join(default));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{what} `{}` is missing: run scripts/build.sh or set {variable}",
            path.display()
        ))
    }
}

/// Returns the host binary: `ENVHOST_BIN`, else the release build.
pub(crate) fn host_binary() -> Result<PathBuf, String> {
    locate("ENVHOST_BIN", "release/envhost", "the envhost binary")
}

/// Returns the bytes of the testing adapter (WIT 0.1.0, no Docker calls).
pub(crate) fn testing_adapter() -> Result<Vec<u8>, String> {
    let path = locate(
        "ENVHOST_TESTING_ADAPTER",
        "wasm32-wasip2/guest/envhost_testing_adapter.wasm",
        "the testing adapter",
    )?;
    fs::read(&path).map_err(|err| format!("failed to read `{}`: {err}", path.display()))
}

/// A host folder: `envhost.toml`, `adapters/`, `state/`.
pub(crate) struct HostDir {
    dir: TempDir,
    listen: String,
}

impl HostDir {
    /// Creates the folder with `config` as the config, in which `{listen}`
    /// is replaced by a free loopback address.
    pub(crate) fn new(config: &str) -> Result<HostDir, String> {
        let dir = tempfile::Builder::new()
            .prefix("envhost-bench-")
            .tempdir()
            .map_err(|err| format!("failed to create a temporary folder: {err}"))?;
        for folder in ["adapters", "state"] {
            fs::create_dir_all(dir.path().join(folder))
                .map_err(|err| format!("failed to create the `{folder}` folder: {err}"))?;
        }
        let listen = format!("127.0.0.1:{}", free_port()?);
        fs::write(
            dir.path().join("envhost.toml"),
            config.replace("{listen}", &listen),
        )
        .map_err(|err| format!("failed to write the config: {err}"))?;
        Ok(HostDir { dir, listen })
    }

    /// Writes an adapter file as `adapters/<name>.wasm`.
    pub(crate) fn add_adapter(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        let path = self
            .dir
            .path()
            .join("adapters")
            .join(format!("{name}.wasm"));
        fs::write(&path, bytes)
            .map_err(|err| format!("failed to write `{}`: {err}", path.display()))
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// Returns the folder itself.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A running `envhost serve`, killed on drop.
pub(crate) struct Host {
    process: Child,
    base_url: String,
    /// Time from spawning the process to the first `/healthz` that returned
    /// 200.
    pub(crate) ready_after: Duration,
}

impl Host {
    /// Starts `envhost serve` on `dir` and waits until `/healthz` is ok.
    pub(crate) async fn start(
        dir: &HostDir,
        binary: &Path,
        client: &reqwest::Client,
    ) -> Result<Host, String> {
        let log = fs::File::create(dir.dir.path().join("envhost.log"))
            .map_err(|err| format!("failed to create the host log: {err}"))?;
        let started = Instant::now();
        let process = Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(dir.dir.path().join("envhost.toml"))
            // One line per request would cost the host more than the work
            // being measured.
            .env("ENVHOST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|err| format!("failed to start `{}`: {err}", binary.display()))?;
        let mut host = Host {
            process,
            base_url: dir.base_url(),
            ready_after: Duration::ZERO,
        };

        let health = format!("{}/healthz", host.base_url);
        loop {
            if let Ok(response) = client.get(&health).send().await
                && response.status().is_success()
            {
                break;
            }
            if let Ok(Some(status)) = host.process.try_wait() {
                let log =
                    fs::read_to_string(dir.dir.path().join("envhost.log")).unwrap_or_default();
                return Err(format!(
                    "envhost exited with {status} while starting:\n{log}"
                ));
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                return Err(format!(
                    "envhost did not answer {health} within {STARTUP_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(HEALTH_POLL).await;
        }
        host.ready_after = started.elapsed();
        Ok(host)
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Returns the resident set size of the process in bytes, from
    /// `/proc/<pid>/status` (Linux only).
    pub(crate) fn resident_bytes(&self) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.process.id());
        let status =
            fs::read_to_string(&path).map_err(|err| format!("failed to read `{path}`: {err}"))?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| {
                value
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .ok_or_else(|| format!("`{path}` has no readable VmRSS line"))?;
        Ok(kib * 1024)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|err| format!("failed to find a free port: {err}"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|err| format!("failed to find a free port: {err}"))
}
