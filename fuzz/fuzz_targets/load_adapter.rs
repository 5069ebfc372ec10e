//! Fuzz target: loading arbitrary bytes as an adapter must return an error or
//! an adapter, not panic. One runtime serves every input, as in the host.

#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use envhost::adapters::{GuestLimits, Runtime};
use envhost::ids::AdapterName;
use libfuzzer_sys::fuzz_target;

struct Harness {
    tokio: tokio::runtime::Runtime,
    runtime: Arc<Runtime>,
    name: AdapterName,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let limits = GuestLimits {
            memory_bytes: 64 << 20,
            call_timeout: Duration::from_secs(1),
        };
        Harness {
            tokio: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("failed to build the tokio runtime"),
            runtime: Runtime::new(limits, None).expect("failed to build the adapter runtime"),
            name: AdapterName::parse("fuzz").expect("`fuzz` is a valid adapter name"),
        }
    })
}

fuzz_target!(|bytes: &[u8]| {
    let harness = harness();
    let options = serde_json::json!({});
    let load = harness.runtime.load_bytes(
        harness.name.clone(),
        Path::new("fuzz.wasm"),
        bytes.to_vec(),
        &options,
    );
    if let Err(err) = harness.tokio.block_on(load) {
        assert!(!err.to_string().is_empty());
    }
});
