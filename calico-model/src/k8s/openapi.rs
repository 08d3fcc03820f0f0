//! Conversions from the `k8s-openapi` types (crate feature `k8s`).
//!
//! This crate does not pick a Kubernetes version for `k8s-openapi`: the final binary enables
//! one of its `v1_*` features, as `k8s-openapi` requires.
//!
//! ```
//! use calico_model::k8s::profile_from_namespace;
//! use k8s_openapi::api::core::v1::Namespace;
//! use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
//!
//! let ns = Namespace {
//!     metadata: ObjectMeta {
//!         name: Some("shop".into()),
//!         uid: Some("2b4b0a1c-5c7a-4d43-9b61-9e8c1b3b3c2f".into()),
//!         labels: Some([("env".to_string(), "prod".to_string())].into()),
//!         ..Default::default()
//!     },
//!     ..Default::default()
//! };
//! let profile = profile_from_namespace(&ns).unwrap();
//! assert_eq!(profile.metadata.name, "kns.shop");
//! assert_eq!(profile.spec.labels_to_apply["pcns.env"], "prod");
//! ```

use k8s_openapi::api::core::v1::{Container, Namespace, Pod, ServiceAccount};
use k8s_openapi::api::networking::v1 as netv1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;
use k8s_openapi::apimachinery::pkg::util::intstr;

use super::*;
use crate::meta::ObjectMeta;
use crate::resource::{NetworkPolicy, Profile, WorkloadEndpoint};

fn invalid(path: String, reason: impl Into<String>) -> ConversionError {
    ConversionError::InvalidField {
        path,
        reason: reason.into(),
    }
}

/// Object metadata, field for field (through JSON, so that times keep Kubernetes' encoding).
pub fn object_meta_from_k8s(meta: &metav1::ObjectMeta) -> Result<ObjectMeta, ConversionError> {
    let value =
        serde_json::to_value(meta).map_err(|e| invalid("metadata".into(), e.to_string()))?;
    serde_json::from_value(value).map_err(|e| invalid("metadata".into(), e.to_string()))
}

/// A Kubernetes time in its JSON (RFC 3339) form.
fn time_to_string(t: &metav1::Time) -> String {
    match serde_json::to_value(t) {
        Ok(serde_json::Value::String(s)) => s,
        _ => t.0.to_string(),
    }
}

impl From<&intstr::IntOrString> for IntOrString {
    fn from(v: &intstr::IntOrString) -> Self {
        match v {
            intstr::IntOrString::Int(i) => IntOrString::Int(*i),
            intstr::IntOrString::String(s) => IntOrString::String(s.clone()),
        }
    }
}

/// Converts a label selector; `path` locates it for errors.
pub fn label_selector_from_k8s(
    s: &metav1::LabelSelector,
    path: &str,
) -> Result<LabelSelector, ConversionError> {
    let match_expressions = s
        .match_expressions
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| {
            let operator = match r.operator.as_str() {
                "In" => LabelSelectorOperator::In,
                "NotIn" => LabelSelectorOperator::NotIn,
                "Exists" => LabelSelectorOperator::Exists,
                "DoesNotExist" => LabelSelectorOperator::DoesNotExist,
                other => {
                    return Err(invalid(
                        format!("{path}.matchExpressions[{i}].operator"),
                        format!("unsupported operator {other:?}: must be one of In, NotIn, Exists, DoesNotExist"),
                    ));
                }
            };
            Ok(LabelSelectorRequirement { key: r.key.clone(), operator, values: r.values.clone().unwrap_or_default() })
        })
        .collect::<Result<_, _>>()?;
    Ok(LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions,
    })
}

fn ports_from_k8s(ports: Option<&Vec<netv1::NetworkPolicyPort>>) -> Vec<K8sNetworkPolicyPort> {
    ports
        .into_iter()
        .flatten()
        .map(|p| K8sNetworkPolicyPort {
            protocol: p.protocol.clone(),
            port: p.port.as_ref().map(IntOrString::from),
            end_port: p.end_port,
        })
        .collect()
}

fn peers_from_k8s(
    peers: Option<&Vec<netv1::NetworkPolicyPeer>>,
    path: &str,
) -> Result<Vec<K8sNetworkPolicyPeer>, ConversionError> {
    peers
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| {
            let pp = format!("{path}[{i}]");
            Ok(K8sNetworkPolicyPeer {
                pod_selector: p
                    .pod_selector
                    .as_ref()
                    .map(|s| label_selector_from_k8s(s, &format!("{pp}.podSelector")))
                    .transpose()?,
                namespace_selector: p
                    .namespace_selector
                    .as_ref()
                    .map(|s| label_selector_from_k8s(s, &format!("{pp}.namespaceSelector")))
                    .transpose()?,
                ip_block: p.ip_block.as_ref().map(|b| K8sIpBlock {
                    cidr: b.cidr.clone(),
                    except: b.except.clone().unwrap_or_default(),
                }),
            })
        })
        .collect()
}

impl TryFrom<&netv1::NetworkPolicy> for K8sNetworkPolicy {
    type Error = ConversionError;

    /// Fails only on values outside Kubernetes' own enums (an unknown selector operator or
    /// policy type), which the API server would have rejected.
    fn try_from(np: &netv1::NetworkPolicy) -> Result<Self, ConversionError> {
        let metadata = object_meta_from_k8s(&np.metadata)?;
        let Some(spec) = &np.spec else {
            return Ok(K8sNetworkPolicy::new(
                metadata,
                K8sNetworkPolicySpec::default(),
            ));
        };
        let pod_selector = spec
            .pod_selector
            .as_ref()
            .map(|s| label_selector_from_k8s(s, "spec.podSelector"))
            .transpose()?
            .unwrap_or_default();
        let ingress = spec
            .ingress
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| {
                Ok(K8sNetworkPolicyIngressRule {
                    ports: ports_from_k8s(r.ports.as_ref()),
                    from: peers_from_k8s(r.from.as_ref(), &format!("spec.ingress[{i}].from"))?,
                })
            })
            .collect::<Result<_, ConversionError>>()?;
        let egress = spec
            .egress
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| {
                Ok(K8sNetworkPolicyEgressRule {
                    ports: ports_from_k8s(r.ports.as_ref()),
                    to: peers_from_k8s(r.to.as_ref(), &format!("spec.egress[{i}].to"))?,
                })
            })
            .collect::<Result<_, ConversionError>>()?;
        let policy_types = spec
            .policy_types
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, t)| match t.as_str() {
                "Ingress" => Ok(K8sPolicyType::Ingress),
                "Egress" => Ok(K8sPolicyType::Egress),
                other => Err(invalid(
                    format!("spec.policyTypes[{i}]"),
                    format!("unsupported policy type {other:?}: must be Ingress or Egress"),
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(K8sNetworkPolicy::new(
            metadata,
            K8sNetworkPolicySpec {
                pod_selector,
                ingress,
                egress,
                policy_types,
            },
        ))
    }
}

impl From<&Namespace> for NamespaceInfo {
    fn from(ns: &Namespace) -> Self {
        let m = &ns.metadata;
        NamespaceInfo {
            name: m.name.clone().unwrap_or_default(),
            labels: m.labels.clone().unwrap_or_default(),
            uid: m.uid.clone().unwrap_or_default(),
            resource_version: m.resource_version.clone().unwrap_or_default(),
            creation_timestamp: m.creation_timestamp.as_ref().map(time_to_string),
        }
    }
}

impl From<&ServiceAccount> for ServiceAccountInfo {
    fn from(sa: &ServiceAccount) -> Self {
        let m = &sa.metadata;
        ServiceAccountInfo {
            namespace: m.namespace.clone().unwrap_or_default(),
            name: m.name.clone().unwrap_or_default(),
            labels: m.labels.clone().unwrap_or_default(),
            uid: m.uid.clone().unwrap_or_default(),
            resource_version: m.resource_version.clone().unwrap_or_default(),
            creation_timestamp: m.creation_timestamp.as_ref().map(time_to_string),
        }
    }
}

fn container_ports(containers: &[Container]) -> impl Iterator<Item = PodContainerPort> + '_ {
    containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| PodContainerPort {
            name: p.name.clone().unwrap_or_default(),
            container_port: p.container_port,
            protocol: p.protocol.clone().unwrap_or_default(),
            host_port: p.host_port.unwrap_or_default(),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
}

impl From<&Pod> for PodInfo {
    fn from(pod: &Pod) -> Self {
        let m = &pod.metadata;
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let mut ports: Vec<PodContainerPort> = Vec::new();
        if let Some(s) = spec {
            ports.extend(container_ports(&s.containers));
            ports.extend(container_ports(
                s.init_containers.as_deref().unwrap_or_default(),
            ));
        }
        PodInfo {
            namespace: m.namespace.clone().unwrap_or_default(),
            name: m.name.clone().unwrap_or_default(),
            generate_name: m.generate_name.clone().unwrap_or_default(),
            uid: m.uid.clone().unwrap_or_default(),
            resource_version: m.resource_version.clone().unwrap_or_default(),
            creation_timestamp: m.creation_timestamp.as_ref().map(time_to_string),
            deletion_timestamp: m.deletion_timestamp.as_ref().map(time_to_string),
            labels: m.labels.clone().unwrap_or_default(),
            annotations: m.annotations.clone().unwrap_or_default(),
            node_name: spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
            service_account_name: spec
                .and_then(|s| s.service_account_name.clone())
                .unwrap_or_default(),
            host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
            phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
            pod_ip: status.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
            pod_ips: status
                .and_then(|s| s.pod_ips.as_ref())
                .into_iter()
                .flatten()
                .map(|p| p.ip.clone())
                .collect(),
            ports,
        }
    }
}

/// The profile Calico derives from a Namespace (`kns.<name>`), with its metadata; see
/// [`namespace_info_to_profile`].
pub fn profile_from_namespace(ns: &Namespace) -> Result<Profile, ConversionError> {
    namespace_info_to_profile(&NamespaceInfo::from(ns))
}

/// The profile Calico derives from a ServiceAccount (`ksa.<namespace>.<name>`), with its
/// metadata; see [`service_account_info_to_profile`].
pub fn profile_from_service_account(sa: &ServiceAccount) -> Result<Profile, ConversionError> {
    service_account_info_to_profile(&ServiceAccountInfo::from(sa))
}

/// The workload endpoint Calico derives from a Pod; see [`pod_to_workload_endpoint`].
pub fn workload_endpoint_from_pod(pod: &Pod) -> Result<WorkloadEndpoint, ConversionError> {
    pod_to_workload_endpoint(&PodInfo::from(pod))
}

/// The Calico policy Calico enforces for a Kubernetes NetworkPolicy; see
/// [`network_policy_to_calico`]. The object is converted as given (objects read from the API
/// server already carry Kubernetes' defaults).
pub fn network_policy_from_k8s(
    np: &netv1::NetworkPolicy,
) -> Result<NetworkPolicy, ConversionError> {
    network_policy_to_calico(&K8sNetworkPolicy::try_from(np)?)
}

#[cfg(all(test, feature = "k8s"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::resource::ResourceKind;
    use crate::resources::PolicyType;
    use crate::validation::Validator;

    fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn network_policy_matches_the_serde_path() {
        let json = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "web", "namespace": "shop", "uid": "30316465-6365-4463-ad63-3564622d3638",
                         "resourceVersion": "7", "creationTimestamp": "2024-01-02T03:04:05Z", "labels": {"a": "b"}},
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "t", "operator": "Exists"}]},
                "ingress": [{"from": [{"namespaceSelector": {}}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                             "ports": [{"port": 80}, {"port": "http", "protocol": "TCP"}, {"port": 9000, "endPort": 9100}]}],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 5432}]}],
                "policyTypes": ["Ingress", "Egress"]
            }
        });
        let k8s: netv1::NetworkPolicy = from_json(json.clone());
        let ours = K8sNetworkPolicy::try_from(&k8s).unwrap();
        let via_serde: K8sNetworkPolicy = from_json(json);
        assert_eq!(ours, via_serde);
        let pol = network_policy_from_k8s(&k8s).unwrap();
        assert_eq!(pol.metadata.name, "knp.default.web");
        assert_eq!(pol.metadata.uid, "0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c");
        assert_eq!(
            pol.metadata.creation_timestamp.as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            pol.spec.selector,
            "projectcalico.org/orchestrator == 'k8s' && app == 'web' && has(t)"
        );
        assert_eq!(
            pol.spec.types,
            vec![PolicyType::Ingress, PolicyType::Egress]
        );
        assert_eq!(pol.spec.ingress.len(), 2);
        assert_eq!(pol.spec.ingress[0].source.namespace_selector, "all()");
        let ports: Vec<String> = pol.spec.ingress[0]
            .destination
            .ports
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(ports, ["http", "80", "9000:9100"]);
        let mut v = Validator::new();
        pol.validate_into(&mut v);
        assert!(v.is_ok(), "{:?}", v.finish());
    }

    #[test]
    fn network_policy_rejects_unknown_enums() {
        let k8s: netv1::NetworkPolicy = from_json(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"podSelector": {"matchExpressions": [{"key": "k", "operator": "Gt"}]}}
        }));
        let e = K8sNetworkPolicy::try_from(&k8s).unwrap_err();
        assert!(
            matches!(&e, ConversionError::InvalidField { path, .. } if path == "spec.podSelector.matchExpressions[0].operator"),
            "{e}"
        );
        let k8s: netv1::NetworkPolicy = from_json(
            serde_json::json!({"metadata": {"name": "p"}, "spec": {"policyTypes": ["Both"]}}),
        );
        assert!(network_policy_from_k8s(&k8s).is_err());
        // No spec at all: an empty policy.
        let k8s: netv1::NetworkPolicy =
            from_json(serde_json::json!({"metadata": {"name": "p", "namespace": "n"}}));
        assert_eq!(
            network_policy_from_k8s(&k8s).unwrap().spec.types,
            vec![PolicyType::Ingress]
        );
    }

    #[test]
    fn namespace_and_service_account_profiles() {
        let ns: Namespace = from_json(serde_json::json!({
            "metadata": {"name": "shop", "labels": {"team": "a"}, "uid": "30316465-6365-4463-ad63-3564622d3638",
                         "resourceVersion": "11", "creationTimestamp": "2024-01-02T03:04:05Z"}
        }));
        let p = profile_from_namespace(&ns).unwrap();
        assert_eq!(p.metadata.name, "kns.shop");
        assert_eq!(p.metadata.resource_version, "11/");
        assert_eq!(p.metadata.uid, "0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c");
        assert_eq!(
            p.metadata.creation_timestamp.as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            p.spec.labels_to_apply.get("pcns.team").map(String::as_str),
            Some("a")
        );
        assert_eq!(
            p.spec
                .labels_to_apply
                .get("pcns.projectcalico.org/name")
                .map(String::as_str),
            Some("shop")
        );

        let sa: ServiceAccount = from_json(serde_json::json!({
            "metadata": {"name": "api", "namespace": "shop", "labels": {"tier": "x"}, "resourceVersion": "12"}
        }));
        let p = profile_from_service_account(&sa).unwrap();
        assert_eq!(p.metadata.name, "ksa.shop.api");
        assert_eq!(p.metadata.resource_version, "/12");
        assert_eq!(
            p.spec.labels_to_apply.get("pcsa.tier").map(String::as_str),
            Some("x")
        );
        assert!(p.spec.ingress.is_empty());

        let bad: Namespace =
            from_json(serde_json::json!({"metadata": {"name": "x", "uid": "nope"}}));
        assert!(profile_from_namespace(&bad).is_err());
    }

    #[test]
    fn pod_to_endpoint() {
        let pod: Pod = from_json(serde_json::json!({
            "metadata": {
                "name": "web-0", "namespace": "shop", "uid": "30316465-6365-4463-ad63-3564622d3638",
                "resourceVersion": "99", "generateName": "web-", "labels": {"app": "web"},
                "annotations": {"cni.projectcalico.org/containerID": "abc123", "cni.projectcalico.org/floatingIPs": "[\"1.2.3.4\"]"}
            },
            "spec": {
                "nodeName": "node-1",
                "serviceAccountName": "web",
                "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 9090}]}],
                "initContainers": [{"name": "i", "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP", "hostPort": 5353, "hostIP": "10.0.0.1"}]}]
            },
            "status": {"phase": "Running", "podIP": "192.168.1.5", "podIPs": [{"ip": "192.168.1.5"}, {"ip": "fd00::5"}]}
        }));
        let info = PodInfo::from(&pod);
        assert_eq!(info.ports.len(), 3);
        assert_eq!(info.pod_ips, vec!["192.168.1.5", "fd00::5"]);
        let w = workload_endpoint_from_pod(&pod).unwrap();
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "apiVersion": "projectcalico.org/v3",
                "kind": "WorkloadEndpoint",
                "metadata": {
                    "name": "node--1-k8s-web--0-eth0",
                    "generateName": "web-",
                    "namespace": "shop",
                    "uid": "30316465-6365-4463-ad63-3564622d3638",
                    "resourceVersion": "99",
                    "labels": {
                        "app": "web",
                        "projectcalico.org/namespace": "shop",
                        "projectcalico.org/orchestrator": "k8s",
                        "projectcalico.org/serviceaccount": "web"
                    }
                },
                "spec": {
                    "orchestrator": "k8s",
                    "node": "node-1",
                    "containerID": "abc123",
                    "pod": "web-0",
                    "endpoint": "eth0",
                    "serviceAccountName": "web",
                    "ipNetworks": ["192.168.1.5/32", "fd00::5/128"],
                    "ipNATs": [{"internalIP": "192.168.1.5", "externalIP": "1.2.3.4"}],
                    "profiles": ["kns.shop", "ksa.shop.web"],
                    "interfaceName": "calia4fc3c48bd8",
                    "ports": [
                        {"name": "http", "protocol": "TCP", "port": 8080, "hostPort": 0, "hostIP": ""},
                        {"name": "dns", "protocol": "UDP", "port": 53, "hostPort": 5353, "hostIP": "10.0.0.1"}
                    ]
                }
            })
        );
        let mut val = Validator::new();
        w.validate_into(&mut val);
        assert!(val.is_ok(), "{:?}", val.finish());

        // A pod without spec or status converts only if it names a node: here it does not.
        let bare: Pod = from_json(serde_json::json!({"metadata": {"name": "p", "namespace": "n"}}));
        assert!(matches!(
            workload_endpoint_from_pod(&bare),
            Err(ConversionError::InvalidNameSegment { field: "node", .. })
        ));
    }

    #[test]
    fn object_meta_round_trip() {
        let m: metav1::ObjectMeta = from_json(serde_json::json!({
            "name": "x", "namespace": "y", "generation": 2, "deletionTimestamp": "2024-05-06T07:08:09Z",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u", "controller": true}],
            "finalizers": ["f"]
        }));
        let ours = object_meta_from_k8s(&m).unwrap();
        assert_eq!(ours.generation, 2);
        assert_eq!(
            ours.deletion_timestamp.as_deref(),
            Some("2024-05-06T07:08:09Z")
        );
        assert_eq!(ours.owner_references[0].controller, Some(true));
        assert_eq!(ours.finalizers, vec!["f"]);
    }
}
