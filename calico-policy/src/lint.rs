//! `lint`: likely mistakes in a set of policy resources, each a [`Finding`] with a severity,
//! the resource, the field path and why.
//!
//! Checks ([`Check`]):
//! - **shadowed-rule** (warning): a rule can never match because an earlier rule of the same
//!   policy (or profile) and direction with a terminal action (Allow, Deny, Pass) provably
//!   matches everything it matches. Conservative: every criterion of the earlier rule must be
//!   absent, equal, or (nets, ports) a provable superset; selectors are compared as text.
//! - **unmatched-selector** (warning): a policy's selector, or a rule's source/destination
//!   selector, matches no current endpoint (rule selectors: nor network set). Selectors that
//!   match everything (`all()`) or use `global()` are skipped, and so is the check when there
//!   are no endpoints.
//! - **pass-in-last-tier** (warning): a Pass rule in a policy when no later tier (by order)
//!   has a policy for the endpoints it selects: passed traffic goes straight to profiles.
//! - **types-ignore-rules** (error): a policy lists `types` without `Ingress` (or `Egress`)
//!   but has ingress (egress) rules, which are therefore never used.
//! - **overlapping-cidrs** (warning): two networks of one `nets`/`notNets` list, or of one
//!   NetworkSet or GlobalNetworkSet, where one contains the other.
//! - **deny-all-everywhere** (warning): a policy selects every endpoint of the cluster and
//!   denies a whole direction (a Deny rule with no criteria, or no rules for a direction its
//!   `types` lists). Often a deliberate default deny; worth a look, so not an error.
//! - **invalid-selector** (error): a selector that does not parse.
//!
//! ```
//! use calico_model::decode_yaml;
//! use calico_policy::lint::{lint, Check};
//!
//! let resources = decode_yaml(r#"
//! apiVersion: projectcalico.org/v3
//! kind: GlobalNetworkPolicy
//! metadata: {name: web}
//! spec:
//!   ingress:
//!   - {action: Allow, protocol: TCP}
//!   - {action: Deny, protocol: TCP, destination: {ports: [80]}}
//! "#).unwrap();
//! let findings = lint(&resources);
//! assert_eq!(findings.len(), 1);
//! assert_eq!(findings[0].check, Check::ShadowedRule);
//! assert_eq!(findings[0].field, "spec.ingress[1]");
//! assert_eq!(findings[0].resource, "GlobalNetworkPolicy/web");
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use calico_model::Resource;
use calico_model::k8s::{LABEL_NAMESPACE, LABEL_ORCHESTRATOR, LABEL_SERVICE_ACCOUNT};
use calico_model::resources::{Action, EntityRule, PolicyType, Rule};
use calico_model::scalar::{Port, parse_cidr_or_ip};
use calico_model::selector::{Selector, normalise};
use ipnet::IpNet;
use serde::Serialize;

use crate::compile;

/// The built-in tiers' order when their Tier resource is not given (Calico creates them).
pub const BUILTIN_TIER_ORDERS: [(&str, f64); 3] = [
    ("default", 1_000_000.0),
    ("kube-admin", 1_000.0),
    ("kube-baseline", 10_000_000.0),
];

/// The selector function for non-namespaced things; selectors using it are not reported as
/// matching nothing.
const GLOBAL_SELECTOR: &str = "global()";

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Probably a mistake.
    Warning,
    /// Certainly a mistake: part of the policy is never used, or cannot be.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// Which check found it (see the [module documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// A rule shadowed by an earlier one.
    ShadowedRule,
    /// A selector that matches nothing.
    UnmatchedSelector,
    /// Pass with no later tier to pass to.
    PassInLastTier,
    /// Rules for a direction the policy's types leave out.
    TypesIgnoreRules,
    /// One network inside another in one list.
    OverlappingCidrs,
    /// A policy that denies a whole direction for every endpoint.
    DenyAllEverywhere,
    /// A selector that does not parse.
    InvalidSelector,
}

impl Check {
    /// The check's name (`shadowed-rule`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Check::ShadowedRule => "shadowed-rule",
            Check::UnmatchedSelector => "unmatched-selector",
            Check::PassInLastTier => "pass-in-last-tier",
            Check::TypesIgnoreRules => "types-ignore-rules",
            Check::OverlappingCidrs => "overlapping-cidrs",
            Check::DenyAllEverywhere => "deny-all-everywhere",
            Check::InvalidSelector => "invalid-selector",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// Which check.
    pub check: Check,
    /// `Kind/name` or `Kind/namespace/name`.
    pub resource: String,
    /// Field path, e.g. `spec.ingress[2]`.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// Something a selector can match: an endpoint or a network set, with effective labels.
struct Labelled {
    labels: BTreeMap<String, String>,
    /// Workload or host endpoint (policy selectors match only these).
    endpoint: bool,
}

/// A policy, whichever kind.
struct PolicyView<'a> {
    resource: String,
    namespace: &'a str,
    tier: String,
    ingress: &'a [Rule],
    egress: &'a [Rule],
    types: &'a [PolicyType],
    raw_selector: &'a str,
    selector: Result<Selector, String>,
}

/// Lints `resources` (the whole datastore, or the datastore with a file applied): every
/// finding, ordered by resource, field and check.
pub fn lint(resources: &[Resource]) -> Vec<Finding> {
    let mut out = Vec::new();
    let items = labelled_items(resources);
    let endpoints: Vec<&Labelled> = items.iter().filter(|i| i.endpoint).collect();
    let policies = policy_views(resources);
    let tier_order = tier_orders(resources);
    let matched: Vec<BTreeSet<usize>> = policies
        .iter()
        .map(|p| match &p.selector {
            Ok(s) => (0..endpoints.len())
                .filter(|i| s.matches(&endpoints[*i].labels))
                .collect(),
            Err(_) => BTreeSet::new(),
        })
        .collect();
    for (pi, p) in policies.iter().enumerate() {
        let finding = |severity, check, field: String, reason: String| Finding {
            severity,
            check,
            resource: p.resource.clone(),
            field,
            reason,
        };
        match &p.selector {
            Err(e) => out.push(finding(
                Severity::Error,
                Check::InvalidSelector,
                "spec.selector".into(),
                e.clone(),
            )),
            Ok(s)
                if !endpoints.is_empty()
                    && !s.is_all()
                    && !p.raw_selector.contains(GLOBAL_SELECTOR)
                    && matched[pi].is_empty() =>
            {
                out.push(finding(
                    Severity::Warning,
                    Check::UnmatchedSelector,
                    "spec.selector".into(),
                    format!("selects no endpoint (effective selector {s})"),
                ))
            }
            Ok(_) => {}
        }
        for (dir, rules, ty) in [
            ("ingress", p.ingress, PolicyType::Ingress),
            ("egress", p.egress, PolicyType::Egress),
        ] {
            if !p.types.is_empty() && !p.types.contains(&ty) && !rules.is_empty() {
                out.push(finding(
                    Severity::Error,
                    Check::TypesIgnoreRules,
                    format!("spec.{dir}"),
                    format!(
                        "{} {dir} rule(s) are never used: types is [{}]",
                        rules.len(),
                        p.types
                            .iter()
                            .map(|t| format!("{t:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            for f in shadowed(rules, dir) {
                out.push(finding(Severity::Warning, Check::ShadowedRule, f.0, f.1));
            }
            for (i, rule) in rules.iter().enumerate() {
                for (side, er) in [("source", &rule.source), ("destination", &rule.destination)] {
                    let path = format!("spec.{dir}[{i}].{side}");
                    for (list, nets) in [("nets", &er.nets), ("notNets", &er.not_nets)] {
                        for (f, reason) in overlapping(nets, &format!("{path}.{list}")) {
                            out.push(finding(
                                Severity::Warning,
                                Check::OverlappingCidrs,
                                f,
                                reason,
                            ));
                        }
                    }
                    match rule_selector_finding(er, p.namespace, &items) {
                        Some(Ok((field, reason))) => out.push(finding(
                            Severity::Warning,
                            Check::UnmatchedSelector,
                            format!("{path}.{field}"),
                            reason,
                        )),
                        Some(Err(e)) => out.push(finding(
                            Severity::Error,
                            Check::InvalidSelector,
                            format!("{path}.selector"),
                            e,
                        )),
                        None => {}
                    }
                }
                if rule.action == Action::Pass {
                    let later = policies.iter().enumerate().any(|(qi, q)| {
                        tier_after(&tier_order, &q.tier, &p.tier)
                            && (matched[pi].is_empty()
                                || matched[qi].intersection(&matched[pi]).next().is_some())
                    });
                    if !later {
                        out.push(finding(
                            Severity::Warning,
                            Check::PassInLastTier,
                            format!("spec.{dir}[{i}]"),
                            format!(
                                "Pass in tier {:?}, but no later tier has a policy for these endpoints: passed traffic goes to their profiles",
                                p.tier
                            ),
                        ));
                    }
                }
            }
            let wanted = p.types.contains(&ty) || (p.types.is_empty() && !rules.is_empty());
            let denies_all = rules
                .iter()
                .position(|r| r.action == Action::Deny && matches_everything(r))
                .map(|i| format!("spec.{dir}[{i}] denies everything"))
                .or_else(|| {
                    (p.types.contains(&ty) && rules.is_empty())
                        .then(|| format!("types lists {ty:?} and there are no {dir} rules"))
                });
            if wanted
                && let Some(how) = denies_all
                && !endpoints.is_empty()
                && matched[pi].len() == endpoints.len()
            {
                out.push(finding(
                    Severity::Warning,
                    Check::DenyAllEverywhere,
                    format!("spec.{dir}"),
                    format!(
                        "selects every endpoint in the cluster ({}) and {how}: {dir} traffic no earlier policy allows is dropped",
                        endpoints.len()
                    ),
                ));
            }
        }
    }
    for r in resources {
        let (resource, ingress, egress, nets) = match r {
            Resource::Profile(p) => (
                format!("Profile/{}", p.metadata.name),
                &p.spec.ingress[..],
                &p.spec.egress[..],
                None,
            ),
            Resource::NetworkSet(n) => (
                format!("NetworkSet/{}/{}", n.metadata.namespace, n.metadata.name),
                &[][..],
                &[][..],
                Some(&n.spec.nets),
            ),
            Resource::GlobalNetworkSet(n) => (
                format!("GlobalNetworkSet/{}", n.metadata.name),
                &[][..],
                &[][..],
                Some(&n.spec.nets),
            ),
            _ => continue,
        };
        let finding = |severity, check, field: String, reason: String| Finding {
            severity,
            check,
            resource: resource.clone(),
            field,
            reason,
        };
        for (dir, rules) in [("ingress", ingress), ("egress", egress)] {
            for (f, reason) in shadowed(rules, dir) {
                out.push(finding(Severity::Warning, Check::ShadowedRule, f, reason));
            }
        }
        if let Some(nets) = nets {
            for (f, reason) in overlapping(nets, "spec.nets") {
                out.push(finding(
                    Severity::Warning,
                    Check::OverlappingCidrs,
                    f,
                    reason,
                ));
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.resource, &a.field, a.check, &a.reason).cmp(&(
            &b.resource,
            &b.field,
            b.check,
            &b.reason,
        ))
    });
    out
}

/// True when at least one finding is an error.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}

fn policy_views(resources: &[Resource]) -> Vec<PolicyView<'_>> {
    let tier = |t: &str| {
        if t.is_empty() {
            "default".to_owned()
        } else {
            t.to_owned()
        }
    };
    resources
        .iter()
        .filter_map(|r| match r {
            Resource::NetworkPolicy(p) => Some(PolicyView {
                resource: format!("NetworkPolicy/{}/{}", p.metadata.namespace, p.metadata.name),
                namespace: &p.metadata.namespace,
                tier: tier(&p.spec.tier),
                ingress: &p.spec.ingress,
                egress: &p.spec.egress,
                types: &p.spec.types,
                raw_selector: &p.spec.selector,
                selector: compile::network_policy_selector(&p.spec, &p.metadata.namespace)
                    .map_err(|e| e.to_string()),
            }),
            Resource::GlobalNetworkPolicy(p) => Some(PolicyView {
                resource: format!("GlobalNetworkPolicy/{}", p.metadata.name),
                namespace: "",
                tier: tier(&p.spec.tier),
                ingress: &p.spec.ingress,
                egress: &p.spec.egress,
                types: &p.spec.types,
                raw_selector: &p.spec.selector,
                selector: compile::global_network_policy_selector(&p.spec)
                    .map_err(|e| e.to_string()),
            }),
            _ => None,
        })
        .collect()
}

/// True when tier `a` comes after tier `b`: by order, then by name (Calico's tie-break).
fn tier_after(order: &impl Fn(&str) -> f64, a: &str, b: &str) -> bool {
    let (oa, ob) = (order(a), order(b));
    oa > ob || (oa == ob && a > b)
}

/// A function from tier name to its order (`f64::INFINITY` when it has none; a built-in
/// tier without one keeps its built-in order).
fn tier_orders(resources: &[Resource]) -> impl Fn(&str) -> f64 {
    let mut orders: BTreeMap<String, f64> = BUILTIN_TIER_ORDERS
        .iter()
        .map(|(n, o)| ((*n).to_owned(), *o))
        .collect();
    for r in resources {
        if let Resource::Tier(t) = r {
            if let Some(order) = t.spec.order {
                orders.insert(t.metadata.name.clone(), order);
            } else {
                orders
                    .entry(t.metadata.name.clone())
                    .or_insert(f64::INFINITY);
            }
        }
    }
    move |name: &str| orders.get(name).copied().unwrap_or(f64::INFINITY)
}

/// Every endpoint and network set with its effective labels (own labels, Calico's
/// namespace/orchestrator/service-account labels, then its profiles' `labelsToApply`).
fn labelled_items(resources: &[Resource]) -> Vec<Labelled> {
    let profiles: BTreeMap<&str, &BTreeMap<String, String>> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Profile(p) => Some((p.metadata.name.as_str(), &p.spec.labels_to_apply)),
            _ => None,
        })
        .collect();
    let inherit = |labels: &mut BTreeMap<String, String>, names: &[String]| {
        for n in names {
            if let Some(extra) = profiles.get(n.as_str()) {
                for (k, v) in extra.iter() {
                    labels.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    };
    let mut out = Vec::new();
    for r in resources {
        match r {
            Resource::WorkloadEndpoint(w) => {
                let mut labels = w.metadata.labels.clone();
                labels
                    .entry(LABEL_NAMESPACE.to_owned())
                    .or_insert_with(|| w.metadata.namespace.clone());
                if !w.spec.orchestrator.is_empty() {
                    labels
                        .entry(LABEL_ORCHESTRATOR.to_owned())
                        .or_insert_with(|| w.spec.orchestrator.clone());
                }
                if !w.spec.service_account_name.is_empty() {
                    labels
                        .entry(LABEL_SERVICE_ACCOUNT.to_owned())
                        .or_insert_with(|| w.spec.service_account_name.clone());
                }
                inherit(&mut labels, &w.spec.profiles);
                out.push(Labelled {
                    labels,
                    endpoint: true,
                });
            }
            Resource::HostEndpoint(h) => {
                let mut labels = h.metadata.labels.clone();
                inherit(&mut labels, &h.spec.profiles);
                out.push(Labelled {
                    labels,
                    endpoint: true,
                });
            }
            Resource::NetworkSet(n) => {
                let mut labels = n.metadata.labels.clone();
                labels.insert(LABEL_NAMESPACE.to_owned(), n.metadata.namespace.clone());
                out.push(Labelled {
                    labels,
                    endpoint: false,
                });
            }
            Resource::GlobalNetworkSet(n) => out.push(Labelled {
                labels: n.metadata.labels.clone(),
                endpoint: false,
            }),
            _ => {}
        }
    }
    out
}

/// A finding for one side of a rule whose selector matches nothing: `Some(Ok((field,
/// reason)))`, `Some(Err(why))` when it does not parse, `None` when fine or not checked.
fn rule_selector_finding(
    er: &EntityRule,
    namespace: &str,
    items: &[Labelled],
) -> Option<Result<(String, String), String>> {
    if er.selector.is_empty() && er.namespace_selector.is_empty() && er.service_accounts.is_none() {
        return None;
    }
    // `global()` asks for non-namespaced things (host endpoints, global network sets) that
    // often come and go; not worth a warning.
    if !items.iter().any(|i| i.endpoint)
        || er.selector.contains(GLOBAL_SELECTOR)
        || er.namespace_selector.contains(GLOBAL_SELECTOR)
    {
        return None;
    }
    let text = match compile::entity_rule_selector(er, namespace) {
        Ok(t) if t.is_empty() => return None,
        Ok(t) => t,
        Err(e) => return Some(Err(e.to_string())),
    };
    let selector = match Selector::parse(&text) {
        Ok(s) => s,
        Err(e) => return Some(Err(e.to_string())),
    };
    if selector.is_all() || items.iter().any(|i| selector.matches(&i.labels)) {
        return None;
    }
    let field = if !er.selector.is_empty() {
        "selector"
    } else if !er.namespace_selector.is_empty() {
        "namespaceSelector"
    } else {
        "serviceAccounts"
    };
    Some(Ok((
        field.to_owned(),
        format!("matches no endpoint or network set (effective selector {text})"),
    )))
}

/// Rules of one list shadowed by an earlier one: `(field, reason)`.
fn shadowed(rules: &[Rule], dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (j, later) in rules.iter().enumerate() {
        if let Some((i, earlier)) = rules[..j]
            .iter()
            .enumerate()
            .find(|(_, e)| e.action != Action::Log && rule_covers(e, later))
        {
            out.push((
                format!("spec.{dir}[{j}]"),
                format!(
                    "never matches: spec.{dir}[{i}] ({:?}) matches everything it matches",
                    earlier.action
                ),
            ));
        }
    }
    out
}

/// True when a rule has no match criteria at all.
fn matches_everything(r: &Rule) -> bool {
    r.ip_version.is_none()
        && r.protocol.is_none()
        && r.not_protocol.is_none()
        && r.icmp.is_none()
        && r.not_icmp.is_none()
        && r.source.is_empty()
        && r.destination.is_empty()
        && r.http.is_none()
}

/// `a` is absent or equal to `b`.
fn absent_or_eq<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
    a.is_none() || a == b
}

/// True when `earlier` provably matches every packet `later` matches.
fn rule_covers(earlier: &Rule, later: &Rule) -> bool {
    let proto = |r: &Rule| r.protocol.as_ref().map(|p| p.number());
    let not_proto = |r: &Rule| r.not_protocol.as_ref().map(|p| p.number());
    absent_or_eq(&earlier.ip_version, &later.ip_version)
        && absent_or_eq(&proto(earlier), &proto(later))
        && absent_or_eq(&not_proto(earlier), &not_proto(later))
        && absent_or_eq(&earlier.icmp, &later.icmp)
        && absent_or_eq(&earlier.not_icmp, &later.not_icmp)
        && absent_or_eq(&earlier.http, &later.http)
        && side_covers(&earlier.source, &later.source)
        && side_covers(&earlier.destination, &later.destination)
}

/// Selector text equal after normalising (or the earlier one empty).
fn selector_covers(earlier: &str, later: &str) -> bool {
    earlier.is_empty() || earlier == later || normalise(earlier) == normalise(later)
}

fn side_covers(e: &EntityRule, l: &EntityRule) -> bool {
    selector_covers(&e.selector, &l.selector)
        && selector_covers(&e.namespace_selector, &l.namespace_selector)
        && (e.not_selector.is_empty() || e.not_selector == l.not_selector)
        && absent_or_eq(&e.services, &l.services)
        && absent_or_eq(&e.service_accounts, &l.service_accounts)
        && nets_cover(&e.nets, &l.nets)
        && subset(&e.not_nets, &l.not_nets)
        && ports_cover(&e.ports, &l.ports)
        && subset(&e.not_ports, &l.not_ports)
}

/// Every item of `a` is in `b` (the earlier rule excludes no more than the later one).
fn subset<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.iter().all(|x| b.contains(x))
}

fn nets_cover(e: &[String], l: &[String]) -> bool {
    if e.is_empty() {
        return true;
    }
    if l.is_empty() {
        return false;
    }
    let parse = |v: &[String]| -> Option<Vec<IpNet>> {
        v.iter().map(|s| parse_cidr_or_ip(s).ok()).collect()
    };
    let (Some(e), Some(l)) = (parse(e), parse(l)) else {
        return false;
    };
    l.iter().all(|n| e.iter().any(|big| big.contains(n)))
}

fn ports_cover(e: &[Port], l: &[Port]) -> bool {
    if e.is_empty() {
        return true;
    }
    if l.is_empty() {
        return false;
    }
    l.iter().all(|p| {
        e.iter().any(|big| match (big, p) {
            (Port::Named(a), Port::Named(b)) => a == b,
            (Port::Named(_), _) | (_, Port::Named(_)) => false,
            (big, p) => match (big.min(), big.max(), p.min(), p.max()) {
                (Some(a), Some(b), Some(c), Some(d)) => a <= c && d <= b,
                _ => false,
            },
        })
    })
}

/// Networks of one list inside another of the same list: `(field, reason)`, the inner one's
/// path. Sorting by family, network and prefix makes every container precede what it
/// contains, so a stack of open networks finds each inner one in `O(n log n)`.
fn overlapping(nets: &[String], path: &str) -> Vec<(String, String)> {
    let mut parsed: Vec<(IpNet, usize)> = nets
        .iter()
        .enumerate()
        .filter_map(|(i, s)| parse_cidr_or_ip(s).ok().map(|n| (n.trunc(), i)))
        .collect();
    parsed.sort_by_key(|(n, i)| (n.addr().is_ipv6(), n.network(), n.prefix_len(), *i));
    let mut stack: Vec<(IpNet, usize)> = Vec::new();
    let mut out = Vec::new();
    for (net, i) in parsed {
        while let Some((top, _)) = stack.last() {
            if top.contains(&net) {
                break;
            }
            stack.pop();
        }
        if let Some((_, outer)) = stack.last() {
            let how = if nets[*outer] == nets[i]
                || parse_cidr_or_ip(&nets[*outer]).ok().map(|n| n.trunc()) == Some(net)
            {
                "duplicates"
            } else {
                "is inside"
            };
            out.push((
                format!("{path}[{i}]"),
                format!("{} {how} {} ({path}[{outer}])", nets[i], nets[*outer]),
            ));
        }
        stack.push((net, i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_model::decode_yaml;

    fn run(text: &str) -> Vec<Finding> {
        lint(&decode_yaml(text).expect("decodes"))
    }

    fn checks(f: &[Finding]) -> Vec<(Check, &str)> {
        f.iter().map(|f| (f.check, f.field.as_str())).collect()
    }

    const WEPS: &str = r#"
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: n1-k8s-a-eth0, namespace: ns, labels: {app: a}}
spec: {node: n1, orchestrator: k8s, pod: a, endpoint: eth0, interfaceName: cali00000000001, ipNetworks: [10.0.0.1/32], profiles: [kns.ns]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: n1-k8s-b-eth0, namespace: ns, labels: {app: b}}
spec: {node: n1, orchestrator: k8s, pod: b, endpoint: eth0, interfaceName: cali00000000002, ipNetworks: [10.0.0.2/32], profiles: [kns.ns]}
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.ns}
spec: {labelsToApply: {pcns.team: red}}
---
"#;

    #[test]
    fn shadowing_is_reported_only_when_provable() {
        let f = run(r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  ingress:
  - {action: Allow, protocol: TCP, source: {nets: [10.0.0.0/8]}, destination: {ports: ['80:90']}}
  - {action: Deny, protocol: TCP, source: {nets: [10.1.0.0/16]}, destination: {ports: [85]}}
  - {action: Deny, protocol: TCP, source: {nets: [10.1.0.0/16]}, destination: {ports: [95]}}
  - {action: Deny, protocol: UDP, source: {nets: [10.1.0.0/16]}, destination: {ports: [85]}}
  - {action: Deny, protocol: TCP, destination: {ports: [85]}}
  - {action: Log}
  - {action: Deny}
  - {action: Allow, protocol: TCP}
"#);
        // [1] narrower than [0]: shadowed. [2] port outside, [3] other protocol, [4] wider
        // source: not. [6] (after a Log, which is not terminal) is not shadowed but
        // shadows [7].
        assert_eq!(
            checks(&f),
            [
                (Check::ShadowedRule, "spec.ingress[1]"),
                (Check::ShadowedRule, "spec.ingress[7]")
            ]
        );
        assert!(f[0].reason.contains("spec.ingress[0]"), "{}", f[0].reason);
        assert!(f[1].reason.contains("spec.ingress[6]"), "{}", f[1].reason);
    }

    #[test]
    fn a_broader_later_rule_is_not_shadowed() {
        let f = run(r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: ns}
spec:
  egress:
  - {action: Allow, protocol: TCP, destination: {selector: app == 'a', ports: [80]}}
  - {action: Deny, protocol: TCP, destination: {ports: [80]}}
  - {action: Deny, protocol: TCP}
  - {action: Deny, protocol: UDP, destination: {selector: app == 'b', ports: [80]}}
  - {action: Allow, protocol: TCP, destination: {notPorts: [22]}}
"#);
        // Each later rule is broader than (or disjoint from) every earlier one, except the
        // last: TCP minus port 22 is inside [2]'s "all TCP".
        assert_eq!(checks(&f), [(Check::ShadowedRule, "spec.egress[4]")]);
    }

    #[test]
    fn selectors_matching_nothing() {
        let f = run(&format!(
            "{WEPS}{}",
            r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: ghost, namespace: ns}
spec:
  selector: app == 'ghost'
  ingress:
  - {action: Allow, source: {selector: app == 'nobody'}}
  - {action: Allow, source: {selector: team == 'red'}}
  - {action: Allow, source: {namespaceSelector: team == 'red'}}
  - {action: Allow, source: {namespaceSelector: global()}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: other-ns, namespace: elsewhere}
spec:
  selector: app == 'a'
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: all}
spec:
  selector: all()
  egress: [{action: Allow, destination: {selector: all()}}]
"#
        ));
        // `team` is not a label of the endpoints (only `pcns.team` via the profile), so
        // [1] matches nothing, while [2]'s namespaceSelector does. `all()` is never
        // reported, nor is global(). app == 'a' in namespace `elsewhere` matches nothing.
        assert_eq!(
            checks(&f),
            [
                (Check::UnmatchedSelector, "spec.selector"),
                (Check::UnmatchedSelector, "spec.ingress[0].source.selector"),
                (Check::UnmatchedSelector, "spec.ingress[1].source.selector"),
                (Check::UnmatchedSelector, "spec.selector"),
            ]
        );
        assert_eq!(f[0].resource, "NetworkPolicy/elsewhere/other-ns");
        assert_eq!(f[3].resource, "NetworkPolicy/ns/ghost");
    }

    #[test]
    fn no_endpoints_no_selector_findings() {
        let f = run(r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec:
  selector: app == 'x'
  ingress: [{action: Allow, source: {selector: app == 'y'}}]
"#);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn pass_in_last_tier() {
        let f = run(&format!(
            "{WEPS}{}",
            r#"
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.pass-a}
spec:
  tier: security
  selector: app == 'a'
  ingress: [{action: Pass}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.pass-b}
spec:
  tier: security
  selector: app == 'b'
  ingress: [{action: Pass}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: default.a}
spec:
  selector: app == 'a'
  ingress: [{action: Allow}, {action: Pass}]
"#
        ));
        // pass-a passes to default.a (later tier, same endpoint): fine. pass-b has nothing
        // later for b; default.a's Pass is in the last tier.
        assert_eq!(
            checks(&f),
            [
                (Check::ShadowedRule, "spec.ingress[1]"),
                (Check::PassInLastTier, "spec.ingress[1]"),
                (Check::PassInLastTier, "spec.ingress[0]"),
            ]
        );
        assert_eq!(f[0].resource, "GlobalNetworkPolicy/default.a");
        assert_eq!(f[2].resource, "GlobalNetworkPolicy/security.pass-b");
    }

    #[test]
    fn equal_tier_orders_break_ties_by_name() {
        let f = run(&format!(
            "{WEPS}{}",
            r#"
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: alpha}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: beta}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: alpha.pass}
spec:
  tier: alpha
  selector: all()
  ingress: [{action: Pass}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: beta.pass}
spec:
  tier: beta
  selector: all()
  egress: [{action: Pass}]
"#
        ));
        // alpha passes to beta (same order, later name); beta is the last.
        assert_eq!(checks(&f), [(Check::PassInLastTier, "spec.egress[0]")]);
        assert_eq!(f[0].resource, "GlobalNetworkPolicy/beta.pass");
    }

    #[test]
    fn types_that_ignore_rules() {
        let f = run(r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec:
  types: [Ingress]
  ingress: [{action: Allow, protocol: TCP}]
  egress: [{action: Allow, protocol: UDP}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: fine}
spec:
  types: [Ingress, Egress]
  egress: [{action: Allow, protocol: UDP}]
"#);
        assert_eq!(checks(&f), [(Check::TypesIgnoreRules, "spec.egress")]);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(has_errors(&f));
    }

    #[test]
    fn overlapping_cidrs_in_rules_and_sets() {
        let f = run(r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: s}
spec: {nets: [10.0.0.0/8, 192.168.0.0/16, 10.1.2.0/24, 192.169.0.0/16, 10.0.0.0/8]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec:
  egress: [{action: Allow, destination: {nets: [172.16.0.0/12, 172.16.5.5/32, 172.32.0.0/12]}}]
"#);
        assert_eq!(
            checks(&f),
            [
                (
                    Check::OverlappingCidrs,
                    "spec.egress[0].destination.nets[1]"
                ),
                (Check::OverlappingCidrs, "spec.nets[2]"),
                (Check::OverlappingCidrs, "spec.nets[4]"),
            ]
        );
        assert!(f[2].reason.contains("duplicates"), "{}", f[2].reason);
    }

    #[test]
    fn deny_all_everywhere_and_not() {
        let f = run(&format!(
            "{WEPS}{}",
            r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: default-deny}
spec:
  selector: all()
  types: [Ingress, Egress]
  egress: [{action: Allow, protocol: UDP, destination: {ports: [53]}}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-a}
spec:
  selector: app == 'a'
  ingress: [{action: Deny}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-ns, namespace: ns}
spec:
  egress: [{action: Deny}]
"#
        ));
        // default-deny: no ingress rules for all endpoints (reported); its egress allows DNS
        // and has no Deny (not reported). deny-a selects only a. deny-ns selects every
        // endpoint (both are in ns).
        assert_eq!(
            checks(&f),
            [
                (Check::DenyAllEverywhere, "spec.ingress"),
                (Check::DenyAllEverywhere, "spec.egress"),
            ]
        );
        assert_eq!(f[0].resource, "GlobalNetworkPolicy/default-deny");
        assert_eq!(f[1].resource, "NetworkPolicy/ns/deny-ns");
    }
}
