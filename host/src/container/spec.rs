//! Plain Rust mirrors of the records of the WIT `container` interface, so that
//! this layer does not depend on the generated bindings.

/// A bind mount from the host into the container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    /// Host path; it must lie under a workspace root after symlinks and `..`
    /// are resolved.
    pub source: String,
    /// Absolute path inside the container.
    pub target: String,
    /// Mounts the source read-only.
    pub read_only: bool,
}

/// A container port to publish on the host's publish address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortRequest {
    /// Port inside the container.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Fixed host port; `None` lets the engine choose a free one.
    pub host_port: Option<u16>,
    /// Host address to bind; `None` means the policy's publish address, and
    /// any other address is denied.
    pub host_ip: Option<String>,
}

/// What to create. Fields that ask for more than the policy allows are
/// denied, never silently dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// Image reference, such as `envhost/busybox:test`.
    pub image: String,
    /// Replaces the image's command when present.
    pub command: Option<Vec<String>>,
    /// Replaces the image's entrypoint when present.
    pub entrypoint: Option<Vec<String>>,
    /// Environment variables as name and value.
    pub env: Vec<(String, String)>,
    /// Extra labels; keys starting with `envhost.` are denied.
    pub labels: Vec<(String, String)>,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// Ports to publish.
    pub ports: Vec<PortRequest>,
    /// Working directory inside the container.
    pub working_dir: Option<String>,
    /// CPU limit in billionths of a CPU.
    pub nano_cpus: Option<u64>,
    /// Memory limit in bytes; swap is limited to the same value.
    pub memory_bytes: Option<u64>,
    /// User-defined network to join; `None` is the engine's default bridge.
    pub network: Option<String>,
    /// Extra `/etc/hosts` entries, `name:address`.
    pub extra_hosts: Vec<String>,
    /// Removes the container when it exits.
    pub auto_remove: bool,
    /// Runs the engine's init process as PID 1.
    pub init: bool,
    /// Always denied when true.
    pub privileged: bool,
    /// Network mode: `none`, `bridge`, `default` or a network name.
    pub network_mode: Option<String>,
    /// Added capabilities; denied unless empty.
    pub cap_add: Vec<String>,
    /// Host device paths; denied unless empty.
    pub devices: Vec<String>,
}

/// A published port as the engine reports it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PublishedPort {
    /// Port inside the container.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Host address the port is bound to.
    pub host_ip: String,
    /// Host port the engine bound.
    pub host_port: u16,
}

/// Engine state of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or
    /// `dead`.
    pub status: String,
    /// Exit code of the last run; 0 while it never ran.
    pub exit_code: i64,
    /// Whether the kernel killed the last run for exceeding its memory limit.
    pub oom_killed: bool,
    /// Error the engine recorded when it could not start the container.
    pub error: Option<String>,
    /// `starting`, `healthy` or `unhealthy` when the image has a health check.
    pub health: Option<String>,
    /// RFC 3339 start time of the last run; `None` while it never started.
    pub started_at: Option<String>,
    /// RFC 3339 end time of the last run; `None` while it never finished.
    pub finished_at: Option<String>,
}

/// Result of [`ContainerHost::inspect`](super::ContainerHost::inspect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Full container id.
    pub id: String,
    /// Container name without the leading `/`.
    pub name: String,
    /// Image reference the container was created from.
    pub image: String,
    /// Engine state.
    pub state: ContainerState,
    /// All labels, sorted by key.
    pub labels: Vec<(String, String)>,
    /// Published ports, sorted.
    pub ports: Vec<PublishedPort>,
}

/// One entry of [`ContainerHost::list`](super::ContainerHost::list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerSummary {
    /// Full container id.
    pub id: String,
    /// Container name without the leading `/`.
    pub name: String,
    /// Image reference the container was created from.
    pub image: String,
    /// Same values as [`ContainerState::status`].
    pub status: String,
    /// All labels, sorted by key.
    pub labels: Vec<(String, String)>,
}

/// Details of a local image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// Image id, `sha256:…`.
    pub id: String,
    /// Ports the image declares with `EXPOSE`, as port and protocol, sorted.
    pub exposed_ports: Vec<(u16, String)>,
}
