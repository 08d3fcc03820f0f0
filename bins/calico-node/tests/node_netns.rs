//! The real `calico-node` with the nftables dataplane inside a throwaway network namespace
//! (needs root, `nft`, and the cargo feature `nftables`).

#![cfg(feature = "nftables")]
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use calico_datastore::Datastore;
use calico_datastore::embedded::EmbeddedDatastore;

/// A network namespace (and the calico-node in it) removed on drop.
struct Lab {
    ns: String,
    node: Option<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(child) = &mut self.node {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `GET path` on 127.0.0.1:`port` inside the namespace; the status code, if anything answered.
fn get_in_ns(ns: &str, port: u16, path: &str) -> Option<u16> {
    let ns_path = format!("/run/netns/{ns}");
    let path = path.to_owned();
    std::thread::spawn(move || -> Option<u16> {
        let fd = File::open(&ns_path).ok()?;
        nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.split_whitespace().nth(1)?.parse().ok()
    })
    .join()
    .ok()
    .flatten()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write_resources(db: &Path, yaml: &str) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = EmbeddedDatastore::open(db).unwrap();
            for r in calico_model::decode_yaml(yaml).unwrap() {
                store.create(r).await.unwrap();
            }
        });
}

/// Starts calico-node (nftables) inside the lab's namespace; returns its pid.
fn spawn_node(lab: &mut Lab, db: &Path, status: &Path, health: u16) -> u32 {
    let child = Command::new("ip")
        .args(["netns", "exec", &lab.ns, env!("CARGO_BIN_EXE_calico-node")])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NODENAME", "node1")
        .env("DATASTORE_TYPE", "embedded")
        .env("CALICO_DATASTORE_PATH", db)
        .env("CALICO_DATAPLANE", "nftables")
        .env("FELIX_HEALTHHOST", "127.0.0.1")
        .env("FELIX_HEALTHPORT", health.to_string())
        .env("FELIX_ENDPOINTSTATUSPATHPREFIX", status)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    lab.node = Some(child);
    pid
}

/// Sends SIGTERM and waits for a clean exit.
fn stop_node(lab: &mut Lab, pid: u32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut child = lab.node.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "calico-node did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn node_programs_rules_routes_and_status_and_leaves_them_on_sigterm() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIP (not root): node_netns needs root for network namespaces and nft");
        return;
    }
    let ns = format!("calt-node-{}", std::process::id());
    run(&["ip", "netns", "add", &ns]);
    let mut lab = Lab {
        ns: ns.clone(),
        node: None,
    };
    run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
    run(&[
        "ip",
        "-n",
        &ns,
        "link",
        "add",
        "cali12345678901",
        "type",
        "veth",
        "peer",
        "name",
        "pod0",
    ]);
    run(&["ip", "-n", &ns, "link", "set", "cali12345678901", "up"]);
    run(&["ip", "-n", &ns, "link", "set", "pod0", "up"]);

    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("datastore.db");
    write_resources(
        &db,
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
"#,
    );
    let status = tmp.path().join("status");
    let health = 19099;
    let pid = spawn_node(&mut lab, &db, &status, health);

    let file = status.join("endpoint-status/k8s default%2Fweb eth0");
    wait_for("the endpoint status file", || file.exists());
    wait_for("readiness", || {
        get_in_ns(&ns, health, "/readiness") == Some(200)
    });
    let routes = run(&["ip", "-n", &ns, "-4", "route", "show", "10.65.0.1/32"]);
    assert!(routes.contains("dev cali12345678901"), "{routes}");
    let proxy_arp = run(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "cat",
        "/proc/sys/net/ipv4/conf/cali12345678901/proxy_arp",
    ]);
    assert_eq!(proxy_arp.trim(), "1");
    let rules = run(&[
        "ip", "netns", "exec", &ns, "nft", "list", "table", "inet", "calico",
    ]);
    assert!(rules.contains("cali12345678901"), "{rules}");

    // SIGTERM (`ip netns exec` execs calico-node, so this is its pid): exit 0, rules and
    // routes stay.
    stop_node(&mut lab, pid);
    let after = run(&[
        "ip", "netns", "exec", &ns, "nft", "list", "table", "inet", "calico",
    ]);
    assert_eq!(after, rules, "shutdown must leave the rules in place");
    let routes = run(&["ip", "-n", &ns, "-4", "route", "show", "10.65.0.1/32"]);
    assert!(routes.contains("dev cali12345678901"), "{routes}");
    assert!(file.exists());

    // A restart rebuilds the state from the datastore and ends with the same ruleset.
    let pid = spawn_node(&mut lab, &db, &status, health);
    wait_for("readiness after restart", || {
        get_in_ns(&ns, health, "/readiness") == Some(200)
    });
    let restarted = run(&[
        "ip", "netns", "exec", &ns, "nft", "list", "table", "inet", "calico",
    ]);
    assert_eq!(
        restarted, rules,
        "a restart must converge to the same rules"
    );
    stop_node(&mut lab, pid);
}

/// Figures for docs/NODE.md, not an assertion: how long after a WorkloadEndpoint is written
/// to the datastore its status file appears (what the CNI plugin waits for), through the
/// syncer, the calculation graph, nftables and the status writer.
/// `cargo test -p calico-node --features nftables --test node_netns -- --ignored --nocapture`
#[test]
#[ignore = "measurement; run by hand"]
fn measure_endpoint_write_to_status_file() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIP (not root): measurement needs root");
        return;
    }
    let ns = format!("calt-nodem-{}", std::process::id());
    run(&["ip", "netns", "add", &ns]);
    let mut lab = Lab {
        ns: ns.clone(),
        node: None,
    };
    run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("datastore.db");
    write_resources(
        &db,
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: allow-dns}\n\
         spec: {selector: all(), egress: [{action: Allow, protocol: UDP, destination: {ports: [53]}}]}\n",
    );
    let status = tmp.path().join("status");
    let health = 19099;
    let pid = spawn_node(&mut lab, &db, &status, health);
    wait_for("readiness", || {
        get_in_ns(&ns, health, "/readiness") == Some(200)
    });
    let mut samples = Vec::new();
    for i in 0..40 {
        let yaml = format!(
            "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n\
             metadata: {{name: node1-k8s-pod{i}-eth0, namespace: default, labels: {{app: web}}}}\n\
             spec: {{node: node1, orchestrator: k8s, pod: pod{i}, endpoint: eth0,\n\
             interfaceName: cali{i:011}, ipNetworks: [10.67.0.{}/32]}}\n",
            i + 1
        );
        let file = status.join(format!("endpoint-status/k8s default%2Fpod{i} eth0"));
        let t = Instant::now();
        write_resources(&db, &yaml);
        while !file.exists() {
            std::thread::sleep(Duration::from_micros(200));
        }
        samples.push(t.elapsed());
    }
    samples.sort();
    eprintln!(
        "WorkloadEndpoint write -> status file: p50 {:?}, p99 {:?}, max {:?} ({} samples)",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
        samples[samples.len() - 1],
        samples.len()
    );
    stop_node(&mut lab, pid);
}
