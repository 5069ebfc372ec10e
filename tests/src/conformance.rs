//! Running `envhost conformance` against built adapter components.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{CliOutput, docker_adapter, host_binary, require_docker, target_dir};

/// Adapter components the conformance tests run against, and where
/// `scripts/build.sh` puts them.
#[derive(Clone, Copy, Debug)]
pub enum Component {
    /// The Docker adapter (`guests/docker`); override with
    /// `ENVHOST_DOCKER_ADAPTER`.
    Docker,
    /// The example Rust adapter (`examples/rust-adapter`); override with
    /// `ENVHOST_LEDGER_ADAPTER`.
    Ledger,
    /// The deliberately broken guest (`guests/testing/broken`); override
    /// with `ENVHOST_BROKEN_ADAPTER`.
    Broken,
    /// The example Python adapter (`examples/python-adapter`, built by
    /// `scripts/build-python-example.sh`); override with
    /// `ENVHOST_PYTHON_ADAPTER`.
    Python,
}

impl Component {
    /// Returns the path of the built component, checking that it exists.
    ///
    /// # Panics
    ///
    /// Panics, saying how to build it, when the component is missing.
    pub fn path(self) -> PathBuf {
        let (variable, built) = match self {
            Component::Docker => return docker_adapter(),
            Component::Ledger => (
                "ENVHOST_LEDGER_ADAPTER",
                target_dir().join("wasm32-wasip2/release/ledger_adapter.wasm"),
            ),
            Component::Broken => (
                "ENVHOST_BROKEN_ADAPTER",
                target_dir().join("wasm32-wasip2/guest/envhost_broken_adapter.wasm"),
            ),
            Component::Python => (
                "ENVHOST_PYTHON_ADAPTER",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../examples/python-adapter/build/pyledger.wasm"),
            ),
        };
        let path = std::env::var_os(variable)
            .map(PathBuf::from)
            .unwrap_or(built);
        assert!(
            path.is_file(),
            "the adapter component `{}` is missing: run scripts/build.sh, or \
             scripts/build-python-example.sh for the Python example (or set {variable})",
            path.display()
        );
        path
    }
}

/// Returns the artifact cache folder that every conformance run of the
/// tests shares: `<target>/conformance-cache`. Artifacts are keyed by the
/// component's digest and the engine's settings, so runs of different
/// components or host builds never use each other's artifacts.
///
/// NOTE: nothing prunes this folder. Each new host or component build adds
/// artifacts (35 MB for the Python example), so delete it to reclaim space.
pub fn conformance_cache_dir() -> PathBuf {
    target_dir().join("conformance-cache")
}

/// Copies `component` into a fresh folder as `<name>.wasm` (the adapter name
/// is the file stem), writes `options` as `options.json` beside it when
/// given, and runs `envhost conformance` on it with the Docker engine and
/// the artifact cache in [`conformance_cache_dir`].
pub fn run_conformance(component: Component, name: &str, options: Option<&str>) -> CliOutput {
    run_conformance_cached(component, name, options, &conformance_cache_dir())
}

/// As [`run_conformance`], with the artifact cache in `cache_dir`.
pub fn run_conformance_cached(
    component: Component,
    name: &str,
    options: Option<&str>,
    cache_dir: &Path,
) -> CliOutput {
    require_docker();
    let dir = tempfile::tempdir().expect("failed to create a temporary folder");
    let file = dir.path().join(format!("{name}.wasm"));
    std::fs::copy(component.path(), &file).expect("failed to copy the adapter component");

    let mut command = Command::new(host_binary());
    command
        .arg("conformance")
        .arg(&file)
        .arg("--cache-dir")
        .arg(cache_dir);
    if let Some(options) = options {
        let options_file = dir.path().join("options.json");
        std::fs::write(&options_file, options).expect("failed to write the options file");
        command.arg("--options").arg(&options_file);
    }
    run(&mut command, &file)
}

fn run(command: &mut Command, file: &Path) -> CliOutput {
    let output = command
        .env("ENVHOST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "failed to run `envhost conformance {}`: {err}",
                file.display()
            )
        });
    CliOutput {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
