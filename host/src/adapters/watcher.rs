//! Hot reload: watches the adapters directory and loads what changes.
//!
//! File events are debounced: a burst of writes to one file becomes one load
//! once the file has been quiet for [`DEBOUNCE`]. An added or changed
//! `NAME.wasm` is loaded through [`Registry::load_file`], which skips
//! unchanged bytes, keeps the previous version when the new one fails, and
//! swaps the registry entry in one step. A removed file stops new calls to
//! its adapter. Hidden files and other extensions are ignored.
//!
//! The safe way to deploy is to write the new file under a hidden temporary
//! name in the same directory (`.NAME.wasm.partial`) and rename it to
//! `NAME.wasm`: the rename is atomic, so the host only ever reads whole
//! files. Copying straight onto `NAME.wasm` also works, less cleanly: a load
//! that catches the file half written fails with "truncated" or "failed to
//! compile" and leaves the previous version serving, and the events of the
//! rest of the copy load it again once it is whole.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_full::notify::event::ModifyKind;
use notify_debouncer_full::notify::{self, EventKind, RecursiveMode};
use notify_debouncer_full::{
    DebounceEventResult, DebouncedEvent, Debouncer, RecommendedCache, new_debouncer,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::registry::{Registry, is_adapter_file};
use super::runtime::Runtime;

/// Quiet time after the last event of a file before it is loaded. Short,
/// because it adds to every reload; a file copied slower than this is loaded
/// early, fails, and is loaded again by its later events.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(50);

/// Error of starting the watcher.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The platform's file watcher could not be created or could not watch
    /// the directory.
    #[error("failed to watch adapters directory `{}`: {source}", dir.display())]
    Watch {
        /// Watched directory.
        dir: PathBuf,
        /// Error of the platform watcher.
        source: notify::Error,
    },
}

/// A running watcher; dropping it stops watching.
pub struct AdapterWatcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    task: JoinHandle<()>,
}

impl Drop for AdapterWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AdapterWatcher {
    /// Starts watching `dir` and loading changed adapter files into
    /// `registry`, with their options from `options`. Must be called inside
    /// a tokio runtime.
    ///
    /// # Errors
    ///
    /// Fails when the directory can not be watched (for example it does not
    /// exist, or the inotify watch limit is reached).
    pub fn start(
        runtime: Arc<Runtime>,
        registry: Arc<Registry>,
        dir: &Path,
        options: BTreeMap<String, serde_json::Value>,
    ) -> Result<Self, WatchError> {
        let watch_error = |source| WatchError::Watch {
            dir: dir.to_owned(),
            source,
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            // The receiver is gone only once the watcher is being dropped.
            let _ = sender.send(result);
        })
        .map_err(watch_error)?;
        debouncer
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(watch_error)?;

        let reloader = Reloader {
            runtime,
            registry,
            dir: dir.to_owned(),
            options,
        };
        let task = tokio::spawn(reloader.run(receiver));
        tracing::info!(dir = %dir.display(), debounce_ms = DEBOUNCE.as_millis() as u64, "watching adapters directory");
        Ok(Self {
            _debouncer: debouncer,
            task,
        })
    }
}

struct Reloader {
    runtime: Arc<Runtime>,
    registry: Arc<Registry>,
    dir: PathBuf,
    options: BTreeMap<String, serde_json::Value>,
}

impl Reloader {
    /// Handles event batches one at a time, so that two loads of one file
    /// never race and the last event wins.
    async fn run(self, mut receiver: mpsc::UnboundedReceiver<DebounceEventResult>) {
        while let Some(result) = receiver.recv().await {
            match result {
                Ok(events) => self.handle(&events).await,
                Err(errors) => {
                    for error in errors {
                        tracing::error!(dir = %self.dir.display(), error = %error, "adapters directory watch error; rescanning");
                    }
                    self.rescan().await;
                }
            }
        }
    }

    async fn handle(&self, events: &[DebouncedEvent]) {
        if events.iter().any(|event| event.need_rescan()) {
            tracing::warn!(dir = %self.dir.display(), "file events were lost; rescanning the adapters directory");
            self.rescan().await;
            return;
        }
        // Opening and reading a file raises access events; the host reads each
        // adapter file when it loads it, so reacting to those would reload in
        // a loop. Only creation, change and removal matter.
        let paths: BTreeSet<&Path> = events
            .iter()
            .filter(|event| {
                matches!(
                    event.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                ) && !matches!(event.kind, EventKind::Modify(ModifyKind::Metadata(_)))
            })
            .flat_map(|event| event.paths.iter())
            .map(PathBuf::as_path)
            .filter(|path| path.parent() == Some(self.dir.as_path()) && is_adapter_file(path))
            .collect();
        for path in paths {
            self.sync(path).await;
        }
    }

    /// Loads the file if it exists, and forgets its adapter if it does not.
    async fn sync(&self, path: &Path) {
        match tokio::fs::metadata(path).await {
            Ok(metadata) if metadata.is_file() => {
                self.registry
                    .load_file(&self.runtime, path, &self.options)
                    .await;
            }
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                self.registry.remove(path);
            }
            Err(err) => {
                tracing::error!(file = %path.display(), error = %err, "failed to read adapter file metadata");
            }
        }
    }

    /// Brings the registry in line with the directory after lost events.
    async fn rescan(&self) {
        let mut present = BTreeSet::new();
        match tokio::fs::read_dir(&self.dir).await {
            Ok(mut listing) => loop {
                match listing.next_entry().await {
                    Ok(Some(entry)) if is_adapter_file(&entry.path()) => {
                        present.insert(entry.path());
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(err) => {
                        tracing::error!(dir = %self.dir.display(), error = %err, "failed to list adapters directory");
                        return;
                    }
                }
            },
            Err(err) => {
                tracing::error!(dir = %self.dir.display(), error = %err, "failed to list adapters directory");
                return;
            }
        }
        let known: BTreeSet<PathBuf> = self
            .registry
            .summaries()
            .into_iter()
            .map(|summary| PathBuf::from(summary.file))
            .collect();
        for path in known.union(&present) {
            self.sync(path).await;
        }
    }
}
