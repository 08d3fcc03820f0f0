//! The rule compiler: Calico v3 policies, profiles and rules → the [IR](crate::ir).
//!
//! Selectors are rewritten exactly as Calico's syncer update processors and Felix's rule
//! scanner do, so that the resulting selector strings — and therefore the IP set IDs — are
//! the ones Calico computes:
//! - a policy's own selector gains its namespace (`NetworkPolicy`) or namespace and
//!   service-account selectors (`GlobalNetworkPolicy`, `pcns.`/`pcsa.` prefixed);
//! - each rule side's `selector`, `namespaceSelector` and `serviceAccounts` fold into one
//!   positive selector, namespace-scoped inside a namespaced policy as soon as any selector is
//!   used; when a positive selector exists, `notSelector` is folded into it too;
//! - named ports become IP-and-port sets filtered by the side's positive selector.

use base64::Engine as _;
use calico_model::resources::{EntityRule, GlobalNetworkPolicySpec, NetworkPolicySpec};
use calico_model::scalar::{Port, Protocol};
use calico_model::selector::Selector;
use sha2::{Digest, Sha224};

use crate::ir::{self, EndpointMatch, IcmpMatch, IpSetId, IpSetType, PortRange};

pub use calico_model::k8s::{
    LABEL_NAMESPACE, LABEL_ORCHESTRATOR, LABEL_SERVICE_ACCOUNT, NAMESPACE_LABEL_PREFIX,
    SERVICE_ACCOUNT_LABEL_PREFIX,
};

/// What an IP set contains.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpSetSpec {
    /// The addresses of every endpoint and network set the selector matches.
    Selector(Selector),
    /// `address,protocol:port` for every named port called `port_name` (with that protocol)
    /// on the endpoints the selector matches.
    NamedPort {
        /// Endpoints whose ports count.
        selector: Selector,
        /// IP protocol number (TCP when the rule names none).
        protocol: u8,
        /// The port name.
        port_name: String,
    },
}

impl IpSetSpec {
    /// The set's stable ID (Calico's: `s:` + the selector's ID, or `n:` + a hash of the
    /// selector ID, protocol and port name).
    pub fn id(&self) -> IpSetId {
        match self {
            IpSetSpec::Selector(s) => IpSetId(s.unique_id()),
            IpSetSpec::NamedPort {
                selector,
                protocol,
                port_name,
            } => {
                let content = format!(
                    "{},{},{}",
                    selector.unique_id(),
                    protocol_name(*protocol),
                    port_name
                );
                IpSetId(unique_id("n", &content))
            }
        }
    }

    /// The member type.
    pub fn set_type(&self) -> IpSetType {
        match self {
            IpSetSpec::Selector(_) => IpSetType::Net,
            IpSetSpec::NamedPort { .. } => IpSetType::IpAndPort,
        }
    }

    /// The selector whose matches define the set.
    pub fn selector(&self) -> &Selector {
        match self {
            IpSetSpec::Selector(s) | IpSetSpec::NamedPort { selector: s, .. } => s,
        }
    }
}

/// `prefix:` + base64url(SHA-224(`prefix:` + content)), Calico's `hash.MakeUniqueID`.
pub fn unique_id(prefix: &str, content: &str) -> String {
    let mut h = Sha224::new();
    h.update(prefix.as_bytes());
    h.update(b":");
    h.update(content.as_bytes());
    let digest = h.finalize();
    format!(
        "{prefix}:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

fn protocol_name(p: u8) -> &'static str {
    match p {
        ir::proto::UDP => "udp",
        ir::proto::SCTP => "sctp",
        _ => "tcp",
    }
}

/// Why a rule or policy could not be compiled (only possible for input that skipped
/// validation).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// A selector does not parse.
    #[error("invalid selector {selector:?}: {reason}")]
    Selector {
        /// The selector text.
        selector: String,
        /// Why.
        reason: String,
    },
    /// A protocol name is not known.
    #[error("unknown protocol {0:?}")]
    Protocol(String),
    /// A network does not parse.
    #[error("invalid network {0:?}")]
    Net(String),
    /// An ICMP type or code is out of range.
    #[error("invalid ICMP type/code {0}")]
    Icmp(i64),
}

fn parse(s: &str) -> Result<Selector, CompileError> {
    Selector::parse(s).map_err(|e| CompileError::Selector {
        selector: s.to_owned(),
        reason: e.to_string(),
    })
}

/// Calico's `parseSelectorAttachPrefix`: the canonical form of `s` with every label prefixed.
fn attach_prefix(s: &str, prefix: &str) -> Result<String, CompileError> {
    Ok(parse(s)?.prefixed(prefix).to_string())
}

/// Calico's `prefixAndAppendSelector`.
fn prefix_and_append(current: String, new: &str, prefix: &str) -> Result<String, CompileError> {
    if new.is_empty() {
        return Ok(current);
    }
    let prefixed = attach_prefix(new, prefix)?;
    Ok(if current.is_empty() {
        prefixed
    } else {
        format!("({current}) && {prefixed}")
    })
}

/// The selector a namespaced `NetworkPolicy` applies to, as Calico computes it.
pub fn network_policy_selector(
    spec: &NetworkPolicySpec,
    namespace: &str,
) -> Result<Selector, CompileError> {
    let mut selector = spec.selector.clone();
    if !namespace.is_empty() {
        let ns = format!("{LABEL_NAMESPACE} == '{namespace}'");
        selector = if selector.is_empty() {
            ns
        } else {
            format!("({selector}) && {ns}")
        };
    }
    selector = prefix_and_append(
        selector,
        &spec.service_account_selector,
        SERVICE_ACCOUNT_LABEL_PREFIX,
    )?;
    parse(&selector)
}

/// The selector a `GlobalNetworkPolicy` applies to, as Calico computes it (including its
/// textual replacement of `all()` once namespace or service-account selectors are present).
pub fn global_network_policy_selector(
    spec: &GlobalNetworkPolicySpec,
) -> Result<Selector, CompileError> {
    global_selector(
        &spec.selector,
        &spec.namespace_selector,
        &spec.service_account_selector,
    )
}

/// The GlobalNetworkPolicy selector rewrite from its three parts.
pub fn global_selector(
    selector: &str,
    namespace_selector: &str,
    sa_selector: &str,
) -> Result<Selector, CompileError> {
    let mut selector = selector.to_owned();
    if !namespace_selector.is_empty() {
        selector = prefix_and_append(selector, namespace_selector, NAMESPACE_LABEL_PREFIX)?;
        selector = selector.replace("all()", &format!("has({LABEL_NAMESPACE})"));
    }
    if !sa_selector.is_empty() {
        selector = prefix_and_append(selector, sa_selector, SERVICE_ACCOUNT_LABEL_PREFIX)?;
        selector = selector.replace("all()", &format!("has({LABEL_SERVICE_ACCOUNT})"));
    }
    parse(&selector)
}

/// Calico's `GetEntityRuleSelector`: the single positive selector for one side of a rule in a
/// policy of namespace `namespace` (empty for global policies and profiles). Empty when the
/// side has no endpoint constraint.
pub fn entity_rule_selector(er: &EntityRule, namespace: &str) -> Result<String, CompileError> {
    let sa_selector = match &er.service_accounts {
        Some(sam) => service_accounts_selector(&sam.selector, &sam.names)?,
        None => String::new(),
    };
    let ns_selector = if !er.namespace_selector.is_empty() {
        attach_prefix(&er.namespace_selector, NAMESPACE_LABEL_PREFIX)?
            .replace("all()", &format!("has({LABEL_NAMESPACE})"))
            .replace("global()", &format!("!has({LABEL_NAMESPACE})"))
    } else if !namespace.is_empty() {
        format!("{LABEL_NAMESPACE} == '{namespace}'")
    } else {
        String::new()
    };
    let parts: Vec<&str> = [sa_selector.as_str(), er.selector.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let mut selector = match parts.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        many => format!("({})", many.join(") && (")),
    };
    if !ns_selector.is_empty()
        && (!selector.is_empty()
            || !er.not_selector.is_empty()
            || !er.namespace_selector.is_empty())
    {
        selector = if selector.is_empty() {
            ns_selector
        } else {
            format!("({ns_selector}) && ({selector})")
        };
    }
    Ok(selector)
}

/// Calico's `parseServiceAccounts`.
fn service_accounts_selector(selector: &str, names: &[String]) -> Result<String, CompileError> {
    let prefixed = if selector.is_empty() {
        String::new()
    } else {
        attach_prefix(selector, SERVICE_ACCOUNT_LABEL_PREFIX)?
    };
    if names.is_empty() {
        return Ok(prefixed);
    }
    let set = format!("{LABEL_SERVICE_ACCOUNT} in {{ '{}' }}", names.join("', '"));
    let set = parse(&set)?.to_string();
    Ok(if prefixed.is_empty() {
        set
    } else {
        format!("({prefixed}) && ({set})")
    })
}

/// Felix's `combineMatchesIfPossible`: with a positive selector, the negated one is folded in.
fn combine(positive: String, negated: &str) -> (String, String) {
    if positive.is_empty() || negated.is_empty() {
        return (positive, negated.to_owned());
    }
    (format!("({positive}) && (!({negated}))"), String::new())
}

fn protocol_number(p: &Protocol) -> Result<u8, CompileError> {
    p.number()
        .ok_or_else(|| CompileError::Protocol(p.to_string()))
}

fn icmp(f: &calico_model::resources::IcmpFields) -> Result<Option<IcmpMatch>, CompileError> {
    let Some(t) = f.type_ else { return Ok(None) };
    let icmp_type = u8::try_from(t).map_err(|_| CompileError::Icmp(t))?;
    let code = match f.code {
        Some(c) => Some(u8::try_from(c).map_err(|_| CompileError::Icmp(c))?),
        None => None,
    };
    Ok(Some(IcmpMatch { icmp_type, code }))
}

fn nets(list: &[String]) -> Result<Vec<ipnet::IpNet>, CompileError> {
    list.iter()
        .map(|n| {
            calico_model::scalar::parse_cidr_or_ip(n)
                .map(|net| net.trunc())
                .map_err(|_| CompileError::Net(n.clone()))
        })
        .collect()
}

fn split_ports(ports: &[Port]) -> (Vec<PortRange>, Vec<String>) {
    let mut numeric = Vec::new();
    let mut named = Vec::new();
    for p in ports {
        match p {
            Port::Number(n) => numeric.push(PortRange { min: *n, max: *n }),
            Port::Range(a, b) => numeric.push(PortRange { min: *a, max: *b }),
            Port::Named(n) => named.push(n.clone()),
        }
    }
    (numeric, named)
}

/// A compiled rule and the IP sets it uses.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    /// The IR rule.
    pub rule: ir::Rule,
    /// The IP sets the rule refers to, with what they contain.
    pub ip_sets: Vec<(IpSetId, IpSetSpec)>,
}

/// Context for compiling the rules of one policy or profile.
#[derive(Clone, Copy, Debug)]
pub struct RuleContext<'a> {
    /// The policy's namespace (empty for global policies and profiles).
    pub namespace: &'a str,
    /// A stable name of the owner, hashed into rule IDs (e.g. `GlobalNetworkPolicy/allow-dns`).
    pub owner: &'a str,
    /// Which list the rule is in.
    pub direction: ir::Direction,
}

/// Compiles one v3 rule (the `index`-th of its list).
pub fn compile_rule(
    rule: &calico_model::resources::Rule,
    index: usize,
    ctx: RuleContext<'_>,
) -> Result<CompiledRule, CompileError> {
    let mut ip_sets = Vec::new();
    let named_proto = match rule.protocol.as_ref().and_then(Protocol::number) {
        Some(ir::proto::UDP) => ir::proto::UDP,
        Some(ir::proto::SCTP) => ir::proto::SCTP,
        _ => ir::proto::TCP,
    };
    let mut side = |er: &EntityRule| -> Result<EndpointMatch, CompileError> {
        let positive = entity_rule_selector(er, ctx.namespace)?;
        let (positive, negated) = combine(positive, &er.not_selector);
        let positive = if positive.is_empty() {
            None
        } else {
            Some(parse(&positive)?)
        };
        let (ports, named) = split_ports(&er.ports);
        let (not_ports, not_named) = split_ports(&er.not_ports);
        let mut m = EndpointMatch {
            nets: nets(&er.nets)?,
            not_nets: nets(&er.not_nets)?,
            ports,
            not_ports,
            ..EndpointMatch::default()
        };
        let named_selector = positive.clone().unwrap_or_else(Selector::all);
        let mut named_set = |name: &String| {
            let spec = IpSetSpec::NamedPort {
                selector: named_selector.clone(),
                protocol: named_proto,
                port_name: name.clone(),
            };
            let id = spec.id();
            ip_sets.push((id.clone(), spec));
            id
        };
        m.named_port_sets = named.iter().map(&mut named_set).collect();
        m.not_named_port_sets = not_named.iter().map(&mut named_set).collect();
        // A named-port set already filters by the positive selector; only add the selector
        // set when numeric ports exist or there are no named ports.
        if let Some(sel) = positive
            && (!m.ports.is_empty() || named.is_empty())
        {
            let spec = IpSetSpec::Selector(sel);
            let id = spec.id();
            ip_sets.push((id.clone(), spec));
            m.ip_sets.push(id);
        }
        if !negated.is_empty() {
            let spec = IpSetSpec::Selector(parse(&negated)?);
            let id = spec.id();
            ip_sets.push((id.clone(), spec));
            m.not_ip_sets.push(id);
        }
        Ok(m)
    };
    let src = side(&rule.source)?;
    let dst = side(&rule.destination)?;
    let ip_version = match rule.ip_version {
        Some(4) => Some(ir::IpVersion::V4),
        Some(6) => Some(ir::IpVersion::V6),
        _ => None,
    };
    let mut out = ir::Rule {
        action: rule.action.into(),
        ip_version,
        protocol: rule.protocol.as_ref().map(protocol_number).transpose()?,
        not_protocol: rule
            .not_protocol
            .as_ref()
            .map(protocol_number)
            .transpose()?,
        icmp: rule.icmp.as_ref().map(icmp).transpose()?.flatten(),
        not_icmp: rule.not_icmp.as_ref().map(icmp).transpose()?.flatten(),
        src,
        dst,
        http: rule.http.clone(),
        id: String::new(),
        index,
    };
    out.id = rule_id(&ctx, index, &out);
    ip_sets.sort();
    ip_sets.dedup();
    Ok(CompiledRule { rule: out, ip_sets })
}

/// Feeds `Hash` output into SHA-224, so that a rule's ID covers its whole content without
/// formatting it.
struct ShaHasher(Sha224);

impl std::hash::Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// A stable, opaque rule ID: a hash of the owner, direction, position and content.
fn rule_id(ctx: &RuleContext<'_>, index: usize, rule: &ir::Rule) -> String {
    use std::hash::Hash;
    let mut h = ShaHasher(Sha224::new());
    ctx.owner.hash(&mut h);
    ctx.direction.hash(&mut h);
    index.hash(&mut h);
    rule.hash(&mut h);
    let digest = h.0.finalize();
    let mut id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    id.truncate(16);
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_model::resources::{EntityRule, ServiceAccountMatch};

    fn er(sel: &str, ns_sel: &str, not_sel: &str) -> EntityRule {
        EntityRule {
            selector: sel.into(),
            namespace_selector: ns_sel.into(),
            not_selector: not_sel.into(),
            ..Default::default()
        }
    }

    #[test]
    fn entity_rule_selector_matches_calico() {
        // Global policy, plain selector: unchanged.
        assert_eq!(
            entity_rule_selector(&er("a == 'b'", "", ""), "").unwrap(),
            "a == 'b'"
        );
        // Namespaced policy: scoped to the namespace.
        assert_eq!(
            entity_rule_selector(&er("a == 'b'", "", ""), "ns1").unwrap(),
            "(projectcalico.org/namespace == 'ns1') && (a == 'b')"
        );
        // Only notSelector in a namespaced policy: the positive side is the namespace.
        assert_eq!(
            entity_rule_selector(&er("", "", "x == 'y'"), "ns1").unwrap(),
            "projectcalico.org/namespace == 'ns1'"
        );
        // Only nets in a namespaced policy: no endpoint restriction.
        assert_eq!(entity_rule_selector(&er("", "", ""), "ns1").unwrap(), "");
        // namespaceSelector: pcns-prefixed, all()/global() rewritten.
        assert_eq!(
            entity_rule_selector(&er("", "env == 'prod'", ""), "ns1").unwrap(),
            "pcns.env == \"prod\""
        );
        assert_eq!(
            entity_rule_selector(&er("", "all()", ""), "").unwrap(),
            "has(projectcalico.org/namespace)"
        );
        assert_eq!(
            entity_rule_selector(&er("app == 'x'", "global()", ""), "ns1").unwrap(),
            "(!has(projectcalico.org/namespace)) && (app == 'x')"
        );
        // Service accounts.
        let mut e = er("app == 'x'", "", "");
        e.service_accounts = Some(ServiceAccountMatch {
            names: vec!["b".into(), "a".into()],
            selector: "role == 'r'".into(),
        });
        assert_eq!(
            entity_rule_selector(&e, "ns1").unwrap(),
            "(projectcalico.org/namespace == 'ns1') && (((pcsa.role == \"r\") && (projectcalico.org/serviceaccount in {\"a\", \"b\"})) && (app == 'x'))"
        );
    }

    #[test]
    fn policy_selectors_match_calico() {
        let np = NetworkPolicySpec {
            selector: "app == 'x'".into(),
            ..Default::default()
        };
        assert_eq!(
            network_policy_selector(&np, "ns").unwrap().to_string(),
            "(app == \"x\" && projectcalico.org/namespace == \"ns\")"
        );
        let np = NetworkPolicySpec::default();
        assert_eq!(
            network_policy_selector(&np, "ns").unwrap().to_string(),
            "projectcalico.org/namespace == \"ns\""
        );
        let g = global_selector("all()", "env == 'prod'", "").unwrap();
        assert_eq!(
            g.to_string(),
            "(has(projectcalico.org/namespace) && pcns.env == \"prod\")"
        );
        let g = global_selector("", "all()", "").unwrap();
        assert_eq!(g.to_string(), "has(projectcalico.org/namespace)");
        let g = global_selector("role == 'db'", "", "all()").unwrap();
        assert_eq!(
            g.to_string(),
            "(role == \"db\" && has(projectcalico.org/serviceaccount))"
        );
    }

    #[test]
    fn named_ports_and_selector_sets() {
        let rule: calico_model::resources::Rule = serde_json::from_value(serde_json::json!({
            "action": "Allow", "protocol": "UDP",
            "destination": {"selector": "app == 'dns'", "ports": ["dns"], "notPorts": [5353]}
        }))
        .unwrap();
        let ctx = RuleContext {
            namespace: "",
            owner: "GlobalNetworkPolicy/p",
            direction: ir::Direction::Egress,
        };
        let c = compile_rule(&rule, 0, ctx).unwrap();
        // Only named ports on the positive side: the named-port set stands in for the selector.
        assert!(c.rule.dst.ip_sets.is_empty());
        assert_eq!(c.rule.dst.named_port_sets.len(), 1);
        assert_eq!(
            c.rule.dst.not_ports,
            vec![PortRange {
                min: 5353,
                max: 5353
            }]
        );
        assert!(c.rule.dst.named_port_sets[0].0.starts_with("n:"));
        let (_, spec) = &c.ip_sets[0];
        assert_eq!(
            *spec,
            IpSetSpec::NamedPort {
                selector: Selector::parse("app == 'dns'").unwrap(),
                protocol: 17,
                port_name: "dns".into()
            }
        );
    }

    #[test]
    fn not_selector_folds_into_positive() {
        let rule: calico_model::resources::Rule = serde_json::from_value(serde_json::json!({
            "action": "Allow", "source": {"selector": "a == 'b'", "notSelector": "c == 'd'"}
        }))
        .unwrap();
        let ctx = RuleContext {
            namespace: "",
            owner: "x",
            direction: ir::Direction::Ingress,
        };
        let c = compile_rule(&rule, 0, ctx).unwrap();
        assert_eq!(c.rule.src.ip_sets.len(), 1);
        assert!(c.rule.src.not_ip_sets.is_empty());
        let sel = c
            .ip_sets
            .iter()
            .find_map(|(_, s)| match s {
                IpSetSpec::Selector(s) => Some(s.to_string()),
                _ => None,
            })
            .unwrap();
        assert_eq!(sel, "(a == \"b\" && !c == \"d\")");
        // Without a positive selector the negation stays a separate set.
        let rule: calico_model::resources::Rule = serde_json::from_value(serde_json::json!({
            "action": "Allow", "source": {"notSelector": "c == 'd'"}
        }))
        .unwrap();
        let c = compile_rule(&rule, 0, ctx).unwrap();
        assert!(c.rule.src.ip_sets.is_empty());
        assert_eq!(c.rule.src.not_ip_sets.len(), 1);
    }

    #[test]
    fn unique_ids_follow_calico_scheme() {
        // Calico's selector ID is the same scheme with prefix "s".
        let all = Selector::all();
        assert_eq!(unique_id("s", &all.to_string()), all.unique_id());
    }
}
