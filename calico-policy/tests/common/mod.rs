//! Helpers shared by the calico-policy integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a test failure

use calico_model::Resource;
use calico_model::sync::{ResourceKey, SyncEvent, SyncStatus};
use calico_policy::eval::DataplaneState;
use calico_policy::{CalcGraph, DataplaneUpdate};
use serde_json::{Value, json};

/// Decodes one resource from a JSON value.
pub fn res(v: Value) -> Resource {
    let text = v.to_string();
    let mut r = calico_model::decode_json(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    r.remove(0)
}

/// A workload endpoint on `node`.
pub fn wep(ns: &str, pod: &str, node: &str, ip: &str, labels: Value) -> Resource {
    res(json!({
        "apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
        "metadata": {"name": format!("{node}-k8s-{pod}-eth0"), "namespace": ns, "labels": labels},
        "spec": {"node": node, "orchestrator": "k8s", "pod": pod, "endpoint": "eth0",
                 "interfaceName": format!("cali{:0>11}", pod.len()), "ipNetworks": [format!("{ip}/32")],
                 "profiles": [format!("kns.{ns}")],
                 "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}
    }))
}

/// A namespace profile.
pub fn ns_profile(ns: &str, labels: Value) -> Resource {
    let mut l = serde_json::Map::new();
    if let Value::Object(m) = labels {
        for (k, v) in m {
            l.insert(format!("pcns.{k}"), v);
        }
    }
    l.insert("pcns.projectcalico.org/name".into(), json!(ns));
    res(json!({
        "apiVersion": "projectcalico.org/v3", "kind": "Profile",
        "metadata": {"name": format!("kns.{ns}")},
        "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}], "labelsToApply": l}
    }))
}

/// A global network policy.
pub fn gnp(name: &str, spec: Value) -> Resource {
    res(
        json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": name}, "spec": spec}),
    )
}

/// A namespaced network policy.
pub fn np(ns: &str, name: &str, spec: Value) -> Resource {
    res(
        json!({"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec}),
    )
}

/// Feeds resources (all set) then `InSync`, and returns the dataplane state, checking the
/// stream contract.
pub fn run(
    node: &str,
    resources: impl IntoIterator<Item = Resource>,
) -> (CalcGraph, DataplaneState, Vec<DataplaneUpdate>) {
    let mut g = CalcGraph::new(node);
    for r in resources {
        g.on_event(SyncEvent::set(r));
    }
    g.on_event(SyncEvent::Status(SyncStatus::InSync));
    let out = g.flush();
    let mut state = DataplaneState::default();
    state
        .apply_all(&out)
        .unwrap_or_else(|e| panic!("contract: {e}\n{out:#?}"));
    (g, state, out)
}

/// Applies more events to a running graph and its state.
pub fn step(
    g: &mut CalcGraph,
    state: &mut DataplaneState,
    events: impl IntoIterator<Item = SyncEvent>,
) -> Vec<DataplaneUpdate> {
    for e in events {
        g.on_event(e);
    }
    let out = g.flush();
    state
        .apply_all(&out)
        .unwrap_or_else(|e| panic!("contract: {e}\n{out:#?}"));
    out
}

/// The key of a resource.
pub fn key(r: &Resource) -> ResourceKey {
    ResourceKey::of(r)
}
