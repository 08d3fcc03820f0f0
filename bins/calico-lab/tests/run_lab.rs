//! `calico-lab run` on the real kernel: the topology and the probes without any policy, a
//! hand-written nft drop rule in the node namespace, and clean-up on success, on failure, on
//! SIGTERM and by `calico-lab cleanup`. These need root and `ip`/`nft`; elsewhere they print
//! a loud SKIP and pass.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a test failure

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

fn lab() -> &'static str {
    env!("CARGO_BIN_EXE_calico-lab")
}

fn netpol() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/netpol.json")
}

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/quickstart.json")
}

/// True (after a loud message) when this test cannot run here.
fn skip(test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP (not root): {test} needs network namespaces");
        return true;
    }
    for tool in ["ip", "nft"] {
        if Command::new(tool).arg("-V").output().is_err() {
            eprintln!("SKIP (no `{tool}`): {test}");
            return true;
        }
    }
    false
}

/// A prefix nobody else uses, so parallel tests and other labs are never touched.
fn prefix(test: &str) -> String {
    format!("clabt{}{:04x}", &test[..3], fastrand::u16(..))
}

fn namespaces_with(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Removes leftovers even when an assertion failed.
struct Guard(String);
impl Drop for Guard {
    fn drop(&mut self) {
        for n in namespaces_with(&self.0) {
            let _ = Command::new("ip").args(["netns", "del", &n]).status();
        }
    }
}

fn run(args: &[&str], scenario: &Path) -> Output {
    Command::new(lab())
        .arg("run")
        .args(args)
        .arg(scenario)
        .output()
        .unwrap()
}

/// (probe lines, skipped lines, summary) of a `--json` run.
fn parse(out: &Output) -> (Vec<Value>, Vec<Value>, Value) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let summary = lines
        .iter()
        .find(|l| l.get("summary").is_some())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no summary; stdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let probes = lines
        .iter()
        .filter(|l| l.get("allowed").is_some())
        .cloned()
        .collect();
    let skipped = lines
        .iter()
        .filter(|l| l.get("skipped").is_some())
        .cloned()
        .collect();
    (probes, skipped, summary)
}

#[test]
fn without_policy_every_probe_is_allowed_and_nothing_is_left() {
    if skip("without_policy_every_probe_is_allowed_and_nothing_is_left") {
        return;
    }
    let p = prefix("nopolicy");
    let _g = Guard(p.clone());
    // TCP and UDP on ports 80 and 81 (SCTP where the kernel has it), between all 9 pods.
    let out = run(
        &[
            "--no-policy",
            "--json",
            "--prefix",
            &p,
            "--case",
            "k8s-udp-ports-81-from-y",
        ],
        &netpol(),
    );
    let (probes, skipped, summary) = parse(&out);
    assert!(probes.len() >= 144, "{summary}");
    for l in &probes {
        assert_eq!(l["allowed"], true, "{l}");
    }
    assert!(
        skipped
            .iter()
            .all(|l| l["skipped"] == "loopback" || l["protocol"] == "SCTP")
    );
    assert_eq!(summary["summary"]["errors"], 0, "{summary}");
    assert!(
        namespaces_with(&p).is_empty(),
        "left: {:?}",
        namespaces_with(&p)
    );
}

#[test]
fn icmp_probes_without_policy_are_answered() {
    if skip("icmp_probes_without_policy_are_answered") {
        return;
    }
    let p = prefix("icmp");
    let _g = Guard(p.clone());
    let out = run(
        &["--no-policy", "--json", "--prefix", &p, "--case", "open"],
        &quickstart(),
    );
    let (probes, _, summary) = parse(&out);
    let icmp: Vec<&Value> = probes.iter().filter(|l| l["protocol"] == "ICMP").collect();
    assert_eq!(icmp.len(), 4, "{summary}");
    assert!(icmp.iter().all(|l| l["allowed"] == true), "{icmp:?}");
    // The `open` case expects everything allowed: the run passes.
    assert!(out.status.success(), "{summary}");
}

#[test]
fn an_nft_drop_rule_in_the_node_denies_exactly_the_matching_probes() {
    if skip("an_nft_drop_rule_in_the_node_denies_exactly_the_matching_probes") {
        return;
    }
    let p = prefix("nftdrop");
    let _g = Guard(p.clone());
    let hook = "nft add table inet labtest && \
                nft add chain inet labtest labfilter '{ type filter hook forward priority 0; }' && \
                nft add rule inet labtest labfilter ip daddr 10.0.1.2 tcp dport 80 drop";
    let out = run(
        &[
            "--no-policy",
            "--json",
            "--prefix",
            &p,
            "--node-hook",
            hook,
            "--case",
            "k8s-ports-81-from-y",
        ],
        &netpol(),
    );
    let (probes, _, summary) = parse(&out);
    assert!(!probes.is_empty(), "{summary}");
    let mut denied = 0;
    for l in &probes {
        let dropped = l["to"] == "x/b" && l["port"] == 80 && l["protocol"] == "TCP";
        assert_eq!(l["allowed"], !dropped, "{l}");
        denied += usize::from(dropped);
    }
    // Every pod but x/b itself (loopback is skipped) probes x/b:80/TCP.
    assert_eq!(denied, 8, "{summary}");
    assert!(namespaces_with(&p).is_empty());
}

#[test]
fn a_failure_mid_way_removes_everything() {
    if skip("a_failure_mid_way_removes_everything") {
        return;
    }
    let p = prefix("fail");
    let _g = Guard(p.clone());
    let marker = std::env::temp_dir().join(format!("{p}seen"));
    let hook = format!("ip netns list > {}; exit 3", marker.display());
    let out = run(
        &["--no-policy", "--prefix", &p, "--node-hook", &hook],
        &netpol(),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // The hook saw the lab...
    let seen = std::fs::read_to_string(&marker).unwrap();
    let _ = std::fs::remove_file(&marker);
    assert!(seen.contains(&format!("{p}-node")), "{seen}");
    // node, external side and 9 pods
    assert_eq!(seen.matches(p.as_str()).count(), 11, "{seen}");
    // ...and none of it is left: no namespaces, no links in this namespace.
    assert!(namespaces_with(&p).is_empty(), "{:?}", namespaces_with(&p));
    assert!(String::from_utf8_lossy(&out.stderr).contains("node hook"));
}

#[test]
fn sigterm_removes_everything() {
    if skip("sigterm_removes_everything") {
        return;
    }
    let p = prefix("sigterm");
    let _g = Guard(p.clone());
    let pidfile = std::env::temp_dir().join(format!("{p}hookpid"));
    let hook = format!("echo $$ > {}; exec sleep 30", pidfile.display());
    let mut child = Command::new(lab())
        .args(["run", "--no-policy", "--prefix", &p, "--node-hook", &hook])
        .arg(netpol())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the hook (it runs once the namespaces and listeners are up).
    let deadline = Instant::now() + Duration::from_secs(20);
    let hook_pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the hook never ran");
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = std::fs::remove_file(&pidfile);
    assert_eq!(namespaces_with(&p).len(), 11);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(Instant::now() < deadline, "calico-lab ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(128 + 15));
    assert!(namespaces_with(&p).is_empty(), "{:?}", namespaces_with(&p));
    // The hook's process is gone too (killed with its process group, reaped by init).
    let proc = PathBuf::from(format!("/proc/{hook_pid}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc.exists() {
        let state = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "hook process {hook_pid} survived: {state}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cleanup_removes_leftovers_with_the_prefix_only() {
    if skip("cleanup_removes_leftovers_with_the_prefix_only") {
        return;
    }
    let p = prefix("cleanup");
    let other = prefix("cleanother");
    let _g = Guard(p.clone());
    let _g2 = Guard(other.clone());
    for n in [
        format!("{p}-node"),
        format!("{p}-0-x.a"),
        format!("{other}-node"),
    ] {
        assert!(
            Command::new("ip")
                .args(["netns", "add", &n])
                .status()
                .unwrap()
                .success()
        );
    }
    let out = Command::new(lab())
        .args(["cleanup", "--prefix", &p])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(namespaces_with(&p).is_empty());
    assert_eq!(namespaces_with(&other).len(), 1);
}

#[test]
fn a_missing_calico_node_is_a_clear_error_and_creates_nothing() {
    if skip("a_missing_calico_node_is_a_clear_error_and_creates_nothing") {
        return;
    }
    let p = prefix("nonode");
    let _g = Guard(p.clone());
    let out = run(
        &["--prefix", &p, "--node-bin", "/nonexistent/calico-node"],
        &quickstart(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("calico-node not found"));
    assert!(namespaces_with(&p).is_empty());
}

#[test]
fn the_quickstart_passes_simulate() {
    // No root needed: the quickstart's expectations are the reference evaluator's answers.
    let out = Command::new(lab())
        .args(["simulate", "--matrix"])
        .arg(quickstart())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("0 mismatched"), "{stdout}");
    assert!(stdout.contains("monitoring/prober"), "{stdout}");
}

#[test]
fn dual_stack_pods_answer_ipv6_probes() {
    if skip("dual_stack_pods_answer_ipv6_probes") {
        return;
    }
    let p = prefix("ipv6");
    let _g = Guard(p.clone());
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/ipversion.json");
    let out = run(&["--no-policy", "--json", "--prefix", &p], &file);
    let (probes, _, summary) = parse(&out);
    assert_eq!(summary["summary"]["errors"], 0, "{summary}");
    for l in &probes {
        assert_eq!(l["allowed"], true, "{l}");
    }
    let icmp6 = probes.iter().filter(|l| l["protocol"] == "ICMPv6").count();
    assert!(icmp6 >= 5, "{icmp6} ICMPv6 probes; {summary}");
    // Probes to and from external addresses (behind the node's uplink) are sent too.
    let external = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok())
    };
    let ext = probes
        .iter()
        .filter(|l| external(&l["from"]) || external(&l["to"]))
        .count();
    assert!(ext >= 10, "{ext} external probes; {summary}");
    assert!(namespaces_with(&p).is_empty());
}
