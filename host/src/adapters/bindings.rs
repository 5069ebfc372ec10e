//! Host bindings generated from the WIT package, one module per released WIT
//! version.

/// Bindings of `envhost:provider@0.1.0`.
pub(crate) mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
        world: "adapter-full",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}
