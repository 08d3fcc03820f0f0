//! Policy kinds: network policies (enforced and staged), tiers and profiles, and the rules
//! they carry.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::Condition;
use crate::resource::{
    GlobalNetworkPolicy, NetworkPolicy, Profile, ResourceKind, StagedGlobalNetworkPolicy,
    StagedNetworkPolicy, Tier, validate_common_meta,
};
use crate::scalar::{Port, Protocol};
use crate::util::{is_default, is_empty_map, is_false};
use crate::validation::{
    NetKind, Path, Validate, Validator, check_net, is_dns1123_label, is_dns1123_subdomain,
    is_valid_port_name,
};

/// Name of the tier every policy without `tier` belongs to.
pub const DEFAULT_TIER: &str = "default";
/// The built-in tier holding converted Kubernetes admin network policies.
pub const KUBE_ADMIN_TIER: &str = "kube-admin";
/// The built-in tier holding converted Kubernetes baseline admin network policies.
pub const KUBE_BASELINE_TIER: &str = "kube-baseline";
/// Order of the `default` tier.
pub const DEFAULT_TIER_ORDER: f64 = 1_000_000.0;
/// Order of the `kube-admin` tier.
pub const KUBE_ADMIN_TIER_ORDER: f64 = 1_000.0;
/// Order of the `kube-baseline` tier.
pub const KUBE_BASELINE_TIER_ORDER: f64 = 10_000_000.0;
/// Label Calico sets on every policy, holding its tier name.
pub const LABEL_TIER: &str = "projectcalico.org/tier";
/// The built-in allow-all profile attached to automatic host endpoints.
pub const DEFAULT_ALLOW_PROFILE: &str = "projectcalico-default-allow";

/// Maximum rules per direction in one policy or profile.
const MAX_RULES: usize = 1024;
/// Maximum length of a selector string.
const MAX_SELECTOR_LEN: usize = 1024;

/// What a rule does when it matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Action {
    /// Accept the packet (for this direction).
    #[default]
    Allow,
    /// Drop the packet.
    Deny,
    /// Log the packet and continue with the next rule.
    Log,
    /// Skip the rest of the tier and continue with the next tier (or the profiles).
    Pass,
}

/// A direction a policy applies to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum PolicyType {
    /// Traffic to the endpoint.
    Ingress,
    /// Traffic from the endpoint.
    Egress,
}

/// What a staged policy would do if it were enforced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum StagedAction {
    /// Create or replace the enforced policy.
    #[default]
    Set,
    /// Delete the enforced policy.
    Delete,
    /// Learn mode.
    Learn,
    /// Ignore.
    Ignore,
}

/// A hint to the policy engine; never changes enforcement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PolicyPerformanceHint {
    /// Treat the policy as used on every node (preload it).
    AssumeNeededOnEveryNode,
}

/// The default action at the end of a tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TierDefaultAction {
    /// Drop traffic that no policy in the tier allowed ("end of tier drop").
    #[default]
    Deny,
    /// Continue with the next tier.
    Pass,
}

/// ICMP type and code match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IcmpFields {
    /// ICMP type (0–254), e.g. 8 for echo request.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<i64>,
    /// ICMP code (0–255); requires `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
}

/// One HTTP path match: exactly one of `exact` or `prefix`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpPath {
    /// Matches the path exactly.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub exact: String,
    /// Matches paths with this prefix.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
}

/// HTTP request match (application-layer policy): methods ORed, paths ORed, both ANDed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpMatch {
    /// HTTP methods, e.g. `GET`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Path matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<HttpPath>,
}

/// A Kubernetes Service reference in a rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceMatch {
    /// Service name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Service namespace (defaults to the policy's namespace for namespaced policies).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// Service-account match: `names` and `selector` are ANDed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountMatch {
    /// Service account names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Selector over service-account labels.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
}

/// Extra information attached to a rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleMetadata {
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub annotations: BTreeMap<String, String>,
}

/// Match criteria for one side (source or destination) of a rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntityRule {
    /// CIDRs the address must be in (any of).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nets: Vec<String>,
    /// Selector over endpoint (and network set) labels.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// Selector over namespace labels; `global()` selects non-namespaced entities.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace_selector: String,
    /// Kubernetes Service whose endpoints match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<ServiceMatch>,
    /// Ports the port must be in (any of).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// CIDRs the address must not be in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_nets: Vec<String>,
    /// Selector the endpoint must not match.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub not_selector: String,
    /// Ports the port must not be in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ports: Vec<Port>,
    /// Service accounts of the matching pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_accounts: Option<ServiceAccountMatch>,
}

impl EntityRule {
    /// True when the entity rule has no criteria at all.
    pub fn is_empty(&self) -> bool {
        *self == EntityRule::default()
    }
}

/// A policy rule: match criteria and an action. All criteria are ANDed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// What to do on a match.
    pub action: Action,
    /// Restricts the rule to IPv4 (4) or IPv6 (6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<i64>,
    /// IP protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// ICMP type/code (with protocol ICMP or ICMPv6).
    #[serde(rename = "icmp", default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpFields>,
    /// Protocol the packet must not have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_protocol: Option<Protocol>,
    /// ICMP type/code the packet must not have.
    #[serde(rename = "notICMP", default, skip_serializing_if = "Option::is_none")]
    pub not_icmp: Option<IcmpFields>,
    /// Source match.
    #[serde(default, skip_serializing_if = "is_default")]
    pub source: EntityRule,
    /// Destination match.
    #[serde(default, skip_serializing_if = "is_default")]
    pub destination: EntityRule,
    /// HTTP match (ingress Allow rules only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpMatch>,
    /// Annotations on the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<RuleMetadata>,
}

impl Rule {
    /// A rule with only an action.
    pub fn new(action: Action) -> Self {
        Rule {
            action,
            ..Rule::default()
        }
    }
}

/// Status Calico writes on policies (conditions such as `Valid`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyStatus {
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Spec of a namespaced `NetworkPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicySpec {
    /// Tier the policy belongs to (`default` when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tier: String,
    /// Order within the tier; lower applies first; none = last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<f64>,
    /// Ingress rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Rule>,
    /// Egress rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Rule>,
    /// Endpoints the policy applies to (within its namespace); empty = all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// Directions the policy applies to; defaulted from the rules when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<PolicyType>,
    /// Selects pods by their service account's labels.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_selector: String,
    /// Hints to the policy engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performance_hints: Vec<PolicyPerformanceHint>,
}

/// Spec of a `GlobalNetworkPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlobalNetworkPolicySpec {
    /// Tier the policy belongs to (`default` when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tier: String,
    /// Order within the tier; lower applies first; none = last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<f64>,
    /// Ingress rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Rule>,
    /// Egress rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Rule>,
    /// Endpoints the policy applies to; empty = all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// Directions the policy applies to; defaulted from the rules when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<PolicyType>,
    /// Apply before connection tracking (host endpoints; needs `applyOnForward`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub do_not_track: bool,
    /// Apply before DNAT (host endpoints, ingress only; needs `applyOnForward`).
    #[serde(rename = "preDNAT", default, skip_serializing_if = "is_false")]
    pub pre_dnat: bool,
    /// Also apply to traffic forwarded through a host endpoint.
    #[serde(default, skip_serializing_if = "is_false")]
    pub apply_on_forward: bool,
    /// Selects pods by their service account's labels.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_selector: String,
    /// Selects workloads by their namespace's labels.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace_selector: String,
    /// Hints to the policy engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performance_hints: Vec<PolicyPerformanceHint>,
}

/// Spec of a `StagedNetworkPolicy`: a `NetworkPolicySpec` plus the staged action.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StagedNetworkPolicySpec {
    /// What enforcing this staged policy would do (`Set` when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_action: Option<StagedAction>,
    /// Tier the policy belongs to (`default` when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tier: String,
    /// Order within the tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<f64>,
    /// Ingress rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Rule>,
    /// Egress rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Rule>,
    /// Endpoints the policy applies to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// Directions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<PolicyType>,
    /// Selects pods by their service account's labels.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_selector: String,
    /// Hints to the policy engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performance_hints: Vec<PolicyPerformanceHint>,
}

/// Spec of a `StagedGlobalNetworkPolicy`: a `GlobalNetworkPolicySpec` plus the staged action.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StagedGlobalNetworkPolicySpec {
    /// What enforcing this staged policy would do (`Set` when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_action: Option<StagedAction>,
    /// Tier the policy belongs to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tier: String,
    /// Order within the tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<f64>,
    /// Ingress rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Rule>,
    /// Egress rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Rule>,
    /// Endpoints the policy applies to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// Directions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<PolicyType>,
    /// Apply before connection tracking.
    #[serde(default, skip_serializing_if = "is_false")]
    pub do_not_track: bool,
    /// Apply before DNAT.
    #[serde(rename = "preDNAT", default, skip_serializing_if = "is_false")]
    pub pre_dnat: bool,
    /// Also apply to forwarded traffic.
    #[serde(default, skip_serializing_if = "is_false")]
    pub apply_on_forward: bool,
    /// Selects pods by their service account's labels.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_selector: String,
    /// Selects workloads by their namespace's labels.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace_selector: String,
    /// Hints to the policy engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performance_hints: Vec<PolicyPerformanceHint>,
}

/// Spec of a `Tier`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierSpec {
    /// Order of the tier; lower applies first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<f64>,
    /// What happens to traffic no policy in the tier decided (`Deny` when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<TierDefaultAction>,
}

/// Status of a `Tier`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierStatus {
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Spec of a `Profile`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileSpec {
    /// Ingress rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Rule>,
    /// Egress rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Rule>,
    /// Labels every endpoint listing this profile inherits (its own labels win).
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub labels_to_apply: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Defaulting

/// Calico's `types` defaulting: no egress rules → `[Ingress]`; only egress rules →
/// `[Egress]`; both → `[Ingress, Egress]`.
pub fn default_policy_types(has_ingress: bool, has_egress: bool) -> Vec<PolicyType> {
    match (has_ingress, has_egress) {
        (_, false) => vec![PolicyType::Ingress],
        (false, true) => vec![PolicyType::Egress],
        (true, true) => vec![PolicyType::Ingress, PolicyType::Egress],
    }
}

fn default_tier_and_label(tier: &mut String, labels: &mut BTreeMap<String, String>) {
    if tier.is_empty() {
        *tier = DEFAULT_TIER.to_owned();
    }
    labels.insert(LABEL_TIER.to_owned(), tier.clone());
}

impl ResourceKind for NetworkPolicy {
    fn apply_defaults(&mut self) {
        default_tier_and_label(&mut self.spec.tier, &mut self.metadata.labels);
        if self.spec.types.is_empty() {
            self.spec.types =
                default_policy_types(!self.spec.ingress.is_empty(), !self.spec.egress.is_empty());
        }
    }

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, true);
        check_policy_name(v, &self.metadata.name, PolicyScope::Namespaced);
        let s = &self.spec;
        let p = Path::new("spec");
        let common = PolicyCommon {
            tier: &s.tier,
            selector: &s.selector,
            service_account_selector: &s.service_account_selector,
            namespace_selector: None,
            types: &s.types,
            ingress: &s.ingress,
            egress: &s.egress,
            performance_hints: &s.performance_hints,
            global: false,
        };
        common.validate(&p, v);
    }
}

impl ResourceKind for GlobalNetworkPolicy {
    fn apply_defaults(&mut self) {
        default_tier_and_label(&mut self.spec.tier, &mut self.metadata.labels);
        if self.spec.types.is_empty() {
            self.spec.types =
                default_policy_types(!self.spec.ingress.is_empty(), !self.spec.egress.is_empty());
        }
    }

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        check_policy_name(v, &self.metadata.name, PolicyScope::Global);
        let s = &self.spec;
        let p = Path::new("spec");
        PolicyCommon {
            tier: &s.tier,
            selector: &s.selector,
            service_account_selector: &s.service_account_selector,
            namespace_selector: Some(&s.namespace_selector),
            types: &s.types,
            ingress: &s.ingress,
            egress: &s.egress,
            performance_hints: &s.performance_hints,
            global: true,
        }
        .validate(&p, v);
        check_gnp_flags(
            v,
            &p,
            s.do_not_track,
            s.pre_dnat,
            s.apply_on_forward,
            &s.egress,
            &s.types,
        );
    }
}

impl ResourceKind for StagedNetworkPolicy {
    fn apply_defaults(&mut self) {
        if self.spec.staged_action.is_none() {
            self.spec.staged_action = Some(StagedAction::Set);
        }
        default_tier_and_label(&mut self.spec.tier, &mut self.metadata.labels);
        if self.spec.staged_action == Some(StagedAction::Delete) {
            // Calico clears the defaulted types of a Delete before validating it.
            return;
        }
        if self.spec.types.is_empty() {
            self.spec.types =
                default_policy_types(!self.spec.ingress.is_empty(), !self.spec.egress.is_empty());
        }
    }

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, true);
        check_policy_name(v, &self.metadata.name, PolicyScope::Namespaced);
        let s = &self.spec;
        let p = Path::new("spec");
        if s.staged_action == Some(StagedAction::Delete) {
            let zero = StagedNetworkPolicySpec {
                staged_action: s.staged_action,
                tier: s.tier.clone(),
                ..Default::default()
            };
            if *s != zero {
                v.report(
                    &p,
                    "spec fields, except tier, must all be empty when stagedAction is Delete",
                );
            }
            check_tier_ref(v, &p.field("tier"), &s.tier);
            return;
        }
        PolicyCommon {
            tier: &s.tier,
            selector: &s.selector,
            service_account_selector: &s.service_account_selector,
            namespace_selector: None,
            types: &s.types,
            ingress: &s.ingress,
            egress: &s.egress,
            performance_hints: &s.performance_hints,
            global: false,
        }
        .validate(&p, v);
    }
}

impl ResourceKind for StagedGlobalNetworkPolicy {
    fn apply_defaults(&mut self) {
        if self.spec.staged_action.is_none() {
            self.spec.staged_action = Some(StagedAction::Set);
        }
        default_tier_and_label(&mut self.spec.tier, &mut self.metadata.labels);
        if self.spec.staged_action == Some(StagedAction::Delete) {
            return;
        }
        if self.spec.types.is_empty() {
            self.spec.types =
                default_policy_types(!self.spec.ingress.is_empty(), !self.spec.egress.is_empty());
        }
    }

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        check_policy_name(v, &self.metadata.name, PolicyScope::Global);
        let s = &self.spec;
        let p = Path::new("spec");
        if s.staged_action == Some(StagedAction::Delete) {
            let zero = StagedGlobalNetworkPolicySpec {
                staged_action: s.staged_action,
                tier: s.tier.clone(),
                ..Default::default()
            };
            if *s != zero {
                v.report(
                    &p,
                    "spec fields, except tier, must all be empty when stagedAction is Delete",
                );
            }
            check_tier_ref(v, &p.field("tier"), &s.tier);
            return;
        }
        PolicyCommon {
            tier: &s.tier,
            selector: &s.selector,
            service_account_selector: &s.service_account_selector,
            namespace_selector: Some(&s.namespace_selector),
            types: &s.types,
            ingress: &s.ingress,
            egress: &s.egress,
            performance_hints: &s.performance_hints,
            global: true,
        }
        .validate(&p, v);
        check_gnp_flags(
            v,
            &p,
            s.do_not_track,
            s.pre_dnat,
            s.apply_on_forward,
            &s.egress,
            &s.types,
        );
    }
}

impl ResourceKind for Tier {
    fn apply_defaults(&mut self) {
        let (order, action) = match self.metadata.name.as_str() {
            KUBE_ADMIN_TIER => (KUBE_ADMIN_TIER_ORDER, TierDefaultAction::Pass),
            KUBE_BASELINE_TIER => (KUBE_BASELINE_TIER_ORDER, TierDefaultAction::Pass),
            _ => (DEFAULT_TIER_ORDER, TierDefaultAction::Deny),
        };
        self.spec.order.get_or_insert(order);
        self.spec.default_action.get_or_insert(action);
    }

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        let name = &self.metadata.name;
        let np = Path::new("metadata").field("name");
        if name.len() > 63 {
            v.report(
                &np,
                format!(
                    "name is too long by {} bytes (a tier name must fit in a label value)",
                    name.len() - 63
                ),
            );
        } else if !is_dns1123_label(name) {
            v.report(&np, format!("{name:?} is not a valid tier name: must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric character"));
        }
        let p = Path::new("spec");
        let fixed = match name.as_str() {
            DEFAULT_TIER => Some((DEFAULT_TIER_ORDER, TierDefaultAction::Deny)),
            KUBE_ADMIN_TIER => Some((KUBE_ADMIN_TIER_ORDER, TierDefaultAction::Pass)),
            KUBE_BASELINE_TIER => Some((KUBE_BASELINE_TIER_ORDER, TierDefaultAction::Pass)),
            _ => None,
        };
        if let Some((order, action)) = fixed {
            if self.spec.order != Some(order) {
                v.report(
                    &p.field("order"),
                    format!("the {name} tier's order must be {order}"),
                );
            }
            if self.spec.default_action.unwrap_or_default() != action {
                v.report(
                    &p.field("defaultAction"),
                    format!("the {name} tier's defaultAction must be {action:?}"),
                );
            }
        }
        if let Some(o) = self.spec.order
            && !o.is_finite()
        {
            v.report(&p.field("order"), "order must be a finite number");
        }
    }
}

impl ResourceKind for Profile {
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        let p = Path::new("spec");
        v.labels(&p.field("labelsToApply"), &self.spec.labels_to_apply);
        validate_rules(v, &p, &self.spec.ingress, &self.spec.egress, false);
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

#[derive(Clone, Copy, PartialEq, Eq)]
enum PolicyScope {
    Namespaced,
    Global,
}

/// `label` or `label.label` (legacy `<tier>.<name>`), plus `knp.default.<subdomain>` and
/// `ossg.default.<subdomain>` for namespaced policies.
fn check_policy_name(v: &mut Validator, name: &str, scope: PolicyScope) {
    let p = Path::new("metadata").field("name");
    if name.is_empty() {
        return; // reported by the common metadata check
    }
    if name.len() > 253 {
        v.report(
            &p,
            format!("name is too long by {} bytes", name.len() - 253),
        );
        return;
    }
    let label_dot_label = {
        let parts: Vec<&str> = name.split('.').collect();
        parts.len() <= 2
            && parts
                .iter()
                .all(|s| crate::validation::names_label_syntax(s))
    };
    let k8s_form = scope == PolicyScope::Namespaced
        && ["knp.default.", "ossg.default."]
            .iter()
            .any(|pre| name.strip_prefix(pre).is_some_and(is_dns1123_subdomain));
    if !(label_dot_label || k8s_form) {
        v.report(
            &p,
            format!("{name:?} is not a valid policy name: must consist of lower case alphanumeric characters or '-' (at most one '.')"),
        );
    }
}

fn check_tier_ref(v: &mut Validator, path: &Path, tier: &str) {
    if !tier.is_empty() && !is_dns1123_subdomain(tier) {
        v.report(path, format!("{tier:?} is not a valid tier name"));
    }
}

struct PolicyCommon<'a> {
    tier: &'a str,
    selector: &'a str,
    service_account_selector: &'a str,
    namespace_selector: Option<&'a str>,
    types: &'a [PolicyType],
    ingress: &'a [Rule],
    egress: &'a [Rule],
    performance_hints: &'a [PolicyPerformanceHint],
    global: bool,
}

impl PolicyCommon<'_> {
    fn validate(&self, p: &Path, v: &mut Validator) {
        check_tier_ref(v, &p.field("tier"), self.tier);
        let sel = |v: &mut Validator, field: &str, s: &str| {
            let fp = p.field(field);
            v.max_len(&fp, s, MAX_SELECTOR_LEN);
            v.selector_no_global(&fp, s);
        };
        sel(v, "selector", self.selector);
        sel(v, "serviceAccountSelector", self.service_account_selector);
        if let Some(ns) = self.namespace_selector {
            sel(v, "namespaceSelector", ns);
        }
        let tp = p.field("types");
        v.unique(&tp, self.types);
        v.max_items(&tp, self.types, 2);
        v.unique(&p.field("performanceHints"), self.performance_hints);
        validate_rules(v, p, self.ingress, self.egress, self.global);
    }
}

fn check_gnp_flags(
    v: &mut Validator,
    p: &Path,
    do_not_track: bool,
    pre_dnat: bool,
    apply_on_forward: bool,
    egress: &[Rule],
    types: &[PolicyType],
) {
    if do_not_track && pre_dnat {
        v.report(
            &p.field("preDNAT"),
            "preDNAT and doNotTrack cannot both be true",
        );
    }
    if pre_dnat && !egress.is_empty() {
        v.report(
            &p.field("egress"),
            "preDNAT policy cannot have any egress rules",
        );
    }
    if pre_dnat && types.contains(&PolicyType::Egress) {
        v.report(
            &p.field("types"),
            "preDNAT policy cannot have 'Egress' type",
        );
    }
    if (do_not_track || pre_dnat) && !apply_on_forward {
        v.report(
            &p.field("applyOnForward"),
            "applyOnForward must be true if either preDNAT or doNotTrack is true",
        );
    }
}

/// Validates the ingress and egress rule lists of a policy or profile, with the
/// direction-dependent rules (services position, HTTP only on ingress).
fn validate_rules(v: &mut Validator, p: &Path, ingress: &[Rule], egress: &[Rule], global: bool) {
    for (dir, rules) in [("ingress", ingress), ("egress", egress)] {
        let dp = p.field(dir);
        v.max_items(&dp, rules, MAX_RULES);
        for (i, r) in rules.iter().enumerate() {
            let rp = dp.index(i);
            r.validate_into(&rp, v);
            if dir == "egress" {
                if r.source.services.is_some() {
                    v.report(
                        &rp.field("source").field("services"),
                        "not allowed in egress rule source",
                    );
                }
                if r.http.is_some() {
                    v.report(&rp.field("http"), "not allowed in egress rules");
                }
                if global
                    && let Some(s) = &r.destination.services
                    && s.namespace.is_empty()
                {
                    v.report(
                        &rp.field("destination").field("services").field("namespace"),
                        "must specify a namespace",
                    );
                }
            } else {
                if r.destination.services.is_some() {
                    v.report(
                        &rp.field("destination").field("services"),
                        "not allowed in ingress rule destination",
                    );
                }
                if global
                    && let Some(s) = &r.source.services
                    && s.namespace.is_empty()
                {
                    v.report(
                        &rp.field("source").field("services").field("namespace"),
                        "must specify a namespace",
                    );
                }
            }
        }
    }
}

const PORTS_NEED_PROTOCOL: &str =
    "rules that specify numeric ports or port ranges must set protocol to TCP, UDP or SCTP";
const PORTS_BAD_PROTOCOL: &str = "rules that specify ports must set protocol to TCP or UDP or SCTP";

fn validate_port(v: &mut Validator, path: &Path, port: &Port) {
    match port {
        Port::Named(name) => {
            if let Err(e) = is_valid_port_name(name) {
                v.report(path, format!("invalid port name {name:?}: {e}"));
            }
        }
        Port::Number(0) | Port::Range(0, _) => {
            v.report(
                path,
                "port range invalid, port number must be between 1 and 65535",
            );
        }
        Port::Range(a, b) if a > b => v.report(path, "port range invalid"),
        _ => {}
    }
}

fn validate_protocol(v: &mut Validator, path: &Path, p: &Protocol) {
    match p {
        Protocol::Number(0) => v.report(path, "protocol number invalid: must be 1-255"),
        Protocol::Name(_) if !p.is_valid() => v.report(
            path,
            format!("protocol name {p:?} invalid: must be one of TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255"),
        ),
        _ => {}
    }
}

impl Validate for IcmpFields {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        if let Some(t) = self.type_ {
            v.range(&path.field("type"), t, 0, 254);
        }
        if let Some(c) = self.code {
            v.range(&path.field("code"), c, 0, 255);
            if self.type_.is_none() {
                v.report(
                    &path.field("code"),
                    "ICMP code specified without an ICMP type",
                );
            }
        }
    }
}

impl Validate for HttpMatch {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        let mp = path.field("methods");
        v.max_items(&mp, &self.methods, 20);
        v.unique(&mp, &self.methods);
        let pp = path.field("paths");
        v.max_items(&pp, &self.paths, 20);
        for (i, hp) in self.paths.iter().enumerate() {
            let ip = pp.index(i);
            let value = match (hp.exact.is_empty(), hp.prefix.is_empty()) {
                (false, false) => {
                    v.report(&ip, "invalid path match: both 'exact' and 'prefix' are set");
                    continue;
                }
                (true, true) => {
                    v.report(
                        &ip,
                        "invalid path match: either 'exact' or 'prefix' must be set",
                    );
                    continue;
                }
                (false, true) => ("exact", &hp.exact),
                (true, false) => ("prefix", &hp.prefix),
            };
            let fp = ip.field(value.0);
            v.max_len(&fp, value.1, 1024);
            if !value.1.starts_with('/') || value.1.contains(['?', '#', ' ']) {
                v.report(
                    &fp,
                    format!(
                        "invalid path {:?}: must start with '/' and not contain '?', '#' or ' '",
                        value.1
                    ),
                );
            }
        }
    }
}

impl Validate for EntityRule {
    fn validate_into(&self, p: &Path, v: &mut Validator) {
        for (field, nets) in [("nets", &self.nets), ("notNets", &self.not_nets)] {
            let fp = p.field(field);
            v.max_items(&fp, nets, 256);
            v.unique(&fp, nets);
        }
        for (field, s) in [
            ("selector", &self.selector),
            ("notSelector", &self.not_selector),
            ("namespaceSelector", &self.namespace_selector),
        ] {
            let fp = p.field(field);
            v.max_len(&fp, s, MAX_SELECTOR_LEN);
            v.selector(&fp, s);
        }
        if self.selector.contains("global(") {
            v.report(
                &p.field("selector"),
                "global() can only be used in an EntityRule namespaceSelector",
            );
        }
        if self.not_selector.contains("global(") {
            v.report(
                &p.field("notSelector"),
                "global() can only be used in an EntityRule namespaceSelector",
            );
        }
        if self.namespace_selector.contains("global(")
            && let Ok(sel) = crate::selector::Selector::parse(&self.namespace_selector)
            && sel.to_string() != "global()"
        {
            v.report(
                &p.field("namespaceSelector"),
                "global() cannot be combined with other selectors",
            );
        }
        for (field, ports) in [("ports", &self.ports), ("notPorts", &self.not_ports)] {
            let fp = p.field(field);
            v.max_items(&fp, ports, 50);
            for (i, port) in ports.iter().enumerate() {
                validate_port(v, &fp.index(i), port);
            }
        }
        if let Some(sa) = &self.service_accounts {
            let sp = p.field("serviceAccounts");
            v.unique(&sp.field("names"), &sa.names);
            v.max_len(&sp.field("selector"), &sa.selector, MAX_SELECTOR_LEN);
            v.selector_no_global(&sp.field("selector"), &sa.selector);
        }
        if let Some(svc) = &self.services {
            let sp = p.field("services");
            if svc.name.is_empty() {
                v.report(&sp.field("name"), "must specify a service name");
            } else {
                v.max_len(&sp.field("name"), &svc.name, 253);
                v.resource_name(&sp.field("name"), &svc.name);
            }
            if !svc.namespace.is_empty() {
                v.max_len(&sp.field("namespace"), &svc.namespace, 253);
                v.resource_name(&sp.field("namespace"), &svc.namespace);
            }
            if !self.namespace_selector.is_empty() {
                v.report(
                    &sp,
                    "cannot specify NamespaceSelector and Services on the same rule",
                );
            }
            if !self.selector.is_empty() || !self.not_selector.is_empty() {
                v.report(
                    &sp,
                    "cannot specify Selector/NotSelector and Services on the same rule",
                );
            }
            if self.service_accounts.is_some() {
                v.report(
                    &sp,
                    "cannot specify ServiceAccounts and Services on the same rule",
                );
            }
            if !self.nets.is_empty() || !self.not_nets.is_empty() {
                v.report(
                    &sp,
                    "cannot specify Nets/NotNets and Services on the same rule",
                );
            }
        }
    }
}

impl Validate for Rule {
    fn validate_into(&self, p: &Path, v: &mut Validator) {
        if let Some(ipv) = self.ip_version
            && ipv != 4
            && ipv != 6
        {
            v.report(
                &p.field("ipVersion"),
                format!("unsupported value {ipv}: must be 4 or 6"),
            );
        }
        if let Some(proto) = &self.protocol {
            validate_protocol(v, &p.field("protocol"), proto);
        }
        if let Some(proto) = &self.not_protocol {
            validate_protocol(v, &p.field("notProtocol"), proto);
        }
        self.icmp.validate_into(&p.field("icmp"), v);
        self.not_icmp.validate_into(&p.field("notICMP"), v);
        self.source.validate_into(&p.field("source"), v);
        self.destination.validate_into(&p.field("destination"), v);
        if let Some(h) = &self.http {
            h.validate_into(&p.field("http"), v);
        }
        if let Some(m) = &self.metadata {
            v.annotations(&p.field("metadata").field("annotations"), &m.annotations);
        }

        // Ports and protocol.
        for (side, er) in [("source", &self.source), ("destination", &self.destination)] {
            for (field, ports) in [("ports", &er.ports), ("notPorts", &er.not_ports)] {
                if ports.is_empty() {
                    continue;
                }
                let fp = p.field(side).field(field);
                match &self.protocol {
                    None if !ports.iter().all(Port::is_named) => v.report(&fp, PORTS_NEED_PROTOCOL),
                    Some(proto) if !proto.supports_ports() => v.report(&fp, PORTS_BAD_PROTOCOL),
                    _ => {}
                }
            }
        }
        if self.destination.services.is_some() {
            if !self.destination.ports.is_empty() {
                v.report(
                    &p.field("destination").field("ports"),
                    "cannot specify ports with a service selector",
                );
            }
            if !self.destination.not_ports.is_empty() {
                v.report(
                    &p.field("destination").field("notPorts"),
                    "cannot specify notports with a service selector",
                );
            }
        }

        // ICMP.
        let is_icmp_proto = |pr: &Option<Protocol>| {
            pr.as_ref()
                .is_some_and(|x| x.is_icmp_v4() || x.is_icmp_v6())
        };
        if self.icmp.is_some() && !is_icmp_proto(&self.protocol) {
            v.report(
                &p.field("icmp"),
                "rules that specify ICMP fields must set protocol to ICMP or ICMPv6",
            );
        }
        let v4_only = [&self.protocol, &self.not_protocol]
            .iter()
            .any(|x| x.as_ref().is_some_and(Protocol::is_icmp_v4));
        let v6_only = [&self.protocol, &self.not_protocol]
            .iter()
            .any(|x| x.as_ref().is_some_and(Protocol::is_icmp_v6));
        if v4_only && self.ip_version.is_some_and(|x| x != 4) {
            v.report(
                &p.field("ipVersion"),
                "must set ipVersion to 4 with protocol ICMP",
            );
        }
        if v6_only && self.ip_version.is_some_and(|x| x != 6) {
            v.report(
                &p.field("ipVersion"),
                "must set ipVersion to 6 with protocol ICMPv6",
            );
        }

        // HTTP.
        if let Some(_h) = &self.http {
            if let Some(proto) = &self.protocol
                && proto.number() != Some(6)
            {
                v.report(
                    &p.field("protocol"),
                    "rules that specify HTTP fields must set protocol to TCP or leave it empty",
                );
            }
            if self.action != Action::Allow {
                v.report(&p.field("http"), "HTTP match is only valid on Allow rules");
            }
        }

        // Nets: CIDR notation, strictly masked, one family, matching ipVersion.
        let (mut seen_v4, mut seen_v6) = (false, false);
        for (side, er) in [("source", &self.source), ("destination", &self.destination)] {
            for (field, nets, negated) in
                [("nets", &er.nets, false), ("notNets", &er.not_nets, true)]
            {
                let fp = p.field(side).field(field);
                let (mut v4, mut v6) = (false, false);
                for (i, n) in nets.iter().enumerate() {
                    let ip = fp.index(i);
                    if !n.contains('/') {
                        v.report(
                            &ip,
                            format!(
                                "invalid CIDR {n:?}: a prefix length is required (e.g. {n}/32)"
                            ),
                        );
                        continue;
                    }
                    let Ok(net) = n.parse::<ipnet::IpNet>() else {
                        v.report(&ip, format!("invalid CIDR {n:?}"));
                        continue;
                    };
                    match net {
                        ipnet::IpNet::V4(_) => v4 = true,
                        ipnet::IpNet::V6(_) => v6 = true,
                    }
                    check_net(v, &ip, n, NetKind::Net);
                    if negated && net.prefix_len() == 0 {
                        v.report(&ip, "catch-all CIDR in notNets matches no traffic");
                    }
                }
                if let Some(ipv) = self.ip_version
                    && ((v4 && ipv != 4) || (v6 && ipv != 6))
                {
                    v.report(&fp, "rule IP version doesn't match CIDR version");
                }
                if (v4 && seen_v6) || (v6 && seen_v4) || (v4 && v6) {
                    v.report(&fp, "rule contains both IPv4 and IPv6 CIDRs");
                }
                seen_v4 |= v4;
                seen_v6 |= v6;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{check, decode_one as one};
    use crate::{Resource, ValidationError, decode_yaml};

    fn gnp_rule(rule: &str) -> String {
        let indented: String = rule.lines().map(|l| format!("      {l}\n")).collect();
        format!(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: p\nspec:\n  ingress:\n    -\n{indented}"
        )
    }

    fn rule_err(rule: &str) -> ValidationError {
        match check(&gnp_rule(rule)) {
            Ok(_) => panic!("rule unexpectedly valid:\n{rule}"),
            Err(e) => e,
        }
    }

    fn rule_ok(rule: &str) {
        if let Err(e) = check(&gnp_rule(rule)) {
            panic!("rule unexpectedly invalid: {e}\n{rule}");
        }
    }

    #[test]
    fn types_defaulting() {
        let np = |body: &str| {
            let r = check(&format!(
                "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: ns}}\nspec:\n{body}"
            ))
            .unwrap();
            match r {
                Resource::NetworkPolicy(p) => (
                    p.spec.types.clone(),
                    p.spec.tier.clone(),
                    p.metadata.labels.clone(),
                ),
                _ => unreachable!(),
            }
        };
        let (t, tier, labels) = np("  selector: all()\n");
        assert_eq!(t, vec![PolicyType::Ingress]);
        assert_eq!(tier, "default");
        assert_eq!(labels.get(LABEL_TIER).map(String::as_str), Some("default"));
        assert_eq!(
            np("  egress: [{action: Allow}]\n").0,
            vec![PolicyType::Egress]
        );
        assert_eq!(
            np("  ingress: [{action: Allow}]\n  egress: [{action: Allow}]\n").0,
            vec![PolicyType::Ingress, PolicyType::Egress]
        );
        assert_eq!(
            np("  ingress: [{action: Allow}]\n").0,
            vec![PolicyType::Ingress]
        );
        assert_eq!(np("  types: [Egress]\n").0, vec![PolicyType::Egress]);
    }

    #[test]
    fn policy_names() {
        let gnp = |name: &str| {
            check(&format!(
                "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: \"{name}\"}}\nspec: {{}}\n"
            ))
        };
        let np = |name: &str| {
            check(&format!(
                "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: \"{name}\", namespace: default}}\nspec: {{}}\n"
            ))
        };
        for ok in ["a", "allow-dns", "tier1.p", "a1-b2"] {
            assert!(gnp(ok).is_ok(), "{ok}");
            assert!(np(ok).is_ok(), "{ok}");
        }
        for bad in ["a.b.c", "Upper", "-a", "a-", "a_b", "a..b", ".a"] {
            assert!(gnp(bad).unwrap_err().has_path("metadata.name"), "{bad}");
            assert!(np(bad).unwrap_err().has_path("metadata.name"), "{bad}");
        }
        assert!(np("knp.default.my-policy.v2").is_ok());
        assert!(np("ossg.default.x").is_ok());
        assert!(gnp("knp.default.my-policy").is_err());
        assert!(np(&"a".repeat(254)).is_err());
    }

    #[test]
    fn gnp_flags() {
        let gnp = |spec: &str| {
            check(&format!(
                "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: p}}\nspec:\n{spec}"
            ))
        };
        assert!(
            gnp("  preDNAT: true\n  applyOnForward: true\n  ingress: [{action: Deny}]\n").is_ok()
        );
        assert!(gnp("  doNotTrack: true\n  applyOnForward: true\n").is_ok());
        let e = gnp("  preDNAT: true\n  doNotTrack: true\n  applyOnForward: true\n").unwrap_err();
        assert!(e.has_path("spec.preDNAT"));
        let e = gnp("  preDNAT: true\n  applyOnForward: true\n  egress: [{action: Allow}]\n")
            .unwrap_err();
        assert!(e.has_path("spec.egress"));
        assert!(
            e.has_path("spec.types"),
            "egress-only defaulting gives Egress type: {e}"
        );
        let e = gnp("  doNotTrack: true\n").unwrap_err();
        assert!(e.has_path("spec.applyOnForward"));
        let e = gnp("  selector: global()\n").unwrap_err();
        assert!(e.has_path("spec.selector"));
        let e = gnp("  namespaceSelector: \"global()\"\n").unwrap_err();
        assert!(e.has_path("spec.namespaceSelector"));
        let e = gnp("  types: [Ingress, Ingress]\n").unwrap_err();
        assert!(e.has_path("spec.types[1]"));
    }

    #[test]
    fn ports_and_protocols() {
        rule_ok("action: Allow\nprotocol: TCP\ndestination: {ports: [80, \"8000:8080\", http]}");
        rule_ok("action: Allow\ndestination: {ports: [http, metrics]}");
        rule_ok("action: Allow\nprotocol: 17\nsource: {notPorts: [53]}");
        rule_ok("action: Allow\nprotocol: \"132\"\ndestination: {ports: [9]}");
        assert!(
            rule_err("action: Allow\ndestination: {ports: [80]}")
                .has_path("spec.ingress[0].destination.ports")
        );
        assert!(
            rule_err("action: Allow\nprotocol: ICMP\ndestination: {ports: [http]}")
                .has_path("spec.ingress[0].destination.ports")
        );
        assert!(
            rule_err("action: Allow\nprotocol: TCP\ndestination: {ports: [0]}")
                .has_path("spec.ingress[0].destination.ports[0]")
        );
        assert!(
            rule_err("action: Allow\nprotocol: TCP\ndestination: {ports: [\"0:10\"]}")
                .has_path("spec.ingress[0].destination.ports[0]")
        );
        assert!(
            rule_err("action: Allow\nprotocol: TCP\ndestination: {ports: [Http]}")
                .has_path("spec.ingress[0].destination.ports[0]")
        );
        assert!(rule_err("action: Allow\nprotocol: tcp").has_path("spec.ingress[0].protocol"));
        assert!(rule_err("action: Allow\nprotocol: 0").has_path("spec.ingress[0].protocol"));
        assert!(
            rule_err("action: Allow\nnotProtocol: Foo").has_path("spec.ingress[0].notProtocol")
        );
        rule_ok("action: Allow\nprotocol: UDPLite");
        rule_ok("action: Allow\nprotocol: 255");
        // 256 as a string is a name, rejected by validation; as a number, by decoding.
        assert!(rule_err("action: Allow\nprotocol: \"256\"").has_path("spec.ingress[0].protocol"));
        assert!(decode_yaml(&gnp_rule("action: Allow\nprotocol: 256")).is_err());
        let many: Vec<String> = (1..=51).map(|p| p.to_string()).collect();
        assert!(
            rule_err(&format!(
                "action: Allow\nprotocol: TCP\ndestination: {{ports: [{}]}}",
                many.join(",")
            ))
            .has_path("spec.ingress[0].destination.ports")
        );
    }

    #[test]
    fn icmp_rules() {
        rule_ok("action: Allow\nprotocol: ICMP\nicmp: {type: 8, code: 0}");
        rule_ok("action: Allow\nprotocol: ICMPv6\nicmp: {type: 128}\nipVersion: 6");
        rule_ok("action: Allow\nprotocol: 1\nicmp: {type: 8}");
        rule_ok("action: Allow\nprotocol: ICMP\nnotICMP: {type: 3}");
        assert!(rule_err("action: Allow\nicmp: {type: 8}").has_path("spec.ingress[0].icmp"));
        assert!(
            rule_err("action: Allow\nprotocol: TCP\nicmp: {type: 8}")
                .has_path("spec.ingress[0].icmp")
        );
        assert!(
            rule_err("action: Allow\nprotocol: ICMP\nicmp: {code: 1}")
                .has_path("spec.ingress[0].icmp.code")
        );
        assert!(
            rule_err("action: Allow\nprotocol: ICMP\nicmp: {type: 255}")
                .has_path("spec.ingress[0].icmp.type")
        );
        assert!(
            rule_err("action: Allow\nprotocol: ICMP\nicmp: {type: 1, code: 256}")
                .has_path("spec.ingress[0].icmp.code")
        );
        assert!(
            rule_err("action: Allow\nprotocol: ICMP\nipVersion: 6")
                .has_path("spec.ingress[0].ipVersion")
        );
        assert!(
            rule_err("action: Allow\nnotProtocol: ICMPv6\nipVersion: 4")
                .has_path("spec.ingress[0].ipVersion")
        );
        assert!(rule_err("action: Allow\nipVersion: 5").has_path("spec.ingress[0].ipVersion"));
    }

    #[test]
    fn nets() {
        rule_ok(
            "action: Allow\nsource: {nets: [10.0.0.0/8, 192.168.1.1/32]}\ndestination: {notNets: [10.1.0.0/16]}",
        );
        rule_ok("action: Allow\nipVersion: 6\nsource: {nets: [\"fd00::/64\"]}");
        assert!(
            rule_err("action: Allow\nsource: {nets: [10.0.0.1]}")
                .has_path("spec.ingress[0].source.nets[0]")
        );
        assert!(
            rule_err("action: Allow\nsource: {nets: [10.0.0.1/8]}")
                .has_path("spec.ingress[0].source.nets[0]")
        );
        assert!(
            rule_err("action: Allow\nsource: {nets: [nonsense/8]}")
                .has_path("spec.ingress[0].source.nets[0]")
        );
        assert!(
            rule_err("action: Allow\nsource: {nets: [10.0.0.0/8, \"fd00::/64\"]}")
                .has_path("spec.ingress[0].source.nets")
        );
        assert!(
            rule_err(
                "action: Allow\nsource: {nets: [10.0.0.0/8]}\ndestination: {nets: [\"fd00::/64\"]}"
            )
            .has_path("spec.ingress[0].destination.nets")
        );
        assert!(
            rule_err("action: Allow\nipVersion: 6\nsource: {nets: [10.0.0.0/8]}")
                .has_path("spec.ingress[0].source.nets")
        );
        assert!(
            rule_err("action: Allow\nsource: {notNets: [0.0.0.0/0]}")
                .has_path("spec.ingress[0].source.notNets[0]")
        );
        assert!(
            rule_err("action: Allow\nsource: {notNets: [\"::/0\"]}")
                .has_path("spec.ingress[0].source.notNets[0]")
        );
        assert!(
            rule_err("action: Allow\nsource: {nets: [10.0.0.0/8, 10.0.0.0/8]}")
                .has_path("spec.ingress[0].source.nets[1]")
        );
    }

    #[test]
    fn selectors_in_rules() {
        rule_ok("action: Allow\nsource: {selector: \"app == 'x'\", namespaceSelector: global()}");
        rule_ok("action: Allow\nsource: {namespaceSelector: \" global() \"}");
        rule_ok("action: Allow\nsource: {namespaceSelector: all()}");
        assert!(
            rule_err("action: Allow\nsource: {selector: global()}")
                .has_path("spec.ingress[0].source.selector")
        );
        assert!(
            rule_err("action: Allow\nsource: {namespaceSelector: \"global() && a == 'b'\"}")
                .has_path("spec.ingress[0].source.namespaceSelector")
        );
        assert!(
            rule_err("action: Allow\nsource: {notSelector: \"a ==\"}")
                .has_path("spec.ingress[0].source.notSelector")
        );
        assert!(
            rule_err("action: Allow\nsource: {serviceAccounts: {selector: \"x in {\"}}")
                .has_path("spec.ingress[0].source.serviceAccounts.selector")
        );
    }

    #[test]
    fn services_and_http() {
        let gnp = |spec: &str| {
            check(&format!(
                "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: p}}\nspec:\n{spec}"
            ))
        };
        assert!(gnp("  egress: [{action: Allow, destination: {services: {name: kube-dns, namespace: kube-system}}}]\n").is_ok());
        let e = gnp("  egress: [{action: Allow, destination: {services: {name: kube-dns}}}]\n")
            .unwrap_err();
        assert!(e.has_path("spec.egress[0].destination.services.namespace"));
        let e = gnp("  egress: [{action: Allow, source: {services: {name: a, namespace: b}}}]\n")
            .unwrap_err();
        assert!(e.has_path("spec.egress[0].source.services"));
        let e =
            gnp("  ingress: [{action: Allow, destination: {services: {name: a, namespace: b}}}]\n")
                .unwrap_err();
        assert!(e.has_path("spec.ingress[0].destination.services"));
        let e = gnp(
            "  egress: [{action: Allow, protocol: TCP, destination: {ports: [80], services: {name: a, namespace: b}}}]\n",
        )
        .unwrap_err();
        assert!(e.has_path("spec.egress[0].destination.ports"));
        let e = gnp("  ingress: [{action: Allow, source: {selector: all(), services: {name: a, namespace: b}}}]\n").unwrap_err();
        assert!(e.has_path("spec.ingress[0].source.services"));
        let e =
            gnp("  ingress: [{action: Allow, source: {services: {namespace: b}}}]\n").unwrap_err();
        assert!(e.has_path("spec.ingress[0].source.services.name"));

        rule_ok(
            "action: Allow\nprotocol: TCP\nhttp: {methods: [GET, POST], paths: [{exact: /a}, {prefix: /b/}]}",
        );
        assert!(
            rule_err("action: Allow\nhttp: {methods: [GET, GET]}")
                .has_path("spec.ingress[0].http.methods[1]")
        );
        assert!(
            rule_err("action: Allow\nhttp: {paths: [{exact: /a, prefix: /b}]}")
                .has_path("spec.ingress[0].http.paths[0]")
        );
        assert!(
            rule_err("action: Allow\nhttp: {paths: [{}]}")
                .has_path("spec.ingress[0].http.paths[0]")
        );
        assert!(
            rule_err("action: Allow\nhttp: {paths: [{exact: a}]}")
                .has_path("spec.ingress[0].http.paths[0].exact")
        );
        assert!(
            rule_err("action: Allow\nhttp: {paths: [{prefix: \"/a?b\"}]}")
                .has_path("spec.ingress[0].http.paths[0].prefix")
        );
        assert!(
            rule_err("action: Allow\nprotocol: UDP\nhttp: {methods: [GET]}")
                .has_path("spec.ingress[0].protocol")
        );
        let e = gnp("  egress: [{action: Allow, http: {methods: [GET]}}]\n").unwrap_err();
        assert!(e.has_path("spec.egress[0].http"));
    }

    #[test]
    fn staged_policies() {
        let snp = |spec: &str| {
            check(&format!(
                "apiVersion: projectcalico.org/v3\nkind: StagedNetworkPolicy\nmetadata: {{name: p, namespace: n}}\nspec:\n{spec}"
            ))
        };
        let r = snp("  selector: all()\n").unwrap();
        match r {
            Resource::StagedNetworkPolicy(p) => {
                assert_eq!(p.spec.staged_action, Some(StagedAction::Set));
                assert_eq!(p.spec.types, vec![PolicyType::Ingress]);
            }
            _ => unreachable!(),
        }
        assert!(snp("  stagedAction: Delete\n  tier: default\n").is_ok());
        assert!(
            snp("  stagedAction: Delete\n  selector: all()\n")
                .unwrap_err()
                .has_path("spec")
        );
        assert!(
            snp("  ingress: [{action: Allow, protocol: TCP, destination: {ports: [0]}}]\n")
                .unwrap_err()
                .has_path("spec.ingress[0].destination.ports[0]")
        );
        let sgnp = check(
            "apiVersion: projectcalico.org/v3\nkind: StagedGlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  stagedAction: Delete\n  order: 10\n",
        );
        assert!(sgnp.unwrap_err().has_path("spec"));
        assert!(decode_yaml(
            "apiVersion: projectcalico.org/v3\nkind: StagedNetworkPolicy\nmetadata: {name: p, namespace: n}\nspec: {stagedAction: Remove}\n"
        )
        .is_err());
    }

    #[test]
    fn tiers() {
        let tier = |name: &str, spec: &str| {
            check(&format!(
                "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {{name: {name}}}\nspec: {spec}\n"
            ))
        };
        let r = tier("security", "{order: 100}").unwrap();
        match r {
            Resource::Tier(t) => assert_eq!(t.spec.default_action, Some(TierDefaultAction::Deny)),
            _ => unreachable!(),
        }
        assert!(tier("default", "{}").is_ok());
        assert!(
            tier("default", "{order: 5}")
                .unwrap_err()
                .has_path("spec.order")
        );
        assert!(
            tier("default", "{defaultAction: Pass}")
                .unwrap_err()
                .has_path("spec.defaultAction")
        );
        assert!(tier("kube-admin", "{}").is_ok());
        assert!(
            tier("kube-admin", "{order: 1000, defaultAction: Deny}")
                .unwrap_err()
                .has_path("spec.defaultAction")
        );
        assert!(tier("kube-baseline", "{order: 10000000, defaultAction: Pass}").is_ok());
        assert!(tier("a.b", "{}").unwrap_err().has_path("metadata.name"));
        assert!(
            tier(&"a".repeat(64), "{}")
                .unwrap_err()
                .has_path("metadata.name")
        );
        assert!(decode_yaml("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {defaultAction: Allow}\n").is_err());
    }

    #[test]
    fn profiles() {
        let p = check(
            "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: kns.default}\nspec:\n  ingress: [{action: Allow}]\n  egress: [{action: Allow}]\n  labelsToApply: {pcns.projectcalico.org/name: default}\n",
        );
        assert!(p.is_ok(), "{p:?}");
        let e = check("apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: p}\nspec: {labelsToApply: {\"bad key!\": x}}\n")
            .unwrap_err();
        assert!(e.has_path("spec.labelsToApply[bad key!]"));
    }

    #[test]
    fn metadata_rules() {
        let e = check(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: p\n  namespace: x\n  labels: {\"a b\": c, ok: \"-bad\"}\nspec: {}\n",
        )
        .unwrap_err();
        assert!(e.has_path("metadata.namespace"));
        assert!(e.has_path("metadata.labels[a b]"));
        assert!(e.has_path("metadata.labels[ok]"));
        let e = check(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {}\nspec: {}\n",
        )
        .unwrap_err();
        assert!(e.has_path("metadata.name"));
    }

    #[test]
    fn collects_every_problem() {
        let e = rule_err(
            "action: Deny\nprotocol: tcp\nipVersion: 7\nicmp: {code: 1}\nsource: {nets: [1.2.3.4], selector: \"(\"}",
        );
        assert!(e.problems.len() >= 5, "{e}");
    }

    #[test]
    fn round_trip_rules() {
        let yaml = gnp_rule(
            "action: Allow\nipVersion: 4\nprotocol: TCP\nnotProtocol: 17\nsource:\n  nets: [10.0.0.0/8]\n  notNets: [10.1.0.0/16]\n  selector: \"role == 'db'\"\n  notSelector: has(x)\n  namespaceSelector: all()\n  ports: [\"1:10\"]\n  notPorts: [5]\n  serviceAccounts: {names: [a, b], selector: all()}\ndestination:\n  ports: [80, http]\nhttp: {methods: [GET], paths: [{prefix: /api}]}\nmetadata: {annotations: {note: hi}}",
        );
        let r = one(&yaml);
        let again = decode_yaml(&crate::encode_yaml(std::slice::from_ref(&r))).unwrap();
        assert_eq!(again, vec![r.clone()]);
        let again = crate::decode_json(&crate::encode_json(std::slice::from_ref(&r))).unwrap();
        assert_eq!(again, vec![r]);
    }
}
