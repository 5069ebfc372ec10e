//! The set of adapters the host serves, keyed by name.
//!
//! Loading a directory reads every `NAME.wasm` file in it. A file that fails
//! to load is recorded with its error (shown by `GET /v1/adapters`); when an
//! earlier version of it loaded, that version keeps serving. The other
//! adapters load regardless.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::adapter::Adapter;
use super::error::LoadError;
use super::runtime::{FileDigest, Runtime, adapter_name_for};
use crate::ids::AdapterName;
use crate::metrics;
use crate::model::{AdapterHealth, AdapterSummary};

/// Registry entry of one adapter file.
struct Entry {
    file: PathBuf,
    /// Version that new calls get; a failed reload leaves it in place.
    loaded: Option<Arc<Adapter>>,
    /// Digest of the bytes last tried, loaded or not, so that an event for
    /// an unchanged file does no work.
    attempted_digest: Option<String>,
    /// Why the last load failed; cleared by a successful load.
    last_error: Option<String>,
}

/// Result of [`Registry::load_file`].
#[derive(Clone)]
pub enum LoadOutcome {
    /// A new version now serves new calls.
    Loaded(Arc<Adapter>),
    /// The file has the digest of the last attempt; nothing changed.
    Unchanged,
    /// The file failed to load; the previous version, if any, still serves.
    Failed(String),
}

/// Loaded adapters by name.
pub struct Registry {
    entries: RwLock<BTreeMap<String, Entry>>,
}

/// Whether `path` names an adapter file: `NAME.wasm`, not hidden. Deploy
/// tools write to a hidden temporary name and then rename, so hidden files
/// are never read.
pub(crate) fn is_adapter_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    !name.starts_with('.') && path.extension().is_some_and(|ext| ext == "wasm")
}

/// Returns the registry key of a file: its stem, even when that is not a
/// valid adapter name, so that the failure is listed under it.
fn key_for(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Registry {
    /// Creates an empty registry.
    pub fn empty() -> Self {
        Self {
            entries: RwLock::new(BTreeMap::new()),
        }
    }

    /// Loads every adapter file (`NAME.wasm`, not hidden) of `dir`, passing
    /// each adapter its options from `options` (an empty object when
    /// absent).
    ///
    /// # Errors
    ///
    /// Fails only when the directory can not be read; a file that fails to
    /// load is logged and recorded.
    pub async fn load_dir(
        runtime: &Arc<Runtime>,
        dir: &Path,
        options: &BTreeMap<String, serde_json::Value>,
    ) -> std::io::Result<Self> {
        let registry = Self::empty();
        let mut files = Vec::new();
        let mut listing = tokio::fs::read_dir(dir).await?;
        while let Some(entry) = listing.next_entry().await? {
            let path = entry.path();
            if is_adapter_file(&path) {
                files.push(path);
            }
        }
        files.sort();

        for path in files {
            registry.load_file(runtime, &path, options).await;
        }
        Ok(registry)
    }

    /// Loads or reloads one file and records the outcome under its name.
    ///
    /// The new version replaces the old one in a single step: calls that
    /// already hold the old `Arc<Adapter>` finish on it, later calls get the
    /// new one. A file whose bytes did not change since the last attempt is
    /// not loaded again. A failure is logged and recorded, and the previous
    /// version keeps serving.
    pub async fn load_file(
        &self,
        runtime: &Arc<Runtime>,
        path: &Path,
        options: &BTreeMap<String, serde_json::Value>,
    ) -> LoadOutcome {
        let key = key_for(path);
        let empty = serde_json::Value::Object(Default::default());
        let adapter_options = options.get(&key).unwrap_or(&empty);

        let bytes = match tokio::fs::read(path).await {
            Ok(bytes) => bytes,
            Err(err) => {
                let error = LoadError::Read {
                    path: path.to_owned(),
                    source: err,
                }
                .to_string();
                return self.record_failure(key, path, None, error);
            }
        };
        let file_digest = FileDigest::of(&bytes);
        let digest = file_digest.prefixed();
        if self.attempted_digest(&key).as_deref() == Some(digest.as_str()) {
            tracing::debug!(adapter = %key, file = %path.display(), digest, "adapter file unchanged");
            return LoadOutcome::Unchanged;
        }

        let name = match adapter_name_for(path) {
            Ok(name) => name,
            Err(err) => return self.record_failure(key, path, Some(digest), err.to_string()),
        };
        match runtime
            .load_digested(name, path, bytes, file_digest, adapter_options)
            .await
        {
            Ok(adapter) => {
                tracing::info!(
                    adapter = %adapter.name(),
                    file = %path.display(),
                    version = adapter.version(),
                    wit_version = adapter.wit_version(),
                    digest = adapter.digest(),
                    capabilities = ?adapter.capabilities(),
                    compiled = ?adapter.compile_source(),
                    elapsed_ms = adapter.load_time().as_secs_f64() * 1000.0,
                    "adapter loaded"
                );
                metrics::record_adapter_load(&key, true);
                let adapter = Arc::new(adapter);
                let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
                entries.insert(
                    key,
                    Entry {
                        file: path.to_owned(),
                        loaded: Some(Arc::clone(&adapter)),
                        attempted_digest: Some(digest),
                        last_error: None,
                    },
                );
                LoadOutcome::Loaded(adapter)
            }
            Err(err) => self.record_failure(key, path, Some(digest), err.to_string()),
        }
    }

    /// Forgets the adapter of a removed file: new calls get a 404 naming it.
    /// Calls in flight finish on the version they hold. Returns whether
    /// there was an entry.
    pub fn remove(&self, path: &Path) -> bool {
        let key = key_for(path);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let removed = entries.remove(&key).is_some();
        if removed {
            tracing::info!(adapter = %key, file = %path.display(), "adapter file removed; the adapter no longer serves new calls");
        }
        removed
    }

    fn attempted_digest(&self, key: &str) -> Option<String> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .and_then(|entry| entry.attempted_digest.clone())
    }

    fn record_failure(
        &self,
        key: String,
        path: &Path,
        digest: Option<String>,
        error: String,
    ) -> LoadOutcome {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let entry = entries.entry(key.clone()).or_insert_with(|| Entry {
            file: path.to_owned(),
            loaded: None,
            attempted_digest: None,
            last_error: None,
        });
        let previous = entry
            .loaded
            .as_ref()
            .map(|adapter| adapter.digest().to_owned());
        tracing::error!(
            adapter = %key,
            file = %path.display(),
            error = %error,
            still_serving = previous.as_deref(),
            "adapter failed to load"
        );
        metrics::record_adapter_load(&key, false);
        entry.attempted_digest = digest;
        entry.last_error = Some(error.clone());
        LoadOutcome::Failed(error)
    }

    /// Returns the loaded adapter with this name.
    pub fn get(&self, name: &AdapterName) -> Option<Arc<Adapter>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(name.as_str()) {
            Some(Entry {
                loaded: Some(adapter),
                ..
            }) => Some(Arc::clone(adapter)),
            _ => None,
        }
    }

    /// Returns why the last load of the file of this name failed, if it
    /// did.
    pub fn load_error(&self, name: &str) -> Option<String> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(name).and_then(|entry| entry.last_error.clone())
    }

    /// Describes every adapter file, loaded or failed, sorted by name.
    pub fn summaries(&self) -> Vec<AdapterSummary> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .map(|(name, entry)| match &entry.loaded {
                Some(adapter) => AdapterSummary {
                    last_error: entry.last_error.clone(),
                    ..adapter.summary()
                },
                None => AdapterSummary {
                    name: name.clone(),
                    file: entry.file.display().to_string(),
                    version: None,
                    wit_version: None,
                    digest: None,
                    loaded_at: None,
                    capabilities: None,
                    health: AdapterHealth::Failed,
                    last_error: entry.last_error.clone(),
                },
            })
            .collect()
    }
}
