//! The [`export_adapter!`](crate::export_adapter) macro and the runtime
//! support its expansion uses. Nothing here is for authors to call.

use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::provider::Provider;
use crate::types::AdapterInfo;

/// The adapter value of the current instance, set by `init`.
#[doc(hidden)]
pub struct Instance<T> {
    adapter: Mutex<Option<Arc<T>>>,
}

impl<T: Provider> Instance<T> {
    /// Builds an empty slot, for a `static`.
    pub const fn new() -> Self {
        Instance {
            adapter: Mutex::new(None),
        }
    }

    /// Parses the options and builds the adapter, for the `init` export.
    pub fn init(&self, options: &str) -> Result<()> {
        let options = crate::options::parse::<T::Options>(options)?;
        let adapter = T::new(options)?;
        *self.adapter.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(adapter));
        Ok(())
    }

    /// Returns the adapter built by `init`.
    pub fn get(&self) -> Result<Arc<T>> {
        self.adapter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| Error::internal("adapter options are not set: `init` was not called"))
    }

    /// Builds the result of the `metadata` export. Without `init`, the
    /// custom capabilities are empty.
    pub fn metadata(&self, version: &str) -> AdapterInfo {
        let custom = match self.get() {
            Ok(adapter) => adapter.custom_capabilities(),
            Err(_) => serde_json::Value::Object(serde_json::Map::new()),
        };
        AdapterInfo {
            name: T::NAME.to_owned(),
            version: version.to_owned(),
            custom_capabilities: custom.to_string(),
        }
    }
}

impl<T: Provider> Default for Instance<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Exports an adapter: the `provider` interface from its [`Provider`]
/// implementation, and each optional interface named after the colon from
/// the trait of that name ([`TwoPhase`](crate::TwoPhase),
/// [`LeaseHooks`](crate::LeaseHooks), [`Logs`](crate::Logs),
/// [`ExecProbe`](crate::ExecProbe), [`Snapshots`](crate::Snapshots)).
///
/// ```ignore
/// envhost_guest::export_adapter!(MyAdapter);
/// envhost_guest::export_adapter!(MyAdapter: TwoPhase, Logs, ExecProbe);
/// ```
///
/// Use it once, at the root of the adapter crate (a `cdylib`). The version
/// that `metadata` reports is the adapter crate's `CARGO_PKG_VERSION`. The
/// host discovers capabilities from the exports, so an interface left out
/// here is a capability the adapter does not have.
#[macro_export]
macro_rules! export_adapter {
    ($adapter:ty $(: $($interface:ident),+ $(,)?)?) => {
        const _: () = {
            static INSTANCE: $crate::__private::Instance<$adapter> =
                $crate::__private::Instance::new();

            struct Exports;

            impl $crate::__private::provider::Guest for Exports {
                fn init(options: ::std::string::String) -> $crate::Result<()> {
                    INSTANCE.init(&options)
                }

                fn metadata() -> $crate::types::AdapterInfo {
                    INSTANCE.metadata(env!("CARGO_PKG_VERSION"))
                }

                fn create(
                    environment_id: ::std::string::String,
                    request: $crate::types::CreateRequest,
                ) -> $crate::Result<$crate::types::EnvironmentState> {
                    <$adapter as $crate::Provider>::create(&*INSTANCE.get()?, &environment_id, request)
                }

                fn get_status(
                    environment_id: ::std::string::String,
                ) -> $crate::Result<$crate::types::EnvironmentState> {
                    <$adapter as $crate::Provider>::get_status(&*INSTANCE.get()?, &environment_id)
                }

                fn destroy(
                    environment_id: ::std::string::String,
                    reason: ::std::option::Option<::std::string::String>,
                ) -> $crate::Result<()> {
                    <$adapter as $crate::Provider>::destroy(
                        &*INSTANCE.get()?,
                        &environment_id,
                        reason.as_deref(),
                    )
                }
            }

            $crate::bindings::base::export_base!(Exports with_types_in $crate::bindings::base);

            $($($crate::__export_interface!($interface, $adapter, Exports, INSTANCE);)+)?
        };
    };
}

/// Exports one optional interface for [`export_adapter!`](crate::export_adapter).
#[doc(hidden)]
#[macro_export]
macro_rules! __export_interface {
    (TwoPhase, $adapter:ty, $exports:ident, $instance:ident) => {
        impl $crate::__private::two_phase::Guest for $exports {
            fn reserve(
                environment_id: ::std::string::String,
                request: $crate::types::ReserveRequest,
            ) -> $crate::Result<$crate::types::Reservation> {
                <$adapter as $crate::TwoPhase>::reserve(&*$instance.get()?, &environment_id, request)
            }

            fn start(
                environment_id: ::std::string::String,
                reservation: $crate::types::Reservation,
                request: $crate::types::StartRequest,
            ) -> $crate::Result<$crate::types::EnvironmentState> {
                <$adapter as $crate::TwoPhase>::start(
                    &*$instance.get()?,
                    &environment_id,
                    reservation,
                    request,
                )
            }
        }

        $crate::bindings::two_phase::export_two_phase!(
            $exports with_types_in $crate::bindings::two_phase
        );
    };
    (LeaseHooks, $adapter:ty, $exports:ident, $instance:ident) => {
        impl $crate::__private::lease_hooks::Guest for $exports {
            fn renew(
                environment_id: ::std::string::String,
                ttl_ms: u64,
                expires_at_ms: u64,
            ) -> $crate::Result<()> {
                <$adapter as $crate::LeaseHooks>::renew(
                    &*$instance.get()?,
                    &environment_id,
                    ttl_ms,
                    expires_at_ms,
                )
            }
        }

        $crate::bindings::lease_hooks::export_lease_hooks!(
            $exports with_types_in $crate::bindings::lease_hooks
        );
    };
    (Logs, $adapter:ty, $exports:ident, $instance:ident) => {
        impl $crate::__private::logs::Guest for $exports {
            fn logs(
                environment_id: ::std::string::String,
                tail: u32,
            ) -> $crate::Result<::std::vec::Vec<::std::string::String>> {
                <$adapter as $crate::Logs>::logs(&*$instance.get()?, &environment_id, tail)
            }
        }

        $crate::bindings::logs::export_logs!($exports with_types_in $crate::bindings::logs);
    };
    (ExecProbe, $adapter:ty, $exports:ident, $instance:ident) => {
        impl $crate::__private::exec_probe::Guest for $exports {
            fn probe(
                environment_id: ::std::string::String,
                command: ::std::vec::Vec<::std::string::String>,
                timeout_ms: u32,
            ) -> $crate::Result<$crate::types::ProbeResult> {
                <$adapter as $crate::ExecProbe>::probe(
                    &*$instance.get()?,
                    &environment_id,
                    command,
                    timeout_ms,
                )
            }
        }

        $crate::bindings::exec_probe::export_exec_probe!(
            $exports with_types_in $crate::bindings::exec_probe
        );
    };
    (Snapshots, $adapter:ty, $exports:ident, $instance:ident) => {
        impl $crate::__private::snapshots::Guest for $exports {
            fn create_snapshot(
                environment_id: ::std::string::String,
                name: ::std::string::String,
            ) -> $crate::Result<$crate::types::Snapshot> {
                <$adapter as $crate::Snapshots>::create_snapshot(
                    &*$instance.get()?,
                    &environment_id,
                    &name,
                )
            }

            fn list_snapshots(
                environment_id: ::std::string::String,
            ) -> $crate::Result<::std::vec::Vec<$crate::types::Snapshot>> {
                <$adapter as $crate::Snapshots>::list_snapshots(&*$instance.get()?, &environment_id)
            }

            fn delete_snapshot(
                environment_id: ::std::string::String,
                snapshot_id: ::std::string::String,
            ) -> $crate::Result<()> {
                <$adapter as $crate::Snapshots>::delete_snapshot(
                    &*$instance.get()?,
                    &environment_id,
                    &snapshot_id,
                )
            }
        }

        $crate::bindings::snapshots::export_snapshots!(
            $exports with_types_in $crate::bindings::snapshots
        );
    };
    ($other:ident, $adapter:ty, $exports:ident, $instance:ident) => {
        compile_error!(concat!(
            "unknown optional interface `",
            stringify!($other),
            "`: expected TwoPhase, LeaseHooks, Logs, ExecProbe or Snapshots"
        ));
    };
}
