//! End-to-end tests of calicoctl's resource commands: the real binary against the real
//! embedded datastore (a SQLite file in a temporary directory), one process per command,
//! so every step also checks that state persists across processes.

use std::path::PathBuf;

mod common;
use common::Out;

/// A scratch datastore and the files of one test; removed on drop.
struct Ctl {
    dir: tempfile::TempDir,
}

const POLICIES: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: allow-dns
spec:
  order: 100
  selector: all()
  egress:
    - action: Allow
      protocol: UDP
      destination:
        ports: [53]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: deny-all
spec:
  selector: all()
";

const POOL: &str = "apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: ippool-name1
spec:
  cidr: 10.0.1.0/24
  ipipMode: Always
  nodeSelector: foo == 'bar'
";

impl Ctl {
    fn new() -> Self {
        Ctl {
            dir: common::scratch_dir(),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("datastore.db")
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path.display().to_string()
    }

    /// Runs calicoctl with only the given environment (plus PATH-free defaults).
    fn run_env(&self, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Out {
        common::calicoctl(env, args, stdin)
    }

    /// Runs calicoctl on this test's embedded datastore, configured by the environment.
    fn run(&self, args: &[&str]) -> Out {
        self.run_stdin(args, None)
    }

    fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let db = self.db().display().to_string();
        self.run_env(
            &[
                ("DATASTORE_TYPE", "embedded"),
                ("CALICO_DATASTORE_PATH", &db),
            ],
            args,
            stdin,
        )
    }
}

#[test]
fn create_get_apply_replace_delete_round_trip() {
    let ctl = Ctl::new();
    let file = ctl.file("gnp.yaml", POLICIES);

    let out = ctl.run(&["create", "-f", &file]).ok();
    assert_eq!(
        out.stdout,
        "Successfully created 2 'GlobalNetworkPolicy' resource(s)\n"
    );
    assert!(ctl.db().exists());

    // Tables: calicoctl's columns and tabwriter layout.
    let out = ctl.run(&["get", "gnp"]).ok();
    assert_eq!(
        out.stdout,
        "NAME        TIER      \nallow-dns   default   \ndeny-all    default   \n\n"
    );
    let out = ctl
        .run(&["get", "globalnetworkpolicies", "-o", "wide"])
        .ok();
    assert_eq!(
        out.stdout,
        "NAME        TIER      ORDER   SELECTOR   \n\
         allow-dns   default   100     all()      \n\
         deny-all    default   <nil>   all()      \n\n"
    );
    let out = ctl
        .run(&["get", "gnp", "-o", "custom-columns=NAME,ORDER"])
        .ok();
    assert!(
        out.stdout.starts_with("NAME        ORDER   \n"),
        "{}",
        out.stdout
    );

    // One name: the object itself; no name: the list.
    let before = ctl
        .run(&["get", "gnp", "allow-dns", "-o", "yaml"])
        .ok()
        .stdout;
    assert!(
        before.starts_with("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"),
        "{before}"
    );
    assert!(before.contains("resourceVersion: "), "{before}");
    let out = ctl.run(&["get", "gnp", "-o", "json"]).ok();
    let list: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(list["kind"], "GlobalNetworkPolicyList");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["items"][1]["metadata"]["name"], "deny-all");

    // apply updates what exists.
    let changed = ctl.file("gnp2.yaml", &POLICIES.replace("order: 100", "order: 200"));
    let out = ctl.run(&["apply", "-f", &changed]).ok();
    assert_eq!(
        out.stdout,
        "Successfully applied 2 'GlobalNetworkPolicy' resource(s)\n"
    );
    let out = ctl.run(&["get", "gnp", "allow-dns", "-o", "wide"]).ok();
    assert!(
        out.stdout.contains("allow-dns   default   200"),
        "{}",
        out.stdout
    );

    // replace with the resourceVersion read before the apply: a stale compare-and-swap.
    let stale = ctl.file("stale.yaml", &before);
    let out = ctl.run(&["replace", "-f", &stale]).fails();
    assert_eq!(
        out.stderr,
        "Failed to replace 'GlobalNetworkPolicy' resource: update conflict: GlobalNetworkPolicy(allow-dns)\n"
    );
    assert_eq!(out.stdout, "");
    // The same with the current resourceVersion works and restores order 100.
    let current = ctl
        .run(&["get", "gnp", "allow-dns", "-o", "yaml"])
        .ok()
        .stdout;
    let rv_line = |doc: &str| {
        doc.lines()
            .find(|l| l.trim_start().starts_with("resourceVersion:"))
            .map(str::to_owned)
            .expect("resourceVersion")
    };
    let fresh = ctl.file(
        "fresh.yaml",
        &before.replace(&rv_line(&before), &rv_line(&current)),
    );
    let out = ctl.run(&["replace", "-f", &fresh]).ok();
    assert_eq!(
        out.stdout,
        "Successfully replaced 1 'GlobalNetworkPolicy' resource(s)\n"
    );
    let out = ctl.run(&["get", "gnp", "allow-dns", "-o", "wide"]).ok();
    assert!(
        out.stdout.contains("allow-dns   default   100"),
        "{}",
        out.stdout
    );

    // delete by kind and names.
    let out = ctl.run(&["delete", "gnp", "allow-dns", "deny-all"]).ok();
    assert_eq!(
        out.stdout,
        "Successfully deleted 2 'GlobalNetworkPolicy' resource(s)\n"
    );
    let out = ctl.run(&["get", "gnp", "allow-dns"]).fails();
    assert_eq!(
        out.stderr,
        "resource does not exist: GlobalNetworkPolicy(allow-dns) with error: <nil>\n"
    );
    assert_eq!(out.stdout, "");
    let out = ctl.run(&["get", "gnp", "-o", "yaml"]).ok();
    assert!(out.stdout.contains("items: []"), "{}", out.stdout);
}

#[test]
fn ippool_tables_are_calicoctls() {
    let ctl = Ctl::new();
    let file = ctl.file("pool.yaml", POOL);
    ctl.run(&["create", "-f", &file]).ok();
    // The exact text of calicoctl's system tests (data.py), with its trailing padding.
    let out = ctl.run(&["get", "ippool", "ippool-name1"]).ok();
    assert_eq!(
        out.stdout,
        "NAME           CIDR          SELECTOR       \nippool-name1   10.0.1.0/24   foo == 'bar'   \n\n"
    );
    let out = ctl
        .run(&["get", "ippools", "ippool-name1", "-o", "wide"])
        .ok();
    assert_eq!(
        out.stdout.trim_end(),
        "NAME           CIDR          NAT     IPIPMODE   VXLANMODE   DISABLED   DISABLEBGPEXPORT   SELECTOR       \n\
         ippool-name1   10.0.1.0/24   false   Always     Never       false      false              foo == 'bar'"
    );
    // Several names: a table each; a missing one is reported after them.
    let out = ctl
        .run(&["get", "ippool", "ippool-name1", "blah", "ippool-name1"])
        .fails();
    assert_eq!(out.stdout.matches("NAME ").count(), 2, "{}", out.stdout);
    assert_eq!(
        out.stderr,
        "resource does not exist: IPPool(blah) with error: <nil>\n"
    );
}

#[test]
fn create_fails_on_existing_unless_skip_exists() {
    let ctl = Ctl::new();
    let file = ctl.file("gnp.yaml", POLICIES);
    ctl.run(&["create", "-f", &file]).ok();
    let out = ctl.run(&["create", "-f", &file]).fails();
    assert_eq!(
        out.stderr,
        "Failed to create any 'GlobalNetworkPolicy' resources: [resource already exists: GlobalNetworkPolicy(allow-dns) resource already exists: GlobalNetworkPolicy(deny-all)]\n"
    );
    let out = ctl.run(&["create", "-f", &file, "--skip-exists"]).ok();
    assert_eq!(
        out.stdout,
        "Successfully created 2 'GlobalNetworkPolicy' resource(s)\n"
    );
    // Mixed kinds, one new and one existing, from stdin.
    let mixed = format!(
        "{POOL}---\n{}",
        POLICIES.split("---\n").next().expect("doc")
    );
    let out = ctl.run_stdin(&["create", "-f", "-"], Some(&mixed)).fails();
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "Hit error: [resource already exists: GlobalNetworkPolicy(allow-dns)]\n"
    );
    ctl.run(&["get", "ippool", "ippool-name1"]).ok();
}

#[test]
fn delete_reports_each_missing_resource_and_skip_not_exists() {
    let ctl = Ctl::new();
    let file = ctl.file("gnp.yaml", POLICIES);
    ctl.run(&["create", "-f", &file]).ok();
    let out = ctl
        .run(&["delete", "gnp", "allow-dns", "blah", "deny-all"])
        .fails();
    assert_eq!(
        out.stdout,
        "Successfully deleted 2 'GlobalNetworkPolicy' resource(s)\n"
    );
    assert_eq!(
        out.stderr,
        "Failed to delete 'GlobalNetworkPolicy' resource: resource does not exist: GlobalNetworkPolicy(blah) with error: <nil>\n\n"
    );
    let out = ctl
        .run(&["delete", "gnp", "allow-dns", "--skip-not-exists"])
        .ok();
    assert_eq!(
        out.stdout,
        "Successfully deleted 1 'GlobalNetworkPolicy' resource(s)\n"
    );
}

#[test]
fn delete_by_file_honours_the_resource_version() {
    let ctl = Ctl::new();
    let file = ctl.file("pool.yaml", POOL);
    ctl.run(&["create", "-f", &file]).ok();
    let old = ctl
        .run(&["get", "ippool", "ippool-name1", "-o", "yaml"])
        .ok()
        .stdout;
    ctl.run(&[
        "apply",
        "-f",
        &ctl.file("pool2.yaml", &POOL.replace("Always", "CrossSubnet")),
    ])
    .ok();
    let out = ctl
        .run(&["delete", "-f", &ctl.file("old.yaml", &old)])
        .fails();
    assert!(
        out.stderr.contains("update conflict: IPPool(ippool-name1)"),
        "{out:#?}"
    );
    let current = ctl
        .run(&["get", "ippool", "ippool-name1", "-o", "json"])
        .ok()
        .stdout;
    let out = ctl
        .run(&["delete", "-f", &ctl.file("cur.json", &current)])
        .ok();
    assert_eq!(out.stdout, "Successfully deleted 1 'IPPool' resource(s)\n");
}

#[test]
fn namespaces_default_flags_and_all_namespaces() {
    let ctl = Ctl::new();
    let file = ctl.file(
        "np.yaml",
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p1}\nspec: {selector: all()}\n---\n\
         apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p2, namespace: prod}\nspec: {selector: all()}\n",
    );
    let out = ctl.run(&["create", "-f", &file]).ok();
    assert_eq!(
        out.stdout,
        "Successfully created 2 'NetworkPolicy' resource(s)\n"
    );
    // No namespace anywhere: "default".
    let out = ctl.run(&["get", "networkpolicy"]).ok();
    assert_eq!(out.stdout, "NAME   TIER      \np1     default   \n\n");
    let out = ctl
        .run(&["get", "policy", "p1", "-n", "default", "-o", "yaml"])
        .ok();
    assert!(out.stdout.contains("namespace: default"), "{}", out.stdout);
    // -A lists every namespace, with a NAMESPACE column.
    let out = ctl.run(&["get", "np", "-A"]).ok();
    assert_eq!(
        out.stdout,
        "NAMESPACE   NAME   TIER      \ndefault     p1     default   \nprod        p2     default   \n\n"
    );
    let out = ctl.run(&["get", "np", "-n", "prod"]).ok();
    assert_eq!(
        out.stdout,
        "NAMESPACE   NAME   TIER      \nprod        p2     default   \n\n"
    );
    let out = ctl.run(&["get", "np", "p2", "-A"]).fails();
    assert_eq!(
        out.stderr,
        "cannot use --all-namespace flag for getting a single resource\n"
    );
    let out = ctl.run(&["get", "np", "-A", "-n", "prod"]).fails();
    assert_eq!(
        out.stderr,
        "cannot use both --namespace and --all-namespaces flags at the same time\n"
    );
    let out = ctl.run(&["get", "ippools", "-n", "prod"]).fails();
    assert_eq!(out.stderr, "IPPool is not namespaced\n");
    // -n applies to resources of a file that have no namespace: p1 becomes prod/p1,
    // which does not exist; p2 is in prod already.
    let out = ctl.run(&["delete", "-f", &file, "-n", "prod"]).fails();
    assert_eq!(
        out.stdout,
        "Successfully deleted 1 'NetworkPolicy' resource(s)\n"
    );
    assert_eq!(
        out.stderr,
        "Failed to delete 'NetworkPolicy' resource: resource does not exist: NetworkPolicy(prod/p1) with error: <nil>\n\n"
    );
    // A namespace in the file that disagrees with -n is refused.
    let out = ctl.run(&["delete", "-f", &file, "-n", "dev"]).fails();
    assert!(
        out.stderr
            .contains("resource namespace does not match client namespace. prod != dev"),
        "{out:#?}"
    );
}

#[test]
fn invalid_files_fail_before_writing_with_the_field_path() {
    let ctl = Ctl::new();
    let bad = ctl.file(
        "bad.yaml",
        &format!("{POOL}---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: two}}\nspec:\n  cidr: 10.0.2.0/24\n  ipipMod: Always\n"),
    );
    let out = ctl.run(&["create", "-f", &bad]).fails();
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with(&format!(
            "Failed to execute command: {bad}:2: IPPool/two: spec.ipipMod: field in document is not recognized or is in the wrong location: ipipMod"
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("(line 15)"), "{}", out.stderr);
    // Nothing was written, not even the valid first document.
    let out = ctl.run(&["get", "ippool", "-o", "yaml"]).ok();
    assert!(out.stdout.contains("items: []"), "{}", out.stdout);

    // A document that decodes but fails validation is refused by the datastore.
    let invalid = ctl.file(
        "invalid.yaml",
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec:\n  cidr: 10.0.0.0/16\n  blockSize: 40\n",
    );
    let out = ctl.run(&["apply", "-f", &invalid]).fails();
    assert!(
        out.stderr
            .starts_with("Failed to apply 'IPPool' resource: [error with field spec.blockSize ("),
        "{}",
        out.stderr
    );

    let out = ctl.run(&["create", "-f", "/nonexistent/x.yaml"]).fails();
    assert_eq!(
        out.stderr,
        "Failed to execute command: open /nonexistent/x.yaml: no such file or directory\n"
    );
    let out = ctl
        .run(&["create", "-f", &ctl.file("empty.yaml", "")])
        .fails();
    assert!(
        out.stderr.starts_with("No resources specified in file "),
        "{}",
        out.stderr
    );
    let out = ctl.run(&["get", "somekind", "somename"]).fails();
    assert_eq!(
        out.stderr,
        "Failed to get resources: resource type 'somekind' is not supported\n"
    );
}

#[test]
fn replace_of_a_missing_resource_fails() {
    let ctl = Ctl::new();
    let out = ctl
        .run(&["replace", "-f", &ctl.file("pool.yaml", POOL)])
        .fails();
    assert_eq!(
        out.stderr,
        "Failed to replace 'IPPool' resource: resource does not exist: IPPool(ippool-name1) with error: <nil>\n"
    );
}

#[test]
fn config_file_form() {
    let ctl = Ctl::new();
    let cfg = ctl.file(
        "calicoctl.cfg",
        &format!(
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {{}}\nspec:\n  datastoreType: embedded\n  datastorePath: {}\n",
            ctl.db().display()
        ),
    );
    let pool = ctl.file("pool.yaml", POOL);
    // The file wins over the environment (which asks for a throwaway memory store).
    let env = [("DATASTORE_TYPE", "memory")];
    let out = ctl
        .run_env(&env, &["create", "-f", &pool, "-c", &cfg], None)
        .ok();
    assert_eq!(out.stdout, "Successfully created 1 'IPPool' resource(s)\n");
    let out = ctl
        .run_env(&env, &["--config", &cfg, "get", "ippools"], None)
        .ok();
    assert!(out.stdout.contains("ippool-name1"), "{}", out.stdout);
    // The same store seen through the environment.
    ctl.run(&["get", "ippool", "ippool-name1"]).ok();

    // A bad file: calicoctl's client error on stdout, status 1, naming the field.
    let bad = ctl.file(
        "bad.cfg",
        "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  datastoreType: etcdv3\n  etcdEndpoints: http//oops\n",
    );
    let out = ctl
        .run_env(&[], &["get", "ippools", "-c", &bad], None)
        .fails();
    assert!(
        out.stdout.starts_with(
            "Failed to create Calico API client: datastore configuration: spec.etcdEndpoints: endpoint 1"
        ),
        "{out:#?}"
    );
    let missing = ctl.dir.path().join("missing.cfg").display().to_string();
    let out = ctl
        .run_env(&[], &["get", "ippools", "-c", &missing], None)
        .fails();
    assert_eq!(
        out.stdout,
        format!("Error reading config file: {missing}\n")
    );
    // A bad environment is reported the same way.
    let out = ctl
        .run_env(&[("DATASTORE_TYPE", "etcd")], &["get", "ippools"], None)
        .fails();
    assert!(
        out.stdout.starts_with(
            "Failed to create Calico API client: datastore configuration: DATASTORE_TYPE: unknown datastore type \"etcd\""
        ),
        "{out:#?}"
    );
}

#[test]
fn memory_datastore_lives_for_one_command() {
    let ctl = Ctl::new();
    let env = [("DATASTORE_TYPE", "memory")];
    let out = ctl
        .run_env(
            &env,
            &["apply", "-f", &ctl.file("gnp.yaml", POLICIES)],
            None,
        )
        .ok();
    assert_eq!(
        out.stdout,
        "Successfully applied 2 'GlobalNetworkPolicy' resource(s)\n"
    );
    let out = ctl.run_env(&env, &["get", "gnp"], None).ok();
    assert_eq!(out.stdout, "NAME   TIER   \n\n");
    assert!(!ctl.db().exists());
}

#[test]
fn cluster_information_is_read_only() {
    let ctl = Ctl::new();
    let ci = ctl.file(
        "ci.yaml",
        "apiVersion: projectcalico.org/v3\nkind: ClusterInformation\nmetadata: {name: default}\nspec: {calicoVersion: v3.30.0}\n",
    );
    let out = ctl.run(&["apply", "-f", &ci]).fails();
    assert_eq!(
        out.stderr,
        "Failed to apply 'ClusterInformation' resource: [operation apply is not supported on ClusterInformation: resource is readonly]\n"
    );
}

#[test]
fn get_from_a_file_and_export() {
    let ctl = Ctl::new();
    let pool = ctl.file("pool.yaml", POOL);
    ctl.run(&["create", "-f", &pool]).ok();
    let out = ctl.run(&["get", "-f", &pool, "-o", "yaml"]).ok();
    assert!(out.stdout.contains("name: ippool-name1"), "{}", out.stdout);
    let out = ctl
        .run(&["get", "ippool", "ippool-name1", "--export", "-o", "yaml"])
        .ok();
    assert!(!out.stdout.contains("resourceVersion"), "{}", out.stdout);
    assert!(!out.stdout.contains("creationTimestamp"), "{}", out.stdout);
    // What get -o yaml prints can be applied back.
    let exported = ctl.file("exported.yaml", &out.stdout);
    ctl.run(&["apply", "-f", &exported]).ok();
}
