//! Runs the real `calico-node` binary (dataplane `none`) on a temporary embedded datastore.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use calico_datastore::Datastore;
use calico_datastore::embedded::EmbeddedDatastore;

/// Kills the child if the test fails before it exits.
struct Node(Option<Child>);

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `(status, body)` of `GET path`, or None if nothing listens yet.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Starts calico-node (dataplane `none`) as node1 on the embedded store `db`, health and
/// metrics on loopback, with `extra` environment.
fn spawn_node(db: &std::path::Path, health: u16, metrics: u16, extra: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_calico-node"))
        .env_clear()
        .env("NODENAME", "node1")
        .env("DATASTORE_TYPE", "embedded")
        .env("CALICO_DATASTORE_PATH", db)
        .env("CALICO_DATAPLANE", "none")
        .env("FELIX_HEALTHHOST", "127.0.0.1")
        .env("FELIX_HEALTHPORT", health.to_string())
        .env("FELIX_PROMETHEUSMETRICSENABLED", "true")
        .env("FELIX_PROMETHEUSMETRICSHOST", "127.0.0.1")
        .env("FELIX_PROMETHEUSMETRICSPORT", metrics.to_string())
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[test]
fn node_becomes_ready_reports_metrics_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("datastore.db");
    let health = free_port();
    let metrics = free_port();
    let child = spawn_node(
        &db,
        health,
        metrics,
        &[
            ("FELIX_LOGSEVERITYSCREEN", "info"),
            ("FELIX_ROUTEREFRESHINTERVAL", "1"),
        ],
    );
    let pid = child.id();
    let mut node = Node(Some(child));

    wait_for("liveness", || {
        get(health, "/liveness").is_some_and(|(s, _)| s == 200)
    });
    wait_for("readiness", || {
        get(health, "/readiness").is_some_and(|(s, _)| s == 200)
    });

    // Write a local workload endpoint, a remote one and a policy that selects them.
    let (written, marker) = on_store(&db, async |store| {
        let docs = calico_model::decode_yaml(
            r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow-dns}
spec:
  selector: all()
  egress: [{action: Allow, protocol: UDP, destination: {ports: [53]}}]
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node1-k8s-web-eth0, namespace: default, labels: {app: web}}
spec: {node: node1, orchestrator: k8s, pod: web, endpoint: eth0,
       interfaceName: cali12345678901, ipNetworks: [10.65.0.1/32]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node2-k8s-db-eth0, namespace: default, labels: {app: db}}
spec: {node: node2, orchestrator: k8s, pod: db, endpoint: eth0,
       interfaceName: cali98765432109, ipNetworks: [10.65.1.1/32]}
"#,
        )
        .unwrap();
        let mut written = 0u64;
        for r in docs {
            let created = store.create(r).await.unwrap();
            written = written.max(created.metadata().resource_version.parse().unwrap());
        }
        // A write that changes nothing on this node still counts as applied.
        let marker = calico_model::decode_yaml(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: marker}\nspec: {nets: [192.0.2.0/24]}\n",
        )
        .unwrap()
        .remove(0);
        let marker = store.create(marker).await.unwrap();
        (
            written,
            marker.metadata().resource_version.parse::<u64>().unwrap(),
        )
    });
    assert!(marker > written);

    let mut last = String::new();
    wait_for("metrics to count the endpoints and the policy", || {
        let Some((200, body)) = get(metrics, "/metrics") else {
            return false;
        };
        last = body;
        metric(&last, "felix_cluster_num_workload_endpoints") == Some(2.0)
            && metric(&last, "felix_active_local_policies") == Some(1.0)
            && metric(&last, "felix_active_local_endpoints") == Some(1.0)
            && metric(&last, "felix_resyncs_started").is_some_and(|n| n >= 1.0)
            // The initial list (the built-in profile and the ClusterInformation written at
            // startup), three resources and the marker.
            && metric(&last, "calico_node_applied_updates") == Some(6.0)
    });
    assert_eq!(metric(&last, "felix_resync_state"), Some(3.0));
    assert!(metric(&last, "felix_int_dataplane_apply_time_seconds_count").unwrap() >= 2.0);
    assert_eq!(metric(&last, "felix_int_dataplane_failures"), Some(0.0));
    assert!(metric(&last, "felix_int_dataplane_messages").unwrap() >= 3.0);
    assert!(
        metric(&last, "felix_cluster_num_policies") == Some(1.0),
        "{last}"
    );

    // SIGTERM: a clean exit.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut child = node.0.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("calico-node did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn unknown_dataplane_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_calico-node"))
        .env_clear()
        .env("CALICO_DATAPLANE", "ebpf")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown dataplane"), "{err}");
}

/// Runs `f` on the embedded store at `db`, on a runtime of its own.
fn on_store<T>(db: &std::path::Path, f: impl AsyncFnOnce(EmbeddedDatastore) -> T) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { f(EmbeddedDatastore::open(db).unwrap()).await })
}

/// Sets `ClusterInformation/default` `datastoreReady` as `calicoctl datastore migrate
/// lock`/`unlock` do.
fn set_ready(db: &std::path::Path, ready: bool) {
    use calico_datastore::DatastoreExt;
    on_store(db, async |store| {
        store
            .modify(&calico_datastore::cluster::key(), |r| {
                if let calico_model::Resource::ClusterInformation(ci) = r {
                    ci.spec.datastore_ready = Some(ready);
                }
            })
            .await
            .unwrap();
    });
}

fn write_set(db: &std::path::Path, name: &str) {
    on_store(db, async |store| {
        let set = calico_model::decode_yaml(&format!(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {{name: {name}}}\nspec: {{nets: [192.0.2.0/24]}}\n"
        ))
        .unwrap()
        .remove(0);
        store.create(set).await.unwrap();
    });
}

#[test]
fn a_migration_lock_holds_updates_until_unlocked() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("datastore.db");
    let health = free_port();
    let metrics = free_port();
    let child = spawn_node(&db, health, metrics, &[("CLUSTER_TYPE", "k8s,bgp")]);
    let _node = Node(Some(child));
    let ready = || get(health, "/readiness").map(|(s, _)| s);
    let applied =
        || get(metrics, "/metrics").and_then(|(_, b)| metric(&b, "calico_node_applied_updates"));
    wait_for("readiness", || ready() == Some(200));

    // Startup initialised the cluster information, as calico-node's does.
    let ci = on_store(&db, async |store| {
        calico_datastore::cluster::get(&store).await
    })
    .unwrap()
    .unwrap();
    assert_eq!(ci.spec.calico_version, "v0.1.0");
    assert_eq!(ci.spec.cluster_type, "k8s,bgp");
    assert_eq!(ci.spec.datastore_ready, Some(true));
    assert_eq!(ci.spec.cluster_guid.len(), 32);

    let before = applied().unwrap();
    set_ready(&db, false);
    wait_for("not ready while locked", || ready() == Some(503));
    write_set(&db, "during-lock");
    // Held: give the node time to (wrongly) apply, then check it did not.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(applied(), Some(before), "nothing is applied while locked");
    assert_eq!(ready(), Some(503));

    set_ready(&db, true);
    wait_for("ready again", || ready() == Some(200));
    // The lock, the set and the unlock are all in effect now.
    wait_for("held updates applied", || applied() == Some(before + 3.0));
}
