//! Shared inputs for the benchmarks in `benches/`.

use std::fmt::Write;

/// A YAML stream of `n` realistic NetworkPolicy documents (three rules each).
pub fn policy_stream(n: usize) -> String {
    let mut s = String::with_capacity(n * 700);
    for i in 0..n {
        let _ = write!(
            s,
            "---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: policy-{i}\n  namespace: ns-{ns}\n  labels:\n    team: team-{team}\nspec:\n  order: {i}\n  selector: app == 'app-{i}' && tier in {{'frontend', 'backend'}}\n  types: [Ingress, Egress]\n  ingress:\n    - action: Allow\n      protocol: TCP\n      source:\n        selector: role == 'client-{i}'\n        namespaceSelector: env == 'prod'\n      destination:\n        ports: [80, 443, \"8000:8100\"]\n    - action: Deny\n      source:\n        nets: [10.{a}.0.0/16]\n  egress:\n    - action: Allow\n      protocol: UDP\n      destination:\n        selector: k8s-app == 'kube-dns'\n        ports: [53]\n",
            ns = i % 20,
            team = i % 7,
            a = i % 250,
        );
    }
    s
}

/// Parameters of a synthetic cluster for calculation-graph benchmarks.
#[derive(Clone, Copy, Debug)]
pub struct ClusterShape {
    /// Workload endpoints in the cluster.
    pub endpoints: usize,
    /// Of which on the benchmarked node.
    pub local_endpoints: usize,
    /// Policies (NetworkPolicy and GlobalNetworkPolicy mixed).
    pub policies: usize,
    /// Tiers the policies are spread over (plus `default`).
    pub tiers: usize,
    /// GlobalNetworkSets.
    pub network_sets: usize,
    /// Namespaces.
    pub namespaces: usize,
}

impl ClusterShape {
    /// The reference shape: 10,000 endpoints (100 local), 2,000 policies in 5 tiers,
    /// 500 network sets, 100 namespaces.
    pub const REFERENCE: ClusterShape = ClusterShape {
        endpoints: 10_000,
        local_endpoints: 100,
        policies: 2_000,
        tiers: 5,
        network_sets: 500,
        namespaces: 100,
    };
}

/// The benchmarked node's name.
pub const LOCAL_NODE: &str = "node-0";

fn res(v: serde_json::Value) -> calico_model::Resource {
    let text = v.to_string();
    match calico_model::decode_json(&text) {
        Ok(mut r) if r.len() == 1 => r.remove(0),
        other => panic!("bench resource does not decode: {other:?}: {text}"),
    }
}

/// A workload endpoint of the synthetic cluster (`i` in `0..shape.endpoints`); `variant`
/// changes its `version` label.
pub fn cluster_endpoint(shape: &ClusterShape, i: usize, variant: usize) -> calico_model::Resource {
    cluster_endpoint_with_app(shape, i, variant, i % 200)
}

/// Like [`cluster_endpoint`], with the `app` label `app-<app>` (moving the endpoint between
/// the IP sets of different policies' rules).
pub fn cluster_endpoint_with_app(
    shape: &ClusterShape,
    i: usize,
    variant: usize,
    app: usize,
) -> calico_model::Resource {
    let ns = format!("ns-{}", i % shape.namespaces);
    let node = if i < shape.local_endpoints {
        LOCAL_NODE.to_owned()
    } else {
        format!("node-{}", 1 + i % 100)
    };
    let app = format!("app-{app}");
    let tier = ["frontend", "backend", "db"][i % 3];
    let version = format!("v{}", variant % 3);
    let ip = format!("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    res(serde_json::json!({
        "apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
        "metadata": {"name": format!("{node}-k8s-pod{i}-eth0"), "namespace": ns, "labels": {
            "app": app, "tier": tier, "version": version,
            "pod-template-hash": format!("h{}", i % 997),
            "projectcalico.org/namespace": ns, "projectcalico.org/orchestrator": "k8s",
            "projectcalico.org/serviceaccount": format!("sa-{}", i % 2),
        }},
        "spec": {"node": node, "orchestrator": "k8s", "pod": format!("pod{i}"), "endpoint": "eth0",
                 "interfaceName": format!("cali{i:011}"), "ipNetworks": [format!("{ip}/32")],
                 "profiles": [format!("kns.{ns}"), format!("ksa.{ns}.sa-{}", i % 2)],
                 "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}
    }))
}

/// Policy `i` of the synthetic cluster; `variant` changes one rule's port.
pub fn cluster_policy(shape: &ClusterShape, i: usize, variant: u16) -> calico_model::Resource {
    let app = format!("app-{}", i % 200);
    let peer = format!("app-{}", (i * 7 + 3) % 200);
    let tier_no = i % (shape.tiers + 1);
    let deny_env = ["dev", "staging"][i % 2];
    let last = if tier_no == shape.tiers {
        "Deny"
    } else {
        "Pass"
    };
    let rules = serde_json::json!({
        "ingress": [
            {"action": "Allow", "protocol": "TCP", "source": {"selector": format!("app == '{peer}'")}, "destination": {"ports": [8080 + variant, "http"]}},
            {"action": "Allow", "source": {"selector": format!("role == 'set-{}'", i % 50), "namespaceSelector": "global()"}},
            {"action": "Deny", "source": {"namespaceSelector": format!("env == '{deny_env}'")}},
        ],
        "egress": [
            {"action": "Allow", "protocol": "UDP", "destination": {"selector": "k8s-app == 'kube-dns'", "ports": [53]}},
            {"action": "Allow", "destination": {"nets": [format!("172.{}.0.0/16", i % 32)]}},
            {"action": last},
        ],
    });
    let mut spec = rules;
    spec["order"] = serde_json::json!(i % 100);
    if tier_no < shape.tiers {
        let tier = format!("tier-{tier_no}");
        spec["tier"] = serde_json::json!(tier);
        spec["selector"] = serde_json::json!(format!("app == '{app}'"));
        res(
            serde_json::json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
            "metadata": {"name": format!("{tier}.gnp-{i}")}, "spec": spec}),
        )
    } else {
        let ns = format!("ns-{}", i % shape.namespaces);
        spec["selector"] = serde_json::json!(format!(
            "app == '{app}' && tier in {{'frontend', 'backend'}}"
        ));
        res(
            serde_json::json!({"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
            "metadata": {"name": format!("np-{i}"), "namespace": ns}, "spec": spec}),
        )
    }
}

/// Every resource of the synthetic cluster: tiers, profiles, network sets, policies, endpoints.
pub fn cluster(shape: &ClusterShape) -> Vec<calico_model::Resource> {
    let mut out = Vec::new();
    for t in 0..shape.tiers {
        out.push(res(serde_json::json!({"apiVersion": "projectcalico.org/v3", "kind": "Tier",
            "metadata": {"name": format!("tier-{t}")}, "spec": {"order": 100 * (t + 1), "defaultAction": "Pass"}})));
    }
    for n in 0..shape.namespaces {
        let ns = format!("ns-{n}");
        let env = ["prod", "dev", "staging"][n % 3];
        out.push(res(
            serde_json::json!({"apiVersion": "projectcalico.org/v3", "kind": "Profile",
            "metadata": {"name": format!("kns.{ns}")},
            "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}],
                     "labelsToApply": {"pcns.env": env, "pcns.team": format!("team-{}", n % 10),
                                       "pcns.projectcalico.org/name": ns}}}),
        ));
        for sa in 0..2 {
            out.push(res(
                serde_json::json!({"apiVersion": "projectcalico.org/v3", "kind": "Profile",
                "metadata": {"name": format!("ksa.{ns}.sa-{sa}")},
                "spec": {"labelsToApply": {"pcsa.projectcalico.org/name": format!("sa-{sa}")}}}),
            ));
        }
    }
    for s in 0..shape.network_sets {
        let nets: Vec<String> = (0..3)
            .map(|k| format!("192.{}.{}.0/24", s % 250, k * 10 + s / 250))
            .collect();
        out.push(res(
            serde_json::json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkSet",
            "metadata": {"name": format!("set-{s}"), "labels": {"role": format!("set-{}", s % 50)}},
            "spec": {"nets": nets}}),
        ));
    }
    for i in 0..shape.policies {
        out.push(cluster_policy(shape, i, 0));
    }
    for i in 0..shape.endpoints {
        out.push(cluster_endpoint(shape, i, 0));
    }
    out
}
