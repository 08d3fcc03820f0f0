//! A minimal subset of the Kubernetes API (`networking.k8s.io/v1` NetworkPolicy and
//! `metav1.LabelSelector`) with Kubernetes' exact JSON names.
//!
//! Decoding follows Go's: absent and `null` fields take their zero value, optional pointers
//! (`podSelector`/`namespaceSelector` of a peer, `ipBlock`, `port`, …) stay `None` so that "absent"
//! and "present but empty" can be told apart.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::{K8S_NETWORK_POLICY_KIND, K8S_NETWORKING_API_VERSION};
use crate::meta::ObjectMeta;
use crate::util::is_empty_map;

/// Go decodes `null` into a slice, map or struct as its zero value; serde does not.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A Kubernetes label selector (`metav1.LabelSelector`): all of `matchLabels` and all of
/// `matchExpressions` must hold. An empty selector selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must have exactly these values.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty_map"
    )]
    pub match_labels: BTreeMap<String, String>,
    /// Further requirements, ANDed.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

impl LabelSelector {
    /// True when the selector has no terms (it selects everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

/// One requirement of a [`LabelSelector`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// The label key.
    #[serde(default)]
    pub key: String,
    /// How the label is compared with `values`.
    pub operator: LabelSelectorOperator,
    /// Values for `In`/`NotIn`; must be empty for `Exists`/`DoesNotExist`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<String>,
}

/// Operator of a [`LabelSelectorRequirement`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum LabelSelectorOperator {
    /// The label's value is one of `values`.
    In,
    /// The label is absent or its value is none of `values`.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// A direction a Kubernetes NetworkPolicy applies to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum K8sPolicyType {
    /// Traffic to the selected pods.
    Ingress,
    /// Traffic from the selected pods.
    Egress,
}

/// Kubernetes' `intstr.IntOrString`: a 32-bit integer or a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IntOrString {
    /// An integer.
    Int(i32),
    /// A string (for a port: a named port).
    String(String),
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrString::Int(i) => write!(f, "{i}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

impl From<i32> for IntOrString {
    fn from(i: i32) -> Self {
        IntOrString::Int(i)
    }
}

impl From<&str> for IntOrString {
    fn from(s: &str) -> Self {
        IntOrString::String(s.to_owned())
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrString::Int(i) => s.serialize_i32(*i),
            IntOrString::String(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = IntOrString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-bit integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
                i32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::custom(format!("{v} is out of range for a 32-bit integer")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
                i32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::custom(format!("{v} is out of range for a 32-bit integer")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for IntOrString {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("IntOrString")
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        crate::scalar::int_or_string_schema()
    }
}

/// A port (or port range) of a Kubernetes NetworkPolicy rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sNetworkPolicyPort {
    /// `TCP` (when absent), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Port number or named port; absent = every port of the protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    /// Last port of a range starting at `port` (numeric `port` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i32>,
}

/// An IP block peer: `cidr` minus the `except` CIDRs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sIpBlock {
    /// The CIDR the peer's address must be in.
    #[serde(default)]
    pub cidr: String,
    /// CIDRs (inside `cidr`) the address must not be in.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub except: Vec<String>,
}

/// A peer of a Kubernetes NetworkPolicy rule: pods (by pod and/or namespace labels) or an IP
/// block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sNetworkPolicyPeer {
    /// Pods selected by their labels (in the namespaces `namespaceSelector` selects, or in the
    /// policy's namespace when it is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Namespaces selected by their labels; present but empty selects every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Addresses; excludes both selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<K8sIpBlock>,
}

/// An ingress rule: traffic from any of `from` to any of `ports`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sNetworkPolicyIngressRule {
    /// Destination ports; empty = every port.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<K8sNetworkPolicyPort>,
    /// Sources; empty = every source.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub from: Vec<K8sNetworkPolicyPeer>,
}

/// An egress rule: traffic to any of `to` on any of `ports`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sNetworkPolicyEgressRule {
    /// Destination ports; empty = every port.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<K8sNetworkPolicyPort>,
    /// Destinations; empty = every destination.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub to: Vec<K8sNetworkPolicyPeer>,
}

/// Spec of a Kubernetes NetworkPolicy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sNetworkPolicySpec {
    /// Pods (in the policy's namespace) the policy applies to; empty = all of them. Always
    /// encoded, as Kubernetes does.
    #[serde(default, deserialize_with = "null_as_default")]
    pub pod_selector: LabelSelector,
    /// Ingress rules, ORed.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ingress: Vec<K8sNetworkPolicyIngressRule>,
    /// Egress rules, ORed.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub egress: Vec<K8sNetworkPolicyEgressRule>,
    /// Directions the policy applies to.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub policy_types: Vec<K8sPolicyType>,
}

/// A `networking.k8s.io/v1` NetworkPolicy.
///
/// Decodes with or without `apiVersion`/`kind` (when present they must be
/// `networking.k8s.io/v1` and `NetworkPolicy`), rejects unknown fields, and always encodes
/// `apiVersion` and `kind`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct K8sNetworkPolicy {
    /// Standard object metadata.
    pub metadata: ObjectMeta,
    /// The policy.
    pub spec: K8sNetworkPolicySpec,
}

impl K8sNetworkPolicy {
    /// A policy with the given metadata and spec.
    pub fn new(metadata: ObjectMeta, spec: K8sNetworkPolicySpec) -> Self {
        Self { metadata, spec }
    }

    /// Applies the defaults the Kubernetes API server sets when a NetworkPolicy is created, so
    /// that a manifest converts as the stored object would: an empty `policyTypes` becomes
    /// `[Ingress]`, plus `Egress` when there are egress rules; a port without a protocol gets
    /// `TCP`. Objects read back from a cluster already carry these defaults; Calico's
    /// conversion itself does not apply them.
    pub fn apply_kubernetes_defaults(&mut self) {
        let spec = &mut self.spec;
        if spec.policy_types.is_empty() {
            spec.policy_types.push(K8sPolicyType::Ingress);
            if !spec.egress.is_empty() {
                spec.policy_types.push(K8sPolicyType::Egress);
            }
        }
        let ports = spec
            .ingress
            .iter_mut()
            .flat_map(|r| r.ports.iter_mut())
            .chain(spec.egress.iter_mut().flat_map(|r| r.ports.iter_mut()));
        for p in ports {
            p.protocol.get_or_insert_with(|| "TCP".to_owned());
        }
    }
}

impl Serialize for K8sNetworkPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("apiVersion", K8S_NETWORKING_API_VERSION)?;
        m.serialize_entry("kind", K8S_NETWORK_POLICY_KIND)?;
        m.serialize_entry("metadata", &self.metadata)?;
        m.serialize_entry("spec", &self.spec)?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for K8sNetworkPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Shadow {
            #[serde(rename = "apiVersion", default)]
            api_version: Option<String>,
            #[serde(default)]
            kind: Option<String>,
            #[serde(default, deserialize_with = "null_as_default")]
            metadata: ObjectMeta,
            #[serde(default, deserialize_with = "null_as_default")]
            spec: K8sNetworkPolicySpec,
        }
        let sh = Shadow::deserialize(d)?;
        if let Some(v) = sh.api_version.as_deref()
            && v != K8S_NETWORKING_API_VERSION
        {
            return Err(de::Error::custom(format!(
                "unsupported apiVersion {v:?}: expected {K8S_NETWORKING_API_VERSION:?}"
            )));
        }
        if let Some(k) = sh.kind.as_deref()
            && k != K8S_NETWORK_POLICY_KIND
        {
            return Err(de::Error::custom(format!(
                "kind {k:?} does not match the expected kind {K8S_NETWORK_POLICY_KIND:?}"
            )));
        }
        Ok(K8sNetworkPolicy {
            metadata: sh.metadata,
            spec: sh.spec,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_kubernetes_json_names() {
        let np: K8sNetworkPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {
                "podSelector": {"matchExpressions": [{"key": "k", "operator": "NotIn", "values": ["a"]}]},
                "ingress": [{"from": [{"namespaceSelector": {}, "ipBlock": null}], "ports": [{"protocol": "UDP", "port": 53}]}],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                            "ports": [{"port": 8000, "endPort": 8080}, {"port": "dns"}]}],
                "policyTypes": ["Ingress", "Egress"]
            }
        }))
        .unwrap();
        assert_eq!(np.metadata.name, "p");
        let spec = &np.spec;
        assert_eq!(
            spec.pod_selector.match_expressions[0].operator,
            LabelSelectorOperator::NotIn
        );
        assert_eq!(
            spec.ingress[0].from[0].namespace_selector,
            Some(LabelSelector::default())
        );
        assert_eq!(spec.ingress[0].from[0].pod_selector, None);
        assert_eq!(spec.ingress[0].from[0].ip_block, None);
        assert_eq!(spec.ingress[0].ports[0].port, Some(IntOrString::Int(53)));
        assert_eq!(spec.egress[0].ports[0].end_port, Some(8080));
        assert_eq!(
            spec.egress[0].ports[1].port,
            Some(IntOrString::String("dns".into()))
        );
        assert_eq!(
            spec.egress[0].to[0].ip_block.as_ref().unwrap().except,
            vec!["10.1.0.0/16"]
        );
        assert_eq!(
            spec.policy_types,
            vec![K8sPolicyType::Ingress, K8sPolicyType::Egress]
        );
    }

    #[test]
    fn encodes_type_meta_and_pod_selector() {
        let np = K8sNetworkPolicy::new(
            ObjectMeta::namespaced("ns", "p"),
            K8sNetworkPolicySpec::default(),
        );
        let v = serde_json::to_value(&np).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "p", "namespace": "ns"},
                "spec": {"podSelector": {}}
            })
        );
        let back: K8sNetworkPolicy = serde_json::from_value(v).unwrap();
        assert_eq!(back, np);
    }

    #[test]
    fn accepts_nulls_like_go() {
        let np: K8sNetworkPolicy = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"podSelector": null, "ingress": null, "egress": [{"ports": null, "to": null}], "policyTypes": null}
        }))
        .unwrap();
        assert!(np.spec.pod_selector.is_empty());
        assert!(np.spec.ingress.is_empty());
        assert_eq!(np.spec.egress.len(), 1);
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        let bad = [
            serde_json::json!({"apiVersion": "v1", "kind": "NetworkPolicy"}),
            serde_json::json!({"kind": "Pod"}),
            serde_json::json!({"spec": {"podSelector": {"matchLabels": {"a": 1}}}}),
            serde_json::json!({"spec": {"bogus": true}}),
            serde_json::json!({"spec": {"podSelector": {"matchExpressions": [{"key": "a", "operator": "in"}]}}}),
            serde_json::json!({"spec": {"ingress": [{"ports": [{"port": 1.5}]}]}}),
            serde_json::json!({"spec": {"ingress": [{"ports": [{"port": 4_294_967_296_u64}]}]}}),
            serde_json::json!({"spec": {"ingress": [{"ports": [{"port": -3_000_000_000_i64}]}]}}),
            serde_json::json!({"spec": {"policyTypes": ["ingress"]}}),
            serde_json::json!({"status": {}}),
            serde_json::json!("np"),
        ];
        for b in bad {
            assert!(
                serde_json::from_value::<K8sNetworkPolicy>(b.clone()).is_err(),
                "{b}"
            );
        }
    }

    #[test]
    fn kubernetes_defaults() {
        let mut np: K8sNetworkPolicy = serde_json::from_value(serde_json::json!({
            "spec": {"egress": [{"ports": [{"port": 53}, {"protocol": "UDP"}]}], "ingress": [{"ports": [{}]}]}
        }))
        .unwrap();
        np.apply_kubernetes_defaults();
        assert_eq!(
            np.spec.policy_types,
            vec![K8sPolicyType::Ingress, K8sPolicyType::Egress]
        );
        assert_eq!(np.spec.egress[0].ports[0].protocol.as_deref(), Some("TCP"));
        assert_eq!(np.spec.egress[0].ports[1].protocol.as_deref(), Some("UDP"));
        assert_eq!(np.spec.ingress[0].ports[0].protocol.as_deref(), Some("TCP"));
        // Without egress rules: ingress only; explicit types are kept.
        let mut np = K8sNetworkPolicy::default();
        np.apply_kubernetes_defaults();
        assert_eq!(np.spec.policy_types, vec![K8sPolicyType::Ingress]);
        np.spec.policy_types = vec![K8sPolicyType::Egress];
        np.apply_kubernetes_defaults();
        assert_eq!(np.spec.policy_types, vec![K8sPolicyType::Egress]);
    }

    #[test]
    fn int_or_string_display() {
        assert_eq!(IntOrString::Int(-5).to_string(), "-5");
        assert_eq!(IntOrString::from("http").to_string(), "http");
    }
}
