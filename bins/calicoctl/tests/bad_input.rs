//! Bad input, row by row: each row runs the built calicoctl on a store holding a baseline
//! (IPPool `p1` labelled `app=web`, GlobalNetworkPolicy `g1`) and asserts exit status 1,
//! one clear error line on stderr and nothing on stdout, no panic or backtrace, and that
//! the store is exactly as before (the listings, with their store revision, compare equal).
//! The table runs against the embedded store and against a real etcd (skipped, loudly,
//! when the etcd binary is missing).

use std::path::{Path, PathBuf};

use calico_datastore::testing::{ETCD_BINARY, EtcdServer};

mod common;
use common::Out;

const BASELINE: &str = "apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p1
  labels:
    app: web
spec:
  cidr: 10.1.0.0/16
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: g1
spec:
  selector: all()
";

/// A pool document with the given name and extra `spec` lines.
fn pool(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// Where a row's commands run: a datastore (by environment) and a scratch directory.
struct Ctx {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Ctx {
    fn run(&self, args: &[&str]) -> Out {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        common::calicoctl(&env, args, None)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path: PathBuf = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path.display().to_string()
    }

    /// Everything the rows may touch, with the store revision of each listing.
    fn snapshot(&self) -> String {
        ["ippool", "globalnetworkpolicy"]
            .iter()
            .map(|kind| self.run(&["get", kind, "-o", "yaml"]).ok().stdout)
            .collect()
    }
}

/// One bad input: how to provoke it and what the error line must say.
struct Row {
    name: &'static str,
    /// Runs any preparation and returns the arguments of the failing command.
    args: fn(&Ctx) -> Vec<String>,
    /// The error line starts with this.
    starts_with: &'static str,
    /// …and contains this.
    contains: &'static str,
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "malformed YAML",
            args: |c| {
                let f = c.file(
                    "bad.yaml",
                    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: [\n",
                );
                owned(&["create", "-f", &f])
            },
            starts_with: "Failed to execute command: ",
            contains: "bad.yaml",
        },
        Row {
            name: "unknown kind in a file",
            args: |c| {
                let f = c.file(
                    "kind.yaml",
                    "apiVersion: projectcalico.org/v3\nkind: IPPoool\nmetadata: {name: x}\n",
                );
                owned(&["apply", "-f", &f])
            },
            starts_with: "Failed to execute command: ",
            contains: "Unknown resource type (IPPoool) and/or version (projectcalico.org/v3)",
        },
        Row {
            name: "unknown kind on the command line",
            args: |_| owned(&["delete", "ipoool", "x"]),
            starts_with: "resource type 'ipoool' is not supported",
            contains: "",
        },
        Row {
            name: "unknown kind for patch",
            args: |_| owned(&["patch", "ipoool", "p1", "-p", "{}"]),
            starts_with: "resource type 'ipoool' is not supported",
            contains: "",
        },
        Row {
            name: "unknown kind for label",
            args: |_| owned(&["label", "ipoool", "p1", "a=b"]),
            starts_with: "failed to get ipoool p1, error resource type 'ipoool' is not supported",
            contains: "",
        },
        Row {
            name: "patch of a read-only kind",
            args: |_| owned(&["patch", "clusterinformation", "default", "-p", "{}"]),
            starts_with: "Hit error: operation patch is not supported on ClusterInformation",
            contains: "",
        },
        Row {
            name: "unknown field",
            args: |c| {
                let f = c.file(
                    "field.yaml",
                    &pool("p2", "  cidr: 10.2.0.0/16\n  cidrr: 10.3.0.0/16\n"),
                );
                owned(&["create", "-f", &f])
            },
            starts_with: "Failed to execute command: ",
            contains: "spec.cidrr",
        },
        Row {
            name: "invalid selector",
            args: |c| {
                let f = c.file("sel.yaml", "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g2}\nspec: {selector: \"foo == \"}\n");
                owned(&["apply", "-f", &f])
            },
            starts_with: "Failed to apply 'GlobalNetworkPolicy' resource: [error with field spec.selector",
            contains: "",
        },
        Row {
            name: "namespace set on an IPPool",
            args: |c| {
                let f = c.file("ns.yaml", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p2, namespace: ns1}\nspec: {cidr: 10.2.0.0/16}\n");
                owned(&["create", "-f", &f])
            },
            starts_with: "Failed to create 'IPPool' resource: [namespace should not be specified for a non-namespaced resource. IPPool is not a namespaced resource]",
            contains: "",
        },
        Row {
            name: "-n on a cluster-scoped kind",
            args: |c| {
                let f = c.file("p2.yaml", &pool("p2", "  cidr: 10.2.0.0/16\n"));
                owned(&["apply", "-f", &f, "-n", "ns1"])
            },
            starts_with: "Failed to apply 'IPPool' resource: [IPPool is not namespaced]",
            contains: "",
        },
        Row {
            name: "missing name",
            args: |c| {
                let f = c.file("noname.yaml", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {}\nspec: {cidr: 10.2.0.0/16}\n");
                owned(&["create", "-f", &f])
            },
            starts_with: "Failed to create 'IPPool' resource: [",
            contains: "metadata.name",
        },
        Row {
            name: "create of an existing resource",
            args: |c| {
                let f = c.file("p1.yaml", &pool("p1", "  cidr: 10.1.0.0/16\n"));
                owned(&["create", "-f", &f])
            },
            starts_with: "Failed to create 'IPPool' resource: [resource already exists: IPPool(p1)]",
            contains: "",
        },
        Row {
            name: "replace with a stale resourceVersion",
            args: |c| {
                let old = c.run(&["get", "ippool", "p1", "-o", "yaml"]).ok().stdout;
                let f = c.file("old.yaml", &old);
                c.run(&["label", "ippool", "p1", "app=api", "--overwrite"])
                    .ok();
                c.run(&["label", "ippool", "p1", "app=web", "--overwrite"])
                    .ok();
                owned(&["replace", "-f", &f])
            },
            starts_with: "Failed to replace 'IPPool' resource: update conflict: IPPool(p1)",
            contains: "",
        },
        Row {
            name: "patch that does not parse",
            args: |_| owned(&["patch", "ippool", "p1", "-p", "{\"spec\": {"]),
            starts_with: "Hit error: performing strategic merge patch: the patch is neither JSON nor YAML",
            contains: "",
        },
        Row {
            name: "patch that makes the resource invalid",
            args: |_| {
                owned(&[
                    "patch",
                    "ippool",
                    "p1",
                    "--patch",
                    "{\"spec\": {\"cidr\": \"nope\"}}",
                ])
            },
            starts_with: "Hit error: updating existing resource: error with field spec.cidr",
            contains: "",
        },
        Row {
            name: "patch with an unknown field",
            args: |_| {
                owned(&[
                    "patch",
                    "ippool",
                    "p1",
                    "-t",
                    "merge",
                    "-p",
                    "{\"spec\": {\"colour\": 1}}",
                ])
            },
            starts_with: "Hit error: creating resource from patched data: spec",
            contains: "colour",
        },
        Row {
            name: "JSON patch whose test fails",
            args: |_| {
                owned(&[
                    "patch",
                    "ippool",
                    "p1",
                    "--type",
                    "json",
                    "-p",
                    "[{\"op\":\"test\",\"path\":\"/spec/cidr\",\"value\":\"10.9.0.0/16\"},{\"op\":\"replace\",\"path\":\"/spec/cidr\",\"value\":\"10.9.0.0/16\"}]",
                ])
            },
            starts_with: "Hit error: performing JSON patch: operation '/0' failed",
            contains: "",
        },
        Row {
            name: "patch of a missing resource",
            args: |_| owned(&["patch", "ippool", "nope", "-p", "{}"]),
            starts_with: "Hit error: resource does not exist: IPPool(nope) with error: <nil>",
            contains: "",
        },
        Row {
            name: "label overwrite without --overwrite",
            args: |_| owned(&["label", "ippool", "p1", "app=db"]),
            starts_with: "failed to update label of ippool p1, key app is already present. please use '--overwrite' to set a new value.",
            contains: "",
        },
        Row {
            name: "label removal of a missing key",
            args: |_| owned(&["label", "pools", "p1", "tier", "--remove"]),
            starts_with: "cannot remove label of pools p1, key tier does not exist",
            contains: "",
        },
        Row {
            name: "label that is not key=value",
            args: |_| owned(&["label", "ippool", "p1", "app"]),
            starts_with: "invalid label app",
            contains: "",
        },
        Row {
            name: "label with an invalid key",
            args: |_| owned(&["label", "ippool", "p1", "bad key=1"]),
            starts_with: "failed to update ippool p1, label not changed: error with field metadata.labels",
            contains: "",
        },
        Row {
            name: "create of a file whose second document is invalid",
            args: |c| {
                let text = format!(
                    "{}---\n{}",
                    pool("p2", "  cidr: 10.2.0.0/16\n"),
                    pool("p3", "  cidr: 10.3.0.1/33\n")
                );
                let f = c.file("two.yaml", &text);
                owned(&["create", "-f", &f])
            },
            starts_with: "Failed to create any 'IPPool' resources: [IPPool(p3): error with field spec.cidr",
            contains: "",
        },
        Row {
            name: "apply of a file whose first document is invalid",
            args: |c| {
                let text = format!(
                    "{}---\n{}",
                    pool("p3", "  cidr: 10.3.0.0/16\n  blockSize: 99\n"),
                    pool("p1", "  cidr: 10.1.0.0/16\n  disabled: true\n")
                );
                let f = c.file("two.yaml", &text);
                owned(&["apply", "-f", &f])
            },
            starts_with: "Failed to apply any 'IPPool' resources: [IPPool(p3): error with field spec.blockSize",
            contains: "",
        },
    ]
}

/// Runs every row on the datastore `env` selects; returns the failures.
fn run_table(env: Vec<(String, String)>) -> Vec<String> {
    let ctx = Ctx {
        dir: common::scratch_dir(),
        env,
    };
    let baseline = ctx.file("baseline.yaml", BASELINE);
    let mut failures = Vec::new();
    for row in rows() {
        ctx.run(&["apply", "-f", &baseline]).ok();
        let args = (row.args)(&ctx);
        let before = ctx.snapshot();
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ctx.run(&argv);
        let after = ctx.snapshot();
        let line = out.stderr.trim_end();
        let problems: Vec<&str> = [
            (out.code != Some(1), "exit status is not 1"),
            (!out.stdout.is_empty(), "stdout is not empty"),
            (line.lines().count() != 1, "stderr is not one line"),
            (!line.starts_with(row.starts_with), "unexpected error text"),
            (!line.contains(row.contains), "error text lacks the detail"),
            (
                out.stderr.contains("panicked") || out.stderr.contains("backtrace"),
                "a panic",
            ),
            (before != after, "the store changed"),
        ]
        .into_iter()
        .filter_map(|(bad, what)| bad.then_some(what))
        .collect();
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {} — {argv:?}\n  code {:?}\n  stdout {:?}\n  stderr {:?}",
                row.name,
                problems.join(", "),
                out.code,
                out.stdout,
                out.stderr
            ));
        }
    }
    failures
}

#[test]
fn bad_input_on_the_embedded_store() {
    let dir = common::scratch_dir();
    let db = dir.path().join("datastore.db").display().to_string();
    let failures = run_table(vec![
        ("DATASTORE_TYPE".into(), "embedded".into()),
        ("CALICO_DATASTORE_PATH".into(), db),
    ]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_input_on_etcd() {
    let binary = std::env::var("CALICO_TEST_ETCD").unwrap_or_else(|_| ETCD_BINARY.to_owned());
    if !Path::new(&binary).exists() {
        eprintln!(
            "SKIPPED bad_input_on_etcd: no etcd binary at {binary} (install Debian's etcd-server)"
        );
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(EtcdServer::spawn()).expect("start etcd");
    let failures = run_table(vec![
        ("DATASTORE_TYPE".into(), "etcdv3".into()),
        ("ETCD_ENDPOINTS".into(), server.endpoint()),
    ]);
    drop(server);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
