//! The calculation graph: resources in, [`DataplaneUpdate`]s out, for one host.
//!
//! ```
//! use calico_model::sync::{SyncEvent, SyncStatus};
//! use calico_model::{decode_yaml, Resource};
//! use calico_policy::{CalcGraph, DataplaneUpdate};
//!
//! let mut graph = CalcGraph::new("node-1");
//! let docs = decode_yaml(r#"
//! apiVersion: projectcalico.org/v3
//! kind: GlobalNetworkPolicy
//! metadata: {name: allow-dns}
//! spec:
//!   selector: all()
//!   egress: [{action: Allow, protocol: UDP, destination: {ports: [53]}}]
//! ---
//! apiVersion: projectcalico.org/v3
//! kind: WorkloadEndpoint
//! metadata: {name: node--1-k8s-web-eth0, namespace: default, labels: {app: web}}
//! spec: {node: node-1, orchestrator: k8s, pod: web, endpoint: eth0,
//!        interfaceName: cali12345678901, ipNetworks: [10.0.0.1/32]}
//! "#).unwrap();
//! for r in docs {
//!     graph.on_event(SyncEvent::set(r));
//! }
//! graph.on_event(SyncEvent::Status(SyncStatus::InSync));
//! let updates = graph.flush();
//! assert!(updates.iter().any(|u| matches!(u, DataplaneUpdate::PolicyUpdate(p) if p.id.name == "allow-dns")));
//! assert_eq!(updates.last(), Some(&DataplaneUpdate::InSync));
//! ```
//!
//! # How it works
//! - Every resource is defaulted and validated on arrival; an invalid one counts as absent
//!   (Felix's validation filter).
//! - Two selector indexes: **local** (each policy's own selector, rewritten as Calico does,
//!   against this host's workload and host endpoints) and **global** (the selectors of the IP
//!   sets in use, against every endpoint and network set in the cluster). Both inherit labels
//!   from profiles (`pcns.*`, `pcsa.*`) and index by label so that a change costs in
//!   proportion to what it touches.
//! - A policy is *active* while it applies to a local endpoint (or carries the
//!   `AssumeNeededOnEveryNode` hint); a profile while a local endpoint lists it. Active ones are
//!   compiled, and the IP sets their rules use are reference counted; a set's membership is
//!   maintained from the global index with member reference counts.
//! - Changes mark objects dirty; [`CalcGraph::flush`] computes each dirty object's desired
//!   state, diffs it against what was last sent and emits the difference in dependency order.
//!   Output is a function of the current state only, so any order of the same inputs
//!   converges to the same dataplane state. Nothing is emitted before the first `InSync`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use calico_model::resources::{
    FelixConfigurationSpec, GlobalNetworkPolicySpec, NetworkPolicySpec, PolicyPerformanceHint,
    PolicyType, ProfileSpec, TierDefaultAction, TierSpec,
};
use calico_model::selector::Selector;
use calico_model::sync::{ResourceKey, SyncEvent, SyncStatus};
use calico_model::{Kind, Resource};
use ipnet::IpNet;

use crate::compile::{
    self, CompileError, IpSetSpec, LABEL_NAMESPACE, LABEL_ORCHESTRATOR, LABEL_SERVICE_ACCOUNT,
    RuleContext,
};
use crate::index::{MatchEvent, SelectorIndex};
use crate::ir::{
    self, DataplaneUpdate, Direction, IpSetId, IpSetMember, PolicyId, PolicyKind, Route,
    RouteTarget, TierInfo, WorkloadEndpointId,
};

/// The default tier's name and the built-in tiers' fixed order and action, used when the tier
/// resource itself has not been seen (Calico always creates them).
const BUILTIN_TIERS: [(&str, f64, TierDefaultAction); 3] = [
    ("default", 1_000_000.0, TierDefaultAction::Deny),
    ("kube-admin", 1_000.0, TierDefaultAction::Pass),
    ("kube-baseline", 10_000_000.0, TierDefaultAction::Pass),
];

/// Name of the FelixConfiguration every node reads.
const GLOBAL_FELIX_CONFIG: &str = "default";

/// A local endpoint (policy applies to these).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LocalEndpoint {
    /// A workload endpoint on this host.
    Workload(WorkloadEndpointId),
    /// A host endpoint of this host.
    Host(String),
}

/// Anything that can be an IP set member source.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum GlobalItem {
    Workload(WorkloadEndpointId),
    Host(String),
    NetworkSet { namespace: String, name: String },
}

/// What an item contributes to IP sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ItemData {
    nets: Vec<IpNet>,
    /// (name, protocol number, port).
    ports: Vec<(String, u8, u16)>,
}

impl ItemData {
    fn contribution(&self, spec: &IpSetSpec) -> Vec<IpSetMember> {
        match spec {
            IpSetSpec::Selector(_) => self.nets.iter().map(|n| IpSetMember::Net(*n)).collect(),
            IpSetSpec::NamedPort {
                protocol,
                port_name,
                ..
            } => {
                let mut out = Vec::new();
                for (name, proto, port) in &self.ports {
                    if name == port_name && proto == protocol {
                        for n in &self.nets {
                            out.push(IpSetMember::IpPort {
                                ip: n.addr(),
                                protocol: *proto,
                                port: *port,
                            });
                        }
                    }
                }
                out
            }
        }
    }
}

#[derive(Clone, Debug)]
enum PolicySpecRef {
    Namespaced(NetworkPolicySpec),
    Global(GlobalNetworkPolicySpec),
}

#[derive(Clone, Debug)]
struct PolicyState {
    tier: String,
    order: Option<f64>,
    ingress: bool,
    egress: bool,
    do_not_track: bool,
    pre_dnat: bool,
    apply_on_forward: bool,
    assume_needed: bool,
    selector: Selector,
    spec: PolicySpecRef,
    /// Felix's tie-break key within a tier: `name/namespace/kind`.
    sort_key: String,
}

#[derive(Clone, Debug)]
struct LocalWorkload {
    interface_name: String,
    mac: String,
    nets: Vec<IpNet>,
    profiles: Vec<String>,
    allow_spoofed: Vec<IpNet>,
}

#[derive(Clone, Debug)]
struct LocalHost {
    interface_name: String,
    expected: Vec<IpAddr>,
    profiles: Vec<String>,
}

/// Compiled rules of an active policy or profile, with the IP sets they hold references to.
#[derive(Clone, Debug)]
struct Compiled {
    inbound: Vec<ir::Rule>,
    outbound: Vec<ir::Rule>,
    ip_sets: BTreeMap<IpSetId, IpSetSpec>,
}

struct IpSetState {
    spec: IpSetSpec,
    refs: usize,
    /// Members with the number of items contributing each.
    members: BTreeMap<IpSetMember, usize>,
    /// The set must be sent in full at the next flush (new, or recreated).
    needs_full: bool,
    /// Changes since the last flush (only meaningful when `needs_full` is false).
    added: BTreeSet<IpSetMember>,
    removed: BTreeSet<IpSetMember>,
}

/// Counters for observability and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphStats {
    /// Resources accepted.
    pub updates: u64,
    /// Resources rejected by validation (treated as absent).
    pub rejected: u64,
    /// Active policies.
    pub active_policies: usize,
    /// Active profiles.
    pub active_profiles: usize,
    /// IP sets in use.
    pub ip_sets: usize,
    /// Local endpoints.
    pub local_endpoints: usize,
}

/// Felix's calculation graph for one host. See the [module docs](self).
pub struct CalcGraph {
    hostname: String,
    status: SyncStatus,
    in_sync_sent: bool,

    tiers: BTreeMap<String, TierSpec>,
    policies: HashMap<PolicyId, PolicyState>,
    profiles: BTreeMap<String, ProfileSpec>,
    items: BTreeMap<GlobalItem, ItemData>,
    local_workloads: BTreeMap<WorkloadEndpointId, LocalWorkload>,
    local_hosts: BTreeMap<String, LocalHost>,
    felix_configs: BTreeMap<String, FelixConfigurationSpec>,
    /// Problems found on input (resource key → reason), for diagnostics.
    rejected: BTreeMap<ResourceKey, String>,

    local: SelectorIndex<PolicyId, LocalEndpoint, String>,
    global: SelectorIndex<IpSetId, GlobalItem, String>,

    active_policies: HashMap<PolicyId, Compiled>,
    profile_refs: BTreeMap<String, usize>,
    active_profiles: BTreeMap<String, Compiled>,
    ip_sets: BTreeMap<IpSetId, IpSetState>,

    dirty_endpoints: BTreeSet<LocalEndpoint>,
    dirty_policies: BTreeSet<PolicyId>,
    dirty_profiles: BTreeSet<String>,
    dirty_ip_sets: BTreeSet<IpSetId>,
    dirty_routes: bool,
    dirty_config: bool,

    /// IP sets the dataplane has (members are tracked as deltas, not copied).
    sent_ip_sets: BTreeSet<IpSetId>,
    sent_policies: HashMap<PolicyId, ir::Policy>,
    sent_profiles: BTreeMap<String, ir::Profile>,
    sent_workloads: BTreeMap<WorkloadEndpointId, ir::WorkloadEndpoint>,
    sent_hosts: BTreeMap<String, ir::HostEndpoint>,
    sent_routes: BTreeSet<Route>,
    sent_config: Option<serde_json::Value>,
    stats: GraphStats,
}

impl CalcGraph {
    /// A graph for the host named `hostname` (Calico's node name).
    pub fn new(hostname: impl Into<String>) -> Self {
        CalcGraph {
            hostname: hostname.into(),
            status: SyncStatus::WaitForDatastore,
            in_sync_sent: false,
            tiers: BTreeMap::new(),
            policies: HashMap::new(),
            profiles: BTreeMap::new(),
            items: BTreeMap::new(),
            local_workloads: BTreeMap::new(),
            local_hosts: BTreeMap::new(),
            felix_configs: BTreeMap::new(),
            rejected: BTreeMap::new(),
            local: SelectorIndex::new(),
            global: SelectorIndex::new(),
            active_policies: HashMap::new(),
            profile_refs: BTreeMap::new(),
            active_profiles: BTreeMap::new(),
            ip_sets: BTreeMap::new(),
            dirty_endpoints: BTreeSet::new(),
            dirty_policies: BTreeSet::new(),
            dirty_profiles: BTreeSet::new(),
            dirty_ip_sets: BTreeSet::new(),
            dirty_routes: false,
            dirty_config: true,
            sent_ip_sets: BTreeSet::new(),
            sent_policies: HashMap::new(),
            sent_profiles: BTreeMap::new(),
            sent_workloads: BTreeMap::new(),
            sent_hosts: BTreeMap::new(),
            sent_routes: BTreeSet::new(),
            sent_config: None,
            stats: GraphStats::default(),
        }
    }

    /// The host this graph computes for.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Counters.
    pub fn stats(&self) -> GraphStats {
        GraphStats {
            active_policies: self.active_policies.len(),
            active_profiles: self.active_profiles.len(),
            ip_sets: self.ip_sets.len(),
            local_endpoints: self.local_workloads.len() + self.local_hosts.len(),
            ..self.stats.clone()
        }
    }

    /// Resources that were rejected on input, with why (they are treated as absent).
    pub fn rejected(&self) -> &BTreeMap<ResourceKey, String> {
        &self.rejected
    }

    /// Applies one event and returns what the dataplane must do (empty before `InSync`).
    pub fn on_update(&mut self, event: SyncEvent) -> Vec<DataplaneUpdate> {
        self.on_event(event);
        self.flush()
    }

    /// Applies one event without flushing. Call [`flush`](Self::flush) after a batch.
    pub fn on_event(&mut self, event: SyncEvent) {
        match event {
            SyncEvent::Status(s) => self.status = s,
            SyncEvent::Update { key, value, .. } => {
                let value = value.and_then(|mut r| {
                    if ResourceKey::of(&r) != key {
                        self.rejected
                            .insert(key.clone(), "resource does not match its key".into());
                        return None;
                    }
                    r.apply_defaults();
                    match r.validate() {
                        Ok(()) => {
                            self.rejected.remove(&key);
                            Some(r)
                        }
                        Err(e) => {
                            self.rejected.insert(key.clone(), e.to_string());
                            self.stats.rejected += 1;
                            None
                        }
                    }
                });
                self.stats.updates += 1;
                self.apply(&key, value);
            }
        }
    }

    fn apply(&mut self, key: &ResourceKey, value: Option<Resource>) {
        match (key.kind, value) {
            (Kind::Tier, v) => self.on_tier(key, v),
            (Kind::NetworkPolicy | Kind::GlobalNetworkPolicy, v) => self.on_policy(key, v),
            (Kind::Profile, v) => self.on_profile(key, v),
            (Kind::WorkloadEndpoint, v) => self.on_workload(key, v),
            (Kind::HostEndpoint, v) => self.on_host_endpoint(key, v),
            (Kind::NetworkSet | Kind::GlobalNetworkSet, v) => self.on_network_set(key, v),
            (Kind::FelixConfiguration, v) => self.on_felix_config(key, v),
            // Staged policies are evaluated for flow logs only and never enforced; other
            // kinds do not affect policy.
            _ => {}
        }
    }

    // ------------------------------------------------------------------------------------
    // Inputs

    fn on_tier(&mut self, key: &ResourceKey, value: Option<Resource>) {
        match value {
            Some(Resource::Tier(t)) => {
                self.tiers.insert(key.name.clone(), t.spec);
            }
            _ => {
                self.tiers.remove(&key.name);
            }
        }
        // Tier order and default action shape every endpoint that uses the tier.
        let affected: Vec<LocalEndpoint> = self
            .policies
            .iter()
            .filter(|(_, p)| p.tier == key.name)
            .flat_map(|(id, _)| self.local.matching_items(id).cloned().collect::<Vec<_>>())
            .collect();
        self.dirty_endpoints.extend(affected);
    }

    fn on_policy(&mut self, key: &ResourceKey, value: Option<Resource>) {
        let kind = if key.kind == Kind::NetworkPolicy {
            PolicyKind::NetworkPolicy
        } else {
            PolicyKind::GlobalNetworkPolicy
        };
        let id = PolicyId {
            kind,
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        };
        let state = match value {
            Some(Resource::NetworkPolicy(p)) => {
                let s = &p.spec;
                compile::network_policy_selector(s, &key.namespace)
                    .ok()
                    .map(|selector| PolicyState {
                        tier: tier_name(&s.tier),
                        order: s.order,
                        ingress: s.types.contains(&PolicyType::Ingress),
                        egress: s.types.contains(&PolicyType::Egress),
                        do_not_track: false,
                        pre_dnat: false,
                        apply_on_forward: true,
                        assume_needed: s
                            .performance_hints
                            .contains(&PolicyPerformanceHint::AssumeNeededOnEveryNode),
                        selector,
                        spec: PolicySpecRef::Namespaced(p.spec.clone()),
                        sort_key: format!("{}/{}/{}", key.name, key.namespace, kind.as_str()),
                    })
            }
            Some(Resource::GlobalNetworkPolicy(p)) => {
                let s = &p.spec;
                compile::global_network_policy_selector(s)
                    .ok()
                    .map(|selector| PolicyState {
                        tier: tier_name(&s.tier),
                        order: s.order,
                        ingress: s.types.contains(&PolicyType::Ingress),
                        egress: s.types.contains(&PolicyType::Egress),
                        do_not_track: s.do_not_track,
                        pre_dnat: s.pre_dnat,
                        apply_on_forward: s.apply_on_forward,
                        assume_needed: s
                            .performance_hints
                            .contains(&PolicyPerformanceHint::AssumeNeededOnEveryNode),
                        selector,
                        spec: PolicySpecRef::Global(p.spec.clone()),
                        sort_key: format!("{}/{}/{}", key.name, key.namespace, kind.as_str()),
                    })
            }
            _ => None,
        };
        let mut events = Vec::new();
        match state {
            Some(state) => {
                // Endpoints using the old version need their tiers recomputed too.
                let matched: Vec<LocalEndpoint> = self.local.matching_items(&id).cloned().collect();
                self.dirty_endpoints.extend(matched);
                self.local
                    .update_selector(id.clone(), state.selector.clone(), &mut |e| events.push(e));
                self.policies.insert(id.clone(), state);
                self.on_local_events(events);
                self.refresh_policy(&id);
                // The rules may have changed: recompile if it stayed active.
                self.recompile_policy(&id);
            }
            None => {
                self.local.remove_selector(&id, &mut |e| events.push(e));
                self.policies.remove(&id);
                self.on_local_events(events);
                self.refresh_policy(&id);
            }
        }
    }

    /// Recompiles an active policy, taking references on the new IP sets before releasing
    /// the old ones so that sets used by both versions are not rebuilt.
    fn recompile_policy(&mut self, id: &PolicyId) {
        if !self.active_policies.contains_key(id) {
            return;
        }
        let Some(state) = self.policies.get(id) else {
            return;
        };
        let compiled = compile_policy(id, state);
        match compiled {
            Ok(c) => {
                self.acquire_ip_sets(&c);
                if let Some(old) = self.active_policies.insert(id.clone(), c) {
                    self.release_ip_sets(&old);
                }
            }
            Err(e) => {
                self.rejected.insert(policy_key(id), e.to_string());
                if let Some(old) = self.active_policies.remove(id) {
                    self.release_ip_sets(&old);
                }
            }
        }
        self.dirty_policies.insert(id.clone());
    }

    fn on_profile(&mut self, key: &ResourceKey, value: Option<Resource>) {
        let name = key.name.clone();
        let mut local_events = Vec::new();
        let mut global_events = Vec::new();
        match value {
            Some(Resource::Profile(p)) => {
                let labels = p.spec.labels_to_apply.clone();
                self.local
                    .update_parent(name.clone(), labels.clone(), &mut |e| local_events.push(e));
                self.global
                    .update_parent(name.clone(), labels, &mut |e| global_events.push(e));
                self.profiles.insert(name.clone(), p.spec);
            }
            _ => {
                self.local
                    .remove_parent(&name, &mut |e| local_events.push(e));
                self.global
                    .remove_parent(&name, &mut |e| global_events.push(e));
                self.profiles.remove(&name);
            }
        }
        self.on_local_events(local_events);
        self.on_global_events(global_events, None);
        // Recompile if active (a missing profile compiles to the deny-all stand-in).
        if self.active_profiles.contains_key(&name) {
            let c = self.compile_profile_or_stand_in(&name);
            self.acquire_ip_sets(&c);
            if let Some(old) = self.active_profiles.insert(name.clone(), c) {
                self.release_ip_sets(&old);
            }
            self.dirty_profiles.insert(name.clone());
        }
        self.refresh_profile(&name);
    }

    fn compile_profile_or_stand_in(&self, name: &str) -> Compiled {
        match self.profiles.get(name) {
            Some(spec) => compile_profile(name, spec).unwrap_or_else(|_| deny_all()),
            // Fail closed: a profile that is referenced but unknown drops everything.
            None => deny_all(),
        }
    }

    fn on_workload(&mut self, key: &ResourceKey, value: Option<Resource>) {
        let id = WorkloadEndpointId {
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        };
        let item = GlobalItem::Workload(id.clone());
        let local_id = LocalEndpoint::Workload(id.clone());
        match value {
            Some(Resource::WorkloadEndpoint(w)) => {
                let s = &w.spec;
                let mut labels = w.metadata.labels.clone();
                labels
                    .entry(LABEL_NAMESPACE.to_owned())
                    .or_insert_with(|| key.namespace.clone());
                if !s.orchestrator.is_empty() {
                    labels
                        .entry(LABEL_ORCHESTRATOR.to_owned())
                        .or_insert_with(|| s.orchestrator.clone());
                }
                if !s.service_account_name.is_empty() {
                    labels
                        .entry(LABEL_SERVICE_ACCOUNT.to_owned())
                        .or_insert_with(|| s.service_account_name.clone());
                }
                let nets: Vec<IpNet> = s.ip_nets();
                let ports = s
                    .ports
                    .iter()
                    .filter(|p| !p.name.is_empty())
                    .filter_map(|p| Some((p.name.clone(), p.protocol.number()?, p.port)))
                    .collect();
                let data = ItemData {
                    nets: nets.clone(),
                    ports,
                };
                self.set_item(item, labels.clone(), s.profiles.clone(), data);
                if s.node == self.hostname {
                    let allow_spoofed = s
                        .allow_spoofed_source_prefixes
                        .iter()
                        .filter_map(|p| calico_model::scalar::parse_cidr_or_ip(p).ok())
                        .collect();
                    let lw = LocalWorkload {
                        interface_name: s.interface_name.clone(),
                        mac: s.mac.clone(),
                        nets,
                        profiles: s.profiles.clone(),
                        allow_spoofed,
                    };
                    let new_profiles = lw.profiles.clone();
                    self.set_local(local_id, labels, new_profiles.clone());
                    let old = self.local_workloads.insert(id, lw);
                    self.swap_profile_refs(&new_profiles, old.map(|o| o.profiles));
                } else {
                    self.remove_local_workload(&id);
                }
            }
            _ => {
                self.remove_item(&item);
                self.remove_local_workload(&id);
            }
        }
        self.dirty_routes = true;
    }

    fn remove_local_workload(&mut self, id: &WorkloadEndpointId) {
        if let Some(old) = self.local_workloads.remove(id) {
            self.forget_local(LocalEndpoint::Workload(id.clone()), &old.profiles);
        }
    }

    /// Takes the new profile references before dropping the old ones, so a
    /// profile both lists share is never released and re-activated.
    fn swap_profile_refs(&mut self, new: &[String], old: Option<Vec<String>>) {
        self.ref_profiles(new);
        if let Some(old) = old {
            self.unref_profiles(&old);
        }
    }

    /// Removes a local endpoint (deleted, or moved to another node) from the
    /// local index and releases its profiles.
    fn forget_local(&mut self, local_id: LocalEndpoint, profiles: &[String]) {
        let mut events = Vec::new();
        self.local.remove_item(&local_id, &mut |e| events.push(e));
        self.on_local_events(events);
        self.unref_profiles(profiles);
        self.dirty_endpoints.insert(local_id);
    }

    fn on_host_endpoint(&mut self, key: &ResourceKey, value: Option<Resource>) {
        let name = key.name.clone();
        let item = GlobalItem::Host(name.clone());
        let local_id = LocalEndpoint::Host(name.clone());
        match value {
            Some(Resource::HostEndpoint(h)) => {
                let s = &h.spec;
                let expected: Vec<IpAddr> = s
                    .expected_ips
                    .iter()
                    .filter_map(|ip| ip.parse().ok())
                    .collect();
                let nets = expected.iter().map(|ip| IpNet::from(*ip)).collect();
                let ports = s
                    .ports
                    .iter()
                    .filter_map(|p| Some((p.name.clone(), p.protocol.number()?, p.port)))
                    .collect();
                let labels = h.metadata.labels.clone();
                self.set_item(
                    item,
                    labels.clone(),
                    s.profiles.clone(),
                    ItemData { nets, ports },
                );
                if s.node == self.hostname {
                    let lh = LocalHost {
                        interface_name: s.interface_name.clone(),
                        expected,
                        profiles: s.profiles.clone(),
                    };
                    let new_profiles = lh.profiles.clone();
                    self.set_local(local_id, labels, new_profiles.clone());
                    let old = self.local_hosts.insert(name, lh);
                    self.swap_profile_refs(&new_profiles, old.map(|o| o.profiles));
                } else {
                    self.remove_local_host(&name);
                }
            }
            _ => {
                self.remove_item(&item);
                self.remove_local_host(&name);
            }
        }
    }

    fn remove_local_host(&mut self, name: &str) {
        if let Some(old) = self.local_hosts.remove(name) {
            self.forget_local(LocalEndpoint::Host(name.to_owned()), &old.profiles);
        }
    }

    fn on_network_set(&mut self, key: &ResourceKey, value: Option<Resource>) {
        let item = GlobalItem::NetworkSet {
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        };
        let (labels, nets, parents) = match value {
            Some(Resource::NetworkSet(n)) => {
                let mut labels = n.metadata.labels.clone();
                labels.insert(LABEL_NAMESPACE.to_owned(), key.namespace.clone());
                let parent = format!(
                    "{}{}",
                    calico_model::k8s::NAMESPACE_PROFILE_PREFIX,
                    key.namespace
                );
                (labels, n.spec.nets(), vec![parent])
            }
            Some(Resource::GlobalNetworkSet(n)) => {
                (n.metadata.labels.clone(), n.spec.nets(), Vec::new())
            }
            _ => {
                self.remove_item(&item);
                return;
            }
        };
        self.set_item(
            item,
            labels,
            parents,
            ItemData {
                nets,
                ports: Vec::new(),
            },
        );
    }

    fn on_felix_config(&mut self, key: &ResourceKey, value: Option<Resource>) {
        match value {
            Some(Resource::FelixConfiguration(f)) => {
                self.felix_configs.insert(key.name.clone(), f.spec);
            }
            _ => {
                self.felix_configs.remove(&key.name);
            }
        }
        self.dirty_config = true;
    }

    // ------------------------------------------------------------------------------------
    // Indexes

    fn set_local(
        &mut self,
        id: LocalEndpoint,
        labels: BTreeMap<String, String>,
        parents: Vec<String>,
    ) {
        let mut events = Vec::new();
        self.local
            .update_item(id.clone(), labels, parents, &mut |e| events.push(e));
        self.on_local_events(events);
        self.dirty_endpoints.insert(id);
    }

    fn set_item(
        &mut self,
        item: GlobalItem,
        labels: BTreeMap<String, String>,
        parents: Vec<String>,
        data: ItemData,
    ) {
        let before: BTreeSet<IpSetId> = self.global.matching_selectors(&item).cloned().collect();
        let mut events = Vec::new();
        self.global
            .update_item(item.clone(), labels, parents, &mut |e| events.push(e));
        let old = self.items.insert(item.clone(), data.clone());
        // Sets that kept matching: the item's addresses or ports may have changed.
        if let Some(old) = &old
            && *old != data
        {
            let stopped: BTreeSet<&IpSetId> = events
                .iter()
                .filter_map(|e| match e {
                    MatchEvent::Stopped(s, _) => Some(s),
                    MatchEvent::Started(..) => None,
                })
                .collect();
            for set in before.iter().filter(|s| !stopped.contains(s)) {
                self.change_contribution(set, old, &data);
            }
        }
        self.on_global_events(events, old.as_ref());
    }

    fn remove_item(&mut self, item: &GlobalItem) {
        let mut events = Vec::new();
        self.global.remove_item(item, &mut |e| events.push(e));
        let old = self.items.remove(item);
        self.on_global_events(events, old.as_ref());
    }

    /// Applies global-index match changes to IP set members. `old` is the item's previous data
    /// (for `Stopped` events of an item that was just replaced or removed).
    fn on_global_events(
        &mut self,
        events: Vec<MatchEvent<IpSetId, GlobalItem>>,
        old: Option<&ItemData>,
    ) {
        for e in events {
            match e {
                MatchEvent::Started(set, item) => {
                    let Some(data) = self.items.get(&item).cloned() else {
                        continue;
                    };
                    self.change_contribution(&set, &ItemData::default(), &data);
                }
                MatchEvent::Stopped(set, item) => {
                    let data = match old {
                        Some(d) => d.clone(),
                        None => match self.items.get(&item) {
                            Some(d) => d.clone(),
                            None => continue,
                        },
                    };
                    self.change_contribution(&set, &data, &ItemData::default());
                }
            }
        }
    }

    fn change_contribution(&mut self, set: &IpSetId, old: &ItemData, new: &ItemData) {
        let Some(state) = self.ip_sets.get_mut(set) else {
            return;
        };
        let removed = old.contribution(&state.spec);
        let added = new.contribution(&state.spec);
        let mut changed = false;
        for m in added {
            let c = state.members.entry(m.clone()).or_insert(0);
            *c += 1;
            if *c == 1 {
                changed = true;
                if !state.removed.remove(&m) {
                    state.added.insert(m);
                }
            }
        }
        for m in removed {
            if let Some(c) = state.members.get_mut(&m) {
                *c -= 1;
                if *c == 0 {
                    state.members.remove(&m);
                    changed = true;
                    if !state.added.remove(&m) {
                        state.removed.insert(m);
                    }
                }
            }
        }
        if changed {
            self.dirty_ip_sets.insert(set.clone());
        }
    }

    fn on_local_events(&mut self, events: Vec<MatchEvent<PolicyId, LocalEndpoint>>) {
        let mut policies = BTreeSet::new();
        for e in events {
            let (MatchEvent::Started(p, ep) | MatchEvent::Stopped(p, ep)) = e;
            self.dirty_endpoints.insert(ep);
            policies.insert(p);
        }
        for p in policies {
            self.refresh_policy(&p);
        }
    }

    // ------------------------------------------------------------------------------------
    // Activation

    /// Activates or deactivates a policy to match its current local matches.
    fn refresh_policy(&mut self, id: &PolicyId) {
        let want = self
            .policies
            .get(id)
            .is_some_and(|p| p.assume_needed || self.local.matching_items(id).next().is_some());
        let have = self.active_policies.contains_key(id);
        match (want, have) {
            (true, false) => {
                let Some(state) = self.policies.get(id) else {
                    return;
                };
                match compile_policy(id, state) {
                    Ok(c) => {
                        self.acquire_ip_sets(&c);
                        self.active_policies.insert(id.clone(), c);
                    }
                    Err(e) => {
                        self.rejected.insert(policy_key(id), e.to_string());
                    }
                }
                self.dirty_policies.insert(id.clone());
            }
            (false, true) => {
                if let Some(old) = self.active_policies.remove(id) {
                    self.release_ip_sets(&old);
                }
                self.dirty_policies.insert(id.clone());
            }
            _ => {}
        }
    }

    fn ref_profiles(&mut self, names: &[String]) {
        for n in names {
            *self.profile_refs.entry(n.clone()).or_insert(0) += 1;
            self.refresh_profile(n);
        }
    }

    fn unref_profiles(&mut self, names: &[String]) {
        for n in names {
            if let Some(c) = self.profile_refs.get_mut(n) {
                *c -= 1;
                if *c == 0 {
                    self.profile_refs.remove(n);
                }
            }
            self.refresh_profile(n);
        }
    }

    fn refresh_profile(&mut self, name: &str) {
        let want = self.profile_refs.contains_key(name);
        let have = self.active_profiles.contains_key(name);
        if want && !have {
            let compiled = self.compile_profile_or_stand_in(name);
            self.acquire_ip_sets(&compiled);
            self.active_profiles.insert(name.to_owned(), compiled);
            self.dirty_profiles.insert(name.to_owned());
        } else if !want && have {
            if let Some(old) = self.active_profiles.remove(name) {
                self.release_ip_sets(&old);
            }
            self.dirty_profiles.insert(name.to_owned());
        }
    }

    fn acquire_ip_sets(&mut self, c: &Compiled) {
        for (id, spec) in &c.ip_sets {
            if let Some(state) = self.ip_sets.get_mut(id) {
                state.refs += 1;
                continue;
            }
            self.ip_sets.insert(
                id.clone(),
                IpSetState {
                    spec: spec.clone(),
                    refs: 1,
                    members: BTreeMap::new(),
                    needs_full: true,
                    added: BTreeSet::new(),
                    removed: BTreeSet::new(),
                },
            );
            self.dirty_ip_sets.insert(id.clone());
            let mut events = Vec::new();
            self.global
                .update_selector(id.clone(), spec.selector().clone(), &mut |e| events.push(e));
            self.on_global_events(events, None);
        }
    }

    fn release_ip_sets(&mut self, c: &Compiled) {
        for id in c.ip_sets.keys() {
            let Some(state) = self.ip_sets.get_mut(id) else {
                continue;
            };
            state.refs -= 1;
            if state.refs == 0 {
                self.ip_sets.remove(id);
                let mut ignored = Vec::new();
                self.global.remove_selector(id, &mut |e| ignored.push(e));
                self.dirty_ip_sets.insert(id.clone());
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // Output

    /// Emits what changed since the last flush, in dependency order. Empty until the
    /// datastore is in sync; the first flush after that carries the full state and ends with
    /// [`DataplaneUpdate::InSync`].
    pub fn flush(&mut self) -> Vec<DataplaneUpdate> {
        if !self.in_sync_sent && self.status != SyncStatus::InSync {
            return Vec::new();
        }
        let mut out = Vec::new();

        // Config.
        if self.dirty_config {
            self.dirty_config = false;
            let cfg = self.effective_config();
            if self.sent_config.as_ref() != Some(&cfg) {
                out.push(DataplaneUpdate::ConfigUpdate(cfg.clone()));
                self.sent_config = Some(cfg);
            }
        }

        // IP sets: new and changed.
        let mut set_removes = Vec::new();
        let mut deltas = Vec::new();
        for id in std::mem::take(&mut self.dirty_ip_sets) {
            let sent = self.sent_ip_sets.contains(&id);
            match self.ip_sets.get_mut(&id) {
                Some(state) if state.needs_full => {
                    state.needs_full = false;
                    state.added.clear();
                    state.removed.clear();
                    out.push(DataplaneUpdate::IpSetUpdate {
                        id: id.clone(),
                        set_type: state.spec.set_type(),
                        members: state.members.keys().cloned().collect(),
                    });
                    self.sent_ip_sets.insert(id);
                }
                Some(state) if !state.added.is_empty() || !state.removed.is_empty() => {
                    deltas.push(DataplaneUpdate::IpSetDelta {
                        id: id.clone(),
                        added: std::mem::take(&mut state.added),
                        removed: std::mem::take(&mut state.removed),
                    });
                }
                Some(_) => {}
                None if sent => set_removes.push(id),
                None => {}
            }
        }
        out.extend(deltas);

        // Policies and profiles.
        let mut policy_removes = Vec::new();
        for id in std::mem::take(&mut self.dirty_policies) {
            let desired = self
                .active_policies
                .get(&id)
                .and_then(|c| self.policies.get(&id).map(|state| (c, state)));
            match desired {
                Some((c, state)) => {
                    let unchanged = self.sent_policies.get(&id).is_some_and(|sent| {
                        sent.inbound_rules == c.inbound
                            && sent.outbound_rules == c.outbound
                            && sent.tier == state.tier
                            && sent.untracked == state.do_not_track
                            && sent.pre_dnat == state.pre_dnat
                            && sent.apply_on_forward == state.apply_on_forward
                            && sent.selector == state.selector.as_str()
                    });
                    if !unchanged {
                        let p = ir::Policy {
                            id: id.clone(),
                            tier: state.tier.clone(),
                            inbound_rules: c.inbound.clone(),
                            outbound_rules: c.outbound.clone(),
                            untracked: state.do_not_track,
                            pre_dnat: state.pre_dnat,
                            apply_on_forward: state.apply_on_forward,
                            selector: state.selector.to_string(),
                        };
                        out.push(DataplaneUpdate::PolicyUpdate(p.clone()));
                        self.sent_policies.insert(id, p);
                    }
                }
                None => {
                    if self.sent_policies.remove(&id).is_some() {
                        policy_removes.push(id);
                    }
                }
            }
        }
        let mut profile_removes = Vec::new();
        for name in std::mem::take(&mut self.dirty_profiles) {
            match self.active_profiles.get(&name) {
                Some(c) => {
                    let p = ir::Profile {
                        name: name.clone(),
                        inbound_rules: c.inbound.clone(),
                        outbound_rules: c.outbound.clone(),
                    };
                    if self.sent_profiles.get(&name) != Some(&p) {
                        out.push(DataplaneUpdate::ProfileUpdate(p.clone()));
                        self.sent_profiles.insert(name, p);
                    }
                }
                None => {
                    if self.sent_profiles.remove(&name).is_some() {
                        profile_removes.push(name);
                    }
                }
            }
        }

        // Endpoints.
        let mut wep_removes = Vec::new();
        let mut hep_removes = Vec::new();
        for ep in std::mem::take(&mut self.dirty_endpoints) {
            match &ep {
                LocalEndpoint::Workload(id) => match self.workload_update(id) {
                    Some(w) => {
                        if self.sent_workloads.get(id) != Some(&w) {
                            out.push(DataplaneUpdate::WorkloadEndpointUpdate(w.clone()));
                            self.sent_workloads.insert(id.clone(), w);
                        }
                    }
                    None => {
                        if self.sent_workloads.remove(id).is_some() {
                            wep_removes.push(id.clone());
                        }
                    }
                },
                LocalEndpoint::Host(name) => match self.host_update(name) {
                    Some(h) => {
                        if self.sent_hosts.get(name) != Some(&h) {
                            out.push(DataplaneUpdate::HostEndpointUpdate(h.clone()));
                            self.sent_hosts.insert(name.clone(), h);
                        }
                    }
                    None => {
                        if self.sent_hosts.remove(name).is_some() {
                            hep_removes.push(name.clone());
                        }
                    }
                },
            }
        }

        // Removals, in reverse dependency order.
        out.extend(
            wep_removes
                .into_iter()
                .map(DataplaneUpdate::WorkloadEndpointRemove),
        );
        out.extend(
            hep_removes
                .into_iter()
                .map(DataplaneUpdate::HostEndpointRemove),
        );
        out.extend(
            profile_removes
                .into_iter()
                .map(DataplaneUpdate::ProfileRemove),
        );
        out.extend(
            policy_removes
                .into_iter()
                .map(DataplaneUpdate::PolicyRemove),
        );
        for id in set_removes {
            self.sent_ip_sets.remove(&id);
            out.push(DataplaneUpdate::IpSetRemove(id));
        }

        // Routes to local workloads.
        if self.dirty_routes {
            self.dirty_routes = false;
            let desired: BTreeSet<Route> = self
                .local_workloads
                .values()
                .flat_map(|w| {
                    w.nets.iter().map(|n| Route {
                        dst: *n,
                        target: RouteTarget::LocalWorkload {
                            interface_name: w.interface_name.clone(),
                        },
                    })
                })
                .collect();
            for r in self.sent_routes.difference(&desired) {
                out.push(DataplaneUpdate::RouteRemove(r.clone()));
            }
            for r in desired.difference(&self.sent_routes) {
                out.push(DataplaneUpdate::RouteUpdate(r.clone()));
            }
            self.sent_routes = desired;
        }

        if !self.in_sync_sent {
            self.in_sync_sent = true;
            out.push(DataplaneUpdate::InSync);
        }
        out
    }

    fn effective_config(&self) -> serde_json::Value {
        let mut layers: Vec<&FelixConfigurationSpec> = Vec::new();
        if let Some(g) = self.felix_configs.get(GLOBAL_FELIX_CONFIG) {
            layers.push(g);
        }
        if let Some(n) = self.felix_configs.get(&format!("node.{}", self.hostname)) {
            layers.push(n);
        }
        serde_json::to_value(FelixConfigurationSpec::merge(&layers))
            .unwrap_or(serde_json::Value::Null)
    }

    /// The ordered tiers of a local endpoint, split by list (normal, untracked, preDNAT,
    /// forward) as Felix does.
    fn tiers_of(
        &self,
        ep: &LocalEndpoint,
        select: impl Fn(&PolicyState) -> Option<(bool, bool)>,
    ) -> Vec<TierInfo> {
        let mut by_tier: BTreeMap<String, Vec<(&PolicyId, &PolicyState, bool, bool)>> =
            BTreeMap::new();
        for id in self.local.matching_selectors(ep) {
            let Some(state) = self.policies.get(id) else {
                continue;
            };
            if !self.active_policies.contains_key(id) {
                continue;
            }
            if let Some((ingress, egress)) = select(state) {
                by_tier
                    .entry(state.tier.clone())
                    .or_default()
                    .push((id, state, ingress, egress));
            }
        }
        let mut tiers: Vec<(TierSortKey, TierInfo)> = by_tier
            .into_iter()
            .map(|(tier, mut pols)| {
                pols.sort_by(|a, b| policy_sort_key(a.1).cmp(&policy_sort_key(b.1)));
                let (order, default_action) = self.tier_props(&tier);
                let info = TierInfo {
                    name: tier.clone(),
                    default_action,
                    ingress_policies: pols.iter().filter(|p| p.2).map(|p| p.0.clone()).collect(),
                    egress_policies: pols.iter().filter(|p| p.3).map(|p| p.0.clone()).collect(),
                };
                (
                    TierSortKey {
                        order: OrderKey(order),
                        name: tier,
                    },
                    info,
                )
            })
            .filter(|(_, t)| !t.ingress_policies.is_empty() || !t.egress_policies.is_empty())
            .collect();
        tiers.sort_by(|a, b| a.0.cmp(&b.0));
        tiers.into_iter().map(|(_, t)| t).collect()
    }

    fn tier_props(&self, tier: &str) -> (Option<f64>, TierDefaultAction) {
        if let Some(t) = self.tiers.get(tier) {
            return (t.order, t.default_action.unwrap_or_default());
        }
        BUILTIN_TIERS
            .iter()
            .find(|(n, _, _)| *n == tier)
            .map_or((None, TierDefaultAction::Deny), |(_, o, a)| (Some(*o), *a))
    }

    fn workload_update(&self, id: &WorkloadEndpointId) -> Option<ir::WorkloadEndpoint> {
        let w = self.local_workloads.get(id)?;
        let ep = LocalEndpoint::Workload(id.clone());
        // Workloads see only "normal" policies.
        let tiers = self.tiers_of(&ep, |p| {
            (!p.do_not_track && !p.pre_dnat).then_some((p.ingress, p.egress))
        });
        let (v4, v6): (Vec<IpNet>, Vec<IpNet>) =
            w.nets.iter().partition(|n| matches!(n, IpNet::V4(_)));
        Some(ir::WorkloadEndpoint {
            id: id.clone(),
            interface_name: w.interface_name.clone(),
            mac: w.mac.clone(),
            ipv4_nets: v4,
            ipv6_nets: v6,
            profile_ids: w.profiles.clone(),
            tiers,
            allow_spoofed_source_prefixes: w.allow_spoofed.clone(),
        })
    }

    fn host_update(&self, name: &str) -> Option<ir::HostEndpoint> {
        let h = self.local_hosts.get(name)?;
        let ep = LocalEndpoint::Host(name.to_owned());
        let normal = self.tiers_of(&ep, |p| {
            (!p.do_not_track && !p.pre_dnat).then_some((p.ingress, p.egress))
        });
        let untracked = self.tiers_of(&ep, |p| p.do_not_track.then_some((p.ingress, p.egress)));
        let pre_dnat = self.tiers_of(&ep, |p| p.pre_dnat.then_some((p.ingress, false)));
        let forward = self.tiers_of(&ep, |p| {
            (p.apply_on_forward && !p.do_not_track && !p.pre_dnat).then_some((p.ingress, p.egress))
        });
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = h.expected.iter().partition(|a| a.is_ipv4());
        Some(ir::HostEndpoint {
            id: name.to_owned(),
            interface_name: h.interface_name.clone(),
            expected_ipv4_addrs: v4,
            expected_ipv6_addrs: v6,
            profile_ids: h.profiles.clone(),
            tiers: normal,
            untracked_tiers: untracked,
            pre_dnat_tiers: pre_dnat,
            forward_tiers: forward,
        })
    }
}

fn policy_key(id: &PolicyId) -> ResourceKey {
    let kind = match id.kind {
        PolicyKind::NetworkPolicy => Kind::NetworkPolicy,
        PolicyKind::GlobalNetworkPolicy => Kind::GlobalNetworkPolicy,
    };
    ResourceKey::new(kind, id.namespace.clone(), id.name.clone())
}

fn tier_name(t: &str) -> String {
    if t.is_empty() {
        "default".to_owned()
    } else {
        t.to_owned()
    }
}

/// Total order on optional tier/policy orders: lower first, `None` (infinite) last.
#[derive(Clone, Copy, Debug, PartialEq)]
struct OrderKey(Option<f64>);

impl Eq for OrderKey {}

impl PartialOrd for OrderKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self.0, other.0) {
            (Some(a), Some(b)) => a.total_cmp(&b),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TierSortKey {
    order: OrderKey,
    name: String,
}

/// Felix's policy order within a tier: `order` (none = last), then `name/namespace/kind`.
fn policy_sort_key(state: &PolicyState) -> (OrderKey, &str) {
    (OrderKey(state.order), &state.sort_key)
}

fn compile_rules(
    rules: &[calico_model::resources::Rule],
    namespace: &str,
    owner: &str,
    direction: Direction,
    ip_sets: &mut BTreeMap<IpSetId, IpSetSpec>,
) -> Result<Vec<ir::Rule>, CompileError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let c = compile::compile_rule(
                r,
                i,
                RuleContext {
                    namespace,
                    owner,
                    direction,
                },
            )?;
            ip_sets.extend(c.ip_sets);
            Ok(c.rule)
        })
        .collect()
}

fn compile_policy(id: &PolicyId, state: &PolicyState) -> Result<Compiled, CompileError> {
    let owner = id.to_string();
    let mut ip_sets = BTreeMap::new();
    let (ingress, egress) = match &state.spec {
        PolicySpecRef::Namespaced(s) => (&s.ingress, &s.egress),
        PolicySpecRef::Global(s) => (&s.ingress, &s.egress),
    };
    // A direction the policy's types leave out contributes no rules.
    let inbound = if state.ingress {
        compile_rules(
            ingress,
            &id.namespace,
            &owner,
            Direction::Ingress,
            &mut ip_sets,
        )?
    } else {
        Vec::new()
    };
    let outbound = if state.egress {
        compile_rules(
            egress,
            &id.namespace,
            &owner,
            Direction::Egress,
            &mut ip_sets,
        )?
    } else {
        Vec::new()
    };
    Ok(Compiled {
        inbound,
        outbound,
        ip_sets,
    })
}

fn compile_profile(name: &str, spec: &ProfileSpec) -> Result<Compiled, CompileError> {
    let owner = format!("Profile/{name}");
    let mut ip_sets = BTreeMap::new();
    let inbound = compile_rules(&spec.ingress, "", &owner, Direction::Ingress, &mut ip_sets)?;
    let outbound = compile_rules(&spec.egress, "", &owner, Direction::Egress, &mut ip_sets)?;
    Ok(Compiled {
        inbound,
        outbound,
        ip_sets,
    })
}

/// The stand-in for a referenced but missing (or uncompilable) profile: deny everything.
fn deny_all() -> Compiled {
    let rule = |direction: Direction| ir::Rule {
        action: ir::Action::Deny,
        ip_version: None,
        protocol: None,
        not_protocol: None,
        icmp: None,
        not_icmp: None,
        src: ir::EndpointMatch::default(),
        dst: ir::EndpointMatch::default(),
        http: None,
        id: format!("missing-profile-{direction:?}"),
        index: 0,
    };
    Compiled {
        inbound: vec![rule(Direction::Ingress)],
        outbound: vec![rule(Direction::Egress)],
        ip_sets: BTreeMap::new(),
    }
}
