//! Conversion of a Kubernetes NetworkPolicy into the Calico `NetworkPolicy` Calico enforces
//! for it.

use std::collections::BTreeMap;

use super::{
    ConversionError, ConversionWarning, K8S_NETWORK_POLICY_NAME_PREFIX, K8S_NETWORK_POLICY_ORDER,
    K8S_NETWORK_POLICY_TIER, K8sNetworkPolicy, K8sNetworkPolicyPeer, K8sNetworkPolicyPort,
    K8sPolicyType, LABEL_ORCHESTRATOR, LabelSelector, LabelSelectorOperator, ORCHESTRATOR_K8S,
    WarningKind, convert_uid,
};
use crate::meta::ObjectMeta;
use crate::resource::NetworkPolicy;
use crate::resources::{Action, EntityRule, NetworkPolicySpec, PolicyType, Rule};
use crate::scalar::{Port, Protocol};

/// Which kind of Kubernetes selector is being converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectorKind {
    /// A pod selector: always restricted to Kubernetes pods
    /// (`projectcalico.org/orchestrator == 'k8s'` comes first).
    Pod,
    /// A namespace selector: absent → empty string (same namespace), present but empty →
    /// `all()`.
    Namespace,
}

/// Converts a Kubernetes label selector into Calico selector syntax, exactly as Calico writes
/// it: for a pod selector `projectcalico.org/orchestrator == 'k8s'` first; then every
/// `matchLabels` entry, sorted by key, as `key == 'value'`; then every `matchExpressions` entry
/// in order (`key in { 'a', 'b' }`, `key not in { 'a', 'b' }`, `has(key)`, `! has(key)`); all
/// joined with ` && `. A namespace selector that is present but empty becomes `all()`; an absent
/// one becomes the empty string.
///
/// Keys and values are copied verbatim: a value containing `'` yields a selector that does not
/// parse, as in Calico.
///
/// ```
/// use calico_model::k8s::{k8s_selector_to_calico, LabelSelector, SelectorKind};
/// let empty = LabelSelector::default();
/// assert_eq!(k8s_selector_to_calico(Some(&empty), SelectorKind::Namespace), "all()");
/// assert_eq!(k8s_selector_to_calico(None, SelectorKind::Namespace), "");
/// assert_eq!(k8s_selector_to_calico(None, SelectorKind::Pod), "projectcalico.org/orchestrator == 'k8s'");
/// ```
pub fn k8s_selector_to_calico(selector: Option<&LabelSelector>, kind: SelectorKind) -> String {
    let mut terms: Vec<String> = Vec::new();
    if kind == SelectorKind::Pod {
        terms.push(format!("{LABEL_ORCHESTRATOR} == '{ORCHESTRATOR_K8S}'"));
    }
    let Some(s) = selector else {
        return terms.join(" && ");
    };
    if kind == SelectorKind::Namespace && s.is_empty() {
        return "all()".to_owned();
    }
    // BTreeMap iterates in byte order of the keys, like Go's sort.Strings.
    for (k, v) in &s.match_labels {
        terms.push(format!("{k} == '{v}'"));
    }
    for e in &s.match_expressions {
        let values = e.values.join("', '");
        terms.push(match e.operator {
            LabelSelectorOperator::In => format!("{} in {{ '{values}' }}", e.key),
            LabelSelectorOperator::NotIn => format!("{} not in {{ '{values}' }}", e.key),
            LabelSelectorOperator::Exists => format!("has({})", e.key),
            LabelSelectorOperator::DoesNotExist => format!("! has({})", e.key),
        });
    }
    terms.join(" && ")
}

/// Reduces a port list to the fewest entries covering the same ports, as Calico does for the
/// ports of each converted rule: named ports first (in their original order), then the numeric
/// ports and ranges merged into maximal ranges in ascending order (adjacent and overlapping
/// ranges are joined). A list with at most one numeric port is returned unchanged.
///
/// ```
/// use calico_model::k8s::simplify_ports;
/// use calico_model::scalar::Port;
/// let ports: Vec<Port> = ["81:90", "4", "2", "foo", "80:81", "3", "1", "9090", "http"]
///     .iter().map(|p| p.parse().unwrap()).collect();
/// let out: Vec<String> = simplify_ports(&ports).iter().map(|p| p.to_string()).collect();
/// assert_eq!(out, ["foo", "http", "1:4", "80:90", "9090"]);
/// ```
pub fn simplify_ports(ports: &[Port]) -> Vec<Port> {
    if ports.len() <= 1 {
        return ports.to_vec();
    }
    let mut named: Vec<Port> = Vec::new();
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    let mut numeric_count: u64 = 0;
    for p in ports {
        match p {
            Port::Named(_) => named.push(p.clone()),
            Port::Number(n) => {
                ranges.push((*n, *n));
                numeric_count += 1;
            }
            Port::Range(a, b) => {
                let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
                ranges.push((lo, hi));
                numeric_count += u64::from(hi - lo) + 1;
            }
        }
    }
    if numeric_count <= 1 {
        return ports.to_vec();
    }
    ranges.sort_unstable();
    let mut out = named;
    let mut cur: Option<(u16, u16)> = None;
    for (lo, hi) in ranges {
        cur = match cur {
            Some((clo, chi)) if u32::from(lo) <= u32::from(chi) + 1 => Some((clo, chi.max(hi))),
            Some((clo, chi)) => {
                out.push(port_from_bounds(clo, chi));
                Some((lo, hi))
            }
            None => Some((lo, hi)),
        };
    }
    if let Some((clo, chi)) = cur {
        out.push(port_from_bounds(clo, chi));
    }
    out
}

fn port_from_bounds(lo: u16, hi: u16) -> Port {
    if lo == hi {
        Port::Number(lo)
    } else {
        Port::Range(lo, hi)
    }
}

/// Calico's protocol name normalisation: the known names (`TCP`, `UDP`, `ICMP`, `ICMPv6`,
/// `SCTP`, `UDPLite`, `any`) matched case-insensitively and spelled canonically; anything else
/// kept as written.
fn canonical_protocol(p: &str) -> String {
    const NAMES: [&str; 7] = ["UDP", "TCP", "ICMP", "ICMPv6", "SCTP", "UDPLite", "any"];
    NAMES
        .iter()
        .find(|n| n.eq_ignore_ascii_case(p))
        .map_or_else(|| p.to_owned(), |n| (*n).to_owned())
}

/// Parses a CIDR the way Go's `net.ParseCIDR` does (a prefix length is required) and returns
/// the network with its host bits cleared.
fn parse_go_cidr(s: &str) -> Option<ipnet::IpNet> {
    if !s.contains('/') {
        return None;
    }
    s.parse::<ipnet::IpNet>()
        .ok()
        .map(|n| unmap_ipv4(n.trunc()))
}

/// Go prints an IPv4-mapped IPv6 network (`::ffff:a.b.c.d/n`, n ≥ 96) as the IPv4 network
/// `a.b.c.d/(n−96)`; do the same.
pub(super) fn unmap_ipv4(n: ipnet::IpNet) -> ipnet::IpNet {
    match n {
        ipnet::IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(n, ipnet::IpNet::V4),
            None => n,
        },
        _ => n,
    }
}

/// The result of converting a Kubernetes NetworkPolicy, with everything that went wrong on the
/// way and where each converted rule came from.
#[derive(Clone, Debug, PartialEq)]
pub struct K8sPolicyConversion {
    /// The Calico policy.
    pub policy: NetworkPolicy,
    /// Problems that did not stop the conversion (dropped rules, ignored peers…).
    pub warnings: Vec<ConversionWarning>,
    /// For each rule of `policy.spec.ingress`, the index of the Kubernetes ingress rule it was
    /// generated from.
    pub ingress_origins: Vec<usize>,
    /// For each rule of `policy.spec.egress`, the index of the Kubernetes egress rule it was
    /// generated from.
    pub egress_origins: Vec<usize>,
}

/// Converts a Kubernetes NetworkPolicy into the Calico `NetworkPolicy` Calico enforces for it.
///
/// The result is named `knp.default.<name>` in the same namespace, in tier `default` with
/// order 1000, and selects `projectcalico.org/orchestrator == 'k8s'` plus the pod selector.
/// Rules that cannot be converted are left out (see
/// [`network_policy_to_calico_with_warnings`] to learn which); the only hard error is a UID that
/// is not a UUID.
pub fn network_policy_to_calico(np: &K8sNetworkPolicy) -> Result<NetworkPolicy, ConversionError> {
    network_policy_to_calico_with_warnings(np).map(|c| c.policy)
}

/// [`network_policy_to_calico`], also returning the warnings and the origin of every rule.
///
/// Conversion follows Calico's, rule by rule:
/// - every Kubernetes rule becomes one Calico `Allow` rule per (protocol, peer) pair, protocols
///   in sorted order, peers in their order; no peers → no address constraint, no ports → no
///   protocol or port constraint;
/// - a port without a protocol is TCP; `port` + `endPort` is a range; a port entry without a
///   `port` allows every port of its protocol; the ports of each protocol are merged with
///   [`simplify_ports`]; ports always go to `destination.ports`;
/// - peers go to `source` (ingress) or `destination` (egress): `podSelector` → `selector`,
///   `namespaceSelector` → `namespaceSelector`, `ipBlock` → `nets` (host bits cleared) and
///   `notNets`;
/// - a rule with an unparsable port is dropped ([`WarningKind::RuleDropped`]);
/// - `types` lists `Ingress` and/or `Egress` as `policyTypes` does, `[Ingress]` when it is
///   empty; egress rules are kept even when `Egress` is not listed.
///
/// The metadata carries the name, namespace, creation time, resource version and a UID derived
/// with [`convert_uid`]; no labels or annotations.
pub fn network_policy_to_calico_with_warnings(
    np: &K8sNetworkPolicy,
) -> Result<K8sPolicyConversion, ConversionError> {
    let mut warnings = Vec::new();

    let mut ingress = Vec::new();
    let mut ingress_origins = Vec::new();
    for (i, r) in np.spec.ingress.iter().enumerate() {
        let path = format!("spec.ingress[{i}]");
        match rule_to_calico(&r.from, &r.ports, true, &path, "from", &mut warnings) {
            Ok(rules) => {
                ingress_origins.extend(std::iter::repeat_n(i, rules.len()));
                ingress.extend(rules);
            }
            Err(e) => warnings.push(ConversionWarning {
                kind: WarningKind::RuleDropped,
                path,
                message: format!("k8s rule couldn't be converted: {e}"),
            }),
        }
    }

    let mut egress = Vec::new();
    let mut egress_origins = Vec::new();
    for (i, r) in np.spec.egress.iter().enumerate() {
        let path = format!("spec.egress[{i}]");
        match rule_to_calico(&r.to, &r.ports, false, &path, "to", &mut warnings) {
            Ok(rules) => {
                egress_origins.extend(std::iter::repeat_n(i, rules.len()));
                egress.extend(rules);
            }
            Err(e) => warnings.push(ConversionWarning {
                kind: WarningKind::RuleDropped,
                path,
                message: format!("k8s rule couldn't be converted: {e}"),
            }),
        }
    }

    let has_ingress = np.spec.policy_types.contains(&K8sPolicyType::Ingress);
    let has_egress = np.spec.policy_types.contains(&K8sPolicyType::Egress);
    let mut types = Vec::new();
    if has_ingress {
        types.push(PolicyType::Ingress);
    }
    if has_egress {
        types.push(PolicyType::Egress);
    } else if !egress.is_empty() {
        warnings.push(ConversionWarning {
            kind: WarningKind::EgressRulesIgnored,
            path: "spec.policyTypes".into(),
            message: "policyTypes don't include 'Egress', but the NetworkPolicy has egress rules"
                .into(),
        });
    }
    if types.is_empty() {
        types.push(PolicyType::Ingress);
    }

    let uid = if np.metadata.uid.is_empty() {
        String::new()
    } else {
        convert_uid(&np.metadata.uid)?
    };
    let metadata = ObjectMeta {
        name: format!("{K8S_NETWORK_POLICY_NAME_PREFIX}{}", np.metadata.name),
        namespace: np.metadata.namespace.clone(),
        creation_timestamp: np.metadata.creation_timestamp.clone(),
        uid,
        resource_version: np.metadata.resource_version.clone(),
        ..ObjectMeta::default()
    };
    let spec = NetworkPolicySpec {
        tier: K8S_NETWORK_POLICY_TIER.to_owned(),
        order: Some(K8S_NETWORK_POLICY_ORDER),
        selector: k8s_selector_to_calico(Some(&np.spec.pod_selector), SelectorKind::Pod),
        ingress,
        egress,
        types,
        ..NetworkPolicySpec::default()
    };
    Ok(K8sPolicyConversion {
        policy: NetworkPolicy::new(metadata, spec),
        warnings,
        ingress_origins,
        egress_origins,
    })
}

/// The destination ports of one Kubernetes port entry: `None` = every port.
fn k8s_port_to_calico(p: &K8sNetworkPolicyPort) -> Result<Option<Port>, String> {
    let Some(port) = &p.port else { return Ok(None) };
    let mut text = port.to_string();
    if let Some(end) = p.end_port {
        text = format!("{text}:{end}");
    }
    text.parse::<Port>()
        .map(Some)
        .map_err(|e| format!("failed to parse k8s port: invalid port {text}: {e}"))
}

/// The (selector, namespaceSelector, nets, notNets) of one peer.
fn peer_to_calico(
    peer: &K8sNetworkPolicyPeer,
    path: &str,
    warnings: &mut Vec<ConversionWarning>,
) -> (String, String, Vec<String>, Vec<String>) {
    if let Some(block) = &peer.ip_block {
        let Some(net) = parse_go_cidr(&block.cidr) else {
            warnings.push(ConversionWarning {
                kind: WarningKind::PeerUnconstrained,
                path: format!("{path}.ipBlock.cidr"),
                message: format!(
                    "failed to parse CIDR {:?}: the peer is left without any constraint",
                    block.cidr
                ),
            });
            return (String::new(), String::new(), Vec::new(), Vec::new());
        };
        let nets = vec![net.to_string()];
        let mut not_nets = Vec::new();
        for (k, e) in block.except.iter().enumerate() {
            match parse_go_cidr(e) {
                Some(n) => not_nets.push(n.to_string()),
                None => {
                    warnings.push(ConversionWarning {
                        kind: WarningKind::ExceptIgnored,
                        path: format!("{path}.ipBlock.except[{k}]"),
                        message: format!(
                            "failed to parse CIDR {e:?}: it and the entries after it are ignored"
                        ),
                    });
                    break;
                }
            }
        }
        return (String::new(), String::new(), nets, not_nets);
    }
    (
        k8s_selector_to_calico(peer.pod_selector.as_ref(), SelectorKind::Pod),
        k8s_selector_to_calico(peer.namespace_selector.as_ref(), SelectorKind::Namespace),
        Vec::new(),
        Vec::new(),
    )
}

/// Converts one Kubernetes rule (its peers and ports) into Calico rules.
fn rule_to_calico(
    peers: &[K8sNetworkPolicyPeer],
    ports: &[K8sNetworkPolicyPort],
    ingress: bool,
    path: &str,
    peer_field: &str,
    warnings: &mut Vec<ConversionWarning>,
) -> Result<Vec<Rule>, String> {
    // Protocol → ports; `None` = every port of that protocol. The key "" (no protocol, no
    // ports) is only used when the rule has no ports at all.
    let mut by_protocol: BTreeMap<String, Option<Vec<Port>>> = BTreeMap::new();
    if ports.is_empty() {
        by_protocol.insert(String::new(), None);
    }
    for p in ports {
        let port = k8s_port_to_calico(p)?;
        let protocol = canonical_protocol(p.protocol.as_deref().unwrap_or("TCP"));
        match port {
            None => {
                by_protocol.insert(protocol, None);
            }
            Some(port) => match by_protocol.get_mut(&protocol) {
                // Every port of this protocol is already allowed.
                Some(None) => {}
                Some(Some(list)) => list.push(port),
                None => {
                    by_protocol.insert(protocol, Some(vec![port]));
                }
            },
        }
    }

    // The peers' match fields, computed once (and warned about once) per peer.
    let peer_fields: Vec<(String, String, Vec<String>, Vec<String>)> = if peers.is_empty() {
        vec![(String::new(), String::new(), Vec::new(), Vec::new())]
    } else {
        peers
            .iter()
            .enumerate()
            .map(|(j, peer)| peer_to_calico(peer, &format!("{path}.{peer_field}[{j}]"), warnings))
            .collect()
    };

    let mut rules = Vec::new();
    for (protocol, ports) in &by_protocol {
        let ports = ports.as_deref().map(simplify_ports).unwrap_or_default();
        let protocol = (!protocol.is_empty()).then(|| Protocol::Name(protocol.clone()));
        for (selector, namespace_selector, nets, not_nets) in &peer_fields {
            let peer = EntityRule {
                selector: selector.clone(),
                namespace_selector: namespace_selector.clone(),
                nets: nets.clone(),
                not_nets: not_nets.clone(),
                ..EntityRule::default()
            };
            let mut rule = Rule {
                action: Action::Allow,
                protocol: protocol.clone(),
                ..Rule::default()
            };
            if ingress {
                rule.source = peer;
                rule.destination = EntityRule {
                    ports: ports.clone(),
                    ..EntityRule::default()
                };
            } else {
                rule.destination = EntityRule {
                    ports: ports.clone(),
                    ..peer
                };
            }
            rules.push(rule);
        }
    }
    Ok(rules)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::k8s::{
        IntOrString, K8sIpBlock, K8sNetworkPolicyEgressRule, K8sNetworkPolicyIngressRule,
        K8sNetworkPolicySpec, LabelSelectorRequirement,
    };
    use crate::resource::ResourceKind;
    use crate::validation::Validator;

    fn np(json: serde_json::Value) -> K8sNetworkPolicy {
        serde_json::from_value(json).unwrap()
    }

    fn sel(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..LabelSelector::default()
        }
    }

    fn ports(list: &[&str]) -> Vec<Port> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    fn tcp() -> Option<Protocol> {
        Some(Protocol::Name("TCP".into()))
    }

    fn assert_valid(p: &NetworkPolicy) {
        let mut v = Validator::new();
        p.validate_into(&mut v);
        assert!(v.is_ok(), "{:?}", v.finish());
    }

    #[test]
    fn selector_conversion_table() {
        let expr = |op, values: &[&str]| LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: "toast".into(),
                operator: op,
                values: values.iter().map(|v| (*v).to_owned()).collect(),
            }],
            ..LabelSelector::default()
        };
        use LabelSelectorOperator::*;
        use SelectorKind::{Namespace as Ns, Pod};
        let cases: Vec<(Option<LabelSelector>, SelectorKind, &str)> = vec![
            (
                Some(LabelSelector::default()),
                Pod,
                "projectcalico.org/orchestrator == 'k8s'",
            ),
            (Some(LabelSelector::default()), Ns, "all()"),
            (Some(expr(DoesNotExist, &[])), Ns, "! has(toast)"),
            (Some(expr(Exists, &[])), Ns, "has(toast)"),
            (
                Some(expr(In, &["butter", "jam"])),
                Ns,
                "toast in { 'butter', 'jam' }",
            ),
            (
                Some(expr(NotIn, &["marmite", "milk"])),
                Ns,
                "toast not in { 'marmite', 'milk' }",
            ),
            (
                Some(expr(DoesNotExist, &[])),
                Pod,
                "projectcalico.org/orchestrator == 'k8s' && ! has(toast)",
            ),
            (None, Pod, "projectcalico.org/orchestrator == 'k8s'"),
            (None, Ns, ""),
            (
                Some(sel(&[("namespaceRole", "dev"), ("namespaceFoo", "bar")])),
                Ns,
                "namespaceFoo == 'bar' && namespaceRole == 'dev'",
            ),
            (Some(expr(In, &[])), Ns, "toast in { '' }"),
        ];
        for (s, kind, want) in cases {
            assert_eq!(
                k8s_selector_to_calico(s.as_ref(), kind),
                want,
                "{s:?} {kind:?}"
            );
        }
        // matchLabels first (sorted), then expressions in their order.
        let mut s = sel(&[("b", "2"), ("a", "1")]);
        s.match_expressions = expr(Exists, &[]).match_expressions;
        s.match_expressions
            .extend(expr(In, &["x"]).match_expressions);
        assert_eq!(
            k8s_selector_to_calico(Some(&s), SelectorKind::Pod),
            "projectcalico.org/orchestrator == 'k8s' && a == '1' && b == '2' && has(toast) && toast in { 'x' }"
        );
    }

    #[test]
    fn port_simplification_table() {
        let cases = [
            ("", ""),
            ("0", "0"),
            ("1", "1"),
            ("65535", "65535"),
            ("0:65535", "0:65535"),
            ("1,2", "1:2"),
            ("2,1", "1:2"),
            ("1,2,4", "1:2,4"),
            ("1,2,3,4,80:81,81:90,9090", "1:4,80:90,9090"),
            ("81:90,4,2,80:81,3,1,9090", "1:4,80:90,9090"),
            (
                "81:90,4,2,foo,80:81,3,1,9090,http",
                "foo,http,1:4,80:90,9090",
            ),
            ("foo", "foo"),
            // One numeric port: the input is returned as is (order kept).
            ("80,foo", "80,foo"),
            ("5,5", "5"),
            ("foo,1:3", "foo,1:3"),
            ("65534,65535,0", "0,65534:65535"),
        ];
        for (input, want) in cases {
            let inp: Vec<&str> = input.split(',').filter(|s| !s.is_empty()).collect();
            let out: Vec<String> = simplify_ports(&ports(&inp))
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(out.join(","), want, "{input}");
        }
    }

    #[test]
    fn basic_policy() {
        let p = np(serde_json::json!({
            "metadata": {"name": "test.policy", "namespace": "default"},
            "spec": {
                "podSelector": {"matchLabels": {"label": "value", "label2": "value2"}},
                "ingress": [{"ports": [{"port": 80}, {"port": "foo"}],
                             "from": [{"podSelector": {"matchLabels": {"k": "v", "k2": "v2"}}}]}],
                "policyTypes": ["Ingress"]
            }
        }));
        let c = network_policy_to_calico_with_warnings(&p).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let pol = &c.policy;
        assert_eq!(pol.metadata.name, "knp.default.test.policy");
        assert_eq!(pol.metadata.namespace, "default");
        assert_eq!(pol.spec.order, Some(1000.0));
        assert_eq!(pol.spec.tier, "default");
        assert_eq!(
            pol.spec.selector,
            "projectcalico.org/orchestrator == 'k8s' && label == 'value' && label2 == 'value2'"
        );
        assert_eq!(
            pol.spec.ingress,
            vec![Rule {
                action: Action::Allow,
                protocol: tcp(),
                source: EntityRule {
                    selector: "projectcalico.org/orchestrator == 'k8s' && k == 'v' && k2 == 'v2'"
                        .into(),
                    ..EntityRule::default()
                },
                destination: EntityRule {
                    ports: ports(&["80", "foo"]),
                    ..EntityRule::default()
                },
                ..Rule::default()
            }]
        );
        assert!(pol.spec.egress.is_empty());
        assert_eq!(pol.spec.types, vec![PolicyType::Ingress]);
        assert_eq!(c.ingress_origins, vec![0]);
        assert_valid(pol);
        // The whole encoded object, as Calico would write it.
        assert_eq!(
            serde_json::to_value(pol).unwrap(),
            serde_json::json!({
                "apiVersion": "projectcalico.org/v3",
                "kind": "NetworkPolicy",
                "metadata": {"name": "knp.default.test.policy", "namespace": "default"},
                "spec": {
                    "tier": "default",
                    "order": 1000.0,
                    "ingress": [{
                        "action": "Allow",
                        "protocol": "TCP",
                        "source": {"selector": "projectcalico.org/orchestrator == 'k8s' && k == 'v' && k2 == 'v2'"},
                        "destination": {"ports": [80, "foo"]}
                    }],
                    "selector": "projectcalico.org/orchestrator == 'k8s' && label == 'value' && label2 == 'value2'",
                    "types": ["Ingress"]
                }
            })
        );
    }

    #[test]
    fn no_ports_means_no_protocol() {
        let p = np(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"k": "v"}}}]}], "policyTypes": ["Ingress"]}
        }));
        let pol = network_policy_to_calico(&p).unwrap();
        assert_eq!(pol.spec.ingress.len(), 1);
        assert_eq!(pol.spec.ingress[0].protocol, None);
        assert_eq!(
            pol.spec.ingress[0].source.selector,
            "projectcalico.org/orchestrator == 'k8s' && k == 'v'"
        );
        assert!(pol.spec.ingress[0].destination.is_empty());
        assert_eq!(pol.spec.selector, "projectcalico.org/orchestrator == 'k8s'");
    }

    #[test]
    fn blank_port_allows_every_port_of_its_protocol() {
        // Ingress: [{port: 80}, {}] → TCP, no ports.
        let p = np(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"ingress": [{"ports": [{"port": 80}, {}], "from": [{"podSelector": {"matchLabels": {"k": "v"}}}]}]}
        }));
        let pol = network_policy_to_calico(&p).unwrap();
        assert_eq!(pol.spec.ingress.len(), 1);
        assert_eq!(pol.spec.ingress[0].protocol, tcp());
        assert!(pol.spec.ingress[0].destination.ports.is_empty());

        // Egress: [{}, {port: 80}] then [{port: 53, UDP}] (no peers).
        let p = np(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"egress": [
                {"ports": [{}, {"port": 80}], "to": [{"podSelector": {"matchLabels": {"k": "v", "k2": "v2"}}}]},
                {"ports": [{"port": 53, "protocol": "UDP"}]}
            ], "policyTypes": ["Egress"]}
        }));
        let pol = network_policy_to_calico(&p).unwrap();
        assert_eq!(
            pol.spec.egress,
            vec![
                Rule {
                    action: Action::Allow,
                    protocol: tcp(),
                    destination: EntityRule {
                        selector:
                            "projectcalico.org/orchestrator == 'k8s' && k == 'v' && k2 == 'v2'"
                                .into(),
                        ..EntityRule::default()
                    },
                    ..Rule::default()
                },
                Rule {
                    action: Action::Allow,
                    protocol: Some(Protocol::Name("UDP".into())),
                    destination: EntityRule {
                        ports: ports(&["53"]),
                        ..EntityRule::default()
                    },
                    ..Rule::default()
                },
            ]
        );
        assert_eq!(pol.spec.types, vec![PolicyType::Egress]);
        assert_valid(&pol);
    }

    #[test]
    fn bad_ports_drop_only_their_rule() {
        let p = np(serde_json::json!({
            "metadata": {"name": "test.policy", "namespace": "default"},
            "spec": {
                "podSelector": {"matchLabels": {"label": "value"}},
                "egress": [
                    {"ports": [{"port": 80}, {"port": "foo"}], "to": [{"podSelector": {"matchLabels": {"k": "v"}}}]},
                    {"ports": [{"port": 80}, {"port": "-50:-1"}], "to": [{"podSelector": {"matchLabels": {"k": "v"}}}]},
                    {"ports": [{"port": 80}, {"port": "-22:-3"}], "to": [{"podSelector": {"matchLabels": {"k": "v"}}}]}
                ],
                "policyTypes": ["Ingress"]
            }
        }));
        let c = network_policy_to_calico_with_warnings(&p).unwrap();
        assert_eq!(c.policy.spec.egress.len(), 1);
        assert_eq!(
            c.policy.spec.egress[0].destination.ports,
            ports(&["80", "foo"])
        );
        let dropped: Vec<(&str, &str)> = c
            .warnings
            .iter()
            .filter(|w| w.kind == WarningKind::RuleDropped)
            .map(|w| (w.path.as_str(), w.message.as_str()))
            .collect();
        assert_eq!(
            dropped,
            vec![
                (
                    "spec.egress[1]",
                    "k8s rule couldn't be converted: failed to parse k8s port: invalid port -50:-1: invalid name for named port (-50:-1)"
                ),
                (
                    "spec.egress[2]",
                    "k8s rule couldn't be converted: failed to parse k8s port: invalid port -22:-3: invalid name for named port (-22:-3)"
                ),
            ]
        );
        // Egress rules kept although policyTypes lacks Egress, with a warning.
        assert_eq!(c.policy.spec.types, vec![PolicyType::Ingress]);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.kind == WarningKind::EgressRulesIgnored && w.path == "spec.policyTypes")
        );
    }

    #[test]
    fn port_errors_in_calico_words() {
        let conv = |port: serde_json::Value, end: Option<i32>| {
            let mut pp = serde_json::json!({"port": port});
            if let Some(e) = end {
                pp["endPort"] = e.into();
            }
            let p = np(
                serde_json::json!({"metadata": {"name": "p"}, "spec": {"ingress": [{"ports": [pp]}]}}),
            );
            network_policy_to_calico_with_warnings(&p).unwrap()
        };
        let msg = |c: &K8sPolicyConversion| {
            c.warnings
                .first()
                .map(|w| w.message.clone())
                .unwrap_or_default()
        };
        assert!(
            msg(&conv(70000.into(), None))
                .ends_with("invalid port 70000: invalid port format (70000)")
        );
        assert!(msg(&conv(90.into(), Some(80))).ends_with(
            "invalid port 90:80: minimum port number (90) is greater than maximum port number (80) in port range"
        ));
        assert!(
            msg(&conv("http".into(), Some(80)))
                .ends_with("invalid port http:80: invalid name for named port (http:80)")
        );
        assert!(
            msg(&conv("".into(), None)).ends_with("invalid port : invalid name for named port ()")
        );
        // A range and a plain port.
        let c = conv(32000.into(), Some(32768));
        assert!(c.warnings.is_empty());
        assert_eq!(
            c.policy.spec.ingress[0].destination.ports,
            vec![Port::Range(32000, 32768)]
        );
        assert_eq!(
            c.policy.spec.ingress[0].destination.ports[0].to_string(),
            "32000:32768"
        );
        let c = conv(80.into(), Some(80));
        assert_eq!(
            c.policy.spec.ingress[0].destination.ports,
            vec![Port::Number(80)]
        );
    }

    #[test]
    fn multiple_peers_and_protocols() {
        let p = np(serde_json::json!({
            "metadata": {"name": "test.policy", "namespace": "default"},
            "spec": {
                "podSelector": {"matchLabels": {"label": "value"}},
                "ingress": [{
                    "ports": [{"port": 90, "protocol": "UDP"}, {"port": 80, "protocol": "TCP"}],
                    "from": [{"podSelector": {"matchLabels": {"k": "v"}}}, {"podSelector": {"matchLabels": {"k2": "v2"}}}]
                }],
                "policyTypes": ["Ingress"]
            }
        }));
        let c = network_policy_to_calico_with_warnings(&p).unwrap();
        let got: Vec<(String, String, String)> = c
            .policy
            .spec
            .ingress
            .iter()
            .map(|r| {
                (
                    r.protocol
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    r.source.selector.clone(),
                    r.destination
                        .ports
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                )
            })
            .collect();
        let k = "projectcalico.org/orchestrator == 'k8s' && k == 'v'".to_owned();
        let k2 = "projectcalico.org/orchestrator == 'k8s' && k2 == 'v2'".to_owned();
        assert_eq!(
            got,
            vec![
                ("TCP".into(), k.clone(), "80".into()),
                ("TCP".into(), k2.clone(), "80".into()),
                ("UDP".into(), k, "90".into()),
                ("UDP".into(), k2, "90".into()),
            ]
        );
        assert_eq!(c.ingress_origins, vec![0, 0, 0, 0]);
    }

    #[test]
    fn ports_are_grouped_merged_and_protocols_normalised() {
        let p = np(serde_json::json!({
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {"ingress": [{"ports": [
                {"port": 82}, {"port": 80, "protocol": "tcp"}, {"port": 81}, {"port": "http"},
                {"port": 53, "protocol": "UDP"}, {"protocol": "SCTP"}, {"port": 9, "protocol": "SCTP"},
                {"port": 54, "protocol": "udp"}
            ]}]}
        }));
        let pol = network_policy_to_calico(&p).unwrap();
        let got: Vec<(String, Vec<String>)> = pol
            .spec
            .ingress
            .iter()
            .map(|r| {
                (
                    r.protocol.as_ref().unwrap().to_string(),
                    r.destination
                        .ports
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("SCTP".into(), vec![]),
                ("TCP".into(), vec!["http".into(), "80:82".into()]),
                ("UDP".into(), vec!["53:54".into()]),
            ]
        );
        assert_valid(&pol);
    }

    #[test]
    fn namespace_selectors() {
        let p = np(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "podSelector": {"matchLabels": {"label": "value"}},
                "ingress": [{"from": [
                    {"namespaceSelector": {"matchLabels": {"namespaceRole": "dev", "namespaceFoo": "bar"}}},
                    {"namespaceSelector": null, "podSelector": {}},
                    {"namespaceSelector": {"matchLabels": {}}},
                    {"namespaceSelector": {"matchLabels": {"namespaceRole": "dev"}}, "podSelector": {"matchLabels": {"podA": "B", "podC": "D"}}}
                ]}],
                "policyTypes": ["Ingress"]
            }
        }));
        let pol = network_policy_to_calico(&p).unwrap();
        let src: Vec<(&str, &str)> = pol
            .spec
            .ingress
            .iter()
            .map(|r| {
                (
                    r.source.selector.as_str(),
                    r.source.namespace_selector.as_str(),
                )
            })
            .collect();
        assert_eq!(
            src,
            vec![
                (
                    "projectcalico.org/orchestrator == 'k8s'",
                    "namespaceFoo == 'bar' && namespaceRole == 'dev'"
                ),
                ("projectcalico.org/orchestrator == 'k8s'", ""),
                ("projectcalico.org/orchestrator == 'k8s'", "all()"),
                (
                    "projectcalico.org/orchestrator == 'k8s' && podA == 'B' && podC == 'D'",
                    "namespaceRole == 'dev'"
                ),
            ]
        );
        assert!(
            pol.spec
                .ingress
                .iter()
                .all(|r| r.protocol.is_none() && r.destination.is_empty())
        );
        assert_valid(&pol);
    }

    #[test]
    fn ip_blocks() {
        let p = np(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "ingress": [{"from": [{"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.3.0/24", "192.168.4.0/24"]}}]}],
                "egress": [{
                    "ports": [{"port": 90, "protocol": "UDP"}, {"port": 80, "protocol": "TCP"}],
                    "to": [{"ipBlock": {"cidr": "10.10.1.7/16", "except": ["10.10.3.0/24"]}}]
                }],
                "policyTypes": ["Egress", "Ingress"]
            }
        }));
        let pol = network_policy_to_calico(&p).unwrap();
        let i = &pol.spec.ingress[0];
        assert_eq!(i.source.nets, vec!["192.168.0.0/16"]);
        assert_eq!(i.source.not_nets, vec!["192.168.3.0/24", "192.168.4.0/24"]);
        assert!(i.source.selector.is_empty() && i.source.namespace_selector.is_empty());
        assert_eq!(pol.spec.egress.len(), 2);
        for (r, port) in pol.spec.egress.iter().zip(["80", "90"]) {
            // Host bits are cleared, as Go's ParseCIDR does.
            assert_eq!(
                parse_go_cidr("::ffff:10.1.0.0/104")
                    .map(|n| n.to_string())
                    .as_deref(),
                Some("10.0.0.0/8")
            );
            assert_eq!(r.destination.nets, vec!["10.10.0.0/16"]);
            assert_eq!(r.destination.not_nets, vec!["10.10.3.0/24"]);
            assert_eq!(r.destination.ports, ports(&[port]));
        }
        assert_eq!(
            pol.spec.types,
            vec![PolicyType::Ingress, PolicyType::Egress]
        );
        assert_valid(&pol);
    }

    #[test]
    fn bad_ip_blocks_leave_the_peer_unconstrained() {
        let p = np(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"ingress": [{"from": [
                {"ipBlock": {"cidr": "192.168.0.0/55"}},
                {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "garbage", "10.2.0.0/16"]}},
                {"ipBlock": {"cidr": "10.0.0.1"}}
            ]}]}
        }));
        let c = network_policy_to_calico_with_warnings(&p).unwrap();
        let r = &c.policy.spec.ingress;
        assert_eq!(r.len(), 3);
        assert!(r[0].source.is_empty());
        assert_eq!(r[1].source.nets, vec!["10.0.0.0/8"]);
        assert_eq!(r[1].source.not_nets, vec!["10.1.0.0/16"]);
        assert!(r[2].source.is_empty());
        let w: Vec<(WarningKind, &str)> = c
            .warnings
            .iter()
            .map(|w| (w.kind, w.path.as_str()))
            .collect();
        assert_eq!(
            w,
            vec![
                (
                    WarningKind::PeerUnconstrained,
                    "spec.ingress[0].from[0].ipBlock.cidr"
                ),
                (
                    WarningKind::ExceptIgnored,
                    "spec.ingress[0].from[1].ipBlock.except[1]"
                ),
                (
                    WarningKind::PeerUnconstrained,
                    "spec.ingress[0].from[2].ipBlock.cidr"
                ),
            ]
        );
    }

    #[test]
    fn types_and_default_deny() {
        let p = np(serde_json::json!({
            "metadata": {"name": "testPolicy", "namespace": "default"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"]}
        }));
        let pol = network_policy_to_calico(&p).unwrap();
        assert_eq!(pol.metadata.name, "knp.default.testPolicy");
        assert_eq!(pol.spec.selector, "projectcalico.org/orchestrator == 'k8s'");
        assert!(pol.spec.ingress.is_empty() && pol.spec.egress.is_empty());
        assert_eq!(pol.spec.types, vec![PolicyType::Egress]);
        // No policyTypes at all (pre-1.8 clusters): ingress only.
        let p = np(
            serde_json::json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"podSelector": {"matchExpressions": [{"key": "k", "operator": "In", "values": ["v1", "v2"]}]}}}),
        );
        let pol = network_policy_to_calico(&p).unwrap();
        assert_eq!(pol.spec.types, vec![PolicyType::Ingress]);
        assert_eq!(
            pol.spec.selector,
            "projectcalico.org/orchestrator == 'k8s' && k in { 'v1', 'v2' }"
        );
        // Order of policyTypes does not matter.
        let p = np(
            serde_json::json!({"metadata": {"name": "p"}, "spec": {"policyTypes": ["Egress", "Ingress"]}}),
        );
        assert_eq!(
            network_policy_to_calico(&p).unwrap().spec.types,
            vec![PolicyType::Ingress, PolicyType::Egress]
        );
    }

    #[test]
    fn metadata_handling() {
        let mut p = K8sNetworkPolicy::new(
            ObjectMeta::namespaced("ns", "p"),
            K8sNetworkPolicySpec::default(),
        );
        p.metadata.uid = "30316465-6365-4463-ad63-3564622d3638".into();
        p.metadata.resource_version = "42".into();
        p.metadata.creation_timestamp = Some("2024-01-02T03:04:05Z".into());
        p.metadata.labels.insert("a".into(), "b".into());
        p.metadata.annotations.insert("c".into(), "d".into());
        p.metadata.generation = 3;
        let pol = network_policy_to_calico(&p).unwrap();
        assert_eq!(
            pol.metadata,
            ObjectMeta {
                name: "knp.default.p".into(),
                namespace: "ns".into(),
                uid: "0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c".into(),
                resource_version: "42".into(),
                creation_timestamp: Some("2024-01-02T03:04:05Z".into()),
                ..ObjectMeta::default()
            }
        );
        p.metadata.uid = "bogus".into();
        assert!(matches!(
            network_policy_to_calico(&p),
            Err(ConversionError::InvalidUid(_))
        ));
    }

    #[test]
    fn built_from_rust_values_too() {
        let p = K8sNetworkPolicy::new(
            ObjectMeta::namespaced("ns", "p"),
            K8sNetworkPolicySpec {
                pod_selector: sel(&[("app", "db")]),
                ingress: vec![K8sNetworkPolicyIngressRule {
                    ports: vec![K8sNetworkPolicyPort {
                        protocol: None,
                        port: Some(IntOrString::Int(5432)),
                        end_port: None,
                    }],
                    from: vec![K8sNetworkPolicyPeer {
                        ip_block: Some(K8sIpBlock {
                            cidr: "fd00::1/64".into(),
                            except: vec![],
                        }),
                        ..Default::default()
                    }],
                }],
                egress: vec![K8sNetworkPolicyEgressRule::default()],
                policy_types: vec![K8sPolicyType::Ingress, K8sPolicyType::Egress],
            },
        );
        let pol = network_policy_to_calico(&p).unwrap();
        assert_eq!(pol.spec.ingress[0].source.nets, vec!["fd00::/64"]);
        // An empty egress rule allows everything.
        assert_eq!(pol.spec.egress, vec![Rule::new(Action::Allow)]);
        assert_valid(&pol);
    }
}
