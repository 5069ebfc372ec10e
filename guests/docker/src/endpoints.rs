//! Endpoints of an environment, built from the ports the engine published.

use std::collections::BTreeSet;

use crate::options::{EndpointProtocol, Template, Transport};
use envhost_guest::container::PublishedPort;
use envhost_guest::types::{Endpoint, Protocol};

/// Builds one endpoint per published container port.
///
/// The name and protocol come from the template's entry for that port when
/// there is one. Otherwise the name is `<port>/<transport>` and the protocol
/// is the transport. The engine lists a port once per address family when it is
/// published on all addresses: only the first entry counts. An unspecified
/// host address (`0.0.0.0`, `::` or empty) becomes the loopback address of
/// its family, because a caller can not connect to an unspecified address.
/// Ports on transports other than tcp and udp (sctp) have no endpoint, since
/// the contract has no protocol for them.
pub(crate) fn endpoints(published: &[PublishedPort], template: Option<&Template>) -> Vec<Endpoint> {
    let mut seen = BTreeSet::new();
    let mut endpoints = Vec::new();

    for port in published {
        let Some(transport) = Transport::from_engine(&port.protocol) else {
            continue;
        };
        if !seen.insert((port.container_port, transport)) {
            continue;
        }

        let configured = template.and_then(|template| {
            template
                .ports
                .iter()
                .find(|entry| entry.port == port.container_port && entry.protocol == transport)
        });
        let name = configured
            .and_then(|entry| entry.name.clone())
            .unwrap_or_else(|| format!("{}/{}", port.container_port, transport.as_str()));
        let protocol = match configured.and_then(|entry| entry.endpoint_protocol) {
            Some(EndpointProtocol::Http) => Protocol::Http,
            Some(EndpointProtocol::Https) => Protocol::Https,
            Some(EndpointProtocol::Tcp) => Protocol::Tcp,
            Some(EndpointProtocol::Udp) => Protocol::Udp,
            None => match transport {
                Transport::Tcp => Protocol::Tcp,
                Transport::Udp => Protocol::Udp,
            },
        };

        endpoints.push(Endpoint {
            name,
            protocol,
            host: connectable_host(&port.host_ip),
            port: port.host_port,
            path: None,
        });
    }
    endpoints
}

fn connectable_host(host_ip: &str) -> String {
    match host_ip {
        "" | "0.0.0.0" => "127.0.0.1".to_owned(),
        "::" => "::1".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Options;

    fn published(
        container_port: u16,
        protocol: &str,
        host_ip: &str,
        host_port: u16,
    ) -> PublishedPort {
        PublishedPort {
            container_port,
            protocol: protocol.to_owned(),
            host_ip: host_ip.to_owned(),
            host_port,
        }
    }

    #[test]
    fn endpoints_without_template_use_port_and_transport() {
        let endpoints = endpoints(
            &[
                published(8080, "tcp", "127.0.0.1", 49153),
                published(53, "udp", "127.0.0.1", 49154),
            ],
            None,
        );

        assert_eq!(endpoints.len(), 2);
        assert_eq!(endpoints[0].name, "8080/tcp");
        assert_eq!(endpoints[0].protocol, Protocol::Tcp);
        assert_eq!(endpoints[0].host, "127.0.0.1");
        assert_eq!(endpoints[0].port, 49153);
        assert_eq!(endpoints[0].path, None);
        assert_eq!(endpoints[1].name, "53/udp");
        assert_eq!(endpoints[1].protocol, Protocol::Udp);
        assert_eq!(endpoints[1].port, 49154);
    }

    #[test]
    fn endpoints_take_name_and_protocol_from_template() {
        let options = Options::parse(
            r#"{"templates": {"web": {"ports": [
                {"port": 8080, "name": "http", "endpointProtocol": "http"},
                {"port": 8443, "endpointProtocol": "https"}
            ]}}}"#,
        )
        .unwrap();
        let endpoints = endpoints(
            &[
                published(8080, "tcp", "127.0.0.1", 40000),
                published(8443, "tcp", "127.0.0.1", 40001),
                published(8080, "udp", "127.0.0.1", 40002),
            ],
            options.templates.get("web"),
        );

        assert_eq!(endpoints[0].name, "http");
        assert_eq!(endpoints[0].protocol, Protocol::Http);
        assert_eq!(endpoints[1].name, "8443/tcp");
        assert_eq!(endpoints[1].protocol, Protocol::Https);
        // The template entry is for tcp, so the udp port keeps the defaults.
        assert_eq!(endpoints[2].name, "8080/udp");
        assert_eq!(endpoints[2].protocol, Protocol::Udp);
    }

    #[test]
    fn endpoints_list_a_port_once_across_address_families() {
        let endpoints = endpoints(
            &[
                published(8080, "tcp", "0.0.0.0", 40000),
                published(8080, "tcp", "::", 40000),
            ],
            None,
        );

        assert_eq!(endpoints.len(), 1);
        assert_eq!(endpoints[0].host, "127.0.0.1");
    }

    #[test]
    fn endpoints_map_unspecified_ipv6_to_loopback() {
        let endpoints = endpoints(&[published(8080, "tcp", "::", 40000)], None);
        assert_eq!(endpoints[0].host, "::1");
    }

    #[test]
    fn endpoints_skip_sctp_ports() {
        let endpoints = endpoints(&[published(9000, "sctp", "127.0.0.1", 40000)], None);
        assert!(endpoints.is_empty());
    }
}
