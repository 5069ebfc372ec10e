//! Fuzz target: quantity parsing must not panic, and a quantity that parses
//! must be positive.

#![no_main]

use envhost_guest::quantity::{parse_cpu_nanos, parse_memory_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(nanos) = parse_cpu_nanos(text) {
        assert!(nanos > 0, "cpu quantity `{text}` parsed to 0");
    }
    if let Ok(bytes) = parse_memory_bytes(text) {
        assert!(bytes > 0, "memory quantity `{text}` parsed to 0");
    }
});
