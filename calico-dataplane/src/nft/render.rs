//! Rendering the desired state into an nftables ruleset (pure: no `nft`, no root).
//!
//! The result is a [`Ruleset`]: every chain, set and verdict map of the one `inet` table,
//! with each rule as libnftables-JSON statements. [`Ruleset::to_json`] turns it into a
//! complete `nft -j -f` document (what a dry run would program); the apply path diffs two
//! rulesets instead (see the `diff` module).
//!
//! # Layout
//! - Base chains (all `policy accept`): `filter-FORWARD`, `filter-INPUT`, `filter-OUTPUT`
//!   (priority 0), `mangle-PREROUTING` (−150, pre-DNAT policy), `raw-PREROUTING` and
//!   `raw-OUTPUT` (−300, untracked policy).
//! - Workload dispatch: `iifname`/`oifname` verdict maps (`cali-from-wl-map`,
//!   `cali-to-wl-map`) from interface to `goto cali-fw-<if>` / `goto cali-tw-<if>`, followed
//!   by an unconditional drop, so an unknown `cali*` interface passes nothing.
//! - Endpoint chains implement the tier order with two mark bits (accept, pass); policy and
//!   profile chains (`cali-pi-`/`cali-po-`/`cali-pri-`/`cali-pro-` + a stable hash) set them.
//! - Every rule carries the comment `cali:<hash of its statements>`; a resync compares these.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use calico_policy::ir::{
    Action, Direction, EndpointMatch, HostEndpoint, IpSetId, IpSetMember, IpSetType, IpVersion,
    Policy, PolicyId, PortRange, Profile, Rule, TierDefaultAction, TierInfo, WorkloadEndpoint,
    WorkloadEndpointId, proto,
};
use ipnet::IpNet;
use serde_json::{Value, json};

use super::{EndpointToHostAction, FailsafePort, NftOptions};
use crate::state::DesiredState;

/// Mark bit: a policy or profile accepted the packet.
pub const MARK_ACCEPT: u32 = 0x1_0000;
/// Mark bit: a policy passed the packet to the next tier.
pub const MARK_PASS: u32 = 0x2_0000;
/// Mark bit: untracked or pre-DNAT policy accepted the packet early (skips normal ingress
/// and forward host-endpoint policy).
pub const MARK_EARLY: u32 = 0x4_0000;
const MARK_ALL: u32 = MARK_ACCEPT | MARK_PASS | MARK_EARLY;

/// The prefix of every rule comment.
pub const RULE_HASH_PREFIX: &str = "cali:";

/// Hook of a base chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseHook {
    /// Chain type (`filter`).
    pub chain_type: &'static str,
    /// Netfilter hook.
    pub hook: &'static str,
    /// Priority.
    pub prio: i32,
}

/// One rule: its statements and the hash that names it.
#[derive(Clone, Debug, PartialEq)]
pub struct NftRule {
    /// libnftables-JSON statements, as JSON text (an array).
    pub expr: String,
    /// Stable hash of the statements (without [`RULE_HASH_PREFIX`]).
    pub hash: String,
}

impl NftRule {
    fn new(expr: Vec<Value>) -> Self {
        let text = Value::Array(expr).to_string();
        NftRule {
            hash: format!("{:016x}", fnv1a(text.as_bytes())),
            expr: text,
        }
    }

    /// The statements as JSON values.
    pub fn statements(&self) -> Vec<Value> {
        serde_json::from_str(&self.expr).unwrap_or_default()
    }

    /// The rule comment (`cali:<hash>`).
    pub fn comment(&self) -> String {
        format!("{RULE_HASH_PREFIX}{}", self.hash)
    }
}

/// One chain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NftChain {
    /// Set for base chains.
    pub base: Option<BaseHook>,
    /// Rules, in order.
    pub rules: Vec<NftRule>,
}

/// A named set or verdict map.
#[derive(Clone, Debug, PartialEq)]
pub struct NftSet {
    /// True for a verdict map (`type ifname : verdict`).
    pub is_map: bool,
    /// The key type (a string, or an array for a concatenation).
    pub key_type: Value,
    /// Flags (`interval`).
    pub flags: Vec<&'static str>,
    /// Elements by their canonical JSON text (for diffing).
    pub elements: BTreeMap<String, Value>,
}

impl NftSet {
    fn new(is_map: bool, key_type: Value, flags: Vec<&'static str>) -> Self {
        NftSet {
            is_map,
            key_type,
            flags,
            elements: BTreeMap::new(),
        }
    }

    fn insert(&mut self, elem: Value) {
        self.elements.insert(elem.to_string(), elem);
    }
}

/// The whole rendered table.
#[derive(Clone, Debug, PartialEq)]
pub struct Ruleset {
    /// Table name (family `inet`).
    pub table: String,
    /// Chains by name.
    pub chains: BTreeMap<String, Arc<NftChain>>,
    /// Sets and maps by name (they share one namespace in nft).
    pub sets: BTreeMap<String, Arc<NftSet>>,
}

impl Ruleset {
    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.chains.values().map(|c| c.rules.len()).sum()
    }

    /// A complete `nft -j -f` document creating this table from nothing (the table is
    /// added, deleted and added again, so it also replaces an existing one atomically).
    pub fn to_json(&self) -> Value {
        serde_json::from_str(&self.to_json_text()).unwrap_or(Value::Null)
    }

    /// [`Ruleset::to_json`] as text, without building the JSON tree (fast for large tables).
    pub fn to_json_text(&self) -> String {
        let table = json!({"family": "inet", "name": self.table});
        let mut cmds = vec![
            json!({"add": {"table": table}}).to_string(),
            json!({"delete": {"table": table}}).to_string(),
            json!({"add": {"table": table}}).to_string(),
        ];
        for (name, chain) in &self.chains {
            cmds.push(json!({"add": {"chain": chain_obj(&self.table, name, chain)}}).to_string());
        }
        for (name, set) in &self.sets {
            cmds.push(json!({"add": set_obj(&self.table, name, set)}).to_string());
            if !set.elements.is_empty() {
                let elems: Vec<&Value> = set.elements.values().collect();
                cmds.push(
                    json!({"add": {"element": elem_obj(&self.table, name, elems)}}).to_string(),
                );
            }
        }
        for (name, chain) in &self.chains {
            for rule in &chain.rules {
                cmds.push(add_rule_text(&self.table, name, rule));
            }
        }
        document_text(&cmds)
    }
}

/// `{"nftables": [<commands>]}` from command texts.
pub(crate) fn document_text(cmds: &[String]) -> String {
    let len = cmds.iter().map(|c| c.len() + 1).sum::<usize>() + 16;
    let mut out = String::with_capacity(len);
    out.push_str("{\"nftables\":[");
    for (i, c) in cmds.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(c);
    }
    out.push_str("]}");
    out
}

/// The text of an `add rule` command (the statements are spliced in as text).
pub(crate) fn add_rule_text(table: &str, chain: &str, rule: &NftRule) -> String {
    format!(
        r#"{{"add":{{"rule":{{"family":"inet","table":{},"chain":{},"expr":{},"comment":{}}}}}}}"#,
        Value::from(table),
        Value::from(chain),
        rule.expr,
        Value::from(rule.comment()),
    )
}

/// The JSON object of a chain (for `add chain`).
pub(crate) fn chain_obj(table: &str, name: &str, chain: &NftChain) -> Value {
    match &chain.base {
        Some(h) => json!({"family": "inet", "table": table, "name": name, "type": h.chain_type,
            "hook": h.hook, "prio": h.prio, "policy": "accept"}),
        None => json!({"family": "inet", "table": table, "name": name}),
    }
}

/// `{"set": …}` or `{"map": …}` declaring a set without elements.
pub(crate) fn set_obj(table: &str, name: &str, set: &NftSet) -> Value {
    let mut o = json!({"family": "inet", "table": table, "name": name, "type": set.key_type});
    if !set.flags.is_empty() {
        o["flags"] = json!(set.flags);
    }
    if set.is_map {
        o["map"] = json!("verdict");
        json!({ "map": o })
    } else {
        json!({ "set": o })
    }
}

/// The object of an `element` command.
pub(crate) fn elem_obj(table: &str, name: &str, elems: Vec<&Value>) -> Value {
    json!({"family": "inet", "table": table, "name": name, "elem": elems})
}

/// FNV-1a, 64 bit: a small stable hash (names must not change across releases or runs).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn short_hash(s: &str) -> String {
    format!("{:016x}", fnv1a(s.as_bytes()))
}

/// Name of the nft set holding one family's members of an IR IP set.
pub fn set_name(id: &IpSetId, set_type: IpSetType, family: IpVersion) -> String {
    let f = match family {
        IpVersion::V4 => '4',
        IpVersion::V6 => '6',
    };
    let k = match set_type {
        IpSetType::Net => 's',
        IpSetType::IpAndPort => 'n',
    };
    format!("cali{f}{k}-{}", short_hash(&id.0))
}

/// Name of a policy's chain for one direction.
pub fn policy_chain(id: &PolicyId, direction: Direction) -> String {
    let d = match direction {
        Direction::Ingress => "pi",
        Direction::Egress => "po",
    };
    format!("cali-{d}-{}", short_hash(&id.to_string()))
}

/// Name of a profile's chain for one direction.
pub fn profile_chain(name: &str, direction: Direction) -> String {
    let d = match direction {
        Direction::Ingress => "pri",
        Direction::Egress => "pro",
    };
    format!("cali-{d}-{}", short_hash(name))
}

/// Name of a workload's chain: `cali-tw-<if>` (ingress) or `cali-fw-<if>` (egress).
pub fn workload_chain(interface: &str, direction: Direction) -> String {
    match direction {
        Direction::Ingress => format!("cali-tw-{interface}"),
        Direction::Egress => format!("cali-fw-{interface}"),
    }
}

// ---------------------------------------------------------------------------------------
// Expression helpers.

fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}

fn payload(protocol: &str, field: &str) -> Value {
    json!({"payload": {"protocol": protocol, "field": field}})
}

fn m(op: &str, left: Value, right: Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}

fn mark_bits(bits: u32, set: bool) -> Value {
    m(
        if set { "!=" } else { "==" },
        json!({"&": [meta("mark"), bits]}),
        json!(0),
    )
}

fn mark_or(bits: u32) -> Value {
    json!({"mangle": {"key": meta("mark"), "value": {"|": [meta("mark"), bits]}}})
}

fn mark_clear(bits: u32) -> Value {
    json!({"mangle": {"key": meta("mark"), "value": {"&": [meta("mark"), !bits]}}})
}

fn verdict(v: &str) -> Value {
    json!({ v: null })
}

fn jump(target: &str) -> Value {
    json!({"jump": {"target": target}})
}

fn goto(target: &str) -> Value {
    json!({"goto": {"target": target}})
}

fn nfproto(family: IpVersion) -> Value {
    m("==", meta("nfproto"), json!(family_name(family)))
}

fn family_name(family: IpVersion) -> &'static str {
    match family {
        IpVersion::V4 => "ipv4",
        IpVersion::V6 => "ipv6",
    }
}

fn addr_payload(family: IpVersion, field: &str) -> Value {
    payload(
        match family {
            IpVersion::V4 => "ip",
            IpVersion::V6 => "ip6",
        },
        field,
    )
}

fn proto_value(p: u8) -> Value {
    match p {
        proto::TCP => json!("tcp"),
        proto::UDP => json!("udp"),
        proto::SCTP => json!("sctp"),
        other => json!(other),
    }
}

fn ported_protocols() -> Value {
    json!({"set": ["tcp", "udp", "sctp", "udplite"]})
}

// ---------------------------------------------------------------------------------------
// Intervals: nft interval sets (and anonymous sets) reject overlapping elements, so
// networks and port ranges are merged first.

fn merge(mut ranges: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    ranges.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn net_range(net: &IpNet) -> (u128, u128) {
    match net {
        IpNet::V4(n) => (
            u128::from(u32::from(n.network())),
            u128::from(u32::from(n.broadcast())),
        ),
        IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
    }
}

fn addr_text(family: IpVersion, v: u128) -> String {
    match family {
        IpVersion::V4 => std::net::Ipv4Addr::from(v as u32).to_string(),
        IpVersion::V6 => std::net::Ipv6Addr::from(v).to_string(),
    }
}

/// Canonical nft elements for merged address ranges: a single address as a string, an
/// exact prefix as `prefix`, anything else as `range` (this is how `nft -j list` shows them).
fn interval_elems(family: IpVersion, nets: &[IpNet]) -> Vec<Value> {
    let bits = match family {
        IpVersion::V4 => 32u32,
        IpVersion::V6 => 128,
    };
    let ranges = merge(
        nets.iter()
            .filter(|n| IpVersion::of_net(n) == family)
            .map(net_range)
            .collect(),
    );
    ranges
        .into_iter()
        .map(|(lo, hi)| {
            if lo == hi {
                return json!(addr_text(family, lo));
            }
            let size = hi - lo;
            // An exact prefix: size+1 is a power of two and lo is aligned to it.
            if size.checked_add(1).is_some_and(|s| s.is_power_of_two()) && lo & size == 0
                || (lo == 0 && size == u128::MAX)
            {
                let host_bits = if size == u128::MAX {
                    128
                } else {
                    (size + 1).trailing_zeros()
                };
                if host_bits <= bits {
                    return json!({"prefix": {"addr": addr_text(family, lo), "len": bits - host_bits}});
                }
            }
            json!({"range": [addr_text(family, lo), addr_text(family, hi)]})
        })
        .collect()
}

fn port_elems(ports: &[PortRange]) -> Vec<Value> {
    merge(
        ports
            .iter()
            .map(|p| (u128::from(p.min), u128::from(p.max)))
            .collect(),
    )
    .into_iter()
    .map(|(lo, hi)| {
        if lo == hi {
            json!(lo as u16)
        } else {
            json!({"range": [lo as u16, hi as u16]})
        }
    })
    .collect()
}

/// `left op element` for one element, `left op {set}` for several.
fn set_match(op: &str, left: Value, mut elems: Vec<Value>) -> Value {
    if elems.len() == 1 {
        m(op, left, elems.remove(0))
    } else {
        m(op, left, json!({ "set": elems }))
    }
}

// ---------------------------------------------------------------------------------------
// Rules.

/// The matches of one IR rule, as alternatives (their OR): each is a list of ANDed matches.
fn rule_alternatives(rule: &Rule, has: &dyn Fn(&IpSetId, IpVersion) -> bool) -> Vec<Vec<Value>> {
    let agnostic = rule.ip_version.is_none()
        && rule.ip_set_ids().next().is_none()
        && [&rule.src, &rule.dst]
            .iter()
            .all(|s| s.nets.is_empty() && s.not_nets.is_empty())
        && rule.icmp.is_none()
        && rule.not_icmp.is_none()
        && !matches!(rule.protocol, Some(proto::ICMP | proto::ICMPV6));
    let mut out = Vec::new();
    if agnostic {
        out.extend(family_alternatives(rule, None, has));
    } else {
        for family in [IpVersion::V4, IpVersion::V6] {
            if let Some(r) = rule.for_family(family) {
                out.extend(family_alternatives(&r, Some(family), has));
            }
        }
    }
    out
}

/// The alternatives for one family (`None`: a rule that does not depend on the family).
/// A family in which a set the rule requires has no members cannot match: no alternatives.
fn family_alternatives(
    rule: &Rule,
    family: Option<IpVersion>,
    has: &dyn Fn(&IpSetId, IpVersion) -> bool,
) -> Vec<Vec<Value>> {
    if let Some(f) = family
        && [&rule.src, &rule.dst]
            .iter()
            .any(|side| side.ip_sets.iter().any(|s| !has(s, f)))
    {
        return Vec::new();
    }
    let mut all: Vec<Value> = Vec::new();
    // Each group is a list of alternatives; the rule is the cross product.
    let mut groups: Vec<Vec<Vec<Value>>> = Vec::new();
    if let Some(f) = family {
        all.push(nfproto(f));
    }
    if let Some(p) = rule.protocol {
        all.push(m("==", meta("l4proto"), proto_value(p)));
    }
    if let Some(p) = rule.not_protocol {
        all.push(m("!=", meta("l4proto"), proto_value(p)));
    }
    let icmp_proto = match family {
        Some(IpVersion::V6) => "icmpv6",
        _ => "icmp",
    };
    if let Some(i) = &rule.icmp {
        all.push(m("==", payload(icmp_proto, "type"), json!(i.icmp_type)));
        if let Some(c) = i.code {
            all.push(m("==", payload(icmp_proto, "code"), json!(c)));
        }
    }
    if let Some(i) = &rule.not_icmp {
        match i.code {
            None => all.push(m("!=", payload(icmp_proto, "type"), json!(i.icmp_type))),
            Some(c) => groups.push(vec![
                vec![m("!=", payload(icmp_proto, "type"), json!(i.icmp_type))],
                vec![
                    m("==", payload(icmp_proto, "type"), json!(i.icmp_type)),
                    m("!=", payload(icmp_proto, "code"), json!(c)),
                ],
            ]),
        }
    }
    let ported = rule
        .protocol
        .is_some_and(|p| matches!(p, proto::TCP | proto::UDP | proto::SCTP | proto::UDPLITE));
    for (side, addr, port) in [(&rule.src, "saddr", "sport"), (&rule.dst, "daddr", "dport")] {
        if !side_matches(side, family, addr, port, ported, has, &mut all, &mut groups) {
            return Vec::new();
        }
    }
    let mut out = vec![all];
    for group in groups {
        let mut next = Vec::with_capacity(out.len() * group.len());
        for base in &out {
            for alt in &group {
                let mut v = base.clone();
                v.extend(alt.iter().cloned());
                next.push(v);
            }
        }
        out = next;
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn side_matches(
    side: &EndpointMatch,
    family: Option<IpVersion>,
    addr: &str,
    port: &str,
    ported: bool,
    has: &dyn Fn(&IpSetId, IpVersion) -> bool,
    all: &mut Vec<Value>,
    groups: &mut Vec<Vec<Vec<Value>>>,
) -> bool {
    if let Some(f) = family {
        let a = addr_payload(f, addr);
        if !side.nets.is_empty() {
            all.push(set_match("==", a.clone(), interval_elems(f, &side.nets)));
        }
        if !side.not_nets.is_empty() {
            all.push(set_match(
                "!=",
                a.clone(),
                interval_elems(f, &side.not_nets),
            ));
        }
        for s in &side.ip_sets {
            all.push(m(
                "==",
                a.clone(),
                json!(format!("@{}", set_name(s, IpSetType::Net, f))),
            ));
        }
        for s in &side.not_ip_sets {
            all.push(m(
                "!=",
                a.clone(),
                json!(format!("@{}", set_name(s, IpSetType::Net, f))),
            ));
        }
    }
    let concat = |f: IpVersion| json!({"concat": [addr_payload(f, addr), meta("l4proto"), payload("th", port)]});
    let wants_ports = !side.ports.is_empty() || !side.named_port_sets.is_empty();
    let wants_not = !side.not_ports.is_empty() || !side.not_named_port_sets.is_empty();
    if (wants_ports || wants_not) && !ported {
        all.push(m("==", meta("l4proto"), ported_protocols()));
    }
    if wants_ports {
        let mut alts = Vec::new();
        if !side.ports.is_empty() {
            alts.push(vec![set_match(
                "==",
                payload("th", port),
                port_elems(&side.ports),
            )]);
        }
        if let Some(f) = family {
            for s in side.named_port_sets.iter().filter(|s| has(s, f)) {
                alts.push(vec![m(
                    "==",
                    concat(f),
                    json!(format!("@{}", set_name(s, IpSetType::IpAndPort, f))),
                )]);
            }
        }
        match alts.len() {
            // Only empty named-port sets: nothing can match.
            0 => return false,
            1 => all.extend(alts.remove(0)),
            _ => groups.push(alts),
        }
    }
    if !side.not_ports.is_empty() {
        all.push(set_match(
            "!=",
            payload("th", port),
            port_elems(&side.not_ports),
        ));
    }
    if let Some(f) = family {
        for s in &side.not_named_port_sets {
            all.push(m(
                "!=",
                concat(f),
                json!(format!("@{}", set_name(s, IpSetType::IpAndPort, f))),
            ));
        }
    }
    true
}

fn action_stmts(action: Action, log_prefix: &str) -> Vec<Value> {
    match action {
        Action::Allow => vec![mark_or(MARK_ACCEPT), verdict("return")],
        Action::Pass => vec![mark_or(MARK_PASS), verdict("return")],
        Action::Deny => vec![verdict("drop")],
        Action::Log => vec![json!({"log": {"prefix": format!("{log_prefix}: ")}})],
    }
}

fn rules_chain(
    rules: &[Rule],
    log_prefix: &str,
    has: &dyn Fn(&IpSetId, IpVersion) -> bool,
) -> NftChain {
    let mut chain = NftChain::default();
    for rule in rules {
        for mut alt in rule_alternatives(rule, has) {
            alt.extend(action_stmts(rule.action, log_prefix));
            chain.rules.push(NftRule::new(alt));
        }
    }
    chain
}

// ---------------------------------------------------------------------------------------
// Endpoint chains.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Tiers, profiles, drop.
    Normal,
    /// Tiers (end-of-tier drop), then allowed.
    Forward,
    /// Untracked: tiers act as Pass; an accept also skips conntrack.
    Untracked,
    /// Pre-DNAT: tiers act as Pass.
    PreDnat,
}

fn tier_rules(
    state: &DesiredState,
    tiers: &[TierInfo],
    profiles: &[String],
    direction: Direction,
    kind: Kind,
    out: &mut Vec<NftRule>,
) {
    out.push(NftRule::new(vec![mark_clear(MARK_ACCEPT | MARK_PASS)]));
    let on_accept: Vec<Value> = match (kind, direction) {
        (Kind::Untracked, Direction::Ingress) => vec![
            mark_bits(MARK_ACCEPT, true),
            json!({"notrack": null}),
            mark_or(MARK_EARLY),
            verdict("return"),
        ],
        (Kind::Untracked, Direction::Egress) => vec![
            mark_bits(MARK_ACCEPT, true),
            json!({"notrack": null}),
            verdict("return"),
        ],
        (Kind::PreDnat, _) => vec![
            mark_bits(MARK_ACCEPT, true),
            mark_or(MARK_EARLY),
            verdict("return"),
        ],
        _ => vec![mark_bits(MARK_ACCEPT, true), verdict("return")],
    };
    for tier in tiers {
        let ids = tier.policies(direction);
        if ids.is_empty() {
            continue;
        }
        out.push(NftRule::new(vec![mark_clear(MARK_PASS)]));
        for id in ids {
            if state.policies.contains_key(id) {
                out.push(NftRule::new(vec![
                    mark_bits(MARK_PASS, false),
                    jump(&policy_chain(id, direction)),
                ]));
                out.push(NftRule::new(on_accept.clone()));
            } else {
                // The stream contract forbids this; fail closed as the evaluator does.
                out.push(NftRule::new(vec![
                    mark_bits(MARK_PASS, false),
                    verdict("drop"),
                ]));
            }
        }
        let early = matches!(kind, Kind::Untracked | Kind::PreDnat);
        if !early && tier.default_action == TierDefaultAction::Deny {
            out.push(NftRule::new(vec![
                mark_bits(MARK_PASS, false),
                verdict("drop"),
            ]));
        }
    }
    match kind {
        Kind::Normal => {
            for name in profiles {
                if state.profiles.contains_key(name) {
                    out.push(NftRule::new(vec![jump(&profile_chain(name, direction))]));
                    out.push(NftRule::new(vec![
                        mark_bits(MARK_ACCEPT, true),
                        verdict("return"),
                    ]));
                } else {
                    out.push(NftRule::new(vec![verdict("drop")]));
                }
            }
            out.push(NftRule::new(vec![verdict("drop")]));
        }
        Kind::Forward | Kind::Untracked | Kind::PreDnat => {
            out.push(NftRule::new(vec![verdict("return")]));
        }
    }
}

fn failsafe_rules(ports: &[FailsafePort], direction: Direction, out: &mut Vec<NftRule>) {
    let remote = match direction {
        Direction::Ingress => "saddr",
        Direction::Egress => "daddr",
    };
    for fp in ports {
        let mut expr = Vec::new();
        if let Some(net) = &fp.net {
            let f = IpVersion::of_net(net);
            expr.push(nfproto(f));
            expr.push(set_match(
                "==",
                addr_payload(f, remote),
                interval_elems(f, std::slice::from_ref(net)),
            ));
        }
        expr.push(m("==", meta("l4proto"), proto_value(fp.protocol)));
        expr.push(m("==", payload("th", "dport"), json!(fp.port)));
        expr.push(verdict("return"));
        out.push(NftRule::new(expr));
    }
}

fn hep_suffix(h: &HostEndpoint) -> String {
    if h.interface_name == "*" {
        "any".to_owned()
    } else {
        h.interface_name.clone()
    }
}

fn base(chain_type: &'static str, hook: &'static str, prio: i32, rules: Vec<NftRule>) -> NftChain {
    NftChain {
        base: Some(BaseHook {
            chain_type,
            hook,
            prio,
        }),
        rules,
    }
}

fn rule(expr: Vec<Value>) -> NftRule {
    NftRule::new(expr)
}

/// Rendered policy and profile chains kept between renders, so that an incremental apply
/// re-renders only what changed.
#[derive(Debug, Default)]
pub struct RenderCache {
    policies: HashMap<PolicyId, Cached<Policy>>,
    profiles: HashMap<String, Cached<Profile>>,
    /// Workload chains, with which of the endpoint's policies and profiles existed.
    endpoints: HashMap<WorkloadEndpointId, CachedEndpoint>,
    /// Rendered IP sets by ID.
    sets: HashMap<IpSetId, CachedSet>,
}

/// A workload, which of its policies and profiles existed, and its two chains.
type CachedEndpoint = (WorkloadEndpoint, Vec<bool>, [Arc<NftChain>; 2]);
/// An IR set and its per-family nft sets.
type CachedSet = (crate::state::IpSet, Vec<(String, Arc<NftSet>)>);

#[derive(Debug)]
struct Cached<T> {
    source: T,
    /// Which families of each referenced set have members (rendering depends on it).
    flags: Vec<bool>,
    log_prefix: String,
    chains: [Arc<NftChain>; 2],
}

fn set_flags<'a>(
    rules: impl Iterator<Item = &'a Rule>,
    has: &dyn Fn(&IpSetId, IpVersion) -> bool,
) -> Vec<bool> {
    rules
        .flat_map(|r| r.ip_set_ids())
        .flat_map(|s| [has(s, IpVersion::V4), has(s, IpVersion::V6)])
        .collect()
}

fn cached_chains<K, T>(
    cache: &mut HashMap<K, Cached<T>>,
    key: &K,
    source: &T,
    rules: impl Fn(&T, Direction) -> &[Rule],
    log_prefix: &str,
    has: &dyn Fn(&IpSetId, IpVersion) -> bool,
) -> [Arc<NftChain>; 2]
where
    K: std::hash::Hash + Eq + Clone,
    T: Clone + PartialEq,
{
    let flags = set_flags(
        rules(source, Direction::Ingress)
            .iter()
            .chain(rules(source, Direction::Egress)),
        has,
    );
    if let Some(c) = cache.get(key)
        && c.source == *source
        && c.flags == flags
        && c.log_prefix == log_prefix
    {
        return c.chains.clone();
    }
    let chains = [
        Arc::new(rules_chain(
            rules(source, Direction::Ingress),
            log_prefix,
            has,
        )),
        Arc::new(rules_chain(
            rules(source, Direction::Egress),
            log_prefix,
            has,
        )),
    ];
    cache.insert(
        key.clone(),
        Cached {
            source: source.clone(),
            flags,
            log_prefix: log_prefix.to_owned(),
            chains: chains.clone(),
        },
    );
    chains
}

/// The nft sets (one per family) of one IR IP set.
fn render_set(id: &IpSetId, set: &crate::state::IpSet) -> Vec<(String, Arc<NftSet>)> {
    let mut out = Vec::with_capacity(2);
    for family in [IpVersion::V4, IpVersion::V6] {
        let (addr_type, name) = (
            match family {
                IpVersion::V4 => "ipv4_addr",
                IpVersion::V6 => "ipv6_addr",
            },
            set_name(id, set.set_type, family),
        );
        let mut s = match set.set_type {
            IpSetType::Net => NftSet::new(false, json!(addr_type), vec!["interval"]),
            IpSetType::IpAndPort => NftSet::new(
                false,
                json!([addr_type, "inet_proto", "inet_service"]),
                vec![],
            ),
        };
        let nets: Vec<IpNet> = set
            .members
            .iter()
            .filter_map(|mm| match mm {
                IpSetMember::Net(n) => Some(*n),
                IpSetMember::IpPort { .. } => None,
            })
            .collect();
        for e in interval_elems(family, &nets) {
            if set.set_type == IpSetType::Net {
                s.insert(e);
            }
        }
        if set.set_type == IpSetType::IpAndPort {
            for mm in &set.members {
                if let IpSetMember::IpPort { ip, protocol, port } = mm
                    && IpVersion::of(ip) == family
                {
                    s.insert(json!({"concat": [ip.to_string(), proto_value(*protocol), port]}));
                }
            }
        }
        out.push((name, Arc::new(s)));
    }
    out
}

/// A workload's egress (`cali-fw-`) and ingress (`cali-tw-`) chains.
fn workload_chains(state: &DesiredState, w: &WorkloadEndpoint) -> [Arc<NftChain>; 2] {
    // Egress: anti-spoofing first.
    let mut rules = Vec::new();
    for family in [IpVersion::V4, IpVersion::V6] {
        let own: Vec<IpNet> = w
            .nets()
            .chain(&w.allow_spoofed_source_prefixes)
            .filter(|n| IpVersion::of_net(n) == family)
            .copied()
            .collect();
        let mut expr = vec![nfproto(family)];
        if !own.is_empty() {
            expr.push(set_match(
                "!=",
                addr_payload(family, "saddr"),
                interval_elems(family, &own),
            ));
        }
        expr.push(verdict("drop"));
        rules.push(rule(expr));
    }
    tier_rules(
        state,
        &w.tiers,
        &w.profile_ids,
        Direction::Egress,
        Kind::Normal,
        &mut rules,
    );
    let fw = NftChain { base: None, rules };
    let mut rules = Vec::new();
    tier_rules(
        state,
        &w.tiers,
        &w.profile_ids,
        Direction::Ingress,
        Kind::Normal,
        &mut rules,
    );
    [Arc::new(fw), Arc::new(NftChain { base: None, rules })]
}

/// Renders the desired state into the table's full contents.
pub fn render(state: &DesiredState, opts: &NftOptions) -> Ruleset {
    render_cached(state, opts, &mut RenderCache::default())
}

/// [`render`], reusing (and refreshing) the policy and profile chains in `cache`.
pub fn render_cached(state: &DesiredState, opts: &NftOptions, cache: &mut RenderCache) -> Ruleset {
    let nonempty: HashSet<(&IpSetId, IpVersion)> = state
        .ip_sets
        .iter()
        .flat_map(|(id, set)| set.members.iter().map(move |m| (id, m.family())))
        .collect();
    let has = |id: &IpSetId, f: IpVersion| nonempty.contains(&(id, f));
    let mut chains: BTreeMap<String, Arc<NftChain>> = BTreeMap::new();
    let mut sets: BTreeMap<String, Arc<NftSet>> = BTreeMap::new();
    let wl = json!(format!("{}*", opts.workload_iface_prefix));
    let iif = || meta("iifname");
    let oif = || meta("oifname");
    let established = || {
        rule(vec![
            m(
                "in",
                json!({"ct": {"key": "state"}}),
                json!(["established", "related"]),
            ),
            verdict("accept"),
        ])
    };
    let invalid = || {
        rule(vec![
            m("in", json!({"ct": {"key": "state"}}), json!(["invalid"])),
            verdict("drop"),
        ])
    };

    // IP sets: one nft set per family.
    for (id, set) in &state.ip_sets {
        let rendered = match cache.sets.get(id) {
            Some((src, r)) if src == set => r.clone(),
            _ => {
                let r = render_set(id, set);
                cache.sets.insert(id.clone(), (set.clone(), r.clone()));
                r
            }
        };
        sets.extend(rendered);
    }

    // Policies and profiles.
    cache
        .policies
        .retain(|id, _| state.policies.contains_key(id));
    cache
        .profiles
        .retain(|name, _| state.profiles.contains_key(name));
    cache
        .endpoints
        .retain(|id, _| state.workload_endpoints.contains_key(id));
    cache.sets.retain(|id, _| state.ip_sets.contains_key(id));
    for (id, p) in &state.policies {
        let [i, e] = cached_chains(
            &mut cache.policies,
            id,
            p,
            Policy::rules,
            &opts.log_prefix,
            &has,
        );
        chains.insert(policy_chain(id, Direction::Ingress), i);
        chains.insert(policy_chain(id, Direction::Egress), e);
    }
    for (name, p) in &state.profiles {
        let [i, e] = cached_chains(
            &mut cache.profiles,
            name,
            p,
            Profile::rules,
            &opts.log_prefix,
            &has,
        );
        chains.insert(profile_chain(name, Direction::Ingress), i);
        chains.insert(profile_chain(name, Direction::Egress), e);
    }

    // Workloads and their dispatch maps.
    let mut from_map = NftSet::new(true, json!("ifname"), vec![]);
    let mut to_map = NftSet::new(true, json!("ifname"), vec![]);
    for w in state.workload_endpoints.values() {
        let iface = &w.interface_name;
        let fw = workload_chain(iface, Direction::Egress);
        let tw = workload_chain(iface, Direction::Ingress);
        let flags: Vec<bool> = w
            .tiers
            .iter()
            .flat_map(|t| t.ingress_policies.iter().chain(&t.egress_policies))
            .map(|p| state.policies.contains_key(p))
            .chain(w.profile_ids.iter().map(|p| state.profiles.contains_key(p)))
            .collect();
        let [fw_chain, tw_chain] = match cache.endpoints.get(&w.id) {
            Some((src, f, c)) if src == w && *f == flags => c.clone(),
            _ => {
                let c = workload_chains(state, w);
                cache
                    .endpoints
                    .insert(w.id.clone(), (w.clone(), flags, c.clone()));
                c
            }
        };
        chains.insert(fw.clone(), fw_chain);
        chains.insert(tw.clone(), tw_chain);
        from_map.insert(json!([iface, goto(&fw)]));
        to_map.insert(json!([iface, goto(&tw)]));
    }
    sets.insert("cali-from-wl-map".into(), Arc::new(from_map));
    sets.insert("cali-to-wl-map".into(), Arc::new(to_map));
    let mut plain: BTreeMap<String, NftChain> = BTreeMap::new();
    plain.insert(
        "cali-from-wl-dispatch".into(),
        NftChain {
            base: None,
            rules: vec![
                rule(vec![
                    json!({"vmap": {"key": iif(), "data": "@cali-from-wl-map"}}),
                ]),
                rule(vec![verdict("drop")]),
            ],
        },
    );
    plain.insert(
        "cali-to-wl-dispatch".into(),
        NftChain {
            base: None,
            rules: vec![
                rule(vec![
                    json!({"vmap": {"key": oif(), "data": "@cali-to-wl-map"}}),
                ]),
                rule(vec![verdict("drop")]),
            ],
        },
    );

    // Host endpoints.
    let mut hep_dispatch: BTreeMap<&str, Vec<NftRule>> = BTreeMap::new();
    let mut heps: Vec<&HostEndpoint> = state
        .host_endpoints
        .values()
        .filter(|h| {
            if h.interface_name.is_empty() {
                tracing::warn!(
                    host_endpoint = %h.id,
                    "host endpoint without interfaceName is not programmed (address lookup is not supported)"
                );
            }
            !h.interface_name.is_empty()
        })
        .collect();
    // Named interfaces first, the all-interfaces endpoint last.
    heps.sort_by_key(|h| (h.interface_name == "*", h.interface_name.clone()));
    for h in heps {
        let sfx = hep_suffix(h);
        let specs: [(&str, &str, Direction, Kind, &[TierInfo]); 7] = [
            (
                "cali-fh-",
                "cali-from-host-endpoint",
                Direction::Ingress,
                Kind::Normal,
                &h.tiers,
            ),
            (
                "cali-th-",
                "cali-to-host-endpoint",
                Direction::Egress,
                Kind::Normal,
                &h.tiers,
            ),
            (
                "cali-raw-fh-",
                "cali-raw-from-hep",
                Direction::Ingress,
                Kind::Untracked,
                &h.untracked_tiers,
            ),
            (
                "cali-raw-th-",
                "cali-raw-to-hep",
                Direction::Egress,
                Kind::Untracked,
                &h.untracked_tiers,
            ),
            (
                "cali-pre-fh-",
                "cali-pre-from-hep",
                Direction::Ingress,
                Kind::PreDnat,
                &h.pre_dnat_tiers,
            ),
            (
                "cali-fhfw-",
                "cali-from-hep-forward",
                Direction::Ingress,
                Kind::Forward,
                &h.forward_tiers,
            ),
            (
                "cali-thfw-",
                "cali-to-hep-forward",
                Direction::Egress,
                Kind::Forward,
                &h.forward_tiers,
            ),
        ];
        for (prefix, dispatch, direction, kind, tiers) in specs {
            let name = format!("{prefix}{sfx}");
            let mut rules = Vec::new();
            match kind {
                Kind::Normal | Kind::Untracked | Kind::PreDnat => {
                    let ports = match direction {
                        Direction::Ingress => &opts.failsafe_inbound,
                        Direction::Egress => &opts.failsafe_outbound,
                    };
                    failsafe_rules(ports, direction, &mut rules);
                }
                Kind::Forward => {
                    if direction == Direction::Ingress {
                        rules.push(rule(vec![mark_bits(MARK_EARLY, true), verdict("return")]));
                    }
                }
            }
            let profiles: &[String] = if kind == Kind::Normal {
                &h.profile_ids
            } else {
                &[]
            };
            if kind == Kind::Forward && tiers.iter().all(|t| t.policies(direction).is_empty()) {
                rules.push(rule(vec![verdict("return")]));
            } else {
                tier_rules(state, tiers, profiles, direction, kind, &mut rules);
            }
            plain.insert(name.clone(), NftChain { base: None, rules });
            let key = match direction {
                Direction::Ingress => iif(),
                Direction::Egress => oif(),
            };
            let mut expr = Vec::new();
            if h.interface_name == "*" {
                // The all-interfaces endpoint covers every interface but loopback (local
                // processes talking to each other). Workload interfaces never reach these
                // dispatch chains, except workload-to-host traffic that
                // defaultEndpointToHostAction=Return hands back to INPUT processing: that is
                // policed by this endpoint, as the evaluator specifies.
                expr.push(m("!=", key, json!("lo")));
            } else {
                expr.push(m("==", key, json!(h.interface_name)));
            }
            expr.push(goto(&name));
            hep_dispatch.entry(dispatch).or_default().push(rule(expr));
        }
    }
    for dispatch in [
        "cali-from-host-endpoint",
        "cali-to-host-endpoint",
        "cali-raw-from-hep",
        "cali-raw-to-hep",
        "cali-pre-from-hep",
        "cali-from-hep-forward",
        "cali-to-hep-forward",
    ] {
        let rules = hep_dispatch.remove(dispatch).unwrap_or_default();
        plain.insert(dispatch.into(), NftChain { base: None, rules });
    }

    // Workload to host.
    let mut wl_to_host = vec![
        rule(vec![
            nfproto(IpVersion::V4),
            m("==", meta("l4proto"), json!("udp")),
            m("==", payload("udp", "sport"), json!(68)),
            m("==", payload("udp", "dport"), json!(67)),
            verdict("accept"),
        ]),
        rule(vec![
            nfproto(IpVersion::V6),
            m("==", meta("l4proto"), json!("udp")),
            m("==", payload("udp", "sport"), json!(546)),
            m("==", payload("udp", "dport"), json!(547)),
            verdict("accept"),
        ]),
        rule(vec![jump("cali-from-wl-dispatch")]),
    ];
    wl_to_host.push(rule(vec![verdict(
        match opts.default_endpoint_to_host_action {
            EndpointToHostAction::Drop => "drop",
            EndpointToHostAction::Accept => "accept",
            EndpointToHostAction::Return => "return",
        },
    )]));
    plain.insert(
        "cali-wl-to-host".into(),
        NftChain {
            base: None,
            rules: wl_to_host,
        },
    );

    // Base chains.
    plain.insert(
        "filter-FORWARD".into(),
        base(
            "filter",
            "forward",
            0,
            vec![
                established(),
                invalid(),
                // Host endpoint forward policy (applyOnForward) for traffic arriving on a
                // host interface, then the workloads' policy, then host endpoint forward
                // policy for traffic leaving through a host interface.
                rule(vec![
                    m("!=", iif(), wl.clone()),
                    jump("cali-from-hep-forward"),
                ]),
                rule(vec![
                    m("==", iif(), wl.clone()),
                    jump("cali-from-wl-dispatch"),
                ]),
                rule(vec![
                    m("==", oif(), wl.clone()),
                    jump("cali-to-wl-dispatch"),
                ]),
                rule(vec![
                    m("!=", oif(), wl.clone()),
                    jump("cali-to-hep-forward"),
                ]),
            ],
        ),
    );
    plain.insert(
        "filter-INPUT".into(),
        base(
            "filter",
            "input",
            0,
            vec![
                established(),
                invalid(),
                rule(vec![mark_bits(MARK_EARLY, true), verdict("accept")]),
                rule(vec![
                    m("==", iif(), wl.clone()),
                    nfproto(IpVersion::V6),
                    m("==", meta("l4proto"), json!("ipv6-icmp")),
                    m(
                        "==",
                        payload("icmpv6", "type"),
                        json!({"set": [133, 134, 135, 136]}),
                    ),
                    verdict("accept"),
                ]),
                // A jump, not a goto: defaultEndpointToHostAction=Return continues here, with
                // the host endpoint dispatch below.
                rule(vec![m("==", iif(), wl.clone()), jump("cali-wl-to-host")]),
                rule(vec![jump("cali-from-host-endpoint")]),
            ],
        ),
    );
    plain.insert(
        "filter-OUTPUT".into(),
        base(
            "filter",
            "output",
            0,
            vec![
                established(),
                invalid(),
                rule(vec![m("==", oif(), wl.clone()), verdict("accept")]),
                rule(vec![jump("cali-to-host-endpoint")]),
            ],
        ),
    );
    plain.insert(
        "raw-PREROUTING".into(),
        base(
            "filter",
            "prerouting",
            -300,
            vec![
                rule(vec![mark_clear(MARK_ALL)]),
                rule(vec![m("==", iif(), wl.clone()), verdict("return")]),
                rule(vec![jump("cali-raw-from-hep")]),
            ],
        ),
    );
    plain.insert(
        "raw-OUTPUT".into(),
        base(
            "filter",
            "output",
            -300,
            vec![
                rule(vec![mark_clear(MARK_ALL)]),
                rule(vec![m("==", oif(), wl.clone()), verdict("return")]),
                rule(vec![jump("cali-raw-to-hep")]),
            ],
        ),
    );
    plain.insert(
        "mangle-PREROUTING".into(),
        base(
            "filter",
            "prerouting",
            -150,
            vec![
                rule(vec![m("==", iif(), wl), verdict("return")]),
                rule(vec![jump("cali-pre-from-hep")]),
            ],
        ),
    );

    chains.extend(plain.into_iter().map(|(n, c)| (n, Arc::new(c))));
    Ruleset {
        table: opts.table.clone(),
        chains,
        sets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn overlapping_networks_are_merged_into_canonical_elements() {
        let e = interval_elems(
            IpVersion::V4,
            &nets(&[
                "10.0.0.0/24",
                "10.0.0.5/32",
                "10.0.1.0/24",
                "10.0.3.1/32",
                "10.0.3.2/31",
            ]),
        );
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"[{"prefix":{"addr":"10.0.0.0","len":23}},{"range":["10.0.3.1","10.0.3.3"]}]"#
        );
        let e = interval_elems(IpVersion::V6, &nets(&["::/0", "fd00::1/128"]));
        assert_eq!(e, vec![json!({"prefix": {"addr": "::", "len": 0}})]);
        let e = interval_elems(IpVersion::V4, &nets(&["0.0.0.0/0"]));
        assert_eq!(e, vec![json!({"prefix": {"addr": "0.0.0.0", "len": 0}})]);
        let e = interval_elems(IpVersion::V4, &nets(&["10.0.0.7/32", "fd00::/8"]));
        assert_eq!(e, vec![json!("10.0.0.7")]);
    }

    #[test]
    fn port_ranges_are_merged() {
        let p = |min, max| PortRange { min, max };
        assert_eq!(
            port_elems(&[p(80, 80), p(79, 90), p(443, 443)]),
            vec![json!({"range": [79, 90]}), json!(443)]
        );
    }

    #[test]
    fn names_are_stable_and_short() {
        let id = IpSetId("s:abc".into());
        assert_eq!(
            set_name(&id, IpSetType::Net, IpVersion::V4),
            set_name(&id, IpSetType::Net, IpVersion::V4)
        );
        assert!(set_name(&id, IpSetType::Net, IpVersion::V6).len() <= 31);
        assert!(profile_chain("kns.some-very-long-namespace-name", Direction::Ingress).len() <= 28);
    }

    #[test]
    fn a_family_whose_required_set_is_empty_renders_no_rule_and_the_cache_notices() {
        use calico_policy::ir::PolicyKind;
        let sid = IpSetId("s:x".into());
        let id = PolicyId {
            kind: PolicyKind::GlobalNetworkPolicy,
            namespace: String::new(),
            name: "p".into(),
        };
        let rule = Rule {
            action: Action::Allow,
            ip_version: None,
            protocol: None,
            not_protocol: None,
            icmp: None,
            not_icmp: None,
            src: EndpointMatch {
                ip_sets: vec![sid.clone()],
                ..Default::default()
            },
            dst: EndpointMatch::default(),
            http: None,
            id: String::new(),
            index: 0,
        };
        let mut state = DesiredState::default();
        state.ip_sets.insert(
            sid.clone(),
            crate::state::IpSet {
                set_type: IpSetType::Net,
                members: [IpSetMember::Net("10.0.0.1/32".parse().unwrap())].into(),
            },
        );
        state.policies.insert(
            id.clone(),
            Policy {
                id: id.clone(),
                tier: "default".into(),
                inbound_rules: vec![rule],
                outbound_rules: vec![],
                untracked: false,
                pre_dnat: false,
                apply_on_forward: false,
                selector: String::new(),
            },
        );
        let opts = NftOptions::default();
        let mut cache = RenderCache::default();
        let chain = policy_chain(&id, Direction::Ingress);
        let r = render_cached(&state, &opts, &mut cache);
        assert_eq!(r.chains[&chain].rules.len(), 1, "only the IPv4 rule");
        if let Some(set) = state.ip_sets.get_mut(&sid) {
            set.members
                .insert(IpSetMember::Net("fd00::1/128".parse().unwrap()));
        }
        let r = render_cached(&state, &opts, &mut cache);
        assert_eq!(r.chains[&chain].rules.len(), 2, "IPv4 and IPv6 rules");
        assert_eq!(r, render(&state, &opts), "cached and fresh renders agree");
    }
}
