//! Container layer against the real Docker engine, with the test image
//! `envhost/busybox:test` (FROM scratch, static busybox in /bin, `EXPOSE
//! 8080`). Every test uses its own host id, so cleanup removes exactly the
//! containers and networks the test created, even when it panics.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptions, ListImagesOptions, ListNetworksOptions,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use envhost::container::{
    ContainerError, ContainerHost, ContainerSpec, Mount, Policy, PortRequest,
};
use envhost::ids::{AdapterName, EnvironmentId, HostId};
use envhost::state::{StateError, WriteTicket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IMAGE: &str = "envhost/busybox:test";
const SOCKET: &str = "/var/run/docker.sock";

/// Removes every container, network and snapshot image labelled with the
/// test's host id when dropped.
struct Cleanup {
    host_id: HostId,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let host_id = self.host_id.clone();
        // Drop can not await, and the test's runtime may be shutting down, so
        // the cleanup gets a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("failed to build the cleanup runtime");
            runtime.block_on(remove_everything_of(&host_id));
        });
        let _ = cleanup.join();
    }
}

async fn remove_everything_of(host_id: &HostId) {
    let docker = engine().await;
    for container in engine_containers(&docker, host_id).await {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        let id = container.id.unwrap_or_default();
        let _ = docker.remove_container(&id, Some(options)).await;
    }
    let filter = format!("envhost.host={host_id}");
    let options = ListNetworksOptions {
        filters: Some(HashMap::from([("label".to_owned(), vec![filter])])),
    };
    for network in docker
        .list_networks(Some(options))
        .await
        .unwrap_or_default()
    {
        let _ = docker.remove_network(&network.id.unwrap_or_default()).await;
    }
    let options = ListImagesOptions {
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![format!("envhost.host={host_id}")],
        )])),
        ..ListImagesOptions::default()
    };
    for image in docker.list_images(Some(options)).await.unwrap_or_default() {
        let options = RemoveImageOptionsBuilder::new().force(true).build();
        let _ = docker.remove_image(&image.id, Some(options), None).await;
    }
}

/// Raw engine client for checking what the container layer did.
async fn engine() -> Docker {
    let docker = Docker::connect_with_unix(SOCKET, 120, bollard::API_DEFAULT_VERSION)
        .unwrap_or_else(|err| panic!("{}", no_engine_message(&err.to_string())));
    docker
        .negotiate_version()
        .await
        .unwrap_or_else(|err| panic!("{}", no_engine_message(&err.to_string())))
}

fn no_engine_message(err: &str) -> String {
    format!(
        "no Docker engine reachable at `{SOCKET}`: {err}. These tests need one: start it with \
         `sudo systemctl start docker` or `sudo dockerd &`, and build the test image \
         `{IMAGE}` (FROM scratch with a static busybox in /bin)"
    )
}

/// Lists every container, running or not, labelled with `host_id`.
async fn engine_containers(
    docker: &Docker,
    host_id: &HostId,
) -> Vec<bollard::models::ContainerSummary> {
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![format!("envhost.host={host_id}")],
        )])),
        ..ListContainersOptions::default()
    };
    docker
        .list_containers(Some(options))
        .await
        .expect("failed to list containers")
}

/// Connects a host with a fresh host id and returns a cleanup guard for it.
async fn connect(policy: Policy) -> (ContainerHost, Cleanup) {
    let host_id = HostId::from_stored(format!("test-{}", EnvironmentId::mint()));
    let cleanup = Cleanup {
        host_id: host_id.clone(),
    };
    let host = ContainerHost::connect(Some(SOCKET), policy, host_id)
        .await
        .unwrap_or_else(|err| panic!("{}", no_engine_message(&err.to_string())));
    (host, cleanup)
}

fn adapter(name: &str) -> AdapterName {
    AdapterName::parse(name).unwrap()
}

fn spec() -> ContainerSpec {
    ContainerSpec {
        image: IMAGE.to_owned(),
        ..ContainerSpec::default()
    }
}

fn denied_rule(err: &ContainerError) -> Option<&'static str> {
    match err {
        ContainerError::Denied { rule, .. } => Some(rule),
        _ => None,
    }
}

#[tokio::test]
async fn create_stamps_ownership_labels_and_name() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let environment = EnvironmentId::mint();
    let spec = ContainerSpec {
        labels: vec![("team".into(), "infra".into())],
        ..spec()
    };

    let id = host
        .create(&adapter("test-a"), &environment, spec)
        .await
        .unwrap();

    let docker = engine().await;
    let inspected = docker
        .inspect_container(&id, None::<InspectContainerOptions>)
        .await
        .unwrap();
    assert_eq!(
        inspected.name.as_deref(),
        Some(&*format!("/envhost-{environment}"))
    );
    let labels = inspected.config.unwrap().labels.unwrap();
    assert_eq!(labels["envhost.managed"], "true");
    assert_eq!(labels["envhost.host"], host.host_id().as_str());
    assert_eq!(labels["envhost.adapter"], "test-a");
    assert_eq!(labels["envhost.environment"], environment.as_str());
    assert_eq!(labels["team"], "infra");
}

#[tokio::test]
async fn create_twice_adopts_existing_container() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let environment = EnvironmentId::mint();
    let adapter = adapter("test-a");

    let first = host.create(&adapter, &environment, spec()).await.unwrap();
    let second = host.create(&adapter, &environment, spec()).await.unwrap();

    assert_eq!(first, second);
    let docker = engine().await;
    assert_eq!(engine_containers(&docker, host.host_id()).await.len(), 1);
}

#[tokio::test]
async fn policy_denials_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy {
        allowed_images: vec!["envhost/*".into()],
        workspace_roots: vec![dir.path().join("ws")],
        max_nano_cpus: Some(1_000_000_000),
        max_memory_bytes: Some(256 << 20),
        ..Policy::default()
    };
    std::fs::create_dir_all(dir.path().join("ws")).unwrap();
    let (host, _cleanup) = connect(policy).await;
    let port = PortRequest {
        container_port: 8080,
        protocol: "tcp".into(),
        host_port: None,
        host_ip: Some("0.0.0.0".into()),
    };
    let etc_mount = Mount {
        source: "/etc".into(),
        target: "/host-etc".into(),
        read_only: true,
    };
    let cases = [
        (
            "privileged",
            ContainerSpec {
                privileged: true,
                ..spec()
            },
        ),
        (
            "cap-add",
            ContainerSpec {
                cap_add: vec!["SYS_ADMIN".into()],
                ..spec()
            },
        ),
        (
            "devices",
            ContainerSpec {
                devices: vec!["/dev/mem".into()],
                ..spec()
            },
        ),
        (
            "network-mode",
            ContainerSpec {
                network_mode: Some("host".into()),
                ..spec()
            },
        ),
        (
            "network-mode",
            ContainerSpec {
                network_mode: Some("container:other".into()),
                ..spec()
            },
        ),
        (
            "publish-address",
            ContainerSpec {
                ports: vec![port],
                ..spec()
            },
        ),
        (
            "labels",
            ContainerSpec {
                labels: vec![("envhost.adapter".into(), "x".into())],
                ..spec()
            },
        ),
        (
            "max-cpu",
            ContainerSpec {
                nano_cpus: Some(2_000_000_000),
                ..spec()
            },
        ),
        (
            "max-memory",
            ContainerSpec {
                memory_bytes: Some(1 << 30),
                ..spec()
            },
        ),
        (
            "allowed-images",
            ContainerSpec {
                image: "busybox:latest".into(),
                ..spec()
            },
        ),
        (
            "workspace",
            ContainerSpec {
                mounts: vec![etc_mount],
                ..spec()
            },
        ),
    ];

    for (rule, spec) in cases {
        let environment = EnvironmentId::mint();
        let err = host
            .create(&adapter("test-a"), &environment, spec)
            .await
            .expect_err(rule);
        assert_eq!(denied_rule(&err), Some(rule), "{err}");
    }

    let docker = engine().await;
    assert!(engine_containers(&docker, host.host_id()).await.is_empty());
}

#[tokio::test]
async fn absent_image_without_pulls_is_invalid_request() {
    let (host, _cleanup) = connect(Policy::default()).await;

    let spec = ContainerSpec {
        image: "envhost/absent:none".into(),
        ..spec()
    };
    let err = host
        .create(&adapter("test-a"), &EnvironmentId::mint(), spec)
        .await
        .unwrap_err();

    assert!(matches!(err, ContainerError::InvalidRequest(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "image `envhost/absent:none` is not present locally and pulls are not allowed"
    );
    let docker = engine().await;
    assert!(engine_containers(&docker, host.host_id()).await.is_empty());
}

#[tokio::test]
async fn other_adapter_is_denied_by_id_and_name() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let environment = EnvironmentId::mint();
    let name = environment.container_name();
    let (owner, intruder) = (adapter("test-a"), adapter("test-b"));
    let id = host.create(&owner, &environment, spec()).await.unwrap();

    for reference in [id.as_str(), name.as_str()] {
        let inspect = host.inspect(&intruder, reference).await.unwrap_err();
        assert_eq!(denied_rule(&inspect), Some("ownership"), "{inspect}");
        let start = host.start(&intruder, reference).await.unwrap_err();
        assert_eq!(denied_rule(&start), Some("ownership"), "{start}");
        let stop = host.stop(&intruder, reference, 0).await.unwrap_err();
        assert_eq!(denied_rule(&stop), Some("ownership"), "{stop}");
        let remove = host.remove(&intruder, reference, true).await.unwrap_err();
        assert_eq!(denied_rule(&remove), Some("ownership"), "{remove}");
    }
    let adopt = host
        .create(&intruder, &environment, spec())
        .await
        .unwrap_err();
    assert_eq!(denied_rule(&adopt), Some("ownership"), "{adopt}");

    assert!(host.list(&intruder, &[]).await.unwrap().is_empty());
    let owned = host.list(&owner, &[]).await.unwrap();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].id, id);
    assert_eq!(owned[0].name, name);
    assert_eq!(owned[0].status, "created");
}

#[tokio::test]
async fn other_host_is_denied_and_sees_nothing() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let (other_host, _other_cleanup) = connect(Policy::default()).await;
    let environment = EnvironmentId::mint();
    let adapter = adapter("test-a");
    let id = host.create(&adapter, &environment, spec()).await.unwrap();

    for reference in [id.clone(), environment.container_name()] {
        let inspect = other_host.inspect(&adapter, &reference).await.unwrap_err();
        assert_eq!(denied_rule(&inspect), Some("ownership"), "{inspect}");
        let remove = other_host
            .remove(&adapter, &reference, true)
            .await
            .unwrap_err();
        assert_eq!(denied_rule(&remove), Some("ownership"), "{remove}");
    }
    assert!(other_host.list(&adapter, &[]).await.unwrap().is_empty());
    let removed = other_host
        .remove_environment_containers(&environment)
        .await
        .unwrap();
    assert_eq!(removed, 0);

    assert_eq!(host.inspect(&adapter, &id).await.unwrap().id, id);
}

#[tokio::test]
async fn list_filters_by_extra_labels() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let adapter = adapter("test-a");
    let tagged = ContainerSpec {
        labels: vec![("run".into(), "42".into())],
        ..spec()
    };
    let tagged_id = host
        .create(&adapter, &EnvironmentId::mint(), tagged)
        .await
        .unwrap();
    host.create(&adapter, &EnvironmentId::mint(), spec())
        .await
        .unwrap();

    let filter = [("run".to_owned(), "42".to_owned())];
    let listed = host.list(&adapter, &filter).await.unwrap();

    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, tagged_id);
    assert_eq!(host.list(&adapter, &[]).await.unwrap().len(), 2);
}

#[tokio::test]
async fn limits_reach_the_engine() {
    let policy = Policy {
        max_nano_cpus: Some(2_000_000_000),
        max_memory_bytes: Some(512 << 20),
        pids_limit: Some(64),
        ..Policy::default()
    };
    let (host, _cleanup) = connect(policy).await;
    let spec = ContainerSpec {
        nano_cpus: Some(500_000_000),
        memory_bytes: Some(64 << 20),
        ..spec()
    };

    let id = host
        .create(&adapter("test-a"), &EnvironmentId::mint(), spec)
        .await
        .unwrap();

    let docker = engine().await;
    let inspected = docker
        .inspect_container(&id, None::<InspectContainerOptions>)
        .await
        .unwrap();
    let host_config = inspected.host_config.unwrap();
    assert_eq!(host_config.nano_cpus, Some(500_000_000));
    assert_eq!(host_config.memory, Some(64 << 20));
    assert_eq!(host_config.memory_swap, Some(64 << 20));
    assert_eq!(host_config.pids_limit, Some(64));
    assert_eq!(host_config.privileged, Some(false));
    let security = host_config.security_opt.unwrap_or_default();
    assert!(
        security.contains(&"no-new-privileges:true".to_owned()),
        "{security:?}"
    );
}

#[tokio::test]
async fn published_port_responds_on_loopback() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let adapter = adapter("test-a");
    let script = "mkdir -p /www && echo envhost-ok > /www/index.html \
                  && exec /bin/httpd -f -p 8080 -h /www";
    let spec = ContainerSpec {
        command: Some(vec!["/bin/sh".into(), "-c".into(), script.into()]),
        ports: vec![PortRequest {
            container_port: 8080,
            protocol: "tcp".into(),
            host_port: None,
            host_ip: None,
        }],
        ..spec()
    };

    let id = host
        .create(&adapter, &EnvironmentId::mint(), spec)
        .await
        .unwrap();
    host.start(&adapter, &id).await.unwrap();
    let info = host.inspect(&adapter, &id).await.unwrap();

    assert_eq!(info.state.status, "running");
    assert_eq!(info.ports.len(), 1, "{:?}", info.ports);
    let port = &info.ports[0];
    assert_eq!(port.container_port, 8080);
    assert_eq!(port.host_ip, "127.0.0.1");
    let body = http_get_with_retry(port.host_port).await;
    assert!(body.contains("envhost-ok"), "{body}");
}

/// Sends `GET /` to 127.0.0.1:`port` until httpd responds, for up to 10 s.
async fn http_get_with_retry(port: u16) -> String {
    let mut last_error = String::new();
    for _ in 0..50 {
        match http_get(port).await {
            Ok(body) if body.starts_with("HTTP/") => return body,
            Ok(body) => last_error = format!("unexpected response {body:?}"),
            Err(err) => last_error = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no HTTP response on 127.0.0.1:{port}: {last_error}");
}

async fn http_get(port: u16) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test]
async fn workspace_mount_resolves_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(root.join("project")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
    let policy = Policy {
        workspace_roots: vec![root.clone()],
        ..Policy::default()
    };
    let (host, _cleanup) = connect(policy).await;
    let adapter = adapter("test-a");
    let mount = |source: &Path| ContainerSpec {
        mounts: vec![Mount {
            source: source.to_string_lossy().into_owned(),
            target: "/workspace".into(),
            read_only: false,
        }],
        ..spec()
    };

    for escape in [
        root.join("../outside"),
        root.join("escape"),
        root.join("project/../.."),
    ] {
        let err = host
            .create(&adapter, &EnvironmentId::mint(), mount(&escape))
            .await
            .unwrap_err();
        assert_eq!(
            denied_rule(&err),
            Some("workspace"),
            "{}: {err}",
            escape.display()
        );
    }
    let docker = engine().await;
    assert!(engine_containers(&docker, host.host_id()).await.is_empty());

    // Lexically this is `ws/project`, but the kernel resolves the symlink
    // first and lands on `outside/../project`.
    std::fs::create_dir_all(dir.path().join("project")).unwrap();
    let lexically_inside = root.join("escape/../project");
    let err = host
        .create(&adapter, &EnvironmentId::mint(), mount(&lexically_inside))
        .await
        .unwrap_err();
    assert_eq!(
        denied_rule(&err),
        Some("workspace"),
        "symlink then `..`: {err}"
    );

    let id = host
        .create(
            &adapter,
            &EnvironmentId::mint(),
            mount(&root.join("project/./")),
        )
        .await
        .unwrap();
    let inspected = docker
        .inspect_container(&id, None::<InspectContainerOptions>)
        .await
        .unwrap();
    let mounts = inspected.mounts.unwrap_or_default();
    assert_eq!(mounts.len(), 1);
    let expected = root.join("project").canonicalize().unwrap();
    assert_eq!(
        mounts[0].source.as_deref(),
        Some(&*expected.to_string_lossy())
    );
    assert_eq!(mounts[0].destination.as_deref(), Some("/workspace"));
}

#[tokio::test]
async fn start_stop_and_remove_repeat_safely() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let adapter = adapter("test-a");
    let environment = EnvironmentId::mint();
    let name = environment.container_name();
    host.create(&adapter, &environment, spec()).await.unwrap();

    host.start(&adapter, &name).await.unwrap();
    host.start(&adapter, &name).await.unwrap();
    assert_eq!(
        host.inspect(&adapter, &name).await.unwrap().state.status,
        "running"
    );

    host.stop(&adapter, &name, 1).await.unwrap();
    host.stop(&adapter, &name, 1).await.unwrap();
    let state = host.inspect(&adapter, &name).await.unwrap().state;
    assert_eq!(state.status, "exited");
    assert!(state.started_at.is_some());
    assert!(state.finished_at.is_some());

    host.remove(&adapter, &name, false).await.unwrap();
    let err = host.remove(&adapter, &name, false).await.unwrap_err();
    assert!(matches!(err, ContainerError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn remove_environment_containers_counts_removals() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let environment = EnvironmentId::mint();
    let other_environment = EnvironmentId::mint();
    let adapter = adapter("test-a");
    host.create(&adapter, &environment, spec()).await.unwrap();
    host.create(&adapter, &other_environment, spec())
        .await
        .unwrap();
    host.start(&adapter, &environment.container_name())
        .await
        .unwrap();

    assert_eq!(
        host.remove_environment_containers(&environment)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        host.remove_environment_containers(&environment)
            .await
            .unwrap(),
        0
    );

    let remaining = host.list(&adapter, &[]).await.unwrap();
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0].name, other_environment.container_name());
}

#[tokio::test]
async fn image_lookups_follow_allowed_images() {
    let policy = Policy {
        allowed_images: vec!["envhost/*".into()],
        ..Policy::default()
    };
    let (host, _cleanup) = connect(policy).await;
    let adapter = adapter("test-a");

    let info = host.image_inspect(&adapter, IMAGE).await.unwrap().unwrap();
    assert!(info.id.starts_with("sha256:"), "{}", info.id);
    assert_eq!(info.exposed_ports, vec![(8080, "tcp".to_owned())]);
    assert!(host.image_exists(&adapter, IMAGE).await.unwrap());
    assert!(
        !host
            .image_exists(&adapter, "envhost/absent:none")
            .await
            .unwrap()
    );

    let err = host
        .image_exists(&adapter, "busybox:latest")
        .await
        .unwrap_err();
    assert_eq!(denied_rule(&err), Some("allowed-images"), "{err}");
}

#[tokio::test]
async fn network_ensure_creates_one_labelled_bridge() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let adapter = adapter("test-a");
    let name = format!("envhost-test-{}", EnvironmentId::mint());

    host.network_ensure(&adapter, &name).await.unwrap();
    host.network_ensure(&adapter, &name).await.unwrap();

    let docker = engine().await;
    let options = ListNetworksOptions {
        filters: Some(HashMap::from([("name".to_owned(), vec![name.clone()])])),
    };
    let networks = docker.list_networks(Some(options)).await.unwrap();
    assert_eq!(networks.len(), 1);
    assert_eq!(networks[0].driver.as_deref(), Some("bridge"));
    let labels = networks[0].labels.clone().unwrap_or_default();
    assert_eq!(labels["envhost.managed"], "true");
    assert_eq!(labels["envhost.host"], host.host_id().as_str());

    let err = host.network_ensure(&adapter, "host").await.unwrap_err();
    assert_eq!(denied_rule(&err), Some("network"), "{err}");
    host.network_ensure(&adapter, "bridge").await.unwrap();
    host.network_ensure(&adapter, "none").await.unwrap();
}

#[tokio::test]
async fn container_joins_an_ensured_network() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let adapter = adapter("test-a");
    let network = format!("envhost-test-{}", EnvironmentId::mint());
    host.network_ensure(&adapter, &network).await.unwrap();

    let spec = ContainerSpec {
        network: Some(network.clone()),
        ..spec()
    };
    let id = host
        .create(&adapter, &EnvironmentId::mint(), spec)
        .await
        .unwrap();

    let docker = engine().await;
    let inspected = docker
        .inspect_container(&id, None::<InspectContainerOptions>)
        .await
        .unwrap();
    let mode = inspected.host_config.unwrap().network_mode;
    assert_eq!(mode.as_deref(), Some(network.as_str()));
}

#[tokio::test]
async fn unreachable_engine_error_explains_start() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("missing.sock");

    let err = ContainerHost::connect(
        Some(&format!("unix://{}", socket.display())),
        Policy::default(),
        HostId::mint(),
    )
    .await
    .unwrap_err();

    assert!(matches!(err, ContainerError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("systemctl start docker"), "{err}");
}

#[tokio::test]
async fn create_waits_for_the_record_barrier() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let (release, released) = tokio::sync::oneshot::channel();
    let released = std::sync::Mutex::new(Some(released));
    host.set_record_barrier(std::sync::Arc::new(move || {
        let outcome = released
            .lock()
            .unwrap()
            .take()
            .expect("one container is created");
        WriteTicket::waiting(outcome, "state.db".into(), "insert".to_owned())
    }));
    let environment = EnvironmentId::mint();

    let creating = tokio::spawn({
        let host = host.clone();
        let environment = environment.clone();
        async move { host.create(&adapter("test-a"), &environment, spec()).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let docker = engine().await;
    assert!(
        engine_containers(&docker, host.host_id()).await.is_empty(),
        "a container was created before its record was durable"
    );

    release.send(Ok(())).unwrap();
    let id = creating.await.unwrap().unwrap();
    let containers = engine_containers(&docker, host.host_id()).await;
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].id.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn create_after_failed_barrier_makes_nothing() {
    let (host, _cleanup) = connect(Policy::default()).await;
    host.set_record_barrier(std::sync::Arc::new(|| {
        WriteTicket::ready(Err(StateError::WriterStopped {
            path: "state.db".into(),
            operation: "insert environment `x`".to_owned(),
        }))
    }));

    let err = host
        .create(&adapter("test-a"), &EnvironmentId::mint(), spec())
        .await
        .unwrap_err();
    assert!(matches!(err, ContainerError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("was not created"), "{err}");
    let docker = engine().await;
    assert!(engine_containers(&docker, host.host_id()).await.is_empty());
}

#[tokio::test]
async fn snapshot_images_follow_ownership() {
    let (host, _cleanup) = connect(Policy::default()).await;
    let owner = adapter("owner");
    let intruder = adapter("intruder");
    let environment = EnvironmentId::mint();
    let other_environment = EnvironmentId::mint();
    let container = host.create(&owner, &environment, spec()).await.unwrap();

    let err = host
        .commit(&intruder, &environment, &container, "v1")
        .await
        .unwrap_err();
    assert_eq!(denied_rule(&err), Some("ownership"), "{err}");
    let err = host
        .commit(&owner, &other_environment, &container, "v1")
        .await
        .unwrap_err();
    assert_eq!(denied_rule(&err), Some("environment"), "{err}");
    let err = host
        .commit(&owner, &environment, &container, "Bad")
        .await
        .unwrap_err();
    assert!(matches!(err, ContainerError::InvalidRequest(_)), "{err}");
    assert!(
        host.list_snapshot_images(&owner, &environment)
            .await
            .unwrap()
            .is_empty()
    );

    let image = host
        .commit(&owner, &environment, &container, "v1")
        .await
        .unwrap();
    assert_eq!(
        image.reference,
        format!("envhost-snapshot/{environment}:v1")
    );
    assert_eq!(image.name, "v1");
    let docker = engine().await;
    let labels = docker
        .inspect_image(&image.reference)
        .await
        .unwrap()
        .config
        .unwrap()
        .labels
        .unwrap();
    assert_eq!(labels["envhost.host"], host.host_id().as_str());
    assert_eq!(labels["envhost.adapter"], "owner");
    assert_eq!(labels["envhost.environment"], environment.as_str());
    assert_eq!(labels["envhost.snapshot"], "v1");

    let err = host
        .commit(&owner, &environment, &container, "v1")
        .await
        .unwrap_err();
    assert!(matches!(err, ContainerError::Conflict(_)), "{err}");

    let listed = host
        .list_snapshot_images(&owner, &environment)
        .await
        .unwrap();
    assert_eq!(listed, std::slice::from_ref(&image));
    let foreign = host
        .list_snapshot_images(&intruder, &environment)
        .await
        .unwrap();
    assert!(foreign.is_empty(), "{foreign:?}");

    let err = host
        .remove_snapshot_image(&owner, &environment, IMAGE)
        .await
        .unwrap_err();
    assert_eq!(denied_rule(&err), Some("ownership"), "{err}");
    let err = host
        .remove_snapshot_image(&intruder, &environment, &image.reference)
        .await
        .unwrap_err();
    assert_eq!(denied_rule(&err), Some("ownership"), "{err}");
    let err = host
        .remove_snapshot_image(&owner, &other_environment, &image.reference)
        .await
        .unwrap_err();
    assert_eq!(denied_rule(&err), Some("ownership"), "{err}");

    host.remove_snapshot_image(&owner, &environment, &image.reference)
        .await
        .unwrap();
    let err = host
        .remove_snapshot_image(&owner, &environment, &image.reference)
        .await
        .unwrap_err();
    assert!(matches!(err, ContainerError::NotFound { .. }), "{err}");
}
