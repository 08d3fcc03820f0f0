//! The Kubernetes side of the model: the objects Calico derives from Kubernetes resources.
//!
//! Calico never stores these objects itself when it runs on Kubernetes; it computes them from
//! the Kubernetes API and hands them to its components. This module reproduces those
//! computations as pure functions, so that their output can be compared with (and validated
//! like) any other Calico resource:
//!
//! - a `networking.k8s.io/v1` NetworkPolicy ([`K8sNetworkPolicy`]) becomes a Calico
//!   `NetworkPolicy` named `knp.default.<name>` ([`network_policy_to_calico`]);
//! - a Namespace becomes the profile `kns.<namespace>` ([`namespace_to_profile`]);
//! - a ServiceAccount becomes the profile `ksa.<namespace>.<name>`
//!   ([`service_account_to_profile`]);
//! - a Pod becomes a `WorkloadEndpoint` ([`pod_to_workload_endpoint`]).
//!
//! The Kubernetes types here are a minimal, dependency-free subset with Kubernetes' exact JSON
//! names. With the crate feature `k8s`, the `openapi` submodule adds conversions from the
//! `k8s-openapi` types.
//!
//! ```
//! use calico_model::k8s::{K8sNetworkPolicy, network_policy_to_calico};
//!
//! let np: K8sNetworkPolicy = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "networking.k8s.io/v1",
//!     "kind": "NetworkPolicy",
//!     "metadata": {"name": "web", "namespace": "shop"},
//!     "spec": {
//!         "podSelector": {"matchLabels": {"app": "web"}},
//!         "ingress": [{"ports": [{"port": 80}]}]
//!     }
//! }))
//! .unwrap();
//! let policy = network_policy_to_calico(&np).unwrap();
//! assert_eq!(policy.metadata.name, "knp.default.web");
//! assert_eq!(policy.spec.selector, "projectcalico.org/orchestrator == 'k8s' && app == 'web'");
//! ```

mod pod;
mod policy;
mod profile;
mod quantity;
mod types;
mod uid;

#[cfg(feature = "k8s")]
pub mod openapi;

pub use pod::*;
pub use policy::*;
pub use profile::*;
pub use types::*;
pub use uid::convert_uid;

#[cfg(feature = "k8s")]
pub use openapi::{
    network_policy_from_k8s, profile_from_namespace, profile_from_service_account,
    workload_endpoint_from_pod,
};

use std::fmt;

// ---------------------------------------------------------------------------------------------
// Names, prefixes and labels

/// Prefix of the name of a Calico policy converted from a Kubernetes NetworkPolicy
/// (`knp.default.<name>`).
pub const K8S_NETWORK_POLICY_NAME_PREFIX: &str = "knp.default.";
/// Order every converted Kubernetes NetworkPolicy gets within its tier.
pub const K8S_NETWORK_POLICY_ORDER: f64 = 1000.0;
/// Tier converted Kubernetes NetworkPolicies belong to.
pub const K8S_NETWORK_POLICY_TIER: &str = "default";
/// `apiVersion` of a Kubernetes NetworkPolicy.
pub const K8S_NETWORKING_API_VERSION: &str = "networking.k8s.io/v1";
/// `kind` of a Kubernetes NetworkPolicy.
pub const K8S_NETWORK_POLICY_KIND: &str = "NetworkPolicy";

/// Prefix of the name of the profile derived from a Namespace (`kns.<namespace>`).
pub const NAMESPACE_PROFILE_PREFIX: &str = "kns.";
/// Prefix added to a Namespace's label keys in its profile's `labelsToApply` (`pcns.<key>`).
pub const NAMESPACE_LABEL_PREFIX: &str = "pcns.";
/// Prefix of the name of the profile derived from a ServiceAccount (`ksa.<namespace>.<name>`).
pub const SERVICE_ACCOUNT_PROFILE_PREFIX: &str = "ksa.";
/// Prefix added to a ServiceAccount's label keys in its profile's `labelsToApply` (`pcsa.<key>`).
pub const SERVICE_ACCOUNT_LABEL_PREFIX: &str = "pcsa.";
/// Label (seen through the `pcns.`/`pcsa.` prefixes) holding the Namespace's or
/// ServiceAccount's own name, so that selectors can match it exactly.
pub const NAME_LABEL: &str = "projectcalico.org/name";
/// Namespace used for a ServiceAccount profile when the ServiceAccount has none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Label on every workload endpoint holding its namespace.
pub const LABEL_NAMESPACE: &str = "projectcalico.org/namespace";
/// Label on every workload endpoint holding its orchestrator (`k8s` for pods).
pub const LABEL_ORCHESTRATOR: &str = "projectcalico.org/orchestrator";
/// Label on a pod's workload endpoint holding its service account name.
pub const LABEL_SERVICE_ACCOUNT: &str = "projectcalico.org/serviceaccount";
/// Orchestrator name of Kubernetes pods.
pub const ORCHESTRATOR_K8S: &str = "k8s";
/// Endpoint name of a pod's (only) workload endpoint.
pub const K8S_ENDPOINT_NAME: &str = "eth0";
/// Prefix of the host-side interface name of a pod when no other prefix is configured.
pub const DEFAULT_INTERFACE_PREFIX: &str = "cali";

// ---------------------------------------------------------------------------------------------
// Pod annotations Calico reads

/// Pod annotation the Calico CNI plugin writes with the pod's IP (emptied when the IP is
/// released).
pub const ANNOTATION_POD_IP: &str = "cni.projectcalico.org/podIP";
/// Pod annotation the Calico CNI plugin writes with all of the pod's IPs, comma separated.
pub const ANNOTATION_POD_IPS: &str = "cni.projectcalico.org/podIPs";
/// Pod annotation the AWS VPC CNI plugin writes with the pod's IPs, comma separated.
pub const ANNOTATION_AWS_POD_IPS: &str = "vpc.amazonaws.com/pod-ips";
/// Pod annotation holding the pod's container ID.
pub const ANNOTATION_CONTAINER_ID: &str = "cni.projectcalico.org/containerID";
/// Pod annotation: JSON list of external IPs to NAT to the pod's IP of the same family.
pub const ANNOTATION_FLOATING_IPS: &str = "cni.projectcalico.org/floatingIPs";
/// Pod annotation: JSON list of CIDRs the pod may use as source addresses.
pub const ANNOTATION_ALLOWED_SOURCE_PREFIXES: &str = "cni.projectcalico.org/allowedSourcePrefixes";
/// Pod annotation (Multus) copied verbatim onto the workload endpoint.
pub const ANNOTATION_NETWORK_STATUS: &str = "k8s.v1.cni.cncf.io/network-status";
/// Kubernetes ingress bandwidth annotation (bits per second).
pub const ANNOTATION_K8S_QOS_INGRESS_BANDWIDTH: &str = "kubernetes.io/ingress-bandwidth";
/// Kubernetes egress bandwidth annotation (bits per second).
pub const ANNOTATION_K8S_QOS_EGRESS_BANDWIDTH: &str = "kubernetes.io/egress-bandwidth";
/// Calico ingress bandwidth annotation (overrides the Kubernetes one).
pub const ANNOTATION_QOS_INGRESS_BANDWIDTH: &str = "qos.projectcalico.org/ingressBandwidth";
/// Calico egress bandwidth annotation (overrides the Kubernetes one).
pub const ANNOTATION_QOS_EGRESS_BANDWIDTH: &str = "qos.projectcalico.org/egressBandwidth";
/// Calico ingress burst annotation (bits).
pub const ANNOTATION_QOS_INGRESS_BURST: &str = "qos.projectcalico.org/ingressBurst";
/// Calico egress burst annotation (bits).
pub const ANNOTATION_QOS_EGRESS_BURST: &str = "qos.projectcalico.org/egressBurst";
/// Calico ingress peak rate annotation (bits per second).
pub const ANNOTATION_QOS_INGRESS_PEAKRATE: &str = "qos.projectcalico.org/ingressPeakrate";
/// Calico egress peak rate annotation (bits per second).
pub const ANNOTATION_QOS_EGRESS_PEAKRATE: &str = "qos.projectcalico.org/egressPeakrate";
/// Calico ingress minimum burst annotation (bytes).
pub const ANNOTATION_QOS_INGRESS_MINBURST: &str = "qos.projectcalico.org/ingressMinburst";
/// Calico egress minimum burst annotation (bytes).
pub const ANNOTATION_QOS_EGRESS_MINBURST: &str = "qos.projectcalico.org/egressMinburst";
/// Calico ingress packet rate annotation (packets per second).
pub const ANNOTATION_QOS_INGRESS_PACKET_RATE: &str = "qos.projectcalico.org/ingressPacketRate";
/// Calico egress packet rate annotation (packets per second).
pub const ANNOTATION_QOS_EGRESS_PACKET_RATE: &str = "qos.projectcalico.org/egressPacketRate";
/// Calico ingress packet burst annotation (packets).
pub const ANNOTATION_QOS_INGRESS_PACKET_BURST: &str = "qos.projectcalico.org/ingressPacketBurst";
/// Calico egress packet burst annotation (packets).
pub const ANNOTATION_QOS_EGRESS_PACKET_BURST: &str = "qos.projectcalico.org/egressPacketBurst";
/// Calico ingress connection limit annotation.
pub const ANNOTATION_QOS_INGRESS_MAX_CONNECTIONS: &str =
    "qos.projectcalico.org/ingressMaxConnections";
/// Calico egress connection limit annotation.
pub const ANNOTATION_QOS_EGRESS_MAX_CONNECTIONS: &str =
    "qos.projectcalico.org/egressMaxConnections";
/// Calico DSCP annotation for the pod's egress traffic.
pub const ANNOTATION_QOS_EGRESS_DSCP: &str = "qos.projectcalico.org/dscp";

// ---------------------------------------------------------------------------------------------
// Errors and warnings

/// Why an object could not be converted at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    /// A Kubernetes UID could not be parsed as a UUID.
    #[error("failed to parse UID for resource: {0}")]
    InvalidUid(String),
    /// A part of a workload endpoint name is missing or malformed.
    #[error("workload endpoint name: {field}: {reason}")]
    InvalidNameSegment {
        /// The identifier (`node`, `orchestrator`, `pod`, `workload`, `containerID`, `endpoint`).
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A pod IP (from the pod status or an annotation) is not an IP or CIDR.
    #[error("invalid pod IP {0:?}")]
    InvalidPodIp(String),
    /// An annotation Calico reads could not be parsed.
    #[error("annotation {key}: {reason}")]
    InvalidAnnotation {
        /// The annotation key.
        key: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// A field of a source object holds a value this model does not accept (e.g. an unknown
    /// label selector operator or policy type).
    #[error("{path}: {reason}")]
    InvalidField {
        /// JSON path of the field in the source object.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The converted object could not be represented by this crate's types.
    #[error("conversion produced an unrepresentable object: {0}")]
    Unrepresentable(String),
}

/// What a conversion warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WarningKind {
    /// A NetworkPolicy rule could not be converted and was left out of the policy (the rest of
    /// the policy still applies). Calico's validation of staged Kubernetes policies rejects this.
    RuleDropped,
    /// An `ipBlock.cidr` could not be parsed; Calico leaves that peer without any address or
    /// selector constraint (it then matches every source or destination).
    PeerUnconstrained,
    /// An `ipBlock.except` entry could not be parsed; it and the entries after it are ignored.
    ExceptIgnored,
    /// Egress rules are present but `policyTypes` does not include `Egress`: they are kept but
    /// never apply.
    EgressRulesIgnored,
    /// A QoS annotation on a pod was invalid; its value was clamped or ignored.
    QosAnnotation,
}

/// A problem that did not stop a conversion, with where it was found in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversionWarning {
    /// What kind of problem this is.
    pub kind: WarningKind,
    /// JSON path in the input object, e.g. `spec.ingress[1]` or `metadata.annotations`.
    pub path: String,
    /// What happened, in Calico's words where Calico has them.
    pub message: String,
}

impl fmt::Display for ConversionWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod scenario_tests {
    use super::*;
    use crate::resource::ResourceKind;
    use crate::validation::Validator;

    /// Every Kubernetes NetworkPolicy of the shared policy scenarios (defaulted as the API server
    /// would) converts without warnings, and the converted policy validates (before and after
    /// Calico's defaulting).
    #[test]
    fn shared_netpol_scenarios_convert_and_validate() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/scenarios/netpol.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            println!("skipping: {path} not found");
            return;
        };
        let doc: serde_json::Value = serde_json::from_str(&text).expect("netpol.json is JSON");
        let cases = doc["cases"].as_array().expect("cases");
        let mut converted = 0;
        for case in cases {
            let id = case["id"].as_str().unwrap_or("?");
            for np in case["kubernetes_network_policies"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let mut k8s: K8sNetworkPolicy = serde_json::from_value(np.clone())
                    .unwrap_or_else(|e| panic!("case {id}: decode: {e}"));
                // The Kubernetes object round-trips through JSON unchanged.
                let back: K8sNetworkPolicy =
                    serde_json::from_value(serde_json::to_value(&k8s).unwrap()).unwrap();
                assert_eq!(back, k8s, "case {id}");
                k8s.apply_kubernetes_defaults();
                let c = network_policy_to_calico_with_warnings(&k8s)
                    .unwrap_or_else(|e| panic!("case {id}: convert: {e}"));
                assert!(c.warnings.is_empty(), "case {id}: {:?}", c.warnings);
                let mut policy = c.policy;
                assert!(
                    policy
                        .metadata
                        .name
                        .starts_with(K8S_NETWORK_POLICY_NAME_PREFIX)
                );
                assert_eq!(policy.spec.order, Some(K8S_NETWORK_POLICY_ORDER));
                assert!(
                    policy
                        .spec
                        .selector
                        .starts_with("projectcalico.org/orchestrator == 'k8s'")
                );
                for stage in ["converted", "defaulted"] {
                    if stage == "defaulted" {
                        policy.apply_defaults();
                    }
                    let mut v = Validator::new();
                    policy.validate_into(&mut v);
                    assert!(
                        v.is_ok(),
                        "case {id} ({stage}) {}: {:?}",
                        policy.metadata.name,
                        v.finish()
                    );
                }
                converted += 1;
            }
        }
        assert!(converted > 0, "no Kubernetes NetworkPolicy in {path}");
        println!("converted and validated {converted} Kubernetes NetworkPolicies from {path}");
    }
}
