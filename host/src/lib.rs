//! envhost: a host for environment-provider adapters written as WebAssembly
//! components.
//!
//! The host loads adapters from a directory, gives them a guarded container
//! API backed by the local Docker engine, and owns environment ids, leases,
//! durable state, policy and the HTTP API.

pub mod adapters;
pub mod api;
pub mod cli;
pub mod config;
pub mod conformance;
pub mod container;
pub mod environments;
pub mod ids;
pub mod leases;
pub mod metrics;
pub mod model;
pub mod server;
pub mod state;
