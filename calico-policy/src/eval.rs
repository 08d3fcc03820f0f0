//! The reference evaluator: the dataplane state built from [`DataplaneUpdate`]s, and a
//! packet-by-packet verdict with a trace of what decided it.
//!
//! This is the executable specification of the [IR](crate::ir): a real dataplane must agree
//! with it on every packet.
//!
//! ```
//! use calico_policy::eval::{DataplaneState, Evaluator, Packet};
//! let state = DataplaneState::default();
//! let p = Packet::tcp("10.0.0.1".parse().unwrap(), 40000, "10.0.0.2".parse().unwrap(), 80);
//! // Neither address is a local endpoint: no policy applies on this host.
//! assert!(Evaluator::new(&state).evaluate(&p).allowed);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use calico_model::resources::{FelixConfigurationSpec, FelixVerdict};
use serde::Serialize;

use crate::ir::{
    Action, DataplaneUpdate, Direction, EndpointMatch, HostEndpoint, IpSetId, IpSetMember,
    IpSetType, IpVersion, Policy, PolicyId, Profile, Rule, TierDefaultAction, TierInfo,
    WorkloadEndpoint, WorkloadEndpointId, proto,
};

/// A violation of the update-stream contract (an update that refers to something the
/// dataplane was not given, or removes something still in use).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// An IP set delta or removal for a set that was never sent.
    #[error("IP set {0} is not known")]
    UnknownIpSet(IpSetId),
    /// A policy or profile refers to an IP set that was not sent first.
    #[error("{owner} refers to IP set {set}, which was not sent first")]
    DanglingIpSet {
        /// The policy or profile.
        owner: String,
        /// The set.
        set: IpSetId,
    },
    /// An endpoint refers to a policy or profile that was not sent first.
    #[error("endpoint {endpoint} refers to {what}, which was not sent first")]
    DanglingReference {
        /// The endpoint.
        endpoint: String,
        /// The policy or profile.
        what: String,
    },
    /// Something still in use was removed.
    #[error("{0} was removed while still in use")]
    RemovedWhileInUse(String),
}

/// The state a dataplane holds: everything the update stream has delivered.
#[derive(Clone, Debug, Default)]
pub struct DataplaneState {
    /// IP sets with their members.
    pub ip_sets: BTreeMap<IpSetId, (IpSetType, BTreeSet<IpSetMember>)>,
    /// Policies.
    pub policies: BTreeMap<PolicyId, Policy>,
    /// Profiles.
    pub profiles: BTreeMap<String, Profile>,
    /// Local workload endpoints.
    pub workloads: BTreeMap<WorkloadEndpointId, WorkloadEndpoint>,
    /// Local host endpoints.
    pub hosts: BTreeMap<String, HostEndpoint>,
    /// Routes.
    pub routes: BTreeSet<crate::ir::Route>,
    /// Effective Felix configuration.
    pub config: FelixConfigurationSpec,
    /// True once `InSync` was received.
    pub in_sync: bool,
}

impl DataplaneState {
    /// Applies updates in order, checking the stream contract.
    pub fn apply_all<'a>(
        &mut self,
        updates: impl IntoIterator<Item = &'a DataplaneUpdate>,
    ) -> Result<(), ContractError> {
        for u in updates {
            self.apply(u)?;
        }
        Ok(())
    }

    /// Applies one update, checking that it refers only to what was sent before and removes
    /// nothing still in use.
    pub fn apply(&mut self, update: &DataplaneUpdate) -> Result<(), ContractError> {
        match update {
            DataplaneUpdate::ConfigUpdate(v) => {
                self.config = serde_json::from_value(v.clone()).unwrap_or_default();
            }
            DataplaneUpdate::IpSetUpdate {
                id,
                set_type,
                members,
            } => {
                self.ip_sets
                    .insert(id.clone(), (*set_type, members.clone()));
            }
            DataplaneUpdate::IpSetDelta { id, added, removed } => {
                let (_, members) = self
                    .ip_sets
                    .get_mut(id)
                    .ok_or_else(|| ContractError::UnknownIpSet(id.clone()))?;
                for m in removed {
                    members.remove(m);
                }
                members.extend(added.iter().cloned());
            }
            DataplaneUpdate::IpSetRemove(id) => {
                if self.ip_sets.remove(id).is_none() {
                    return Err(ContractError::UnknownIpSet(id.clone()));
                }
                let used = self.policies.values().any(|p| {
                    p.inbound_rules
                        .iter()
                        .chain(&p.outbound_rules)
                        .any(|r| r.ip_set_ids().any(|s| s == id))
                }) || self.profiles.values().any(|p| {
                    p.inbound_rules
                        .iter()
                        .chain(&p.outbound_rules)
                        .any(|r| r.ip_set_ids().any(|s| s == id))
                });
                if used {
                    return Err(ContractError::RemovedWhileInUse(format!("IP set {id}")));
                }
            }
            DataplaneUpdate::PolicyUpdate(p) => {
                self.check_sets(
                    &p.id.to_string(),
                    p.inbound_rules.iter().chain(&p.outbound_rules),
                )?;
                self.policies.insert(p.id.clone(), p.clone());
            }
            DataplaneUpdate::PolicyRemove(id) => {
                self.policies.remove(id);
                let used = self
                    .all_tiers()
                    .any(|t| t.ingress_policies.contains(id) || t.egress_policies.contains(id));
                if used {
                    return Err(ContractError::RemovedWhileInUse(format!("policy {id}")));
                }
            }
            DataplaneUpdate::ProfileUpdate(p) => {
                self.check_sets(
                    &format!("profile {}", p.name),
                    p.inbound_rules.iter().chain(&p.outbound_rules),
                )?;
                self.profiles.insert(p.name.clone(), p.clone());
            }
            DataplaneUpdate::ProfileRemove(name) => {
                self.profiles.remove(name);
                let used = self
                    .workloads
                    .values()
                    .any(|w| w.profile_ids.contains(name))
                    || self.hosts.values().any(|h| h.profile_ids.contains(name));
                if used {
                    return Err(ContractError::RemovedWhileInUse(format!("profile {name}")));
                }
            }
            DataplaneUpdate::WorkloadEndpointUpdate(w) => {
                self.check_endpoint(&w.id.to_string(), w.tiers.iter(), &w.profile_ids)?;
                self.workloads.insert(w.id.clone(), w.clone());
            }
            DataplaneUpdate::WorkloadEndpointRemove(id) => {
                self.workloads.remove(id);
            }
            DataplaneUpdate::HostEndpointUpdate(h) => {
                let tiers = h
                    .tiers
                    .iter()
                    .chain(&h.untracked_tiers)
                    .chain(&h.pre_dnat_tiers)
                    .chain(&h.forward_tiers);
                self.check_endpoint(&h.id, tiers, &h.profile_ids)?;
                self.hosts.insert(h.id.clone(), h.clone());
            }
            DataplaneUpdate::HostEndpointRemove(id) => {
                self.hosts.remove(id);
            }
            DataplaneUpdate::RouteUpdate(r) => {
                self.routes.insert(r.clone());
            }
            DataplaneUpdate::RouteRemove(r) => {
                self.routes.remove(r);
            }
            DataplaneUpdate::InSync => self.in_sync = true,
        }
        Ok(())
    }

    fn all_tiers(&self) -> impl Iterator<Item = &TierInfo> {
        self.workloads
            .values()
            .flat_map(|w| w.tiers.iter())
            .chain(self.hosts.values().flat_map(|h| {
                h.tiers
                    .iter()
                    .chain(&h.untracked_tiers)
                    .chain(&h.pre_dnat_tiers)
                    .chain(&h.forward_tiers)
            }))
    }

    fn check_sets<'a>(
        &self,
        owner: &str,
        rules: impl Iterator<Item = &'a Rule>,
    ) -> Result<(), ContractError> {
        for r in rules {
            for s in r.ip_set_ids() {
                if !self.ip_sets.contains_key(s) {
                    return Err(ContractError::DanglingIpSet {
                        owner: owner.to_owned(),
                        set: s.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    fn check_endpoint<'a>(
        &self,
        endpoint: &str,
        tiers: impl Iterator<Item = &'a TierInfo>,
        profiles: &[String],
    ) -> Result<(), ContractError> {
        for t in tiers {
            for p in t.ingress_policies.iter().chain(&t.egress_policies) {
                if !self.policies.contains_key(p) {
                    return Err(ContractError::DanglingReference {
                        endpoint: endpoint.to_owned(),
                        what: format!("policy {p}"),
                    });
                }
            }
        }
        for p in profiles {
            if !self.profiles.contains_key(p) {
                return Err(ContractError::DanglingReference {
                    endpoint: endpoint.to_owned(),
                    what: format!("profile {p}"),
                });
            }
        }
        Ok(())
    }

    /// The local workload owning `ip`, if any.
    pub fn workload_by_ip(&self, ip: IpAddr) -> Option<&WorkloadEndpoint> {
        self.workloads
            .values()
            .find(|w| w.nets().any(|n| n.contains(&ip)))
    }

    /// The local host endpoint expecting `ip`, if any.
    pub fn host_by_ip(&self, ip: IpAddr) -> Option<&HostEndpoint> {
        self.hosts.values().find(|h| {
            h.expected_ipv4_addrs
                .iter()
                .chain(&h.expected_ipv6_addrs)
                .any(|a| *a == ip)
        })
    }

    fn set_contains_net(&self, id: &IpSetId, ip: IpAddr) -> bool {
        self.ip_sets.get(id).is_some_and(|(_, members)| {
            // Endpoint members are single addresses: look those up before scanning.
            members.contains(&IpSetMember::Net(ip.into()))
                || members.iter().any(|m| match m {
                    IpSetMember::Net(n) => n.contains(&ip),
                    IpSetMember::IpPort { .. } => false,
                })
        })
    }

    fn set_contains_ip_port(&self, id: &IpSetId, ip: IpAddr, protocol: u8, port: u16) -> bool {
        self.ip_sets.get(id).is_some_and(|(_, members)| {
            members.contains(&IpSetMember::IpPort { ip, protocol, port })
        })
    }
}

/// A packet (the first packet of a new connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Packet {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number.
    pub protocol: u8,
    /// Source port (TCP, UDP, SCTP).
    pub src_port: u16,
    /// Destination port (TCP, UDP, SCTP).
    pub dst_port: u16,
    /// ICMP type (ICMP, ICMPv6).
    pub icmp_type: Option<u8>,
    /// ICMP code.
    pub icmp_code: Option<u8>,
}

impl Packet {
    /// A TCP packet.
    pub fn tcp(src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) -> Self {
        Self::ported(proto::TCP, src, src_port, dst, dst_port)
    }

    /// A packet of a port-carrying protocol (TCP, UDP, SCTP).
    pub fn ported(protocol: u8, src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) -> Self {
        Packet {
            src,
            dst,
            protocol,
            src_port,
            dst_port,
            icmp_type: None,
            icmp_code: None,
        }
    }

    /// An ICMP (or ICMPv6, by address family) packet.
    pub fn icmp(src: IpAddr, dst: IpAddr, icmp_type: u8, icmp_code: u8) -> Self {
        let protocol = if src.is_ipv4() {
            proto::ICMP
        } else {
            proto::ICMPV6
        };
        Packet {
            src,
            dst,
            protocol,
            src_port: 0,
            dst_port: 0,
            icmp_type: Some(icmp_type),
            icmp_code: Some(icmp_code),
        }
    }

    fn family(&self) -> IpVersion {
        IpVersion::of(&self.src)
    }

    fn has_ports(&self) -> bool {
        matches!(
            self.protocol,
            proto::TCP | proto::UDP | proto::SCTP | proto::UDPLITE
        )
    }
}

/// What decided a direction's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Decision {
    /// A policy rule.
    PolicyRule {
        /// Tier.
        tier: String,
        /// Policy.
        policy: String,
        /// Rule index in the policy's list for this direction.
        rule: usize,
        /// The rule's action (Allow or Deny).
        action: String,
    },
    /// No policy in a tier decided and the tier's default action is Deny.
    EndOfTier {
        /// Tier.
        tier: String,
    },
    /// A profile rule.
    ProfileRule {
        /// Profile.
        profile: String,
        /// Rule index.
        rule: usize,
        /// The rule's action.
        action: String,
    },
    /// Every tier passed and no profile rule decided.
    NoProfileMatched,
    /// A failsafe port of a host endpoint.
    Failsafe {
        /// `tcp:22` and so on.
        port: String,
    },
    /// An untracked or pre-DNAT policy allowed the packet, which skips the host endpoint's
    /// normal ingress policy.
    AcceptedEarly {
        /// Tier.
        tier: String,
        /// Policy.
        policy: String,
        /// Rule index.
        rule: usize,
    },
    /// No host endpoint policy applies to forwarded traffic.
    ForwardNoPolicy,
    /// Traffic from the host to one of its own workloads, which Felix does not police.
    HostToLocalWorkload,
    /// Traffic from a local workload to its own host, decided by Felix's
    /// `defaultEndpointToHostAction`.
    EndpointToHost {
        /// `Drop` or `Accept`.
        action: String,
    },
    /// The address is not a local endpoint, so this host enforces nothing for it.
    NotLocal,
}

/// The verdict for one direction of one endpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DirectionVerdict {
    /// The endpoint (`namespace/name` for workloads, the HostEndpoint name for hosts).
    pub endpoint: String,
    /// Ingress or egress.
    pub direction: Direction,
    /// The outcome.
    pub allowed: bool,
    /// What decided.
    pub decision: Decision,
    /// Log rules that matched on the way, as `<tier>/<policy>#<rule>`.
    pub logged: Vec<String>,
}

/// The verdict for a packet: both ends' directions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// True if every applicable direction allowed the packet.
    pub allowed: bool,
    /// The sender's egress verdict (when the sender is a local endpoint).
    pub egress: Option<DirectionVerdict>,
    /// The receiver's ingress verdict (when the receiver is a local endpoint).
    pub ingress: Option<DirectionVerdict>,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::PolicyRule {
                tier,
                policy,
                rule,
                action,
            } => write!(f, "{action} by {tier}/{policy} rule {rule}"),
            Decision::EndOfTier { tier } => write!(f, "end of tier {tier} (default Deny)"),
            Decision::ProfileRule {
                profile,
                rule,
                action,
            } => write!(f, "{action} by profile {profile} rule {rule}"),
            Decision::NoProfileMatched => f.write_str("no policy or profile allowed it"),
            Decision::Failsafe { port } => write!(f, "failsafe {port}"),
            Decision::AcceptedEarly { tier, policy, rule } => {
                write!(f, "allowed early by {tier}/{policy} rule {rule}")
            }
            Decision::ForwardNoPolicy => f.write_str("no forward policy"),
            Decision::HostToLocalWorkload => f.write_str("host to its own workload: not policed"),
            Decision::EndpointToHost { action } => write!(
                f,
                "workload to own host: defaultEndpointToHostAction {action}"
            ),
            Decision::NotLocal => f.write_str("not a local endpoint"),
        }
    }
}

/// How a tier list behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChainKind {
    /// Tiers, then profiles, then drop.
    Normal,
    /// Tiers only; end of tier drops; if no tier decides, allow (forward chains).
    Forward,
    /// Untracked or pre-DNAT: tiers behave as Pass; undecided packets continue.
    Early,
}

enum Outcome {
    Decided(bool, Decision),
    Undecided,
}

/// Evaluates packets against a [`DataplaneState`].
pub struct Evaluator<'a> {
    state: &'a DataplaneState,
}

impl<'a> Evaluator<'a> {
    /// An evaluator over `state`.
    pub fn new(state: &'a DataplaneState) -> Self {
        Evaluator { state }
    }

    /// The verdict for a packet, following the path it takes through this host:
    /// - workload → workload: the sender's egress and the receiver's ingress;
    /// - workload → its own host: the workload's egress, then `defaultEndpointToHostAction`
    ///   (Drop by default; Accept; Return = back to the host's INPUT processing, where only an
    ///   all-interfaces `*` host endpoint's ingress policy applies);
    /// - host → local workload: not policed (Felix lets the host reach its workloads);
    /// - host → elsewhere, elsewhere → host: the host endpoint's egress / ingress
    ///   ([`host`](Self::host));
    /// - elsewhere → workload: arrives through the host's uplink host endpoint (one with
    ///   interface `*`, or the only one): its untracked and pre-DNAT ingress policy, then its
    ///   `applyOnForward` ingress policy, then the workload's ingress;
    /// - workload → elsewhere: the workload's egress, then the uplink's `applyOnForward` egress
    ///   policy.
    ///
    /// An address that is neither a local workload nor a local host endpoint is "elsewhere".
    pub fn evaluate(&self, packet: &Packet) -> Verdict {
        let src_wl = self.state.workload_by_ip(packet.src);
        let dst_wl = self.state.workload_by_ip(packet.dst);
        let src_host = self.state.host_by_ip(packet.src);
        let dst_host = self.state.host_by_ip(packet.dst);
        let uplink = self.uplink();
        let mut egress = None;
        let mut ingress = None;
        match (src_wl, src_host) {
            (Some(w), _) => {
                egress = Some(self.workload(w, Direction::Egress, packet));
                if dst_wl.is_none()
                    && dst_host.is_none()
                    && let Some(h) = uplink
                {
                    ingress = Some(self.host_forward(h, Direction::Egress, packet));
                }
            }
            (None, Some(h)) => {
                if dst_wl.is_some() {
                    ingress = Some(DirectionVerdict {
                        endpoint: h.id.clone(),
                        direction: Direction::Egress,
                        allowed: true,
                        decision: Decision::HostToLocalWorkload,
                        logged: Vec::new(),
                    });
                } else {
                    egress = Some(self.host(h, Direction::Egress, packet));
                }
            }
            (None, None) => {}
        }
        if let Some(w) = dst_wl {
            let mut verdict = None;
            if src_wl.is_none()
                && src_host.is_none()
                && let Some(h) = uplink
            {
                // Forwarded in from outside: the uplink's early and forward policy first.
                let v = self.host_forward_in(h, packet);
                if !v.allowed {
                    verdict = Some(v);
                }
            }
            if src_host.is_none() {
                ingress =
                    Some(verdict.unwrap_or_else(|| self.workload(w, Direction::Ingress, packet)));
            }
        } else if let Some(h) = dst_host {
            ingress = Some(if src_wl.is_some() {
                // Workload to its own host.
                match self.state.config.default_endpoint_to_host_action() {
                    // Return hands the packet back to the host's own INPUT processing. Only an
                    // all-interfaces (`*`) host endpoint polices traffic arriving from a
                    // workload interface; otherwise nothing of Calico's applies any more.
                    FelixVerdict::Return if h.interface_name == "*" => {
                        self.host(h, Direction::Ingress, packet)
                    }
                    action => DirectionVerdict {
                        endpoint: h.id.clone(),
                        direction: Direction::Ingress,
                        allowed: action != FelixVerdict::Drop,
                        decision: Decision::EndpointToHost {
                            action: format!("{action:?}"),
                        },
                        logged: Vec::new(),
                    },
                }
            } else {
                self.host(h, Direction::Ingress, packet)
            });
        }
        let allowed =
            egress.as_ref().is_none_or(|v| v.allowed) && ingress.as_ref().is_none_or(|v| v.allowed);
        Verdict {
            allowed,
            egress,
            ingress,
        }
    }

    /// The host endpoint external traffic is taken to arrive and leave through: the one
    /// covering all interfaces (`*`), or the only host endpoint.
    fn uplink(&self) -> Option<&'a HostEndpoint> {
        let state: &'a DataplaneState = self.state;
        state
            .hosts
            .values()
            .find(|h| h.interface_name == "*")
            .or_else(|| {
                if state.hosts.len() == 1 {
                    state.hosts.values().next()
                } else {
                    None
                }
            })
    }

    /// Traffic arriving on a host endpoint and forwarded to a local workload: untracked and
    /// pre-DNAT ingress policy (an Allow skips the host endpoint's forward policy), then the
    /// `applyOnForward` ingress policy.
    fn host_forward_in(&self, h: &HostEndpoint, packet: &Packet) -> DirectionVerdict {
        let mut logged = Vec::new();
        for tiers in [&h.untracked_tiers, &h.pre_dnat_tiers] {
            if let Outcome::Decided(allowed, decision) = self.tiers(
                tiers,
                Direction::Ingress,
                packet,
                ChainKind::Early,
                &mut logged,
            ) {
                return DirectionVerdict {
                    endpoint: h.id.clone(),
                    direction: Direction::Ingress,
                    allowed,
                    decision,
                    logged,
                };
            }
        }
        self.host_forward(h, Direction::Ingress, packet)
    }

    /// One direction of a workload endpoint.
    pub fn workload(
        &self,
        w: &WorkloadEndpoint,
        direction: Direction,
        packet: &Packet,
    ) -> DirectionVerdict {
        let mut logged = Vec::new();
        let (allowed, decision) =
            match self.tiers(&w.tiers, direction, packet, ChainKind::Normal, &mut logged) {
                Outcome::Decided(a, d) => (a, d),
                Outcome::Undecided => self.profiles(&w.profile_ids, direction, packet),
            };
        DirectionVerdict {
            endpoint: w.id.to_string(),
            direction,
            allowed,
            decision,
            logged,
        }
    }

    /// Traffic to (ingress) or from (egress) the host itself through a host endpoint:
    /// failsafe ports, then untracked and pre-DNAT policy (an Allow there skips normal
    /// ingress policy), then normal policy and profiles.
    pub fn host(
        &self,
        h: &HostEndpoint,
        direction: Direction,
        packet: &Packet,
    ) -> DirectionVerdict {
        let mut logged = Vec::new();
        let verdict = |allowed, decision, logged| DirectionVerdict {
            endpoint: h.id.clone(),
            direction,
            allowed,
            decision,
            logged,
        };
        if let Some(port) = self.failsafe(direction, packet) {
            return verdict(true, Decision::Failsafe { port }, logged);
        }
        let early: Vec<&[TierInfo]> = match direction {
            Direction::Ingress => vec![&h.untracked_tiers, &h.pre_dnat_tiers],
            Direction::Egress => vec![&h.untracked_tiers],
        };
        for tiers in early {
            if let Outcome::Decided(allowed, decision) =
                self.tiers(tiers, direction, packet, ChainKind::Early, &mut logged)
            {
                if allowed && direction == Direction::Ingress {
                    let decision = match decision {
                        Decision::PolicyRule {
                            tier, policy, rule, ..
                        } => Decision::AcceptedEarly { tier, policy, rule },
                        other => other,
                    };
                    return verdict(true, decision, logged);
                }
                if !allowed {
                    return verdict(false, decision, logged);
                }
            }
        }
        let (allowed, decision) =
            match self.tiers(&h.tiers, direction, packet, ChainKind::Normal, &mut logged) {
                Outcome::Decided(a, d) => (a, d),
                Outcome::Undecided => self.profiles(&h.profile_ids, direction, packet),
            };
        verdict(allowed, decision, logged)
    }

    /// Traffic forwarded through a host endpoint (to or from elsewhere), checked against its
    /// `applyOnForward` policies: allowed when there are none.
    pub fn host_forward(
        &self,
        h: &HostEndpoint,
        direction: Direction,
        packet: &Packet,
    ) -> DirectionVerdict {
        let mut logged = Vec::new();
        let (allowed, decision) = if h
            .forward_tiers
            .iter()
            .all(|t| t.policies(direction).is_empty())
        {
            (true, Decision::ForwardNoPolicy)
        } else {
            match self.tiers(
                &h.forward_tiers,
                direction,
                packet,
                ChainKind::Forward,
                &mut logged,
            ) {
                Outcome::Decided(a, d) => (a, d),
                Outcome::Undecided => (true, Decision::ForwardNoPolicy),
            }
        };
        DirectionVerdict {
            endpoint: h.id.clone(),
            direction,
            allowed,
            decision,
            logged,
        }
    }

    fn failsafe(&self, direction: Direction, packet: &Packet) -> Option<String> {
        let (ports, remote) = match direction {
            Direction::Ingress => (self.state.config.failsafe_inbound_host_ports(), packet.src),
            Direction::Egress => (self.state.config.failsafe_outbound_host_ports(), packet.dst),
        };
        ports.iter().find_map(|fp| {
            let proto = match fp.protocol.to_ascii_uppercase().as_str() {
                "" | "TCP" => proto::TCP,
                "UDP" => proto::UDP,
                "SCTP" => proto::SCTP,
                _ => return None,
            };
            let net_ok = fp.net.is_empty()
                || calico_model::scalar::parse_cidr_or_ip(&fp.net)
                    .is_ok_and(|n| n.contains(&remote));
            (proto == packet.protocol && fp.port == packet.dst_port && net_ok)
                .then(|| format!("{}:{}", fp.protocol.to_ascii_lowercase(), fp.port))
        })
    }

    fn tiers(
        &self,
        tiers: &[TierInfo],
        direction: Direction,
        packet: &Packet,
        kind: ChainKind,
        logged: &mut Vec<String>,
    ) -> Outcome {
        for tier in tiers {
            let ids = tier.policies(direction);
            if ids.is_empty() {
                continue;
            }
            let mut passed = false;
            'policies: for id in ids {
                let Some(policy) = self.state.policies.get(id) else {
                    // The contract forbids this; fail closed.
                    return Outcome::Decided(
                        false,
                        Decision::PolicyRule {
                            tier: tier.name.clone(),
                            policy: id.to_string(),
                            rule: 0,
                            action: "Deny (missing policy)".into(),
                        },
                    );
                };
                for rule in policy.rules(direction) {
                    if !self.rule_matches(rule, packet) {
                        continue;
                    }
                    let decided = |allowed: bool, action: &str| {
                        Outcome::Decided(
                            allowed,
                            Decision::PolicyRule {
                                tier: tier.name.clone(),
                                policy: id.to_string(),
                                rule: rule.index,
                                action: action.into(),
                            },
                        )
                    };
                    match rule.action {
                        Action::Allow => return decided(true, "Allow"),
                        Action::Deny => return decided(false, "Deny"),
                        Action::Log => logged.push(format!("{}/{id}#{}", tier.name, rule.index)),
                        Action::Pass => {
                            passed = true;
                            break 'policies;
                        }
                    }
                }
            }
            if passed || kind == ChainKind::Early {
                continue;
            }
            if tier.default_action == TierDefaultAction::Deny {
                return Outcome::Decided(
                    false,
                    Decision::EndOfTier {
                        tier: tier.name.clone(),
                    },
                );
            }
        }
        Outcome::Undecided
    }

    fn profiles(
        &self,
        profiles: &[String],
        direction: Direction,
        packet: &Packet,
    ) -> (bool, Decision) {
        for name in profiles {
            let Some(profile) = self.state.profiles.get(name) else {
                return (
                    false,
                    Decision::ProfileRule {
                        profile: name.clone(),
                        rule: 0,
                        action: "Deny (missing profile)".into(),
                    },
                );
            };
            for rule in profile.rules(direction) {
                if !self.rule_matches(rule, packet) {
                    continue;
                }
                let d = |a: &str| Decision::ProfileRule {
                    profile: name.clone(),
                    rule: rule.index,
                    action: a.into(),
                };
                match rule.action {
                    Action::Allow => return (true, d("Allow")),
                    Action::Deny => return (false, d("Deny")),
                    // Pass in a profile moves on to the next profile; Log continues.
                    Action::Pass => break,
                    Action::Log => {}
                }
            }
        }
        (false, Decision::NoProfileMatched)
    }

    /// True if `rule` matches `packet` (see [`Rule`] for the semantics).
    pub fn rule_matches(&self, rule: &Rule, packet: &Packet) -> bool {
        let Some(rule) = rule.for_family(packet.family()) else {
            return false;
        };
        if rule.protocol.is_some_and(|p| p != packet.protocol) {
            return false;
        }
        if rule.not_protocol.is_some_and(|p| p == packet.protocol) {
            return false;
        }
        let is_icmp = matches!(packet.protocol, proto::ICMP | proto::ICMPV6);
        let icmp_matches = |m: &crate::ir::IcmpMatch| {
            is_icmp
                && packet.icmp_type == Some(m.icmp_type)
                && m.code.is_none_or(|c| packet.icmp_code == Some(c))
        };
        if let Some(m) = &rule.icmp
            && !icmp_matches(m)
        {
            return false;
        }
        if let Some(m) = &rule.not_icmp
            && icmp_matches(m)
        {
            return false;
        }
        self.side_matches(&rule.src, packet.src, packet.src_port, packet)
            && self.side_matches(&rule.dst, packet.dst, packet.dst_port, packet)
    }

    fn side_matches(&self, m: &EndpointMatch, ip: IpAddr, port: u16, packet: &Packet) -> bool {
        if !m.nets.is_empty() && !m.nets.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        if m.not_nets.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        if !m.ip_sets.iter().all(|s| self.state.set_contains_net(s, ip)) {
            return false;
        }
        if m.not_ip_sets
            .iter()
            .any(|s| self.state.set_contains_net(s, ip))
        {
            return false;
        }
        let ports_wanted = !m.ports.is_empty() || !m.named_port_sets.is_empty();
        if ports_wanted {
            if !packet.has_ports() {
                return false;
            }
            let numeric = m.ports.iter().any(|r| r.contains(port));
            let named = m.named_port_sets.iter().any(|s| {
                self.state
                    .set_contains_ip_port(s, ip, packet.protocol, port)
            });
            if !numeric && !named {
                return false;
            }
        }
        if !m.not_ports.is_empty() || !m.not_named_port_sets.is_empty() {
            if !packet.has_ports() {
                return false;
            }
            if m.not_ports.iter().any(|r| r.contains(port)) {
                return false;
            }
            if m.not_named_port_sets.iter().any(|s| {
                self.state
                    .set_contains_ip_port(s, ip, packet.protocol, port)
            }) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{IcmpMatch, PortRange};

    fn rule(f: impl FnOnce(&mut Rule)) -> Rule {
        let mut r = Rule {
            action: Action::Allow,
            ip_version: None,
            protocol: None,
            not_protocol: None,
            icmp: None,
            not_icmp: None,
            src: EndpointMatch::default(),
            dst: EndpointMatch::default(),
            http: None,
            id: String::new(),
            index: 0,
        };
        f(&mut r);
        r
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn state_with_sets() -> DataplaneState {
        let mut s = DataplaneState::default();
        s.ip_sets.insert(
            IpSetId("s:web".into()),
            (
                IpSetType::Net,
                [IpSetMember::Net("10.0.0.0/24".parse().unwrap())].into(),
            ),
        );
        s.ip_sets.insert(
            IpSetId("n:http".into()),
            (
                IpSetType::IpAndPort,
                [IpSetMember::IpPort {
                    ip: ip("10.0.1.1"),
                    protocol: proto::TCP,
                    port: 8080,
                }]
                .into(),
            ),
        );
        s
    }

    #[test]
    fn empty_rule_matches_everything() {
        let s = DataplaneState::default();
        let e = Evaluator::new(&s);
        let r = rule(|_| {});
        assert!(e.rule_matches(&r, &Packet::tcp(ip("1.1.1.1"), 1, ip("2.2.2.2"), 80)));
        assert!(e.rule_matches(&r, &Packet::icmp(ip("fd00::1"), ip("fd00::2"), 128, 0)));
    }

    #[test]
    fn protocol_and_not_protocol() {
        let s = DataplaneState::default();
        let e = Evaluator::new(&s);
        let p = Packet::tcp(ip("1.1.1.1"), 1, ip("2.2.2.2"), 80);
        assert!(e.rule_matches(&rule(|r| r.protocol = Some(proto::TCP)), &p));
        assert!(!e.rule_matches(&rule(|r| r.protocol = Some(proto::UDP)), &p));
        assert!(!e.rule_matches(&rule(|r| r.not_protocol = Some(proto::TCP)), &p));
        assert!(e.rule_matches(&rule(|r| r.not_protocol = Some(proto::UDP)), &p));
    }

    #[test]
    fn ports_or_named_ports() {
        let s = state_with_sets();
        let e = Evaluator::new(&s);
        let r = rule(|r| {
            r.protocol = Some(proto::TCP);
            r.dst.ports = vec![PortRange { min: 80, max: 81 }];
            r.dst.named_port_sets = vec![IpSetId("n:http".into())];
        });
        assert!(e.rule_matches(&r, &Packet::tcp(ip("9.9.9.9"), 1, ip("10.0.1.1"), 81)));
        assert!(e.rule_matches(&r, &Packet::tcp(ip("9.9.9.9"), 1, ip("10.0.1.1"), 8080)));
        assert!(!e.rule_matches(&r, &Packet::tcp(ip("9.9.9.9"), 1, ip("10.0.1.2"), 8080)));
        assert!(!e.rule_matches(&r, &Packet::tcp(ip("9.9.9.9"), 1, ip("10.0.1.1"), 82)));
        // UDP to the named port's address: the set holds TCP only.
        let r2 = rule(|r| r.dst.named_port_sets = vec![IpSetId("n:http".into())]);
        assert!(!e.rule_matches(
            &r2,
            &Packet::ported(proto::UDP, ip("9.9.9.9"), 1, ip("10.0.1.1"), 8080)
        ));
        // Ports never match a port-less packet.
        assert!(!e.rule_matches(&r2, &Packet::icmp(ip("9.9.9.9"), ip("10.0.1.1"), 8, 0)));
    }

    #[test]
    fn not_ports_and_not_sets() {
        let s = state_with_sets();
        let e = Evaluator::new(&s);
        let r = rule(|r| {
            r.dst.not_ports = vec![PortRange { min: 22, max: 22 }];
            r.src.not_ip_sets = vec![IpSetId("s:web".into())];
        });
        assert!(e.rule_matches(&r, &Packet::tcp(ip("10.9.0.1"), 1, ip("2.2.2.2"), 80)));
        assert!(!e.rule_matches(&r, &Packet::tcp(ip("10.9.0.1"), 1, ip("2.2.2.2"), 22)));
        assert!(!e.rule_matches(&r, &Packet::tcp(ip("10.0.0.7"), 1, ip("2.2.2.2"), 80)));
        let r = rule(|r| r.src.ip_sets = vec![IpSetId("s:web".into())]);
        assert!(e.rule_matches(&r, &Packet::tcp(ip("10.0.0.7"), 1, ip("2.2.2.2"), 80)));
        assert!(!e.rule_matches(&r, &Packet::tcp(ip("10.0.9.7"), 1, ip("2.2.2.2"), 80)));
        // An unknown set contains nothing.
        let r = rule(|r| r.src.ip_sets = vec![IpSetId("s:none".into())]);
        assert!(!e.rule_matches(&r, &Packet::tcp(ip("10.0.0.7"), 1, ip("2.2.2.2"), 80)));
    }

    #[test]
    fn icmp_type_and_code() {
        let s = DataplaneState::default();
        let e = Evaluator::new(&s);
        let ping = Packet::icmp(ip("1.1.1.1"), ip("2.2.2.2"), 8, 0);
        let unreachable = Packet::icmp(ip("1.1.1.1"), ip("2.2.2.2"), 3, 1);
        let r = rule(|r| {
            r.protocol = Some(proto::ICMP);
            r.icmp = Some(IcmpMatch {
                icmp_type: 8,
                code: None,
            });
        });
        assert!(e.rule_matches(&r, &ping));
        assert!(!e.rule_matches(&r, &unreachable));
        let r = rule(|r| {
            r.protocol = Some(proto::ICMP);
            r.icmp = Some(IcmpMatch {
                icmp_type: 3,
                code: Some(0),
            });
        });
        assert!(!e.rule_matches(&r, &unreachable));
        let r = rule(|r| {
            r.not_icmp = Some(IcmpMatch {
                icmp_type: 8,
                code: None,
            })
        });
        assert!(!e.rule_matches(&r, &ping));
        assert!(e.rule_matches(&r, &unreachable));
        assert!(e.rule_matches(&r, &Packet::tcp(ip("1.1.1.1"), 1, ip("2.2.2.2"), 80)));
    }

    #[test]
    fn families() {
        let s = DataplaneState::default();
        let e = Evaluator::new(&s);
        let v4 = Packet::tcp(ip("10.0.0.1"), 1, ip("10.0.0.2"), 80);
        let v6 = Packet::tcp(ip("fd00::1"), 1, ip("fd00::2"), 80);
        let only_v6_nets = rule(|r| r.dst.nets = vec!["fd00::/64".parse().unwrap()]);
        assert!(!e.rule_matches(&only_v6_nets, &v4));
        assert!(e.rule_matches(&only_v6_nets, &v6));
        let v4_only = rule(|r| r.ip_version = Some(IpVersion::V4));
        assert!(e.rule_matches(&v4_only, &v4));
        assert!(!e.rule_matches(&v4_only, &v6));
        // Felix skips a rule for a family in which its notNets would become empty.
        let not_v4 = rule(|r| r.src.not_nets = vec!["0.0.0.0/1".parse().unwrap()]);
        assert!(!e.rule_matches(&not_v4, &v6));
        assert!(e.rule_matches(
            &not_v4,
            &Packet::tcp(ip("200.0.0.1"), 1, ip("10.0.0.2"), 80)
        ));
    }

    #[test]
    fn contract_violations_are_reported() {
        let mut s = DataplaneState::default();
        let set = IpSetId("s:x".into());
        assert!(matches!(
            s.apply(&DataplaneUpdate::IpSetDelta {
                id: set.clone(),
                added: BTreeSet::new(),
                removed: BTreeSet::new()
            }),
            Err(ContractError::UnknownIpSet(_))
        ));
        let policy = Policy {
            id: PolicyId {
                kind: crate::ir::PolicyKind::GlobalNetworkPolicy,
                namespace: String::new(),
                name: "p".into(),
            },
            tier: "default".into(),
            inbound_rules: vec![rule(|r| r.src.ip_sets = vec![set.clone()])],
            outbound_rules: vec![],
            untracked: false,
            pre_dnat: false,
            apply_on_forward: false,
            selector: String::new(),
        };
        assert!(matches!(
            s.apply(&DataplaneUpdate::PolicyUpdate(policy.clone())),
            Err(ContractError::DanglingIpSet { .. })
        ));
        s.apply(&DataplaneUpdate::IpSetUpdate {
            id: set.clone(),
            set_type: IpSetType::Net,
            members: BTreeSet::new(),
        })
        .unwrap();
        s.apply(&DataplaneUpdate::PolicyUpdate(policy)).unwrap();
        assert!(matches!(
            s.apply(&DataplaneUpdate::IpSetRemove(set)),
            Err(ContractError::RemovedWhileInUse(_))
        ));
    }
}
