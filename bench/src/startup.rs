//! `startup`: time from spawning `envhost serve` to the first `/healthz`
//! that returns 200, with 10 adapters whose compiled code is already in the
//! artifact cache, and the resident memory of the idle host.

use std::time::Duration;

use serde_json::{Value, json};

use crate::server::{Host, HostDir, host_binary, testing_adapter};
use crate::stats::Summary;

/// Adapters in the adapters folder.
const ADAPTERS: u32 = 10;

/// Idle time before the resident memory is read, so that start-up work has
/// settled.
const IDLE: Duration = Duration::from_secs(2);

const CONFIG: &str = r#"
[server]
listen = "{listen}"

[state]
path = "state/envhost.db"

[adapters]
dir = "adapters"
default = "adapter0"
"#;

/// Starts the host `starts` times after one untimed start that fills the
/// artifact cache, and returns the figure as JSON.
pub(crate) async fn run(starts: usize) -> Result<Value, String> {
    let adapter = testing_adapter()?;
    let binary = host_binary()?;
    let client = reqwest::Client::new();
    let dir = HostDir::new(CONFIG)?;
    for number in 0..ADAPTERS {
        dir.add_adapter(&format!("adapter{number}"), &variant(&adapter, number))?;
    }

    let first = Host::start(&dir, &binary, &client).await?;
    drop(first);

    let mut ready_after = Vec::with_capacity(starts);
    let mut resident = Vec::with_capacity(starts);
    for _ in 0..starts {
        let host = Host::start(&dir, &binary, &client).await?;
        ready_after.push(host.ready_after);
        tokio::time::sleep(IDLE).await;
        resident.push(host.resident_bytes()?);
    }

    let ready = Summary::of(&ready_after);
    resident.sort_unstable();
    let resident_mib = resident[resident.len() / 2] as f64 / (1024.0 * 1024.0);
    Ok(json!({
        "adapters": ADAPTERS,
        "starts": starts,
        "toHealthz": ready.to_json(),
        "toHealthzGoal": "under 200 ms",
        "idleResidentMiB": resident_mib,
        "idleResidentGoal": "under 40 MiB",
    }))
}

/// Returns `bytes` with a custom section appended: the same component with
/// another digest, so that every adapter has its own cached artifact.
pub(crate) fn variant(bytes: &[u8], number: u32) -> Vec<u8> {
    let name = b"envhost-bench-variant";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&number.to_le_bytes());
    let mut out = bytes.to_vec();
    out.push(0);
    out.push(section.len() as u8);
    out.extend_from_slice(&section);
    out
}
