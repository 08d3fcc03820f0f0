//! End-to-end tests of calicoctl's cluster and host commands: `version` (client and
//! cluster, the version-mismatch check), `node status`, `node checksystem`, `--context`,
//! shell completion and man pages. The real binary on a real embedded datastore file.

use std::path::Path;

mod common;
use common::{Out, calicoctl, scratch_dir};

/// Writes `ClusterInformation/default` into the embedded store at `db` as calico-node's
/// startup does, then sets its version.
fn initialise(db: &Path, version: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = calico_datastore::connect(&calico_datastore::DatastoreConfig::Embedded {
            path: db.to_owned(),
        })
        .await
        .expect("open store");
        calico_datastore::cluster::ensure_initialized(store.as_ref(), version, "k8s,bgp")
            .await
            .expect("initialise");
    });
}

fn embedded(db: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("DATASTORE_TYPE", "embedded".into()),
        ("CALICO_DATASTORE_PATH", db.display().to_string()),
    ]
}

fn run(env: &[(&'static str, String)], args: &[&str]) -> Out {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    calicoctl(&env, args, None)
}

#[test]
fn version_prints_client_then_cluster_version_and_type() {
    let dir = scratch_dir();
    let db = dir.path().join("datastore.db");
    let env = embedded(&db);

    // No ClusterInformation yet: calicoctl's error, status 1, client lines first.
    let out = run(&env, &["version"]).fails();
    assert!(
        out.stdout
            .starts_with("Client Version:    v0.1.0\nGit commit:        ")
    );
    assert_eq!(
        out.stderr,
        "Unable to retrieve Cluster Version or Type: resource does not exist: ClusterInformation(default) with error: <nil>\n"
    );

    initialise(&db, "v0.1.0");
    let out = run(&env, &["version"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert_eq!(lines[0], "Client Version:    v0.1.0");
    assert_eq!(lines[2], "Cluster Version:   v0.1.0");
    assert_eq!(lines[3], "Cluster Type:      k8s,bgp");

    run(&env, &["version", "--poll", "soon"])
        .fails()
        .stderr
        .contains("Invalid poll duration specified: soon")
        .then_some(())
        .expect("poll error");
}

#[test]
fn version_without_a_reachable_datastore_says_so_and_succeeds() {
    // Nothing listens on port 9 of loopback: the datastore cannot be reached.
    let env = vec![
        ("DATASTORE_TYPE", "etcdv3".to_owned()),
        ("ETCD_ENDPOINTS", "http://127.0.0.1:9".to_owned()),
    ];
    let out = run(&env, &["version"]);
    if out
        .stdout
        .contains("Unable to detect installed Calico version")
    {
        out.ok();
    } else {
        // Some etcd clients connect lazily: then the read fails instead.
        assert!(
            out.stderr
                .starts_with("Unable to retrieve Cluster Version or Type: "),
            "{out:#?}"
        );
    }
}

#[test]
fn a_cluster_of_another_version_is_refused_unless_allowed() {
    let dir = scratch_dir();
    let db = dir.path().join("datastore.db");
    let env = embedded(&db);
    initialise(&db, "v3.30.2");
    let out = run(&env, &["get", "ippools"]).fails();
    assert_eq!(
        out.stderr,
        "Failed to get resources: Version mismatch.\nClient Version:   v0.1.0\nCluster Version:  3.30.2\nUse --allow-version-mismatch to override.\n\n"
    );
    run(&env, &["get", "ippools", "--allow-version-mismatch"]).ok();
    // `version` itself never checks.
    run(&env, &["version"])
        .ok()
        .has_line("Cluster Version:   v3.30.2");
}

#[test]
fn context_is_a_global_option() {
    let dir = scratch_dir();
    let db = dir.path().join("datastore.db");
    // Taken anywhere on the line, ignored by non-Kubernetes datastores (as calicoctl).
    run(&embedded(&db), &["--context", "prod", "get", "ippools"]).ok();
    run(&embedded(&db), &["get", "ippools", "--context=prod"]).ok();
    let out = run(
        &[("DATASTORE_TYPE", "kubernetes".to_owned())],
        &["get", "ippools", "--context", "prod"],
    )
    .fails();
    assert!(
        out.stdout
            .starts_with("Failed to create Calico API client: "),
        "{out:#?}"
    );
}

#[test]
fn node_checksystem_reports_each_check_and_a_verdict() {
    let out = run(&[], &["node", "checksystem"]);
    let text = &out.stdout;
    for section in [
        "Checking kernel version...",
        "Checking kernel modules...",
        "Checking tools...",
        "Checking sysctls...",
    ] {
        assert!(
            text.lines().any(|l| l == section),
            "no {section:?} in:\n{text}"
        );
    }
    assert!(text.contains("\t\tnf_tables "), "{text}");
    // The verdict agrees with the rows: any FAIL row means failure.
    let failed_rows = text.lines().any(|l| l.ends_with("\tFAIL"));
    if failed_rows {
        assert_eq!(out.code, Some(1), "{out:#?}");
        assert_eq!(
            out.stderr,
            "System doesn't meet one or more minimum systems requirements to run Calico\n"
        );
    } else {
        assert_eq!(out.code, Some(0), "{out:#?}");
        assert!(text.ends_with("System meets minimum system requirements to run Calico!\n"));
    }
    let out = run(&[], &["node", "checksystem", "-f", "/nonexistent/kconfig"]).fails();
    assert!(
        out.stderr
            .starts_with("cannot read kernel config /nonexistent/kconfig")
    );
}

#[test]
fn node_status_without_a_node_agent() {
    // The tests never run a calico-node process of their own here; if one runs on this
    // host (another test), the answer must still be well-formed.
    let out = run(&[], &["node", "status"]);
    if out.code == Some(1) {
        assert_eq!(out.stderr, "Calico process is not running.\n");
    } else {
        out.ok()
            .has_line("Calico process is running.")
            .has_line("BGP is not implemented in this build: no BGP peers are configured.");
    }
}

#[test]
fn shell_completions_cover_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&[], &["completion", shell]).ok();
        for word in [
            "calicoctl",
            "apply",
            "patch",
            "label",
            "ipam",
            "checksystem",
            "completion",
            "migrate",
            "explain",
            "lint",
        ] {
            assert!(out.stdout.contains(word), "{shell}: no {word}");
        }
    }
    // The bash script is valid bash.
    let script = run(&[], &["completion", "bash"]).ok().stdout;
    let dir = scratch_dir();
    let path = dir.path().join("calicoctl.bash");
    std::fs::write(&path, script).expect("write");
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .expect("bash");
    assert!(status.success());
    run(&[], &["completion", "tcsh"]).fails();
}

#[test]
fn man_pages_for_every_command() {
    let dir = scratch_dir();
    let out = run(
        &[],
        &[
            "man",
            "--dir",
            &dir.path().join("man1").display().to_string(),
        ],
    )
    .ok();
    assert!(out.stdout.starts_with("Wrote "), "{}", out.stdout);
    for page in [
        "calicoctl.1",
        "calicoctl-apply.1",
        "calicoctl-get.1",
        "calicoctl-ipam-check.1",
        "calicoctl-node-checksystem.1",
        "calicoctl-version.1",
        "calicoctl-datastore-migrate-export.1",
        "calicoctl-policy-explain.1",
        "calicoctl-patch.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join("man1").join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH "), "{page} is not a man page");
    }
    let get = std::fs::read_to_string(dir.path().join("man1/calicoctl-get.1")).expect("get");
    assert!(get.contains("all\\-namespaces"), "{get}");
}
