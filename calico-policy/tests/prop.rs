//! Property tests of the calculation graph and the evaluator.
//! - Convergence: any order of the same inputs, flushed at any points, leaves the dataplane
//!   in the same state as feeding only the final state to a fresh graph; the stream never
//!   violates the contract (checked by `DataplaneState::apply`).
//! - A policy that selects nothing changes no verdict.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a test failure

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use calico_model::Resource;
use calico_model::sync::{ResourceKey, SyncEvent, SyncStatus};
use calico_policy::CalcGraph;
use calico_policy::eval::{DataplaneState, Evaluator, Packet};
use calico_policy::ir::proto;
use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};

const SELECTORS: &[&str] = &[
    "app == 'web'",
    "app == 'db'",
    "app in {'web', 'api'}",
    "has(app)",
    "!has(tier)",
    "tier == 'back' && app != 'db'",
    "all()",
    "",
];

fn selector() -> impl Strategy<Value = &'static str> {
    prop::sample::select(SELECTORS.to_vec())
}

fn rule() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["Allow", "Deny", "Pass", "Log"]),
        selector(),
        prop::option::of(prop::sample::select(vec![
            json!([80]),
            json!(["8000:8100"]),
            json!(["http"]),
            json!([80, "http"]),
        ])),
        prop::option::of(prop::sample::select(vec![
            "10.0.0.0/24",
            "10.0.0.2/32",
            "10.1.0.0/16",
        ])),
        any::<bool>(),
    )
        .prop_map(|(action, sel, ports, net, src_side)| {
            let mut side = serde_json::Map::new();
            if !sel.is_empty() {
                side.insert("selector".into(), json!(sel));
            }
            if let Some(n) = net {
                side.insert("nets".into(), json!([n]));
            }
            let mut r = json!({"action": action});
            if let Some(p) = ports {
                r["protocol"] = json!("TCP");
                r["destination"] = json!({"ports": p});
            }
            let which = if src_side { "source" } else { "destination" };
            if !side.is_empty() {
                if r.get(which).is_none() {
                    r[which] = json!({});
                }
                for (k, v) in side {
                    r[which][k] = v;
                }
            }
            r
        })
}

/// One resource of a small universe, in a random version.
fn resource() -> impl Strategy<Value = Resource> {
    let labels = (
        prop::sample::select(vec!["web", "db", "api"]),
        prop::option::of(prop::sample::select(vec!["front", "back"])),
    )
        .prop_map(|(app, tier)| {
            let mut m = json!({"app": app});
            if let Some(t) = tier {
                m["tier"] = json!(t);
            }
            m
        });
    prop_oneof![
        (0..4usize, prop::sample::select(vec!["n1", "n2"]), labels, any::<bool>()).prop_map(|(i, node, labels, alt_ip)| {
            let ip = if alt_ip { format!("10.0.0.{}", 50 + i) } else { format!("10.0.0.{}", i + 1) };
            wep(if i % 2 == 0 { "a" } else { "b" }, &format!("p{i}"), node, &ip, labels)
        }),
        (0..3usize, selector(), prop::collection::vec(rule(), 0..3), prop::collection::vec(rule(), 0..3), prop::option::of(0..3i32), any::<bool>())
            .prop_map(|(i, sel, ingress, egress, order, in_tier)| {
                let mut spec = json!({"selector": sel, "ingress": ingress, "egress": egress});
                if let Some(o) = order {
                    spec["order"] = json!(o);
                }
                if in_tier {
                    spec["tier"] = json!("t1");
                    return gnp(&format!("t1.g{i}"), spec);
                }
                if i == 2 {
                    np("a", "np", spec)
                } else {
                    gnp(&format!("g{i}"), spec)
                }
            }),
        (prop::sample::select(vec!["a", "b"]), prop::sample::select(vec!["prod", "dev"])).prop_map(|(ns, env)| ns_profile(ns, json!({"env": env}))),
        (0..20i32, prop::sample::select(vec!["Deny", "Pass"])).prop_map(|(o, action)| {
            res(json!({"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "t1"}, "spec": {"order": o, "defaultAction": action}}))
        }),
        prop::sample::select(vec!["10.0.0.0/28", "10.0.0.3/32", "10.2.0.0/16"]).prop_map(|net| {
            res(json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkSet", "metadata": {"name": "s1", "labels": {"app": "db"}}, "spec": {"nets": [net]}}))
        }),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Set(Resource),
    Delete(ResourceKey),
    Flush,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            6 => resource().prop_map(Op::Set),
            2 => resource().prop_map(|r| Op::Delete(key(&r))),
            1 => Just(Op::Flush),
        ],
        1..30,
    )
}

/// The comparable parts of a dataplane state.
fn snapshot(s: &DataplaneState) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        s.ip_sets, s.policies, s.profiles, s.workloads, s.hosts, s.routes
    )
}

fn feed_final(final_state: &BTreeMap<ResourceKey, Resource>, reverse: bool) -> DataplaneState {
    let mut items: Vec<&Resource> = final_state.values().collect();
    if reverse {
        items.reverse();
    }
    let (_, state, _) = run("n1", items.into_iter().cloned());
    state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_order_converges(ops in ops(), in_sync_at in 0usize..30) {
        let mut g = CalcGraph::new("n1");
        let mut state = DataplaneState::default();
        let mut final_state: BTreeMap<ResourceKey, Resource> = BTreeMap::new();
        let mut in_sync = false;
        for (i, op) in ops.iter().enumerate() {
            if i == in_sync_at {
                g.on_event(SyncEvent::Status(SyncStatus::InSync));
                in_sync = true;
            }
            match op {
                Op::Set(r) => {
                    final_state.insert(key(r), r.clone());
                    g.on_event(SyncEvent::set(r.clone()));
                }
                Op::Delete(k) => {
                    final_state.remove(k);
                    g.on_event(SyncEvent::deleted(k.clone()));
                }
                Op::Flush => {
                    let out = g.flush();
                    prop_assert!(in_sync || out.is_empty(), "output before InSync: {out:?}");
                    state.apply_all(&out).map_err(|e| TestCaseError::fail(format!("contract: {e}")))?;
                }
            }
        }
        g.on_event(SyncEvent::Status(SyncStatus::InSync));
        let out = g.flush();
        state.apply_all(&out).map_err(|e| TestCaseError::fail(format!("contract: {e}")))?;
        prop_assert!(state.in_sync);
        let direct = feed_final(&final_state, false);
        prop_assert_eq!(snapshot(&state), snapshot(&direct));
        let reversed = feed_final(&final_state, true);
        prop_assert_eq!(snapshot(&direct), snapshot(&reversed));
    }

    #[test]
    fn a_policy_that_selects_nothing_changes_no_verdict(
        resources in prop::collection::vec(resource(), 1..12),
        rules in prop::collection::vec(rule(), 0..3),
        packets in prop::collection::vec((1u8..8, 1u8..8, prop::sample::select(vec![80u16, 81, 8080, 8050, 22]), prop::sample::select(vec![proto::TCP, proto::UDP])), 1..20),
    ) {
        let (_, before, _) = run("n1", resources.clone());
        let mut with = resources.clone();
        with.push(gnp("selects-nothing", json!({"selector": "app == 'no-such-app'", "ingress": rules.clone(), "egress": rules})));
        let (_, after, _) = run("n1", with);
        for (s, d, port, p) in packets {
            let src: IpAddr = format!("10.0.0.{s}").parse().unwrap();
            let dst: IpAddr = format!("10.0.0.{d}").parse().unwrap();
            let pkt = Packet::ported(p, src, 40000, dst, port);
            let a = Evaluator::new(&before).evaluate(&pkt);
            let b = Evaluator::new(&after).evaluate(&pkt);
            prop_assert_eq!(a.allowed, b.allowed, "{:?}", pkt);
        }
    }
}
