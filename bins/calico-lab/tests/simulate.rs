//! Runs `calico-lab simulate` on every scenario file in the repository's `scenarios/`
//! directory: every probe (loopback ones included) must match its expectation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a test failure

use std::path::Path;
use std::process::Command;

fn scenario_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_passes_completely() {
    let files = scenario_files();
    assert!(!files.is_empty());
    for f in files {
        let out = Command::new(env!("CARGO_BIN_EXE_calico-lab"))
            .args(["simulate", "--json"])
            .arg(&f)
            .output()
            .expect("run calico-lab");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary: serde_json::Value = stdout
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("{}: no summary line:\n{stdout}", f.display()));
        let s = &summary["summary"];
        let failures: Vec<&str> = stdout
            .lines()
            .filter(|l| {
                l.contains("\"error\"")
                    || (l.contains("\"expected\":true") && l.contains("\"allowed\":false"))
                    || (l.contains("\"expected\":false") && l.contains("\"allowed\":true"))
            })
            .collect();
        assert!(
            s["mismatched"] == 0
                && s["mismatched_loopback"] == 0
                && s["errors"] == 0
                && s["probes"].as_u64().unwrap_or(0) > 0,
            "{}: {s}\n{}",
            f.display(),
            failures.join("\n")
        );
        assert!(
            out.status.success(),
            "{}: exit status {:?}",
            f.display(),
            out.status
        );
    }
}

#[test]
fn exit_status_reports_mismatches() {
    let dir = tempfile_dir();
    let path = dir.join("bad.json");
    std::fs::write(
        &path,
        r#"{"model": {"namespaces": {"x": {"labels": {}}}, "pods": {"a": {"labels": {"pod": "a"}}}, "pod_ips": {"x/a": "10.0.0.1"}},
            "cases": [{"id": "wrong", "kubernetes_network_policies": [], "calico_resources": [],
                       "probes": [{"from": "10.9.9.9", "to": "x/a", "port": 80, "protocol": "TCP", "allowed": false}]}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_calico-lab"))
        .args(["simulate"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL wrong"));
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("calico-lab-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
