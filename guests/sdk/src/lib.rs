//! The crate envhost adapters are written with.
//!
//! An adapter is a WebAssembly component that the envhost host loads from a
//! folder. It creates, inspects and destroys environments (containers,
//! sandboxes, anything with a lifecycle) on the host's behalf. With this
//! crate an author implements Rust traits and never touches WIT:
//!
//! - [`Provider`]: the required functions `create`, `get_status` and
//!   `destroy`, plus the adapter's options type and name;
//! - [`TwoPhase`], [`LeaseHooks`], [`Logs`], [`ExecProbe`]: one trait per
//!   optional interface;
//! - [`export_adapter!`]: exports the adapter with the optional interfaces
//!   listed, which are the capabilities the host discovers.
//!
//! Errors are [`Error`], the contract's typed `provider-error`. Options are
//! deserialized with serde ([`options::parse`]). [`container`] is the host's
//! guarded Docker API, [`log`] sends lines to the host's log, and
//! [`quantity`] parses Kubernetes resource quantities.
//!
//! # A complete adapter
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "hello-adapter"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! envhost-guest = { path = "../envhost/guests/sdk" }
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"
//! ```
//!
//! `src/lib.rs`, an adapter whose environments are always ready and need no
//! backend:
//!
//! ```no_run
//! use envhost_guest::types::{CreateRequest, EnvironmentState, Status};
//! use envhost_guest::{Error, Provider, Result};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Options {
//!     #[serde(default)]
//!     greeting: Option<String>,
//! }
//!
//! struct Hello {
//!     greeting: String,
//! }
//!
//! impl Provider for Hello {
//!     type Options = Options;
//!     const NAME: &'static str = "hello";
//!
//!     fn new(options: Options) -> Result<Self> {
//!         let greeting = options.greeting.unwrap_or_else(|| "hello".to_owned());
//!         if greeting.is_empty() {
//!             return Err(Error::invalid_request("option `greeting` is empty"));
//!         }
//!         Ok(Hello { greeting })
//!     }
//!
//!     fn create(&self, _id: &str, _request: CreateRequest) -> Result<EnvironmentState> {
//!         let metadata = serde_json::json!({ "greeting": self.greeting });
//!         Ok(EnvironmentState::new(Status::Ready).with_metadata(&metadata))
//!     }
//!
//!     fn get_status(&self, _id: &str) -> Result<EnvironmentState> {
//!         Ok(EnvironmentState::new(Status::Ready))
//!     }
//!
//!     fn destroy(&self, _id: &str, _reason: Option<&str>) -> Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! envhost_guest::export_adapter!(Hello);
//! ```
//!
//! Build it into a component with
//! `cargo build --release --target wasm32-wasip2` (after
//! `rustup target add wasm32-wasip2`), copy
//! `target/wasm32-wasip2/release/hello_adapter.wasm` into the host's
//! adapter folder as `hello.wasm`, and check it with
//! `envhost conformance hello.wasm`.
//!
//! # Instances and state
//!
//! The host makes a fresh instance for every call and calls `init` first, so
//! [`Provider::new`] runs once per call and nothing in memory survives to
//! the next call. An adapter finds its environments again from the id: the
//! Docker host API names the container `envhost-<id>`
//! ([`container::container_name`]), and two-phase adapters get their
//! reservation back from the host on `start`.
//!
//! # Native builds
//!
//! The crate also builds for the machine it runs on, so an adapter's logic
//! can be unit-tested with `cargo test`. The host imports (container, log)
//! then panic when called, so tests must not reach them.

#![warn(missing_docs)]

#[doc(hidden)]
pub mod bindings;
pub mod container;
pub mod error;
mod export;
pub mod log;
pub mod options;
pub mod provider;
pub mod quantity;
pub mod types;

pub use error::{Error, Result};
pub use provider::{ExecProbe, LeaseHooks, Logs, Provider, Snapshots, TwoPhase};

/// Items the expansion of [`export_adapter!`] names. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::base::exports::envhost::provider::provider;
    pub use crate::bindings::exec_probe::exports::envhost::provider::exec_probe;
    pub use crate::bindings::lease_hooks::exports::envhost::provider::lease_hooks;
    pub use crate::bindings::logs::exports::envhost::provider::logs;
    pub use crate::bindings::snapshots::exports::envhost::provider::snapshots;
    pub use crate::bindings::two_phase::exports::envhost::provider::two_phase;
    pub use crate::export::Instance;
}
