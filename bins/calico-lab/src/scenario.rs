//! The scenario format (`shared/scenarios/FORMAT.md`): a small cluster, and cases of policies
//! with probes and their expected answers. Readers are tolerant: unknown keys are ignored.
//!
//! Extensions beyond the shared format (all optional):
//! - `model.pod_ips` values may be a list (dual stack); a probe's `"family": 6` picks the IPv6
//!   address.
//! - `model.pods.<pod>.namespaces` limits where a pod exists (default: every namespace).
//! - `model.host_endpoints`: `name → {labels, interfaceName, expectedIPs, profiles, ports}`
//!   (host endpoints of the simulated node); a probe endpoint `hep:<name>` is that host
//!   endpoint's first expected address of the probe's family.
//! - a probe endpoint that is an IP address is an external (non-Calico) address.
//! - `case.felix_configuration`: a FelixConfiguration spec for the case (failsafe ports etc.).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
pub struct Scenario {
    /// The cluster.
    pub model: Model,
    /// The cases.
    pub cases: Vec<Case>,
}

/// The cluster every case starts from.
#[derive(Debug, Deserialize)]
pub struct Model {
    /// Namespaces and their labels.
    #[serde(default)]
    pub namespaces: BTreeMap<String, Labelled>,
    /// Pods (each exists in every namespace unless it lists `namespaces`).
    #[serde(default)]
    pub pods: BTreeMap<String, Pod>,
    /// `<ns>/<pod>` → address(es).
    #[serde(default)]
    pub pod_ips: BTreeMap<String, OneOrMany>,
    /// Service accounts.
    #[serde(default)]
    pub service_accounts: BTreeMap<String, ServiceAccount>,
    /// Host endpoints of the simulated node.
    #[serde(default)]
    pub host_endpoints: BTreeMap<String, HostEndpointModel>,
}

impl Model {
    /// Every pod instance: (`<ns>/<pod>`, namespace, pod name, addresses), in namespace then
    /// pod order. A pod exists in every namespace unless it lists `namespaces`.
    pub fn pod_instances(&self) -> Vec<(String, &str, &str, Vec<String>)> {
        let mut out = Vec::new();
        for ns in self.namespaces.keys() {
            for (pod, p) in &self.pods {
                if p.namespaces.as_ref().is_some_and(|list| !list.contains(ns)) {
                    continue;
                }
                let key = format!("{ns}/{pod}");
                let ips = self.pod_ips.get(&key).map(|i| i.all()).unwrap_or_default();
                out.push((key, ns.as_str(), pod.as_str(), ips));
            }
        }
        out
    }
}

/// Something with labels.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Labelled {
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A pod template.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Service account.
    #[serde(default)]
    pub service_account_name: String,
    /// Declared container ports.
    #[serde(default)]
    pub container_ports: Vec<ContainerPort>,
    /// Namespaces the pod exists in (default: all).
    #[serde(default)]
    pub namespaces: Option<Vec<String>>,
}

/// A declared container port.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// Port name.
    #[serde(default)]
    pub name: String,
    /// Port number.
    pub container_port: i32,
    /// `TCP`, `UDP` or `SCTP`.
    #[serde(default)]
    pub protocol: String,
}

/// A service account.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ServiceAccount {
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Namespaces it exists in.
    #[serde(default)]
    pub exists_in_namespaces: Vec<String>,
}

/// A host endpoint of the simulated node.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostEndpointModel {
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Interface (`*` for all).
    #[serde(default)]
    pub interface_name: String,
    /// Addresses.
    #[serde(default, rename = "expectedIPs")]
    pub expected_ips: Vec<String>,
    /// Profiles.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Named ports.
    #[serde(default)]
    pub ports: Vec<HostEndpointPort>,
}

/// A named port of a host endpoint.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct HostEndpointPort {
    /// Port name.
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`.
    #[serde(default)]
    pub protocol: String,
    /// Port number.
    pub port: u16,
}

/// One address or several.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One address.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The addresses.
    pub fn all(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// One case.
#[derive(Debug, Deserialize)]
pub struct Case {
    /// Identifier.
    pub id: String,
    /// Title.
    #[serde(default)]
    pub name: String,
    /// Kubernetes NetworkPolicies (`networking.k8s.io/v1`).
    #[serde(default)]
    pub kubernetes_network_policies: Vec<Value>,
    /// Calico resources.
    #[serde(default)]
    pub calico_resources: Vec<Value>,
    /// Label replacements for this case.
    #[serde(default)]
    pub model_overrides: Option<Overrides>,
    /// FelixConfiguration spec for this case.
    #[serde(default)]
    pub felix_configuration: Option<Value>,
    /// Probes.
    pub probes: Vec<Probe>,
    /// True where the expectation rests on an implementation detail.
    #[serde(default)]
    pub uncertain: bool,
}

/// Label replacements.
#[derive(Debug, Default, Deserialize)]
pub struct Overrides {
    /// Namespace → labels.
    #[serde(default)]
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// `<ns>/<pod>` → labels.
    #[serde(default)]
    pub pod_labels: BTreeMap<String, BTreeMap<String, String>>,
}

/// A probe: may a new connection from `from` to `to` be established?
#[derive(Clone, Debug, Deserialize)]
pub struct Probe {
    /// `<ns>/<pod>`, `hep:<name>` or an IP address.
    pub from: String,
    /// `<ns>/<pod>`, `hep:<name>` or an IP address.
    pub to: String,
    /// Destination port (absent for ICMP).
    #[serde(default)]
    pub port: Option<u16>,
    /// `TCP`, `UDP`, `SCTP`, `ICMP` or `ICMPv6`.
    pub protocol: String,
    /// Expected answer.
    pub allowed: bool,
    /// `from == to`: a policy-only answer.
    #[serde(default)]
    pub loopback: bool,
    /// ICMP type.
    #[serde(default)]
    pub icmp_type: Option<u8>,
    /// ICMP code.
    #[serde(default)]
    pub icmp_code: Option<u8>,
    /// Address family (4 or 6; default 6 for `ICMPv6` probes, else 4).
    #[serde(default)]
    pub family: Option<u8>,
}
