//! `envhost conformance FILE.wasm`: runs the conformance kit against an
//! adapter file and prints the report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::conformance::{self, Settings};

/// Where `envhost conformance` keeps compiled adapters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConformanceCache {
    /// The user's cache folder: `$XDG_CACHE_HOME/envhost/adapters`, else
    /// `$HOME/.cache/envhost/adapters`, else none.
    Default,
    /// A folder given with `--cache-dir`.
    Dir(PathBuf),
    /// No cache (`--no-cache`): every run compiles the adapter.
    Disabled,
}

/// Runs every contract rule against `file` and prints the report on stdout.
/// Returns failure when a rule failed or the run could not start.
pub async fn conformance(
    file: &Path,
    options_file: Option<&Path>,
    cache: ConformanceCache,
) -> ExitCode {
    match run(file, options_file, cache).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "error: `{}` does not conform to the provider contract",
                file.display()
            );
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    file: &Path,
    options_file: Option<&Path>,
    cache: ConformanceCache,
) -> anyhow::Result<bool> {
    let options = match options_file {
        Some(path) => read_options(path)?,
        None => serde_json::Value::Object(serde_json::Map::new()),
    };
    let cache_dir = match cache {
        ConformanceCache::Dir(dir) => Some(dir),
        ConformanceCache::Disabled => None,
        ConformanceCache::Default => {
            let dir = default_cache_dir();
            if dir.is_none() {
                tracing::warn!(
                    "neither XDG_CACHE_HOME nor HOME is set: compiling without a cache \
                     (pass --cache-dir DIR to keep compiled adapters)"
                );
            }
            dir
        }
    };
    let settings = Settings {
        options,
        docker_host: None,
        cache_dir,
    };
    let report = conformance::run(file, &settings).await?;
    print!("{}", conformance::render(&report));
    Ok(report.passed())
}

/// Reads adapter options: JSON for a `.json` file, TOML otherwise.
fn read_options(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read options file `{}`", path.display()))?;
    let value: serde_json::Value = if path.extension().is_some_and(|ext| ext == "json") {
        serde_json::from_str(&text)
            .with_context(|| format!("invalid JSON in options file `{}`", path.display()))?
    } else {
        let table: toml::Table = toml::from_str(&text)
            .with_context(|| format!("invalid TOML in options file `{}`", path.display()))?;
        serde_json::to_value(table).context("failed to convert TOML options to JSON")?
    };
    anyhow::ensure!(
        value.is_object(),
        "options file `{}` must contain an object, got `{value}`",
        path.display()
    );
    Ok(value)
}

/// Returns the default cache folder, following the XDG base directory
/// specification: `$XDG_CACHE_HOME/envhost/adapters`, else
/// `$HOME/.cache/envhost/adapters`. A relative `XDG_CACHE_HOME` is ignored,
/// as the specification requires. `None` when neither gives a folder.
fn default_cache_dir() -> Option<PathBuf> {
    cache_dir_from(
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn cache_dir_from(xdg_cache_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let base = match xdg_cache_home.filter(|dir| dir.is_absolute()) {
        Some(dir) => dir,
        None => home.filter(|dir| dir.is_absolute())?.join(".cache"),
    };
    Some(base.join("envhost").join("adapters"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_prefers_xdg_cache_home() {
        let dir = cache_dir_from(Some("/var/cache/me".into()), Some("/home/me".into()));
        assert_eq!(dir, Some(PathBuf::from("/var/cache/me/envhost/adapters")));
    }

    #[test]
    fn cache_dir_falls_back_to_home() {
        let dir = cache_dir_from(None, Some("/home/me".into()));
        assert_eq!(dir, Some(PathBuf::from("/home/me/.cache/envhost/adapters")));
    }

    #[test]
    fn cache_dir_ignores_relative_xdg_cache_home() {
        let dir = cache_dir_from(Some("cache".into()), Some("/home/me".into()));
        assert_eq!(dir, Some(PathBuf::from("/home/me/.cache/envhost/adapters")));
    }

    #[test]
    fn cache_dir_missing_without_home() {
        assert_eq!(cache_dir_from(None, None), None);
        assert_eq!(cache_dir_from(None, Some("relative".into())), None);
    }
}
