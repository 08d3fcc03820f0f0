//! End-to-end tests of `calicoctl datastore migrate`: the real binary moving a varied
//! datastore (every kind calico-model has a valid fixture for, plus IPAM state made by
//! `calico_datastore::ipam::Ipam`) from the embedded store to a real etcd and back, with
//! byte-identical exports at every step; and the refusals (unlocked export, non-empty
//! target, malformed stream) leaving the target untouched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use calico_datastore::embedded::EmbeddedDatastore;
use calico_datastore::ipam::{AssignIpArgs, AutoAssignArgs, Ipam, ReleaseOptions};
use calico_datastore::testing::{ETCD_BINARY, EtcdServer};
use calico_datastore::{Datastore, Error};
use calico_model::{IPPoolAllowedUse, Kind, Resource};

mod common;
use common::Out;

/// Where calico-model keeps one valid manifest per kind and variant.
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../calico-model/tests/fixtures/valid"
);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A datastore calicoctl is pointed at through the environment.
#[derive(Clone)]
enum Target {
    Embedded(PathBuf),
    Etcd(String),
}

impl Target {
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Target::Embedded(p) => vec![
                ("DATASTORE_TYPE", "embedded".into()),
                ("CALICO_DATASTORE_PATH", p.display().to_string()),
            ],
            Target::Etcd(endpoint) => vec![
                ("DATASTORE_TYPE", "etcdv3".into()),
                ("ETCD_ENDPOINTS", endpoint.clone()),
            ],
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_stdin(args, None)
    }

    fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        common::calicoctl(&env, args, stdin)
    }

    fn export(&self) -> String {
        let out = self.run(&["datastore", "migrate", "export"]).ok();
        assert_eq!(out.stderr, "", "no progress drawn when not on a terminal");
        out.stdout
    }

    fn import(&self, file: &Path) -> Out {
        self.run(&[
            "datastore",
            "migrate",
            "import",
            "-f",
            &file.display().to_string(),
        ])
    }
}

/// Every resource of the valid fixtures that calicoctl's users write (not
/// ClusterInformation, not the IPAM kinds, which IPAM itself writes below).
fn fixture_resources() -> Vec<Resource> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for r in calico_model::decode(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display())) {
            if r.kind() != Kind::ClusterInformation
                && !calico_datastore::migrate::is_ipam_kind(r.kind())
            {
                out.push(r);
            }
        }
    }
    out
}

/// Fills an embedded store: every fixture, and IPAM state from real allocations (several
/// hosts, attributes, a specific address, released holes, a strict-affinity config).
async fn populate(db: &Path) -> Arc<dyn Datastore> {
    let store: Arc<dyn Datastore> = Arc::new(EmbeddedDatastore::open(db).unwrap());
    let mut kinds = BTreeSet::new();
    for mut r in fixture_resources() {
        calico_datastore::migrate::strip_metadata(&mut r);
        let kind = r.kind();
        match store.create(r).await {
            Ok(_) => {
                kinds.insert(kind.kind());
            }
            Err(Error::AlreadyExists { .. }) => {}
            Err(e) => panic!("fixture {kind}: {e}"),
        }
    }
    for must in [
        "IPPool",
        "GlobalNetworkPolicy",
        "NetworkPolicy",
        "NetworkSet",
        "GlobalNetworkSet",
        "HostEndpoint",
        "Profile",
        "BGPPeer",
        "BGPConfiguration",
        "FelixConfiguration",
        "Tier",
        "WorkloadEndpoint",
        "Node",
        "BGPFilter",
        "IPReservation",
        "KubeControllersConfiguration",
        "StagedNetworkPolicy",
        "StagedKubernetesNetworkPolicy",
    ] {
        assert!(kinds.contains(must), "no {must} in the fixtures: {kinds:?}");
    }
    let ipam = Ipam::new(Arc::clone(&store));
    for i in 0..12 {
        let host = format!("node-{}", i % 3);
        let mut args = AutoAssignArgs::new(&format!("k8s-pod-network.c{i}"), &host, 2, 0);
        args.attrs.insert("node".into(), host.clone());
        args.attrs.insert("namespace".into(), "default".into());
        args.attrs.insert("pod".into(), format!("pod-{i}"));
        ipam.auto_assign(&args).await.unwrap();
    }
    ipam.assign_ip(&AssignIpArgs {
        ip: "192.168.200.7".parse().unwrap(),
        handle_id: "tunnel.node-9".into(),
        attrs: [("type".to_owned(), "ipipTunnelAddress".to_owned())].into(),
        hostname: "node-9".into(),
        intended_use: IPPoolAllowedUse::Tunnel,
    })
    .await
    .unwrap();
    // Holes: released addresses leave sequence numbers and unallocated order behind.
    ipam.release_by_handle("k8s-pod-network.c4").await.unwrap();
    let one = ipam.ips_by_handle("k8s-pod-network.c5").await.unwrap()[0];
    ipam.release_ips(&[ReleaseOptions {
        address: one,
        handle_id: None,
        sequence_number: None,
    }])
    .await
    .unwrap();
    store
}

fn allocations(store: &Arc<dyn Datastore>, rt: &tokio::runtime::Runtime) -> Vec<(IpAddr, String)> {
    rt.block_on(Ipam::new(Arc::clone(store)).allocations())
        .unwrap()
        .into_iter()
        .map(|a| (a.ip, a.handle.unwrap_or_default()))
        .collect()
}

fn etcd_available() -> bool {
    let binary = std::env::var("CALICO_TEST_ETCD").unwrap_or_else(|_| ETCD_BINARY.to_owned());
    Path::new(&binary).exists()
}

/// One line of `ipam check`'s summary per datastore, for comparison.
fn ipam_check(target: &Target) -> String {
    let out = target.run(&["ipam", "check"]).ok();
    assert_eq!(out.stderr, "", "no spinner when not on a terminal");
    out.stdout
}

#[test]
fn embedded_to_etcd_and_back_is_lossless() {
    if !etcd_available() {
        eprintln!(
            "!!! SKIPPING embedded_to_etcd_and_back_is_lossless: no etcd binary at {ETCD_BINARY} (Debian package etcd-server) or $CALICO_TEST_ETCD"
        );
        return;
    }
    let rt = rt();
    let dir = common::scratch_dir();
    let a = Target::Embedded(dir.path().join("a.db"));
    let source = rt.block_on(populate(&dir.path().join("a.db")));
    // IPAM configuration through calicoctl itself.
    a.run(&["ipam", "configure", "--strictaffinity=true"]).ok();
    let before = allocations(&source, &rt);
    assert!(before.len() >= 20, "{before:?}");

    a.run(&["datastore", "migrate", "lock"])
        .ok()
        .has_line("Datastore locked.");
    let first = a.export();
    for kind in Kind::ALL {
        if *kind != Kind::CalicoNodeStatus || first.contains("kind: CalicoNodeStatus") {
            assert!(
                first.contains(&format!("\nkind: {}\n", kind.kind()))
                    || first.starts_with(&format!(
                        "apiVersion: projectcalico.org/v3\nkind: {}\n",
                        kind.kind()
                    )),
                "{kind} missing from the export"
            );
        }
    }
    for ipam_detail in [
        "sequenceNumberForAllocation:",
        "pod: pod-11",
        "type: ipipTunnelAddress",
        "state: confirmed",
        "strictAffinity: true",
        "handleID: k8s-pod-network.c0",
    ] {
        assert!(
            first.contains(ipam_detail),
            "{ipam_detail} missing from the export"
        );
    }
    assert!(!first.contains("resourceVersion:"));
    assert!(!first.contains("uid:"));
    assert!(!first.contains("creationTimestamp:"));
    let file = dir.path().join("export.yaml");
    std::fs::write(&file, &first).unwrap();

    // → etcd
    let server = rt.block_on(EtcdServer::spawn()).expect("etcd starts");
    let etcd = Target::Etcd(server.endpoint());
    let started = Instant::now();
    let out = etcd.import(&file).ok();
    eprintln!("import into etcd: {:?}", started.elapsed());
    assert_eq!(out.stderr, "");
    assert!(
        out.stdout.ends_with("Datastore information successfully imported. Please refer to the datastore migration documentation for next steps.\n"),
        "{}",
        out.stdout
    );
    out.has_line("Importing IPAM resources");
    let second = etcd.export();
    assert!(
        second == first,
        "etcd re-export differs:\n{}",
        diff(&first, &second)
    );

    // → a fresh embedded store
    let file2 = dir.path().join("export2.yaml");
    std::fs::write(&file2, &second).unwrap();
    let c = Target::Embedded(dir.path().join("c.db"));
    c.import(&file2).ok();
    let third = c.export();
    assert!(
        third == first,
        "embedded re-export differs:\n{}",
        diff(&first, &third)
    );

    // IPAM works on the result: same allocations, same check, new addresses are free ones.
    let check_a = ipam_check(&a);
    assert!(check_a.contains("IPAM blocks."), "{check_a}");
    assert_eq!(ipam_check(&etcd), check_a);
    assert_eq!(ipam_check(&c), check_a);
    let imported: Arc<dyn Datastore> =
        Arc::new(EmbeddedDatastore::open(dir.path().join("c.db")).unwrap());
    assert_eq!(allocations(&imported, &rt), before);
    let got = rt
        .block_on(
            Ipam::new(Arc::clone(&imported)).auto_assign(&AutoAssignArgs::new(
                "k8s-pod-network.new",
                "node-1",
                3,
                0,
            )),
        )
        .unwrap();
    for net in got.ipv4 {
        assert!(
            !before.iter().any(|(ip, _)| *ip == net.addr()),
            "{net} handed out twice"
        );
    }

    // The import leaves the target locked, as calicoctl's does; unlock restores it.
    let ci = etcd
        .run(&["get", "clusterinformation", "default", "-o", "yaml"])
        .ok();
    assert!(ci.stdout.contains("datastoreReady: false"), "{}", ci.stdout);
    etcd.run(&["datastore", "migrate", "unlock"])
        .ok()
        .has_line("Datastore unlocked.");
    let ci = etcd
        .run(&["get", "clusterinformation", "default", "-o", "yaml"])
        .ok();
    assert!(ci.stdout.contains("datastoreReady: true"), "{}", ci.stdout);
    // Unlocked again: export is refused, as in calicoctl.
    let out = etcd.run(&["datastore", "migrate", "export"]).fails();
    assert_eq!(out.stdout, "");
}

/// The first differing lines of two exports.
fn diff(a: &str, b: &str) -> String {
    let mut out = String::new();
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            out.push_str(&format!("line {}: {x:?} != {y:?}\n", i + 1));
            if out.len() > 2000 {
                break;
            }
        }
    }
    out.push_str(&format!(
        "({} vs {} lines)",
        a.lines().count(),
        b.lines().count()
    ));
    out
}

#[test]
fn export_refuses_an_unlocked_datastore() {
    let dir = common::scratch_dir();
    let a = Target::Embedded(dir.path().join("a.db"));
    a.run_stdin(
        &["create", "-f", "-"],
        Some("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16}\n"),
    )
    .ok();
    let out = a.run(&["datastore", "migrate", "export"]).fails();
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "datastore is not locked. Run the `calicoctl datastore migrate lock` command in order to begin migration\n"
    );
    // unlock without a ClusterInformation: calicoctl's message.
    let out = a.run(&["datastore", "migrate", "unlock"]).fails();
    assert_eq!(
        out.stderr,
        "Error retrieving ClusterInformation for unlocking: resource does not exist: ClusterInformation(default) with error: <nil>\n"
    );
    a.run(&["datastore", "migrate", "lock"]).ok();
    a.run(&["datastore", "migrate", "lock"]).ok(); // twice is fine
    assert!(a.export().contains("name: p\n"));
}

/// Export of a small locked store, for the refusal tests.
fn small_export(dir: &Path) -> String {
    let a = Target::Embedded(dir.join("src.db"));
    a.run_stdin(
        &["create", "-f", "-"],
        Some(
            "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16}\n---\n\
             apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {name: n, namespace: ns1}\nspec: {nets: [192.0.2.0/24]}\n",
        ),
    )
    .ok();
    a.run(&["datastore", "migrate", "lock"]).ok();
    a.export()
}

/// True if the store holds nothing at all (no ClusterInformation either).
fn is_untouched(t: &Target, expect_gns: usize) {
    let out = t.run(&["get", "clusterinformation", "default"]);
    assert_eq!(out.code, Some(1), "no ClusterInformation written: {out:#?}");
    let out = t.run(&["get", "ippools", "-o", "yaml"]).ok();
    assert!(out.stdout.contains("items: []"), "{}", out.stdout);
    let out = t.run(&["get", "networksets", "-A", "-o", "yaml"]).ok();
    assert!(out.stdout.contains("items: []"), "{}", out.stdout);
    let out = t.run(&["get", "globalnetworksets", "-o", "json"]).ok();
    assert_eq!(
        out.stdout.matches("\"kind\": \"GlobalNetworkSet\"").count(),
        expect_gns
    );
}

#[test]
fn import_refuses_a_non_empty_target_and_writes_nothing() {
    let dir = common::scratch_dir();
    let stream = small_export(dir.path());
    let file = dir.path().join("x.yaml");
    std::fs::write(&file, &stream).unwrap();
    let t = Target::Embedded(dir.path().join("t.db"));
    t.run_stdin(
        &["create", "-f", "-"],
        Some("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: here}\nspec: {nets: [198.51.100.0/24]}\n"),
    )
    .ok();
    let out = t.import(&file).fails();
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "Datastore already has Calico resources: Found existing Calico GlobalNetworkSet resource (here). Import into an empty datastore\n"
    );
    is_untouched(&t, 1);
}

#[test]
fn a_malformed_stream_is_refused_with_nothing_written() {
    let dir = common::scratch_dir();
    let stream = small_export(dir.path());
    let t = Target::Embedded(dir.path().join("t.db"));

    // An unknown field in the last document: decoding fails before any write.
    let bad = stream.replacen("  cidr: 10.0.0.0/16", "  cidrr: 10.0.0.0/16", 1);
    assert_ne!(bad, stream);
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, &bad).unwrap();
    let out = t.import(&file).fails();
    let shown = file.display().to_string();
    assert!(
        out.stderr.starts_with(&format!(
            "Error while reading migration file: {shown}:2: IPPool/p: spec.cidrr: "
        )),
        "{}",
        out.stderr
    );
    is_untouched(&t, 0);

    // Decodes, but a resource repeats and one is invalid: every problem, nothing written.
    let dup = format!(
        "{stream}---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: p}}\nspec: {{cidr: 10.9.0.0/16}}\n---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: q}}\nspec: {{cidr: 10.0.0.0/99}}\n"
    );
    let file = dir.path().join("dup.yaml");
    std::fs::write(&file, &dup).unwrap();
    let out = t.import(&file).fails();
    assert!(
        out.stderr.starts_with("Failed to import v3 resources: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(":4: IPPool/p: also in document 2"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(":5: IPPool/q: spec.cidr: "),
        "{}",
        out.stderr
    );
    is_untouched(&t, 0);

    // Go calicoctl's export file (sections split by `===`) is recognised.
    let out = t
        .run_stdin(
            &["datastore", "migrate", "import", "-f", "-"],
            Some(&format!("{stream}===\n{{}}\n===\n{{}}\n")),
        )
        .fails();
    assert!(out.stderr.contains("Go calicoctl export"), "{}", out.stderr);
    // A missing file: Go's wording.
    let out = t
        .run(&[
            "datastore",
            "migrate",
            "import",
            "-f",
            "/nonexistent/x.yaml",
        ])
        .fails();
    assert_eq!(
        out.stderr,
        "Error while reading migration file: open /nonexistent/x.yaml: no such file or directory\n"
    );
    let out = t
        .run(&[
            "datastore",
            "migrate",
            "import",
            "-f",
            &dir.path().display().to_string(),
        ])
        .fails();
    assert!(out.stderr.ends_with(": is a directory\n"), "{}", out.stderr);
    is_untouched(&t, 0);

    // The good stream from stdin works.
    let out = t
        .run_stdin(
            &["datastore", "migrate", "import", "-f", "-"],
            Some(&stream),
        )
        .ok();
    out.has_line("Successfully applied 2 resource(s)")
        .has_line("Successfully applied 0 IPAM resource(s)");
}

/// Export + import time of a store of about 10,000 resources, embedded and etcd. Prints
/// numbers; asserts only correctness. `cargo test -p calicoctl --test migrate --release --
/// --ignored --nocapture migrate_10k`.
#[test]
#[ignore = "benchmark: run explicitly"]
fn migrate_10k_timings() {
    let rt = rt();
    let dir = common::scratch_dir();
    let mut text = String::new();
    text.push_str("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/12}\n");
    for i in 0..4000 {
        text.push_str(&format!(
            "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {{name: gns-{i}, labels: {{i: \"{i}\"}}}}\nspec: {{nets: [10.{}.{}.0/24]}}\n",
            i / 256,
            i % 256
        ));
        text.push_str(&format!(
            "---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: np-{i}, namespace: ns-{}}}\nspec: {{selector: app == 'a{i}', ingress: [{{action: Allow, source: {{selector: app == 'b'}}}}]}}\n",
            i % 10
        ));
    }
    let src = dir.path().join("src.db");
    let store: Arc<dyn Datastore> = Arc::new(EmbeddedDatastore::open(&src).unwrap());
    let resources = calico_model::decode(&text).unwrap();
    rt.block_on(calico_datastore::migrate::import(
        store.as_ref(),
        resources,
        &calico_datastore::migrate::ImportOptions::default(),
        &(),
    ))
    .unwrap();
    rt.block_on(calico_datastore::migrate::unlock(store.as_ref()))
        .unwrap();
    // ~1,700 IPAM objects: 1,200 pods with a handle each over many blocks.
    let ipam = Ipam::new(Arc::clone(&store));
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..1200 {
            let ipam = ipam.clone();
            tasks.push(tokio::spawn(async move {
                let args =
                    AutoAssignArgs::new(&format!("h{i}"), &format!("node-{}", i % 200), 1, 0);
                ipam.auto_assign(&args).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let a = Target::Embedded(src);
    a.run(&["datastore", "migrate", "lock"]).ok();
    let t0 = Instant::now();
    let stream = a.export();
    let export_embedded = t0.elapsed();
    let docs = stream.matches("\n---\n").count() + 1;
    let file = dir.path().join("x.yaml");
    std::fs::write(&file, &stream).unwrap();

    let b = Target::Embedded(dir.path().join("b.db"));
    let t0 = Instant::now();
    b.import(&file).ok();
    let import_embedded = t0.elapsed();
    assert!(b.export() == stream);

    println!("documents: {docs}");
    println!("embedded export: {export_embedded:?}");
    println!("embedded import: {import_embedded:?}");
    if etcd_available() {
        let server = rt.block_on(EtcdServer::spawn()).unwrap();
        let e = Target::Etcd(server.endpoint());
        let t0 = Instant::now();
        e.import(&file).ok();
        let import_etcd = t0.elapsed();
        let t0 = Instant::now();
        let again = e.export();
        let export_etcd = t0.elapsed();
        assert!(again == stream);
        println!("etcd import: {import_etcd:?}");
        println!("etcd export: {export_etcd:?}");
    } else {
        println!("!!! etcd not available: no etcd numbers");
    }
}
