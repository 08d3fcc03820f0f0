//! Integration tests of the calculation graph: what it emits, in what order, and what the
//! resulting dataplane state enforces.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a test failure

mod common;

use std::net::IpAddr;

use calico_model::sync::{SyncEvent, SyncStatus};
use calico_policy::eval::{Evaluator, Packet};
use calico_policy::ir::{Direction, IpSetMember};
use calico_policy::{CalcGraph, DataplaneUpdate};
use common::*;
use serde_json::json;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn pos(out: &[DataplaneUpdate], f: impl Fn(&DataplaneUpdate) -> bool) -> usize {
    out.iter()
        .position(f)
        .unwrap_or_else(|| panic!("not found in {out:#?}"))
}

#[test]
fn nothing_before_in_sync_then_everything_then_in_sync() {
    let mut g = CalcGraph::new("n1");
    g.on_event(SyncEvent::Status(SyncStatus::ResyncInProgress));
    assert!(
        g.on_update(SyncEvent::set(ns_profile("a", json!({}))))
            .is_empty()
    );
    assert!(
        g.on_update(SyncEvent::set(wep(
            "a",
            "p1",
            "n1",
            "10.0.0.1",
            json!({"app": "web"})
        )))
        .is_empty()
    );
    let out = g.on_update(SyncEvent::Status(SyncStatus::InSync));
    assert_eq!(out.last(), Some(&DataplaneUpdate::InSync));
    assert!(
        out.iter()
            .any(|u| matches!(u, DataplaneUpdate::WorkloadEndpointUpdate(_)))
    );
    assert!(
        out.iter()
            .any(|u| matches!(u, DataplaneUpdate::ProfileUpdate(p) if p.name == "kns.a"))
    );
    // Only one InSync ever.
    let out = g.on_update(SyncEvent::set(ns_profile("b", json!({}))));
    assert!(!out.contains(&DataplaneUpdate::InSync));
}

#[test]
fn ip_sets_before_policies_before_endpoints() {
    let (_, _, out) = run(
        "n1",
        [
            ns_profile("a", json!({})),
            wep("a", "web", "n1", "10.0.0.1", json!({"app": "web"})),
            wep("a", "db", "n2", "10.0.0.2", json!({"app": "db"})),
            gnp(
                "allow-web",
                json!({"selector": "app == 'db'", "ingress": [{"action": "Allow", "source": {"selector": "app == 'web'"}}]}),
            ),
            gnp(
                "web-egress",
                json!({"selector": "app == 'web'", "egress": [{"action": "Allow", "destination": {"selector": "app == 'db'"}}]}),
            ),
        ],
    );
    let set = pos(&out, |u| matches!(u, DataplaneUpdate::IpSetUpdate { .. }));
    let pol = pos(&out, |u| matches!(u, DataplaneUpdate::PolicyUpdate(_)));
    let ep = pos(&out, |u| {
        matches!(u, DataplaneUpdate::WorkloadEndpointUpdate(_))
    });
    assert!(set < pol && pol < ep, "{out:#?}");
    // Only the policy that applies to the local endpoint is sent; its set holds the remote db.
    let pols: Vec<_> = out
        .iter()
        .filter_map(|u| match u {
            DataplaneUpdate::PolicyUpdate(p) => Some(p.id.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(pols, vec!["web-egress"]);
    let members: Vec<_> = out
        .iter()
        .filter_map(|u| match u {
            DataplaneUpdate::IpSetUpdate { members, .. } => Some(members.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(members.len(), 1);
    assert!(members[0].contains(&IpSetMember::Net("10.0.0.2/32".parse().unwrap())));
}

#[test]
fn removals_in_reverse_order() {
    let policy = gnp(
        "p",
        json!({"selector": "app == 'web'", "egress": [{"action": "Allow", "destination": {"selector": "app == 'db'"}}]}),
    );
    let (mut g, mut state, _) = run(
        "n1",
        [
            ns_profile("a", json!({})),
            wep("a", "web", "n1", "10.0.0.1", json!({"app": "web"})),
            policy.clone(),
        ],
    );
    let out = step(&mut g, &mut state, [SyncEvent::deleted(key(&policy))]);
    let ep = pos(&out, |u| {
        matches!(u, DataplaneUpdate::WorkloadEndpointUpdate(_))
    });
    let pol = pos(&out, |u| matches!(u, DataplaneUpdate::PolicyRemove(_)));
    let set = pos(&out, |u| matches!(u, DataplaneUpdate::IpSetRemove(_)));
    assert!(ep < pol && pol < set, "{out:#?}");
    assert!(state.policies.is_empty() && state.ip_sets.is_empty());
}

#[test]
fn ip_set_deltas_follow_endpoints_cluster_wide() {
    let (mut g, mut state, _) = run(
        "n1",
        [
            ns_profile("a", json!({})),
            wep("a", "web", "n1", "10.0.0.1", json!({"app": "web"})),
            gnp(
                "p",
                json!({"selector": "app == 'web'", "egress": [{"action": "Allow", "destination": {"selector": "app == 'db'"}}]}),
            ),
        ],
    );
    let db = wep("a", "db", "n7", "10.0.0.9", json!({"app": "db"}));
    let out = step(&mut g, &mut state, [SyncEvent::set(db.clone())]);
    assert!(
        matches!(&out[..], [DataplaneUpdate::IpSetDelta { added, removed, .. }] if added.len() == 1 && removed.is_empty()),
        "{out:#?}"
    );
    // Relabel: it leaves the set.
    let out = step(
        &mut g,
        &mut state,
        [SyncEvent::set(wep(
            "a",
            "db",
            "n7",
            "10.0.0.9",
            json!({"app": "cache"}),
        ))],
    );
    assert!(
        matches!(&out[..], [DataplaneUpdate::IpSetDelta { added, removed, .. }] if added.is_empty() && removed.len() == 1),
        "{out:#?}"
    );
    // Identical update: nothing.
    let out = step(
        &mut g,
        &mut state,
        [SyncEvent::set(wep(
            "a",
            "db",
            "n7",
            "10.0.0.9",
            json!({"app": "cache"}),
        ))],
    );
    assert!(out.is_empty(), "{out:#?}");
}

#[test]
fn namespace_labels_are_inherited() {
    let (mut g, mut state, _) = run(
        "n1",
        [
            ns_profile("a", json!({"env": "dev"})),
            wep("a", "web", "n1", "10.0.0.1", json!({"app": "web"})),
            gnp(
                "prod-only",
                json!({"namespaceSelector": "env == 'prod'", "ingress": [{"action": "Deny"}]}),
            ),
        ],
    );
    assert!(state.policies.is_empty());
    // The namespace becomes prod: the policy now applies to the pod.
    step(
        &mut g,
        &mut state,
        [SyncEvent::set(ns_profile("a", json!({"env": "prod"})))],
    );
    assert_eq!(state.policies.len(), 1);
    let w = state.workloads.values().next().unwrap();
    assert_eq!(w.tiers.len(), 1);
    assert_eq!(w.tiers[0].name, "default");
    let v = Evaluator::new(&state).evaluate(&Packet::tcp(ip("10.9.9.9"), 1, ip("10.0.0.1"), 80));
    assert!(!v.allowed);
}

#[test]
fn tier_and_policy_order() {
    let (_, state, _) = run(
        "n1",
        [
            ns_profile("a", json!({})),
            wep("a", "web", "n1", "10.0.0.1", json!({"app": "web"})),
            res(
                json!({"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "zeta"}, "spec": {"order": 10}}),
            ),
            res(
                json!({"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "alpha"}, "spec": {"order": 10}}),
            ),
            res(
                json!({"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "early"}, "spec": {"order": 1}}),
            ),
            gnp(
                "zeta.p",
                json!({"tier": "zeta", "ingress": [{"action": "Pass"}]}),
            ),
            gnp(
                "alpha.p",
                json!({"tier": "alpha", "ingress": [{"action": "Pass"}]}),
            ),
            gnp(
                "early.p",
                json!({"tier": "early", "ingress": [{"action": "Pass"}]}),
            ),
            gnp("b-unordered", json!({"ingress": [{"action": "Allow"}]})),
            gnp("c", json!({"order": 5, "ingress": [{"action": "Allow"}]})),
            gnp("a", json!({"order": 5, "ingress": [{"action": "Allow"}]})),
            np(
                "a",
                "a",
                json!({"order": 5, "ingress": [{"action": "Allow"}]}),
            ),
        ],
    );
    let w = state.workloads.values().next().unwrap();
    let tiers: Vec<&str> = w.tiers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tiers, ["early", "alpha", "zeta", "default"]);
    let names: Vec<String> = w.tiers[3]
        .ingress_policies
        .iter()
        .map(|p| p.to_string())
        .collect();
    // Order 5 first (ties by "name/namespace/kind": "a//Global…" < "a/a/Network…" < "c"), then none.
    assert_eq!(
        names,
        [
            "GlobalNetworkPolicy/a",
            "NetworkPolicy/a/a",
            "GlobalNetworkPolicy/c",
            "GlobalNetworkPolicy/b-unordered"
        ]
    );
}

#[test]
fn staged_and_invalid_policies_are_not_enforced() {
    let staged = res(
        json!({"apiVersion": "projectcalico.org/v3", "kind": "StagedGlobalNetworkPolicy",
        "metadata": {"name": "deny-all"}, "spec": {"ingress": [{"action": "Deny"}]}}),
    );
    let mut invalid = gnp("bad", json!({"ingress": [{"action": "Deny"}]}));
    if let calico_model::Resource::GlobalNetworkPolicy(p) = &mut invalid {
        p.spec.selector = "has(".into();
    }
    let (g, state, _) = run(
        "n1",
        [
            ns_profile("a", json!({})),
            wep("a", "web", "n1", "10.0.0.1", json!({"app": "web"})),
            staged,
            invalid,
        ],
    );
    assert!(state.policies.is_empty());
    assert_eq!(g.rejected().len(), 1, "{:?}", g.rejected());
    let v = Evaluator::new(&state).evaluate(&Packet::tcp(ip("10.9.9.9"), 1, ip("10.0.0.1"), 80));
    assert!(v.allowed);
}

#[test]
fn host_endpoint_tier_lists() {
    let hep = res(
        json!({"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint",
        "metadata": {"name": "n1-eth0", "labels": {"role": "node"}},
        "spec": {"node": "n1", "interfaceName": "eth0", "expectedIPs": ["192.168.1.10"]}}),
    );
    let (_, state, _) = run(
        "n1",
        [
            hep,
            gnp(
                "untracked",
                json!({"selector": "role == 'node'", "doNotTrack": true, "applyOnForward": true, "ingress": [{"action": "Allow"}]}),
            ),
            gnp(
                "prednat",
                json!({"selector": "role == 'node'", "preDNAT": true, "applyOnForward": true, "ingress": [{"action": "Deny"}]}),
            ),
            gnp(
                "normal",
                json!({"selector": "role == 'node'", "ingress": [{"action": "Allow"}]}),
            ),
            gnp(
                "fwd",
                json!({"selector": "role == 'node'", "applyOnForward": true, "ingress": [{"action": "Allow"}]}),
            ),
        ],
    );
    let h = state.hosts.get("n1-eth0").unwrap();
    let names = |t: &[calico_policy::ir::TierInfo]| -> Vec<String> {
        t.iter()
            .flat_map(|t| t.ingress_policies.iter().map(|p| p.name.clone()))
            .collect()
    };
    assert_eq!(names(&h.untracked_tiers), ["untracked"]);
    assert_eq!(names(&h.pre_dnat_tiers), ["prednat"]);
    assert_eq!(names(&h.tiers), ["fwd", "normal"]);
    assert_eq!(names(&h.forward_tiers), ["fwd"]);
    // Untracked allow wins before the pre-DNAT deny.
    let ev = Evaluator::new(&state);
    let v = ev.evaluate(&Packet::tcp(ip("1.2.3.4"), 1, ip("192.168.1.10"), 80));
    assert!(v.allowed, "{v:?}");
    // Failsafe: ssh is always allowed inbound.
    let v = ev.host(
        h,
        Direction::Ingress,
        &Packet::tcp(ip("1.2.3.4"), 1, ip("192.168.1.10"), 22),
    );
    assert!(v.allowed);
}

#[test]
fn missing_profile_fails_closed() {
    let (_, state, _) = run(
        "n1",
        [wep("a", "web", "n1", "10.0.0.1", json!({"app": "web"}))],
    );
    let v = Evaluator::new(&state).evaluate(&Packet::tcp(ip("10.9.9.9"), 1, ip("10.0.0.1"), 80));
    assert!(!v.allowed);
}

#[test]
fn named_ports_resolve_per_endpoint() {
    let (_, state, _) = run(
        "n1",
        [
            ns_profile("a", json!({})),
            wep("a", "web", "n1", "10.0.0.1", json!({"app": "web"})),
            wep("a", "api", "n2", "10.0.0.2", json!({"app": "api"})),
            gnp(
                "egress-http",
                json!({"selector": "app == 'web'", "egress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": ["http"]}}]}),
            ),
        ],
    );
    let ev = Evaluator::new(&state);
    assert!(
        ev.evaluate(&Packet::tcp(ip("10.0.0.1"), 1, ip("10.0.0.2"), 8080))
            .allowed
    );
    assert!(
        !ev.evaluate(&Packet::tcp(ip("10.0.0.1"), 1, ip("10.0.0.2"), 80))
            .allowed
    );
    // 10.0.0.3 is not an endpoint with that named port.
    assert!(
        !ev.evaluate(&Packet::tcp(ip("10.0.0.1"), 1, ip("10.0.0.3"), 8080))
            .allowed
    );
}
