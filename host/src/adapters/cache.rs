//! Cache of compiled adapters on disk.
//!
//! Compiling a component takes tens of milliseconds for a small Rust adapter
//! and seconds for a large one; loading a compiled artifact takes well under a
//! millisecond. The cache keeps one artifact per component file digest and
//! engine compatibility hash (wasmtime version, target and compiler
//! settings), so an artifact is never used by an engine that could not run
//! it, and an edited adapter file never hits the artifact of its old bytes.
//!
//! Loading an artifact runs machine code without verifying it, so the cache
//! only loads what this host wrote itself:
//!
//! - artifacts live in the host's own cache directory, under names derived
//!   from the key, and are written to a temporary name first, then renamed,
//!   so a reader sees a whole file or none;
//! - every artifact ends with the sha256 of the bytes before it, checked
//!   before loading, so a truncated or corrupt file is recompiled instead of
//!   run;
//! - the bytes are read into memory and checked there, then deserialized
//!   from memory, so a file that changes after the check changes nothing.
//!
//! The cache directory must be writable only by the host's user: anyone who
//! can write there can forge an artifact with a valid checksum.

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Length of the sha256 trailer of every artifact.
const CHECKSUM_LEN: usize = 32;

/// File name extension of artifacts.
const ARTIFACT_EXTENSION: &str = "cwasm";

/// Where a component came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompileSource {
    /// Deserialized from a cached artifact.
    Cache,
    /// Compiled from the component bytes (and written to the cache if there
    /// is one).
    Compiled,
}

/// Compiled artifacts in one directory, for one engine configuration.
#[derive(Debug)]
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    /// Hex sha256 of the engine's compatibility hash.
    engine_key: String,
}

impl ArtifactCache {
    /// Opens the cache in `dir`, creating the directory when it is missing.
    ///
    /// # Errors
    ///
    /// Fails when the directory can not be created.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut hasher = Sha256Hasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_key = format!("{:x}", hasher.0.finalize());
        Ok(Self {
            dir: dir.to_owned(),
            engine_key,
        })
    }

    /// Returns the path of the artifact for a component with this hex sha256.
    pub(crate) fn artifact_path(&self, component_sha256: &str) -> PathBuf {
        self.dir.join(format!(
            "{component_sha256}-{}.{ARTIFACT_EXTENSION}",
            &self.engine_key[..16]
        ))
    }

    /// Returns the component from the cache, or compiles it and writes the
    /// artifact. A missing, truncated or corrupt artifact is recompiled; a
    /// failure to write the cache is logged and does not fail the load.
    ///
    /// Blocks for the duration of a compile: call it off the async runtime.
    ///
    /// # Errors
    ///
    /// Fails only when the component does not compile.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        component_sha256: &str,
    ) -> wasmtime::Result<(Component, CompileSource)> {
        let path = self.artifact_path(component_sha256);
        match self.read_artifact(engine, &path) {
            Ok(Some(component)) => return Ok((component, CompileSource::Cache)),
            Ok(None) => {}
            Err(reason) => {
                tracing::warn!(artifact = %path.display(), reason, "discarding cached adapter artifact; recompiling");
                if let Err(err) = std::fs::remove_file(&path) {
                    tracing::debug!(artifact = %path.display(), error = %err, "failed to remove a discarded artifact");
                }
            }
        }

        let component = Component::new(engine, bytes)?;
        match component.serialize() {
            Ok(artifact) => {
                if let Err(err) = self.write_artifact(&path, &artifact) {
                    tracing::warn!(artifact = %path.display(), error = %err, "failed to write adapter artifact to the cache");
                }
            }
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "failed to serialize a compiled adapter")
            }
        }
        Ok((component, CompileSource::Compiled))
    }

    /// Reads and checks an artifact; `Ok(None)` when there is none, `Err`
    /// with the reason when it is unusable.
    fn read_artifact(&self, engine: &Engine, path: &Path) -> Result<Option<Component>, String> {
        let data = match std::fs::read(path) {
            Ok(data) => data,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("failed to read: {err}")),
        };
        let Some(split) = data.len().checked_sub(CHECKSUM_LEN) else {
            return Err(format!("truncated ({} bytes)", data.len()));
        };
        let (artifact, checksum) = data.split_at(split);
        if Sha256::digest(artifact).as_slice() != checksum {
            return Err("checksum mismatch: the file is corrupt or truncated".to_owned());
        }
        // SAFETY: `Component::deserialize` trusts its input to be an artifact
        // that a compatible wasmtime produced. These bytes are such an
        // artifact: they come from this host's own cache directory, under a
        // name that includes this engine's compatibility hash, and they
        // carry the sha256 that `write_artifact` appended to what
        // `Component::serialize` returned. They were read into memory before
        // the check, so nothing can change them between the check and this
        // call. wasmtime checks the engine compatibility again itself.
        let component = unsafe { Component::deserialize(engine, artifact) }
            .map_err(|err| format!("failed to deserialize: {err:#}"))?;
        Ok(Some(component))
    }

    /// Writes an artifact under a temporary name, then renames it into
    /// place, so that no reader sees a partial file.
    fn write_artifact(&self, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        let checksum = Sha256::digest(artifact);
        let temporary = self.dir.join(format!(
            ".{}.{}.{}.partial",
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        let result = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(artifact)?;
            file.write_all(&checksum)?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        result
    }
}

/// Feeds `Hash` output into sha256, which, unlike `DefaultHasher`, gives the
/// same key in every build of the host.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        // Only the full digest is used, through `self.0.finalize()`.
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
