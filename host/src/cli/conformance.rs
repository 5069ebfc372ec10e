//! `envhost conformance FILE.wasm`: runs the conformance kit against an
//! adapter file and prints the report.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::conformance::{self, Settings};

/// Runs every contract rule against `file` and prints the report on stdout.
/// Returns failure when a rule failed or the run could not start.
pub async fn conformance(file: &Path, options_file: Option<&Path>) -> ExitCode {
    match run(file, options_file).await {
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

async fn run(file: &Path, options_file: Option<&Path>) -> anyhow::Result<bool> {
    let options = match options_file {
        Some(path) => read_options(path)?,
        None => serde_json::Value::Object(serde_json::Map::new()),
    };
    let settings = Settings {
        options,
        docker_host: None,
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
