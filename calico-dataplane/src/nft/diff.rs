//! What the table holds (as last programmed, or as listed by `nft -j list table`) and the
//! one transaction that turns it into a desired [`Ruleset`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::render::{
    BaseHook, NftChain, NftRule, NftSet, RULE_HASH_PREFIX, Ruleset, add_rule_text, chain_obj,
    document_text, elem_obj, set_obj,
};

/// The contents of the table, reduced to what the diff compares. Chains and sets are
/// shared with the rendered [`Ruleset`] they came from, so keeping the last programmed
/// ruleset costs nothing and unchanged objects compare by pointer.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Observed {
    pub table_exists: bool,
    /// Chains; a listed rule keeps only its hash (`""` for a rule without our comment).
    pub chains: BTreeMap<String, Arc<NftChain>>,
    /// Sets and maps.
    pub sets: BTreeMap<String, Arc<NftSet>>,
}

impl Observed {
    /// What the kernel holds right after `ruleset` was applied successfully.
    pub fn of(ruleset: Ruleset) -> Self {
        Observed {
            table_exists: true,
            chains: ruleset.chains,
            sets: ruleset.sets,
        }
    }

    /// Parses `nft -j list table inet <table>` output.
    pub fn parse_listing(listing: &Value) -> Self {
        let mut obs = Observed::default();
        let mut chains: BTreeMap<String, NftChain> = BTreeMap::new();
        let Some(items) = listing.get("nftables").and_then(Value::as_array) else {
            return obs;
        };
        for item in items {
            if item.get("table").is_some() {
                obs.table_exists = true;
            } else if let Some(c) = item.get("chain") {
                if let Some(name) = c.get("name").and_then(Value::as_str) {
                    let chain = chains.entry(name.to_owned()).or_default();
                    if c.get("hook").is_some() {
                        // Only "is a base chain" is compared.
                        chain.base = Some(BaseHook {
                            chain_type: "filter",
                            hook: "",
                            prio: 0,
                        });
                    }
                }
            } else if let Some(r) = item.get("rule") {
                let Some(chain) = r.get("chain").and_then(Value::as_str) else {
                    continue;
                };
                let hash = r
                    .get("comment")
                    .and_then(Value::as_str)
                    .and_then(|c| c.strip_prefix(RULE_HASH_PREFIX))
                    .unwrap_or("")
                    .to_owned();
                chains
                    .entry(chain.to_owned())
                    .or_default()
                    .rules
                    .push(NftRule {
                        expr: String::new(),
                        hash,
                    });
            } else if let Some((s, is_map)) = item
                .get("set")
                .map(|s| (s, false))
                .or_else(|| item.get("map").map(|s| (s, true)))
            {
                let Some(name) = s.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let elements: BTreeMap<String, Value> = s
                    .get("elem")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(|e| (e.to_string(), e.clone())).collect())
                    .unwrap_or_default();
                obs.sets.insert(
                    name.to_owned(),
                    Arc::new(NftSet {
                        is_map,
                        key_type: s.get("type").cloned().unwrap_or(Value::Null),
                        flags: Vec::new(),
                        elements,
                    }),
                );
            }
        }
        obs.chains = chains.into_iter().map(|(n, c)| (n, Arc::new(c))).collect();
        obs
    }
}

/// One transaction and what it touches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transaction {
    /// The commands, in order (the body of `{"nftables": [...]}`), as JSON text.
    pub command_texts: Vec<String>,
    /// Chains written (new or rewritten).
    pub chains_written: Vec<String>,
    /// Chains deleted.
    pub chains_deleted: Vec<String>,
    /// Sets or maps created.
    pub sets_created: Vec<String>,
    /// Sets or maps deleted.
    pub sets_deleted: Vec<String>,
    /// Elements added.
    pub elements_added: usize,
    /// Elements deleted.
    pub elements_deleted: usize,
}

impl Transaction {
    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.command_texts.is_empty()
    }

    /// The commands as JSON values.
    pub fn commands(&self) -> Vec<Value> {
        self.command_texts
            .iter()
            .map(|c| serde_json::from_str(c).unwrap_or(Value::Null))
            .collect()
    }

    /// Objects changed (chains, sets, elements).
    pub fn objects_changed(&self) -> usize {
        self.chains_written.len()
            + self.chains_deleted.len()
            + self.sets_created.len()
            + self.sets_deleted.len()
            + self.elements_added
            + self.elements_deleted
    }

    /// The `nft -j -f` document.
    pub fn to_json_text(&self) -> String {
        document_text(&self.command_texts)
    }

    /// A one-line description of the command at `index` (for error reports).
    pub fn describe(&self, index: usize) -> String {
        let Some(cmd) = self
            .command_texts
            .get(index)
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
        else {
            return "transaction".into();
        };
        let Some((verb, body)) = cmd.as_object().and_then(|o| o.iter().next()) else {
            return cmd.to_string();
        };
        let Some((kind, obj)) = body.as_object().and_then(|o| o.iter().next()) else {
            return format!("{verb} {body}");
        };
        let name = obj
            .get("name")
            .or_else(|| obj.get("chain"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut text = format!("{verb} {kind} {name}");
        if kind == "rule" || kind == "element" {
            let detail = obj
                .get("expr")
                .or_else(|| obj.get("elem"))
                .map(Value::to_string)
                .unwrap_or_default();
            text.push(' ');
            text.push_str(&detail.chars().take(400).collect::<String>());
        }
        text
    }
}

fn table_obj(table: &str) -> Value {
    json!({"family": "inet", "name": table})
}

/// The transaction that turns `have` into `want`. Order: table; new chains (empty, as
/// forward references); new sets and maps; element deletes then adds; changed chains flushed
/// and refilled; stray chains flushed, then deleted; stray sets and maps deleted.
pub(crate) fn diff(have: &Observed, want: &Ruleset) -> Transaction {
    let t = &want.table;
    let mut tx = Transaction::default();
    let mut cmds: Vec<String> = Vec::new();
    if !have.table_exists {
        cmds.push(json!({"add": {"table": table_obj(t)}}).to_string());
    }
    let mut new_chain: BTreeSet<&str> = BTreeSet::new();
    for (name, chain) in &want.chains {
        let current = have.chains.get(name);
        let is_base = current.is_some_and(|c| c.base.is_some());
        let exists = current.is_some();
        if !exists || is_base != chain.base.is_some() {
            if exists {
                // A regular chain that should be a base chain (or the reverse): recreate.
                cmds.push(
                    json!({"flush": {"chain": {"family": "inet", "table": t, "name": name}}})
                        .to_string(),
                );
                cmds.push(
                    json!({"delete": {"chain": {"family": "inet", "table": t, "name": name}}})
                        .to_string(),
                );
            }
            cmds.push(json!({"add": {"chain": chain_obj(t, name, chain)}}).to_string());
            new_chain.insert(name);
        }
    }
    let mut elem_dels = Vec::new();
    let mut elem_adds = Vec::new();
    for (name, set) in &want.sets {
        let current = have.sets.get(name);
        if current.is_some_and(|c| Arc::ptr_eq(c, set)) {
            continue;
        }
        let same_decl =
            current.is_some_and(|c| c.is_map == set.is_map && c.key_type == set.key_type);
        if !same_decl {
            if current.is_some() {
                tracing::warn!(set = %name, "set declaration differs in the kernel; recreating it");
                // nft refuses this while rules still refer to the set; the error names it.
                cmds.push(json!({"delete": set_kind_obj(t, name, set)}).to_string());
            }
            cmds.push(json!({"add": set_obj(t, name, set)}).to_string());
            tx.sets_created.push(name.clone());
        }
        let have_elems = current.filter(|_| same_decl).map(|c| &c.elements);
        if let Some(have_elems) = have_elems {
            let dels: Vec<&Value> = have_elems
                .iter()
                .filter(|(k, _)| !set.elements.contains_key(*k))
                .map(|(_, v)| v)
                .collect();
            if !dels.is_empty() {
                tx.elements_deleted += dels.len();
                elem_dels.push(json!({"delete": {"element": elem_obj(t, name, dels)}}).to_string());
            }
        }
        let adds: Vec<&Value> = set
            .elements
            .iter()
            .filter(|(k, _)| have_elems.is_none_or(|h| !h.contains_key(*k)))
            .map(|(_, v)| v)
            .collect();
        if !adds.is_empty() {
            tx.elements_added += adds.len();
            elem_adds.push(json!({"add": {"element": elem_obj(t, name, adds)}}).to_string());
        }
    }
    cmds.extend(elem_dels);
    cmds.extend(elem_adds);
    for (name, chain) in &want.chains {
        let fresh = new_chain.contains(name.as_str());
        let same = !fresh
            && have.chains.get(name).is_some_and(|h| {
                Arc::ptr_eq(h, chain)
                    || (h.rules.len() == chain.rules.len()
                        && h.rules
                            .iter()
                            .zip(&chain.rules)
                            .all(|(a, b)| a.hash == b.hash))
            });
        if same {
            continue;
        }
        if !fresh {
            cmds.push(
                json!({"flush": {"chain": {"family": "inet", "table": t, "name": name}}})
                    .to_string(),
            );
        }
        push_rules(&mut cmds, t, name, chain);
        tx.chains_written.push(name.clone());
    }
    let stray: Vec<&String> = have
        .chains
        .keys()
        .filter(|n| !want.chains.contains_key(*n))
        .collect();
    for name in &stray {
        cmds.push(
            json!({"flush": {"chain": {"family": "inet", "table": t, "name": name}}}).to_string(),
        );
    }
    for name in stray {
        cmds.push(
            json!({"delete": {"chain": {"family": "inet", "table": t, "name": name}}}).to_string(),
        );
        tx.chains_deleted.push(name.clone());
    }
    for (name, s) in &have.sets {
        if !want.sets.contains_key(name) {
            let kind = if s.is_map { "map" } else { "set" };
            cmds.push(
                json!({"delete": {kind: {"family": "inet", "table": t, "name": name}}}).to_string(),
            );
            tx.sets_deleted.push(name.clone());
        }
    }
    tx.command_texts = cmds;
    tx
}

fn set_kind_obj(table: &str, name: &str, set: &NftSet) -> Value {
    let kind = if set.is_map { "map" } else { "set" };
    json!({kind: {"family": "inet", "table": table, "name": name}})
}

fn push_rules(cmds: &mut Vec<String>, table: &str, name: &str, chain: &NftChain) {
    for rule in &chain.rules {
        cmds.push(add_rule_text(table, name, rule));
    }
}
