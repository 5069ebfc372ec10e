//! Human-readable output: aligned tables for lists, `key: value` lines for one
//! item.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::ids::EnvironmentId;
use crate::model::{AdapterHealth, AdapterSummary, Descriptor, Endpoint, Lease, Protocol};

/// Text shown for an absent value in tables and `key: value` lines.
const NONE: &str = "-";

/// Renders rows under a header, each column padded to its widest cell and
/// separated by two spaces. Every line ends with a newline and has no
/// trailing spaces.
pub(crate) fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }

    let header_row: Vec<String> = header.iter().map(|cell| (*cell).to_owned()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (index, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if index > 0 {
                line.push_str("  ");
            }
            let _ = write!(line, "{cell:<width$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Renders `key: value` lines with the values aligned.
pub(crate) fn render_fields(fields: &[(&str, String)]) -> String {
    let width = fields
        .iter()
        .map(|(key, _)| key.len() + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in fields {
        let label = format!("{key}:");
        let _ = writeln!(out, "{label:<width$} {value}");
    }
    out
}

/// Renders a list of environments as a table, or a line saying there are
/// none.
pub(crate) fn render_environments(descriptors: &[Descriptor]) -> String {
    if descriptors.is_empty() {
        return "no environments\n".to_owned();
    }
    let rows: Vec<Vec<String>> = descriptors
        .iter()
        .map(|descriptor| {
            vec![
                descriptor.environment_id.to_string(),
                descriptor.provider.clone(),
                descriptor.status.to_string(),
                timestamp(&descriptor.created_at),
                lease_expiry(descriptor),
            ]
        })
        .collect();
    render_table(
        &["ID", "PROVIDER", "STATUS", "CREATED", "LEASE EXPIRES"],
        &rows,
    )
}

/// Renders one environment as `key: value` lines, one `endpoint` line per
/// endpoint.
pub(crate) fn render_environment(descriptor: &Descriptor) -> String {
    let mut fields = vec![
        ("id", descriptor.environment_id.to_string()),
        ("provider", descriptor.provider.clone()),
        ("status", descriptor.status.to_string()),
        (
            "reason",
            descriptor.reason.clone().unwrap_or_else(|| NONE.to_owned()),
        ),
        ("created", timestamp(&descriptor.created_at)),
        ("lease expiry", lease_expiry(descriptor)),
    ];
    for endpoint in &descriptor.endpoints {
        fields.push(("endpoint", endpoint_text(endpoint)));
    }
    render_fields(&fields)
}

/// Renders the adapter list as a table, or a line saying there are none.
pub(crate) fn render_lease(id: &EnvironmentId, lease: &Lease) -> String {
    render_fields(&[
        ("id", id.to_string()),
        ("lease", lease.lease_id.clone()),
        ("expires", timestamp(&lease.expires_at)),
    ])
}

pub(crate) fn render_adapters(adapters: &[AdapterSummary]) -> String {
    if adapters.is_empty() {
        return "no adapters\n".to_owned();
    }
    let rows: Vec<Vec<String>> = adapters
        .iter()
        .map(|adapter| {
            vec![
                adapter.name.clone(),
                health_text(adapter.health).to_owned(),
                adapter.version.clone().unwrap_or_else(|| NONE.to_owned()),
                adapter
                    .wit_version
                    .clone()
                    .unwrap_or_else(|| NONE.to_owned()),
                adapter
                    .loaded_at
                    .as_ref()
                    .map_or_else(|| NONE.to_owned(), timestamp),
            ]
        })
        .collect();
    render_table(&["NAME", "HEALTH", "VERSION", "WIT", "LOADED"], &rows)
}

/// Renders one adapter as `key: value` lines.
pub(crate) fn render_adapter(adapter: &AdapterSummary) -> String {
    let or_none = |value: &Option<String>| value.clone().unwrap_or_else(|| NONE.to_owned());
    let mut fields = vec![
        ("name", adapter.name.clone()),
        ("file", adapter.file.clone()),
        ("health", health_text(adapter.health).to_owned()),
        ("version", or_none(&adapter.version)),
        ("wit version", or_none(&adapter.wit_version)),
        ("digest", or_none(&adapter.digest)),
        (
            "loaded",
            adapter
                .loaded_at
                .as_ref()
                .map_or_else(|| NONE.to_owned(), timestamp),
        ),
    ];
    if let Some(capabilities) = &adapter.capabilities {
        let mut names = Vec::new();
        for (supported, name) in [
            (capabilities.supports_two_phase, "two-phase"),
            (capabilities.supports_lease_renewal, "lease-renewal"),
            (capabilities.supports_logs, "logs"),
            (capabilities.supports_exec_probe, "exec-probe"),
            (capabilities.supports_snapshots, "snapshots"),
        ] {
            if supported {
                names.push(name);
            }
        }
        let text = if names.is_empty() {
            NONE.to_owned()
        } else {
            names.join(", ")
        };
        fields.push(("capabilities", text));
    }
    if let Some(error) = &adapter.last_error {
        fields.push(("last error", error.clone()));
    }
    render_fields(&fields)
}

fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn lease_expiry(descriptor: &Descriptor) -> String {
    descriptor
        .lease
        .as_ref()
        .map_or_else(|| NONE.to_owned(), |lease| timestamp(&lease.expires_at))
}

fn endpoint_text(endpoint: &Endpoint) -> String {
    let protocol = match endpoint.protocol {
        Protocol::Http => "http",
        Protocol::Https => "https",
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Unix => "unix",
    };
    let mut text = format!(
        "{} {protocol} {}:{}",
        endpoint.name, endpoint.host, endpoint.port
    );
    if let Some(path) = &endpoint.path {
        text.push_str(path);
    }
    text
}

fn health_text(health: AdapterHealth) -> &'static str {
    match health {
        AdapterHealth::Healthy => "healthy",
        AdapterHealth::Failed => "failed",
        AdapterHealth::Unhealthy => "unhealthy",
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::ids::EnvironmentId;
    use crate::model::{JsonObject, Lease, Status};

    fn descriptor(id: &str, status: Status) -> Descriptor {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        Descriptor {
            environment_id: EnvironmentId::parse(id).unwrap(),
            provider: "docker".to_owned(),
            status,
            reason: None,
            created_at: at,
            updated_at: at,
            lease: None,
            endpoints: Vec::new(),
            metadata: JsonObject::new(),
        }
    }

    #[test]
    fn table_pads_columns_to_widest_cell() {
        let rows = vec![
            vec!["a".to_owned(), "longer-value".to_owned(), "x".to_owned()],
            vec!["bbbbbb".to_owned(), "v".to_owned(), "y".to_owned()],
        ];

        let table = render_table(&["ID", "VALUE", "Z"], &rows);

        let expected = "\
ID      VALUE         Z
a       longer-value  x
bbbbbb  v             y
";
        assert_eq!(table, expected);
    }

    #[test]
    fn table_trims_trailing_spaces_of_short_last_cells() {
        let rows = vec![vec!["a".to_owned(), String::new()]];

        let table = render_table(&["ID", "REASON"], &rows);

        assert_eq!(table, "ID  REASON\na\n");
    }

    #[test]
    fn table_aligns_non_ascii_by_characters() {
        let rows = vec![vec!["ü".to_owned(), "x".to_owned()]];

        let table = render_table(&["AB", "C"], &rows);

        assert_eq!(table, "AB  C\nü   x\n");
    }

    #[test]
    fn environments_table_has_one_row_each() {
        let mut first = descriptor("env-1", Status::Ready);
        first.lease = Some(Lease {
            lease_id: "l1".to_owned(),
            acquired_at: first.created_at,
            expires_at: Utc.with_ymd_and_hms(2026, 12, 1, 10, 30, 0).unwrap(),
            owner: None,
        });
        let second = descriptor("env-22", Status::Terminated);

        let table = render_environments(&[first, second]);

        let expected = "\
ID      PROVIDER  STATUS      CREATED               LEASE EXPIRES
env-1   docker    ready       2026-12-01T10:00:00Z  2026-12-01T10:30:00Z
env-22  docker    terminated  2026-12-01T10:00:00Z  -
";
        assert_eq!(table, expected);
    }

    #[test]
    fn empty_environment_list_says_so() {
        assert_eq!(render_environments(&[]), "no environments\n");
    }

    #[test]
    fn environment_fields_list_each_endpoint() {
        let mut env = descriptor("env-1", Status::Degraded);
        env.reason = Some("unhealthy".to_owned());
        env.endpoints = vec![
            Endpoint {
                name: "web".to_owned(),
                protocol: Protocol::Http,
                host: "127.0.0.1".to_owned(),
                port: 32768,
                path: None,
            },
            Endpoint {
                name: "db".to_owned(),
                protocol: Protocol::Tcp,
                host: "127.0.0.1".to_owned(),
                port: 32769,
                path: None,
            },
        ];

        let text = render_environment(&env);

        let expected = "\
id:           env-1
provider:     docker
status:       degraded
reason:       unhealthy
created:      2026-12-01T10:00:00Z
lease expiry: -
endpoint:     web http 127.0.0.1:32768
endpoint:     db tcp 127.0.0.1:32769
";
        assert_eq!(text, expected);
    }
}
