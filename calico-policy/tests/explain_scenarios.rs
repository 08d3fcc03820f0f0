//! `explain` must agree with the policy scenarios (`scenarios/netpol.json`, `l4-edges.json`,
//! `ipversion.json`): every
//! probe's verdict equals the scenario's expected reachability. Pods are spread over three
//! nodes by pod name, so most probes cross nodes and each direction comes from a different
//! node's calculation graph.

use std::collections::BTreeMap;
use std::path::Path;

use calico_model::k8s::{
    K8sNetworkPolicy, PodContainerPort, PodInfo, namespace_to_profile, network_policy_to_calico,
    pod_to_workload_endpoint, service_account_to_profile,
};
use calico_model::{Resource, decode_json};
use calico_policy::cluster::ClusterView;
use calico_policy::explain::{Probe, explain};
use serde_json::Value;

type Labels = BTreeMap<String, String>;

fn labels(v: &Value) -> Labels {
    serde_json::from_value(v.get("labels").cloned().unwrap_or(Value::Null)).unwrap_or_default()
}

/// The node a pod runs on: `node-<pod name>`.
fn node_of(pod: &str) -> String {
    format!("node-{pod}")
}

/// The resources of one case, as `calico-lab simulate` builds them but with pods on three
/// nodes.
fn case_resources(model: &Value, case: &Value) -> Vec<Resource> {
    let mut out: Vec<Resource> = Vec::new();
    let overrides = case.get("model_overrides");
    let empty = serde_json::Map::new();
    let namespaces = model["namespaces"].as_object().unwrap_or(&empty);
    for (ns, n) in namespaces {
        let l = overrides
            .and_then(|o| o.get("namespace_labels")?.get(ns))
            .map(|v| serde_json::from_value(v.clone()).expect("labels"))
            .unwrap_or_else(|| labels(n));
        out.push(namespace_to_profile(ns, &l).into());
    }
    for (sa, s) in model["service_accounts"].as_object().unwrap_or(&empty) {
        for ns in s["exists_in_namespaces"].as_array().into_iter().flatten() {
            let ns = ns.as_str().expect("namespace");
            out.push(service_account_to_profile(ns, sa, &labels(s)).into());
        }
    }
    for ns in namespaces.keys() {
        for (pod, p) in model["pods"].as_object().unwrap_or(&empty) {
            if let Some(list) = p.get("namespaces").and_then(Value::as_array)
                && !list.iter().any(|n| n.as_str() == Some(ns))
            {
                continue;
            }
            let key = format!("{ns}/{pod}");
            let ips: Vec<String> = match &model["pod_ips"][&key] {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            };
            let l = overrides
                .and_then(|o| o.get("pod_labels")?.get(&key))
                .map(|v| serde_json::from_value(v.clone()).expect("labels"))
                .unwrap_or_else(|| labels(p));
            let ports = p["containerPorts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| PodContainerPort {
                    name: c["name"].as_str().unwrap_or_default().into(),
                    container_port: c["containerPort"].as_i64().unwrap_or_default() as i32,
                    protocol: c["protocol"].as_str().unwrap_or("TCP").into(),
                    ..Default::default()
                })
                .collect();
            let info = PodInfo {
                namespace: ns.clone(),
                name: pod.clone(),
                labels: l,
                node_name: node_of(pod),
                service_account_name: p["serviceAccountName"].as_str().unwrap_or_default().into(),
                phase: "Running".into(),
                pod_ip: ips.first().cloned().unwrap_or_default(),
                pod_ips: ips,
                ports,
                ..Default::default()
            };
            out.push(
                pod_to_workload_endpoint(&info)
                    .expect("pod converts")
                    .into(),
            );
        }
    }
    for v in case["kubernetes_network_policies"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let mut np: K8sNetworkPolicy = serde_json::from_value(v.clone()).expect("k8s policy");
        np.apply_kubernetes_defaults();
        out.push(network_policy_to_calico(&np).expect("converts").into());
    }
    if let Some(list) = case["calico_resources"].as_array()
        && !list.is_empty()
    {
        let text = serde_json::to_string(list).expect("json");
        out.extend(decode_json(&text).expect("calico resources decode"));
    }
    out
}

/// The address of `who` (`<ns>/<pod>`) of one family, from the model.
fn pod_ip(model: &Value, who: &str, v6: bool) -> Option<String> {
    let all: Vec<String> = match &model["pod_ips"][who] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    all.into_iter().find(|a| a.contains(':') == v6)
}

/// Runs every probe of one scenario file through `explain`: `(probes, cross-node probes,
/// disagreements)`.
fn run_scenario(file: &str) -> (usize, usize, Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("scenario file");
    let scenario: Value = serde_json::from_str(&text).expect("scenario json");
    let model = &scenario["model"];
    let mut checked = 0;
    let mut cross_node = 0;
    let mut wrong = Vec::new();
    for case in scenario["cases"].as_array().expect("cases") {
        let id = case["id"].as_str().unwrap_or_default();
        let resources = case_resources(model, case);
        let view = ClusterView::build(&resources).expect("cluster view");
        assert!(
            view.rejected().is_empty(),
            "{file} {id}: {:?}",
            view.rejected()
        );
        for p in case["probes"].as_array().expect("probes") {
            let from = p["from"].as_str().expect("from");
            let to = p["to"].as_str().expect("to");
            let port = p["port"].as_u64().map(|n| n as u16);
            let protocol = p["protocol"].as_str().expect("protocol");
            let mut probe = Probe::parse(protocol, port).expect("probe");
            if let Some(t) = p["icmp_type"].as_u64() {
                let code = p["icmp_code"].as_u64().unwrap_or(0);
                probe = probe.with_icmp(t as u8, code as u8).expect("icmp probe");
            }
            // IPv6 probes name the pods by their IPv6 addresses (explain prefers IPv4).
            let v6 = p["family"].as_u64() == Some(6) || protocol.eq_ignore_ascii_case("icmpv6");
            let peer = |who: &str| {
                let spec = if v6 && !who.contains(':') {
                    pod_ip(model, who, true).expect("IPv6 address")
                } else {
                    who.to_owned()
                };
                view.resolve(&spec).expect("resolves")
            };
            let (from_peer, to_peer) = (peer(from), peer(to));
            let e = explain(&view, &from_peer, &to_peer, &probe).expect("explains");
            if from_peer.node.is_some() && to_peer.node.is_some() && from_peer.node != to_peer.node
            {
                cross_node += 1;
                assert_eq!(e.checks.len(), 2, "{id}: {from} -> {to}");
            }
            let expected = p["allowed"].as_bool().expect("allowed");
            if e.allowed != expected {
                wrong.push(format!(
                    "{file} {id}: {from} -> {to} {}: expected {expected}, explain says {} (egress {:?}, ingress {:?})",
                    probe.label(),
                    e.allowed,
                    e.egress.map(|v| v.decision.to_string()),
                    e.ingress.map(|v| v.decision.to_string()),
                ));
            }
            checked += 1;
        }
    }
    (checked, cross_node, wrong)
}

#[test]
fn explain_agrees_with_every_netpol_probe() {
    let (checked, cross_node, wrong) = run_scenario("netpol.json");
    assert!(
        wrong.is_empty(),
        "{} of {checked} probes disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(checked > 2000, "only {checked} probes");
    assert!(
        cross_node > checked / 2,
        "only {cross_node} cross-node probes"
    );
}

#[test]
fn explain_agrees_with_the_l4_and_ip_version_scenarios() {
    for file in ["l4-edges.json", "ipversion.json"] {
        let (checked, cross_node, wrong) = run_scenario(file);
        assert!(
            wrong.is_empty(),
            "{} of {checked} probes disagree:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
        assert!(checked >= 80, "{file}: only {checked} probes");
        assert!(cross_node > 0, "{file}: no cross-node probe");
    }
}

/// `diff` agrees with `explain` on the shared scenarios: for each case, the change from
/// "no policies" to "the case's policies" lists exactly the (pair, probe)s whose explained
/// verdict differs between the two states — nothing missed by its signature pruning,
/// nothing extra. `lint` runs on every case without finding an invalid selector.
#[test]
fn diff_and_lint_agree_with_explain_on_netpol_cases() {
    use calico_model::Kind;
    use calico_policy::diff::diff;
    use calico_policy::lint::{Check, lint};

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/netpol.json");
    let scenario: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("scenario")).expect("json");
    let model = &scenario["model"];
    let mut compared = 0usize;
    let mut flips = 0usize;
    for case in scenario["cases"].as_array().expect("cases") {
        let id = case["id"].as_str().unwrap_or_default();
        let after = case_resources(model, case);
        let findings = lint(&after);
        assert!(
            !findings.iter().any(|f| f.check == Check::InvalidSelector),
            "{id}: {findings:?}"
        );
        let before: Vec<Resource> = after
            .iter()
            .filter(|r| {
                !matches!(
                    r.kind(),
                    Kind::NetworkPolicy | Kind::GlobalNetworkPolicy | Kind::Tier
                )
            })
            .cloned()
            .collect();
        let d = diff(&before, &after).expect("diff");
        let listed: std::collections::BTreeSet<(String, String, String)> = d
            .changes
            .iter()
            .map(|c| (c.from.clone(), c.to.clone(), c.probe.clone()))
            .collect();
        let (vb, va) = (
            ClusterView::build(&before).expect("before"),
            ClusterView::build(&after).expect("after"),
        );
        let probes: Vec<(String, Probe)> = d
            .probes
            .iter()
            .filter_map(|label| {
                let (proto, port) = label.split_once('/')?;
                Some((label.clone(), Probe::parse(proto, port.parse().ok()).ok()?))
            })
            .collect();
        assert!(!probes.is_empty(), "{id}: no probes in {:?}", d.probes);
        let names: Vec<String> = va.endpoints().iter().map(|e| e.display_name()).collect();
        let mut expected = std::collections::BTreeSet::new();
        for from in &names {
            for to in &names {
                if from == to {
                    continue;
                }
                for (label, probe) in &probes {
                    let verdict = |v: &ClusterView| {
                        let (f, t) = (v.resolve(from).expect("from"), v.resolve(to).expect("to"));
                        explain(v, &f, &t, probe).expect("explain").allowed
                    };
                    compared += 1;
                    if verdict(&vb) != verdict(&va) {
                        expected.insert((from.clone(), to.clone(), label.clone()));
                    }
                }
            }
        }
        // Only the probes diff could express (`proto/port`) are compared.
        let listed: std::collections::BTreeSet<_> = listed
            .into_iter()
            .filter(|(_, _, p)| probes.iter().any(|(l, _)| l == p))
            .collect();
        assert_eq!(listed, expected, "{id}: diff and explain disagree");
        flips += expected.len();
    }
    eprintln!("diff vs explain: {compared} comparisons, {flips} flips");
    assert!(compared > 1000, "only {compared} comparisons");
    assert!(
        flips > 100,
        "only {flips} flips: the cases should change reachability"
    );
}
