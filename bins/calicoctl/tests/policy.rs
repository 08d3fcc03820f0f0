//! `calicoctl policy explain | diff | lint` end to end: the built binary on an embedded
//! datastore file (and `explain` once on a real etcd).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::BTreeSet;

use common::{Out, calicoctl, scratch_dir};
use serde_json::Value;

/// Three pods of namespace `shop` on two nodes (one with two interfaces), an allow-all
/// namespace profile, and one policy: only the frontend may reach the database, on 5432.
const CLUSTER: &str = r#"
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.shop}
spec:
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node1-k8s-frontend-eth0, namespace: shop, labels: {app: frontend}}
spec: {node: node1, orchestrator: k8s, pod: frontend, endpoint: eth0, interfaceName: cali1a2b3c4d5e6, ipNetworks: [10.65.0.10/32], profiles: [kns.shop]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node2-k8s-db-eth0, namespace: shop, labels: {app: db}}
spec: {node: node2, orchestrator: k8s, pod: db, endpoint: eth0, interfaceName: cali2a2b3c4d5e6, ipNetworks: [10.65.1.20/32], profiles: [kns.shop]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node2-k8s-cache-eth0, namespace: shop, labels: {app: cache}}
spec: {node: node2, orchestrator: k8s, pod: cache, endpoint: eth0, interfaceName: cali3a2b3c4d5e6, ipNetworks: [10.65.1.30/32], profiles: [kns.shop]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: shop}
spec:
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - {action: Allow, protocol: TCP, source: {selector: app == 'frontend'}, destination: {ports: [5432]}}
"#;

/// A second pod with two interfaces, to make `shop/multi` ambiguous.
const MULTI: &str = r#"
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node1-k8s-multi-eth0, namespace: shop, labels: {app: multi}}
spec: {node: node1, orchestrator: k8s, pod: multi, endpoint: eth0, interfaceName: cali4a2b3c4d5e6, ipNetworks: [10.65.0.40/32], profiles: [kns.shop]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node1-k8s-multi-eth1, namespace: shop, labels: {app: multi}}
spec: {node: node1, orchestrator: k8s, pod: multi, endpoint: eth1, interfaceName: cali5a2b3c4d5e6, ipNetworks: [10.65.0.41/32], profiles: [kns.shop]}
"#;

/// The change `diff` is asked about: the cache may reach the database too, and the cache
/// becomes reachable only from the frontend on 6379.
const CHANGE: &str = r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: shop}
spec:
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - {action: Allow, protocol: TCP, source: {selector: "app in {'frontend', 'cache'}"}, destination: {ports: [5432]}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: cache-ingress}  # namespace from -n
spec:
  selector: app == 'cache'
  types: [Ingress]
  ingress:
  - {action: Allow, protocol: TCP, source: {selector: app == 'frontend'}, destination: {ports: [6379]}}
"#;

/// One of each lint problem.
const BAD: &str = r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: default-deny}
spec:
  selector: all()
  types: [Ingress]
  egress: [{action: Allow, protocol: UDP, destination: {ports: [53]}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: frontend, namespace: shop}
spec:
  selector: app == 'frontend'
  ingress:
  - {action: Allow, protocol: TCP, destination: {ports: ['8000:9000']}}
  - {action: Deny, protocol: TCP, destination: {ports: [8080]}}
  - {action: Allow, protocol: TCP, source: {selector: app == 'payments'}}
  - {action: Pass}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: partners}
spec: {nets: [198.51.100.0/24, 198.51.100.128/25]}
"#;

/// Policies with nothing to complain about.
const CLEAN: &str = r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: frontend, namespace: shop}
spec:
  selector: app == 'frontend'
  types: [Ingress, Egress]
  ingress:
  - {action: Allow, protocol: TCP, destination: {ports: [8080]}}
  - {action: Deny, protocol: TCP, destination: {ports: ['8000:9000']}}
  egress:
  - {action: Allow, protocol: TCP, destination: {selector: app == 'db', ports: [5432]}}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: partners}
spec: {nets: [198.51.100.0/25, 198.51.100.128/25]}
"#;

/// An embedded datastore in a scratch directory, with the cluster created.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn new() -> Self {
        let c = Cluster { dir: scratch_dir() };
        let file = c.file("cluster.yaml", CLUSTER);
        c.run(&["create", "-f", &file]).ok();
        c
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// `calicoctl policy explain ARGS…`.
    fn explain(&self, args: &[&str]) -> Out {
        let mut all = vec!["policy", "explain"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    fn run(&self, args: &[&str]) -> Out {
        let db = self.dir.path().join("calico.db");
        calicoctl(
            &[
                ("DATASTORE_TYPE", "embedded"),
                ("CALICO_DATASTORE_PATH", db.to_str().unwrap()),
            ],
            args,
            None,
        )
    }
}

fn json(out: &Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// The table's rows as whitespace-separated words.
fn rows(out: &Out) -> Vec<Vec<String>> {
    out.stdout
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

#[test]
fn explain_table_and_json_across_nodes() {
    let c = Cluster::new();
    let out = c
        .explain(&[
            "--from",
            "shop/frontend",
            "--to",
            "shop/db",
            "--port",
            "5432",
        ])
        .ok();
    let r = rows(&out);
    assert_eq!(r[0], words("shop/frontend -> shop/db tcp/5432: ALLOWED"));
    assert_eq!(
        r[1],
        words("NODE DIRECTION ENDPOINT VERDICT TIER POLICY RULE ACTION")
    );
    assert_eq!(
        r[2],
        words("node1 egress shop/node1-k8s-frontend-eth0 allowed - profile kns.shop 0 Allow")
    );
    assert_eq!(
        r[3],
        words(
            "node2 ingress shop/node2-k8s-db-eth0 allowed default NetworkPolicy/shop/db-ingress 0 Allow"
        )
    );
    assert_eq!(r.len(), 4);

    // Denied is an answer, not a failure: exit 0. By WorkloadEndpoint name this time.
    let out = c
        .explain(&[
            "--from",
            "shop/node2-k8s-cache-eth0",
            "--to",
            "shop/db",
            "--port",
            "5432",
            "-o",
            "json",
        ])
        .ok();
    let v = json(&out);
    assert_eq!(v["allowed"], false);
    assert_eq!(v["from"]["endpoint"]["name"], "node2-k8s-cache-eth0");
    assert_eq!(v["packet"]["protocol"], 6);
    assert_eq!(v["packet"]["dst_port"], 5432);
    assert_eq!(v["egress"]["allowed"], true);
    assert_eq!(v["egress"]["decision"]["by"], "profile_rule");
    assert_eq!(v["ingress"]["allowed"], false);
    assert_eq!(v["ingress"]["decision"]["by"], "end_of_tier");
    assert_eq!(v["ingress"]["decision"]["tier"], "default");
    // Both on node2: one node check.
    assert_eq!(v["checks"].as_array().unwrap().len(), 1);

    // An external source: only the destination's ingress applies.
    let out = c
        .explain(&[
            "--from",
            "203.0.113.7",
            "--to",
            "10.65.1.20",
            "--protocol",
            "icmp",
        ])
        .ok();
    let r = rows(&out);
    assert_eq!(r[0], words("203.0.113.7 -> 10.65.1.20 icmp: DENIED"));
    assert_eq!(
        r[2],
        words("node2 ingress shop/node2-k8s-db-eth0 denied default - - Deny (end of tier)")
    );
    assert!(out.stdout.contains("203.0.113.7 is not a Calico endpoint"));
    // An ICMP type and code of choice.
    let out = c
        .explain(&[
            "--from",
            "shop/frontend",
            "--to",
            "shop/db",
            "--protocol",
            "icmp",
            "--icmp-type",
            "3",
            "--icmp-code",
            "4",
        ])
        .ok();
    assert_eq!(
        rows(&out)[0],
        words("shop/frontend -> shop/db icmp/3/4: DENIED")
    );
}

#[test]
fn explain_errors_are_one_line_and_exit_1() {
    let c = Cluster::new();
    let multi = c.file("multi.yaml", MULTI);
    c.run(&["create", "-f", &multi]).ok();
    let out = c
        .explain(&["--from", "shop/nope", "--to", "shop/db", "--port", "1"])
        .fails();
    assert_eq!(out.stderr, "workload endpoint \"shop/nope\" not found\n");
    let out = c
        .explain(&["--from", "shop/multi", "--to", "shop/db", "--port", "1"])
        .fails();
    assert_eq!(
        out.stderr,
        "\"shop/multi\" is ambiguous; it matches: shop/node1-k8s-multi-eth0, shop/node1-k8s-multi-eth1\n"
    );
    // One interface of it by its WorkloadEndpoint name is fine.
    c.explain(&[
        "--from",
        "shop/node1-k8s-multi-eth1",
        "--to",
        "shop/db",
        "--port",
        "1",
    ])
    .ok();
    let out = c
        .explain(&[
            "--from",
            "shop/frontend",
            "--to",
            "shop/db",
            "--protocol",
            "udp",
        ])
        .fails();
    assert_eq!(out.stderr, "--port is required for protocol udp\n");
    let out = c
        .explain(&[
            "--from",
            "shop/frontend",
            "--to",
            "shop/db",
            "--protocol",
            "gre",
        ])
        .fails();
    assert!(
        out.stderr.starts_with("protocol \"gre\" is not"),
        "{}",
        out.stderr
    );
    let out = c
        .explain(&[
            "--from",
            "shop/frontend",
            "--to",
            "shop/db",
            "--protocol",
            "udp",
            "--port",
            "53",
            "--icmp-type",
            "3",
        ])
        .fails();
    assert_eq!(
        out.stderr,
        "--icmp-type and --icmp-code only apply to icmp, not udp\n"
    );
}

#[test]
fn diff_lists_exactly_the_changed_pairs() {
    let c = Cluster::new();
    let change = c.file("change.yaml", CHANGE);
    let out = c
        .run(&["policy", "diff", "-f", &change, "-n", "shop", "-o", "json"])
        .ok();
    let v = json(&out);
    let got: BTreeSet<(String, String, String, bool, bool)> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["from"].as_str().unwrap().to_owned(),
                c["to"].as_str().unwrap().to_owned(),
                c["probe"].as_str().unwrap().to_owned(),
                c["before"].as_bool().unwrap(),
                c["after"].as_bool().unwrap(),
            )
        })
        .collect();
    let fe = "shop/node1-k8s-frontend-eth0";
    let db = "shop/node2-k8s-db-eth0";
    let cache = "shop/node2-k8s-cache-eth0";
    let want: BTreeSet<(String, String, String, bool, bool)> = [
        (fe, cache, "tcp/1024", true, false),
        (fe, cache, "tcp/5432", true, false),
        (cache, db, "tcp/5432", false, true),
        (db, cache, "tcp/1024", true, false),
        (db, cache, "tcp/5432", true, false),
        (db, cache, "tcp/6379", true, false),
    ]
    .into_iter()
    .map(|(a, b, p, x, y)| (a.to_owned(), b.to_owned(), p.to_owned(), x, y))
    .collect();
    assert_eq!(got, want);
    let allowed = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["after"] == true)
        .unwrap();
    assert_eq!(allowed["policy"], "default/NetworkPolicy/shop/db-ingress");

    let out = c.run(&["policy", "diff", "-f", &change, "-n", "shop"]).ok();
    let r = rows(&out);
    assert_eq!(r[0], words("FROM TO PROTOCOL/PORT BEFORE AFTER DECIDED BY"));
    assert!(
        out.stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("6 change(s): 5 newly denied, 1 newly allowed (3 endpoints"),
        "{}",
        out.stdout
    );
    // The diff wrote nothing: the same question has the same answer.
    let again = c
        .run(&["policy", "diff", "-f", &change, "-n", "shop", "-o", "json"])
        .ok();
    assert_eq!(json(&again)["changes"].as_array().unwrap().len(), 6);

    // Applying what is already there changes nothing, and still exits 0.
    let same = c.file("same.yaml", CLUSTER);
    let out = c.run(&["policy", "diff", "-f", &same]).ok();
    assert!(out.stdout.starts_with("0 change(s)"), "{}", out.stdout);
}

#[test]
fn lint_reports_each_problem_and_exits_by_severity() {
    let c = Cluster::new();
    // The live datastore is clean.
    let out = c.run(&["policy", "lint"]).ok();
    assert_eq!(
        out.stdout,
        "0 finding(s): 0 error(s), 0 warning(s), 0 info.\n"
    );

    let bad = c.file("bad.yaml", BAD);
    let out = c.run(&["policy", "lint", "-f", &bad, "-o", "json"]).fails();
    let got: Vec<(String, String, String, String)> = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_owned(),
                f["check"].as_str().unwrap().to_owned(),
                f["resource"].as_str().unwrap().to_owned(),
                f["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String, String, String)> = [
        (
            "error",
            "types-ignore-rules",
            "GlobalNetworkPolicy/default-deny",
            "spec.egress",
        ),
        (
            "warning",
            "deny-all-everywhere",
            "GlobalNetworkPolicy/default-deny",
            "spec.ingress",
        ),
        (
            "warning",
            "overlapping-cidrs",
            "GlobalNetworkSet/partners",
            "spec.nets[1]",
        ),
        (
            "warning",
            "shadowed-rule",
            "NetworkPolicy/shop/frontend",
            "spec.ingress[1]",
        ),
        (
            "warning",
            "unmatched-selector",
            "NetworkPolicy/shop/frontend",
            "spec.ingress[2].source.selector",
        ),
        (
            "warning",
            "pass-in-last-tier",
            "NetworkPolicy/shop/frontend",
            "spec.ingress[3]",
        ),
    ]
    .into_iter()
    .map(|(a, b, c, d)| (a.into(), b.into(), c.into(), d.into()))
    .collect();
    assert_eq!(got, want);

    // The table: one row per finding and a summary.
    let out = c.run(&["policy", "lint", "-f", &bad]).fails();
    assert_eq!(rows(&out)[0], words("SEVERITY CHECK RESOURCE FIELD REASON"));
    assert_eq!(
        out.stdout.lines().last().unwrap(),
        "6 finding(s): 1 error(s), 5 warning(s), 0 info."
    );

    // Warnings alone pass unless --strict.
    let warn = c.file(
        "warn.yaml",
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: dup}\nspec: {nets: [10.0.0.0/8, 10.1.0.0/16]}\n",
    );
    c.run(&["policy", "lint", "-f", &warn]).ok();
    c.run(&["policy", "lint", "-f", &warn, "--strict"]).fails();

    let clean = c.file("clean.yaml", CLEAN);
    let out = c
        .run(&["policy", "lint", "-f", &clean, "--strict", "-o", "json"])
        .ok();
    assert_eq!(json(&out), serde_json::json!([]));
}

#[test]
fn bad_output_format_and_missing_file() {
    let c = Cluster::new();
    let out = c.run(&["policy", "lint", "-o", "yaml"]).fails();
    assert_eq!(
        out.stderr,
        "unrecognized output format 'yaml': use table or json\n"
    );
    let out = c
        .run(&["policy", "diff", "-f", "/nonexistent/x.yaml"])
        .fails();
    assert!(
        out.stderr.starts_with("Failed to execute command:"),
        "{}",
        out.stderr
    );
}

#[test]
fn explain_on_etcd() {
    let test = "explain_on_etcd";
    if std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("!!! SKIPPING {test}: no etcd binary (Debian package etcd-server)");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(calico_datastore::testing::EtcdServer::spawn())
        .expect("etcd starts");
    let endpoint = server.endpoint();
    let dir = scratch_dir();
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, CLUSTER).unwrap();
    let env = [
        ("DATASTORE_TYPE", "etcdv3"),
        ("ETCD_ENDPOINTS", endpoint.as_str()),
    ];
    calicoctl(&env, &["create", "-f", file.to_str().unwrap()], None).ok();
    let out = calicoctl(
        &env,
        &[
            "policy",
            "explain",
            "--from",
            "shop/frontend",
            "--to",
            "shop/db",
            "--port",
            "5432",
            "-o",
            "json",
        ],
        None,
    )
    .ok();
    let v = json(&out);
    assert_eq!(v["allowed"], true);
    assert_eq!(
        v["ingress"]["decision"]["policy"],
        "NetworkPolicy/shop/db-ingress"
    );
    let out = calicoctl(
        &env,
        &[
            "policy",
            "explain",
            "--from",
            "shop/cache",
            "--to",
            "shop/db",
            "--port",
            "5432",
        ],
        None,
    )
    .ok();
    assert!(
        out.stdout
            .starts_with("shop/cache -> shop/db tcp/5432: DENIED\n"),
        "{}",
        out.stdout
    );
    drop(server);
}
