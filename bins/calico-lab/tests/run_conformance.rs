//! The conformance test that ties the evaluator to the kernel: `calico-lab run` (calico-node
//! programming nftables in a node namespace, real packets) and `calico-lab simulate` (the
//! reference evaluator) must give the same answer for every probe `run` sends, and every
//! non-loopback probe must match its expectation — for the quickstart, the shared
//! `netpol.json`, and our IP-version (dual stack, ICMPv6, external addresses) and L4 scenarios. Needs root, `ip`, `nft` and a built
//! `calico-node` next to `calico-lab` (or `CALICO_NODE_BIN`); elsewhere it skips loudly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a test failure

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{answers, lab, sibling};

fn node_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CALICO_NODE_BIN") {
        return Some(PathBuf::from(p));
    }
    sibling("calico-node")
}

#[test]
fn run_and_simulate_agree_on_every_probe() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP (not root): run_and_simulate_agree_on_every_probe needs namespaces");
        return;
    }
    let Some(node) = node_bin() else {
        eprintln!(
            "SKIP (no calico-node next to calico-lab; build it or set CALICO_NODE_BIN): \
             run_and_simulate_agree_on_every_probe"
        );
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in [
        root.join("examples/lab/quickstart.json"),
        root.join("scenarios/netpol.json"),
        root.join("scenarios/ipversion.json"),
        root.join("scenarios/l4-edges.json"),
    ] {
        let (sim, _, _) = answers(&["simulate", "--json"], &file);
        let node = node.to_string_lossy().into_owned();
        let (real, summary, out) = answers(
            &["run", "--json", "--timeout-ms", "500", "--node-bin", &node],
            &file,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("without the nftables backend") {
            // A branch where calico-node cannot enforce yet (no `nft` module merged).
            eprintln!(
                "SKIP (calico-node built without its nftables backend): \
                 run_and_simulate_agree_on_every_probe"
            );
            return;
        }
        assert!(
            !real.is_empty(),
            "{}: no probe answered; stderr:\n{stderr}",
            file.display(),
        );
        let disagree: Vec<String> = real
            .iter()
            .filter(|(k, a)| sim.get(*k) != Some(*a))
            .map(|(k, a)| format!("{k:?}: run {a}, simulate {:?}", sim.get(k)))
            .collect();
        assert!(
            disagree.is_empty(),
            "{}: {} probe(s) disagree:\n{}\nsummary {summary}",
            file.display(),
            disagree.len(),
            disagree.join("\n")
        );
        assert_eq!(summary["mismatched"], 0, "{}: {summary}", file.display());
        assert_eq!(summary["errors"], 0, "{}: {summary}", file.display());
        assert!(out.status.success(), "{}: {summary}", file.display());
    }
    // The kernel enforces: the write -> changed-verdict measurement works too.
    let quickstart = root.join("examples/lab/quickstart.json");
    let out = Command::new(lab())
        .args([
            "latency",
            "--from-case",
            "open",
            "--to-case",
            "shop-locked-down",
        ])
        .args(["--rounds", "3", "--node-bin"])
        .arg(&node)
        .arg(&quickstart)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("p50").count(), 2, "{stdout}");
}

#[test]
fn the_calico_node_path_runs_end_to_end_with_the_recording_dataplane() {
    // Datastore writes, calico-node in the node namespace, readiness, the "programmed" wait,
    // probes and teardown; `none` enforces nothing, so every probe must connect.
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "SKIP (not root): the_calico_node_path_runs_end_to_end_with_the_recording_dataplane"
        );
        return;
    }
    let Some(node) = node_bin() else {
        eprintln!(
            "SKIP (no calico-node next to calico-lab): \
             the_calico_node_path_runs_end_to_end_with_the_recording_dataplane"
        );
        return;
    };
    let prefix = format!("clabtnode{:04x}", fastrand::u16(..));
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/quickstart.json");
    let node = node.to_string_lossy().into_owned();
    let args = [
        "run",
        "--json",
        "--dataplane",
        "none",
        "--prefix",
        &prefix,
        "--node-bin",
        &node,
    ];
    let (real, summary, out) = answers(&args, &file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(summary["errors"], 0, "{summary}\n{stderr}");
    assert_eq!(real.len(), 39, "{summary}\n{stderr}");
    assert!(real.values().all(|a| *a), "{real:?}");
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&left.stdout).contains(&prefix));
}
