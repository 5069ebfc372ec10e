//! The adapter's options: the operator's `[adapters.docker.options]` table,
//! which the host passes to `init` as a JSON object with camelCase keys.

use std::collections::BTreeMap;

use envhost_guest::quantity::{parse_cpu_nanos, parse_memory_bytes};
use serde::Deserialize;

use envhost_guest::types::ProviderError;

/// Adapter options. Unknown keys are rejected, at every level, so that a
/// misspelt key fails the load instead of being ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct Options {
    /// Image used when neither the request nor its template names one.
    /// Default: none, so such a request is invalid.
    pub(crate) default_image: Option<String>,
    /// Remove a container when it exits. Its status then reads `not-found`
    /// instead of `terminated` or `failed`. Default: false.
    pub(crate) auto_remove: bool,
    /// Bind the request's workspace path into the container. Default: true.
    pub(crate) mount_workspace: bool,
    /// Absolute path of the workspace inside the container. Default:
    /// `/workspace`.
    pub(crate) workspace_mount_path: String,
    /// User-defined network that every container joins, created when
    /// missing. Default: none, the engine's default bridge.
    pub(crate) network: Option<String>,
    /// Extra `/etc/hosts` entries, each `name:address`. Default: none.
    pub(crate) extra_hosts: Vec<String>,
    /// Run the engine's init process as PID 1. Default: true.
    pub(crate) init: bool,
    /// Seconds a container gets to stop on destroy before it is killed.
    /// Default: 10.
    pub(crate) stop_grace_seconds: u32,
    /// Named templates, selected by a request's `templateId`. Default: none.
    pub(crate) templates: BTreeMap<String, Template>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            default_image: None,
            auto_remove: false,
            mount_workspace: true,
            workspace_mount_path: "/workspace".to_owned(),
            network: None,
            extra_hosts: Vec::new(),
            init: true,
            stop_grace_seconds: 10,
            templates: BTreeMap::new(),
        }
    }
}

/// Defaults for a kind of environment. Request fields override them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct Template {
    pub(crate) image: Option<String>,
    /// Replaces the image's command unless empty.
    pub(crate) command: Vec<String>,
    pub(crate) env: BTreeMap<String, String>,
    /// Ports to publish in addition to those the image exposes.
    pub(crate) ports: Vec<TemplatePort>,
    pub(crate) resources: TemplateResources,
}

/// A container port a template publishes, and how its endpoint reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TemplatePort {
    pub(crate) port: u16,
    /// Default: tcp.
    #[serde(default)]
    pub(crate) protocol: Transport,
    /// Endpoint name. Default: `<port>/<protocol>`, such as `8080/tcp`.
    pub(crate) name: Option<String>,
    /// Endpoint protocol. Default: the transport, so `tcp` or `udp`.
    pub(crate) endpoint_protocol: Option<EndpointProtocol>,
}

/// Transport protocol of a container port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Transport {
    #[default]
    Tcp,
    Udp,
}

impl Transport {
    /// Returns the engine's spelling: `tcp` or `udp`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }

    /// Parses the engine's spelling. Returns none for anything else, such as
    /// `sctp`.
    pub(crate) fn from_engine(protocol: &str) -> Option<Transport> {
        match protocol {
            "tcp" => Some(Transport::Tcp),
            "udp" => Some(Transport::Udp),
            _ => None,
        }
    }
}

/// Protocol an endpoint is reached with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EndpointProtocol {
    Http,
    Https,
    Tcp,
    Udp,
}

/// Resource requests of a template, in Kubernetes quantity notation. Numbers
/// are accepted too, because `cpu = 2` is the natural way to write it in TOML.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TemplateResources {
    #[serde(deserialize_with = "quantity_text")]
    pub(crate) cpu: Option<String>,
    #[serde(deserialize_with = "quantity_text")]
    pub(crate) memory: Option<String>,
    #[serde(deserialize_with = "quantity_text")]
    pub(crate) disk: Option<String>,
    #[serde(deserialize_with = "quantity_text")]
    pub(crate) gpu: Option<String>,
}

fn quantity_text<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Quantity {
        Text(String),
        Number(serde_json::Number),
    }

    Ok(match Option::<Quantity>::deserialize(deserializer)? {
        None => None,
        Some(Quantity::Text(text)) => Some(text),
        Some(Quantity::Number(number)) => Some(number.to_string()),
    })
}

impl Options {
    /// Parses and checks the options JSON as `init` does (through the SDK,
    /// then [`Options::check`]). An empty string counts as `{}`.
    ///
    /// # Errors
    ///
    /// `invalid-request` naming the key and what is wrong with it. The causes
    /// are an unknown key, a value of the wrong type, an `extraHosts` entry
    /// that is not `name:address` and a relative `workspaceMountPath`. A
    /// template with port 0 or an invalid cpu or memory quantity fails too.
    #[cfg(test)]
    pub(crate) fn parse(json: &str) -> Result<Options, ProviderError> {
        let options: Options = envhost_guest::options::parse(json)?;
        options.check()?;
        Ok(options)
    }

    /// Checks what serde can not: see [`Options::parse`].
    pub(crate) fn check(&self) -> Result<(), ProviderError> {
        if !self.workspace_mount_path.starts_with('/') {
            return Err(invalid(format!(
                "invalid adapter option `workspaceMountPath`: `{}` is not an absolute path",
                self.workspace_mount_path
            )));
        }

        for entry in &self.extra_hosts {
            let is_valid = entry
                .split_once(':')
                .is_some_and(|(name, address)| !name.is_empty() && !address.is_empty());
            if !is_valid {
                return Err(invalid(format!(
                    "invalid adapter option `extraHosts`: `{entry}` is not `name:address`"
                )));
            }
        }

        for (name, template) in &self.templates {
            template.check().map_err(|reason| {
                invalid(format!(
                    "invalid adapter option `templates.{name}`: {reason}"
                ))
            })?;
        }
        Ok(())
    }

    /// Looks up the template a request selects. Returns none when the request
    /// selects none.
    ///
    /// # Errors
    ///
    /// `invalid-request` naming the unknown id and the known ones.
    pub(crate) fn template(&self, id: Option<&str>) -> Result<Option<&Template>, ProviderError> {
        let Some(id) = id else {
            return Ok(None);
        };
        if let Some(template) = self.templates.get(id) {
            return Ok(Some(template));
        }

        let known = if self.templates.is_empty() {
            "no templates are configured".to_owned()
        } else {
            let names: Vec<String> = self
                .templates
                .keys()
                .map(|name| format!("`{name}`"))
                .collect();
            format!("known templates: {}", names.join(", "))
        };
        Err(invalid(format!("unknown template `{id}` ({known})")))
    }
}

impl Template {
    /// Checks what serde can not: quantities parse, ports are not zero, env
    /// names are usable. Returns the reason on failure.
    fn check(&self) -> Result<(), String> {
        if let Some(cpu) = &self.resources.cpu {
            parse_cpu_nanos(cpu).map_err(|err| err.to_string())?;
        }
        if let Some(memory) = &self.resources.memory {
            parse_memory_bytes(memory).map_err(|err| err.to_string())?;
        }
        if let Some(port) = self.ports.iter().find(|port| port.port == 0) {
            return Err(format!("port {} is not a valid container port", port.port));
        }
        if let Some(name) = self
            .env
            .keys()
            .find(|name| name.is_empty() || name.contains('='))
        {
            return Err(format!(
                "environment variable name `{name}` is empty or contains `=`"
            ));
        }
        Ok(())
    }
}

/// Builds an `invalid-request` error.
pub(crate) fn invalid(message: String) -> ProviderError {
    ProviderError::InvalidRequest(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(err: ProviderError) -> String {
        match err {
            ProviderError::InvalidRequest(message) => message,
            other => panic!("expected invalid-request, got {other:?}"),
        }
    }

    #[test]
    fn empty_options_take_defaults() {
        assert_eq!(Options::parse("{}").unwrap(), Options::default());
        assert_eq!(Options::parse("").unwrap(), Options::default());

        let defaults = Options::default();
        assert!(defaults.mount_workspace);
        assert!(defaults.init);
        assert!(!defaults.auto_remove);
        assert_eq!(defaults.workspace_mount_path, "/workspace");
        assert_eq!(defaults.stop_grace_seconds, 10);
    }

    #[test]
    fn full_options_parse() {
        let json = r#"{
            "defaultImage": "envhost/busybox:test",
            "autoRemove": true,
            "mountWorkspace": false,
            "workspaceMountPath": "/src",
            "network": "envhost-net",
            "extraHosts": ["db:10.0.0.5", "v6:fd00::1"],
            "init": false,
            "stopGraceSeconds": 3,
            "templates": {
                "web": {
                    "image": "web:1",
                    "command": ["httpd", "-f"],
                    "env": {"MODE": "dev"},
                    "ports": [
                        {"port": 8080, "name": "http", "endpointProtocol": "http"},
                        {"port": 53, "protocol": "udp"}
                    ],
                    "resources": {"cpu": "500m", "memory": "64Mi", "disk": "1Gi", "gpu": 1}
                }
            }
        }"#;
        let options = Options::parse(json).unwrap();

        assert_eq!(
            options.default_image.as_deref(),
            Some("envhost/busybox:test")
        );
        assert!(options.auto_remove);
        assert!(!options.mount_workspace);
        assert_eq!(options.workspace_mount_path, "/src");
        assert_eq!(options.network.as_deref(), Some("envhost-net"));
        assert_eq!(options.extra_hosts, ["db:10.0.0.5", "v6:fd00::1"]);
        assert!(!options.init);
        assert_eq!(options.stop_grace_seconds, 3);

        let web = &options.templates["web"];
        assert_eq!(web.image.as_deref(), Some("web:1"));
        assert_eq!(web.command, ["httpd", "-f"]);
        assert_eq!(web.env["MODE"], "dev");
        assert_eq!(web.ports[0].protocol, Transport::Tcp);
        assert_eq!(web.ports[0].endpoint_protocol, Some(EndpointProtocol::Http));
        assert_eq!(web.ports[1].protocol, Transport::Udp);
        assert_eq!(web.ports[1].endpoint_protocol, None);
        assert_eq!(web.resources.cpu.as_deref(), Some("500m"));
        assert_eq!(web.resources.gpu.as_deref(), Some("1"));
    }

    #[test]
    fn unknown_key_is_named() {
        let err =
            message(Options::parse(r#"{"defaultImage": "a", "autoRemov": true}"#).unwrap_err());
        assert!(err.contains("`autoRemov`"), "{err}");
    }

    #[test]
    fn unknown_nested_key_is_named_with_its_path() {
        let json = r#"{"templates": {"web": {"ports": [{"port": 80, "nmae": "x"}]}}}"#;
        let err = message(Options::parse(json).unwrap_err());
        assert!(err.contains("templates.web.ports[0]"), "{err}");
        assert!(err.contains("`nmae`"), "{err}");
    }

    #[test]
    fn options_that_are_not_an_object_are_rejected() {
        let err = message(Options::parse("[1]").unwrap_err());
        assert_eq!(err, "adapter options must be a JSON object, got `[1]`");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = message(Options::parse(r#"{"stopGraceSeconds": "10s"}"#).unwrap_err());
        assert!(err.contains("`stopGraceSeconds`"), "{err}");
    }

    #[test]
    fn bad_port_protocol_is_rejected() {
        let json = r#"{"templates": {"web": {"ports": [{"port": 80, "protocol": "sctp"}]}}}"#;
        let err = message(Options::parse(json).unwrap_err());
        assert!(err.contains("sctp"), "{err}");
    }

    #[test]
    fn extra_host_without_address_is_rejected() {
        let err = message(Options::parse(r#"{"extraHosts": ["db"]}"#).unwrap_err());
        assert!(err.contains("`db`"), "{err}");
    }

    #[test]
    fn relative_workspace_mount_path_is_rejected() {
        let err = message(Options::parse(r#"{"workspaceMountPath": "ws"}"#).unwrap_err());
        assert!(err.contains("`ws`"), "{err}");
    }

    #[test]
    fn template_with_bad_quantity_is_rejected() {
        let json = r#"{"templates": {"big": {"resources": {"memory": "5Mb"}}}}"#;
        let err = message(Options::parse(json).unwrap_err());
        assert!(err.contains("`templates.big`"), "{err}");
        assert!(err.contains("`5Mb`"), "{err}");
    }

    #[test]
    fn template_with_port_zero_is_rejected() {
        let json = r#"{"templates": {"web": {"ports": [{"port": 0}]}}}"#;
        let err = message(Options::parse(json).unwrap_err());
        assert!(err.contains("port 0"), "{err}");
    }

    #[test]
    fn unknown_template_names_the_known_ones() {
        let options = Options::parse(r#"{"templates": {"web": {}, "db": {}}}"#).unwrap();
        let err = message(options.template(Some("wbe")).unwrap_err());
        assert_eq!(err, "unknown template `wbe` (known templates: `db`, `web`)");
    }

    #[test]
    fn unknown_template_with_none_configured() {
        let err = message(Options::default().template(Some("web")).unwrap_err());
        assert_eq!(err, "unknown template `web` (no templates are configured)");
    }

    #[test]
    fn no_template_id_selects_no_template() {
        assert_eq!(Options::default().template(None).unwrap(), None);
    }
}
