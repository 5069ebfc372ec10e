//! The host's configuration: `envhost serve --config envhost.toml`.
//!
//! Every section and key is optional; each field's documentation gives its
//! default. Unknown keys are errors, so that a misspelt key is reported
//! instead of silently falling back to a default. Durations are strings such
//! as `"15m"`, quantities use Kubernetes notation and are stored parsed, and
//! relative paths are resolved against the directory of the config file.

mod error;
mod section;

pub use error::ConfigError;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use envhost_guest::quantity::{parse_cpu_nanos, parse_memory_bytes};

use crate::adapters::Compiler;
use crate::ids::AdapterName;
use crate::model::JsonObject;
use crate::state::Durability;
use section::Section;

/// Default `server.listen`: loopback only, so no token is needed.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8480);

/// Default `server.max_body_bytes`: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Default `state.path`, relative to the directory of the config file.
pub const DEFAULT_STATE_PATH: &str = "envhost-state/envhost.db";

/// Default `adapters.dir`, relative to the directory of the config file.
pub const DEFAULT_ADAPTERS_DIR: &str = "adapters";

/// Default `leases.default_ttl`: 15 minutes.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15 * 60);

/// Default `leases.max_ttl`: 24 hours.
pub const DEFAULT_MAX_LEASE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Default `leases.tombstone_retention`: 24 hours.
pub const DEFAULT_TOMBSTONE_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Docker endpoint used when neither `docker.host` nor `DOCKER_HOST` is set.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// Default `limits.guest_memory`: 256 MiB.
pub const DEFAULT_GUEST_MEMORY_BYTES: u64 = 256 * 1024 * 1024;

/// Default `limits.call_timeout`: 60 seconds.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

const ROOT_KEYS: &[&str] = &[
    "server", "state", "adapters", "leases", "docker", "policy", "limits",
];
const SERVER_KEYS: &[&str] = &["listen", "token_file", "max_body_bytes"];
const STATE_KEYS: &[&str] = &["path", "sync"];
const ADAPTERS_KEYS: &[&str] = &["dir", "default", "reload", "cache_dir", "compiler"];
const ADAPTER_KEYS: &[&str] = &["grants", "options"];
const LEASES_KEYS: &[&str] = &["default_ttl", "max_ttl", "tombstone_retention"];
const DOCKER_KEYS: &[&str] = &["host"];
const POLICY_KEYS: &[&str] = &[
    "allowed_images",
    "allow_pulls",
    "workspace_roots",
    "publish_address",
    "max_cpu",
    "max_memory",
    "pids_limit",
];
const LIMITS_KEYS: &[&str] = &["guest_memory", "call_timeout"];

/// The whole configuration file.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `[server]`: the HTTP API.
    pub server: ServerConfig,
    /// `[state]`: the state store.
    pub state: StateConfig,
    /// `[adapters]`: where adapters come from and what each may do.
    pub adapters: AdaptersConfig,
    /// `[leases]`: lease lengths and tombstone retention.
    pub leases: LeasesConfig,
    /// `[docker]`: the Docker engine.
    pub docker: DockerConfig,
    /// `[policy]`: what adapters may ask of the Docker engine.
    pub policy: PolicyConfig,
    /// `[limits]`: the sandbox of each adapter call.
    pub limits: LimitsConfig,
}

/// `[server]`: the HTTP API.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// `listen`: address and port of the HTTP API. Default `127.0.0.1:8480`.
    pub listen: SocketAddr,
    /// `token_file`: file whose content is the bearer token that callers
    /// must send. Default none: no token is required.
    pub token_file: Option<PathBuf>,
    /// `max_body_bytes`: largest accepted request body. Default 1 MiB
    /// (1048576).
    pub max_body_bytes: usize,
}

/// `[state]`: the state store.
#[derive(Clone, Debug, PartialEq)]
pub struct StateConfig {
    /// `path`: the SQLite database file; its directory is created at start.
    /// Default `envhost-state/envhost.db`.
    pub path: PathBuf,
    /// `sync`: `"full"` (default) flushes every commit to the disk before
    /// it is acknowledged. `"normal"` is faster and survives a crash of the
    /// process, but may lose the last commits on a power loss.
    pub sync: Durability,
}

/// `[adapters]`: where adapters come from, plus one `[adapters.<name>]`
/// table per adapter that needs settings.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptersConfig {
    /// `dir`: directory of the adapters' `.wasm` files. Default `adapters`.
    pub dir: PathBuf,
    /// `default`: adapter used when a request names no provider. Default
    /// none: requests must name one.
    pub default: Option<AdapterName>,
    /// `reload`: whether changes in `dir` are loaded while running. Default
    /// true.
    pub reload: bool,
    /// `cache_dir`: directory of compiled adapters. Default `cache` next to
    /// the state database.
    pub cache_dir: PathBuf,
    /// `compiler`: `"winch"` (default), quick to compile, or `"cranelift"`,
    /// faster code for adapters that compute a lot themselves.
    pub compiler: Compiler,
    /// `[adapters.<name>]` tables, by adapter name. Adapters without a table
    /// get [`AdapterConfig::default`].
    pub adapters: BTreeMap<AdapterName, AdapterConfig>,
}

impl AdaptersConfig {
    /// Returns the settings of one adapter: its table, or the defaults when it
    /// has none.
    pub fn adapter(&self, name: &AdapterName) -> AdapterConfig {
        self.adapters.get(name).cloned().unwrap_or_default()
    }
}

/// `[adapters.<name>]`: settings of one adapter.
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterConfig {
    /// `grants`: host imports the adapter may use. Default: all of them.
    pub grants: BTreeSet<Grant>,
    /// `[adapters.<name>.options]`: passed as a JSON object to the adapter's
    /// `init`. Default empty.
    pub options: JsonObject,
}

impl Default for AdapterConfig {
    fn default() -> Self {
        Self {
            grants: Grant::ALL.into_iter().collect(),
            options: JsonObject::new(),
        }
    }
}

/// A host import that an adapter may be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grant {
    /// The `container` interface: the Docker engine, through the policy.
    Container,
    /// The `log` interface: log lines into the host's tracing.
    Log,
}

impl Grant {
    /// Every grant.
    pub const ALL: [Grant; 2] = [Grant::Container, Grant::Log];

    /// Returns the name used in the config file and in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Container => "container",
            Grant::Log => "log",
        }
    }

    fn parse(value: &str) -> Option<Grant> {
        Grant::ALL.into_iter().find(|grant| grant.as_str() == value)
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[leases]`: lease lengths and tombstone retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeasesConfig {
    /// `default_ttl`: lease length when a request gives no `ttlMs`. Default
    /// 15m. Must not exceed `max_ttl`.
    pub default_ttl: Duration,
    /// `max_ttl`: longest lease; longer requests are capped. Default 24h.
    pub max_ttl: Duration,
    /// `tombstone_retention`: how long a destroyed environment still reads
    /// `terminated` before it is forgotten (404). Default 24h.
    pub tombstone_retention: Duration,
}

/// `[docker]`: the Docker engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerConfig {
    /// `host`: engine endpoint, such as `unix:///var/run/docker.sock`.
    /// Default none: see [`DockerConfig::resolved_host`].
    pub host: Option<String>,
}

impl DockerConfig {
    /// Returns the engine endpoint to connect to: `host` when set, else the
    /// `DOCKER_HOST` environment variable when set and not empty, else
    /// `unix:///var/run/docker.sock`.
    pub fn resolved_host(&self) -> String {
        if let Some(host) = &self.host {
            return host.clone();
        }
        match std::env::var("DOCKER_HOST") {
            Ok(host) if !host.is_empty() => host,
            _ => DEFAULT_DOCKER_HOST.to_owned(),
        }
    }
}

/// `[policy]`: what adapters may ask of the Docker engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyConfig {
    /// `allowed_images`: image reference globs, such as `envhost/*`. Default
    /// empty: every image present locally is allowed.
    pub allowed_images: Vec<String>,
    /// `allow_pulls`: whether a missing image may be pulled. Default false.
    pub allow_pulls: bool,
    /// `workspace_roots`: directories under which bind mounts may start.
    /// Default empty: no bind mounts at all.
    pub workspace_roots: Vec<PathBuf>,
    /// `publish_address`: host address that container ports are published
    /// on. Default `127.0.0.1`.
    pub publish_address: IpAddr,
    /// `max_cpu`: cap on a container's cpu, in billionths of a CPU (Docker's
    /// `NanoCpus`). Default none: no cap.
    pub max_cpu_nanos: Option<u64>,
    /// `max_memory`: cap on a container's memory, in bytes. Default none: no
    /// cap.
    pub max_memory_bytes: Option<u64>,
    /// `pids_limit`: maximum number of processes in a container. Default
    /// none: the engine's default.
    pub pids_limit: Option<i64>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            allowed_images: Vec::new(),
            allow_pulls: false,
            workspace_roots: Vec::new(),
            publish_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            max_cpu_nanos: None,
            max_memory_bytes: None,
            pids_limit: None,
        }
    }
}

/// `[limits]`: the sandbox of each adapter call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitsConfig {
    /// `guest_memory`: linear memory one adapter instance may use, in bytes.
    /// Default 256Mi.
    pub guest_memory_bytes: u64,
    /// `call_timeout`: deadline of one call into an adapter. Default 60s.
    pub call_timeout: Duration,
}

impl Config {
    /// Reads and validates the config file at `path`.
    ///
    /// # Errors
    ///
    /// Fails when the file can not be read, or for any reason of
    /// [`Config::parse`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        // An absolute source makes every resolved path absolute, so that they
        // mean the same after a change of directory and match the absolute
        // paths the directory watcher reports.
        let path = std::path::absolute(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Config::parse(&text, &path)
    }

    /// Parses and validates config text. `source` is the file it came from:
    /// errors name it, and relative paths are resolved against its directory.
    ///
    /// # Errors
    ///
    /// Fails on invalid TOML, an unknown key, a value of the wrong type, an
    /// invalid value (address, duration, quantity, adapter name, grant, image
    /// glob, a zero duration or size), or a `leases.default_ttl` longer than
    /// `leases.max_ttl`. The error names the key and `source`.
    pub fn parse(text: &str, source: &Path) -> Result<Config, ConfigError> {
        let table: toml::Table =
            text.parse()
                .map_err(|err: toml::de::Error| ConfigError::Syntax {
                    path: source.to_owned(),
                    message: err.to_string().trim_end().to_owned(),
                })?;
        let base = source.parent().unwrap_or(Path::new(""));

        let root = Section::root(&table, source);
        root.check_keys(ROOT_KEYS)?;

        let state = parse_state(&root.table("state")?, base)?;
        Ok(Config {
            server: parse_server(&root.table("server")?, base)?,
            adapters: parse_adapters(&root.table("adapters")?, base, &state)?,
            state,
            leases: parse_leases(&root.table("leases")?, source)?,
            docker: DockerConfig {
                host: parse_docker_host(&root.table("docker")?)?,
            },
            policy: parse_policy(&root.table("policy")?, base)?,
            limits: parse_limits(&root.table("limits")?)?,
        })
    }

    /// Returns the defaults, with relative paths resolved against `dir`.
    pub fn default_for(dir: &Path) -> Config {
        let state = StateConfig {
            path: dir.join(DEFAULT_STATE_PATH),
            sync: Durability::Full,
        };
        Config {
            server: ServerConfig {
                listen: DEFAULT_LISTEN,
                token_file: None,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            },
            adapters: AdaptersConfig {
                dir: dir.join(DEFAULT_ADAPTERS_DIR),
                default: None,
                reload: true,
                cache_dir: default_cache_dir(&state),
                compiler: Compiler::default(),
                adapters: BTreeMap::new(),
            },
            state,
            leases: LeasesConfig {
                default_ttl: DEFAULT_LEASE_TTL,
                max_ttl: DEFAULT_MAX_LEASE_TTL,
                tombstone_retention: DEFAULT_TOMBSTONE_RETENTION,
            },
            docker: DockerConfig::default(),
            policy: PolicyConfig::default(),
            limits: LimitsConfig {
                guest_memory_bytes: DEFAULT_GUEST_MEMORY_BYTES,
                call_timeout: DEFAULT_CALL_TIMEOUT,
            },
        }
    }
}

/// The defaults with relative paths left relative, so they resolve against
/// the working directory of the process.
impl Default for Config {
    fn default() -> Self {
        Config::default_for(Path::new(""))
    }
}

fn default_cache_dir(state: &StateConfig) -> PathBuf {
    state.path.parent().unwrap_or(Path::new("")).join("cache")
}

fn parse_server(section: &Section<'_>, base: &Path) -> Result<ServerConfig, ConfigError> {
    section.check_keys(SERVER_KEYS)?;

    let max_body_bytes = match section.positive_integer("max_body_bytes")? {
        Some(bytes) => usize::try_from(bytes)
            .map_err(|_| section.invalid_value("max_body_bytes", bytes, "too large"))?,
        None => DEFAULT_MAX_BODY_BYTES,
    };
    Ok(ServerConfig {
        listen: section.parsed("listen")?.unwrap_or(DEFAULT_LISTEN),
        token_file: section.path("token_file", base)?,
        max_body_bytes,
    })
}

fn parse_state(section: &Section<'_>, base: &Path) -> Result<StateConfig, ConfigError> {
    section.check_keys(STATE_KEYS)?;

    let path = section
        .path("path", base)?
        .unwrap_or_else(|| base.join(DEFAULT_STATE_PATH));
    let sync = section.parsed("sync")?.unwrap_or_default();
    Ok(StateConfig { path, sync })
}

fn parse_adapters(
    section: &Section<'_>,
    base: &Path,
    state: &StateConfig,
) -> Result<AdaptersConfig, ConfigError> {
    // Keys that are not settings name adapters, and each must be a table.
    let mut adapters = BTreeMap::new();
    for (key, value) in section.entries() {
        if ADAPTERS_KEYS.contains(&key.as_str()) {
            continue;
        }
        let toml::Value::Table(table) = value else {
            let expected = format!(
                "{}, or an [adapters.<name>] table",
                ADAPTERS_KEYS.join(", ")
            );
            return Err(section.unknown_key(key, &expected));
        };
        let name = parse_adapter_name(section, key, key)?;
        adapters.insert(name, parse_adapter(&section.nested(key, table))?);
    }

    let default = match section.string("default")? {
        Some(name) => Some(parse_adapter_name(section, "default", name)?),
        None => None,
    };
    Ok(AdaptersConfig {
        dir: section
            .path("dir", base)?
            .unwrap_or_else(|| base.join(DEFAULT_ADAPTERS_DIR)),
        default,
        reload: section.boolean("reload")?.unwrap_or(true),
        cache_dir: match section.path("cache_dir", base)? {
            Some(dir) => dir,
            None => default_cache_dir(state),
        },
        compiler: section.parsed("compiler")?.unwrap_or_default(),
        adapters,
    })
}

fn parse_adapter_name(
    section: &Section<'_>,
    key: &str,
    name: &str,
) -> Result<AdapterName, ConfigError> {
    AdapterName::parse(name).map_err(|err| {
        let reason = format!("invalid adapter name: expected {}", err.expected);
        section.invalid_value(key, name, reason)
    })
}

fn parse_adapter(section: &Section<'_>) -> Result<AdapterConfig, ConfigError> {
    section.check_keys(ADAPTER_KEYS)?;

    let grants = match section.strings("grants")? {
        Some(names) => {
            let mut grants = BTreeSet::new();
            for name in names {
                let grant = Grant::parse(name).ok_or_else(|| {
                    section.invalid_value("grants", name, "expected `container` or `log`")
                })?;
                grants.insert(grant);
            }
            grants
        }
        None => Grant::ALL.into_iter().collect(),
    };
    Ok(AdapterConfig {
        grants,
        options: section.table("options")?.to_json()?,
    })
}

fn parse_leases(section: &Section<'_>, source: &Path) -> Result<LeasesConfig, ConfigError> {
    section.check_keys(LEASES_KEYS)?;

    let leases = LeasesConfig {
        default_ttl: section
            .duration("default_ttl")?
            .unwrap_or(DEFAULT_LEASE_TTL),
        max_ttl: section
            .duration("max_ttl")?
            .unwrap_or(DEFAULT_MAX_LEASE_TTL),
        tombstone_retention: section
            .duration("tombstone_retention")?
            .unwrap_or(DEFAULT_TOMBSTONE_RETENTION),
    };
    if leases.default_ttl > leases.max_ttl {
        return Err(ConfigError::DefaultTtlExceedsMax {
            path: source.to_owned(),
            default_ttl: leases.default_ttl,
            max_ttl: leases.max_ttl,
        });
    }
    Ok(leases)
}

fn parse_docker_host(section: &Section<'_>) -> Result<Option<String>, ConfigError> {
    section.check_keys(DOCKER_KEYS)?;

    match section.string("host")? {
        Some("") => Err(section.invalid_value("host", "", "must not be empty")),
        host => Ok(host.map(str::to_owned)),
    }
}

fn parse_policy(section: &Section<'_>, base: &Path) -> Result<PolicyConfig, ConfigError> {
    section.check_keys(POLICY_KEYS)?;

    let allowed_images = section.strings("allowed_images")?.unwrap_or_default();
    for pattern in &allowed_images {
        globset::Glob::new(pattern)
            .map_err(|err| section.invalid_value("allowed_images", pattern, err.kind()))?;
    }

    let workspace_roots = section
        .strings("workspace_roots")?
        .unwrap_or_default()
        .into_iter()
        .map(|root| match root {
            "" => Err(section.invalid_value("workspace_roots", root, "must not be empty")),
            _ => Ok(base.join(root)),
        })
        .collect::<Result<_, _>>()?;

    let defaults = PolicyConfig::default();
    Ok(PolicyConfig {
        allowed_images: allowed_images.into_iter().map(str::to_owned).collect(),
        allow_pulls: section
            .boolean("allow_pulls")?
            .unwrap_or(defaults.allow_pulls),
        workspace_roots,
        publish_address: section
            .parsed("publish_address")?
            .unwrap_or(defaults.publish_address),
        max_cpu_nanos: section.quantity("max_cpu", parse_cpu_nanos)?,
        max_memory_bytes: section.quantity("max_memory", parse_memory_bytes)?,
        pids_limit: section.positive_integer("pids_limit")?,
    })
}

fn parse_limits(section: &Section<'_>) -> Result<LimitsConfig, ConfigError> {
    section.check_keys(LIMITS_KEYS)?;

    Ok(LimitsConfig {
        guest_memory_bytes: section
            .quantity("guest_memory", parse_memory_bytes)?
            .unwrap_or(DEFAULT_GUEST_MEMORY_BYTES),
        call_timeout: section
            .duration("call_timeout")?
            .unwrap_or(DEFAULT_CALL_TIMEOUT),
    })
}
