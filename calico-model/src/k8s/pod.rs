//! The `WorkloadEndpoint` Calico derives from a Kubernetes Pod.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use sha1::{Digest, Sha1};

use super::quantity::quantity_value;
use super::*;
use crate::meta::ObjectMeta;
use crate::resource::WorkloadEndpoint;
use crate::resources::{IPNAT, QoSControls, WorkloadEndpointPort, WorkloadEndpointSpec};
use crate::scalar::{Dscp, Protocol};

/// One port a pod's container declares (`containerPorts`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodContainerPort {
    /// Port name (IANA service name), may be empty.
    pub name: String,
    /// Port number in the container.
    pub container_port: i32,
    /// `TCP` (also when empty), `UDP` or `SCTP`; other protocols are ignored.
    pub protocol: String,
    /// Host port the container port is mapped to; 0 = none.
    pub host_port: i32,
    /// Host address of the mapping; empty = all.
    pub host_ip: String,
}

/// The Pod fields Calico uses to build the pod's workload endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodInfo {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// `metadata.generateName`, copied to the endpoint.
    pub generate_name: String,
    /// Pod UID, copied to the endpoint unchanged.
    pub uid: String,
    /// Pod resource version, reported as the endpoint's.
    pub resource_version: String,
    /// Creation time (RFC 3339), kept verbatim.
    pub creation_timestamp: Option<String>,
    /// Deletion time (RFC 3339) when the pod is being deleted.
    pub deletion_timestamp: Option<String>,
    /// Pod labels.
    pub labels: BTreeMap<String, String>,
    /// Pod annotations (Calico reads the `cni.projectcalico.org/…`, AWS, QoS and Multus ones).
    pub annotations: BTreeMap<String, String>,
    /// `spec.nodeName`: the node the pod is scheduled to (required).
    pub node_name: String,
    /// `spec.serviceAccountName`.
    pub service_account_name: String,
    /// `spec.hostNetwork`: host-networked pods have no workload endpoint.
    pub host_network: bool,
    /// `status.phase` (`Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`).
    pub phase: String,
    /// `status.podIP`.
    pub pod_ip: String,
    /// `status.podIPs[*].ip`.
    pub pod_ips: Vec<String>,
    /// Every `containerPorts` entry of `spec.containers`, then of `spec.initContainers`.
    pub ports: Vec<PodContainerPort>,
}

/// The result of converting a pod, with the problems Calico only logs.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadEndpointConversion {
    /// The workload endpoint.
    pub endpoint: WorkloadEndpoint,
    /// Invalid QoS annotations (their values were clamped or ignored).
    pub warnings: Vec<ConversionWarning>,
}

/// Builds a workload endpoint name from its identifiers, as Calico does: the segments depend on
/// the orchestrator (`k8s`: node, `k8s`, pod, endpoint; `cni`: node, `cni`, container ID,
/// endpoint; `libnetwork`: node, `libnetwork`, `libnetwork`, endpoint; others: node,
/// orchestrator, workload, endpoint) and are joined with `-`, every `-` inside a segment being
/// doubled. `workload` stands for the pod name (`k8s`) or the container ID (`cni`) and is unused
/// for `libnetwork`.
///
/// Errors when a needed segment is empty or begins or ends with `-`.
///
/// ```
/// use calico_model::k8s::workload_endpoint_name;
/// assert_eq!(workload_endpoint_name("node-1", "k8s", "pod-name", "eth0").unwrap(), "node--1-k8s-pod--name-eth0");
/// ```
pub fn workload_endpoint_name(
    node: &str,
    orchestrator: &str,
    workload: &str,
    endpoint: &str,
) -> Result<String, ConversionError> {
    if node.is_empty() {
        return Err(ConversionError::InvalidNameSegment {
            field: "node",
            reason: "field should be assigned",
        });
    }
    let workload_field = match orchestrator {
        "k8s" => "pod",
        "cni" => "containerID",
        "libnetwork" => "orchestrator",
        _ => "workload",
    };
    let third = if orchestrator == "libnetwork" {
        orchestrator
    } else {
        workload
    };
    let segments = [
        ("node", node),
        ("orchestrator", orchestrator),
        (workload_field, third),
        ("endpoint", endpoint),
    ];
    let mut parts = Vec::with_capacity(4);
    for (field, value) in segments {
        if value.is_empty() {
            return Err(ConversionError::InvalidNameSegment {
                field,
                reason: "field should be assigned",
            });
        }
        if value.starts_with('-') {
            return Err(ConversionError::InvalidNameSegment {
                field,
                reason: "field must not begin with a '-'",
            });
        }
        if value.ends_with('-') {
            return Err(ConversionError::InvalidNameSegment {
                field,
                reason: "field must not end with a '-'",
            });
        }
        parts.push(value.replace('-', "--"));
    }
    Ok(parts.join("-"))
}

/// The host-side interface name of a pod: the prefix (the first of a comma-separated list, as
/// Felix's `FELIX_INTERFACEPREFIX`; `cali` when empty) followed by the first 11 hex digits of
/// the SHA-1 of `<namespace>.<pod>`.
///
/// ```
/// use calico_model::k8s::interface_name;
/// assert_eq!(interface_name("", "default", "podA"), "cali7f94ce7c295");
/// assert_eq!(interface_name("eni,veth,foo", "namespace", "podname"), "eni82111e10a96");
/// ```
pub fn interface_name(prefix: &str, namespace: &str, pod: &str) -> String {
    let prefix = match prefix.split(',').next() {
        Some(p) if !prefix.is_empty() => p,
        _ => DEFAULT_INTERFACE_PREFIX,
    };
    let digest = Sha1::digest(format!("{namespace}.{pod}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{}", &hex[..11])
}

/// True if the pod no longer owns its IPs: its phase is `Succeeded`, `Failed` or `Completed`, or
/// it is being deleted and the Calico (or AWS) CNI plugin has emptied its IP annotation.
pub fn pod_is_finished(pod: &PodInfo) -> bool {
    if pod.deletion_timestamp.is_some()
        && [ANNOTATION_POD_IP, ANNOTATION_AWS_POD_IPS]
            .iter()
            .any(|k| pod.annotations.get(*k).is_some_and(String::is_empty))
    {
        return true;
    }
    matches!(pod.phase.as_str(), "Failed" | "Succeeded" | "Completed")
}

/// True if the pod has an IP (status or CNI annotation).
pub fn pod_has_ip_address(pod: &PodInfo) -> bool {
    let annotated = |k: &str| pod.annotations.get(k).is_some_and(|v| !v.is_empty());
    !pod.pod_ip.is_empty() || annotated(ANNOTATION_POD_IP) || annotated(ANNOTATION_AWS_POD_IPS)
}

/// True if Calico shows the pod as a workload endpoint at all: it is scheduled to a node and
/// not host-networked.
pub fn pod_is_valid_workload_endpoint(pod: &PodInfo) -> bool {
    !pod.host_network && !pod.node_name.is_empty()
}

/// True if the pod is a valid workload endpoint and has an IP.
pub fn pod_is_ready(pod: &PodInfo) -> bool {
    pod_is_valid_workload_endpoint(pod) && pod_has_ip_address(pod)
}

/// A bare address as a single-address network, or a CIDR with its host bits cleared, as
/// Calico's `ParseCIDROrIP` gives it. IPv4-mapped IPv6 addresses count as IPv4, as in Go.
fn parse_cidr_or_ip(s: &str) -> Option<IpNet> {
    if s.contains('/') {
        return s
            .parse::<IpNet>()
            .ok()
            .map(|n| super::policy::unmap_ipv4(n.trunc()));
    }
    s.parse::<IpAddr>()
        .ok()
        .map(|a| super::policy::unmap_ipv4(IpNet::from(a)))
}

/// The pod's addresses, from the first source that has any: `status.podIPs`, `status.podIP`,
/// the Calico `podIPs` then `podIP` annotation, the AWS annotation.
fn pod_ip_nets(pod: &PodInfo) -> Result<Vec<IpNet>, ConversionError> {
    let annotation = |k: &str| pod.annotations.get(k).filter(|v| !v.is_empty());
    let raw: Vec<&str> = if !pod.pod_ips.is_empty() {
        pod.pod_ips.iter().map(String::as_str).collect()
    } else if !pod.pod_ip.is_empty() {
        vec![pod.pod_ip.as_str()]
    } else if let Some(v) = annotation(ANNOTATION_POD_IPS) {
        v.split(',').collect()
    } else if let Some(v) = annotation(ANNOTATION_POD_IP) {
        vec![v.as_str()]
    } else if let Some(v) = annotation(ANNOTATION_AWS_POD_IPS) {
        v.split(',').collect()
    } else {
        Vec::new()
    };
    raw.into_iter()
        .map(|ip| parse_cidr_or_ip(ip).ok_or_else(|| ConversionError::InvalidPodIp(ip.to_owned())))
        .collect()
}

fn json_string_list(
    pod: &PodInfo,
    key: &'static str,
) -> Result<Option<Vec<String>>, ConversionError> {
    let Some(v) = pod.annotations.get(key) else {
        return Ok(None);
    };
    serde_json::from_str::<Vec<String>>(v)
        .map(Some)
        .map_err(|e| ConversionError::InvalidAnnotation {
            key,
            reason: format!("failed to parse '{v}' as JSON: {e}"),
        })
}

/// Floating IPs: every external address is NATed to the pod address of its family.
fn floating_ips(pod: &PodInfo, nets: &[IpNet]) -> Result<Vec<IPNAT>, ConversionError> {
    if nets.is_empty() {
        return Ok(Vec::new());
    }
    let Some(ips) = json_string_list(pod, ANNOTATION_FLOATING_IPS)? else {
        return Ok(Vec::new());
    };
    let (mut v4, mut v6) = (None, None);
    for n in nets {
        match n {
            IpNet::V4(n4) if n4.prefix_len() != 32 => {
                return Err(ConversionError::InvalidPodIp(format!(
                    "{n}: not a valid IPv4 pod address for floating IPs: mask size is {}, not 32",
                    n4.prefix_len()
                )));
            }
            IpNet::V6(n6) if n6.prefix_len() != 128 => {
                return Err(ConversionError::InvalidPodIp(format!(
                    "{n}: not a valid IPv6 pod address for floating IPs: mask size is {}, not 128",
                    n6.prefix_len()
                )));
            }
            IpNet::V4(_) => v4 = Some(n.addr()),
            IpNet::V6(_) => v6 = Some(n.addr()),
        }
    }
    Ok(ips
        .into_iter()
        .filter_map(|ip| {
            let internal = if ip.contains(':') { v6 } else { v4 }?;
            Some(IPNAT {
                internal_ip: internal.to_string(),
                external_ip: ip,
            })
        })
        .collect())
}

fn allowed_source_prefixes(pod: &PodInfo) -> Result<Vec<String>, ConversionError> {
    const KEY: &str = ANNOTATION_ALLOWED_SOURCE_PREFIXES;
    if pod.annotations.get(KEY).is_none_or(String::is_empty) {
        return Ok(Vec::new());
    }
    let list = json_string_list(pod, KEY)?.unwrap_or_default();
    list.iter()
        .map(|p| {
            p.contains('/')
                .then(|| p.parse::<IpNet>().ok())
                .flatten()
                .map(|n| n.trunc().to_string())
                .ok_or_else(|| ConversionError::InvalidAnnotation {
                    key: KEY,
                    reason: format!("failed to parse '{p}' as a CIDR"),
                })
        })
        .collect()
}

fn endpoint_ports(pod: &PodInfo) -> Vec<WorkloadEndpointPort> {
    pod.ports
        .iter()
        .filter(|p| p.container_port != 0 && (p.host_port != 0 || !p.name.is_empty()))
        .filter_map(|p| {
            let protocol = match p.protocol.as_str() {
                "UDP" => "UDP",
                "SCTP" => "SCTP",
                "TCP" | "" => "TCP",
                _ => return None,
            };
            // Kubernetes validates both as 1–65535; out-of-range values wrap as in Go.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let (port, host_port) = (p.container_port as u16, p.host_port as u16);
            Some(WorkloadEndpointPort {
                name: p.name.clone(),
                protocol: Protocol::Name(protocol.to_owned()),
                port,
                host_port,
                host_ip: p.host_ip.clone(),
            })
        })
        .collect()
}

/// One QoS quantity field: annotation keys (later ones override), bounds, and its setter.
struct QosQuantity {
    keys: &'static [&'static str],
    what: &'static str,
    min: i64,
    max: i64,
    set: fn(&mut QoSControls, i64),
}

const QOS_QUANTITIES: [QosQuantity; 14] = {
    const BANDWIDTH: (i64, i64) = (1_000, 1_000_000_000_000_000);
    const BURST: (i64, i64) = (1_000, 34_359_738_360);
    const PEAKRATE: (i64, i64) = (1_010, 1_010_000_000_000_000);
    const MINBURST: (i64, i64) = (1_000, 100_000_000);
    const PACKETS: (i64, i64) = (1, 10_000);
    const CONNECTIONS: (i64, i64) = (1, 4_294_967_295);
    [
        QosQuantity {
            keys: &[
                ANNOTATION_K8S_QOS_INGRESS_BANDWIDTH,
                ANNOTATION_QOS_INGRESS_BANDWIDTH,
            ],
            what: "ingress bandwidth",
            min: BANDWIDTH.0,
            max: BANDWIDTH.1,
            set: |q, v| q.ingress_bandwidth = v,
        },
        QosQuantity {
            keys: &[
                ANNOTATION_K8S_QOS_EGRESS_BANDWIDTH,
                ANNOTATION_QOS_EGRESS_BANDWIDTH,
            ],
            what: "egress bandwidth",
            min: BANDWIDTH.0,
            max: BANDWIDTH.1,
            set: |q, v| q.egress_bandwidth = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_INGRESS_BURST],
            what: "ingress burst",
            min: BURST.0,
            max: BURST.1,
            set: |q, v| q.ingress_burst = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_EGRESS_BURST],
            what: "egress burst",
            min: BURST.0,
            max: BURST.1,
            set: |q, v| q.egress_burst = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_INGRESS_PEAKRATE],
            what: "ingress peakrate",
            min: PEAKRATE.0,
            max: PEAKRATE.1,
            set: |q, v| q.ingress_peakrate = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_EGRESS_PEAKRATE],
            what: "egress peakrate",
            min: PEAKRATE.0,
            max: PEAKRATE.1,
            set: |q, v| q.egress_peakrate = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_INGRESS_MINBURST],
            what: "ingress minburst",
            min: MINBURST.0,
            max: MINBURST.1,
            set: |q, v| q.ingress_minburst = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_EGRESS_MINBURST],
            what: "egress minburst",
            min: MINBURST.0,
            max: MINBURST.1,
            set: |q, v| q.egress_minburst = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_INGRESS_PACKET_RATE],
            what: "ingress packet rate",
            min: PACKETS.0,
            max: PACKETS.1,
            set: |q, v| q.ingress_packet_rate = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_EGRESS_PACKET_RATE],
            what: "egress packet rate",
            min: PACKETS.0,
            max: PACKETS.1,
            set: |q, v| q.egress_packet_rate = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_INGRESS_PACKET_BURST],
            what: "ingress packet burst",
            min: PACKETS.0,
            max: PACKETS.1,
            set: |q, v| q.ingress_packet_burst = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_EGRESS_PACKET_BURST],
            what: "egress packet burst",
            min: PACKETS.0,
            max: PACKETS.1,
            set: |q, v| q.egress_packet_burst = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_INGRESS_MAX_CONNECTIONS],
            what: "ingress max connections",
            min: CONNECTIONS.0,
            max: CONNECTIONS.1,
            set: |q, v| q.ingress_max_connections = v,
        },
        QosQuantity {
            keys: &[ANNOTATION_QOS_EGRESS_MAX_CONNECTIONS],
            what: "egress max connections",
            min: CONNECTIONS.0,
            max: CONNECTIONS.1,
            set: |q, v| q.egress_max_connections = v,
        },
    ]
};

/// The DSCP class names Calico knows.
const DSCP_NAMES: [&str; 21] = [
    "DF", "EF", "AF11", "AF12", "AF13", "AF21", "AF22", "AF23", "AF31", "AF32", "AF33", "AF41",
    "AF42", "AF43", "CS0", "CS1", "CS2", "CS3", "CS4", "CS5", "CS6",
];

/// Default burst (bits) when a bandwidth is set without one: 4 Gi.
const DEFAULT_BURST: i64 = 4_294_967_296;
/// Default packet burst when a packet rate is set without one.
const DEFAULT_PACKET_BURST: i64 = 5;

/// Calico's QoS annotations → `qosControls`. Invalid values never fail the conversion: a value
/// out of bounds is clamped, an unparsable one becomes 0, inconsistent settings are dropped, and
/// each problem is returned as a warning.
fn qos_controls(
    annotations: &BTreeMap<String, String>,
    warnings: &mut Vec<ConversionWarning>,
) -> Option<QoSControls> {
    let mut q = QoSControls::default();
    let mut warn = |key: &str, message: String| {
        warnings.push(ConversionWarning {
            kind: WarningKind::QosAnnotation,
            path: format!("metadata.annotations[{key}]"),
            message,
        });
    };
    for field in &QOS_QUANTITIES {
        for key in field.keys {
            let Some(text) = annotations.get(*key) else {
                continue;
            };
            let value = match quantity_value(text) {
                Err(e) => {
                    warn(key, format!("error parsing {} annotation: {e}", field.what));
                    0
                }
                Ok(v) if v < field.min => {
                    warn(
                        key,
                        format!(
                            "error parsing {} annotation: resource specified is too small (less than {}), setting it to {}",
                            field.what, field.min, field.min
                        ),
                    );
                    field.min
                }
                Ok(v) if v > field.max => {
                    warn(
                        key,
                        format!(
                            "error parsing {} annotation: resource specified is too large (more than {}), setting it to {}",
                            field.what, field.max, field.max
                        ),
                    );
                    field.max
                }
                Ok(v) => v,
            };
            (field.set)(&mut q, value);
        }
    }

    let mut inconsistent = |key: &str, message: &str, reset: &mut i64| {
        warn(key, message.to_owned());
        *reset = 0;
    };
    if q.ingress_burst != 0 && q.ingress_bandwidth == 0 {
        inconsistent(
            ANNOTATION_QOS_INGRESS_BURST,
            "ingress bandwidth must be specified when ingress burst is specified",
            &mut q.ingress_burst,
        );
    }
    if q.egress_burst != 0 && q.egress_bandwidth == 0 {
        inconsistent(
            ANNOTATION_QOS_EGRESS_BURST,
            "egress bandwidth must be specified when egress burst is specified",
            &mut q.egress_burst,
        );
    }
    if q.ingress_peakrate != 0
        && (q.ingress_bandwidth == 0 || q.ingress_bandwidth >= q.ingress_peakrate)
    {
        inconsistent(
            ANNOTATION_QOS_INGRESS_PEAKRATE,
            "ingress peakrate must be greater than ingress bandwidth when specified",
            &mut q.ingress_peakrate,
        );
    }
    if q.egress_peakrate != 0
        && (q.egress_bandwidth == 0 || q.egress_bandwidth >= q.egress_peakrate)
    {
        inconsistent(
            ANNOTATION_QOS_EGRESS_PEAKRATE,
            "egress peakrate must be greater than egress bandwidth when specified",
            &mut q.egress_peakrate,
        );
    }
    if q.ingress_minburst != 0 && q.ingress_peakrate == 0 {
        inconsistent(
            ANNOTATION_QOS_INGRESS_MINBURST,
            "ingress peakrate must be specified when ingress minburst is specified",
            &mut q.ingress_minburst,
        );
    }
    if q.egress_minburst != 0 && q.egress_peakrate == 0 {
        inconsistent(
            ANNOTATION_QOS_EGRESS_MINBURST,
            "egress peakrate must be specified when egress minburst is specified",
            &mut q.egress_minburst,
        );
    }
    if q.ingress_packet_burst != 0 && q.ingress_packet_rate == 0 {
        inconsistent(
            ANNOTATION_QOS_INGRESS_PACKET_BURST,
            "ingress packet rate must be specified when ingress packet burst is specified",
            &mut q.ingress_packet_burst,
        );
    }
    if q.egress_packet_burst != 0 && q.egress_packet_rate == 0 {
        inconsistent(
            ANNOTATION_QOS_EGRESS_PACKET_BURST,
            "egress packet rate must be specified when egress packet burst is specified",
            &mut q.egress_packet_burst,
        );
    }

    if q.ingress_bandwidth != 0 && q.ingress_burst == 0 {
        q.ingress_burst = DEFAULT_BURST;
    }
    if q.egress_bandwidth != 0 && q.egress_burst == 0 {
        q.egress_burst = DEFAULT_BURST;
    }
    if q.ingress_packet_rate != 0 && q.ingress_packet_burst == 0 {
        q.ingress_packet_burst = DEFAULT_PACKET_BURST;
    }
    if q.egress_packet_rate != 0 && q.egress_packet_burst == 0 {
        q.egress_packet_burst = DEFAULT_PACKET_BURST;
    }

    if let Some(text) = annotations.get(ANNOTATION_QOS_EGRESS_DSCP) {
        // Known names are spelled canonically; anything else must be a number 0–63 (or a name
        // with surrounding spaces, which Calico still accepts).
        let known = DSCP_NAMES.iter().find(|n| n.eq_ignore_ascii_case(text));
        let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        match (known, digits.then(|| text.parse::<u8>().ok()).flatten()) {
            (Some(name), _) => q.dscp = Some(Dscp::Name((*name).to_owned())),
            (None, Some(n)) if n <= 63 => q.dscp = Some(Dscp::Number(n)),
            (None, Some(_)) => warn(
                ANNOTATION_QOS_EGRESS_DSCP,
                "error parsing DSCP annotation: DSCP must be between 0 and 63".into(),
            ),
            (None, None) => match Dscp::Name(text.clone()).value() {
                Some(_) => q.dscp = Some(Dscp::Name(text.clone())),
                None => warn(
                    ANNOTATION_QOS_EGRESS_DSCP,
                    format!("error parsing DSCP annotation: {text} is not a valid DSCP value"),
                ),
            },
        }
    }

    (q != QoSControls::default()).then_some(q)
}

/// Converts a pod into the workload endpoint Calico derives from it (interface prefix `cali`).
/// See [`pod_to_workload_endpoint_with_warnings`].
pub fn pod_to_workload_endpoint(pod: &PodInfo) -> Result<WorkloadEndpoint, ConversionError> {
    pod_to_workload_endpoint_with_warnings(pod, DEFAULT_INTERFACE_PREFIX).map(|c| c.endpoint)
}

/// Converts a pod into its workload endpoint, as Calico does:
/// - name `<node>-k8s-<pod>-eth0` ([`workload_endpoint_name`]), the pod's namespace, UID,
///   creation time, `generateName` and resource version; the Multus `network-status`
///   annotation is the only annotation copied;
/// - labels: the pod's, plus `projectcalico.org/namespace`, `projectcalico.org/orchestrator:
///   k8s` and (for a service account name shorter than 63 characters)
///   `projectcalico.org/serviceaccount`;
/// - spec: orchestrator `k8s`, node, pod, endpoint `eth0`, container ID (annotation),
///   interface name ([`interface_name`] with `interface_prefix`), profiles `kns.<ns>` and
///   `ksa.<ns>.<sa>`, `ipNetworks` from the pod IPs (none once the pod is finished), named and
///   host ports, floating IPs, allowed source prefixes and QoS controls from the annotations.
///
/// Errors when the node or pod name is missing or malformed, a pod IP or the floating-IP or
/// source-prefix annotation cannot be parsed. Invalid QoS annotations only produce warnings.
pub fn pod_to_workload_endpoint_with_warnings(
    pod: &PodInfo,
    interface_prefix: &str,
) -> Result<WorkloadEndpointConversion, ConversionError> {
    let mut profiles = vec![namespace_profile_name(&pod.namespace)];
    if !pod.service_account_name.is_empty() {
        profiles.push(service_account_profile_name(
            &pod.namespace,
            &pod.service_account_name,
        ));
    }
    let name = workload_endpoint_name(
        &pod.node_name,
        ORCHESTRATOR_K8S,
        &pod.name,
        K8S_ENDPOINT_NAME,
    )?;

    let mut nets = pod_ip_nets(pod)?;
    if pod_is_finished(pod) {
        nets.clear();
    }

    let mut labels = pod.labels.clone();
    labels.insert(LABEL_NAMESPACE.to_owned(), pod.namespace.clone());
    labels.insert(LABEL_ORCHESTRATOR.to_owned(), ORCHESTRATOR_K8S.to_owned());
    if !pod.service_account_name.is_empty() && pod.service_account_name.len() < 63 {
        labels.insert(
            LABEL_SERVICE_ACCOUNT.to_owned(),
            pod.service_account_name.clone(),
        );
    }

    let ip_nats = floating_ips(pod, &nets)?;
    let allow_spoofed_source_prefixes = allowed_source_prefixes(pod)?;
    let mut warnings = Vec::new();
    let qos_controls = qos_controls(&pod.annotations, &mut warnings);

    let mut annotations = BTreeMap::new();
    if let Some(v) = pod.annotations.get(ANNOTATION_NETWORK_STATUS) {
        annotations.insert(ANNOTATION_NETWORK_STATUS.to_owned(), v.clone());
    }
    let metadata = ObjectMeta {
        name,
        generate_name: pod.generate_name.clone(),
        namespace: pod.namespace.clone(),
        uid: pod.uid.clone(),
        resource_version: pod.resource_version.clone(),
        creation_timestamp: pod.creation_timestamp.clone(),
        labels,
        annotations,
        ..ObjectMeta::default()
    };
    let spec = WorkloadEndpointSpec {
        orchestrator: ORCHESTRATOR_K8S.to_owned(),
        node: pod.node_name.clone(),
        pod: pod.name.clone(),
        container_id: pod
            .annotations
            .get(ANNOTATION_CONTAINER_ID)
            .cloned()
            .unwrap_or_default(),
        endpoint: K8S_ENDPOINT_NAME.to_owned(),
        interface_name: interface_name(interface_prefix, &pod.namespace, &pod.name),
        profiles,
        ip_networks: nets.iter().map(ToString::to_string).collect(),
        ports: endpoint_ports(pod),
        ip_nats,
        service_account_name: pod.service_account_name.clone(),
        allow_spoofed_source_prefixes,
        qos_controls,
        ..WorkloadEndpointSpec::default()
    };
    Ok(WorkloadEndpointConversion {
        endpoint: WorkloadEndpoint::new(metadata, spec),
        warnings,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::resource::ResourceKind;
    use crate::validation::Validator;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn pod_a() -> PodInfo {
        PodInfo {
            namespace: "default".into(),
            name: "podA".into(),
            node_name: "nodeA".into(),
            resource_version: "1234".into(),
            labels: map(&[("labelA", "valueA"), ("labelB", "valueB")]),
            annotations: map(&[("arbitrary", "annotation")]),
            ..PodInfo::default()
        }
    }

    fn port(
        name: &str,
        container_port: i32,
        protocol: &str,
        host_port: i32,
        host_ip: &str,
    ) -> PodContainerPort {
        PodContainerPort {
            name: name.into(),
            container_port,
            protocol: protocol.into(),
            host_port,
            host_ip: host_ip.into(),
        }
    }

    fn wep_port(
        name: &str,
        port: u16,
        protocol: &str,
        host_port: u16,
        host_ip: &str,
    ) -> WorkloadEndpointPort {
        WorkloadEndpointPort {
            name: name.into(),
            protocol: Protocol::Name(protocol.into()),
            port,
            host_port,
            host_ip: host_ip.into(),
        }
    }

    /// Converts the pod renamed to valid lower-case names (Calico's own test pods use
    /// `podA`/`nodeA`, which the WorkloadEndpoint validator rejects) and checks the result
    /// validates.
    fn assert_valid(pod: &PodInfo) {
        let mut pod = pod.clone();
        pod.name = "pod-a".into();
        pod.node_name = "node-a".into();
        let w = pod_to_workload_endpoint(&pod).unwrap();
        assert_eq!(w.metadata.name, "node--a-k8s-pod--a-eth0");
        let mut v = Validator::new();
        w.validate_into(&mut v);
        assert!(v.is_ok(), "{:?}", v.finish());
    }

    #[test]
    fn names() {
        let ok = [
            (
                ("node-1", "k8s", "pod-name", "eth0"),
                "node--1-k8s-pod--name-eth0",
            ),
            (
                ("node-1", "cni", "abcdefa0123456", "eth0"),
                "node--1-cni-abcdefa0123456-eth0",
            ),
            (
                ("node-1", "libnetwork", "", "abcdefgh"),
                "node--1-libnetwork-libnetwork-abcdefgh",
            ),
            (
                ("node-1", "foo", "foo-foo", "abcdefgh"),
                "node--1-foo-foo--foo-abcdefgh",
            ),
            (("nodeA", "k8s", "podA", "eth0"), "nodeA-k8s-podA-eth0"),
        ];
        for ((n, o, w, e), want) in ok {
            assert_eq!(workload_endpoint_name(n, o, w, e).unwrap(), want);
        }
        let bad = [
            (("", "k8s", "p", "eth0"), "node"),
            (("node-1", "", "pod-name", "eth0"), "orchestrator"),
            (("node-1", "k8s", "", "eth0"), "pod"),
            (("node-1", "cni", "-abcdefa0123456", "eth0"), "containerID"),
            (("node-1", "foo", "foo-foo-", "abcdefgh"), "workload"),
            (("node-1", "k8s", "p", ""), "endpoint"),
        ];
        for ((n, o, w, e), field) in bad {
            match workload_endpoint_name(n, o, w, e) {
                Err(ConversionError::InvalidNameSegment { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{n} {o} {w} {e}: {other:?}"),
            }
        }
    }

    #[test]
    fn interface_names_are_stable() {
        assert_eq!(interface_name("", "default", "podA"), "cali7f94ce7c295");
        assert_eq!(interface_name("cali", "default", "podB"), "cali92cf1f5e9f6");
        assert_eq!(
            interface_name("eni,veth,foo", "namespace", "podname"),
            "eni82111e10a96"
        );
        assert_eq!(interface_name("tap", "shop", "web-0"), "tapa4fc3c48bd8");
    }

    #[test]
    fn basic_pod() {
        let mut pod = pod_a();
        pod.pod_ip = "192.168.0.1".into();
        pod.ports = vec![
            port("", 5678, "", 0, ""),
            port("no-proto", 1234, "", 0, ""),
            port("tcp-proto", 1024, "TCP", 0, ""),
            port("tcp-proto-with-host-port", 8080, "TCP", 5678, ""),
            port(
                "tcp-proto-with-host-port-and-ip",
                8081,
                "TCP",
                6789,
                "1.2.3.4",
            ),
            port("", 500, "TCP", 5000, ""),
            port("udp-proto", 432, "UDP", 0, ""),
            port("sctp-proto", 891, "SCTP", 0, ""),
            port("unkn-proto", 567, "unknown", 0, ""),
        ];
        let w = pod_to_workload_endpoint(&pod).unwrap();
        assert_eq!(w.metadata.name, "nodeA-k8s-podA-eth0");
        assert_eq!(w.metadata.namespace, "default");
        assert_eq!(w.metadata.resource_version, "1234");
        assert!(w.metadata.annotations.is_empty());
        assert_eq!(
            w.metadata.labels,
            map(&[
                ("labelA", "valueA"),
                ("labelB", "valueB"),
                ("projectcalico.org/namespace", "default"),
                ("projectcalico.org/orchestrator", "k8s"),
            ])
        );
        let s = &w.spec;
        assert_eq!(
            (
                s.pod.as_str(),
                s.node.as_str(),
                s.endpoint.as_str(),
                s.orchestrator.as_str()
            ),
            ("podA", "nodeA", "eth0", "k8s")
        );
        assert_eq!(s.ip_networks, vec!["192.168.0.1/32"]);
        assert_eq!(s.profiles, vec!["kns.default"]);
        assert_eq!(s.interface_name, "cali7f94ce7c295");
        assert_eq!(
            s.ports,
            vec![
                wep_port("no-proto", 1234, "TCP", 0, ""),
                wep_port("tcp-proto", 1024, "TCP", 0, ""),
                wep_port("tcp-proto-with-host-port", 8080, "TCP", 5678, ""),
                wep_port(
                    "tcp-proto-with-host-port-and-ip",
                    8081,
                    "TCP",
                    6789,
                    "1.2.3.4"
                ),
                wep_port("", 500, "TCP", 5000, ""),
                wep_port("udp-proto", 432, "UDP", 0, ""),
                wep_port("sctp-proto", 891, "SCTP", 0, ""),
            ]
        );
        assert!(
            s.ip_nats.is_empty()
                && s.allow_spoofed_source_prefixes.is_empty()
                && s.qos_controls.is_none()
        );
        assert!(s.container_id.is_empty() && s.service_account_name.is_empty());
        // Calico's test data has port names longer than IANA allows; the rest validates.
        pod.ports.retain(|p| p.name.len() <= 15);
        assert_valid(&pod);
    }

    #[test]
    fn service_accounts() {
        let mut pod = pod_a();
        pod.service_account_name = "sa-test".into();
        let w = pod_to_workload_endpoint(&pod).unwrap();
        assert_eq!(w.spec.profiles, vec!["kns.default", "ksa.default.sa-test"]);
        assert_eq!(w.spec.service_account_name, "sa-test");
        assert_eq!(
            w.metadata
                .labels
                .get("projectcalico.org/serviceaccount")
                .map(String::as_str),
            Some("sa-test")
        );
        // Too long for a label value: no label, but the profile and field stay.
        pod.service_account_name = "serviceaccount-name-that-is-too-long-to-be-used-as-a-kubernetes-label-because-it-exceeds-the-character-limit".into();
        let w = pod_to_workload_endpoint(&pod).unwrap();
        assert!(
            !w.metadata
                .labels
                .contains_key("projectcalico.org/serviceaccount")
        );
        assert_eq!(w.spec.profiles.len(), 2);
        // 63 characters is already too long (strictly fewer than 63 get the label).
        pod.service_account_name = "a".repeat(63);
        assert!(
            !pod_to_workload_endpoint(&pod)
                .unwrap()
                .metadata
                .labels
                .contains_key(LABEL_SERVICE_ACCOUNT)
        );
        pod.service_account_name = "a".repeat(62);
        assert!(
            pod_to_workload_endpoint(&pod)
                .unwrap()
                .metadata
                .labels
                .contains_key(LABEL_SERVICE_ACCOUNT)
        );
    }

    #[test]
    fn ip_sources_in_priority_order() {
        let ips = |pod: &PodInfo| pod_to_workload_endpoint(pod).unwrap().spec.ip_networks;
        let mut pod = pod_a();
        pod.pod_ip = "192.168.0.1".into();
        pod.pod_ips = vec!["192.168.0.1".into(), "fd5f:8067::1".into()];
        assert_eq!(ips(&pod), vec!["192.168.0.1/32", "fd5f:8067::1/128"]);

        let mut pod = pod_a();
        pod.annotations
            .insert(ANNOTATION_POD_IP.into(), "192.168.0.1".into());
        assert_eq!(ips(&pod), vec!["192.168.0.1/32"]);
        assert!(pod_has_ip_address(&pod));
        pod.annotations.insert(
            ANNOTATION_POD_IPS.into(),
            "192.168.0.1/32,fd5f:8067::1/128".into(),
        );
        assert_eq!(ips(&pod), vec!["192.168.0.1/32", "fd5f:8067::1/128"]);
        // Status wins over the annotations.
        pod.pod_ip = "192.168.0.2".into();
        assert_eq!(ips(&pod), vec!["192.168.0.2/32"]);

        let mut pod = pod_a();
        pod.annotations
            .insert(ANNOTATION_AWS_POD_IPS.into(), "192.168.0.1".into());
        assert_eq!(ips(&pod), vec!["192.168.0.1/32"]);
        assert!(pod_has_ip_address(&pod));

        // No IP at all: still converts, without networks, and is valid but not ready.
        let pod = pod_a();
        assert!(ips(&pod).is_empty());
        assert!(pod_is_valid_workload_endpoint(&pod) && !pod_is_ready(&pod));

        // Bad addresses are errors.
        for (k, v) in [
            (ANNOTATION_POD_IP, "foobar"),
            (ANNOTATION_POD_IPS, "foobar"),
            (ANNOTATION_POD_IPS, "10.0.0.1, 10.0.0.2"),
        ] {
            let mut pod = pod_a();
            pod.annotations.insert(k.into(), v.into());
            assert!(
                matches!(
                    pod_to_workload_endpoint(&pod),
                    Err(ConversionError::InvalidPodIp(_))
                ),
                "{k}={v}"
            );
        }
    }

    #[test]
    fn finished_pods_lose_their_ips() {
        let with = |phase: &str, deleting: bool, ann: Option<&str>| {
            let mut pod = pod_a();
            pod.pod_ip = "192.168.0.1".into();
            pod.phase = phase.into();
            if deleting {
                pod.deletion_timestamp = Some("2024-01-01T00:00:00Z".into());
            }
            if let Some(a) = ann {
                pod.annotations.insert(ANNOTATION_POD_IP.into(), a.into());
            }
            (
                pod_is_finished(&pod),
                pod_to_workload_endpoint(&pod)
                    .unwrap()
                    .spec
                    .ip_networks
                    .len(),
            )
        };
        assert_eq!(with("Running", false, Some("")), (false, 1));
        assert_eq!(with("Running", true, Some("")), (true, 0));
        assert_eq!(with("Running", true, None), (false, 1));
        assert_eq!(with("Succeeded", true, None), (true, 0));
        for (phase, keeps) in [
            ("Pending", true),
            ("Running", true),
            ("Unknown", true),
            ("Succeeded", false),
            ("Failed", false),
            ("Completed", false),
        ] {
            assert_eq!(with(phase, false, None).1 == 1, keeps, "{phase}");
        }
    }

    #[test]
    fn floating_ips_and_source_prefixes() {
        let mut pod = pod_a();
        pod.annotations
            .insert(ANNOTATION_POD_IP.into(), "192.168.0.1".into());
        pod.annotations
            .insert(ANNOTATION_POD_IPS.into(), "192.168.0.1,fd5f:8067::1".into());
        pod.annotations.insert(
            ANNOTATION_FLOATING_IPS.into(),
            r#"["1.1.1.1","fd80:100:100::10"]"#.into(),
        );
        pod.annotations.insert(
            ANNOTATION_ALLOWED_SOURCE_PREFIXES.into(),
            r#"["8.8.8.8/32","1.1.1.1/16"]"#.into(),
        );
        let w = pod_to_workload_endpoint(&pod).unwrap();
        assert_eq!(
            w.spec.ip_nats,
            vec![
                IPNAT {
                    internal_ip: "192.168.0.1".into(),
                    external_ip: "1.1.1.1".into()
                },
                IPNAT {
                    internal_ip: "fd5f:8067::1".into(),
                    external_ip: "fd80:100:100::10".into()
                },
            ]
        );
        assert_eq!(
            w.spec.allow_spoofed_source_prefixes,
            vec!["8.8.8.8/32", "1.1.0.0/16"]
        );
        assert_valid(&pod);

        // No pod IP: floating IPs are ignored (even unparsable ones).
        let mut pod = pod_a();
        pod.annotations
            .insert(ANNOTATION_FLOATING_IPS.into(), "not json".into());
        assert!(
            pod_to_workload_endpoint(&pod)
                .unwrap()
                .spec
                .ip_nats
                .is_empty()
        );

        for (k, v) in [
            (ANNOTATION_FLOATING_IPS, "not json"),
            (ANNOTATION_ALLOWED_SOURCE_PREFIXES, r#"[""]"#),
            (ANNOTATION_ALLOWED_SOURCE_PREFIXES, r#"["gumbo"]"#),
            (ANNOTATION_ALLOWED_SOURCE_PREFIXES, r#"["8.8.8.8"]"#),
            (ANNOTATION_ALLOWED_SOURCE_PREFIXES, "{}"),
        ] {
            let mut pod = pod_a();
            pod.pod_ip = "10.0.0.1".into();
            pod.annotations.insert(k.into(), v.into());
            assert!(
                matches!(
                    pod_to_workload_endpoint(&pod),
                    Err(ConversionError::InvalidAnnotation { .. })
                ),
                "{k}={v}"
            );
        }
        // Floating IPs need single-address pod networks.
        let mut pod = pod_a();
        pod.pod_ip = "10.0.0.0/24".into();
        pod.annotations
            .insert(ANNOTATION_FLOATING_IPS.into(), r#"["1.1.1.1"]"#.into());
        assert!(matches!(
            pod_to_workload_endpoint(&pod),
            Err(ConversionError::InvalidPodIp(_))
        ));
    }

    #[test]
    fn metadata_copies() {
        let mut pod = pod_a();
        pod.generate_name = "generatedname".into();
        pod.uid = "30316465-6365-4463-ad63-3564622d3638".into();
        pod.creation_timestamp = Some("2024-01-02T03:04:05Z".into());
        pod.annotations.insert(
            ANNOTATION_NETWORK_STATUS.into(),
            "[{\"name\": \"k8s-pod-network\"}]".into(),
        );
        pod.annotations
            .insert(ANNOTATION_CONTAINER_ID.into(), "abc123".into());
        let w = pod_to_workload_endpoint(&pod).unwrap();
        assert_eq!(w.metadata.generate_name, "generatedname");
        // The pod UID is kept as is (only derived profiles and policies convert UIDs).
        assert_eq!(w.metadata.uid, "30316465-6365-4463-ad63-3564622d3638");
        assert_eq!(
            w.metadata.creation_timestamp.as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            w.metadata.annotations,
            map(&[(
                ANNOTATION_NETWORK_STATUS,
                "[{\"name\": \"k8s-pod-network\"}]"
            )])
        );
        assert_eq!(w.spec.container_id, "abc123");
    }

    #[test]
    fn missing_or_bad_names_are_errors() {
        let mut pod = pod_a();
        pod.node_name.clear();
        assert!(matches!(
            pod_to_workload_endpoint(&pod),
            Err(ConversionError::InvalidNameSegment { field: "node", .. })
        ));
        assert!(!pod_is_valid_workload_endpoint(&pod));
        let mut pod = pod_a();
        pod.name = "pod-".into();
        assert!(pod_to_workload_endpoint(&pod).is_err());
        let mut pod = pod_a();
        pod.host_network = true;
        assert!(!pod_is_valid_workload_endpoint(&pod));
    }

    #[test]
    fn qos_annotations() {
        let conv = |pairs: &[(&str, &str)]| {
            let mut pod = pod_a();
            pod.annotations.extend(map(pairs));
            pod_to_workload_endpoint_with_warnings(&pod, "").unwrap()
        };
        let c = conv(&[
            (ANNOTATION_K8S_QOS_INGRESS_BANDWIDTH, "10M"),
            (ANNOTATION_QOS_EGRESS_BANDWIDTH, "1G"),
            (ANNOTATION_QOS_EGRESS_PEAKRATE, "2G"),
            (ANNOTATION_QOS_EGRESS_MINBURST, "1500"),
            (ANNOTATION_QOS_INGRESS_PACKET_RATE, "100"),
            (ANNOTATION_QOS_EGRESS_MAX_CONNECTIONS, "1k"),
            (ANNOTATION_QOS_EGRESS_DSCP, "af11"),
        ]);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let q = c.endpoint.spec.qos_controls.clone().unwrap();
        assert_eq!(
            q,
            QoSControls {
                ingress_bandwidth: 10_000_000,
                ingress_burst: DEFAULT_BURST,
                egress_bandwidth: 1_000_000_000,
                egress_burst: DEFAULT_BURST,
                egress_peakrate: 2_000_000_000,
                egress_minburst: 1500,
                ingress_packet_rate: 100,
                ingress_packet_burst: 5,
                egress_max_connections: 1000,
                dscp: Some(Dscp::Name("AF11".into())),
                ..QoSControls::default()
            }
        );
        let mut pod = pod_a();
        pod.annotations.extend(map(&[
            (ANNOTATION_K8S_QOS_INGRESS_BANDWIDTH, "10M"),
            (ANNOTATION_QOS_EGRESS_DSCP, "af11"),
            (ANNOTATION_QOS_INGRESS_PACKET_RATE, "100"),
        ]));
        assert_valid(&pod);

        // Calico's annotation overrides the Kubernetes one; out-of-range values are clamped.
        let c = conv(&[
            (ANNOTATION_K8S_QOS_INGRESS_BANDWIDTH, "10M"),
            (ANNOTATION_QOS_INGRESS_BANDWIDTH, "10"),
            (ANNOTATION_QOS_EGRESS_BANDWIDTH, "2P"),
        ]);
        let q = c.endpoint.spec.qos_controls.clone().unwrap();
        assert_eq!(
            (q.ingress_bandwidth, q.egress_bandwidth),
            (1000, 1_000_000_000_000_000)
        );
        assert_eq!(c.warnings.len(), 2);
        assert!(
            c.warnings
                .iter()
                .all(|w| w.kind == WarningKind::QosAnnotation)
        );
        assert_eq!(
            c.warnings[0].path,
            "metadata.annotations[qos.projectcalico.org/ingressBandwidth]"
        );

        // Inconsistent or unparsable values are dropped; DSCP out of range is ignored.
        let c = conv(&[
            (ANNOTATION_QOS_INGRESS_BURST, "1M"),
            (ANNOTATION_QOS_INGRESS_PEAKRATE, "1M"),
            (ANNOTATION_QOS_EGRESS_PACKET_BURST, "10"),
            (ANNOTATION_QOS_EGRESS_BANDWIDTH, "lots"),
            (ANNOTATION_QOS_EGRESS_DSCP, "64"),
        ]);
        assert_eq!(c.endpoint.spec.qos_controls, None);
        assert_eq!(c.warnings.len(), 5, "{:?}", c.warnings);
        let c = conv(&[(ANNOTATION_QOS_EGRESS_DSCP, "40")]);
        assert_eq!(
            c.endpoint.spec.qos_controls.unwrap().dscp,
            Some(Dscp::Number(40))
        );
        let c = conv(&[(ANNOTATION_QOS_EGRESS_DSCP, "bogus")]);
        assert_eq!(c.endpoint.spec.qos_controls, None);
        assert_eq!(
            c.warnings[0].message,
            "error parsing DSCP annotation: bogus is not a valid DSCP value"
        );
    }

    #[test]
    fn odd_inputs_never_panic() {
        let mut pod = pod_a();
        pod.pod_ips = vec!["::ffff:10.0.0.1".into(), "10.1.2.3/8".into(), "é".into()];
        assert!(pod_to_workload_endpoint(&pod).is_err());
        pod.pod_ips = vec!["::ffff:10.0.0.1".into(), "10.1.2.3/8".into()];
        assert_eq!(
            pod_to_workload_endpoint(&pod).unwrap().spec.ip_networks,
            vec!["10.0.0.1/32", "10.0.0.0/8"]
        );
        pod.ports = vec![port("big", 70000, "TCP", -1, "")];
        assert_eq!(
            pod_to_workload_endpoint(&pod).unwrap().spec.ports[0].port,
            4464
        );
        pod.name = "é-ü".into();
        pod.namespace = String::new();
        assert!(pod_to_workload_endpoint(&pod).is_ok());
    }
}
