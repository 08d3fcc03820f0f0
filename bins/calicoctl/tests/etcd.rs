//! calicoctl against a real etcd v3 started by the test on 127.0.0.1: the daily commands
//! (create, get in every format, apply, replace with a stale resourceVersion, delete, ipam,
//! version) with the configuration coming from the environment and from a
//! `CalicoAPIConfig` file. Skipped with a loud message when the etcd binary is missing.

mod common;
use common::{Out, calicoctl, scratch_dir};

use calico_datastore::testing::EtcdServer;

const DOCS: &str = "apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-a}
spec: {cidr: 10.10.0.0/16, blockSize: 26, ipipMode: Always, natOutgoing: true}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-all}
spec: {order: 1000, selector: all(), types: [Ingress]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-web, namespace: prod}
spec:
  selector: app == 'web'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]
";

fn etcd_present() -> bool {
    let found = std::env::var_os("ETCD_BIN").is_some()
        || std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .any(|d| std::path::Path::new(d).join("etcd").is_file());
    if !found {
        eprintln!("######## SKIPPED: no etcd binary (apt-get install etcd-server) ########");
    }
    found
}

struct Cluster {
    _rt: tokio::runtime::Runtime,
    etcd: EtcdServer,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let etcd = rt.block_on(EtcdServer::spawn()).expect("start etcd");
        Cluster {
            _rt: rt,
            etcd,
            dir: scratch_dir(),
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let endpoint = self.etcd.endpoint();
        calicoctl(
            &[("DATASTORE_TYPE", "etcdv3"), ("ETCD_ENDPOINTS", &endpoint)],
            args,
            stdin,
        )
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }
}

#[test]
fn daily_commands_on_etcd() {
    if !etcd_present() {
        return;
    }
    let c = Cluster::start();
    let out = c.run(&["create", "-f", "-"], Some(DOCS)).ok();
    assert_eq!(out.stdout, "Successfully created 3 resource(s)\n");
    c.run(&["create", "-f", "-"], Some(DOCS))
        .fails()
        .stderr
        .contains("resource already exists: IPPool(pool-a)")
        .then_some(())
        .expect("conflict on create");

    // Tables, wide, YAML and JSON read back what was written.
    let out = c.run(&["get", "ippool", "-o", "wide"], None).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME "), "{}", out.stdout);
    assert!(lines[1].starts_with("pool-a ") && lines[1].contains("10.10.0.0/16"));
    assert!(
        lines[1].contains(" true ") && lines[1].contains(" Always "),
        "{}",
        out.stdout
    );
    let out = c.run(&["get", "networkpolicy", "-A"], None).ok();
    out.has_line("NAMESPACE   NAME        TIER      ");
    out.has_line("prod        allow-web   default   ");
    let yaml = c
        .run(&["get", "gnp", "deny-all", "-o", "yaml"], None)
        .ok()
        .stdout;
    assert!(yaml.contains("kind: GlobalNetworkPolicy") && yaml.contains("name: deny-all"));
    let json: serde_json::Value = serde_json::from_str(
        &c.run(
            &["get", "np", "allow-web", "-n", "prod", "-o", "json"],
            None,
        )
        .ok()
        .stdout,
    )
    .expect("json");
    assert_eq!(json["spec"]["ingress"][0]["destination"]["ports"][0], 80);
    let rv = json["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_owned();

    // replace with the current resourceVersion works once; the same version again is stale.
    let changed = DOCS
        .split("---\n")
        .nth(2)
        .expect("np")
        .replace(
            "metadata: {name: allow-web, namespace: prod}",
            &format!("metadata: {{name: allow-web, namespace: prod, resourceVersion: '{rv}'}}"),
        )
        .replace("ports: [80]", "ports: [8080]");
    let f = c.file("np.yaml", &changed);
    c.run(&["replace", "-f", &f], None)
        .ok()
        .has_line("Successfully replaced 1 'NetworkPolicy' resource(s)");
    let out = c.run(&["replace", "-f", &f], None).fails();
    assert!(
        out.stderr
            .contains("update conflict: NetworkPolicy(prod/allow-web)"),
        "{out:#?}"
    );
    let port = c
        .run(
            &["get", "np", "allow-web", "-n", "prod", "-o", "json"],
            None,
        )
        .ok()
        .stdout;
    assert!(
        port.contains("8080"),
        "the stale replace must not have written"
    );

    // apply is idempotent; delete with --skip-not-exists.
    c.run(&["apply", "-f", "-"], Some(DOCS))
        .ok()
        .has_line("Successfully applied 3 resource(s)");
    c.run(&["delete", "gnp", "deny-all"], None)
        .ok()
        .has_line("Successfully deleted 1 'GlobalNetworkPolicy' resource(s)");
    c.run(&["delete", "gnp", "deny-all"], None).fails();
    c.run(&["delete", "gnp", "deny-all", "--skip-not-exists"], None)
        .ok();

    // IPAM reads the pool from etcd.
    let out = c.run(&["ipam", "show"], None).ok();
    assert!(
        out.stdout.contains("| IP Pool  | 10.10.0.0/16 |"),
        "{}",
        out.stdout
    );
    c.run(&["ipam", "check"], None)
        .ok()
        .has_line("Check complete; found 0 problems.");

    // The same through a CalicoAPIConfig file.
    let cfg = c.file(
        "calicoctl.cfg",
        &format!(
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {{}}\nspec:\n  datastoreType: etcdv3\n  etcdEndpoints: {}\n",
            c.etcd.endpoint()
        ),
    );
    let out = calicoctl(&[], &["get", "ippools", "-c", &cfg], None).ok();
    out.has_line("NAME     CIDR           SELECTOR   ");

    // Stopping etcd: a clear error, no hang, status 1.
    drop(c.etcd);
    let out = calicoctl(&[], &["get", "ippools", "-c", &cfg], None);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(!out.stderr.contains("panicked"), "{out:#?}");
}
