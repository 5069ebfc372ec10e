//! The `envhost` command line: `serve` runs the host, the other subcommands
//! are clients of its HTTP API.

mod check;
mod client;
mod conformance;
mod output;
mod parse;
mod snapshot;
mod wait;

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use reqwest::{Method, StatusCode, Url};

pub use check::check;
pub use client::CliError;
pub use conformance::{ConformanceCache, conformance};
pub use snapshot::SnapshotCommand;

use crate::environments::{EnvironmentLogs, ProbeRequest, ProbeResult};
use crate::ids::EnvironmentId;
use crate::model::{AdapterSummary, CreateRequest, Descriptor, Resources, Status};
use client::{ApiClient, decode};
use parse::{parse_key_value, parse_ttl_ms};

/// Default address of the API, the host's default listen address.
pub const DEFAULT_API: &str = "http://127.0.0.1:8480";

/// envhost runs environment-provider adapters (WebAssembly components) that
/// create, start and destroy environments such as containers, and serves them
/// over an HTTP API with leases, durable state and policy.
///
/// `envhost serve` runs the host; the other subcommands talk to a running
/// host over its API.
#[derive(Debug, Parser)]
#[command(name = "envhost", bin_name = "envhost", version, about, long_about)]
pub struct Cli {
    #[command(flatten, next_help_heading = "Client options")]
    pub client: ClientOptions,

    /// Log output format, on stderr. The filter is read from `ENVHOST_LOG`
    /// (default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true, value_name = "FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// Format of log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Options of the client subcommands.
#[derive(Clone, Debug, Args)]
pub struct ClientOptions {
    /// Base URL of the envhost API.
    #[arg(long, env = "ENVHOST_API", default_value = DEFAULT_API, global = true, value_name = "URL")]
    pub api: Url,

    /// File that contains the API's bearer token.
    #[arg(long, env = "ENVHOST_TOKEN_FILE", global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Print the API's JSON unchanged instead of tables, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the host: load adapters and serve the HTTP API.
    Serve {
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate an adapter file offline, without a host or Docker: print its
    /// WIT version, capabilities and any imports the host would not
    /// provide. Exits non-zero with the reason when it would not load.
    Check {
        /// Adapter component (`.wasm`).
        file: PathBuf,
        /// Options passed to the adapter's `init`, as a JSON object.
        #[arg(long, value_name = "JSON", default_value = "{}", value_parser = parse_json_object)]
        options: serde_json::Value,
    },
    /// Check that an adapter honours the provider contract: load it in a test
    /// host (with the local Docker engine when one is reachable), run every
    /// contract rule and print pass, fail or skip per rule. Exits non-zero
    /// when a rule fails.
    Conformance {
        /// Adapter component (`.wasm`).
        file: PathBuf,
        /// File with the options passed to the adapter's `init`: JSON when
        /// it ends in `.json`, otherwise a TOML table like the host's
        /// `[adapters.<name>.options]`. Default: no options (`{}`).
        #[arg(long, value_name = "FILE")]
        options: Option<PathBuf>,
        /// Folder of compiled adapters, so that a later run of the same file
        /// loads it without compiling again. Default:
        /// `$XDG_CACHE_HOME/envhost/adapters`, else
        /// `$HOME/.cache/envhost/adapters`. Only your user should be able to
        /// write to it, because its files are loaded as machine code.
        #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
        cache_dir: Option<PathBuf>,
        /// Compile the adapter without reading or writing a cache.
        #[arg(long)]
        no_cache: bool,
    },
    #[command(flatten)]
    Client(ClientCommand),
}

/// Subcommands that speak to a running host.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create, inspect, list and destroy environments.
    #[command(subcommand)]
    Env(EnvCommand),
    /// List the loaded adapters, or show one.
    Adapters {
        /// Adapter name; lists all adapters when absent.
        name: Option<String>,
    },
}

/// `envhost env` subcommands.
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Create and start an environment.
    Create(Box<CreateArgs>),
    /// Show one environment.
    Get {
        /// Environment id.
        #[arg(value_parser = parse_environment_id)]
        id: EnvironmentId,
    },
    /// List environments, oldest first.
    List(ListArgs),
    /// Destroy an environment. Destroying an unknown id succeeds.
    Destroy {
        /// Environment id.
        #[arg(value_parser = parse_environment_id)]
        id: EnvironmentId,
        /// Reason for destroying it, recorded with the environment.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Renew an environment's lease: it then ends the given time from now.
    Renew {
        /// Environment id.
        #[arg(value_parser = parse_environment_id)]
        id: EnvironmentId,
        /// New lease length, counted from now, such as `30m` or `2h`.
        #[arg(long, value_name = "DURATION", value_parser = parse_ttl_ms)]
        ttl: u64,
    },
    /// Print the last lines of an environment's output.
    Logs {
        /// Environment id.
        #[arg(value_parser = parse_environment_id)]
        id: EnvironmentId,
        /// Number of lines.
        #[arg(long, value_name = "N", default_value_t = 100)]
        tail: u32,
    },
    /// Run a check command inside an environment and print its output;
    /// exits with the command's exit code (1 when it does not fit).
    Probe {
        /// Environment id.
        #[arg(value_parser = parse_environment_id)]
        id: EnvironmentId,
        /// Deadline of the command, such as `5s`; the host's default (10 s)
        /// when absent.
        #[arg(long, value_name = "DURATION", value_parser = parse_timeout_ms)]
        timeout: Option<u64>,
        /// Program and arguments, after `--`; no shell.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Create, list and delete snapshots of an environment's file system.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

/// Arguments of `envhost env create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Adapter to use; the host's default adapter when absent.
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Environment id to use as an idempotency key; minted by the host when
    /// absent.
    #[arg(long, value_parser = parse_environment_id)]
    pub id: Option<EnvironmentId>,
    /// Container image.
    #[arg(long, value_name = "IMG")]
    pub image: Option<String>,
    /// Template of the adapter's options.
    #[arg(long, value_name = "ID")]
    pub template: Option<String>,
    /// Host directory to mount into the environment.
    #[arg(long, value_name = "PATH")]
    pub workspace: Option<String>,
    /// Environment variable for the environment; repeatable.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
    /// CPU request in Kubernetes notation, such as `500m` or `2`.
    #[arg(long, value_name = "Q")]
    pub cpu: Option<String>,
    /// Memory request in Kubernetes notation, such as `512Mi` or `4Gi`.
    #[arg(long, value_name = "Q")]
    pub memory: Option<String>,
    /// Lease length, such as `30m` or `2h`; the host's default when absent.
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl_ms)]
    pub ttl: Option<u64>,
    /// Namespace the environment belongs to.
    #[arg(long, value_name = "N")]
    pub namespace: Option<String>,
    /// Run the environment belongs to.
    #[arg(long, value_name = "R")]
    pub run_id: Option<String>,
    /// Tenant the environment belongs to.
    #[arg(long, value_name = "T")]
    pub tenant_id: Option<String>,
    /// Metadata entry, stored as a JSON string; repeatable.
    #[arg(long, value_name = "K=V", value_parser = parse_key_value)]
    pub metadata: Vec<(String, String)>,
    /// Wait until the environment is ready or failed, showing each status
    /// change and the elapsed time on stderr. Exits with an error when it
    /// failed.
    #[arg(long)]
    pub wait: bool,
    /// Longest time `--wait` waits, such as `90s` or `10m`.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration, requires = "wait")]
    pub wait_timeout: std::time::Duration,
    /// Command to run instead of the image's default, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Filters of `envhost env list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only environments with this status.
    #[arg(long, value_name = "S", value_parser = parse_status)]
    pub status: Option<Status>,
    /// Only environments in this namespace.
    #[arg(long, value_name = "N")]
    pub namespace: Option<String>,
    /// Only environments of this run.
    #[arg(long, value_name = "R")]
    pub run_id: Option<String>,
    /// Only environments of this tenant.
    #[arg(long, value_name = "T")]
    pub tenant_id: Option<String>,
}

fn parse_environment_id(input: &str) -> Result<EnvironmentId, String> {
    EnvironmentId::parse(input).map_err(|err| err.to_string())
}

fn parse_timeout_ms(input: &str) -> Result<u64, String> {
    let duration = humantime::parse_duration(input)
        .map_err(|err| format!("invalid timeout `{input}`: {err} (expected e.g. `5s`)"))?;
    match u64::try_from(duration.as_millis()) {
        Ok(ms) if ms >= 1 => Ok(ms),
        _ => Err(format!("invalid timeout `{input}`: expected 1ms or more")),
    }
}

fn parse_json_object(input: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str(input) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        Ok(_) => Err(format!("invalid options `{input}`: expected a JSON object")),
        Err(err) => Err(format!("invalid options `{input}`: {err}")),
    }
}

fn parse_status(input: &str) -> Result<Status, String> {
    input
        .parse()
        .map_err(|err: crate::model::InvalidStatus| err.to_string())
}

/// Runs a client subcommand against the API and prints its result on stdout.
/// Returns the process exit code: 0, or the probed command's exit code for
/// `env probe`.
///
/// # Errors
///
/// Fails when the token file can not be read, the host is not reachable, or
/// the API returns an error. An API error carries the problem's detail and
/// code.
pub async fn run(options: ClientOptions, command: ClientCommand) -> Result<u8, CliError> {
    if let ClientCommand::Env(EnvCommand::Probe {
        id,
        timeout,
        command,
    }) = &command
    {
        let client = client_for(&options)?;
        return probe(&client, &options, id, *timeout, command.clone()).await;
    }
    run_command(options, command).await.map(|()| 0)
}

fn client_for(options: &ClientOptions) -> Result<ApiClient, CliError> {
    let token = match &options.token_file {
        Some(path) => Some(read_token(path)?),
        None => None,
    };
    ApiClient::new(options.api.clone(), token)
}

async fn run_command(options: ClientOptions, command: ClientCommand) -> Result<(), CliError> {
    let client = client_for(&options)?;

    match command {
        ClientCommand::Env(EnvCommand::Create(args)) => create(&client, &options, args).await,
        ClientCommand::Env(EnvCommand::Get { id }) => get(&client, &options, &id).await,
        ClientCommand::Env(EnvCommand::List(args)) => list(&client, &options, &args).await,
        ClientCommand::Env(EnvCommand::Destroy { id, reason }) => {
            destroy(&client, &options, &id, reason).await
        }
        ClientCommand::Env(EnvCommand::Renew { id, ttl }) => {
            renew(&client, &options, &id, ttl).await
        }
        ClientCommand::Env(EnvCommand::Logs { id, tail }) => {
            logs(&client, &options, &id, tail).await
        }
        ClientCommand::Env(EnvCommand::Probe { .. }) => {
            unreachable!("`run` handles probes, which return an exit code")
        }
        ClientCommand::Env(EnvCommand::Snapshot(command)) => {
            snapshot::run(&client, &options, command).await
        }
        ClientCommand::Adapters { name } => adapters(&client, &options, name.as_deref()).await,
    }
}

async fn logs(
    client: &ApiClient,
    options: &ClientOptions,
    id: &EnvironmentId,
    tail: u32,
) -> Result<(), CliError> {
    let mut url = client.url(&["v1", "environments", id.as_str(), "logs"]);
    url.query_pairs_mut().append_pair("tail", &tail.to_string());
    let response = client.send::<()>(Method::GET, url.clone(), None).await?;
    if options.json {
        println!("{}", response.body);
        return Ok(());
    }
    let logs: EnvironmentLogs = decode(&url, &response)?;
    for line in logs.lines {
        println!("{line}");
    }
    Ok(())
}

async fn probe(
    client: &ApiClient,
    options: &ClientOptions,
    id: &EnvironmentId,
    timeout_ms: Option<u64>,
    command: Vec<String>,
) -> Result<u8, CliError> {
    let timeout_ms = timeout_ms
        .map(|ms| {
            u32::try_from(ms).map_err(|_| {
                CliError::InvalidArgument(format!("invalid --timeout: {ms} ms is too long"))
            })
        })
        .transpose()?;
    let request = ProbeRequest {
        command,
        timeout_ms,
    };
    let url = client.url(&["v1", "environments", id.as_str(), "probe"]);
    let response = client
        .send(Method::POST, url.clone(), Some(&request))
        .await?;
    let result: ProbeResult = decode(&url, &response)?;
    if options.json {
        println!("{}", response.body);
    } else {
        print!("{}", result.output);
        if result.truncated {
            eprintln!("(output truncated by the host)");
        }
    }
    Ok(u8::try_from(result.exit_code).unwrap_or(1))
}

fn read_token(path: &std::path::Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|err| CliError::TokenFile {
        path: path.to_owned(),
        message: err.to_string(),
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::TokenFile {
            path: path.to_owned(),
            message: "file is empty".into(),
        });
    }
    Ok(token.to_owned())
}

async fn create(
    client: &ApiClient,
    options: &ClientOptions,
    args: Box<CreateArgs>,
) -> Result<(), CliError> {
    let (wait, wait_timeout) = (args.wait, args.wait_timeout);
    let request = create_request(*args)?;
    let url = client.url(&["v1", "environments"]);
    let started = std::time::Instant::now();
    let response = client
        .send(Method::POST, url.clone(), Some(&request))
        .await?;
    if !wait {
        return print_descriptor(options, &url, &response);
    }

    let descriptor: Descriptor = decode(&url, &response)?;
    let environment_url = client.url(&["v1", "environments", descriptor.environment_id.as_str()]);
    let settled =
        wait::wait_until_settled(client, &environment_url, response, started, wait_timeout).await?;
    print_descriptor(options, &environment_url, &settled)
}

/// Builds the create request from the arguments, rejecting a key given twice
/// with `--env` or `--metadata`, since one value would silently be lost.
fn create_request(args: CreateArgs) -> Result<CreateRequest, CliError> {
    let env = unique_map("--env", args.env)?;
    let metadata = unique_map("--metadata", args.metadata)?
        .into_iter()
        .map(|(key, value)| (key, serde_json::Value::String(value)))
        .collect();
    Ok(CreateRequest {
        environment_id: args.id.map(String::from),
        provider: args.provider,
        tenant_id: args.tenant_id,
        namespace: args.namespace,
        run_id: args.run_id,
        template_id: args.template,
        image: args.image,
        workspace_path: args.workspace,
        command: args.command,
        env,
        resources: Resources {
            cpu: args.cpu,
            memory: args.memory,
            ..Resources::default()
        },
        ttl_ms: args.ttl,
        metadata,
    })
}

fn unique_map(
    option: &str,
    pairs: Vec<(String, String)>,
) -> Result<BTreeMap<String, String>, CliError> {
    let mut map = BTreeMap::new();
    for (key, value) in pairs {
        if map.contains_key(&key) {
            return Err(CliError::InvalidArgument(format!(
                "key `{key}` is given more than once with {option}"
            )));
        }
        map.insert(key, value);
    }
    Ok(map)
}

async fn get(
    client: &ApiClient,
    options: &ClientOptions,
    id: &EnvironmentId,
) -> Result<(), CliError> {
    let url = client.url(&["v1", "environments", id.as_str()]);
    let response = client.send::<()>(Method::GET, url.clone(), None).await?;
    print_descriptor(options, &url, &response)
}

async fn list(
    client: &ApiClient,
    options: &ClientOptions,
    args: &ListArgs,
) -> Result<(), CliError> {
    let mut url = client.url(&["v1", "environments"]);
    {
        let status = args.status.map(Status::as_str);
        let filters = [
            ("status", status),
            ("namespace", args.namespace.as_deref()),
            ("runId", args.run_id.as_deref()),
            ("tenantId", args.tenant_id.as_deref()),
        ];
        let mut query = url.query_pairs_mut();
        for (name, value) in filters {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    // An empty query string would still leave a `?` on the URL.
    if url.query() == Some("") {
        url.set_query(None);
    }

    let response = client.send::<()>(Method::GET, url.clone(), None).await?;
    if options.json {
        println!("{}", response.body);
        return Ok(());
    }
    let descriptors: Vec<Descriptor> = decode(&url, &response)?;
    print!("{}", output::render_environments(&descriptors));
    Ok(())
}

async fn destroy(
    client: &ApiClient,
    options: &ClientOptions,
    id: &EnvironmentId,
    reason: Option<String>,
) -> Result<(), CliError> {
    let mut url = client.url(&["v1", "environments", id.as_str()]);
    if let Some(reason) = &reason {
        url.query_pairs_mut().append_pair("reason", reason);
    }

    let response = client.send::<()>(Method::DELETE, url.clone(), None).await?;
    if response.status == StatusCode::NO_CONTENT {
        // Destroying an unknown id succeeds, so this is not an error.
        if !options.json {
            println!("environment {id} is not known to the host; nothing to destroy");
        }
        return Ok(());
    }
    print_descriptor(options, &url, &response)
}

async fn renew(
    client: &ApiClient,
    options: &ClientOptions,
    id: &EnvironmentId,
    ttl_ms: u64,
) -> Result<(), CliError> {
    let url = client.url(&["v1", "environments", id.as_str(), "lease"]);
    let body = crate::model::RenewRequest { ttl_ms };
    let response = client.send(Method::PUT, url.clone(), Some(&body)).await?;
    if options.json {
        println!("{}", response.body);
        return Ok(());
    }
    let lease: crate::model::Lease = decode(&url, &response)?;
    print!("{}", output::render_lease(id, &lease));
    Ok(())
}

async fn adapters(
    client: &ApiClient,
    options: &ClientOptions,
    name: Option<&str>,
) -> Result<(), CliError> {
    let url = match name {
        Some(name) => client.url(&["v1", "adapters", name]),
        None => client.url(&["v1", "adapters"]),
    };
    let response = client.send::<()>(Method::GET, url.clone(), None).await?;
    if options.json {
        println!("{}", response.body);
        return Ok(());
    }

    let text = match name {
        Some(_) => output::render_adapter(&decode::<AdapterSummary>(&url, &response)?),
        None => output::render_adapters(&decode::<Vec<AdapterSummary>>(&url, &response)?),
    };
    print!("{text}");
    Ok(())
}

fn print_descriptor(
    options: &ClientOptions,
    url: &Url,
    response: &client::ApiResponse,
) -> Result<(), CliError> {
    if options.json {
        println!("{}", response.body);
        return Ok(());
    }
    let descriptor: Descriptor = decode(url, response)?;
    print!("{}", output::render_environment(&descriptor));
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn create_parses_every_option_and_trailing_command() {
        let cli = Cli::try_parse_from([
            "envhost",
            "env",
            "create",
            "--provider",
            "docker",
            "--id",
            "run-1",
            "--image",
            "busybox",
            "--env",
            "A=1",
            "--env",
            "B=x=y",
            "--cpu",
            "500m",
            "--memory",
            "1Gi",
            "--ttl",
            "30m",
            "--run-id",
            "r",
            "--metadata",
            "owner=ci",
            "--",
            "sh",
            "-c",
            "sleep 1",
        ])
        .unwrap();
        let Command::Client(ClientCommand::Env(EnvCommand::Create(args))) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };

        let request = create_request(*args).unwrap();

        assert_eq!(request.environment_id.as_deref(), Some("run-1"));
        assert_eq!(request.env["B"], "x=y");
        assert_eq!(request.ttl_ms, Some(1_800_000));
        assert_eq!(request.resources.cpu.as_deref(), Some("500m"));
        assert_eq!(request.metadata["owner"], "ci");
        assert_eq!(request.command, ["sh", "-c", "sleep 1"]);
    }

    #[test]
    fn create_wait_timeout_defaults_to_five_minutes() {
        let cli = Cli::try_parse_from(["envhost", "env", "create", "--wait"]).unwrap();
        let Command::Client(ClientCommand::Env(EnvCommand::Create(args))) = cli.command else {
            panic!("expected env create");
        };
        assert!(args.wait);
        assert_eq!(args.wait_timeout, std::time::Duration::from_secs(300));

        let cli = Cli::try_parse_from([
            "envhost",
            "env",
            "create",
            "--wait",
            "--wait-timeout",
            "90s",
        ])
        .unwrap();
        let Command::Client(ClientCommand::Env(EnvCommand::Create(args))) = cli.command else {
            panic!("expected env create");
        };
        assert_eq!(args.wait_timeout, std::time::Duration::from_secs(90));
    }

    #[test]
    fn create_wait_timeout_requires_wait() {
        let result = Cli::try_parse_from(["envhost", "env", "create", "--wait-timeout", "90s"]);
        assert!(result.is_err());
    }

    #[test]
    fn create_rejects_env_without_equals_as_usage_error() {
        let err = Cli::try_parse_from(["envhost", "env", "create", "--env", "FOO"]).unwrap_err();

        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("KEY=VALUE"), "{err}");
    }

    #[test]
    fn create_rejects_repeated_env_key() {
        let cli = Cli::try_parse_from(["envhost", "env", "create", "--env", "A=1", "--env", "A=2"])
            .unwrap();
        let Command::Client(ClientCommand::Env(EnvCommand::Create(args))) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };

        let err = create_request(*args).unwrap_err();

        assert!(err.to_string().contains("`A`"), "{err}");
    }

    #[test]
    fn renew_parses_the_ttl() {
        let cli =
            Cli::try_parse_from(["envhost", "env", "renew", "env-1", "--ttl", "30m"]).unwrap();
        let Command::Client(ClientCommand::Env(EnvCommand::Renew { id, ttl })) = cli.command else {
            panic!("expected env renew, got {:?}", cli.command);
        };
        assert_eq!(id.as_str(), "env-1");
        assert_eq!(ttl, 1_800_000);
    }

    #[test]
    fn bad_ttl_is_usage_error() {
        let err = Cli::try_parse_from(["envhost", "env", "create", "--ttl", "soon"]).unwrap_err();

        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("`soon`"), "{err}");
    }

    #[test]
    fn bad_status_filter_is_usage_error() {
        let err = Cli::try_parse_from(["envhost", "env", "list", "--status", "up"]).unwrap_err();

        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("`up`"), "{err}");
    }

    #[test]
    fn api_defaults_to_loopback_port_8480() {
        let cli = Cli::try_parse_from(["envhost", "adapters"]).unwrap();

        assert_eq!(cli.client.api.as_str(), "http://127.0.0.1:8480/");
    }

    #[test]
    fn probe_takes_the_command_after_dashes() {
        let cli = Cli::try_parse_from([
            "envhost",
            "env",
            "probe",
            "env-1",
            "--timeout",
            "5s",
            "--",
            "cat",
            "/etc/hostname",
        ])
        .unwrap();
        let Command::Client(ClientCommand::Env(EnvCommand::Probe {
            id,
            timeout,
            command,
        })) = cli.command
        else {
            panic!("parsed as {:?}", cli.command);
        };

        assert_eq!(id.as_str(), "env-1");
        assert_eq!(timeout, Some(5_000));
        assert_eq!(command, ["cat", "/etc/hostname"]);
    }

    #[test]
    fn check_rejects_options_that_are_not_an_object() {
        let err =
            Cli::try_parse_from(["envhost", "check", "a.wasm", "--options", "[1]"]).unwrap_err();

        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("JSON object"), "{err}");
    }

    #[test]
    fn serve_requires_config() {
        let err = Cli::try_parse_from(["envhost", "serve"]).unwrap_err();

        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }
}
