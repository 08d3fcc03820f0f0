//! `calico-lab run --via-cni`: the pods wired by the real `calico` CNI plugin (with
//! `calico-ipam`) instead of by the lab; every probe must still match the simulator and
//! nothing may be left behind (namespaces, host veths). Needs root, `ip`, `nft`, and
//! `calico-node`, `calico` and `calico-ipam` next to `calico-lab` (binaries of other packages
//! are not built for this package's tests: `scripts/test-all.sh` builds them first);
//! elsewhere it skips loudly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a test failure

use std::path::Path;
use std::process::Command;

mod common;
use common::{answers, lab, sibling};

/// True (after a loud message) when this test cannot run here.
fn skip(test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP (not root): {test} needs network namespaces");
        return true;
    }
    for bin in ["calico-node", "calico", "calico-ipam"] {
        if sibling(bin).is_none() {
            eprintln!(
                "SKIP !!! {test}: no `{bin}` next to {} — build it first \
                 (`cargo build -p calico-node -p calico-cni -p calico-ipam`, as \
                 scripts/test-all.sh does) !!!",
                lab()
            );
            return true;
        }
    }
    false
}

#[test]
fn via_cni_the_quickstart_matches_the_simulator_and_the_direct_path() {
    let test = "via_cni_the_quickstart_matches_the_simulator_and_the_direct_path";
    if skip(test) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in [
        root.join("examples/lab/quickstart.json"),
        // Dual stack: both addresses through `IP=<v4>,<v6>`.
        root.join("scenarios/ipversion.json"),
    ] {
        let (sim, _, _) = answers(&["simulate", "--json"], &file);
        let prefix = format!("clabtcni{:04x}", fastrand::u16(..));
        let (direct, _, _) = answers(&["run", "--json", "--timeout-ms", "500"], &file);
        let (real, summary, out) = answers(
            &[
                "run",
                "--json",
                "--timeout-ms",
                "500",
                "--via-cni",
                "--prefix",
                &prefix,
            ],
            &file,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("without the nftables backend") {
            eprintln!("SKIP (calico-node built without its nftables backend): {test}");
            return;
        }
        assert!(
            !real.is_empty(),
            "{}: no probe answered; stderr:\n{stderr}",
            file.display()
        );
        let disagree: Vec<String> = real
            .iter()
            .filter(|(k, a)| sim.get(*k) != Some(*a))
            .map(|(k, a)| format!("{k:?}: run --via-cni {a}, simulate {:?}", sim.get(k)))
            .collect();
        assert!(
            disagree.is_empty(),
            "{}: {} probe(s) disagree:\n{}\nsummary {summary}\n{stderr}",
            file.display(),
            disagree.len(),
            disagree.join("\n")
        );
        assert_eq!(
            real,
            direct,
            "{}: --via-cni and the direct path differ",
            file.display()
        );
        assert_eq!(summary["mismatched"], 0, "{}: {summary}", file.display());
        assert_eq!(
            summary["errors"],
            0,
            "{}: {summary}\n{stderr}",
            file.display()
        );
        assert!(
            out.status.success(),
            "{}: {summary}\n{stderr}",
            file.display()
        );
        assert!(!stderr.contains("CNI DEL"), "{stderr}");
        let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
        assert!(
            !String::from_utf8_lossy(&left.stdout).contains(&prefix),
            "namespaces left behind"
        );
    }
}

#[test]
fn via_cni_with_missing_plugins_is_a_clear_error_and_leaves_nothing() {
    let test = "via_cni_with_missing_plugins_is_a_clear_error_and_leaves_nothing";
    if skip(test) {
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    let prefix = format!("clabtcnx{:04x}", fastrand::u16(..));
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/quickstart.json");
    let out = Command::new(lab())
        .args(["run", "--via-cni", "--prefix", &prefix, "--cni-path"])
        .arg(empty.path())
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no calico in"), "{stderr}");
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&left.stdout).contains(&prefix));
}
