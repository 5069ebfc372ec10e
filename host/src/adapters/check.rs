//! Offline validation of an adapter file, for `envhost check`: the same
//! steps as a load, reported one by one, without a Docker engine.

use std::path::Path;
use std::sync::Arc;

use sha2::Digest as _;
use wasmtime::component::Component;

use super::runtime::{Runtime, check_component_header, exported_wit_version};
use crate::model::Capabilities;

/// Interfaces of WASI 0.2 that the host links (granting nothing), by name
/// without version. Any `0.2.x` version of them links.
const WASI_INTERFACES: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stderr",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stderr",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/preopens",
    "wasi:filesystem/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:random/random",
    "wasi:sockets/instance-network",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
];

/// envhost interfaces the host provides to every supported WIT version.
const ENVHOST_IMPORTS: &[&str] = &[
    "envhost:provider/types@0.1.0",
    "envhost:provider/container@0.1.0",
    "envhost:provider/log@0.1.0",
    "envhost:provider/types@0.2.0",
    "envhost:provider/container@0.2.0",
    "envhost:provider/log@0.2.0",
];

/// Findings of `envhost check` about one adapter file.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// `sha256:` and the hex digest of the file.
    pub digest: Option<String>,
    /// WIT version the component targets.
    pub wit_version: Option<String>,
    /// Version the adapter reports about itself, once `init` succeeded.
    pub version: Option<String>,
    /// Capabilities from the exports.
    pub capabilities: Option<Capabilities>,
    /// Imports that no interface of the host provides, by name.
    pub unsatisfied_imports: Vec<String>,
    /// Reason the file would not load; `None` when it would load.
    pub problem: Option<String>,
}

impl Runtime {
    /// Checks an adapter file as a load would, and reports each finding.
    /// `init` runs with `options`; container calls fail as unavailable when
    /// the runtime has no Docker access.
    pub async fn check_file(
        self: &Arc<Self>,
        path: &Path,
        options: &serde_json::Value,
    ) -> CheckReport {
        let mut report = CheckReport::default();
        let bytes = match tokio::fs::read(path).await {
            Ok(bytes) => bytes,
            Err(err) => {
                report.problem = Some(format!("failed to read `{}`: {err}", path.display()));
                return report;
            }
        };
        report.digest = Some(format!("sha256:{:x}", sha2::Sha256::digest(&bytes)));
        if let Err(reason) = check_component_header(&bytes) {
            report.problem = Some(reason);
            return report;
        }

        let engine = self.engine.clone();
        let compiled = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || Component::new(&engine, &bytes)).await
        };
        let component = match compiled {
            Ok(Ok(component)) => component,
            Ok(Err(err)) => {
                report.problem = Some(format!("failed to compile: {err:#}"));
                return report;
            }
            Err(err) => {
                report.problem = Some(format!("compilation panicked: {err}"));
                return report;
            }
        };

        report.unsatisfied_imports = unsatisfied_imports(self, &component);
        match exported_wit_version(&self.engine, &component) {
            Ok(version) => report.wit_version = Some(version.to_owned()),
            Err(reason) => {
                report.problem = Some(reason);
                return report;
            }
        }
        if let Err(err) = self.linker.instantiate_pre(&component) {
            report.problem = Some(format!("imports what this host does not provide: {err:#}"));
            return report;
        }

        let name = match super::runtime::adapter_name_for(path) {
            Ok(name) => name,
            Err(err) => {
                report.problem = Some(err.to_string());
                return report;
            }
        };
        match self.load_bytes(name, path, bytes, options).await {
            Ok(adapter) => {
                report.version = Some(adapter.version().to_owned());
                report.capabilities = Some(adapter.capabilities().clone());
            }
            Err(err) => report.problem = Some(err.to_string()),
        }
        report
    }
}

/// Lists the component's imports that no host interface provides, by name.
/// A name check: an import of a provided name with the wrong type is caught
/// by linking instead, and reported as the problem.
fn unsatisfied_imports(runtime: &Runtime, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(&runtime.engine)
        .map(|(name, _)| name)
        .filter(|name| !is_provided(name))
        .map(str::to_owned)
        .collect()
}

fn is_provided(import: &str) -> bool {
    if ENVHOST_IMPORTS.contains(&import) {
        return true;
    }
    let Some((interface, version)) = import.split_once('@') else {
        return false;
    };
    WASI_INTERFACES.contains(&interface) && version.starts_with("0.2.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_0_2_and_envhost_imports_are_provided() {
        assert!(is_provided("wasi:cli/exit@0.2.6"));
        assert!(is_provided("envhost:provider/container@0.1.0"));
        assert!(!is_provided("wasi:cli/exit@0.3.0"));
        assert!(!is_provided("wasi:http/types@0.2.0"));
        assert!(!is_provided("envhost:provider/container@0.3.0"));
    }
}
