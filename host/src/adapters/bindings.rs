//! Host bindings generated from the WIT package, one module per released WIT
//! version.
//!
//! The newest version owns the Rust types. Older versions map the interfaces
//! that did not change (`types`, `log`) onto the newest bindings with
//! `with:`, so that requests, errors and log levels have one Rust type and
//! the conversions and the `log` import are written once. Component types
//! are structural, so the newest `log` implementation also type-checks
//! against an older `log` import; [`link_v0_1_0`] registers it under the
//! older name. `container` grew in 0.2.0, so 0.1.0 keeps its own bindings of
//! it, and its implementation is generated from the same source.

use wasmtime::component::{HasSelf, Linker};

use super::store::CallState;

/// Bindings of `envhost:provider@0.2.0`.
pub(crate) mod v0_2_0 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2.0",
        world: "adapter-full",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// Bindings of `envhost:provider@0.1.0`.
pub(crate) mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
        world: "adapter-full",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "envhost:provider/types@0.1.0": super::v0_2_0::envhost::provider::types,
            "envhost:provider/log@0.1.0": super::v0_2_0::envhost::provider::log,
        },
    });
}

/// Adds the imports of every supported WIT version to `linker`.
///
/// # Errors
///
/// Fails when an import is defined twice, which is a bug in this module.
pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    v0_2_0::AdapterFull::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    link_v0_1_0(linker)
}

/// Adds the imports of `envhost:provider@0.1.0`.
fn link_v0_1_0(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    use v0_2_0::envhost::provider::{log, types};

    // Not `v0_1_0::AdapterFull::add_to_linker`: for the interfaces mapped
    // with `with:`, it would register the 0.2.0 names a second time.
    types::add_to_linker_instance::<CallState, HasSelf<CallState>>(
        &mut linker.instance("envhost:provider/types@0.1.0")?,
        |state| state,
    )?;
    log::add_to_linker_instance::<CallState, HasSelf<CallState>>(
        &mut linker.instance("envhost:provider/log@0.1.0")?,
        |state| state,
    )?;
    v0_1_0::envhost::provider::container::add_to_linker::<CallState, HasSelf<CallState>>(
        linker,
        |state| state,
    )
}
