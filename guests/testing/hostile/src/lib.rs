//! A hostile adapter for the host's security tests, built against
//! `envhost:provider@0.2.0`. It attacks the host when asked to, so that the
//! tests can prove each attack is stopped.
//!
//! `create` reads the attack from the request's metadata key `attack`, or
//! else from the adapter option `attack`. Without either, it returns a
//! `ready` environment and touches nothing. Attacks:
//!
//! - `loop`, `memory-bomb`, `panic`: spin forever, allocate until memory
//!   runs out, or panic with a known message.
//! - `log-flood`: write many log lines and much stdout, then succeed.
//! - `privileged`, `host-network`, `cap-add`, `device`, `mount-root`,
//!   `mount-docker-socket`, `envhost-label`, `publish-all-interfaces`: ask
//!   the container API for one thing policy forbids, in an otherwise valid
//!   spec.
//! - `mount-source`: bind-mount the metadata key `source` (a symlink that
//!   leads out of the workspace root, in the tests).
//! - `stop-foreign`, `remove-foreign`, `inspect-foreign`: act on the
//!   container named by the metadata key `target` (an id or a name).
//!
//! Errors of the container API are returned unchanged, so callers see the
//! host's refusal. `get-status` and `destroy` touch nothing.

mod bindings {
    #![allow(unreachable_pub, missing_docs)]

    wit_bindgen::generate!({
        path: "../../../wit/v0.2.0",
        world: "adapter",
    });
}

use std::sync::Mutex;

use bindings::envhost::provider::container::{self, ContainerSpec, Mount, Port};
use bindings::envhost::provider::log::{Level, log};
use bindings::envhost::provider::types::{
    AdapterInfo, CreateRequest, EnvironmentState, ProviderError, Status,
};
use bindings::exports::envhost::provider::provider;
use serde_json::Value;

/// Image of every container spec, unless the metadata sets `image`.
const DEFAULT_IMAGE: &str = "envhost/busybox:test";

/// Message of the `panic` attack, which the tests look for in the error.
const PANIC_MESSAGE: &str = "hostile adapter panics on purpose";

/// Log lines the `log-flood` attack writes, far above the host's per-call cap.
const FLOOD_LOG_LINES: usize = 5_000;

/// Stdout lines of 100 bytes the `log-flood` attack writes: 2 MB.
const FLOOD_STDOUT_LINES: usize = 20_000;

/// Attack from the adapter options, used when the metadata names none.
static OPTIONS_ATTACK: Mutex<Option<String>> = Mutex::new(None);

struct HostileAdapter;

impl provider::Guest for HostileAdapter {
    fn init(options: String) -> Result<(), ProviderError> {
        let options: Value = serde_json::from_str(&options)
            .map_err(|err| ProviderError::InvalidRequest(format!("invalid options: {err}")))?;
        let attack = options["attack"].as_str().map(str::to_owned);
        *OPTIONS_ATTACK.lock().unwrap_or_else(|err| err.into_inner()) = attack;
        Ok(())
    }

    fn metadata() -> AdapterInfo {
        AdapterInfo {
            name: "hostile".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            custom_capabilities: "{}".to_owned(),
        }
    }

    fn create(
        environment_id: String,
        request: CreateRequest,
    ) -> Result<EnvironmentState, ProviderError> {
        let metadata: Value = serde_json::from_str(&request.metadata).unwrap_or(Value::Null);
        let options_attack = OPTIONS_ATTACK
            .lock()
            .unwrap_or_else(|err| err.into_inner())
            .clone();
        let attack = metadata["attack"]
            .as_str()
            .map(str::to_owned)
            .or(options_attack);
        match attack {
            Some(attack) => run_attack(&attack, &environment_id, &metadata),
            None => Ok(ready()),
        }
    }

    fn get_status(_environment_id: String) -> Result<EnvironmentState, ProviderError> {
        Ok(ready())
    }

    fn destroy(_environment_id: String, _reason: Option<String>) -> Result<(), ProviderError> {
        Ok(())
    }
}

fn run_attack(
    attack: &str,
    environment_id: &str,
    metadata: &Value,
) -> Result<EnvironmentState, ProviderError> {
    let image = metadata["image"].as_str().unwrap_or(DEFAULT_IMAGE);
    let mut spec = base_spec(image);
    match attack {
        "loop" => spin_forever(),
        "memory-bomb" => exhaust_memory(),
        "panic" => panic!("{PANIC_MESSAGE}"),
        "log-flood" => {
            flood_log();
            return Ok(ready());
        }
        "stop-foreign" => {
            container::stop(target(metadata)?, 0)?;
            return Ok(ready());
        }
        "remove-foreign" => {
            container::remove(target(metadata)?, true)?;
            return Ok(ready());
        }
        "inspect-foreign" => {
            container::inspect(target(metadata)?)?;
            return Ok(ready());
        }
        "privileged" => spec.privileged = true,
        "host-network" => spec.network_mode = Some("host".to_owned()),
        "cap-add" => spec.cap_add = vec!["SYS_ADMIN".to_owned()],
        "device" => spec.devices = vec!["/dev/mem".to_owned()],
        "mount-root" => spec.mounts = vec![mount("/")],
        "mount-docker-socket" => spec.mounts = vec![mount("/var/run/docker.sock")],
        "mount-source" => {
            let source = metadata["source"].as_str().ok_or_else(|| {
                ProviderError::InvalidRequest("`mount-source` needs metadata `source`".to_owned())
            })?;
            spec.mounts = vec![mount(source)];
        }
        "envhost-label" => {
            spec.labels = vec![("envhost.adapter".to_owned(), "docker".to_owned())];
        }
        "publish-all-interfaces" => {
            spec.ports = vec![Port {
                container_port: 8080,
                protocol: "tcp".to_owned(),
                host_port: None,
                host_ip: Some("0.0.0.0".to_owned()),
            }];
        }
        other => {
            return Err(ProviderError::InvalidRequest(format!(
                "unknown attack `{other}`"
            )));
        }
    }

    // Reached only by the container attacks, which policy must deny. If the
    // policy lets one through, the container is started, so that the test
    // finds a running container and fails.
    let id = container::create(environment_id, &spec)?;
    container::start(&id)?;
    Ok(ready())
}

fn base_spec(image: &str) -> ContainerSpec {
    ContainerSpec {
        image: image.to_owned(),
        command: None,
        entrypoint: None,
        env: Vec::new(),
        labels: Vec::new(),
        mounts: Vec::new(),
        ports: Vec::new(),
        working_dir: None,
        nano_cpus: None,
        memory_bytes: None,
        network: None,
        extra_hosts: Vec::new(),
        auto_remove: false,
        init: false,
        privileged: false,
        network_mode: None,
        cap_add: Vec::new(),
        devices: Vec::new(),
    }
}

fn mount(source: &str) -> Mount {
    Mount {
        source: source.to_owned(),
        target: "/host".to_owned(),
        read_only: false,
    }
}

fn target(metadata: &Value) -> Result<&str, ProviderError> {
    metadata["target"].as_str().ok_or_else(|| {
        ProviderError::InvalidRequest("this attack needs metadata `target`".to_owned())
    })
}

fn spin_forever() -> ! {
    let mut counter: u64 = 0;
    loop {
        // `black_box` keeps the optimizer from proving the loop useless.
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

fn exhaust_memory() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        // Writing every page makes the memory real, not only reserved.
        blocks.push(vec![1u8; 8 << 20]);
        std::hint::black_box(&blocks);
    }
}

fn flood_log() {
    for line in 0..FLOOD_LOG_LINES {
        log(Level::Info, &format!("flood line {line}"));
    }

    // Written in large chunks, so that the flood costs few host calls and
    // fits in the call deadline even on a slow host.
    let mut chunk = String::new();
    for line in 0..FLOOD_STDOUT_LINES {
        chunk.push_str(&format!("flood stdout line {line:05} {}\n", "x".repeat(75)));
        if chunk.len() >= 64 * 1024 {
            print!("{chunk}");
            chunk.clear();
        }
    }
    print!("{chunk}");
}

fn ready() -> EnvironmentState {
    EnvironmentState {
        status: Status::Ready,
        reason: None,
        endpoints: Vec::new(),
        metadata: "{}".to_owned(),
    }
}

bindings::export!(HostileAdapter with_types_in bindings);
