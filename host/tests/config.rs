//! Loading and validating `envhost.toml`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use envhost::adapters::Compiler;
use envhost::config::{Config, ConfigError, Grant};
use envhost::ids::AdapterName;
use envhost::state::Durability;
use serde_json::json;

const SOURCE: &str = "/etc/envhost/envhost.toml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(SOURCE))
}

fn parse_err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(config) => panic!("expected an error, got {config:#?}"),
        Err(err) => err,
    }
}

fn docker() -> AdapterName {
    AdapterName::parse("docker").unwrap()
}

/// Asserts that `err` is about `key` and that its message names the key and
/// the file.
fn assert_names_key(err: &ConfigError, key: &str) {
    let message = err.to_string();
    assert!(message.contains(&format!("`{key}`")), "{message}");
    assert!(message.contains(SOURCE), "{message}");
}

fn assert_unknown_key(text: &str, key: &str) {
    let err = parse_err(text);
    match &err {
        ConfigError::UnknownKey { key: found, .. } => assert_eq!(found, key),
        other => panic!("expected an unknown key error, got {other:?}"),
    }
    assert_names_key(&err, key);
}

fn assert_invalid_value(text: &str, key: &str, value: &str) {
    let err = parse_err(text);
    match &err {
        ConfigError::InvalidValue {
            key: found,
            value: found_value,
            ..
        } => {
            assert_eq!(found, key);
            assert_eq!(found_value, value);
        }
        other => panic!("expected an invalid value error, got {other:?}"),
    }
    assert_names_key(&err, key);
}

fn assert_invalid_type(text: &str, key: &str, found_type: &str) {
    let err = parse_err(text);
    match &err {
        ConfigError::InvalidType {
            key: found,
            found: found_type_name,
            ..
        } => {
            assert_eq!(found, key);
            assert_eq!(*found_type_name, found_type);
        }
        other => panic!("expected an invalid type error, got {other:?}"),
    }
    assert_names_key(&err, key);
}

#[test]
fn empty_file_gives_defaults() {
    let config = parse("").unwrap();
    let base = Path::new("/etc/envhost");

    assert_eq!(config, Config::default_for(base));
    assert_eq!(
        config.server.listen,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8480)
    );
    assert_eq!(config.server.token_file, None);
    assert_eq!(config.server.max_body_bytes, 1024 * 1024);
    assert_eq!(config.state.path, base.join("envhost-state/envhost.db"));
    assert_eq!(config.adapters.dir, base.join("adapters"));
    assert_eq!(config.adapters.default, None);
    assert!(config.adapters.reload);
    assert_eq!(config.adapters.cache_dir, base.join("envhost-state/cache"));
    assert!(config.adapters.adapters.is_empty());
    assert_eq!(config.leases.default_ttl, Duration::from_secs(15 * 60));
    assert_eq!(config.leases.max_ttl, Duration::from_secs(24 * 3600));
    assert_eq!(
        config.leases.tombstone_retention,
        Duration::from_secs(24 * 3600)
    );
    assert_eq!(config.docker.host, None);
    assert!(config.policy.allowed_images.is_empty());
    assert!(!config.policy.allow_pulls);
    assert!(config.policy.workspace_roots.is_empty());
    assert_eq!(
        config.policy.publish_address,
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
    assert_eq!(config.policy.max_cpu_nanos, None);
    assert_eq!(config.policy.max_memory_bytes, None);
    assert_eq!(config.policy.pids_limit, None);
    assert_eq!(config.limits.guest_memory_bytes, 256 * 1024 * 1024);
    assert_eq!(config.limits.call_timeout, Duration::from_secs(60));
}

#[test]
fn default_config_keeps_paths_relative() {
    let config = Config::default();
    assert_eq!(config.state.path, PathBuf::from("envhost-state/envhost.db"));
    assert_eq!(
        config.adapters.cache_dir,
        PathBuf::from("envhost-state/cache")
    );
}

#[test]
fn full_example_parses_every_key() {
    let config = parse(
        r#"
        [server]
        listen = "0.0.0.0:9000"
        token_file = "token"
        max_body_bytes = 4096

        [state]
        path = "state/envhost.db"

        [adapters]
        dir = "wasm"
        default = "docker"
        reload = false
        cache_dir = "/var/cache/envhost"

        [adapters.docker]
        grants = ["container", "log"]
        [adapters.docker.options]
        defaultImage = "envhost/busybox:test"
        autoRemove = true
        extraHosts = ["a:1.2.3.4"]
        ratio = 0.5
        since = 2026-12-01T10:00:00Z
        [adapters.docker.options.templates.web]
        image = "envhost/busybox:test"
        ports = [8080]

        [adapters.noop]
        grants = ["log"]

        [leases]
        default_ttl = "5m"
        max_ttl = "2h"
        tombstone_retention = "30s"

        [docker]
        host = "unix:///run/docker.sock"

        [policy]
        allowed_images = ["envhost/*", "busybox:1.*"]
        allow_pulls = true
        workspace_roots = ["workspaces", "/srv/work"]
        publish_address = "::1"
        max_cpu = "4"
        max_memory = "8Gi"
        pids_limit = 4096

        [limits]
        guest_memory = "64Mi"
        call_timeout = "30s"
        "#,
    )
    .unwrap();
    let base = Path::new("/etc/envhost");

    assert_eq!(config.server.listen, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(config.server.token_file, Some(base.join("token")));
    assert_eq!(config.server.max_body_bytes, 4096);
    assert_eq!(config.state.path, base.join("state/envhost.db"));
    assert_eq!(config.adapters.dir, base.join("wasm"));
    assert_eq!(config.adapters.default, Some(docker()));
    assert!(!config.adapters.reload);
    assert_eq!(
        config.adapters.cache_dir,
        PathBuf::from("/var/cache/envhost")
    );

    let docker_settings = config.adapters.adapter(&docker());
    assert_eq!(
        docker_settings.grants,
        BTreeSet::from([Grant::Container, Grant::Log])
    );
    assert_eq!(
        serde_json::Value::Object(docker_settings.options),
        json!({
            "defaultImage": "envhost/busybox:test",
            "autoRemove": true,
            "extraHosts": ["a:1.2.3.4"],
            "ratio": 0.5,
            "since": "2026-12-01T10:00:00Z",
            "templates": {"web": {"image": "envhost/busybox:test", "ports": [8080]}},
        })
    );
    let noop = config
        .adapters
        .adapter(&AdapterName::parse("noop").unwrap());
    assert_eq!(noop.grants, BTreeSet::from([Grant::Log]));
    assert!(noop.options.is_empty());

    assert_eq!(config.leases.default_ttl, Duration::from_secs(300));
    assert_eq!(config.leases.max_ttl, Duration::from_secs(7200));
    assert_eq!(config.leases.tombstone_retention, Duration::from_secs(30));
    assert_eq!(
        config.docker.host.as_deref(),
        Some("unix:///run/docker.sock")
    );
    assert_eq!(config.docker.resolved_host(), "unix:///run/docker.sock");
    assert_eq!(config.policy.allowed_images, ["envhost/*", "busybox:1.*"]);
    assert!(config.policy.allow_pulls);
    assert_eq!(
        config.policy.workspace_roots,
        [base.join("workspaces"), PathBuf::from("/srv/work")]
    );
    assert_eq!(
        config.policy.publish_address,
        "::1".parse::<IpAddr>().unwrap()
    );
    assert_eq!(config.policy.max_cpu_nanos, Some(4_000_000_000));
    assert_eq!(config.policy.max_memory_bytes, Some(8 * 1024 * 1024 * 1024));
    assert_eq!(config.policy.pids_limit, Some(4096));
    assert_eq!(config.limits.guest_memory_bytes, 64 * 1024 * 1024);
    assert_eq!(config.limits.call_timeout, Duration::from_secs(30));
}

#[test]
fn adapter_without_table_gets_every_grant() {
    let config = parse("").unwrap();
    let settings = config.adapters.adapter(&docker());
    assert_eq!(settings.grants, BTreeSet::from(Grant::ALL));
    assert!(settings.options.is_empty());
}

#[test]
fn empty_grants_list_grants_nothing() {
    let config = parse("[adapters.docker]\ngrants = []").unwrap();
    assert!(config.adapters.adapter(&docker()).grants.is_empty());
}

#[test]
fn cache_dir_defaults_next_to_state_path() {
    let config = parse("[state]\npath = \"/var/lib/envhost/state.db\"").unwrap();
    assert_eq!(
        config.adapters.cache_dir,
        PathBuf::from("/var/lib/envhost/cache")
    );
}

#[test]
fn relative_paths_resolve_against_config_directory() {
    let config = Config::parse(
        "[state]\npath = \"db/envhost.db\"\n[adapters]\ndir = \"../adapters\"",
        Path::new("examples/envhost.toml"),
    )
    .unwrap();
    assert_eq!(config.state.path, PathBuf::from("examples/db/envhost.db"));
    assert_eq!(config.adapters.dir, PathBuf::from("examples/../adapters"));
    assert_eq!(
        config.adapters.cache_dir,
        PathBuf::from("examples/db/cache")
    );
}

#[test]
fn bare_file_name_keeps_paths_relative() {
    let config = Config::parse("", Path::new("envhost.toml")).unwrap();
    assert_eq!(config.state.path, PathBuf::from("envhost-state/envhost.db"));
    assert_eq!(config.adapters.dir, PathBuf::from("adapters"));
}

#[test]
fn unknown_top_level_key_names_file() {
    let err = parse_err("[polcy]\nallow_pulls = true");
    assert_eq!(
        err.to_string(),
        "unknown key `polcy` in `/etc/envhost/envhost.toml`: expected one of \
         server, state, adapters, leases, docker, policy, limits"
    );
}

#[test]
fn unknown_key_in_each_section_is_rejected() {
    assert_unknown_key("[server]\nlisten_on = \"x\"", "server.listen_on");
    assert_unknown_key("[state]\nurl = \"postgres://\"", "state.url");
    assert_unknown_key("[leases]\nttl = \"5m\"", "leases.ttl");
    assert_unknown_key("[docker]\nsocket = \"/x\"", "docker.socket");
    assert_unknown_key("[policy]\nallowed_image = []", "policy.allowed_image");
    assert_unknown_key("[limits]\nmemory = \"1Gi\"", "limits.memory");
}

#[test]
fn unknown_key_in_adapters_lists_settings() {
    let err = parse_err("[adapters]\ndri = \"x\"");
    assert_names_key(&err, "adapters.dri");
    let message = err.to_string();
    assert!(
        message.contains("dir, default, reload, cache_dir"),
        "{message}"
    );
    assert!(message.contains("[adapters.<name>]"), "{message}");
}

#[test]
fn unknown_key_in_adapter_table_is_rejected() {
    assert_unknown_key(
        "[adapters.docker]\ngrant = [\"log\"]",
        "adapters.docker.grant",
    );
}

#[test]
fn adapter_options_take_any_keys() {
    let config = parse("[adapters.docker.options]\nanything_goes = 1").unwrap();
    let options = config.adapters.adapter(&docker()).options;
    assert_eq!(options.get("anything_goes"), Some(&json!(1)));
}

#[test]
fn invalid_adapter_table_name_is_rejected() {
    assert_invalid_value(
        "[adapters.Docker]\ngrants = []",
        "adapters.Docker",
        "Docker",
    );
}

#[test]
fn invalid_default_adapter_is_rejected() {
    assert_invalid_value(
        "[adapters]\ndefault = \"my.adapter\"",
        "adapters.default",
        "my.adapter",
    );
}

#[test]
fn unknown_grant_is_rejected() {
    assert_invalid_value(
        "[adapters.docker]\ngrants = [\"container\", \"network\"]",
        "adapters.docker.grants",
        "network",
    );
}

#[test]
fn non_finite_option_is_rejected() {
    assert_invalid_value(
        "[adapters.docker.options.limits]\nratio = nan",
        "adapters.docker.options.limits.ratio",
        "NaN",
    );
}

#[test]
fn bad_listen_address_is_rejected() {
    assert_invalid_value(
        "[server]\nlisten = \"localhost\"",
        "server.listen",
        "localhost",
    );
}

#[test]
fn bad_publish_address_is_rejected() {
    assert_invalid_value(
        "[policy]\npublish_address = \"127.0.0.1:80\"",
        "policy.publish_address",
        "127.0.0.1:80",
    );
}

#[test]
fn bad_duration_is_rejected() {
    assert_invalid_value(
        "[leases]\ndefault_ttl = \"15 parsecs\"",
        "leases.default_ttl",
        "15 parsecs",
    );
    assert_invalid_value(
        "[limits]\ncall_timeout = \"soon\"",
        "limits.call_timeout",
        "soon",
    );
}

#[test]
fn zero_duration_is_rejected() {
    assert_invalid_value(
        "[leases]\ntombstone_retention = \"0s\"",
        "leases.tombstone_retention",
        "0s",
    );
}

#[test]
fn number_for_duration_is_a_type_error() {
    assert_invalid_type("[leases]\nmax_ttl = 3600", "leases.max_ttl", "integer");
}

#[test]
fn bad_quantity_is_rejected() {
    assert_invalid_value("[policy]\nmax_cpu = \"lots\"", "policy.max_cpu", "lots");
    assert_invalid_value("[policy]\nmax_memory = \"8GB\"", "policy.max_memory", "8GB");
    assert_invalid_value(
        "[limits]\nguest_memory = \"-1Mi\"",
        "limits.guest_memory",
        "-1Mi",
    );
}

#[test]
fn quantity_error_explains_the_quantity() {
    let err = parse_err("[policy]\nmax_memory = \"8GB\"");
    assert!(err.to_string().contains("invalid memory quantity"), "{err}");
}

#[test]
fn number_for_quantity_is_a_type_error() {
    assert_invalid_type("[policy]\nmax_cpu = 4", "policy.max_cpu", "integer");
}

#[test]
fn non_positive_integers_are_rejected() {
    assert_invalid_value("[server]\nmax_body_bytes = 0", "server.max_body_bytes", "0");
    assert_invalid_value("[policy]\npids_limit = -1", "policy.pids_limit", "-1");
}

#[test]
fn wrong_types_are_rejected() {
    assert_invalid_type("server = 1", "server", "integer");
    assert_invalid_type("[adapters]\nreload = \"yes\"", "adapters.reload", "string");
    assert_invalid_type(
        "[policy]\nallowed_images = \"envhost/*\"",
        "policy.allowed_images",
        "string",
    );
    assert_invalid_type(
        "[policy]\nworkspace_roots = [1]",
        "policy.workspace_roots",
        "integer",
    );
    assert_invalid_type(
        "[adapters.docker]\noptions = \"{}\"",
        "adapters.docker.options",
        "string",
    );
}

#[test]
fn invalid_image_glob_is_rejected() {
    assert_invalid_value(
        "[policy]\nallowed_images = [\"envhost/[a\"]",
        "policy.allowed_images",
        "envhost/[a",
    );
}

#[test]
fn empty_paths_are_rejected() {
    assert_invalid_value("[state]\npath = \"\"", "state.path", "");
    assert_invalid_value(
        "[policy]\nworkspace_roots = [\"\"]",
        "policy.workspace_roots",
        "",
    );
}

#[test]
fn default_ttl_above_max_is_rejected() {
    let err = parse_err("[leases]\ndefault_ttl = \"2h\"\nmax_ttl = \"1h\"");
    match &err {
        ConfigError::DefaultTtlExceedsMax {
            default_ttl,
            max_ttl,
            ..
        } => {
            assert_eq!(*default_ttl, Duration::from_secs(7200));
            assert_eq!(*max_ttl, Duration::from_secs(3600));
        }
        other => panic!("expected a ttl order error, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "`leases.default_ttl` (2h) is longer than `leases.max_ttl` (1h) in \
         `/etc/envhost/envhost.toml`"
    );
}

#[test]
fn default_ttl_above_default_max_is_rejected() {
    let err = parse_err("[leases]\ndefault_ttl = \"25h\"");
    assert!(
        matches!(err, ConfigError::DefaultTtlExceedsMax { .. }),
        "{err:?}"
    );
}

#[test]
fn invalid_toml_names_the_file_and_line() {
    let err = parse_err("[server]\nlisten = ");
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(SOURCE), "{message}");
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn load_reads_file_and_resolves_against_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("envhost.toml");
    std::fs::write(&path, "[adapters]\ndir = \"wasm\"").unwrap();

    let config = Config::load(&path).unwrap();
    assert_eq!(config.adapters.dir, dir.path().join("wasm"));
}

#[test]
fn load_of_missing_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");

    let err = Config::load(&path).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
}

#[test]
fn state_sync_defaults_to_full_and_accepts_normal() {
    assert_eq!(parse("").unwrap().state.sync, Durability::Full);
    let config = parse("[state]\nsync = \"normal\"\n").unwrap();
    assert_eq!(config.state.sync, Durability::Normal);
}

#[test]
fn unknown_state_sync_is_rejected() {
    assert_invalid_value("[state]\nsync = \"always\"\n", "state.sync", "always");
    let err = parse_err("[state]\nsync = \"off\"\n");
    assert!(
        err.to_string().contains("expected `full` or `normal`"),
        "{err}"
    );
}

#[test]
fn adapters_compiler_defaults_to_winch_and_accepts_cranelift() {
    assert_eq!(parse("").unwrap().adapters.compiler, Compiler::Winch);
    let config = parse("[adapters]\ncompiler = \"cranelift\"\n").unwrap();
    assert_eq!(config.adapters.compiler, Compiler::Cranelift);
    assert_invalid_value(
        "[adapters]\ncompiler = \"llvm\"\n",
        "adapters.compiler",
        "llvm",
    );
}
