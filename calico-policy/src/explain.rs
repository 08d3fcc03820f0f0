//! `explain`: why a packet from one endpoint (or address) to another is allowed or denied,
//! across nodes.
//!
//! The packet is judged by each node that polices one of its ends (see
//! [`cluster`](crate::cluster) for why one calculation graph per involved node): the source's
//! node decides its egress (and any forward policy of its uplink host endpoint), the
//! destination's node its ingress. When both ends are on one node, that node judges both.
//! An address that belongs to no endpoint is external: nobody polices it.
//!
//! ```
//! use calico_model::decode_yaml;
//! use calico_policy::explain::{explain_resources, Probe};
//!
//! let resources = decode_yaml(r#"
//! apiVersion: projectcalico.org/v3
//! kind: WorkloadEndpoint
//! metadata: {name: n1-k8s-web-eth0, namespace: default, labels: {app: web}}
//! spec: {node: n1, orchestrator: k8s, pod: web, endpoint: eth0,
//!        interfaceName: cali00000000001, ipNetworks: [10.0.0.1/32], profiles: [kns.default]}
//! ---
//! apiVersion: projectcalico.org/v3
//! kind: WorkloadEndpoint
//! metadata: {name: n2-k8s-db-eth0, namespace: default, labels: {app: db}}
//! spec: {node: n2, orchestrator: k8s, pod: db, endpoint: eth0,
//!        interfaceName: cali00000000002, ipNetworks: [10.0.0.2/32], profiles: [kns.default]}
//! ---
//! apiVersion: projectcalico.org/v3
//! kind: Profile
//! metadata: {name: kns.default}
//! spec: {ingress: [{action: Allow}], egress: [{action: Allow}]}
//! ---
//! apiVersion: projectcalico.org/v3
//! kind: NetworkPolicy
//! metadata: {name: db, namespace: default}
//! spec:
//!   selector: app == 'db'
//!   ingress: [{action: Allow, protocol: TCP, source: {selector: app == 'web'}, destination: {ports: [5432]}}]
//! "#).unwrap();
//! let probe = Probe::parse("tcp", Some(5432)).unwrap();
//! let e = explain_resources(&resources, "default/web", "default/db", &probe).unwrap();
//! assert!(e.allowed);
//! let ingress = e.ingress.unwrap();
//! assert_eq!(ingress.decision.to_string(), "Allow by default/NetworkPolicy/default/db rule 0");
//! // Another port: the end of the default tier drops it.
//! let e = explain_resources(&resources, "default/web", "default/db", &Probe::parse("tcp", Some(22)).unwrap()).unwrap();
//! assert!(!e.allowed);
//! ```

use std::collections::BTreeSet;
use std::net::IpAddr;

use calico_model::Resource;
use serde::Serialize;

use crate::cluster::{ClusterError, ClusterView, Peer};
use crate::eval::{DirectionVerdict, Evaluator, Packet, Verdict};
use crate::ir::proto;

/// The source port of every probe packet (an ephemeral port no rule is expected to name).
pub const EPHEMERAL_SOURCE_PORT: u16 = 40000;

/// The ICMP type of an ICMP probe (echo request).
pub const ICMP_ECHO_REQUEST: u8 = 8;

/// The ICMPv6 type of an ICMP probe over IPv6 (echo request).
pub const ICMPV6_ECHO_REQUEST: u8 = 128;

/// Why a question could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// A peer did not resolve, or a node view failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The protocol is not `tcp`, `udp`, `sctp`, `icmp` or a number 0–255.
    #[error("protocol {0:?} is not tcp, udp, sctp, icmp or a number 0-255")]
    Protocol(String),
    /// A port-carrying protocol without `--port`.
    #[error("--port is required for protocol {0}")]
    PortRequired(String),
    /// A port with a protocol that has none.
    #[error("--port only applies to tcp, udp and sctp, not {0}")]
    PortNotApplicable(String),
    /// An ICMP type or code with a protocol other than ICMP.
    #[error("--icmp-type and --icmp-code only apply to icmp, not {0}")]
    IcmpNotApplicable(String),
    /// The two ends share no address family.
    #[error("{peer} has no IPv{family} address")]
    NoAddress {
        /// The peer.
        peer: String,
        /// 4 or 6.
        family: u8,
    },
}

/// What to send: a protocol and, for TCP, UDP and SCTP, a destination port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Probe {
    /// IP protocol number.
    pub protocol: u8,
    /// Destination port (port-carrying protocols only).
    pub port: Option<u16>,
    /// ICMP type and code (ICMP only; `None`: echo request, code 0).
    pub icmp: Option<(u8, u8)>,
}

impl Probe {
    /// Parses `tcp|udp|sctp|icmp|N` (case-insensitive) and an optional port; the port is
    /// required for TCP, UDP and SCTP and refused for other protocols.
    pub fn parse(protocol: &str, port: Option<u16>) -> Result<Probe, ExplainError> {
        let number = match protocol.to_ascii_lowercase().as_str() {
            "tcp" => proto::TCP,
            "udp" => proto::UDP,
            "sctp" => proto::SCTP,
            "icmp" => proto::ICMP,
            "icmpv6" => proto::ICMPV6,
            other => other
                .parse::<u8>()
                .map_err(|_| ExplainError::Protocol(protocol.to_owned()))?,
        };
        let probe = Probe {
            protocol: number,
            port,
            icmp: None,
        };
        match (probe.has_ports(), port) {
            (true, None) => Err(ExplainError::PortRequired(probe.protocol_name())),
            (false, Some(_)) => Err(ExplainError::PortNotApplicable(probe.protocol_name())),
            _ => Ok(probe),
        }
    }

    /// The same probe with an ICMP type and code (refused for other protocols).
    pub fn with_icmp(self, icmp_type: u8, icmp_code: u8) -> Result<Probe, ExplainError> {
        if !self.is_icmp() {
            return Err(ExplainError::IcmpNotApplicable(self.protocol_name()));
        }
        Ok(Probe {
            icmp: Some((icmp_type, icmp_code)),
            ..self
        })
    }

    /// True for TCP, UDP, SCTP (and UDPLite).
    pub fn has_ports(&self) -> bool {
        matches!(
            self.protocol,
            proto::TCP | proto::UDP | proto::SCTP | proto::UDPLITE
        )
    }

    /// True for ICMP and ICMPv6.
    pub fn is_icmp(&self) -> bool {
        matches!(self.protocol, proto::ICMP | proto::ICMPV6)
    }

    /// `tcp`, `udp`, `sctp`, `icmp`, `icmpv6` or the number.
    pub fn protocol_name(&self) -> String {
        match self.protocol {
            proto::TCP => "tcp".into(),
            proto::UDP => "udp".into(),
            proto::SCTP => "sctp".into(),
            proto::ICMP => "icmp".into(),
            proto::ICMPV6 => "icmpv6".into(),
            proto::UDPLITE => "udplite".into(),
            n => n.to_string(),
        }
    }

    /// `tcp/80`, `icmp`, `icmp/3/1` (type 3 code 1), `47`.
    pub fn label(&self) -> String {
        match (self.port, self.icmp) {
            (Some(p), _) => format!("{}/{p}", self.protocol_name()),
            (None, Some((t, c))) => format!("{}/{t}/{c}", self.protocol_name()),
            (None, None) => self.protocol_name(),
        }
    }

    /// The first packet of a connection from `src` to `dst`.
    pub fn packet(&self, src: IpAddr, dst: IpAddr) -> Packet {
        if self.is_icmp() {
            let echo = if src.is_ipv6() {
                ICMPV6_ECHO_REQUEST
            } else {
                ICMP_ECHO_REQUEST
            };
            let (t, c) = self.icmp.unwrap_or((echo, 0));
            return Packet::icmp(src, dst, t, c);
        }
        Packet::ported(
            self.protocol,
            src,
            if self.has_ports() {
                EPHEMERAL_SOURCE_PORT
            } else {
                0
            },
            dst,
            self.port.unwrap_or(0),
        )
    }
}

/// What one node decided about the packet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeCheck {
    /// The node.
    pub node: String,
    /// The evaluator's verdict on that node.
    pub verdict: Verdict,
}

/// The answer: both directions, what decided each, and overall.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// The source as resolved.
    pub from: Peer,
    /// The destination as resolved.
    pub to: Peer,
    /// The packet judged.
    pub packet: Packet,
    /// True when every node on the path allows it.
    pub allowed: bool,
    /// The source endpoint's egress verdict (from the source's node), if it is an endpoint.
    pub egress: Option<DirectionVerdict>,
    /// The destination endpoint's ingress verdict (from the destination's node), if it is
    /// an endpoint.
    pub ingress: Option<DirectionVerdict>,
    /// Every node's verdict, source node first (also shows host endpoint forward checks).
    pub checks: Vec<NodeCheck>,
}

/// Resolves `from` and `to` and explains `probe`, building only the nodes involved.
pub fn explain_resources(
    resources: &[Resource],
    from: &str,
    to: &str,
    probe: &Probe,
) -> Result<Explanation, ExplainError> {
    let directory = ClusterView::directory_only(resources);
    let from = directory.resolve(from)?;
    let to = directory.resolve(to)?;
    let nodes: BTreeSet<String> = [&from.node, &to.node]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let view = ClusterView::build_for_nodes(resources, &nodes)?;
    explain(&view, &from, &to, probe)
}

/// Picks the two addresses of one family for a packet between `from` and `to`.
pub fn addresses(from: &Peer, to: &Peer, probe: &Probe) -> Result<(IpAddr, IpAddr), ExplainError> {
    let want_v6 = if let Some(ip) = from.ip.or(to.ip) {
        Some(ip.is_ipv6())
    } else if probe.protocol == proto::ICMPV6 {
        Some(true)
    } else if from.address(Some(false)).is_some() && to.address(Some(false)).is_some() {
        Some(false)
    } else {
        Some(true)
    };
    let pick = |p: &Peer| {
        p.address(want_v6).ok_or_else(|| ExplainError::NoAddress {
            peer: p.spec.clone(),
            family: if want_v6 == Some(true) { 6 } else { 4 },
        })
    };
    Ok((pick(from)?, pick(to)?))
}

/// Explains `probe` from `from` to `to` over `view` (whose state must include the peers'
/// nodes).
pub fn explain(
    view: &ClusterView,
    from: &Peer,
    to: &Peer,
    probe: &Probe,
) -> Result<Explanation, ExplainError> {
    let (src, dst) = addresses(from, to, probe)?;
    let packet = probe.packet(src, dst);
    let mut nodes: Vec<&String> = Vec::new();
    for n in [&from.node, &to.node].into_iter().flatten() {
        if !nodes.contains(&n) {
            nodes.push(n);
        }
    }
    let mut checks = Vec::new();
    for node in nodes {
        let Some(state) = view.state(node) else {
            continue;
        };
        checks.push(NodeCheck {
            node: node.clone(),
            verdict: Evaluator::new(state).evaluate(&packet),
        });
    }
    let on = |node: &Option<String>| {
        node.as_ref()
            .and_then(|n| checks.iter().find(|c| &c.node == n))
    };
    let egress = on(&from.node).and_then(|c| c.verdict.egress.clone());
    let ingress = on(&to.node).and_then(|c| c.verdict.ingress.clone());
    let allowed = checks.iter().all(|c| c.verdict.allowed);
    Ok(Explanation {
        from: from.clone(),
        to: to.clone(),
        packet,
        allowed,
        egress,
        ingress,
        checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Decision;
    use calico_model::decode_yaml;

    const CLUSTER: &str = r#"
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: n1-k8s-a-eth0, namespace: ns, labels: {app: a}}
spec: {node: n1, orchestrator: k8s, pod: a, endpoint: eth0, interfaceName: cali00000000001, ipNetworks: [10.0.0.1/32], profiles: [kns.ns]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: n2-k8s-b-eth0, namespace: ns, labels: {app: b}}
spec: {node: n2, orchestrator: k8s, pod: b, endpoint: eth0, interfaceName: cali00000000002, ipNetworks: [10.0.0.2/32], profiles: [kns.ns]}
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.ns}
spec: {ingress: [{action: Allow}], egress: [{action: Allow}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: no-egress-from-a}
spec:
  selector: app == 'a'
  types: [Egress]
  egress: [{action: Deny, protocol: UDP}, {action: Pass}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-in, namespace: ns}
spec:
  selector: app == 'b'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]
"#;

    fn resources() -> Vec<Resource> {
        decode_yaml(CLUSTER).expect("decodes")
    }

    #[test]
    fn probe_parsing() {
        assert_eq!(
            Probe::parse("TCP", Some(80)),
            Ok(Probe {
                protocol: 6,
                port: Some(80),
                icmp: None
            })
        );
        assert_eq!(
            Probe::parse("udp", None),
            Err(ExplainError::PortRequired("udp".into()))
        );
        assert_eq!(
            Probe::parse("icmp", Some(1)),
            Err(ExplainError::PortNotApplicable("icmp".into()))
        );
        assert_eq!(Probe::parse("47", None).map(|p| p.label()), Ok("47".into()));
        let unreachable = Probe::parse("icmp", None)
            .and_then(|p| p.with_icmp(3, 1))
            .expect("icmp");
        assert_eq!(unreachable.label(), "icmp/3/1");
        let packet = unreachable.packet(
            "10.0.0.1".parse().expect("ip"),
            "10.0.0.2".parse().expect("ip"),
        );
        assert_eq!((packet.icmp_type, packet.icmp_code), (Some(3), Some(1)));
        assert_eq!(
            Probe::parse("udp", Some(53)).and_then(|p| p.with_icmp(3, 1)),
            Err(ExplainError::IcmpNotApplicable("udp".into()))
        );
        assert!(matches!(
            Probe::parse("tcpx", Some(1)),
            Err(ExplainError::Protocol(_))
        ));
    }

    #[test]
    fn cross_node_directions_come_from_each_node() {
        let r = resources();
        let e = explain_resources(
            &r,
            "ns/a",
            "ns/b",
            &Probe::parse("tcp", Some(80)).expect("p"),
        )
        .expect("explains");
        assert!(e.allowed);
        assert_eq!(e.checks.len(), 2);
        assert_eq!(e.checks[0].node, "n1");
        // a's egress: the GNP passes TCP on to the profiles, whose first rule allows.
        let egress = e.egress.expect("egress");
        assert_eq!(egress.endpoint, "ns/n1-k8s-a-eth0");
        assert_eq!(
            egress.decision,
            Decision::ProfileRule {
                profile: "kns.ns".into(),
                rule: 0,
                action: "Allow".into()
            }
        );
        let ingress = e.ingress.expect("ingress");
        assert_eq!(
            ingress.decision,
            Decision::PolicyRule {
                tier: "default".into(),
                policy: "NetworkPolicy/ns/b-in".into(),
                rule: 0,
                action: "Allow".into()
            }
        );
    }

    #[test]
    fn denied_by_egress_rule() {
        let r = resources();
        let e = explain_resources(
            &r,
            "ns/a",
            "ns/b",
            &Probe::parse("udp", Some(53)).expect("p"),
        )
        .expect("explains");
        assert!(!e.allowed);
        let egress = e.egress.expect("egress");
        assert!(!egress.allowed);
        assert!(
            matches!(egress.decision, Decision::PolicyRule { ref action, rule: 0, .. } if action == "Deny")
        );
    }

    #[test]
    fn external_addresses_are_not_policed_at_their_end() {
        let r = resources();
        let e = explain_resources(
            &r,
            "192.0.2.9",
            "ns/b",
            &Probe::parse("tcp", Some(22)).expect("p"),
        )
        .expect("explains");
        assert!(e.egress.is_none());
        assert!(!e.allowed, "b's ingress has no rule for 22");
        assert!(matches!(
            e.ingress.expect("ingress").decision,
            Decision::EndOfTier { .. }
        ));
        let both_external = explain_resources(
            &r,
            "192.0.2.9",
            "192.0.2.10",
            &Probe::parse("tcp", Some(22)).expect("p"),
        )
        .expect("explains");
        assert!(both_external.allowed && both_external.checks.is_empty());
    }

    #[test]
    fn unknown_endpoint_is_an_error() {
        let r = resources();
        assert_eq!(
            explain_resources(
                &r,
                "ns/zzz",
                "ns/b",
                &Probe::parse("icmp", None).expect("p")
            ),
            Err(ExplainError::Cluster(ClusterError::NotFound(
                "ns/zzz".into()
            )))
        );
    }
}
