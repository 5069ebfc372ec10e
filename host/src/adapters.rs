//! Adapters: WebAssembly components that provide environments.
//!
//! [`Runtime`] holds the engine and linker; loading a file gives an
//! [`Adapter`], whose calls each run in a fresh instance; [`Registry`] keeps
//! the loaded adapters by name.

mod adapter;
mod bindings;
mod cache;
mod check;
mod convert;
mod engine;
mod error;
mod grants;
mod health;
mod imports;
mod output;
mod registry;
mod runtime;
mod store;
mod watcher;

pub use adapter::{Adapter, LoadPhases, ProbeOutput, SnapshotOutput};
pub use cache::CompileSource;
pub use check::CheckReport;
pub use convert::{AdapterState, ReservationState};
pub use engine::Compiler;
pub use error::{CallError, LoadError, ProviderErrorKind};
pub use grants::GrantTable;
pub use registry::{LoadOutcome, Registry};
pub use runtime::{GuestLimits, Runtime, SUPPORTED_WIT_VERSIONS, adapter_name_for};
pub use watcher::{AdapterWatcher, WatchError};
