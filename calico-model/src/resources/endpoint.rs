//! Endpoints and network sets: `HostEndpoint`, `WorkloadEndpoint`, `NetworkSet` and
//! `GlobalNetworkSet`.
//!
//! None of these kinds has any defaulting in Calico (no client-side defaults and no CRD
//! `default` markers), so their `apply_defaults` are no-ops.

use std::net::IpAddr;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::resource::{GlobalNetworkSet, HostEndpoint, NetworkSet, WorkloadEndpoint};
use crate::resource::{ResourceKind, validate_common_meta};
use crate::scalar::{Dscp, Protocol, parse_cidr_or_ip};
use crate::validation::{NetKind, Path, Validate, Validator, check_net, is_valid_port_name};

// ------------------------------------------------------------------------------------------
// Field checks shared by the endpoint and IPAM kinds (Calico's field validators by tag name).
// ------------------------------------------------------------------------------------------

/// One DNS-1123 label's syntax (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`), without a length limit.
fn is_name_label(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => ok(f) && ok(l) && b.iter().all(|&c| ok(c) || c == b'-'),
        _ => false,
    }
}

/// Calico's `name` validator: dot-separated DNS-1123 labels (no overall length limit).
pub(crate) fn is_calico_name(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_name_label)
}

/// Reports `s` at `path` unless it passes Calico's `name` validator.
pub(crate) fn check_calico_name(v: &mut Validator, path: &Path, s: &str) {
    if !is_calico_name(s) {
        v.report(
            path,
            format!(
                "{s:?} is not a valid name: must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric character"
            ),
        );
    }
}

/// Calico's `interface` validator: `*` or 1–15 characters of `[a-zA-Z0-9_.-]`.
pub(crate) fn is_valid_interface_name(s: &str) -> bool {
    s == "*"
        || ((1..=15).contains(&s.len())
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')))
}

/// Calico's `containerID` validator: `[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?`.
pub(crate) fn is_valid_container_id(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        }
        _ => false,
    }
}

/// Parses a hardware address the way Go's `net.ParseMAC` does: 6, 8 or 20 octets written
/// as `xx:xx:…`, `xx-xx-…` or `xxxx.xxxx.…` (hex digits of either case).
pub(crate) fn parse_mac(s: &str) -> Option<Vec<u8>> {
    let hex = |b: &[u8]| -> Option<u8> {
        let s = std::str::from_utf8(b).ok()?;
        u8::from_str_radix(s, 16)
            .ok()
            .filter(|_| b.iter().all(u8::is_ascii_hexdigit))
    };
    let b = s.as_bytes();
    if b.len() < 14 {
        return None;
    }
    let valid_len = |n: usize| matches!(n, 6 | 8 | 20);
    let sep = *b.get(2)?;
    if sep == b':' || sep == b'-' {
        if !(b.len() + 1).is_multiple_of(3) {
            return None;
        }
        let n = (b.len() + 1) / 3;
        if !valid_len(n) {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        for (i, chunk) in b.chunks(3).enumerate() {
            out.push(hex(chunk.get(..2)?)?);
            if i + 1 < n && chunk.get(2) != Some(&sep) {
                return None;
            }
        }
        return Some(out);
    }
    if b.get(4) == Some(&b'.') {
        if !(b.len() + 1).is_multiple_of(5) {
            return None;
        }
        let n = 2 * (b.len() + 1) / 5;
        if !valid_len(n) {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        let groups = n / 2;
        for (i, chunk) in b.chunks(5).enumerate() {
            out.push(hex(chunk.get(..2)?)?);
            out.push(hex(chunk.get(2..4)?)?);
            if i + 1 < groups && chunk.get(4) != Some(&b'.') {
                return None;
            }
        }
        return Some(out);
    }
    None
}

/// Parses a bare address as Go's `net.ParseIP` does, reporting IPv4-mapped IPv6 addresses
/// (`::ffff:a.b.c.d`) as IPv4, as Go's `To4()` does.
fn go_parse_ip(s: &str) -> Option<IpAddr> {
    let a: IpAddr = s.parse().ok()?;
    Some(match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    })
}

/// Calico's `ipv4` validator (an address whose `To4()` succeeds).
fn check_ipv4(v: &mut Validator, path: &Path, s: &str) {
    match go_parse_ip(s) {
        Some(IpAddr::V4(_)) => {}
        Some(IpAddr::V6(_)) => v.report(path, format!("{s:?} is not an IPv4 address")),
        None => v.report(path, format!("invalid IP address {s:?}")),
    }
}

/// Calico's `ipv6` validator (an address whose `To4()` fails).
fn check_ipv6(v: &mut Validator, path: &Path, s: &str) {
    match go_parse_ip(s) {
        Some(IpAddr::V6(_)) => {}
        Some(IpAddr::V4(_)) => v.report(path, format!("{s:?} is not an IPv6 address")),
        None => v.report(path, format!("invalid IP address {s:?}")),
    }
}

/// Calico's `Protocol` struct validator plus the endpoint-port rule that the protocol must
/// support ports (TCP, UDP or SCTP).
fn check_port_protocol(v: &mut Validator, path: &Path, p: &Protocol) {
    if !p.is_valid() {
        let reason = match p {
            Protocol::Number(_) => "protocol number invalid".to_owned(),
            Protocol::Name(n) => format!(
                "protocol name {n:?} invalid: must be one of TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255"
            ),
        };
        v.report(path, reason);
    }
    if !p.supports_ports() {
        v.report(
            path,
            format!("protocol {p} does not support ports: must be TCP, UDP or SCTP"),
        );
    }
}

/// The label Calico reserves for the namespace of namespaced endpoints and sets.
const NAMESPACE_LABEL: &str = "projectcalico.org/namespace";

fn check_no_namespace_label(meta: &ObjectMeta, v: &mut Validator) {
    if meta.labels.contains_key(NAMESPACE_LABEL) {
        v.report(
            &Path::new("metadata").field("labels").key(NAMESPACE_LABEL),
            "projectcalico.org/namespace is not a valid label name",
        );
    }
}

/// Parses every entry with Calico's CIDR-or-address parser, skipping invalid ones.
fn parse_nets(items: &[String]) -> Vec<IpNet> {
    items
        .iter()
        .filter_map(|s| parse_cidr_or_ip(s).ok())
        .collect()
}

// ------------------------------------------------------------------------------------------
// HostEndpoint
// ------------------------------------------------------------------------------------------

/// Desired state of a `HostEndpoint`: one host interface (or, with `interfaceName: "*"`, all
/// of a host's traffic in its default network namespace) placed under Calico policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostEndpointSpec {
    /// Name of the Calico node (host) that owns the interface. Required.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// The interface to police: `*` for every interface of the host's default namespace, a
    /// Linux interface name (1–15 of `[a-zA-Z0-9_.-]`), or empty to find the interface by
    /// one of `expectedIPs`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_name: String,
    /// Addresses the endpoint is expected to have; used to find the interface when
    /// `interfaceName` is empty and to turn selectors into IP sets (interface addresses are
    /// not learned). A set: no duplicates.
    #[serde(rename = "expectedIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub expected_ips: Vec<String>,
    /// Profiles applied to the endpoint, in order, after selector-based policy. A set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Named ports that policy rules can refer to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointPort>,
}

/// A named port of a host endpoint (`EndpointPort`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointPort {
    /// Port name (an IANA service name: ≤ 15 lower-case alphanumerics and `-`).
    #[serde(default)]
    pub name: String,
    /// Protocol: TCP, UDP or SCTP (by name or number).
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// Port number, 1–65535.
    #[serde(default)]
    pub port: u16,
}

fn default_protocol() -> Protocol {
    // An absent protocol decodes in Go as the numeric zero value; 0 is then rejected by
    // validation, which is what happens here too.
    Protocol::Number(0)
}

impl Validate for EndpointPort {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        if let Err(e) = is_valid_port_name(&self.name) {
            v.report(
                &path.field("name"),
                format!("invalid port name {:?}: {e}", self.name),
            );
        }
        check_port_protocol(v, &path.field("protocol"), &self.protocol);
        v.check(
            self.port > 0,
            &path.field("port"),
            "port must be between 1 and 65535",
        );
    }
}

impl Validate for HostEndpointSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        if self.node.is_empty() {
            v.report(&path.field("node"), "node must be specified");
        } else {
            check_calico_name(v, &path.field("node"), &self.node);
        }
        if self.interface_name.is_empty() && self.expected_ips.is_empty() {
            v.report(
                &path.field("interfaceName"),
                "at least one of interfaceName or expectedIPs must be specified",
            );
        } else if !self.interface_name.is_empty() && !is_valid_interface_name(&self.interface_name)
        {
            v.report(
                &path.field("interfaceName"),
                format!(
                    "invalid interface name {:?}: must be \"*\" or 1-15 characters of [a-zA-Z0-9_.-]",
                    self.interface_name
                ),
            );
        }
        let ips = path.field("expectedIPs");
        for (i, ip) in self.expected_ips.iter().enumerate() {
            check_net(v, &ips.index(i), ip, NetKind::Ip);
        }
        v.unique(&ips, &self.expected_ips);
        let profiles = path.field("profiles");
        for (i, p) in self.profiles.iter().enumerate() {
            check_calico_name(v, &profiles.index(i), p);
        }
        v.unique(&profiles, &self.profiles);
        self.ports.validate_into(&path.field("ports"), v);
    }
}

impl ResourceKind for HostEndpoint {
    /// Calico defines no defaults for host endpoints.
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        self.spec.validate_into(&Path::new("spec"), v);
    }
}

// ------------------------------------------------------------------------------------------
// WorkloadEndpoint
// ------------------------------------------------------------------------------------------

/// Desired state of a `WorkloadEndpoint`: the host side of one workload (pod or VM)
/// interface. A libcalico-go API kind (in the Kubernetes datastore it is computed from pods).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadEndpointSpec {
    /// Orchestrator that created the workload, e.g. `k8s`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub orchestrator: String,
    /// Workload name (non-Kubernetes orchestrators).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workload: String,
    /// Name of the node hosting the workload.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// Container ID (alphanumerics and inner `-`, either case).
    #[serde(
        rename = "containerID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub container_id: String,
    /// Pod name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod: String,
    /// Endpoint (container-side interface) name, e.g. `eth0`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    /// Kubernetes service account of the pod.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// Addresses of the endpoint, each a single-address CIDR (`/32` or `/128`) or a bare
    /// address; packets may only leave the interface from these.
    #[serde(rename = "ipNetworks", default, skip_serializing_if = "Vec::is_empty")]
    pub ip_networks: Vec<String>,
    /// 1:1 NAT mappings (floating IPs); each internal address must be one of `ipNetworks`.
    #[serde(rename = "ipNATs", default, skip_serializing_if = "Vec::is_empty")]
    pub ip_nats: Vec<IPNAT>,
    /// IPv4 gateway for traffic from the workload.
    #[serde(
        rename = "ipv4Gateway",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_gateway: String,
    /// IPv6 gateway for traffic from the workload.
    #[serde(
        rename = "ipv6Gateway",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_gateway: String,
    /// Profiles applied to the endpoint, in order, after selector-based policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Host-side interface name (required), e.g. `cali0ef24ba`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_name: String,
    /// MAC address of the endpoint interface.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// Named and host-mapped ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<WorkloadEndpointPort>,
    /// CIDRs the workload may use as source addresses despite the reverse-path check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_spoofed_source_prefixes: Vec<String>,
    /// Bandwidth, packet-rate, connection and DSCP controls.
    #[serde(
        rename = "qosControls",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub qos_controls: Option<QoSControls>,
}

/// One port of a workload endpoint: a named port and/or a host port mapping.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadEndpointPort {
    /// Port name (IANA service name); may be empty only when `hostPort` is set.
    #[serde(default)]
    pub name: String,
    /// Protocol: TCP, UDP or SCTP.
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// Container port, 1–65535.
    #[serde(default)]
    pub port: u16,
    /// Host port the container port is mapped to (0 = none).
    #[serde(default)]
    pub host_port: u16,
    /// Host address of the mapping (empty = all).
    #[serde(rename = "hostIP", default)]
    pub host_ip: String,
}

/// A 1:1 NAT mapping of a workload endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(clippy::upper_case_acronyms)]
pub struct IPNAT {
    /// Address of the workload (must be one of the endpoint's `ipNetworks`).
    #[serde(rename = "internalIP", default)]
    pub internal_ip: String,
    /// External (floating) address; same family as `internalIP`.
    #[serde(rename = "externalIP", default)]
    pub external_ip: String,
}

/// Quality-of-service limits of a workload endpoint. Zero means "not set" for every number.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QoSControls {
    /// Ingress bandwidth limit, bits/s (1000–10^15).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub ingress_bandwidth: i64,
    /// Ingress burst size, bits (1000–34359738360).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub ingress_burst: i64,
    /// Ingress peak rate, bits/s (1010–1.01×10^15).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub ingress_peakrate: i64,
    /// Ingress minimum burst, bytes (1000–10^8).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub ingress_minburst: i64,
    /// Egress bandwidth limit, bits/s (1000–10^15).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub egress_bandwidth: i64,
    /// Egress burst size, bits (1000–34359738360).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub egress_burst: i64,
    /// Egress peak rate, bits/s (1010–1.01×10^15).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub egress_peakrate: i64,
    /// Egress minimum burst, bytes (1000–10^8).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub egress_minburst: i64,
    /// Ingress packet rate limit, packets/s (1–10000).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub ingress_packet_rate: i64,
    /// Ingress packet burst, packets (1–10000).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub ingress_packet_burst: i64,
    /// Egress packet rate limit, packets/s (1–10000).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub egress_packet_rate: i64,
    /// Egress packet burst, packets (1–10000).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub egress_packet_burst: i64,
    /// Maximum concurrent ingress connections (1–4294967295).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub ingress_max_connections: i64,
    /// Maximum concurrent egress connections (1–4294967295).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub egress_max_connections: i64,
    /// DSCP value set on egress traffic leaving the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dscp: Option<Dscp>,
}

impl Validate for QoSControls {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        const BANDWIDTH: (i64, i64) = (1_000, 1_000_000_000_000_000);
        const BURST: (i64, i64) = (1_000, 34_359_738_360);
        const PEAKRATE: (i64, i64) = (1_010, 1_010_000_000_000_000);
        const MINBURST: (i64, i64) = (1_000, 100_000_000);
        const PACKETS: (i64, i64) = (1, 10_000);
        const CONNECTIONS: (i64, i64) = (1, 4_294_967_295);
        let fields: [(&str, i64, (i64, i64)); 14] = [
            ("ingressBandwidth", self.ingress_bandwidth, BANDWIDTH),
            ("ingressBurst", self.ingress_burst, BURST),
            ("ingressPeakrate", self.ingress_peakrate, PEAKRATE),
            ("ingressMinburst", self.ingress_minburst, MINBURST),
            ("egressBandwidth", self.egress_bandwidth, BANDWIDTH),
            ("egressBurst", self.egress_burst, BURST),
            ("egressPeakrate", self.egress_peakrate, PEAKRATE),
            ("egressMinburst", self.egress_minburst, MINBURST),
            ("ingressPacketRate", self.ingress_packet_rate, PACKETS),
            ("ingressPacketBurst", self.ingress_packet_burst, PACKETS),
            ("egressPacketRate", self.egress_packet_rate, PACKETS),
            ("egressPacketBurst", self.egress_packet_burst, PACKETS),
            (
                "ingressMaxConnections",
                self.ingress_max_connections,
                CONNECTIONS,
            ),
            (
                "egressMaxConnections",
                self.egress_max_connections,
                CONNECTIONS,
            ),
        ];
        for (name, value, (min, max)) in fields {
            if value != 0 {
                v.range(&path.field(name), value, min, max);
            }
        }
        if let Some(d) = &self.dscp
            && d.value().is_none()
        {
            v.report(
                &path.field("dscp"),
                format!(
                    "invalid DSCP value {d}: must be 0-63 or one of DF, EF, AF11-AF43, CS0-CS6"
                ),
            );
        }
    }
}

impl Validate for WorkloadEndpointPort {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        if !self.name.is_empty() {
            if let Err(e) = is_valid_port_name(&self.name) {
                v.report(
                    &path.field("name"),
                    format!("invalid port name {:?}: {e}", self.name),
                );
            }
        } else if self.host_port == 0 {
            v.report(
                &path.field("name"),
                "port name must not be empty if no hostPort is specified",
            );
        }
        check_port_protocol(v, &path.field("protocol"), &self.protocol);
        v.check(
            self.port > 0,
            &path.field("port"),
            "port must be between 1 and 65535",
        );
        if !self.host_ip.is_empty() {
            check_net(v, &path.field("hostIP"), &self.host_ip, NetKind::Net);
        }
    }
}

impl Validate for IPNAT {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        let int = check_net(v, &path.field("internalIP"), &self.internal_ip, NetKind::Ip);
        let ext = check_net(v, &path.field("externalIP"), &self.external_ip, NetKind::Ip);
        if let (Some(i), Some(e)) = (int, ext)
            && i.addr().is_ipv4() != e.addr().is_ipv4()
        {
            v.report(
                &path.field("externalIP"),
                "mismatched IP versions: internalIP and externalIP must be the same family",
            );
        }
    }
}

impl Validate for WorkloadEndpointSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        for (field, value) in [
            ("orchestrator", &self.orchestrator),
            ("workload", &self.workload),
            ("node", &self.node),
            ("pod", &self.pod),
            ("endpoint", &self.endpoint),
            ("serviceAccountName", &self.service_account_name),
        ] {
            if !value.is_empty() {
                check_calico_name(v, &path.field(field), value);
            }
        }
        if !self.container_id.is_empty() && !is_valid_container_id(&self.container_id) {
            v.report(
                &path.field("containerID"),
                format!(
                    "invalid container ID {:?}: must be alphanumerics and '-', starting and ending with an alphanumeric",
                    self.container_id
                ),
            );
        }

        let nets_path = path.field("ipNetworks");
        let mut nets = Vec::new();
        for (i, n) in self.ip_networks.iter().enumerate() {
            let p = nets_path.index(i);
            if let Some(net) = check_net(v, &p, n, NetKind::Net) {
                if net.prefix_len() != net.max_prefix_len() {
                    v.report(&p, "IP network contains multiple addresses: only /32 (IPv4) or /128 (IPv6) is supported");
                }
                nets.push(net);
            }
        }

        let nats_path = path.field("ipNATs");
        for (i, nat) in self.ip_nats.iter().enumerate() {
            let p = nats_path.index(i);
            nat.validate_into(&p, v);
            if let Some(addr) = go_parse_ip(&nat.internal_ip)
                && !nets.iter().any(|n| n.contains(&addr))
            {
                v.report(
                    &p.field("internalIP"),
                    "NAT is not in the endpoint networks: internalIP must be one of ipNetworks",
                );
            }
        }

        if !self.ipv4_gateway.is_empty() {
            check_ipv4(v, &path.field("ipv4Gateway"), &self.ipv4_gateway);
        }
        if !self.ipv6_gateway.is_empty() {
            check_ipv6(v, &path.field("ipv6Gateway"), &self.ipv6_gateway);
        }

        let profiles = path.field("profiles");
        for (i, p) in self.profiles.iter().enumerate() {
            check_calico_name(v, &profiles.index(i), p);
        }

        if self.interface_name.is_empty() {
            v.report(
                &path.field("interfaceName"),
                "interfaceName must be specified",
            );
        } else if !is_valid_interface_name(&self.interface_name) {
            v.report(
                &path.field("interfaceName"),
                format!(
                    "invalid interface name {:?}: must be \"*\" or 1-15 characters of [a-zA-Z0-9_.-]",
                    self.interface_name
                ),
            );
        }

        if !self.mac.is_empty() && parse_mac(&self.mac).is_none() {
            v.report(
                &path.field("mac"),
                format!("invalid MAC address {:?}", self.mac),
            );
        }

        self.ports.validate_into(&path.field("ports"), v);

        let spoof = path.field("allowSpoofedSourcePrefixes");
        for (i, c) in self.allow_spoofed_source_prefixes.iter().enumerate() {
            check_net(v, &spoof.index(i), c, NetKind::Cidr);
        }

        self.qos_controls
            .validate_into(&path.field("qosControls"), v);
    }
}

impl WorkloadEndpointSpec {
    /// The endpoint's `ipNetworks` parsed (a bare address becomes a `/32` or `/128`),
    /// silently skipping entries that do not parse.
    pub fn ip_nets(&self) -> Vec<IpNet> {
        parse_nets(&self.ip_networks)
    }
}

impl ResourceKind for WorkloadEndpoint {
    /// Calico defines no defaults for workload endpoints.
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, true);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        self.spec.validate_into(&Path::new("spec"), v);
    }
}

// ------------------------------------------------------------------------------------------
// NetworkSet / GlobalNetworkSet
// ------------------------------------------------------------------------------------------

fn validate_set_nets(nets: &[String], path: &Path, v: &mut Validator) {
    let p = path.field("nets");
    for (i, n) in nets.iter().enumerate() {
        check_net(v, &p.index(i), n, NetKind::Cidr);
    }
    v.unique(&p, nets);
}

/// Desired state of a namespaced `NetworkSet`: a labelled set of networks that policy rules
/// select like endpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSetSpec {
    /// Member networks: CIDRs (host bits allowed) or bare addresses. A set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nets: Vec<String>,
}

impl NetworkSetSpec {
    /// The member networks parsed (bare addresses become `/32` or `/128`; host bits are kept
    /// as written), silently skipping entries that do not parse.
    pub fn nets(&self) -> Vec<IpNet> {
        parse_nets(&self.nets)
    }
}

impl Validate for NetworkSetSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        validate_set_nets(&self.nets, path, v);
    }
}

impl ResourceKind for NetworkSet {
    /// Calico defines no defaults for network sets.
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, true);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        check_no_namespace_label(&self.metadata, v);
        self.spec.validate_into(&Path::new("spec"), v);
    }
}

/// Desired state of a cluster-wide `GlobalNetworkSet`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlobalNetworkSetSpec {
    /// Member networks: CIDRs (host bits allowed) or bare addresses. A set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nets: Vec<String>,
}

impl GlobalNetworkSetSpec {
    /// The member networks parsed (bare addresses become `/32` or `/128`; host bits are kept
    /// as written), silently skipping entries that do not parse.
    pub fn nets(&self) -> Vec<IpNet> {
        parse_nets(&self.nets)
    }
}

impl Validate for GlobalNetworkSetSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        validate_set_nets(&self.nets, path, v);
    }
}

impl ResourceKind for GlobalNetworkSet {
    /// Calico defines no defaults for global network sets.
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        check_no_namespace_label(&self.metadata, v);
        self.spec.validate_into(&Path::new("spec"), v);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::resource::Resource;
    use crate::testutil::{run, yaml_round_trip as assert_round_trip};

    fn assert_ok(yaml: &str) {
        let (_, res) = run(yaml);
        assert!(res.is_ok(), "expected valid, got {res:?}");
    }

    /// Asserts the document is invalid with a problem at exactly `path`.
    fn assert_err(yaml: &str, path: &str) {
        let (_, res) = run(yaml);
        let err = res.expect_err("expected a validation error");
        assert!(
            err.has_path(path),
            "expected a problem at {path}, got: {err}"
        );
    }

    fn hep(spec: &str) -> String {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: node1-eth0\nspec:\n{spec}"
        )
    }

    fn wep(spec: &str) -> String {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: node1-k8s-web--0-eth0\n  namespace: default\nspec:\n  interfaceName: cali0ef24ba\n{spec}"
        )
    }

    const HEP_FULL: &str = r#"apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: node1-eth0
  labels:
    environment: production
    role: k8s-worker
spec:
  node: node1
  interfaceName: eth0
  expectedIPs:
    - 192.168.0.1
    - fd00::1
  profiles:
    - profile1
    - projectcalico-default-allow
  ports:
    - name: https
      port: 443
      protocol: TCP
    - name: dns
      port: 53
      protocol: 17
"#;

    #[test]
    fn host_endpoint_full_manifest() {
        assert_ok(HEP_FULL);
        assert_round_trip(HEP_FULL);
        let (r, _) = run(HEP_FULL);
        let Resource::HostEndpoint(h) = r else {
            panic!("kind")
        };
        assert_eq!(h.spec.expected_ips.len(), 2);
        assert_eq!(h.spec.ports[1].protocol, Protocol::Number(17));
    }

    #[test]
    fn host_endpoint_has_no_defaults() {
        let (r, _) = run(&hep("  node: node1\n  interfaceName: '*'\n"));
        let Resource::HostEndpoint(h) = r else {
            panic!("kind")
        };
        assert_eq!(h.spec.interface_name, "*");
        assert!(h.spec.profiles.is_empty() && h.spec.ports.is_empty());
    }

    #[test]
    fn host_endpoint_node_and_interface_rules() {
        assert_ok(&hep("  node: node1\n  interfaceName: '*'\n"));
        assert_ok(&hep("  node: node1\n  expectedIPs: [10.0.0.1]\n"));
        assert_err(&hep("  interfaceName: eth0\n"), "spec.node");
        assert_err(&hep("  node: Node_1\n  interfaceName: eth0\n"), "spec.node");
        assert_err(&hep("  node: node1\n"), "spec.interfaceName");
        assert_err(
            &hep("  node: node1\n  interfaceName: averyveryverylongname\n"),
            "spec.interfaceName",
        );
        assert_err(
            &hep("  node: node1\n  interfaceName: 'eth 0'\n"),
            "spec.interfaceName",
        );
    }

    #[test]
    fn host_endpoint_expected_ips_and_profiles() {
        assert_err(
            &hep("  node: node1\n  expectedIPs: [10.0.0.1, 10.0.0.0/24]\n"),
            "spec.expectedIPs[1]",
        );
        assert_err(
            &hep("  node: node1\n  expectedIPs: [10.0.0.1, 10.0.0.1]\n"),
            "spec.expectedIPs[1]",
        );
        assert_err(
            &hep("  node: node1\n  interfaceName: eth0\n  profiles: [Bad_Profile]\n"),
            "spec.profiles[0]",
        );
        assert_err(
            &hep("  node: node1\n  interfaceName: eth0\n  profiles: [a, a]\n"),
            "spec.profiles[1]",
        );
    }

    #[test]
    fn host_endpoint_ports() {
        let port = |p: &str| {
            hep(&format!(
                "  node: node1\n  interfaceName: eth0\n  ports:\n{p}"
            ))
        };
        assert_ok(&port(
            "    - {name: sctp-port, port: 9000, protocol: SCTP}\n",
        ));
        assert_err(
            &port("    - {name: Https, port: 443, protocol: TCP}\n"),
            "spec.ports[0].name",
        );
        assert_err(
            &port("    - {name: '', port: 443, protocol: TCP}\n"),
            "spec.ports[0].name",
        );
        assert_err(
            &port("    - {name: ping, port: 1, protocol: ICMP}\n"),
            "spec.ports[0].protocol",
        );
        assert_err(
            &port("    - {name: tcp1, port: 1, protocol: tcp}\n"),
            "spec.ports[0].protocol",
        );
        assert_err(
            &port("    - {name: web, port: 0, protocol: TCP}\n"),
            "spec.ports[0].port",
        );
        assert!(
            crate::decode_yaml(&port("    - {name: web, port: 65536, protocol: TCP}\n")).is_err()
        );
    }

    const WEP_FULL: &str = r#"apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node1-k8s-my--nginx--b1337a-eth0
  namespace: default
  labels:
    app: frontend
    projectcalico.org/namespace: default
    projectcalico.org/orchestrator: k8s
spec:
  orchestrator: k8s
  workload: my-workload
  node: node1
  containerID: 1337495556942031415926535abcDEF
  pod: my-nginx-b1337a
  endpoint: eth0
  serviceAccountName: default
  ipNetworks:
    - 192.168.0.1/32
    - fd00::1
  ipNATs:
    - internalIP: 192.168.0.1
      externalIP: 172.16.0.10
  ipv4Gateway: 169.254.1.1
  ipv6Gateway: fe80::1
  profiles:
    - kns.default
    - ksa.default.default
  interfaceName: cali0ef24ba
  mac: ca:fe:1d:52:bb:e9
  ports:
    - name: some-port
      protocol: TCP
      port: 1234
      hostPort: 0
      hostIP: ""
    - name: ""
      protocol: UDP
      port: 5432
      hostPort: 15432
      hostIP: 10.0.0.1
  allowSpoofedSourcePrefixes:
    - 10.10.0.0/16
  qosControls:
    ingressBandwidth: 1000000
    ingressBurst: 4294967296
    egressBandwidth: 2000000
    egressPeakrate: 3000000
    egressMinburst: 1500
    ingressPacketRate: 1000
    ingressPacketBurst: 5
    egressMaxConnections: 100
    dscp: AF41
"#;

    #[test]
    fn workload_endpoint_full_manifest() {
        assert_ok(WEP_FULL);
        assert_round_trip(WEP_FULL);
        let (r, _) = run(WEP_FULL);
        let Resource::WorkloadEndpoint(w) = r else {
            panic!("kind")
        };
        assert_eq!(
            w.spec.ip_nets(),
            vec![
                "192.168.0.1/32".parse::<IpNet>().unwrap(),
                "fd00::1/128".parse().unwrap()
            ]
        );
        assert_eq!(
            w.spec
                .qos_controls
                .as_ref()
                .and_then(|q| q.dscp.as_ref())
                .and_then(Dscp::value),
            Some(34)
        );
    }

    #[test]
    fn workload_endpoint_ip_networks() {
        assert_err(&wep("  ipNetworks: [10.0.0.0/24]\n"), "spec.ipNetworks[0]");
        assert_err(
            &wep("  ipNetworks: [10.0.0.1, 10.0.0.1/24]\n"),
            "spec.ipNetworks[1]",
        );
        assert_err(&wep("  ipNetworks: [nonsense]\n"), "spec.ipNetworks[0]");
        let (r, _) = run(&wep("  ipNetworks: [10.0.0.1, bogus, fd00::5/128]\n"));
        let Resource::WorkloadEndpoint(w) = r else {
            panic!("kind")
        };
        assert_eq!(w.spec.ip_nets().len(), 2);
    }

    #[test]
    fn workload_endpoint_nats() {
        let nat = |n: &str| {
            wep(&format!(
                "  ipNetworks: [10.0.0.1/32, fd00::1]\n  ipNATs:\n{n}"
            ))
        };
        assert_ok(&nat(
            "    - {internalIP: 'fd00::1', externalIP: '2001:db8::1'}\n",
        ));
        assert_err(
            &nat("    - {internalIP: 10.0.0.2, externalIP: 1.2.3.4}\n"),
            "spec.ipNATs[0].internalIP",
        );
        assert_err(
            &nat("    - {internalIP: 10.0.0.1, externalIP: '2001:db8::1'}\n"),
            "spec.ipNATs[0].externalIP",
        );
        assert_err(
            &nat("    - {internalIP: 10.0.0.1}\n"),
            "spec.ipNATs[0].externalIP",
        );
        assert_err(
            &nat("    - {internalIP: 10.0.0.1/32, externalIP: 1.2.3.4}\n"),
            "spec.ipNATs[0].internalIP",
        );
    }

    #[test]
    fn workload_endpoint_gateways() {
        assert_ok(&wep("  ipv4Gateway: '::ffff:10.0.0.1'\n"));
        assert_err(&wep("  ipv4Gateway: 'fe80::1'\n"), "spec.ipv4Gateway");
        assert_err(&wep("  ipv4Gateway: 10.0.0.0/24\n"), "spec.ipv4Gateway");
        assert_err(&wep("  ipv6Gateway: 10.0.0.1\n"), "spec.ipv6Gateway");
    }

    #[test]
    fn workload_endpoint_names_interface_container_mac() {
        let missing_iface = "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: w\n  namespace: default\nspec:\n  node: node1\n";
        assert_err(missing_iface, "spec.interfaceName");
        assert_err(&wep("  node: Node1\n"), "spec.node");
        assert_err(&wep("  orchestrator: K8s\n"), "spec.orchestrator");
        assert_err(&wep("  profiles: [kns.default, Bad]\n"), "spec.profiles[1]");
        assert_ok(&wep("  containerID: ABC-123-def\n"));
        assert_err(&wep("  containerID: -abc\n"), "spec.containerID");
        assert_err(&wep("  containerID: abc_def\n"), "spec.containerID");
        assert_ok(&wep("  mac: 00-11-22-33-44-55\n"));
        assert_err(&wep("  mac: 00:11:22:33:44\n"), "spec.mac");
        let bad_iface = "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: w\n  namespace: default\nspec:\n  interfaceName: 'cali/1'\n";
        assert_err(bad_iface, "spec.interfaceName");
    }

    #[test]
    fn workload_endpoint_ports() {
        let port = |p: &str| wep(&format!("  ports:\n{p}"));
        assert_ok(&port(
            "    - {name: '', protocol: TCP, port: 80, hostPort: 8080, hostIP: ''}\n",
        ));
        assert_err(
            &port("    - {name: '', protocol: TCP, port: 80, hostPort: 0, hostIP: ''}\n"),
            "spec.ports[0].name",
        );
        assert_err(
            &port("    - {name: Web, protocol: TCP, port: 80, hostPort: 0, hostIP: ''}\n"),
            "spec.ports[0].name",
        );
        assert_err(
            &port("    - {name: web, protocol: ICMPv6, port: 80, hostPort: 0, hostIP: ''}\n"),
            "spec.ports[0].protocol",
        );
        assert_err(
            &port("    - {name: web, protocol: TCP, port: 0, hostPort: 0, hostIP: ''}\n"),
            "spec.ports[0].port",
        );
        assert_err(
            &port(
                "    - {name: web, protocol: TCP, port: 80, hostPort: 80, hostIP: 10.0.0.1/24}\n",
            ),
            "spec.ports[0].hostIP",
        );
    }

    #[test]
    fn workload_endpoint_spoofing_and_qos() {
        assert_ok(&wep(
            "  allowSpoofedSourcePrefixes: [10.0.0.1/8, 192.168.1.1]\n",
        ));
        assert_err(
            &wep("  allowSpoofedSourcePrefixes: [10.0.0.0/8, not-a-cidr]\n"),
            "spec.allowSpoofedSourcePrefixes[1]",
        );
        let qos = |q: &str| wep(&format!("  qosControls:\n{q}"));
        assert_ok(&qos(
            "    ingressPacketRate: 10000\n    egressMaxConnections: 4294967295\n",
        ));
        assert_err(
            &qos("    ingressBandwidth: 999\n"),
            "spec.qosControls.ingressBandwidth",
        );
        assert_err(
            &qos("    egressBurst: 34359738361\n"),
            "spec.qosControls.egressBurst",
        );
        assert_err(
            &qos("    ingressPeakrate: 1000\n"),
            "spec.qosControls.ingressPeakrate",
        );
        assert_err(
            &qos("    egressMinburst: 100000001\n"),
            "spec.qosControls.egressMinburst",
        );
        assert_err(
            &qos("    ingressPacketBurst: 10001\n"),
            "spec.qosControls.ingressPacketBurst",
        );
        assert_err(
            &qos("    egressPacketRate: -5\n"),
            "spec.qosControls.egressPacketRate",
        );
        assert_err(
            &qos("    ingressMaxConnections: 4294967296\n"),
            "spec.qosControls.ingressMaxConnections",
        );
        assert_ok(&qos("    dscp: 46\n"));
        assert_ok(&qos("    dscp: cs6\n"));
        assert_err(&qos("    dscp: 64\n"), "spec.qosControls.dscp");
        assert_err(&qos("    dscp: AF99\n"), "spec.qosControls.dscp");
    }

    fn netset(kind: &str, extra_meta: &str, nets: &str) -> String {
        let ns = if kind == "NetworkSet" {
            "  namespace: prod\n"
        } else {
            ""
        };
        format!(
            "apiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata:\n  name: external-dbs\n{ns}{extra_meta}spec:\n  nets: {nets}\n"
        )
    }

    #[test]
    fn network_sets() {
        for kind in ["NetworkSet", "GlobalNetworkSet"] {
            let valid = netset(
                kind,
                "  labels:\n    role: db\n",
                "[198.51.100.0/28, 203.0.113.7, 10.1.2.3/8, 'fd00::/64']",
            );
            assert_ok(&valid);
            assert_round_trip(&valid);
            assert_err(
                &netset(kind, "", "[10.0.0.0/8, 10.0.0.0/33]"),
                "spec.nets[1]",
            );
            assert_err(
                &netset(kind, "", "[10.0.0.0/8, 10.0.0.0/8]"),
                "spec.nets[1]",
            );
            assert_err(
                &netset(
                    kind,
                    "  labels:\n    projectcalico.org/namespace: prod\n",
                    "[10.0.0.0/8]",
                ),
                "metadata.labels[projectcalico.org/namespace]",
            );
        }
        let (r, _) = run(&netset(
            "NetworkSet",
            "",
            "[10.1.2.3/8, bogus, 203.0.113.7]",
        ));
        let Resource::NetworkSet(n) = r else {
            panic!("kind")
        };
        assert_eq!(
            n.spec.nets(),
            vec![
                "10.1.2.3/8".parse::<IpNet>().unwrap(),
                "203.0.113.7/32".parse().unwrap()
            ]
        );
        let (r, _) = run(&netset("GlobalNetworkSet", "", "['fd00::1']"));
        let Resource::GlobalNetworkSet(g) = r else {
            panic!("kind")
        };
        assert_eq!(g.spec.nets(), vec!["fd00::1/128".parse::<IpNet>().unwrap()]);
    }

    #[test]
    fn mac_parsing_matches_go() {
        assert_eq!(
            parse_mac("ca:fe:1d:52:bb:e9"),
            Some(vec![0xca, 0xfe, 0x1d, 0x52, 0xbb, 0xe9])
        );
        assert_eq!(parse_mac("CA-FE-1D-52-BB-E9").map(|m| m.len()), Some(6));
        assert_eq!(parse_mac("cafe.1d52.bbe9").map(|m| m.len()), Some(6));
        assert_eq!(
            parse_mac("00:00:5e:00:53:01:00:01").map(|m| m.len()),
            Some(8)
        );
        assert!(parse_mac("ca:fe:1d-52:bb:e9").is_none());
        assert!(parse_mac("ca:fe:1d:52:bb:zz").is_none());
        assert!(parse_mac("cafe1d52bbe9").is_none());
        assert!(parse_mac("ca:fe:1d:52:bb:e9:01").is_none());
    }

    #[test]
    fn name_and_interface_helpers() {
        assert!(is_calico_name("a.b-c"));
        assert!(!is_calico_name("a..b"));
        assert!(!is_calico_name(""));
        assert!(is_valid_interface_name("*"));
        assert!(is_valid_interface_name("eth0.100"));
        assert!(!is_valid_interface_name("abcdefghijklmnop"));
        assert!(is_valid_container_id("a"));
        assert!(!is_valid_container_id("a-"));
    }
}
