//! `diff`: which endpoint pairs would change from allowed to denied (or back) if a set of
//! resources were applied.
//!
//! Both states — the resources as they are and as they would be after applying (create or
//! replace by key, [`apply_changes`]) — go through one calculation graph per node
//! ([`ClusterView`]), and the reference evaluator answers every ordered pair of workload
//! endpoints present in both states on a set of probes ([`probe_space`]): every
//! protocol/port any rule of the old or new policies and profiles names (port ranges by
//! their first port, named ports by the numbers endpoints give them), ICMP if any rule names
//! it, and a representative "other" TCP port no rule names ([`other_port`]).
//!
//! # Cost
//! With `E` endpoints, `N` nodes, `R` resources and `P` probes:
//! - building: `2 × N` graphs over `R` resources;
//! - a signature per endpoint and direction in each state (hash of everything the
//!   evaluator reads for it: its addresses, its tiers, its policies' and profiles' rules for
//!   that direction, the members of the IP sets those rules use, and its node's host
//!   endpoints): `O(E × program size)`;
//! - `E²` pair checks, each two signature comparisons; only pairs whose source egress or
//!   destination ingress signature differs are evaluated, `P` probes × 2 states each.
//!
//! A change that touches a few policies therefore costs close to `E²` cheap comparisons;
//! a change to a policy that selects every endpoint costs `E² × P` evaluations (a 500
//! endpoint cluster: 250,000 pairs, a few seconds in a release build). Self pairs (an
//! endpoint to itself) are left out; so are external addresses.
//!
//! ```
//! use calico_model::decode_yaml;
//! use calico_policy::diff::{apply_changes, diff};
//!
//! let current = decode_yaml(r#"
//! apiVersion: projectcalico.org/v3
//! kind: WorkloadEndpoint
//! metadata: {name: n1-k8s-a-eth0, namespace: ns, labels: {app: a}}
//! spec: {node: n1, orchestrator: k8s, pod: a, endpoint: eth0, interfaceName: cali00000000001,
//!        ipNetworks: [10.0.0.1/32], profiles: [open]}
//! ---
//! apiVersion: projectcalico.org/v3
//! kind: WorkloadEndpoint
//! metadata: {name: n1-k8s-b-eth0, namespace: ns, labels: {app: b}}
//! spec: {node: n1, orchestrator: k8s, pod: b, endpoint: eth0, interfaceName: cali00000000002,
//!        ipNetworks: [10.0.0.2/32], profiles: [open]}
//! ---
//! apiVersion: projectcalico.org/v3
//! kind: Profile
//! metadata: {name: open}
//! spec: {ingress: [{action: Allow}], egress: [{action: Allow}]}
//! "#).unwrap();
//! let new = decode_yaml(r#"
//! apiVersion: projectcalico.org/v3
//! kind: NetworkPolicy
//! metadata: {name: b-web-only, namespace: ns}
//! spec:
//!   selector: app == 'b'
//!   ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]
//! "#).unwrap();
//! let after = apply_changes(&current, &new);
//! let d = diff(&current, &after).unwrap();
//! // a → b on TCP 80 stays allowed; on the "other" port it becomes denied.
//! assert_eq!(d.changes.len(), 1);
//! assert_eq!(d.changes[0].from, "ns/n1-k8s-a-eth0");
//! assert_eq!(d.changes[0].to, "ns/n1-k8s-b-eth0");
//! assert!(d.changes[0].before && !d.changes[0].after);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use calico_model::Resource;
use calico_model::resources::Rule as ModelRule;
use calico_model::scalar::Port;
use calico_model::sync::ResourceKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cluster::{ClusterError, ClusterView, EndpointKind, EndpointRecord};
use crate::eval::{DataplaneState, Decision, DirectionVerdict, Evaluator, Packet};
use crate::explain::Probe;
use crate::ir::{self, Direction, IpSetId, PolicyId, WorkloadEndpointId, proto};

/// Where the search for a port no rule names starts ([`other_port`]).
pub const OTHER_PORT_START: u16 = 1024;

/// The resources after applying `changes` to `current` as `calicoctl apply` would: a
/// resource with the key of an existing one replaces it, any other is added. Namespaced
/// resources must carry their namespace already.
pub fn apply_changes(current: &[Resource], changes: &[Resource]) -> Vec<Resource> {
    let mut by_key: BTreeMap<ResourceKey, Resource> = BTreeMap::new();
    let mut order: Vec<ResourceKey> = Vec::new();
    for r in current.iter().chain(changes) {
        let key = ResourceKey::of(r);
        if by_key.insert(key.clone(), r.clone()).is_none() {
            order.push(key);
        }
    }
    order
        .into_iter()
        .filter_map(|k| by_key.remove(&k))
        .collect()
}

/// One pair and probe whose answer changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReachabilityChange {
    /// Source endpoint (`ns/name`).
    pub from: String,
    /// Destination endpoint (`ns/name`).
    pub to: String,
    /// The probe (`tcp/80`, `icmp`, …).
    pub probe: String,
    /// Allowed before.
    pub before: bool,
    /// Allowed after.
    pub after: bool,
    /// What decides after the change: the direction whose verdict changed (egress first),
    /// as `egress: <decision>` or `ingress: <decision>`.
    pub decided_by: String,
    /// The deciding policy after the change (`tier/Kind/ns/name`), when a policy rule or
    /// end of tier decided.
    pub policy: Option<String>,
}

/// The result of a diff.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PolicyDiff {
    /// Every change, by source, destination and probe.
    pub changes: Vec<ReachabilityChange>,
    /// Workload endpoints compared (present in both states).
    pub endpoints: usize,
    /// The probes tried on each evaluated pair.
    pub probes: Vec<String>,
    /// Ordered pairs considered.
    pub pairs: usize,
    /// Pairs evaluated (the others provably cannot change).
    pub pairs_evaluated: usize,
}

/// Compares reachability between every pair of workload endpoints before and after.
pub fn diff(before: &[Resource], after: &[Resource]) -> Result<PolicyDiff, ClusterError> {
    let probes = probe_space(before.iter().chain(after));
    let view_b = ClusterView::build(before)?;
    let view_a = ClusterView::build(after)?;
    let side_b = Side::new(&view_b);
    let side_a = Side::new(&view_a);
    // Endpoints present (and programmed) in both states.
    let common: Vec<(&EndpointRecord, Ep<'_>, Ep<'_>)> = view_b
        .endpoints()
        .iter()
        .filter(|e| e.kind == EndpointKind::Workload)
        .filter_map(|e| {
            let b = side_b.endpoint(e)?;
            let a = view_a
                .endpoints()
                .iter()
                .find(|x| x.kind == e.kind && x.namespace == e.namespace && x.name == e.name)
                .and_then(|x| side_a.endpoint(x))?;
            Some((e, b, a))
        })
        .collect();
    let mut out = PolicyDiff {
        endpoints: common.len(),
        probes: probes.iter().map(Probe::label).collect(),
        ..PolicyDiff::default()
    };
    for (src_rec, src_b, src_a) in &common {
        let egress_changed = src_b.egress_sig != src_a.egress_sig;
        for (dst_rec, dst_b, dst_a) in &common {
            if src_rec == dst_rec {
                continue;
            }
            out.pairs += 1;
            let ingress_changed = dst_b.ingress_sig != dst_a.ingress_sig;
            if !egress_changed && !ingress_changed {
                continue;
            }
            out.pairs_evaluated += 1;
            for probe in &probes {
                let verdicts = if no_hosts(&[src_b, dst_b, src_a, dst_a]) {
                    quick_pair(
                        [src_b, dst_b, src_a, dst_a],
                        egress_changed,
                        ingress_changed,
                        probe,
                    )
                } else {
                    side_b
                        .pair(src_b, dst_b, probe)
                        .zip(side_a.pair(src_a, dst_a, probe))
                };
                let Some((vb, va)) = verdicts else {
                    continue;
                };
                if vb.allowed() == va.allowed() {
                    continue;
                }
                let (dir, verdict) = if va.egress.allowed != vb.egress.allowed {
                    ("egress", &va.egress)
                } else {
                    ("ingress", &va.ingress)
                };
                out.changes.push(ReachabilityChange {
                    from: src_rec.display_name(),
                    to: dst_rec.display_name(),
                    probe: probe.label(),
                    before: vb.allowed(),
                    after: va.allowed(),
                    decided_by: format!("{dir}: {}", verdict.decision),
                    policy: deciding_policy(&verdict.decision),
                });
            }
        }
    }
    Ok(out)
}

/// `tier/policy` of a policy rule or end-of-tier decision.
fn deciding_policy(d: &Decision) -> Option<String> {
    match d {
        Decision::PolicyRule { tier, policy, .. } => Some(format!("{tier}/{policy}")),
        Decision::EndOfTier { tier } => Some(format!("{tier} (end of tier)")),
        Decision::ProfileRule { profile, .. } => Some(format!("profile {profile}")),
        _ => None,
    }
}

/// One endpoint in one state: its programmed form and its two signatures.
struct Ep<'a> {
    node: &'a str,
    state: &'a DataplaneState,
    workload: &'a ir::WorkloadEndpoint,
    addresses: &'a [IpAddr],
    egress_sig: [u8; 32],
    ingress_sig: [u8; 32],
}

/// Both directions' verdicts for one pair and probe.
struct PairVerdict {
    egress: DirectionVerdict,
    ingress: DirectionVerdict,
    /// Every check on the path allowed it (both directions, and any host endpoint
    /// forward policy).
    allowed: bool,
}

impl PairVerdict {
    fn allowed(&self) -> bool {
        self.allowed
    }
}

/// One state's node views.
struct Side<'a> {
    view: &'a ClusterView,
}

impl<'a> Side<'a> {
    fn new(view: &'a ClusterView) -> Self {
        Side { view }
    }

    fn endpoint(&self, rec: &'a EndpointRecord) -> Option<Ep<'a>> {
        let state = self.view.state(&rec.node)?;
        let id = WorkloadEndpointId {
            namespace: rec.namespace.clone(),
            name: rec.name.clone(),
        };
        let workload = state.workloads.get(&id)?;
        Some(Ep {
            node: &rec.node,
            state,
            workload,
            addresses: &rec.addresses,
            egress_sig: signature(state, workload, Direction::Egress),
            ingress_sig: signature(state, workload, Direction::Ingress),
        })
    }

    /// The verdicts of `probe` from `src` to `dst`, judged as each node judges them; `None`
    /// when the two share no address family.
    fn pair(&self, src: &Ep<'_>, dst: &Ep<'_>, probe: &Probe) -> Option<PairVerdict> {
        let packet = packet(src, dst, probe)?;
        // The whole path through each node, as `explain` does (host endpoint policy too).
        let on_src = Evaluator::new(src.state).evaluate(&packet);
        let on_dst = if src.node == dst.node {
            None
        } else {
            Some(Evaluator::new(dst.state).evaluate(&packet))
        };
        let egress = on_src.egress.clone()?;
        let ingress = on_dst
            .as_ref()
            .unwrap_or(&on_src)
            .ingress
            .clone()
            .filter(|v| v.direction == Direction::Ingress)?;
        Some(PairVerdict {
            allowed: on_src.allowed && on_dst.as_ref().is_none_or(|v| v.allowed),
            egress,
            ingress,
        })
    }
}

/// True when none of the endpoints' nodes has host endpoints (so only the two workloads'
/// own policy applies to a pair).
fn no_hosts(eps: &[&Ep<'_>]) -> bool {
    eps.iter().all(|e| e.state.hosts.is_empty())
}

/// The packet of `probe` from `src` to `dst` (IPv4 when both have it).
fn packet(src: &Ep<'_>, dst: &Ep<'_>, probe: &Probe) -> Option<Packet> {
    let v4 = |e: &Ep<'_>| e.addresses.iter().find(|a| a.is_ipv4()).copied();
    let v6 = |e: &Ep<'_>| e.addresses.iter().find(|a| a.is_ipv6()).copied();
    let (s, d) = match (v4(src), v4(dst)) {
        (Some(s), Some(d)) if probe.protocol != proto::ICMPV6 => (s, d),
        _ => (v6(src)?, v6(dst)?),
    };
    Some(probe.packet(s, d))
}

/// Before and after verdicts of a pair on nodes without host endpoints, evaluating a
/// direction whose signature did not change once, and stopping early when the source's
/// egress denies in both states. `eps` is `[src before, dst before, src after, dst after]`.
fn quick_pair(
    eps: [&Ep<'_>; 4],
    egress_changed: bool,
    ingress_changed: bool,
    probe: &Probe,
) -> Option<(PairVerdict, PairVerdict)> {
    let [src_b, dst_b, src_a, dst_a] = eps;
    let pkt_b = packet(src_b, dst_b, probe)?;
    let pkt_a = packet(src_a, dst_a, probe)?;
    let egress =
        |e: &Ep<'_>, p: &Packet| Evaluator::new(e.state).workload(e.workload, Direction::Egress, p);
    let ingress = |e: &Ep<'_>, p: &Packet| {
        Evaluator::new(e.state).workload(e.workload, Direction::Ingress, p)
    };
    let eg_b = egress(src_b, &pkt_b);
    let eg_a = if egress_changed {
        egress(src_a, &pkt_a)
    } else {
        eg_b.clone()
    };
    if !eg_b.allowed && !eg_a.allowed {
        return None;
    }
    let in_b = ingress(dst_b, &pkt_b);
    let in_a = if ingress_changed {
        ingress(dst_a, &pkt_a)
    } else {
        in_b.clone()
    };
    let verdict = |egress: DirectionVerdict, ingress: DirectionVerdict| PairVerdict {
        allowed: egress.allowed && ingress.allowed,
        egress,
        ingress,
    };
    Some((verdict(eg_b, in_b), verdict(eg_a, in_a)))
}

/// A hash of everything the evaluator reads to judge `w` in `direction` on this node: two
/// endpoints with equal signatures in two states get equal verdicts for every packet.
pub fn signature(
    state: &DataplaneState,
    w: &ir::WorkloadEndpoint,
    direction: Direction,
) -> [u8; 32] {
    let mut sets: BTreeSet<&IpSetId> = BTreeSet::new();
    let mut policies: Vec<&ir::Policy> = Vec::new();
    let mut seen: BTreeSet<&PolicyId> = BTreeSet::new();
    // The evaluator skips a tier with no policy for the direction.
    let own = w.tiers.iter().flat_map(|t| t.policies(direction));
    let hosts = state.hosts.values().flat_map(|h| {
        [
            &h.tiers,
            &h.untracked_tiers,
            &h.pre_dnat_tiers,
            &h.forward_tiers,
        ]
        .into_iter()
        .flatten()
        .flat_map(|t| t.ingress_policies.iter().chain(&t.egress_policies))
    });
    for id in own.chain(hosts) {
        if seen.insert(id)
            && let Some(p) = state.policies.get(id)
        {
            policies.push(p);
        }
    }
    let mut h = Sha256::new();
    let mut feed = |v: serde_json::Result<Vec<u8>>| {
        // Serialising plain data cannot fail; an error would only weaken the skip, so
        // hash its text instead.
        match v {
            Ok(bytes) => h.update(&bytes),
            Err(e) => h.update(e.to_string().as_bytes()),
        }
        h.update(b"\x00");
    };
    feed(serde_json::to_vec(&(
        &w.ipv4_nets,
        &w.ipv6_nets,
        &w.profile_ids,
        &w.tiers
            .iter()
            .filter(|t| !t.policies(direction).is_empty())
            .map(|t| {
                (
                    &t.name,
                    format!("{:?}", t.default_action),
                    t.policies(direction),
                )
            })
            .collect::<Vec<_>>(),
    )));
    for p in &policies {
        let rules = p.rules(direction);
        sets.extend(rules.iter().flat_map(|r| r.ip_set_ids()));
        feed(serde_json::to_vec(&(&p.id, rules)));
    }
    for name in &w.profile_ids {
        if let Some(p) = state.profiles.get(name) {
            let rules = p.rules(direction);
            sets.extend(rules.iter().flat_map(|r| r.ip_set_ids()));
            feed(serde_json::to_vec(&(name, rules)));
        } else {
            feed(serde_json::to_vec(&(name, "missing")));
        }
    }
    if !state.hosts.is_empty() {
        feed(serde_json::to_vec(&state.hosts));
        feed(serde_json::to_vec(&state.config));
        for p in &policies {
            let other = match direction {
                Direction::Ingress => Direction::Egress,
                Direction::Egress => Direction::Ingress,
            };
            sets.extend(p.rules(other).iter().flat_map(|r| r.ip_set_ids()));
            feed(serde_json::to_vec(p));
        }
    }
    for id in sets {
        feed(serde_json::to_vec(&(
            id,
            state.ip_sets.get(id).map(|(_, m)| m),
        )));
    }
    h.finalize().into()
}

/// Every probe the rules of `resources` (policies and profiles) make interesting, plus
/// `tcp/<other>`: see the [module documentation](self).
pub fn probe_space<'a>(resources: impl Iterator<Item = &'a Resource> + Clone) -> Vec<Probe> {
    let mut named: BTreeMap<(String, u8), BTreeSet<u16>> = BTreeMap::new();
    for r in resources.clone() {
        if let Resource::WorkloadEndpoint(w) = r {
            for p in &w.spec.ports {
                if let Some(n) = p.protocol.number() {
                    named.entry((p.name.clone(), n)).or_default().insert(p.port);
                }
            }
        }
    }
    let mut probes: BTreeSet<Probe> = BTreeSet::new();
    let mut mentioned: Vec<(u16, u16)> = Vec::new();
    let mut bare: BTreeSet<u8> = BTreeSet::new();
    for r in resources {
        for rule in rules_of(r) {
            let Some(number) = rule.protocol.as_ref().and_then(|p| p.number()) else {
                continue;
            };
            let probe = Probe {
                protocol: number,
                port: None,
                icmp: None,
            };
            if !probe.has_ports() {
                probes.insert(probe);
                continue;
            }
            let ports: Vec<&Port> = rule
                .destination
                .ports
                .iter()
                .chain(&rule.destination.not_ports)
                .collect();
            if ports.is_empty() {
                bare.insert(number);
            }
            for port in ports {
                let numbers: Vec<u16> = match port {
                    Port::Named(name) => named
                        .get(&(name.clone(), number))
                        .map(|s| s.iter().copied().collect())
                        .unwrap_or_default(),
                    p => p.min().into_iter().collect(),
                };
                if let (Some(a), Some(b)) = (port.min(), port.max()) {
                    mentioned.push((a, b));
                }
                for n in numbers {
                    mentioned.push((n, n));
                    probes.insert(Probe {
                        protocol: number,
                        port: Some(n),
                        icmp: None,
                    });
                }
            }
        }
    }
    let other = other_port(&mentioned);
    bare.insert(proto::TCP);
    for number in bare {
        probes.insert(Probe {
            protocol: number,
            port: Some(other),
            icmp: None,
        });
    }
    probes.into_iter().collect()
}

/// The first port from [`OTHER_PORT_START`] up (then from 1) in none of `mentioned`.
pub fn other_port(mentioned: &[(u16, u16)]) -> u16 {
    let free = |p: u16| !mentioned.iter().any(|(a, b)| (*a..=*b).contains(&p));
    (OTHER_PORT_START..=u16::MAX)
        .chain(1..OTHER_PORT_START)
        .find(|p| free(*p))
        .unwrap_or(OTHER_PORT_START)
}

/// The rules of a policy or profile.
fn rules_of(r: &Resource) -> Vec<&ModelRule> {
    match r {
        Resource::NetworkPolicy(p) => p.spec.ingress.iter().chain(&p.spec.egress).collect(),
        Resource::GlobalNetworkPolicy(p) => p.spec.ingress.iter().chain(&p.spec.egress).collect(),
        Resource::Profile(p) => p.spec.ingress.iter().chain(&p.spec.egress).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_model::decode_yaml;

    fn wep(i: usize, ns: &str, app: &str, node: &str) -> String {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {{name: {node}-k8s-p{i}-eth0, namespace: {ns}, labels: {{app: {app}}}}}\nspec: {{node: {node}, orchestrator: k8s, pod: p{i}, endpoint: eth0, interfaceName: cali{i:0>11}, ipNetworks: [10.{}.{}.{}/32], profiles: [open]}}\n---\n",
            i / 65536,
            (i / 256) % 256,
            i % 256
        )
    }

    const OPEN: &str = "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: open}\nspec: {ingress: [{action: Allow}], egress: [{action: Allow}]}\n";

    fn cluster(n: usize, nodes: usize) -> Vec<Resource> {
        let mut text = String::new();
        for i in 1..=n {
            let app = if i % 2 == 0 { "web" } else { "db" };
            text.push_str(&wep(i, "ns", app, &format!("node{}", i % nodes)));
        }
        text.push_str(OPEN);
        decode_yaml(&text).expect("decodes")
    }

    fn docs(text: &str) -> Vec<Resource> {
        decode_yaml(text).expect("decodes")
    }

    #[test]
    fn apply_changes_replaces_by_key_and_adds() {
        let current = cluster(2, 1);
        let new = docs(
            "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: open}\nspec: {ingress: [{action: Deny}]}\n---\napiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: extra}\nspec: {}\n",
        );
        let after = apply_changes(&current, &new);
        assert_eq!(after.len(), 4);
        match &after[2] {
            Resource::Profile(p) => {
                assert_eq!(p.metadata.name, "open");
                assert_eq!(
                    p.spec.ingress[0].action,
                    calico_model::resources::Action::Deny
                );
            }
            other => panic!("expected the replaced profile, got {other:?}"),
        }
    }

    #[test]
    fn no_change_means_no_pair_is_evaluated() {
        let current = cluster(6, 2);
        let d = diff(&current, &current).expect("diff");
        assert_eq!(d.endpoints, 6);
        assert_eq!(d.pairs, 30);
        assert_eq!(d.pairs_evaluated, 0);
        assert!(d.changes.is_empty());
    }

    #[test]
    fn a_new_ingress_policy_closes_other_ports_across_nodes() {
        let current = cluster(4, 2);
        let new = docs(
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: db, namespace: ns}\nspec:\n  selector: app == 'db'\n  ingress: [{action: Allow, protocol: TCP, source: {selector: app == 'web'}, destination: {ports: [5432]}}]\n",
        );
        let after = apply_changes(&current, &new);
        let d = diff(&current, &after).expect("diff");
        assert_eq!(d.probes, ["tcp/1024", "tcp/5432"]);
        // Only pairs towards the two db pods (p1, p3) are evaluated: 3 sources each.
        assert_eq!(d.pairs_evaluated, 6);
        let closed: Vec<(&str, &str, &str)> = d
            .changes
            .iter()
            .map(|c| (c.from.as_str(), c.to.as_str(), c.probe.as_str()))
            .collect();
        assert_eq!(
            closed,
            [
                ("ns/node0-k8s-p2-eth0", "ns/node1-k8s-p1-eth0", "tcp/1024"),
                ("ns/node0-k8s-p2-eth0", "ns/node1-k8s-p3-eth0", "tcp/1024"),
                ("ns/node0-k8s-p4-eth0", "ns/node1-k8s-p1-eth0", "tcp/1024"),
                ("ns/node0-k8s-p4-eth0", "ns/node1-k8s-p3-eth0", "tcp/1024"),
                ("ns/node1-k8s-p1-eth0", "ns/node1-k8s-p3-eth0", "tcp/1024"),
                ("ns/node1-k8s-p1-eth0", "ns/node1-k8s-p3-eth0", "tcp/5432"),
                ("ns/node1-k8s-p3-eth0", "ns/node1-k8s-p1-eth0", "tcp/1024"),
                ("ns/node1-k8s-p3-eth0", "ns/node1-k8s-p1-eth0", "tcp/5432"),
            ]
        );
        let c = &d.changes[0];
        assert!(c.before && !c.after);
        assert_eq!(c.policy.as_deref(), Some("default (end of tier)"));
        // And back: removing it (diffing the other way) reopens exactly these.
        let back = diff(&after, &current).expect("diff");
        assert_eq!(back.changes.len(), 8);
        assert!(back.changes.iter().all(|c| !c.before && c.after));
    }

    #[test]
    fn host_endpoints_take_the_full_path_with_the_same_answers() {
        let policy = docs(
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: db, namespace: ns}\nspec:\n  selector: app == 'db'\n  ingress: [{action: Allow, protocol: TCP, source: {selector: app == 'web'}, destination: {ports: [5432]}}]\n",
        );
        let plain = cluster(4, 2);
        let mut with_hosts = plain.clone();
        for node in ["node0", "node1"] {
            with_hosts.extend(docs(&format!(
                "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {{name: {node}-all}}\nspec: {{node: {node}, interfaceName: '*', profiles: [open]}}\n"
            )));
        }
        let expected = diff(&plain, &apply_changes(&plain, &policy)).expect("diff");
        let got = diff(&with_hosts, &apply_changes(&with_hosts, &policy)).expect("diff");
        assert_eq!(got.changes, expected.changes);
        assert_eq!(got.changes.len(), 8);
        // A forward policy on the uplinks that denies TCP 5432 from web pods changes those
        // pairs too (traffic between nodes crosses both uplinks).
        let forward = docs(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: fwd}\nspec:\n  selector: \"!has(projectcalico.org/namespace)\"\n  applyOnForward: true\n  types: [Egress]\n  egress: [{action: Deny, protocol: TCP, destination: {ports: [5432]}}, {action: Allow}]\n",
        );
        let d = diff(&with_hosts, &apply_changes(&with_hosts, &forward)).expect("diff");
        assert!(!d.changes.is_empty());
        assert!(
            d.changes
                .iter()
                .all(|c| c.probe == "tcp/5432" && c.before && !c.after),
            "{:?}",
            d.changes
        );
    }

    #[test]
    fn probe_space_covers_named_ports_icmp_and_other() {
        let r = docs(
            "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {name: n-k8s-a-eth0, namespace: ns}\nspec: {node: n, orchestrator: k8s, pod: a, endpoint: eth0, interfaceName: cali00000000001, ipNetworks: [10.0.0.1/32], ports: [{name: http, protocol: TCP, port: 8080}]}\n---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\nspec:\n  ingress:\n  - {action: Allow, protocol: TCP, destination: {ports: [http, '1024:1030']}}\n  - {action: Allow, protocol: ICMP}\n  - {action: Allow, protocol: UDP}\n",
        );
        let labels: Vec<String> = probe_space(r.iter()).iter().map(Probe::label).collect();
        assert_eq!(
            labels,
            ["icmp", "tcp/1024", "tcp/1031", "tcp/8080", "udp/1031"]
        );
    }

    #[test]
    fn two_hundred_endpoints_one_policy() {
        let current = cluster(200, 10);
        let new = docs(
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: db, namespace: ns}\nspec:\n  selector: app == 'db'\n  ingress: [{action: Allow, protocol: TCP, source: {selector: app == 'web'}, destination: {ports: [5432]}}]\n",
        );
        let after = apply_changes(&current, &new);
        let d = diff(&current, &after).expect("diff");
        assert_eq!(d.pairs, 200 * 199);
        assert_eq!(d.pairs_evaluated, 100 * 199);
        // Every source loses the other port to each db pod; db pods also lose 5432 to
        // each other.
        assert_eq!(d.changes.len(), 100 * 199 + 100 * 99);
    }
}
