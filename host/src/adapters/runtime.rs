//! The runtime every adapter shares: engine, linker, container access and
//! guest limits. Loading a file turns it into an [`Adapter`].

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::adapter::{Adapter, ExportIndices, LoadPhases};
use super::bindings;
use super::cache::{ArtifactCache, CompileSource};
use super::convert::json_object_from_wit;
use super::engine::{Compiler, build_engine, deadline_ticks, start_epoch_ticker};
use super::error::LoadError;
use super::grants::{GrantTable, check_imports};
use super::health::HealthTracker;
use super::store::CallState;
use crate::container::ContainerHost;
use crate::ids::AdapterName;
use crate::model;

/// WIT package versions this host can load, newest first.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.2.0", "0.1.0"];

/// Limits applied to every adapter call, and how adapters are compiled.
#[derive(Clone, Copy, Debug)]
pub struct GuestLimits {
    /// Linear memory one instance may grow to, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock deadline of one call, host calls included.
    pub call_timeout: Duration,
    /// The compiler of adapter components.
    pub compiler: Compiler,
}

/// Engine, linker and host services shared by all loaded adapters.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<CallState>,
    pub(crate) containers: Option<ContainerHost>,
    pub(crate) limits: GuestLimits,
    cache: Option<ArtifactCache>,
    grants: RwLock<GrantTable>,
}

impl Runtime {
    /// Builds the engine and linker and starts the epoch ticker.
    ///
    /// `containers` is `None` for offline validation: adapters still load,
    /// and their container calls fail as unavailable.
    ///
    /// # Errors
    ///
    /// Fails when the engine can not be created or the WASI and envhost
    /// imports can not be linked.
    pub fn new(
        limits: GuestLimits,
        containers: Option<ContainerHost>,
    ) -> anyhow::Result<Arc<Self>> {
        Self::build(limits, containers, None)
    }

    /// As [`Runtime::new`], with compiled adapters cached in `cache_dir`
    /// (created when missing). Only this host may write to that directory:
    /// its artifacts are loaded as machine code.
    ///
    /// # Errors
    ///
    /// As [`Runtime::new`], and when `cache_dir` can not be created.
    pub fn with_artifact_cache(
        limits: GuestLimits,
        containers: Option<ContainerHost>,
        cache_dir: &Path,
    ) -> anyhow::Result<Arc<Self>> {
        Self::build(limits, containers, Some(cache_dir))
    }

    fn build(
        limits: GuestLimits,
        containers: Option<ContainerHost>,
        cache_dir: Option<&Path>,
    ) -> anyhow::Result<Arc<Self>> {
        let engine = build_engine(limits.memory_bytes, limits.compiler)
            .map_err(|err| anyhow::anyhow!("failed to create the wasm engine: {err:#}"))?;
        start_epoch_ticker(engine.weak());

        let mut linker = Linker::<CallState>::new(&engine);
        // Guests built by current toolchains import WASI interfaces whether
        // or not they use them (even filesystem and sockets); they are linked
        // here, and the store's WASI context grants nothing.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|err| anyhow::anyhow!("failed to link WASI: {err:#}"))?;
        bindings::add_to_linker(&mut linker)
            .map_err(|err| anyhow::anyhow!("failed to link envhost imports: {err:#}"))?;

        let cache = match cache_dir {
            Some(dir) => Some(ArtifactCache::open(dir, &engine).map_err(|err| {
                anyhow::anyhow!(
                    "failed to create the adapter cache directory `{}`: {err}",
                    dir.display()
                )
            })?),
            None => None,
        };

        Ok(Arc::new(Self {
            engine,
            linker,
            containers,
            limits,
            cache,
            grants: RwLock::new(GrantTable::default()),
        }))
    }

    /// Sets the grants that later loads check imports against. Adapters
    /// already loaded keep running with the imports they have.
    pub fn set_grants(&self, grants: GrantTable) {
        *self.grants.write().unwrap_or_else(|err| err.into_inner()) = grants;
    }

    /// Loads an adapter from a file; its name is the file stem.
    ///
    /// # Errors
    ///
    /// Fails, with the file and the reason, when the file can not be read, is
    /// not a component, imports an interface it was not granted, imports what
    /// the host does not provide, lacks the
    /// `provider` export, targets an unknown WIT version, or rejects its
    /// options in `init`.
    pub async fn load_file(
        self: &Arc<Self>,
        path: &Path,
        options: &serde_json::Value,
    ) -> Result<Adapter, LoadError> {
        let name = adapter_name_for(path)?;
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| LoadError::Read {
                path: path.to_owned(),
                source,
            })?;
        self.load_bytes(name, path, bytes, options).await
    }

    /// Loads an adapter from bytes already read from `path`.
    ///
    /// # Errors
    ///
    /// As [`Runtime::load_file`].
    pub async fn load_bytes(
        self: &Arc<Self>,
        name: AdapterName,
        path: &Path,
        bytes: Vec<u8>,
        options: &serde_json::Value,
    ) -> Result<Adapter, LoadError> {
        let digest = FileDigest::of(&bytes);
        self.load_digested(name, path, bytes, digest, options).await
    }

    /// As [`Runtime::load_bytes`], for bytes whose digest the caller has
    /// computed already, so that a load hashes the file once.
    pub(crate) async fn load_digested(
        self: &Arc<Self>,
        name: AdapterName,
        path: &Path,
        bytes: Vec<u8>,
        file_digest: FileDigest,
        options: &serde_json::Value,
    ) -> Result<Adapter, LoadError> {
        let invalid = |reason: String| LoadError::Invalid {
            path: path.to_owned(),
            reason,
        };
        check_component_header(&bytes).map_err(|reason| LoadError::NotAComponent {
            path: path.to_owned(),
            reason,
        })?;
        // The digest was taken before this point, so its time is added to
        // the phases measured from here.
        let digested = std::time::Instant::now();
        let started = digested - file_digest.elapsed;
        let FileDigest { sha256, .. } = file_digest;
        let digest = format!("sha256:{sha256}");

        // Compiling takes tens of milliseconds for a small component and
        // seconds for a large one: keep it off the async runtime.
        let runtime = Arc::clone(self);
        let (component, compile_source) =
            tokio::task::spawn_blocking(move || runtime.compile(&bytes, &sha256))
                .await
                .map_err(|err| invalid(format!("compilation panicked: {err}")))?
                .map_err(|err| invalid(format!("failed to compile: {err:#}")))?;
        let compiled = std::time::Instant::now();

        let grants = self
            .grants
            .read()
            .unwrap_or_else(|err| err.into_inner())
            .grants_of(&name);
        check_imports(&self.engine, &component, &name, &grants).map_err(invalid)?;

        let wit_version = exported_wit_version(&self.engine, &component).map_err(invalid)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|err| invalid(format!("imports what this host does not provide: {err:#}")))?;
        let exports = ExportIndices::discover(&pre, wit_version).map_err(invalid)?;
        let linked = std::time::Instant::now();

        let options_json = options.to_string();
        let mut adapter = Adapter {
            name: name.clone(),
            file: path.to_owned(),
            digest,
            loaded_at: model::now(),
            wit_version,
            version: String::new(),
            capabilities: exports.capabilities(),
            options_json,
            pre,
            exports,
            runtime: Arc::clone(self),
            compile_source,
            load_time: Duration::ZERO,
            load_phases: LoadPhases::default(),
            health: HealthTracker::default(),
        };

        // Probe: a first instance must accept the options and describe itself.
        let info = adapter.describe().await.map_err(|err| LoadError::Init {
            adapter: name.clone(),
            reason: err.to_string(),
        })?;
        let custom =
            json_object_from_wit(&info.custom_capabilities).map_err(|reason| LoadError::Init {
                adapter: name.clone(),
                reason: format!("metadata returned invalid custom capabilities: {reason}"),
            })?;
        adapter.version = info.version;
        adapter.capabilities.custom = custom;
        let probed = std::time::Instant::now();
        adapter.load_time = probed - started;
        adapter.load_phases = LoadPhases {
            digest: digested - started,
            compile: compiled - digested,
            link: linked - compiled,
            probe: probed - linked,
        };
        Ok(adapter)
    }

    /// Compiles a component, or loads it from the artifact cache. Blocks.
    fn compile(&self, bytes: &[u8], sha256: &str) -> wasmtime::Result<(Component, CompileSource)> {
        match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, bytes, sha256),
            None => Ok((
                Component::new(&self.engine, bytes)?,
                CompileSource::Compiled,
            )),
        }
    }

    /// Creates a store for one call, with the deadline and memory limit set.
    pub(crate) fn new_store(&self, state: CallState) -> Store<CallState> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(deadline_ticks(self.limits.call_timeout));
        store.epoch_deadline_trap();
        store
    }
}

/// SHA-256 of an adapter file, which names its cached artifact, and the time
/// it took.
pub(crate) struct FileDigest {
    /// Lowercase hex, without the `sha256:` prefix.
    pub(crate) sha256: String,
    pub(crate) elapsed: Duration,
}

impl FileDigest {
    /// Hashes `bytes`.
    pub(crate) fn of(bytes: &[u8]) -> Self {
        let started = std::time::Instant::now();
        let sha256 = format!("{:x}", Sha256::digest(bytes));
        FileDigest {
            sha256,
            elapsed: started.elapsed(),
        }
    }

    /// Returns the digest as adapters report it, `sha256:<hex>`.
    pub(crate) fn prefixed(&self) -> String {
        format!("sha256:{}", self.sha256)
    }
}

/// Returns the adapter name for a file: its stem.
///
/// # Errors
///
/// Fails when the stem is not a valid adapter name.
pub fn adapter_name_for(path: &Path) -> Result<AdapterName, LoadError> {
    let stem = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default();
    AdapterName::parse(stem).map_err(|err| LoadError::InvalidName {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

/// Checks the 8-byte preamble, so that a core module or a stray file gets a
/// plain error message instead of a parser error.
pub(crate) fn check_component_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(format!(
            "not a WebAssembly file ({} bytes, no `\\0asm` header); \
             the file may be truncated or still being copied",
            bytes.len()
        ));
    }
    // Bytes 4..8 are a version and a layer: layer 0 is a core module, layer 1
    // a component.
    match bytes[6..8] {
        [1, 0] => Ok(()),
        [0, 0] => Err(
            "this is a core WebAssembly module, not a component; build it for \
                       `wasm32-wasip2` or wrap it with `wasm-tools component new`"
                .to_owned(),
        ),
        _ => Err(format!(
            "unknown WebAssembly layer {:?} in the header",
            &bytes[6..8]
        )),
    }
}

/// Reads which `envhost:provider` version the component's `provider` export
/// targets.
pub(crate) fn exported_wit_version(
    engine: &Engine,
    component: &Component,
) -> Result<&'static str, String> {
    let prefix = "envhost:provider/provider@";
    let exported: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let Some(version) = exported.iter().find_map(|name| name.strip_prefix(prefix)) else {
        return Err(format!(
            "does not export `envhost:provider/provider`, the interface every adapter \
             implements (it exports: {})",
            if exported.is_empty() {
                "nothing".to_owned()
            } else {
                exported.join(", ")
            }
        ));
    };
    SUPPORTED_WIT_VERSIONS
        .iter()
        .copied()
        .find(|supported| *supported == version)
        .ok_or_else(|| {
            format!(
                "targets `envhost:provider@{version}`, which this host does not support \
                 (supported: {})",
                SUPPORTED_WIT_VERSIONS.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_names_core_modules() {
        let core = b"\0asm\x01\0\0\0";
        assert!(
            check_component_header(core)
                .unwrap_err()
                .contains("core WebAssembly module")
        );
        let component = b"\0asm\x0d\0\x01\0";
        assert!(check_component_header(component).is_ok());
        assert!(
            check_component_header(b"\0as")
                .unwrap_err()
                .contains("truncated")
        );
        assert!(
            check_component_header(b"hello world!")
                .unwrap_err()
                .contains("not a WebAssembly")
        );
    }

    #[test]
    fn adapter_name_is_the_file_stem() {
        assert_eq!(
            adapter_name_for(Path::new("/a/docker.wasm"))
                .unwrap()
                .as_str(),
            "docker"
        );
        assert!(adapter_name_for(Path::new("/a/Bad Name.wasm")).is_err());
    }
}
