//! The set of adapters the host serves, keyed by name.
//!
//! Loading a directory reads every `*.wasm` file in it. A file that fails to
//! load is recorded with its error (shown by `GET /v1/adapters`) and serves
//! nothing; the other adapters load regardless.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::adapter::Adapter;
use super::runtime::Runtime;
use crate::ids::AdapterName;
use crate::model::{AdapterHealth, AdapterSummary};

enum Entry {
    Loaded(Arc<Adapter>),
    Failed { file: PathBuf, error: String },
}

/// Loaded adapters by name.
pub struct Registry {
    entries: RwLock<BTreeMap<String, Entry>>,
}

impl Registry {
    /// Creates an empty registry.
    pub fn empty() -> Self {
        Self {
            entries: RwLock::new(BTreeMap::new()),
        }
    }

    /// Loads every `*.wasm` file of `dir`, passing each adapter its options
    /// from `options` (an empty object when absent).
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
            if path.extension().is_some_and(|ext| ext == "wasm") {
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
    pub async fn load_file(
        &self,
        runtime: &Arc<Runtime>,
        path: &Path,
        options: &BTreeMap<String, serde_json::Value>,
    ) {
        let key = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let empty = serde_json::Value::Object(Default::default());
        let adapter_options = options.get(&key).unwrap_or(&empty);

        let started = std::time::Instant::now();
        let outcome = runtime.load_file(path, adapter_options).await;
        let entry = match outcome {
            Ok(adapter) => {
                tracing::info!(
                    adapter = %adapter.name(),
                    file = %path.display(),
                    version = adapter.version(),
                    wit_version = adapter.wit_version(),
                    digest = adapter.digest(),
                    two_phase = adapter.capabilities().supports_two_phase,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "adapter loaded"
                );
                Entry::Loaded(Arc::new(adapter))
            }
            Err(err) => {
                let error = err.to_string();
                tracing::error!(adapter = %key, file = %path.display(), error = %error, "adapter failed to load");
                Entry::Failed {
                    file: path.to_owned(),
                    error,
                }
            }
        };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.insert(key, entry);
    }

    /// Returns the loaded adapter with this name.
    pub fn get(&self, name: &AdapterName) -> Option<Arc<Adapter>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(name.as_str()) {
            Some(Entry::Loaded(adapter)) => Some(Arc::clone(adapter)),
            _ => None,
        }
    }

    /// Returns why the file of this name failed to load, if it did.
    pub fn load_error(&self, name: &str) -> Option<String> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(name) {
            Some(Entry::Failed { error, .. }) => Some(error.clone()),
            _ => None,
        }
    }

    /// Describes every adapter file, loaded or failed, sorted by name.
    pub fn summaries(&self) -> Vec<AdapterSummary> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .map(|(name, entry)| match entry {
                Entry::Loaded(adapter) => adapter.summary(),
                Entry::Failed { file, error } => AdapterSummary {
                    name: name.clone(),
                    file: file.display().to_string(),
                    version: None,
                    wit_version: None,
                    digest: None,
                    loaded_at: None,
                    capabilities: None,
                    health: AdapterHealth::Failed,
                    last_error: Some(error.clone()),
                },
            })
            .collect()
    }
}
