//! End-to-end tests of `patch`, `label` and `get -o name|go-template|go-template-file` on
//! the embedded store: calicoctl's messages, what ends up stored, and that writes are
//! compare-and-swap on the version read.

mod common;
use common::Out;

const POOL: &str = "apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p1
  labels:
    app: web
spec:
  cidr: 10.1.0.0/16
  nodeSelector: all()
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: np1
  namespace: shop
spec:
  selector: app == 'cart'
";

struct Ctl {
    dir: tempfile::TempDir,
}

impl Ctl {
    fn new() -> Self {
        let ctl = Ctl {
            dir: common::scratch_dir(),
        };
        let f = ctl.file("pool.yaml", POOL);
        ctl.run(&["create", "-f", &f]).ok();
        ctl
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }

    fn run(&self, args: &[&str]) -> Out {
        let db = self.dir.path().join("datastore.db").display().to_string();
        common::calicoctl(
            &[
                ("DATASTORE_TYPE", "embedded"),
                ("CALICO_DATASTORE_PATH", &db),
            ],
            args,
            None,
        )
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.run(&all).ok().stdout).expect("json")
    }
}

#[test]
fn strategic_patch_changes_the_spec_and_keeps_identity() {
    let ctl = Ctl::new();
    let before = ctl.json(&["get", "ippool", "p1"]);
    let out = ctl
        .run(&[
            "patch",
            "ippool",
            "p1",
            "-p",
            r#"{"spec":{"disabled":true,"nodeSelector":null},"metadata":{"labels":{"tier":"gold"}}}"#,
        ])
        .ok();
    assert_eq!(out.stdout, "Successfully patched 1 'IPPool' resource\n");
    let after = ctl.json(&["get", "ippool", "p1"]);
    assert_eq!(after["spec"]["disabled"], true);
    assert_eq!(after["spec"]["cidr"], "10.1.0.0/16");
    // nodeSelector was removed, then defaulted again by the datastore.
    assert_eq!(after["spec"]["nodeSelector"], "all()");
    assert_eq!(after["metadata"]["labels"]["app"], "web");
    assert_eq!(after["metadata"]["labels"]["tier"], "gold");
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
    assert_ne!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
}

#[test]
fn merge_and_json_patches_and_namespaced_kinds() {
    let ctl = Ctl::new();
    ctl.run(&[
        "patch",
        "networkpolicy",
        "np1",
        "-n",
        "shop",
        "--type",
        "merge",
        "--patch",
        "spec:\n  order: 5\n",
    ])
    .ok()
    .has_line("Successfully patched 1 'NetworkPolicy' resource");
    let np = ctl.json(&["get", "np", "np1", "-n", "shop"]);
    assert_eq!(np["spec"]["order"], 5.0);
    assert_eq!(np["spec"]["selector"], "app == 'cart'");
    ctl.run(&[
        "patch",
        "pools",
        "p1",
        "-t",
        "json",
        "-p",
        r#"[{"op":"test","path":"/spec/cidr","value":"10.1.0.0/16"},{"op":"add","path":"/spec/blockSize","value":28}]"#,
    ])
    .ok();
    assert_eq!(ctl.json(&["get", "ippool", "p1"])["spec"]["blockSize"], 28);
    // Without -n the default namespace is used, where np1 does not exist.
    let out = ctl.run(&["patch", "np", "np1", "-p", "{}"]).fails();
    assert_eq!(
        out.stderr,
        "Hit error: resource does not exist: NetworkPolicy(default/np1) with error: <nil>\n"
    );
}

#[test]
fn label_set_update_overwrite_and_remove() {
    let ctl = Ctl::new();
    ctl.run(&["label", "ippool", "p1", "team=net"])
        .ok()
        .has_line("Successfully set label team on ippool p1");
    ctl.run(&["label", "ippool", "p1", "team=net"])
        .ok()
        .has_line("Successfully updated label team on ippool p1");
    ctl.run(&["label", "ippools", "p1", "app=db", "--overwrite"])
        .ok()
        .has_line("Successfully updated label app on ippools p1");
    ctl.run(&["label", "np", "np1", "-n", "shop", "x=y"])
        .ok()
        .has_line("Successfully set label x on np np1");
    ctl.run(&["label", "ippool", "p1", "team", "--remove"])
        .ok()
        .has_line("Successfully removed label team from ippool p1");
    let labels = ctl.json(&["get", "ippool", "p1"])["metadata"]["labels"].clone();
    assert_eq!(labels, serde_json::json!({"app": "db"}));
    let out = ctl.run(&["label", "ippool", "nope", "a=b"]).fails();
    assert_eq!(out.stderr, "ippool nope not found\n");
    let out = ctl.run(&["label", "ippool", "p1", "a=b", "--overwrite", "--remove"]);
    assert_eq!(
        out.code,
        Some(1),
        "--overwrite and --remove conflict: {out:?}"
    );
}

#[test]
fn get_names_and_templates() {
    let ctl = Ctl::new();
    let out = ctl.run(&["get", "ippool", "-o", "name"]).ok();
    assert_eq!(out.stdout, "ippool/p1\n");
    let out = ctl.run(&["get", "np", "-A", "-o", "name"]).ok();
    assert_eq!(out.stdout, "networkpolicy/np1\n");
    let out = ctl
        .run(&[
            "get",
            "ippool",
            "p1",
            "-o",
            "go-template={{range .}}{{.ObjectMeta.Name}} {{.Spec.CIDR}} {{.spec.nodeSelector}}{{end}}",
        ])
        .ok();
    assert_eq!(out.stdout, "p1 10.1.0.0/16 all()");
    let tmpl = ctl.file(
        "t.tmpl",
        "{{range .}}{{range .Items}}{{.Name}}={{index .Labels \"app\"}}\n{{end}}{{end}}",
    );
    let out = ctl
        .run(&["get", "ippools", "-o", &format!("go-template-file={tmpl}")])
        .ok();
    assert_eq!(out.stdout, "p1=web\n");
    let out = ctl
        .run(&["get", "ippool", "-o", "go-template={{range .}"])
        .fails();
    assert!(out.stdout.is_empty());
    assert!(out.stderr.starts_with("template: get: "), "{}", out.stderr);
    let out = ctl.run(&["get", "ippool", "-o", "go-template="]).fails();
    assert_eq!(out.stderr, "need to specify a template\n");
    let out = ctl
        .run(&["get", "ippool", "-o", "go-template-file=/nonexistent.tmpl"])
        .fails();
    assert_eq!(
        out.stderr,
        "open /nonexistent.tmpl: no such file or directory\n"
    );
}
