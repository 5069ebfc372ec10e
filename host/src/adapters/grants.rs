//! Grants: which envhost imports each adapter may use. The host links every
//! import once, in one linker shared by all adapters. A component that imports
//! an interface its adapter was not granted is rejected at load time, before
//! any of its code runs.

use std::collections::{BTreeMap, BTreeSet};

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::config::Grant;
use crate::ids::AdapterName;

/// Grants per adapter name. An adapter without an entry gets
/// [`Grant::ALL`], the default of `[adapters.<name>] grants`.
#[derive(Clone, Debug, Default)]
pub struct GrantTable {
    by_adapter: BTreeMap<AdapterName, BTreeSet<Grant>>,
}

impl GrantTable {
    /// Builds a table from the grants of the adapters that configure them.
    pub fn new(by_adapter: BTreeMap<AdapterName, BTreeSet<Grant>>) -> Self {
        Self { by_adapter }
    }

    /// Returns the grants of `adapter`.
    pub fn grants_of(&self, adapter: &AdapterName) -> BTreeSet<Grant> {
        match self.by_adapter.get(adapter) {
            Some(grants) => grants.clone(),
            None => Grant::ALL.into_iter().collect(),
        }
    }
}

/// Returns the grant an import needs, when it is an envhost interface that
/// needs one. `types` carries only type definitions and needs none; WASI is
/// linked with nothing granted to it (see `CallState`), so it needs none
/// either.
fn grant_for_import(import: &str) -> Option<Grant> {
    let interface = import.strip_prefix("envhost:provider/")?;
    let interface = interface.split('@').next().unwrap_or(interface);
    match interface {
        "container" => Some(Grant::Container),
        "log" => Some(Grant::Log),
        _ => None,
    }
}

/// Checks the component's imports against the adapter's grants.
///
/// # Errors
///
/// Returns a message naming the first import whose grant is missing, the
/// grant, and the setting that would allow it.
pub(crate) fn check_imports(
    engine: &Engine,
    component: &Component,
    adapter: &AdapterName,
    grants: &BTreeSet<Grant>,
) -> Result<(), String> {
    let imports: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    check_import_names(&imports, adapter, grants)
}

fn check_import_names(
    imports: &[String],
    adapter: &AdapterName,
    grants: &BTreeSet<Grant>,
) -> Result<(), String> {
    for import in imports {
        let Some(grant) = grant_for_import(import) else {
            continue;
        };
        if !grants.contains(&grant) {
            let granted: Vec<&str> = grants.iter().map(|grant| grant.as_str()).collect();
            return Err(format!(
                "imports `{import}` but lacks the grant `{grant}` (granted: {}); add \
                 \"{grant}\" to `grants` in `[adapters.{adapter}]` to allow it",
                if granted.is_empty() {
                    "none".to_owned()
                } else {
                    granted.join(", ")
                }
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter() -> AdapterName {
        AdapterName::parse("hostile").unwrap()
    }

    fn imports(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn container_import_without_grant_names_the_grant() {
        let grants = BTreeSet::from([Grant::Log]);
        let err = check_import_names(
            &imports(&[
                "envhost:provider/types@0.2.0",
                "envhost:provider/container@0.2.0",
            ]),
            &adapter(),
            &grants,
        )
        .unwrap_err();
        assert!(err.contains("`envhost:provider/container@0.2.0`"), "{err}");
        assert!(err.contains("lacks the grant `container`"), "{err}");
        assert!(err.contains("[adapters.hostile]"), "{err}");
    }

    #[test]
    fn log_import_without_grant_is_rejected() {
        let err = check_import_names(
            &imports(&["envhost:provider/log@0.1.0"]),
            &adapter(),
            &BTreeSet::new(),
        )
        .unwrap_err();
        assert!(err.contains("lacks the grant `log`"), "{err}");
        assert!(err.contains("granted: none"), "{err}");
    }

    #[test]
    fn types_and_wasi_need_no_grant() {
        let result = check_import_names(
            &imports(&[
                "envhost:provider/types@0.2.0",
                "wasi:cli/stdout@0.2.6",
                "wasi:filesystem/types@0.2.6",
            ]),
            &adapter(),
            &BTreeSet::new(),
        );
        assert!(result.is_ok());
    }

    #[test]
    fn unlisted_adapter_gets_every_grant() {
        let table = GrantTable::new(BTreeMap::from([(adapter(), BTreeSet::new())]));
        assert!(table.grants_of(&adapter()).is_empty());
        let other = AdapterName::parse("docker").unwrap();
        assert_eq!(table.grants_of(&other).len(), Grant::ALL.len());
    }
}
