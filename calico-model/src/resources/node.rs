//! Calico nodes (`Node`) and node status requests/reports (`CalicoNodeStatus`).
//!
//! `Node` follows libcalico-go's `lib/apis/v3/node.go` (not a CRD: in the Kubernetes datastore
//! it is derived from the Kubernetes Node and its annotations); `CalicoNodeStatus` follows
//! `api/pkg/apis/projectcalico/v3/nodestatus.go`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::bgp::empty_as_none;
use crate::resource::{CalicoNodeStatus, Node, ResourceKind, validate_common_meta};
use crate::scalar::AsNumber;
use crate::validation::{NetKind, Path, Validate, Validator, check_net};

/// Longest `updatePeriodSeconds` a CalicoNodeStatus may ask for (one day).
pub const MAX_NODE_STATUS_UPDATE_PERIOD_SECONDS: u32 = 86_400;
/// Length in bytes of a WireGuard public key.
const WIREGUARD_KEY_LEN: usize = 32;
/// Address types a node address may carry.
const NODE_ADDRESS_TYPES: &[&str] = &["CalicoNodeIP", "InternalIP", "ExternalIP"];

// ---------------------------------------------------------------------------------------------
// Node
// ---------------------------------------------------------------------------------------------

/// A Calico node: its BGP identity, tunnel addresses and known addresses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSpec {
    /// BGP settings of this node; if present it must not be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<NodeBGPSpec>,
    /// IPv4 address of the VXLAN tunnel device.
    #[serde(
        rename = "ipv4VXLANTunnelAddr",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_vxlan_tunnel_addr: String,
    /// MAC address of the IPv4 VXLAN tunnel device.
    #[serde(
        rename = "vxlanTunnelMACAddr",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub vxlan_tunnel_mac_addr: String,
    /// IPv6 address of the VXLAN tunnel device.
    #[serde(
        rename = "ipv6VXLANTunnelAddr",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_vxlan_tunnel_addr: String,
    /// MAC address of the IPv6 VXLAN tunnel device.
    #[serde(
        rename = "vxlanTunnelMACAddrV6",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub vxlan_tunnel_mac_addr_v6: String,
    /// This node's names in orchestrators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orch_refs: Vec<OrchRef>,
    /// WireGuard settings of this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard: Option<NodeWireguardSpec>,
    /// Addresses the node can be reached at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    /// The node's network interfaces and their addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<NodeInterface>,
}

/// A node's BGP identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeBGPSpec {
    /// AS number of the node (else the global default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_number: Option<AsNumber>,
    /// IPv4 address and subnet, e.g. `10.0.0.5/24` (host bits allowed).
    #[serde(
        rename = "ipv4Address",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_address: String,
    /// IPv6 address and subnet (host bits allowed).
    #[serde(
        rename = "ipv6Address",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_address: String,
    /// IPv4 address of the IP-in-IP tunnel device.
    #[serde(
        rename = "ipv4IPIPTunnelAddr",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_ipip_tunnel_addr: String,
    /// Route-reflector cluster ID (IPv4 dotted form); makes this node a route reflector.
    #[serde(
        rename = "routeReflectorClusterID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub route_reflector_cluster_id: String,
}

/// A node's WireGuard interface addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeWireguardSpec {
    /// IPv4 address of the WireGuard device.
    #[serde(
        rename = "interfaceIPv4Address",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub interface_ipv4_address: String,
    /// IPv6 address of the WireGuard device.
    #[serde(
        rename = "interfaceIPv6Address",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub interface_ipv6_address: String,
}

/// The node's name in one orchestrator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrchRef {
    /// Node name according to the orchestrator.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// The orchestrator, e.g. `k8s`.
    #[serde(default)]
    pub orchestrator: String,
}

/// One address of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeAddress {
    /// The address: an IP or a strictly masked CIDR.
    #[serde(default)]
    pub address: String,
    /// CalicoNodeIP, InternalIP or ExternalIP.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub type_: String,
}

/// A network interface of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeInterface {
    /// Interface name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Addresses on the interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

/// Node state reported by Calico.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeStatus {
    /// The node's IPv4 WireGuard public key (base64).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wireguard_public_key: String,
    /// The node's IPv6 WireGuard public key (base64).
    #[serde(
        rename = "wireguardPublicKeyV6",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub wireguard_public_key_v6: String,
    /// The Kubernetes node's pod CIDRs.
    #[serde(rename = "podCIDRs", default, skip_serializing_if = "Vec::is_empty")]
    pub pod_cidrs: Vec<String>,
}

/// Parses a hardware address the way Go's `net.ParseMAC` does: 6, 8 or 20 octets written as
/// `xx:xx:…`, `xx-xx-…` or `xxxx.xxxx.…`.
pub fn parse_mac(s: &str) -> Option<Vec<u8>> {
    let hex = |t: &str| {
        if t.bytes().all(|b| b.is_ascii_hexdigit()) {
            u8::from_str_radix(t, 16).ok()
        } else {
            None
        }
    };
    let b = s.as_bytes();
    if b.len() < 14 {
        return None;
    }
    let octets: Vec<u8> = if b.get(2).is_some_and(|c| *c == b':' || *c == b'-') {
        let sep = char::from(b[2]);
        let groups: Vec<&str> = s.split(sep).collect();
        if groups.iter().any(|g| g.len() != 2) {
            return None;
        }
        groups.iter().map(|g| hex(g)).collect::<Option<_>>()?
    } else if b.get(4) == Some(&b'.') {
        let groups: Vec<&str> = s.split('.').collect();
        if groups.iter().any(|g| g.len() != 4) {
            return None;
        }
        let mut out = Vec::with_capacity(groups.len() * 2);
        for g in groups {
            out.push(hex(g.get(..2)?)?);
            out.push(hex(g.get(2..)?)?);
        }
        out
    } else {
        return None;
    };
    matches!(octets.len(), 6 | 8 | 20).then_some(octets)
}

/// True if `s` is a base64-encoded 32-byte WireGuard key.
pub fn is_wireguard_key(s: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .is_ok_and(|k| k.len() == WIREGUARD_KEY_LEN)
}

fn check_mac(v: &mut Validator, path: &Path, s: &str) {
    if !s.is_empty() && parse_mac(s).is_none() {
        v.report(path, format!("{s:?} is not a valid MAC address"));
    }
}

fn check_opt_net(v: &mut Validator, path: &Path, s: &str, kind: NetKind) {
    if !s.is_empty() {
        check_net(v, path, s, kind);
    }
}

impl Validate for NodeBGPSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        if *self == NodeBGPSpec::default() {
            v.report(path, "bgp must not be empty when present");
        }
        check_opt_net(
            v,
            &path.field("ipv4Address"),
            &self.ipv4_address,
            NetKind::CidrV4,
        );
        check_opt_net(
            v,
            &path.field("ipv6Address"),
            &self.ipv6_address,
            NetKind::CidrV6,
        );
        check_opt_net(
            v,
            &path.field("ipv4IPIPTunnelAddr"),
            &self.ipv4_ipip_tunnel_addr,
            NetKind::IpV4,
        );
        check_opt_net(
            v,
            &path.field("routeReflectorClusterID"),
            &self.route_reflector_cluster_id,
            NetKind::IpV4,
        );
    }
}

impl Validate for NodeSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        self.bgp.validate_into(&path.field("bgp"), v);
        check_opt_net(
            v,
            &path.field("ipv4VXLANTunnelAddr"),
            &self.ipv4_vxlan_tunnel_addr,
            NetKind::IpV4,
        );
        check_mac(
            v,
            &path.field("vxlanTunnelMACAddr"),
            &self.vxlan_tunnel_mac_addr,
        );
        check_opt_net(
            v,
            &path.field("ipv6VXLANTunnelAddr"),
            &self.ipv6_vxlan_tunnel_addr,
            NetKind::IpV6,
        );
        check_mac(
            v,
            &path.field("vxlanTunnelMACAddrV6"),
            &self.vxlan_tunnel_mac_addr_v6,
        );
        if let Some(w) = &self.wireguard {
            let p = path.field("wireguard");
            check_opt_net(
                v,
                &p.field("interfaceIPv4Address"),
                &w.interface_ipv4_address,
                NetKind::IpV4,
            );
            check_opt_net(
                v,
                &p.field("interfaceIPv6Address"),
                &w.interface_ipv6_address,
                NetKind::IpV6,
            );
        }
        let ap = path.field("addresses");
        for (i, a) in self.addresses.iter().enumerate() {
            let p = ap.index(i);
            check_net(v, &p.field("address"), &a.address, NetKind::Net);
            v.one_of(&p.field("type"), &a.type_, NODE_ADDRESS_TYPES, true);
        }
        let ip = path.field("interfaces");
        for (i, iface) in self.interfaces.iter().enumerate() {
            if !iface.name.is_empty() {
                v.resource_name(&ip.index(i).field("name"), &iface.name);
            }
        }
    }
}

impl Validate for NodeStatus {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        for (field, key) in [
            ("wireguardPublicKey", &self.wireguard_public_key),
            ("wireguardPublicKeyV6", &self.wireguard_public_key_v6),
        ] {
            if !key.is_empty() && !is_wireguard_key(key) {
                v.report(
                    &path.field(field),
                    "not a valid WireGuard public key (base64 of 32 bytes)",
                );
            }
        }
    }
}

impl ResourceKind for Node {
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        self.spec.validate_into(&Path::new("spec"), v);
        self.status.validate_into(&Path::new("status"), v);
    }
}

// ---------------------------------------------------------------------------------------------
// CalicoNodeStatus
// ---------------------------------------------------------------------------------------------

/// A kind of information a CalicoNodeStatus asks calico-node to report.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum NodeStatusClassType {
    /// BIRD daemon status.
    Agent,
    /// BGP session status.
    #[serde(rename = "BGP")]
    BGP,
    /// Routes known to BIRD.
    Routes,
}

/// Asks calico-node on one node to report status periodically.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalicoNodeStatusSpec {
    /// The node to report on (required).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// What to report: distinct values from Agent, BGP, Routes (required).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<NodeStatusClassType>,
    /// Refresh period in seconds, 0–86400 (0: no refresh). Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_period_seconds: Option<u32>,
}

/// Whether a BIRD daemon is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPDaemonState {
    /// Running and ready.
    Ready,
    /// Not running or not reachable.
    NotReady,
}

/// How a reported BGP peer is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPPeerType {
    /// Node-to-node mesh peer.
    NodeMesh,
    /// Peer from a node-specific BGPPeer.
    NodePeer,
    /// Peer from a global BGPPeer.
    GlobalPeer,
}

/// BGP finite-state-machine state of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPSessionState {
    /// Idle.
    Idle,
    /// Connecting.
    Connect,
    /// Actively trying to connect.
    Active,
    /// OPEN sent.
    OpenSent,
    /// OPEN confirmed.
    OpenConfirm,
    /// Session up.
    Established,
    /// Closing.
    Close,
}

/// Whether a reported route is used for forwarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CalicoNodeRouteType {
    /// Selected and programmed (forwarding table).
    #[serde(rename = "FIB")]
    FIB,
    /// Known but not selected (routing table only).
    #[serde(rename = "RIB")]
    RIB,
}

/// Where a reported route came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CalicoNodeRouteSourceType {
    /// The kernel routing table.
    Kernel,
    /// A static route.
    Static,
    /// A directly connected network.
    Direct,
    /// A node-to-node mesh peer.
    NodeMesh,
    /// A configured BGP peer.
    #[serde(rename = "BGPPeer")]
    BGPPeer,
}

/// Status of one BIRD daemon.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPDaemonStatus {
    /// Ready or NotReady.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Option<BGPDaemonState>,
    /// Daemon version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Router ID in use.
    #[serde(rename = "routerID", default, skip_serializing_if = "String::is_empty")]
    pub router_id: String,
    /// Last boot time as BIRD prints it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_boot_time: String,
    /// Last reconfiguration time as BIRD prints it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_reconfiguration_time: String,
}

/// Status of the node's BGP daemons.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalicoNodeAgentStatus {
    /// The IPv4 BIRD.
    #[serde(rename = "birdV4", default)]
    pub bird_v4: BGPDaemonStatus,
    /// The IPv6 BIRD.
    #[serde(rename = "birdV6", default)]
    pub bird_v6: BGPDaemonStatus,
}

/// One BGP peer's session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalicoNodePeer {
    /// Peer address.
    #[serde(rename = "peerIP", default, skip_serializing_if = "String::is_empty")]
    pub peer_ip: String,
    /// How the peer is configured.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub type_: Option<BGPPeerType>,
    /// Session state.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Option<BGPSessionState>,
    /// Since when the state holds, as BIRD prints it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub since: String,
}

/// BGP session counts and peers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalicoNodeBGPStatus {
    /// Established IPv4 sessions.
    #[serde(rename = "numberEstablishedV4", default)]
    pub number_established_v4: i64,
    /// IPv4 sessions not established.
    #[serde(rename = "numberNotEstablishedV4", default)]
    pub number_not_established_v4: i64,
    /// Established IPv6 sessions.
    #[serde(rename = "numberEstablishedV6", default)]
    pub number_established_v6: i64,
    /// IPv6 sessions not established.
    #[serde(rename = "numberNotEstablishedV6", default)]
    pub number_not_established_v6: i64,
    /// IPv4 peers.
    #[serde(rename = "peersV4", default, skip_serializing_if = "Vec::is_empty")]
    pub peers_v4: Vec<CalicoNodePeer>,
    /// IPv6 peers.
    #[serde(rename = "peersV6", default, skip_serializing_if = "Vec::is_empty")]
    pub peers_v6: Vec<CalicoNodePeer>,
}

/// Where a route was learned from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalicoNodeRouteLearnedFrom {
    /// Kind of source.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_type: Option<CalicoNodeRouteSourceType>,
    /// Address of the peer that sent the route (NodeMesh and BGPPeer sources).
    #[serde(rename = "peerIP", default, skip_serializing_if = "String::is_empty")]
    pub peer_ip: String,
}

/// One route known to BIRD.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalicoNodeRoute {
    /// FIB or RIB.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub type_: Option<CalicoNodeRouteType>,
    /// Destination CIDR.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub destination: String,
    /// Next hop.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// Outgoing interface.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface: String,
    /// Origin of the route (always written, as Go does for nested structs).
    #[serde(default)]
    pub learned_from: CalicoNodeRouteLearnedFrom,
}

/// Routes known to BIRD, per family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalicoNodeBGPRouteStatus {
    /// IPv4 routes.
    #[serde(rename = "routesV4", default, skip_serializing_if = "Vec::is_empty")]
    pub routes_v4: Vec<CalicoNodeRoute>,
    /// IPv6 routes.
    #[serde(rename = "routesV6", default, skip_serializing_if = "Vec::is_empty")]
    pub routes_v6: Vec<CalicoNodeRoute>,
}

/// The status calico-node reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalicoNodeStatusStatus {
    /// RFC 3339 time of the last update (`null` before the first one).
    #[serde(default)]
    pub last_updated: Option<String>,
    /// BIRD daemon status.
    #[serde(default)]
    pub agent: CalicoNodeAgentStatus,
    /// BGP session status.
    #[serde(rename = "bgp", default)]
    pub bgp: CalicoNodeBGPStatus,
    /// Routes.
    #[serde(default)]
    pub routes: CalicoNodeBGPRouteStatus,
}

impl CalicoNodeStatusSpec {
    /// True if the spec asks for the given class of information.
    pub fn reports(&self, class: NodeStatusClassType) -> bool {
        self.classes.contains(&class)
    }
}

impl Validate for CalicoNodeStatusSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        let np = path.field("node");
        if self.node.is_empty() {
            v.report(&np, "node is required");
        } else {
            v.resource_name(&np, &self.node);
        }
        let cp = path.field("classes");
        if self.classes.is_empty() {
            v.report(
                &cp,
                "classes is required (one or more of Agent, BGP, Routes)",
            );
        }
        v.unique(&cp, &self.classes);
        match self.update_period_seconds {
            None => v.report(
                &path.field("updatePeriodSeconds"),
                "updatePeriodSeconds is required",
            ),
            Some(s) => v.range(
                &path.field("updatePeriodSeconds"),
                s,
                0,
                MAX_NODE_STATUS_UPDATE_PERIOD_SECONDS,
            ),
        }
    }
}

impl Validate for CalicoNodeStatusStatus {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        let bgp = path.field("bgp");
        for (field, peers) in [
            ("peersV4", &self.bgp.peers_v4),
            ("peersV6", &self.bgp.peers_v6),
        ] {
            for (i, p) in peers.iter().enumerate() {
                check_opt_net(
                    v,
                    &bgp.field(field).index(i).field("peerIP"),
                    &p.peer_ip,
                    NetKind::Ip,
                );
            }
        }
        let routes = path.field("routes");
        for (field, rs) in [
            ("routesV4", &self.routes.routes_v4),
            ("routesV6", &self.routes.routes_v6),
        ] {
            for (i, r) in rs.iter().enumerate() {
                check_opt_net(
                    v,
                    &routes
                        .field(field)
                        .index(i)
                        .field("learnedFrom")
                        .field("peerIP"),
                    &r.learned_from.peer_ip,
                    NetKind::Ip,
                );
            }
        }
    }
}

impl ResourceKind for CalicoNodeStatus {
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        self.spec.validate_into(&Path::new("spec"), v);
        self.status.validate_into(&Path::new("status"), v);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testutil::{decode_one as one, exact_round_trip};
    use crate::{Kind, Resource, decode_yaml};

    fn doc(kind: &str, name: &str, body: &str) -> String {
        format!("apiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata:\n  name: {name}\n{body}")
    }

    fn spec(s: &str) -> String {
        let indented: String = s.lines().map(|l| format!("  {l}\n")).collect();
        format!("spec:\n{indented}")
    }

    fn ok(kind: &str, name: &str, body: &str) -> Resource {
        crate::testutil::expect_valid(&doc(kind, name, body))
    }

    fn bad(kind: &str, name: &str, body: &str, paths: &[&str]) {
        crate::testutil::expect_invalid(&doc(kind, name, body), paths);
    }

    const NODE_FULL: &str = r#"{
      "apiVersion": "projectcalico.org/v3",
      "kind": "Node",
      "metadata": {"name": "worker-1", "labels": {"kubernetes.io/hostname": "worker-1"}},
      "spec": {
        "bgp": {
          "asNumber": 64513,
          "ipv4Address": "10.0.0.5/24",
          "ipv6Address": "fd00::5/64",
          "ipv4IPIPTunnelAddr": "192.168.84.0",
          "routeReflectorClusterID": "224.0.0.1"
        },
        "ipv4VXLANTunnelAddr": "192.168.84.1",
        "vxlanTunnelMACAddr": "66:7d:0e:9a:1c:35",
        "ipv6VXLANTunnelAddr": "fd00:192:168::1",
        "vxlanTunnelMACAddrV6": "66:7d:0e:9a:1c:36",
        "orchRefs": [{"nodeName": "worker-1", "orchestrator": "k8s"}],
        "wireguard": {"interfaceIPv4Address": "192.168.84.2", "interfaceIPv6Address": "fd00:192:168::2"},
        "addresses": [{"address": "10.0.0.5", "type": "InternalIP"}, {"address": "fd00::5/128", "type": "CalicoNodeIP"}],
        "interfaces": [{"name": "eth0", "addresses": ["10.0.0.5", "fd00::5"]}]
      },
      "status": {
        "wireguardPublicKey": "jlkVyQYooZYzI2wFfNhSZez5eWh44yfq1wKVjLvSXgY=",
        "wireguardPublicKeyV6": "jlkVyQYooZYzI2wFfNhSZez5eWh44yfq1wKVjLvSXgY=",
        "podCIDRs": ["192.168.1.0/24"]
      }
    }"#;

    #[test]
    fn node_round_trip() {
        let r = exact_round_trip(Kind::Node, NODE_FULL);
        r.validate().unwrap();
    }

    #[test]
    fn node_bgp_must_not_be_empty() {
        ok("Node", "n1", &spec("bgp: {ipv4Address: 10.0.0.5/24}"));
        bad("Node", "n1", &spec("bgp: {}"), &["spec.bgp"]);
        ok("Node", "n1", &spec("orchRefs: [{orchestrator: k8s}]"));
    }

    #[test]
    fn node_bgp_addresses() {
        // Host bits are allowed in the BGP addresses (address and subnet).
        ok(
            "Node",
            "n1",
            &spec("bgp: {ipv4Address: 10.0.0.5/24, ipv6Address: 'fd00::5/64'}"),
        );
        ok("Node", "n1", &spec("bgp: {ipv4Address: 10.0.0.5}"));
        bad(
            "Node",
            "n1",
            &spec(
                "bgp: {ipv4Address: 'fd00::5/64', ipv6Address: 10.0.0.5/24, ipv4IPIPTunnelAddr: 10.0.0.1/32, routeReflectorClusterID: 'fd00::1'}",
            ),
            &[
                "spec.bgp.ipv4Address",
                "spec.bgp.ipv6Address",
                "spec.bgp.ipv4IPIPTunnelAddr",
                "spec.bgp.routeReflectorClusterID",
            ],
        );
        bad(
            "Node",
            "n1",
            &spec("bgp: {ipv4Address: 10.0.0.300/24}"),
            &["spec.bgp.ipv4Address"],
        );
    }

    #[test]
    fn node_tunnels_and_macs() {
        ok(
            "Node",
            "n1",
            &spec("vxlanTunnelMACAddr: 66-7D-0E-9A-1C-35\nvxlanTunnelMACAddrV6: 667d.0e9a.1c35"),
        );
        bad(
            "Node",
            "n1",
            &spec(
                "ipv4VXLANTunnelAddr: 'fd00::1'\nvxlanTunnelMACAddr: 66:7d:0e:9a:1c\nipv6VXLANTunnelAddr: 10.0.0.1\nvxlanTunnelMACAddrV6: zz:7d:0e:9a:1c:35",
            ),
            &[
                "spec.ipv4VXLANTunnelAddr",
                "spec.vxlanTunnelMACAddr",
                "spec.ipv6VXLANTunnelAddr",
                "spec.vxlanTunnelMACAddrV6",
            ],
        );
        bad(
            "Node",
            "n1",
            &spec("wireguard: {interfaceIPv4Address: 'fd00::1', interfaceIPv6Address: 10.0.0.1}"),
            &[
                "spec.wireguard.interfaceIPv4Address",
                "spec.wireguard.interfaceIPv6Address",
            ],
        );
    }

    #[test]
    fn node_addresses_and_interfaces() {
        ok(
            "Node",
            "n1",
            &spec("addresses: [{address: 10.0.0.5}, {address: 10.0.0.0/24, type: ExternalIP}]"),
        );
        bad(
            "Node",
            "n1",
            &spec(
                "addresses: [{address: 10.0.0.5/24}, {address: 10.0.0.5, type: PublicIP}, {type: InternalIP}]",
            ),
            &[
                "spec.addresses[0].address",
                "spec.addresses[1].type",
                "spec.addresses[2].address",
            ],
        );
        bad(
            "Node",
            "n1",
            &spec("interfaces: [{name: Eth0}]"),
            &["spec.interfaces[0].name"],
        );
    }

    #[test]
    fn node_status_keys() {
        ok(
            "Node",
            "n1",
            "spec: {}\nstatus: {wireguardPublicKey: 'jlkVyQYooZYzI2wFfNhSZez5eWh44yfq1wKVjLvSXgY='}",
        );
        bad(
            "Node",
            "n1",
            "spec: {}\nstatus: {wireguardPublicKey: 'not-a-key', wireguardPublicKeyV6: 'AAAA'}",
            &["status.wireguardPublicKey", "status.wireguardPublicKeyV6"],
        );
        bad("Node", "Worker_1", "spec: {}", &["metadata.name"]);
    }

    #[test]
    fn mac_parsing_like_go() {
        assert_eq!(parse_mac("00:00:5e:00:53:01").map(|m| m.len()), Some(6));
        assert_eq!(
            parse_mac("02:00:5e:10:00:00:00:01").map(|m| m.len()),
            Some(8)
        );
        assert_eq!(parse_mac("0000.5e00.5301").map(|m| m.len()), Some(6));
        assert_eq!(parse_mac("00-00-5e-00-53-01").map(|m| m.len()), Some(6));
        for bad in [
            "00:00:5e:00:53",
            "00:00:5e:00:53:01:02",
            "00:00-5e:00:53:01",
            "0000.5e00.530",
            "",
            "g0:00:5e:00:53:01",
        ] {
            assert!(parse_mac(bad).is_none(), "{bad}");
        }
    }

    const NODE_STATUS_FULL: &str = r#"{
      "apiVersion": "projectcalico.org/v3",
      "kind": "CalicoNodeStatus",
      "metadata": {"name": "worker-1-status"},
      "spec": {"node": "worker-1", "classes": ["Agent", "BGP", "Routes"], "updatePeriodSeconds": 10},
      "status": {
        "lastUpdated": "2024-05-01T10:00:00Z",
        "agent": {
          "birdV4": {"state": "Ready", "version": "v0.3.3+birdv1.6.8", "routerID": "10.0.0.5",
                     "lastBootTime": "2024-05-01 09:00:00", "lastReconfigurationTime": "2024-05-01 09:00:01"},
          "birdV6": {"state": "NotReady"}
        },
        "bgp": {
          "numberEstablishedV4": 1, "numberNotEstablishedV4": 1, "numberEstablishedV6": 0, "numberNotEstablishedV6": 0,
          "peersV4": [{"peerIP": "10.0.0.6", "type": "NodeMesh", "state": "Established", "since": "09:00:05"},
                      {"peerIP": "10.0.0.254", "type": "GlobalPeer", "state": "Active", "since": "09:00:05"}]
        },
        "routes": {
          "routesV4": [
            {"type": "FIB", "destination": "192.168.2.0/26", "gateway": "10.0.0.6", "interface": "eth0",
             "learnedFrom": {"sourceType": "NodeMesh", "peerIP": "10.0.0.6"}},
            {"type": "RIB", "destination": "0.0.0.0/0", "gateway": "10.0.0.1", "interface": "eth0",
             "learnedFrom": {"sourceType": "Kernel"}}
          ]
        }
      }
    }"#;

    #[test]
    fn calico_node_status_round_trip() {
        let r = exact_round_trip(Kind::CalicoNodeStatus, NODE_STATUS_FULL);
        r.validate().unwrap();
        let Resource::CalicoNodeStatus(s) = r else {
            unreachable!()
        };
        assert!(s.spec.reports(NodeStatusClassType::BGP));
    }

    #[test]
    fn calico_node_status_empty_status_encodes_like_go() {
        let r = one(&doc(
            "CalicoNodeStatus",
            "s",
            "spec: {node: n1, classes: [BGP], updatePeriodSeconds: 0}\nstatus: {}",
        ));
        let v = serde_json::to_value(&r).unwrap();
        let want = serde_json::json!({
            "lastUpdated": null,
            "agent": {"birdV4": {}, "birdV6": {}},
            "bgp": {"numberEstablishedV4": 0, "numberNotEstablishedV4": 0, "numberEstablishedV6": 0, "numberNotEstablishedV6": 0},
            "routes": {}
        });
        assert_eq!(v["status"], want);
        assert_eq!(Resource::from_value(Kind::CalicoNodeStatus, &v).unwrap(), r);
    }

    #[test]
    fn calico_node_status_spec_rules() {
        ok(
            "CalicoNodeStatus",
            "s",
            &spec("node: n1\nclasses: [Agent]\nupdatePeriodSeconds: 86400"),
        );
        bad(
            "CalicoNodeStatus",
            "s",
            &spec("classes: [Agent]\nupdatePeriodSeconds: 10"),
            &["spec.node"],
        );
        bad(
            "CalicoNodeStatus",
            "s",
            &spec("node: Node_1\nclasses: [Agent]\nupdatePeriodSeconds: 10"),
            &["spec.node"],
        );
        bad(
            "CalicoNodeStatus",
            "s",
            &spec("node: n1\nupdatePeriodSeconds: 10"),
            &["spec.classes"],
        );
        bad(
            "CalicoNodeStatus",
            "s",
            &spec("node: n1\nclasses: [BGP, Routes, BGP]\nupdatePeriodSeconds: 10"),
            &["spec.classes[2]"],
        );
        bad(
            "CalicoNodeStatus",
            "s",
            &spec("node: n1\nclasses: [BGP]\nupdatePeriodSeconds: 86401"),
            &["spec.updatePeriodSeconds"],
        );
        bad(
            "CalicoNodeStatus",
            "s",
            &spec("node: n1\nclasses: [BGP]"),
            &["spec.updatePeriodSeconds"],
        );
        assert!(
            decode_yaml(&doc(
                "CalicoNodeStatus",
                "s",
                &spec("node: n1\nclasses: [bgp]")
            ))
            .is_err()
        );
        assert!(
            decode_yaml(&doc(
                "CalicoNodeStatus",
                "s",
                &spec("node: n1\nupdatePeriodSeconds: -1")
            ))
            .is_err()
        );
    }

    #[test]
    fn calico_node_status_status_rules() {
        bad(
            "CalicoNodeStatus",
            "s",
            "spec: {node: n1, classes: [BGP], updatePeriodSeconds: 5}\nstatus:\n  bgp: {peersV6: [{peerIP: 'fd00::1/64'}]}\n  routes: {routesV4: [{learnedFrom: {sourceType: BGPPeer, peerIP: bogus}}]}",
            &[
                "status.bgp.peersV6[0].peerIP",
                "status.routes.routesV4[0].learnedFrom.peerIP",
            ],
        );
        assert!(
            decode_yaml(&doc(
                "CalicoNodeStatus",
                "s",
                "spec: {}\nstatus: {agent: {birdV4: {state: Up}}}"
            ))
            .is_err()
        );
    }
}
