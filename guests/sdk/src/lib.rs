//! Helpers for writing envhost adapters.
//!
//! [`quantity`] parses Kubernetes resource quantities, which the host and the
//! adapters both need: the host to reject a bad request before any adapter
//! runs, an adapter to turn a request into engine limits.

pub mod quantity;
