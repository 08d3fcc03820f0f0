//! The dataplane-neutral intermediate representation: what the calculation graph tells a
//! dataplane, and what the reference evaluator executes.
//!
//! A dataplane driver (nftables, eBPF, a simulator, …) holds the state built by applying
//! [`DataplaneUpdate`]s in order and enforces it with the semantics written on each type.
//! Nothing here refers to Calico resources directly: selectors have become IP sets, named
//! ports have become IP-and-port sets, and policies are ordered into tiers per endpoint.
//!
//! # Enforcement, per endpoint and direction
//! Traffic *to* a workload is its **ingress**, traffic *from* it its **egress**. A packet between
//! two local workloads must be allowed by the sender's egress and by the receiver's ingress.
//! For one direction of one endpoint ([`WorkloadEndpoint::tiers`] or
//! [`HostEndpoint::tiers`]):
//! 1. For each [`TierInfo`] in order whose policy list for this direction is non-empty:
//!    for each policy in order, for each of its rules for the direction (ingress →
//!    [`Policy::inbound_rules`], egress → [`Policy::outbound_rules`]) in order: if the rule
//!    [matches](Rule) — **Allow**: accept for this direction (later tiers are not consulted);
//!    **Deny**: drop; **Pass**: stop this tier and go to the next tier; **Log**: log and continue
//!    with the next rule. If no rule of any policy in the tier decided, the tier's
//!    [`TierDefaultAction`]: **Deny** drops ("end of tier"), **Pass** goes on to the next tier.
//! 2. If every tier passed (or no tier had a policy for this direction): the endpoint's
//!    profiles in order ([`WorkloadEndpoint::profile_ids`]), each with its rules for the
//!    direction, first Allow/Deny wins; if none decides, drop. A profile the dataplane has not
//!    been sent drops everything (fail closed).
//!
//! Established and related connections are accepted before any of this (tracked chains).
//! Host endpoints add untracked, pre-DNAT and forward tier lists; see [`HostEndpoint`].
//!
//! # IP families
//! Rules are written once for both families. Use [`Rule::for_family`] to get the rule as it
//! applies to IPv4 or IPv6 (or `None` if it cannot match in that family). IP sets hold members
//! of both families; a dataplane that needs per-family sets splits them by member family.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use calico_model::resources::{HttpMatch, HttpPath, TierDefaultAction};

/// IP protocol numbers used by the IR.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
    /// UDP-Lite.
    pub const UDPLITE: u8 = 136;
}

/// An IP family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpVersion {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> IpVersion {
        match ip {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }

    /// The family of a network.
    pub fn of_net(net: &IpNet) -> IpVersion {
        match net {
            IpNet::V4(_) => IpVersion::V4,
            IpNet::V6(_) => IpVersion::V6,
        }
    }
}

/// The ID of an IP set: `s:<hash>` for a selector set (the selector's unique ID) and
/// `n:<hash>` for a named-port set. Stable across restarts and nodes, so dataplane objects
/// named after it survive a resync.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IpSetId(pub String);

impl fmt::Display for IpSetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of members an IP set holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IpSetType {
    /// Networks (`10.0.0.1/32`, `192.168.0.0/16`): the address must be inside one of them.
    /// Members may overlap; a dataplane whose sets reject overlaps must merge them.
    Net,
    /// Address, protocol and port triples (named ports): the packet's address, protocol and
    /// port must equal one member.
    IpAndPort,
}

/// One member of an IP set.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IpSetMember {
    /// A network (for [`IpSetType::Net`]).
    Net(IpNet),
    /// An address, IP protocol number and port (for [`IpSetType::IpAndPort`]).
    IpPort {
        /// The address.
        ip: IpAddr,
        /// IP protocol number (6, 17 or 132).
        protocol: u8,
        /// Port.
        port: u16,
    },
}

impl IpSetMember {
    /// The member's family.
    pub fn family(&self) -> IpVersion {
        match self {
            IpSetMember::Net(n) => IpVersion::of_net(n),
            IpSetMember::IpPort { ip, .. } => IpVersion::of(ip),
        }
    }
}

impl fmt::Display for IpSetMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpSetMember::Net(n) => write!(f, "{n}"),
            IpSetMember::IpPort { ip, protocol, port } => {
                let p = match *protocol {
                    proto::TCP => "tcp".to_owned(),
                    proto::UDP => "udp".to_owned(),
                    proto::SCTP => "sctp".to_owned(),
                    other => other.to_string(),
                };
                write!(f, "{ip},{p}:{port}")
            }
        }
    }
}

/// What a rule does when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Accept for this direction.
    Allow,
    /// Drop.
    Deny,
    /// Log, then continue with the next rule.
    Log,
    /// Leave this tier: continue with the next tier, or the profiles after the last.
    Pass,
}

impl From<calico_model::resources::Action> for Action {
    fn from(a: calico_model::resources::Action) -> Self {
        use calico_model::resources::Action as A;
        match a {
            A::Allow => Action::Allow,
            A::Deny => Action::Deny,
            A::Log => Action::Log,
            A::Pass => Action::Pass,
        }
    }
}

/// An inclusive port range (a single port has `min == max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortRange {
    /// Lowest port.
    pub min: u16,
    /// Highest port.
    pub max: u16,
}

impl PortRange {
    /// True if `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.min..=self.max).contains(&port)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}:{}", self.min, self.max)
        }
    }
}

/// ICMP type and optional code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IcmpMatch {
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code; `None` matches any code.
    pub code: Option<u8>,
}

/// Match criteria on one side (source or destination) of a packet. Every non-empty criterion
/// must hold:
/// - `nets`: the address is in at least one; `not_nets`: in none.
/// - `ip_sets`: the address is a member of **every** listed set; `not_ip_sets`: of none.
/// - ports: if `ports` or `named_port_sets` is non-empty, the port is in one of `ports`
///   **or** (address, protocol, port) is in one of `named_port_sets`; and the port is in none
///   of `not_ports` and (address, protocol, port) in none of `not_named_port_sets`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EndpointMatch {
    /// Networks the address must be in (any).
    pub nets: Vec<IpNet>,
    /// Networks the address must not be in.
    pub not_nets: Vec<IpNet>,
    /// IP sets the address must be in (all).
    pub ip_sets: Vec<IpSetId>,
    /// IP sets the address must not be in.
    pub not_ip_sets: Vec<IpSetId>,
    /// Port ranges (any, together with `named_port_sets`).
    pub ports: Vec<PortRange>,
    /// Port ranges the port must not be in.
    pub not_ports: Vec<PortRange>,
    /// Named-port sets (type [`IpSetType::IpAndPort`]).
    pub named_port_sets: Vec<IpSetId>,
    /// Named-port sets the (address, protocol, port) must not be in.
    pub not_named_port_sets: Vec<IpSetId>,
}

impl EndpointMatch {
    /// True when the side has no criteria.
    pub fn is_empty(&self) -> bool {
        *self == EndpointMatch::default()
    }

    /// Every IP set the side refers to.
    pub fn ip_set_ids(&self) -> impl Iterator<Item = &IpSetId> {
        self.ip_sets
            .iter()
            .chain(&self.not_ip_sets)
            .chain(&self.named_port_sets)
            .chain(&self.not_named_port_sets)
    }
}

/// One compiled rule. All criteria are ANDed; an empty rule matches everything.
///
/// - `ip_version`: the packet's family must be this.
/// - `protocol` / `not_protocol`: the packet's IP protocol number must (not) be this.
/// - `icmp` / `not_icmp`: for ICMP packets, the type (and code, if given) must (not) match;
///   set only together with an ICMP protocol.
/// - `src` / `dst`: see [`EndpointMatch`]; ports are the packet's source / destination port.
/// - `http`: an application-layer match for the L7 proxy (Dikastes). An L3/L4 dataplane lets
///   the rule match on its other criteria and leaves the HTTP part to the proxy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rule {
    /// What happens on a match.
    pub action: Action,
    /// Family restriction.
    pub ip_version: Option<IpVersion>,
    /// IP protocol number.
    pub protocol: Option<u8>,
    /// IP protocol number the packet must not have.
    pub not_protocol: Option<u8>,
    /// ICMP type/code.
    pub icmp: Option<IcmpMatch>,
    /// ICMP type/code the packet must not have.
    pub not_icmp: Option<IcmpMatch>,
    /// Source criteria.
    pub src: EndpointMatch,
    /// Destination criteria.
    pub dst: EndpointMatch,
    /// Application-layer HTTP match.
    pub http: Option<HttpMatch>,
    /// Stable opaque ID of the rule (a hash of the policy and its content), for counters and
    /// log prefixes.
    pub id: String,
    /// Index of the rule in the source policy's ingress or egress list.
    pub index: usize,
}

impl Rule {
    /// The rule as it applies to one IP family: `None` if it is not rendered for that family —
    /// restricted to the other one, or a `nets` or `not_nets` list that is non-empty holds no
    /// network of this family (Felix skips such a rule for the family, even for `not_nets`);
    /// otherwise the rule with networks of the other family removed.
    pub fn for_family(&self, family: IpVersion) -> Option<Rule> {
        if self.ip_version.is_some_and(|v| v != family) {
            return None;
        }
        let mut r = self.clone();
        for side in [&mut r.src, &mut r.dst] {
            if !side.nets.is_empty() {
                side.nets.retain(|n| IpVersion::of_net(n) == family);
                if side.nets.is_empty() {
                    return None;
                }
            }
            if !side.not_nets.is_empty() {
                side.not_nets.retain(|n| IpVersion::of_net(n) == family);
                if side.not_nets.is_empty() {
                    return None;
                }
            }
        }
        if matches!(
            (family, r.protocol),
            (IpVersion::V4, Some(proto::ICMPV6)) | (IpVersion::V6, Some(proto::ICMP))
        ) {
            return None;
        }
        Some(r)
    }

    /// Every IP set the rule refers to.
    pub fn ip_set_ids(&self) -> impl Iterator<Item = &IpSetId> {
        self.src.ip_set_ids().chain(self.dst.ip_set_ids())
    }
}

/// The kind of a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyKind {
    /// A namespaced `NetworkPolicy` (including converted Kubernetes policies, `knp.default.*`).
    NetworkPolicy,
    /// A `GlobalNetworkPolicy`.
    GlobalNetworkPolicy,
}

impl PolicyKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::NetworkPolicy => "NetworkPolicy",
            PolicyKind::GlobalNetworkPolicy => "GlobalNetworkPolicy",
        }
    }
}

/// Identity of a policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyId {
    /// Kind.
    pub kind: PolicyKind,
    /// Namespace (empty for global policies).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind.as_str(), self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind.as_str(), self.namespace, self.name)
        }
    }
}

/// A compiled policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Identity.
    pub id: PolicyId,
    /// Tier name.
    pub tier: String,
    /// Ingress rules, in order.
    pub inbound_rules: Vec<Rule>,
    /// Egress rules, in order.
    pub outbound_rules: Vec<Rule>,
    /// Applied before connection tracking (host endpoints): an allowed packet is not tracked.
    pub untracked: bool,
    /// Applied before DNAT (host endpoints, ingress only).
    pub pre_dnat: bool,
    /// Also applied to traffic forwarded through a host endpoint.
    pub apply_on_forward: bool,
    /// The selector the policy applies to, after Calico's namespace/service-account rewrite
    /// (for display only).
    pub selector: String,
}

impl Policy {
    /// The rules for one direction.
    pub fn rules(&self, direction: Direction) -> &[Rule] {
        match direction {
            Direction::Ingress => &self.inbound_rules,
            Direction::Egress => &self.outbound_rules,
        }
    }
}

/// A compiled profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// Ingress rules.
    pub inbound_rules: Vec<Rule>,
    /// Egress rules.
    pub outbound_rules: Vec<Rule>,
}

impl Profile {
    /// The rules for one direction.
    pub fn rules(&self, direction: Direction) -> &[Rule] {
        match direction {
            Direction::Ingress => &self.inbound_rules,
            Direction::Egress => &self.outbound_rules,
        }
    }
}

/// Traffic direction relative to an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Direction {
    /// Towards the endpoint.
    Ingress,
    /// From the endpoint.
    Egress,
}

/// The policies of one tier that apply to an endpoint, per direction, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierInfo {
    /// Tier name.
    pub name: String,
    /// What happens when no policy in the tier decides.
    pub default_action: TierDefaultAction,
    /// Policies with ingress rules for this endpoint, in order.
    pub ingress_policies: Vec<PolicyId>,
    /// Policies with egress rules for this endpoint, in order.
    pub egress_policies: Vec<PolicyId>,
}

impl TierInfo {
    /// The policies for one direction.
    pub fn policies(&self, direction: Direction) -> &[PolicyId] {
        match direction {
            Direction::Ingress => &self.ingress_policies,
            Direction::Egress => &self.egress_policies,
        }
    }
}

/// Identity of a workload endpoint (namespace and v3 name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkloadEndpointId {
    /// Namespace.
    pub namespace: String,
    /// WorkloadEndpoint name (`<node>-k8s-<pod>-<endpoint>` for Kubernetes pods).
    pub name: String,
}

impl fmt::Display for WorkloadEndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A local workload endpoint with the policy the dataplane must enforce on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadEndpoint {
    /// Identity.
    pub id: WorkloadEndpointId,
    /// Host-side interface name (`cali…`).
    pub interface_name: String,
    /// MAC address, if known.
    pub mac: String,
    /// The workload's addresses (each a /32).
    pub ipv4_nets: Vec<IpNet>,
    /// The workload's addresses (each a /128).
    pub ipv6_nets: Vec<IpNet>,
    /// Profiles, in order, consulted when the tiers pass.
    pub profile_ids: Vec<String>,
    /// Tiers with at least one policy for this endpoint, in order.
    pub tiers: Vec<TierInfo>,
    /// Source prefixes the workload may send from besides its own addresses.
    pub allow_spoofed_source_prefixes: Vec<IpNet>,
}

impl WorkloadEndpoint {
    /// Every address of the endpoint.
    pub fn nets(&self) -> impl Iterator<Item = &IpNet> {
        self.ipv4_nets.iter().chain(&self.ipv6_nets)
    }
}

/// A local host endpoint with its four tier lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostEndpoint {
    /// HostEndpoint name.
    pub id: String,
    /// Interface name; `*` for all of the host's interfaces; empty to find the interface by
    /// the expected addresses.
    pub interface_name: String,
    /// Expected IPv4 addresses.
    pub expected_ipv4_addrs: Vec<IpAddr>,
    /// Expected IPv6 addresses.
    pub expected_ipv6_addrs: Vec<IpAddr>,
    /// Profiles, in order.
    pub profile_ids: Vec<String>,
    /// Normal policy: traffic to and from the host itself.
    pub tiers: Vec<TierInfo>,
    /// `doNotTrack` policy, before connection tracking. Tiers behave as if their default action
    /// were Pass; no profiles.
    pub untracked_tiers: Vec<TierInfo>,
    /// `preDNAT` policy (ingress). Tiers behave as if their default action were Pass; no profiles.
    pub pre_dnat_tiers: Vec<TierInfo>,
    /// `applyOnForward` policy, for traffic forwarded through the interface. If empty,
    /// forwarded traffic is allowed; otherwise tiers as usual, no profiles.
    pub forward_tiers: Vec<TierInfo>,
}

/// Kind of a route the dataplane should program.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RouteTarget {
    /// A local workload, reached through its host-side interface.
    LocalWorkload {
        /// Interface name.
        interface_name: String,
    },
}

/// A route.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Route {
    /// Destination.
    pub dst: IpNet,
    /// Where it goes.
    pub target: RouteTarget,
}

/// One message from the calculation graph to a dataplane.
///
/// Within one batch the graph emits, in this order: `ConfigUpdate`; new IP sets
/// (`IpSetUpdate`), then changes to existing ones (`IpSetDelta`); `PolicyUpdate`s;
/// `ProfileUpdate`s; endpoint updates; then removals in reverse dependency order (endpoints,
/// profiles, policies, IP sets); then routes; and `InSync` once, after the first complete
/// state. So a set exists before a policy refers to it, and a policy before an endpoint uses
/// it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DataplaneUpdate {
    /// Node-agent configuration changed (the effective FelixConfiguration spec, as JSON).
    ConfigUpdate(serde_json::Value),
    /// A new IP set with its full membership (also sent again in full after a resync).
    IpSetUpdate {
        /// ID.
        id: IpSetId,
        /// Member type.
        set_type: IpSetType,
        /// Members.
        members: BTreeSet<IpSetMember>,
    },
    /// Changes to an existing IP set.
    IpSetDelta {
        /// ID.
        id: IpSetId,
        /// Members to add.
        added: BTreeSet<IpSetMember>,
        /// Members to remove.
        removed: BTreeSet<IpSetMember>,
    },
    /// An IP set is no longer used.
    IpSetRemove(IpSetId),
    /// A policy is used by a local endpoint (new or changed).
    PolicyUpdate(Policy),
    /// A policy is no longer used.
    PolicyRemove(PolicyId),
    /// A profile is used by a local endpoint (new or changed).
    ProfileUpdate(Profile),
    /// A profile is no longer used.
    ProfileRemove(String),
    /// A local workload endpoint (new or changed).
    WorkloadEndpointUpdate(WorkloadEndpoint),
    /// A local workload endpoint is gone.
    WorkloadEndpointRemove(WorkloadEndpointId),
    /// A local host endpoint (new or changed).
    HostEndpointUpdate(HostEndpoint),
    /// A local host endpoint is gone.
    HostEndpointRemove(String),
    /// A route to program.
    RouteUpdate(Route),
    /// A route to remove.
    RouteRemove(Route),
    /// The dataplane now has the complete state (sent once, after the first full flush).
    InSync,
}
