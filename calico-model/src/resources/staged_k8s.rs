//! StagedKubernetesNetworkPolicy: a Kubernetes NetworkPolicy that Calico only evaluates (for
//! flow logs and previews) instead of enforcing.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::k8s::{
    K8sNetworkPolicy, K8sNetworkPolicyEgressRule, K8sNetworkPolicyIngressRule,
    K8sNetworkPolicySpec, K8sPolicyType, LabelSelector, WarningKind,
    network_policy_to_calico_with_warnings,
};
use crate::resource::{ResourceKind, StagedKubernetesNetworkPolicy, validate_common_meta};
use crate::resources::StagedAction;
use crate::validation::{Path, Validator};

/// Maximum length of a staged Kubernetes policy name (a DNS-1123 subdomain's).
const MAX_NAME_LEN: usize = 253;

/// Spec of a `StagedKubernetesNetworkPolicy`: a Kubernetes NetworkPolicy spec plus the staged
/// action.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StagedKubernetesNetworkPolicySpec {
    /// What enforcing this staged policy would do (`Set` when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_action: Option<StagedAction>,
    /// Pods (in the policy's namespace) the policy applies to; empty = all. Always encoded.
    #[serde(default)]
    pub pod_selector: LabelSelector,
    /// Ingress rules (Kubernetes syntax).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<K8sNetworkPolicyIngressRule>,
    /// Egress rules (Kubernetes syntax).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<K8sNetworkPolicyEgressRule>,
    /// Directions the policy applies to (at most two, no duplicates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_types: Vec<K8sPolicyType>,
}

impl StagedKubernetesNetworkPolicy {
    /// The staged action (`Set` when unset) and the Kubernetes NetworkPolicy this staged policy
    /// stands for: same metadata except the resource version and UID, which are cleared.
    pub fn to_k8s_network_policy(&self) -> (StagedAction, K8sNetworkPolicy) {
        let mut metadata = self.metadata.clone();
        metadata.resource_version.clear();
        metadata.uid.clear();
        let spec = K8sNetworkPolicySpec {
            pod_selector: self.spec.pod_selector.clone(),
            ingress: self.spec.ingress.clone(),
            egress: self.spec.egress.clone(),
            policy_types: self.spec.policy_types.clone(),
        };
        (
            self.spec.staged_action.unwrap_or_default(),
            K8sNetworkPolicy::new(metadata, spec),
        )
    }
}

/// Maps a problem found on the converted Calico policy back onto the staged policy's spec.
///
/// Converted rule `spec.ingress[N]` came from Kubernetes rule `spec.ingress[origins[N]]`; the
/// problem is reported there, with the converted rule and field named in the reason. The policy
/// selector maps to `spec.podSelector` and `types` to `spec.policyTypes`; anything else stays at
/// `spec`. Problems outside the spec (the converted name) are dropped: Calico validates only the
/// converted spec.
fn map_converted_problem(
    path: &str,
    ingress_origins: &[usize],
    egress_origins: &[usize],
) -> Option<(String, String)> {
    let rest = path.strip_prefix("spec")?;
    let rest = match rest {
        "" => return Some(("spec".into(), String::new())),
        r => r.strip_prefix('.')?,
    };
    for (dir, origins) in [("ingress", ingress_origins), ("egress", egress_origins)] {
        let Some(after) = rest.strip_prefix(dir) else {
            continue;
        };
        if after.is_empty() {
            return Some((format!("spec.{dir}"), String::new()));
        }
        let Some((index, field)) = after.strip_prefix('[').and_then(|a| a.split_once(']')) else {
            continue;
        };
        let Ok(n) = index.parse::<usize>() else {
            continue;
        };
        let field = field.strip_prefix('.').unwrap_or(field);
        let origin = origins.get(n).copied().unwrap_or(n);
        let note = if field.is_empty() {
            format!("converted {dir} rule {n}: ")
        } else {
            format!("converted {dir} rule {n}, {field}: ")
        };
        return Some((format!("spec.{dir}[{origin}]"), note));
    }
    if rest == "selector" {
        return Some(("spec.podSelector".into(), "converted selector: ".into()));
    }
    if let Some(after) = rest.strip_prefix("types") {
        return Some((
            "spec.policyTypes".into(),
            format!("converted types{after}: "),
        ));
    }
    Some(("spec".into(), format!("converted {rest}: ")))
}

impl ResourceKind for StagedKubernetesNetworkPolicy {
    fn apply_defaults(&mut self) {
        if self.spec.staged_action.is_none() {
            self.spec.staged_action = Some(StagedAction::Set);
        }
    }

    /// Calico's rules: the common metadata checks and a name of at most 253 bytes; with
    /// `stagedAction: Delete` nothing else may be set; otherwise the policy must convert
    /// without dropping a rule and the converted Calico policy spec must be valid (its
    /// problems are reported against the staged policy's fields, see the conversion in
    /// [`crate::k8s`]); `policyTypes` holds at most two distinct entries.
    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, true);
        let name = &self.metadata.name;
        if name.len() > MAX_NAME_LEN {
            v.report(
                &Path::new("metadata").field("name"),
                format!("name is too long by {} bytes", name.len() - MAX_NAME_LEN),
            );
        }

        let p = Path::new("spec");
        let tp = p.field("policyTypes");
        v.unique(&tp, &self.spec.policy_types);
        v.max_items(&tp, &self.spec.policy_types, 2);

        if self.spec.staged_action == Some(StagedAction::Delete) {
            let empty = StagedKubernetesNetworkPolicySpec {
                staged_action: Some(StagedAction::Delete),
                ..Default::default()
            };
            if self.spec != empty {
                v.report(
                    &p,
                    "spec fields should all be empty when stagedAction is Delete",
                );
            }
            return;
        }

        let (_, np) = self.to_k8s_network_policy();
        let conv = match network_policy_to_calico_with_warnings(&np) {
            Ok(c) => c,
            Err(e) => {
                v.report(
                    &p,
                    format!("conversion to a staged network policy failed: {e}"),
                );
                return;
            }
        };
        for w in conv
            .warnings
            .iter()
            .filter(|w| w.kind == WarningKind::RuleDropped)
        {
            v.report(
                &Path::new(&w.path),
                format!(
                    "conversion to a staged network policy failed: {}",
                    w.message
                ),
            );
        }
        let mut scratch = Validator::new();
        conv.policy.validate_into(&mut scratch);
        if let Err(e) = scratch.finish() {
            for problem in e.problems {
                if let Some((path, note)) = map_converted_problem(
                    &problem.path,
                    &conv.ingress_origins,
                    &conv.egress_origins,
                ) {
                    v.report(&Path::new(&path), format!("{note}{}", problem.reason));
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::validation::ValidationError;

    fn check(yaml: &str) -> Result<(), ValidationError> {
        let mut docs = crate::decode_yaml(yaml).expect("decodes");
        assert_eq!(docs.len(), 1);
        let r = &mut docs[0];
        r.apply_defaults();
        r.validate()
    }

    fn sknp(spec: &str) -> String {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: StagedKubernetesNetworkPolicy\nmetadata:\n  name: web\n  namespace: shop\nspec:\n{spec}"
        )
    }

    fn paths(e: &ValidationError) -> Vec<&str> {
        e.problems.iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn defaults_and_encoding() {
        let mut docs =
            crate::decode_yaml(&sknp("  ingress:\n    - ports: [{port: 80}]\n")).unwrap();
        docs[0].apply_defaults();
        let v = docs[0].to_value();
        assert_eq!(
            v["spec"],
            serde_json::json!({"stagedAction": "Set", "podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]})
        );
        let sk: StagedKubernetesNetworkPolicy = docs.remove(0).try_into().unwrap();
        let (action, np) = sk.to_k8s_network_policy();
        assert_eq!(action, StagedAction::Set);
        assert_eq!(np.metadata.name, "web");
        assert_eq!(np.spec.ingress, sk.spec.ingress);
    }

    #[test]
    fn valid_policies() {
        check(&sknp(
            "  podSelector:\n    matchLabels: {app: web}\n  policyTypes: [Ingress, Egress]\n  ingress:\n    - from:\n        - namespaceSelector: {}\n          podSelector:\n            matchExpressions: [{key: role, operator: In, values: [fe, api]}]\n      ports: [{port: 8080}, {port: http}, {protocol: UDP, port: 53}]\n  egress:\n    - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n      ports: [{port: 5432, endPort: 5440}]\n",
        ))
        .unwrap();
        check(&sknp("  stagedAction: Delete\n")).unwrap();
        check(&sknp("  stagedAction: Learn\n  podSelector: {}\n")).unwrap();
        // Any name up to 253 bytes: the Calico policy name rules do not apply.
        let long = "a".repeat(253);
        check(&sknp("  podSelector: {}\n").replace("name: web", &format!("name: {long}"))).unwrap();
        check(&sknp("  podSelector: {}\n").replace("name: web", "name: Web_Policy")).unwrap();
    }

    #[test]
    fn delete_must_be_empty() {
        let e = check(&sknp(
            "  stagedAction: Delete\n  podSelector: {matchLabels: {a: b}}\n",
        ))
        .unwrap_err();
        assert_eq!(paths(&e), vec!["spec"]);
        let e = check(&sknp("  stagedAction: Delete\n  policyTypes: [Egress]\n")).unwrap_err();
        assert_eq!(paths(&e), vec!["spec"]);
    }

    #[test]
    fn name_and_metadata() {
        let long = "a".repeat(254);
        let e = check(&sknp("  podSelector: {}\n").replace("name: web", &format!("name: {long}")))
            .unwrap_err();
        assert!(e.has_path("metadata.name"), "{e}");
        let e = check(&sknp("  podSelector: {}\n").replace(
            "namespace: shop",
            "namespace: shop\n  labels: {'bad key!': x}",
        ))
        .unwrap_err();
        assert!(e.has_path("metadata.labels[bad key!]"), "{e}");
    }

    #[test]
    fn policy_types_set() {
        let e = check(&sknp("  policyTypes: [Ingress, Ingress]\n")).unwrap_err();
        assert_eq!(paths(&e), vec!["spec.policyTypes[1]"]);
        let e = check(&sknp("  policyTypes: [Ingress, Egress, Egress]\n")).unwrap_err();
        assert!(
            e.has_path("spec.policyTypes") && e.has_path("spec.policyTypes[2]"),
            "{e}"
        );
    }

    #[test]
    fn unconvertible_rules_are_rejected_where_they_are() {
        let e = check(&sknp(
            "  ingress:\n    - ports: [{port: 80}]\n    - ports: [{port: 80}, {port: '-50:-1'}]\n  egress:\n    - ports: [{port: 90, endPort: 80}]\n  policyTypes: [Ingress, Egress]\n",
        ))
        .unwrap_err();
        assert_eq!(paths(&e), vec!["spec.ingress[1]", "spec.egress[0]"]);
        assert!(
            e.problems[0]
                .reason
                .contains("invalid name for named port (-50:-1)"),
            "{e}"
        );
        assert!(
            e.problems[1]
                .reason
                .contains("minimum port number (90) is greater than maximum port number (80)"),
            "{e}"
        );
    }

    #[test]
    fn converted_rule_problems_map_back() {
        // Rule 1 becomes converted rules 1 (TCP) and 2 (UDP); the bad named port is in the UDP one.
        let e = check(&sknp(
            "  ingress:\n    - ports: [{port: 80}]\n    - ports: [{port: 81}, {protocol: UDP, port: no_good_name_}]\n  policyTypes: [Ingress]\n",
        ))
        .unwrap_err();
        assert_eq!(paths(&e), vec!["spec.ingress[1]"]);
        assert!(
            e.problems[0]
                .reason
                .starts_with("converted ingress rule 2, destination.ports[0]: "),
            "{e}"
        );

        // Mixed families in one egress peer.
        let e = check(&sknp("  egress:\n    - to: [{ipBlock: {cidr: 10.0.0.0/8, except: ['fd00::/64']}}]\n  policyTypes: [Egress]\n")).unwrap_err();
        assert_eq!(paths(&e), vec!["spec.egress[0]"]);

        // Ports with a protocol that has none.
        let e = check(&sknp(
            "  ingress:\n    - ports: [{protocol: ICMP, port: 1}]\n",
        ))
        .unwrap_err();
        assert_eq!(paths(&e), vec!["spec.ingress[0]"]);

        // A selector that does not parse.
        let e = check(&sknp("  podSelector: {matchLabels: {app: \"it's\"}}\n")).unwrap_err();
        assert_eq!(paths(&e), vec!["spec.podSelector"]);
        let e = check(&sknp(
            "  ingress: [{from: [{namespaceSelector: {matchLabels: {'a b': c}}}]}]\n",
        ))
        .unwrap_err();
        assert_eq!(paths(&e), vec!["spec.ingress[0]"]);
        assert!(
            e.problems[0].reason.contains("source.namespaceSelector"),
            "{e}"
        );
    }

    #[test]
    fn path_mapping() {
        let m = |p: &str| map_converted_problem(p, &[0, 0, 1], &[3]);
        assert_eq!(
            m("spec.ingress[2].source.nets[0]"),
            Some((
                "spec.ingress[1]".into(),
                "converted ingress rule 2, source.nets[0]: ".into()
            ))
        );
        assert_eq!(
            m("spec.egress[0]"),
            Some(("spec.egress[3]".into(), "converted egress rule 0: ".into()))
        );
        assert_eq!(
            m("spec.ingress"),
            Some(("spec.ingress".into(), String::new()))
        );
        assert_eq!(
            m("spec.selector"),
            Some(("spec.podSelector".into(), "converted selector: ".into()))
        );
        assert_eq!(
            m("spec.types[1]"),
            Some(("spec.policyTypes".into(), "converted types[1]: ".into()))
        );
        assert_eq!(
            m("spec.tier"),
            Some(("spec".into(), "converted tier: ".into()))
        );
        assert_eq!(m("metadata.name"), None);
        assert_eq!(m("specx"), None);
    }
}
