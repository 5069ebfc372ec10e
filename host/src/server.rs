//! `envhost serve`: reads the configuration and runs the host.

use std::path::Path;

/// Runs the host with the configuration file at `config` until it is stopped.
///
/// # Errors
///
/// Always fails for now, naming the configuration file.
// NOTE: placeholder so that the CLI builds; the real server replaces it.
pub async fn serve(config: &Path) -> anyhow::Result<()> {
    anyhow::bail!(
        "`envhost serve` is not built yet (config `{}`)",
        config.display()
    )
}
