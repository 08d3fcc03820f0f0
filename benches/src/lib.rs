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
