//! A whole-cluster view for analysis: one [`CalcGraph`] per node, and a directory of every
//! endpoint with its node and addresses.
//!
//! The calculation graph is per host: a workload endpoint is only policed by the node it runs
//! on. A packet between two nodes is therefore checked twice — the source's egress by the
//! source node, the destination's ingress by the destination node — and each node sees the
//! other end as a remote address. [`ClusterView`] keeps one [`DataplaneState`] per node that
//! has an endpoint, built by running that node's own `CalcGraph` over every resource, so that
//! each direction is judged exactly as that node's dataplane would judge it (including its
//! host endpoints' forward policy). Building only the nodes a question involves
//! ([`ClusterView::build_for_nodes`]) keeps single-packet questions cheap.
//!
//! ```
//! use calico_model::decode_yaml;
//! use calico_policy::cluster::ClusterView;
//!
//! let resources = decode_yaml(r#"
//! apiVersion: projectcalico.org/v3
//! kind: WorkloadEndpoint
//! metadata: {name: node--1-k8s-web-eth0, namespace: default}
//! spec: {node: node-1, orchestrator: k8s, pod: web, endpoint: eth0,
//!        interfaceName: cali12345678901, ipNetworks: [10.0.0.1/32]}
//! "#).unwrap();
//! let view = ClusterView::build(&resources).unwrap();
//! let web = view.resolve("default/web").unwrap();
//! assert_eq!(web.node.as_deref(), Some("node-1"));
//! assert_eq!(view.nodes().collect::<Vec<_>>(), ["node-1"]);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use calico_model::Resource;
use calico_model::sync::{SyncEvent, SyncStatus};
use serde::Serialize;

use crate::CalcGraph;
use crate::eval::{ContractError, DataplaneState};

/// Why a cluster view could not be built or a peer not resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// A node's calculation graph emitted a stream the evaluator refused (a bug).
    #[error("node {node}: update stream contract: {source}")]
    Contract {
        /// The node.
        node: String,
        /// What was wrong.
        source: ContractError,
    },
    /// `ns/name` names no workload endpoint.
    #[error("workload endpoint {0:?} not found")]
    NotFound(String),
    /// `ns/name` names more than one workload endpoint.
    #[error("{name:?} is ambiguous; it matches: {}", candidates.join(", "))]
    Ambiguous {
        /// What was asked for.
        name: String,
        /// The matching endpoints (`ns/WorkloadEndpoint-name`).
        candidates: Vec<String>,
    },
    /// Neither `ns/name` nor an IP address.
    #[error("{0:?} is neither <namespace>/<workload> nor an IP address")]
    BadPeer(String),
}

/// The kind of an endpoint in the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// A WorkloadEndpoint.
    Workload,
    /// A HostEndpoint.
    Host,
}

/// One endpoint of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct EndpointRecord {
    /// Workload or host endpoint.
    pub kind: EndpointKind,
    /// Namespace (empty for host endpoints).
    pub namespace: String,
    /// The resource name.
    pub name: String,
    /// The pod (or orchestrator workload) name, if any.
    pub workload: String,
    /// The node it runs on.
    pub node: String,
    /// Its addresses.
    pub addresses: Vec<IpAddr>,
}

impl EndpointRecord {
    /// `ns/name` for workloads, `hep:<name>` for host endpoints.
    pub fn display_name(&self) -> String {
        match self.kind {
            EndpointKind::Workload => format!("{}/{}", self.namespace, self.name),
            EndpointKind::Host => format!("hep:{}", self.name),
        }
    }

    /// The first address of a family (`v6` or not), or the first address at all.
    pub fn address(&self, v6: Option<bool>) -> Option<IpAddr> {
        match v6 {
            Some(v6) => self.addresses.iter().find(|a| a.is_ipv6() == v6).copied(),
            None => self
                .addresses
                .iter()
                .find(|a| a.is_ipv4())
                .or(self.addresses.first())
                .copied(),
        }
    }
}

/// One end of a packet: an endpoint of the cluster, or an external address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Peer {
    /// What the user wrote.
    pub spec: String,
    /// The endpoint, if the peer is one.
    pub endpoint: Option<EndpointRecord>,
    /// The node that polices it (`None` for external addresses).
    pub node: Option<String>,
    /// The address, when given as one.
    pub ip: Option<IpAddr>,
}

impl Peer {
    /// The address to use for a packet of family `v6` (`None`: prefer IPv4).
    pub fn address(&self, v6: Option<bool>) -> Option<IpAddr> {
        if let Some(ip) = self.ip {
            return Some(ip);
        }
        self.endpoint.as_ref().and_then(|e| e.address(v6))
    }
}

/// Every endpoint of the cluster and one dataplane state per node.
#[derive(Debug, Default)]
pub struct ClusterView {
    endpoints: Vec<EndpointRecord>,
    states: BTreeMap<String, DataplaneState>,
    rejected: BTreeMap<String, String>,
}

impl ClusterView {
    /// The view of every node that has an endpoint.
    pub fn build(resources: &[Resource]) -> Result<ClusterView, ClusterError> {
        let endpoints = directory(resources);
        let nodes: BTreeSet<String> = endpoints.iter().map(|e| e.node.clone()).collect();
        Self::with_nodes(resources, endpoints, &nodes)
    }

    /// The view of only `nodes` (endpoints elsewhere are still in the directory, but their
    /// node's state is not built).
    pub fn build_for_nodes(
        resources: &[Resource],
        nodes: &BTreeSet<String>,
    ) -> Result<ClusterView, ClusterError> {
        Self::with_nodes(resources, directory(resources), nodes)
    }

    /// Only the directory, no node state (cheap; enough for [`ClusterView::resolve`]).
    pub fn directory_only(resources: &[Resource]) -> ClusterView {
        ClusterView {
            endpoints: directory(resources),
            ..ClusterView::default()
        }
    }

    fn with_nodes(
        resources: &[Resource],
        endpoints: Vec<EndpointRecord>,
        nodes: &BTreeSet<String>,
    ) -> Result<ClusterView, ClusterError> {
        let mut states = BTreeMap::new();
        let mut rejected = BTreeMap::new();
        for node in nodes {
            let (state, rej) = node_state(node, resources)?;
            for (k, why) in rej {
                rejected.insert(k, why);
            }
            states.insert(node.clone(), state);
        }
        Ok(ClusterView {
            endpoints,
            states,
            rejected,
        })
    }

    /// Every endpoint, ordered by kind, namespace and name.
    pub fn endpoints(&self) -> &[EndpointRecord] {
        &self.endpoints
    }

    /// The nodes whose state was built.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// The dataplane state of one node, if built.
    pub fn state(&self, node: &str) -> Option<&DataplaneState> {
        self.states.get(node)
    }

    /// Resources a node's graph rejected (invalid), as `key → why`.
    pub fn rejected(&self) -> &BTreeMap<String, String> {
        &self.rejected
    }

    /// The endpoint owning `ip`, if any.
    pub fn endpoint_by_ip(&self, ip: IpAddr) -> Option<&EndpointRecord> {
        self.endpoints.iter().find(|e| e.addresses.contains(&ip))
    }

    /// Resolves a peer: `<ns>/<name>` where name is a WorkloadEndpoint name or its pod
    /// (orchestrator workload) name, `hep:<name>` for a HostEndpoint, or an IP address (an
    /// endpoint's if one has it, external otherwise).
    pub fn resolve(&self, spec: &str) -> Result<Peer, ClusterError> {
        if let Ok(ip) = spec.parse::<IpAddr>() {
            let endpoint = self.endpoint_by_ip(ip).cloned();
            return Ok(Peer {
                spec: spec.to_owned(),
                node: endpoint.as_ref().map(|e| e.node.clone()),
                endpoint,
                ip: Some(ip),
            });
        }
        let found = |e: &EndpointRecord| Peer {
            spec: spec.to_owned(),
            node: Some(e.node.clone()),
            endpoint: Some(e.clone()),
            ip: None,
        };
        if let Some(name) = spec.strip_prefix("hep:") {
            return self
                .endpoints
                .iter()
                .find(|e| e.kind == EndpointKind::Host && e.name == name)
                .map(found)
                .ok_or_else(|| ClusterError::NotFound(spec.to_owned()));
        }
        let Some((ns, name)) = spec.split_once('/') else {
            return Err(ClusterError::BadPeer(spec.to_owned()));
        };
        if ns.is_empty() || name.is_empty() {
            return Err(ClusterError::BadPeer(spec.to_owned()));
        }
        let in_ns = || {
            self.endpoints
                .iter()
                .filter(move |e| e.kind == EndpointKind::Workload && e.namespace == ns)
        };
        if let Some(e) = in_ns().find(|e| e.name == name) {
            return Ok(found(e));
        }
        let by_workload: Vec<&EndpointRecord> = in_ns().filter(|e| e.workload == name).collect();
        match by_workload.as_slice() {
            [] => Err(ClusterError::NotFound(spec.to_owned())),
            [one] => Ok(found(one)),
            many => Err(ClusterError::Ambiguous {
                name: spec.to_owned(),
                candidates: many.iter().map(|e| e.display_name()).collect(),
            }),
        }
    }
}

/// Every workload and host endpoint of `resources`.
pub fn directory(resources: &[Resource]) -> Vec<EndpointRecord> {
    let mut out = Vec::new();
    for r in resources {
        match r {
            Resource::WorkloadEndpoint(w) => {
                let s = &w.spec;
                let workload = if s.pod.is_empty() {
                    s.workload.clone()
                } else {
                    s.pod.clone()
                };
                out.push(EndpointRecord {
                    kind: EndpointKind::Workload,
                    namespace: w.metadata.namespace.clone(),
                    name: w.metadata.name.clone(),
                    workload,
                    node: s.node.clone(),
                    addresses: s.ip_nets().iter().map(|n| n.addr()).collect(),
                });
            }
            Resource::HostEndpoint(h) => out.push(EndpointRecord {
                kind: EndpointKind::Host,
                namespace: String::new(),
                name: h.metadata.name.clone(),
                workload: String::new(),
                node: h.spec.node.clone(),
                addresses: h
                    .spec
                    .expected_ips
                    .iter()
                    .filter_map(|s| s.parse().ok())
                    .collect(),
            }),
            _ => {}
        }
    }
    out.sort();
    out
}

/// Runs `node`'s calculation graph over every resource and builds its dataplane state;
/// also returns the resources the graph rejected (`key → why`).
pub fn node_state(
    node: &str,
    resources: &[Resource],
) -> Result<(DataplaneState, Vec<(String, String)>), ClusterError> {
    let mut graph = CalcGraph::new(node);
    graph.on_event(SyncEvent::Status(SyncStatus::ResyncInProgress));
    for r in resources {
        graph.on_event(SyncEvent::set(r.clone()));
    }
    graph.on_event(SyncEvent::Status(SyncStatus::InSync));
    let updates = graph.flush();
    let mut state = DataplaneState::default();
    state
        .apply_all(&updates)
        .map_err(|source| ClusterError::Contract {
            node: node.to_owned(),
            source,
        })?;
    let rejected = graph
        .rejected()
        .iter()
        .map(|(k, why)| (k.to_string(), why.clone()))
        .collect();
    Ok((state, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_model::decode_yaml;

    fn wep(ns: &str, name: &str, pod: &str, node: &str, ip: &str) -> String {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{node: {node}, orchestrator: k8s, pod: {pod}, endpoint: eth0, interfaceName: cali{:0>11}, ipNetworks: [{ip}/32]}}\n---\n",
            name.len()
        )
    }

    #[test]
    fn resolve_by_name_pod_ip_and_errors() {
        let text = [
            wep("ns1", "n1-k8s-a-eth0", "a", "n1", "10.0.0.1"),
            wep("ns1", "n1-k8s-b-eth0", "b", "n1", "10.0.0.2"),
            wep("ns1", "n1-k8s-b-eth1", "b", "n1", "10.0.0.3"),
            "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: n2-eth0}\nspec: {node: n2, interfaceName: eth0, expectedIPs: [192.168.0.2]}\n".into(),
        ]
        .concat();
        let rs = decode_yaml(&text).expect("decodes");
        let v = ClusterView::directory_only(&rs);
        assert_eq!(
            v.resolve("ns1/a").expect("pod").endpoint.expect("ep").name,
            "n1-k8s-a-eth0"
        );
        assert_eq!(
            v.resolve("ns1/n1-k8s-b-eth1")
                .expect("wep name")
                .endpoint
                .expect("ep")
                .name,
            "n1-k8s-b-eth1"
        );
        match v.resolve("ns1/b") {
            Err(ClusterError::Ambiguous { candidates, .. }) => {
                assert_eq!(candidates, ["ns1/n1-k8s-b-eth0", "ns1/n1-k8s-b-eth1"])
            }
            other => panic!("expected ambiguity, got {other:?}"),
        }
        assert_eq!(
            v.resolve("ns2/a"),
            Err(ClusterError::NotFound("ns2/a".into()))
        );
        assert_eq!(
            v.resolve("nonsense"),
            Err(ClusterError::BadPeer("nonsense".into()))
        );
        let ip = v.resolve("10.0.0.2").expect("ip");
        assert_eq!(ip.node.as_deref(), Some("n1"));
        let hep = v.resolve("hep:n2-eth0").expect("host endpoint");
        assert_eq!(hep.node.as_deref(), Some("n2"));
        assert_eq!(hep.address(None), Some("192.168.0.2".parse().expect("ip")));
        let by_ip = v.resolve("192.168.0.2").expect("host endpoint by IP");
        assert_eq!(by_ip.endpoint.expect("ep").display_name(), "hep:n2-eth0");
        let ext = v.resolve("192.0.2.1").expect("external");
        assert!(ext.endpoint.is_none() && ext.node.is_none());
    }
}
