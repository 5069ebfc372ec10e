//! `docker`: create → ready → destroy of the test image through envhost's
//! HTTP API with the Docker adapter, beside the same container operations
//! done directly with bollard, interleaved round by round.
//!
//! Both sides create a container from `envhost/busybox:test` running
//! `sleep 600` with an init process, port 8080 published on 127.0.0.1 and
//! `no-new-privileges`, start it, read its state, stop it with a 2 s grace
//! period and remove it. What envhost adds is the HTTP request, the adapter
//! calls (a fresh instance each), the policy check, the image and adoption
//! checks the adapter makes, and the state writes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, RemoveContainerOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder,
};
use serde_json::{Value, json};

use crate::server::{Host, HostDir, host_binary, locate};
use crate::stats::Summary;

const IMAGE: &str = "envhost/busybox:test";

/// Grace period of a stop on both sides, in seconds.
const STOP_GRACE_SECONDS: u32 = 2;

/// Prefix of the containers the direct side creates, so that a failed run
/// leaves containers that are easy to find and remove.
const DIRECT_PREFIX: &str = "envhost-bench-direct";

const CONFIG: &str = r#"
[server]
listen = "{listen}"

[state]
path = "state/envhost.db"

[adapters]
dir = "adapters"
default = "docker"

[adapters.docker.options]
defaultImage = "envhost/busybox:test"
stopGraceSeconds = 2

[leases]
default_ttl = "10m"

[policy]
allowed_images = ["envhost/*"]
"#;

/// Runs `rounds` interleaved rounds and returns the figure as JSON.
pub(crate) async fn run(rounds: usize) -> Result<Value, String> {
    let adapter = locate(
        "ENVHOST_DOCKER_ADAPTER",
        "wasm32-wasip2/guest/envhost_docker_adapter.wasm",
        "the Docker adapter",
    )?;
    let adapter = std::fs::read(&adapter)
        .map_err(|err| format!("failed to read `{}`: {err}", adapter.display()))?;
    let docker = Docker::connect_with_local_defaults()
        .map_err(|err| format!("failed to connect to the Docker engine: {err}"))?
        .negotiate_version()
        .await
        .map_err(|err| format!("failed to negotiate the Docker API version: {err}"))?;
    docker.inspect_image(IMAGE).await.map_err(|err| {
        format!("the test image `{IMAGE}` is missing ({err}): run scripts/build-test-image.sh")
    })?;

    let dir = HostDir::new(CONFIG)?;
    dir.add_adapter("docker", &adapter)?;
    let client = reqwest::Client::new();
    let host = Host::start(&dir, &host_binary()?, &client).await?;

    // One untimed round each, so that neither side pays for first-use costs
    // (the engine's image cache, the adapter's compiled code, connections).
    envhost_round(&client, &host).await?;
    direct_round(&docker, 0).await?;

    let mut through_envhost = Vec::with_capacity(rounds);
    let mut direct = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Alternating which side goes first cancels out any effect the
        // previous round's teardown has on the next create.
        if round % 2 == 0 {
            through_envhost.push(envhost_round(&client, &host).await?);
            direct.push(direct_round(&docker, round + 1).await?);
        } else {
            direct.push(direct_round(&docker, round + 1).await?);
            through_envhost.push(envhost_round(&client, &host).await?);
        }
        eprint!("\rdocker: round {}/{rounds}", round + 1);
    }
    eprintln!();

    let envhost = Summary::of(&through_envhost);
    let direct = Summary::of(&direct);
    Ok(json!({
        "rounds": rounds,
        "envhost": envhost.to_json(),
        "bollard": direct.to_json(),
        "medianRatio": envhost.median_ms / direct.median_ms,
        "p90Ratio": envhost.p90_ms / direct.p90_ms,
        "goal": "median ratio at most 1.10 (aim 1.05)",
    }))
}

/// Creates an environment, waits until it is ready, destroys it.
async fn envhost_round(client: &reqwest::Client, host: &Host) -> Result<Duration, String> {
    let started = Instant::now();
    let url = format!("{}/v1/environments", host.base_url());
    let body = json!({"image": IMAGE, "command": ["sleep", "600"], "ttlMs": 600_000});
    let response = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|err| format!("create through envhost failed: {err}"))?;
    let status = response.status();
    let descriptor: Value = response
        .json()
        .await
        .map_err(|err| format!("create through envhost returned no JSON: {err}"))?;
    if !status.is_success() {
        return Err(format!(
            "create through envhost failed with {status}: {descriptor}"
        ));
    }
    let id = descriptor["environmentId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let environment = format!("{url}/{id}");

    let mut current = descriptor["status"].as_str().unwrap_or_default().to_owned();
    while current != "ready" {
        if current == "failed" || started.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "environment `{id}` did not become ready: {current}"
            ));
        }
        let descriptor: Value = client
            .get(&environment)
            .send()
            .await
            .and_then(|response| response.error_for_status())
            .map_err(|err| format!("status of `{id}` failed: {err}"))?
            .json()
            .await
            .map_err(|err| format!("status of `{id}` returned no JSON: {err}"))?;
        current = descriptor["status"].as_str().unwrap_or_default().to_owned();
    }

    client
        .delete(&environment)
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .map_err(|err| format!("destroy of `{id}` failed: {err}"))?;
    Ok(started.elapsed())
}

/// Creates, starts, inspects, stops and removes a container with bollard.
async fn direct_round(docker: &Docker, round: usize) -> Result<Duration, String> {
    let name = format!("{DIRECT_PREFIX}-{}-{round}", std::process::id());
    let port = "8080/tcp".to_owned();
    let bindings = HashMap::from([(
        port.clone(),
        Some(vec![PortBinding {
            host_ip: Some("127.0.0.1".to_owned()),
            host_port: Some(String::new()),
        }]),
    )]);
    let body = ContainerCreateBody {
        image: Some(IMAGE.to_owned()),
        cmd: Some(vec!["sleep".to_owned(), "600".to_owned()]),
        labels: Some(HashMap::from([(
            "envhost-bench".to_owned(),
            "direct".to_owned(),
        )])),
        exposed_ports: Some(HashMap::from([(port, HashMap::new())])),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            init: Some(true),
            security_opt: Some(vec!["no-new-privileges:true".to_owned()]),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    };

    let started = Instant::now();
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    let created = docker
        .create_container(Some(options), body)
        .await
        .map_err(|err| format!("bollard create of `{name}` failed: {err}"))?;
    docker
        .start_container(&created.id, None::<StartContainerOptions>)
        .await
        .map_err(|err| format!("bollard start of `{name}` failed: {err}"))?;
    let inspected = docker
        .inspect_container(&created.id, None::<InspectContainerOptions>)
        .await
        .map_err(|err| format!("bollard inspect of `{name}` failed: {err}"))?;
    let running = inspected
        .state
        .and_then(|state| state.running)
        .unwrap_or(false);
    if !running {
        return Err(format!("container `{name}` is not running after start"));
    }
    let stop = StopContainerOptionsBuilder::new()
        .t(STOP_GRACE_SECONDS as i32)
        .build();
    docker
        .stop_container(&created.id, Some(stop))
        .await
        .map_err(|err| format!("bollard stop of `{name}` failed: {err}"))?;
    let remove = RemoveContainerOptionsBuilder::new().force(true).build();
    docker
        .remove_container(&created.id, Some(remove))
        .await
        .map_err(|err| format!("bollard remove of `{name}` failed: {err}"))?;
    Ok(started.elapsed())
}
