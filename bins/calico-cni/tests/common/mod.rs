//! Shared harness of the integration tests: a tiny CNI runtime that execs the built plugins
//! with the CNI environment protocol, throwaway network namespaces, and a temp node (node
//! name file, embedded datastore, status dir, lock file) so nothing under /var is touched.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

/// Debian's plugins.
pub const DEBIAN_CNI: &str = "/usr/lib/cni";

/// True (and a loud message) if the test cannot run: not root.
pub fn skip_unless_root(test: &str) -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return false;
    }
    eprintln!("!!! SKIPPING {test}: needs root (network namespaces, veths, routes)");
    true
}

/// True (and a loud message) if Debian's plugins are missing.
pub fn skip_unless_debian_plugins(test: &str) -> bool {
    if Path::new(DEBIAN_CNI).join("host-local").exists() {
        return false;
    }
    eprintln!(
        "!!! SKIPPING {test}: {DEBIAN_CNI}/host-local missing (apt-get install containernetworking-plugins)"
    );
    true
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique short name for this process.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A named network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
    pub path: PathBuf,
}

impl Netns {
    pub fn new() -> Self {
        let name = unique("cnit");
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "ip netns add {name}");
        let path = PathBuf::from(format!("/run/netns/{name}"));
        Netns { name, path }
    }

    /// Runs `ip <args>` inside the namespace; returns stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs `ip <args>` in the test's own namespace.
pub fn host_ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True if a link of that name exists in the test's namespace.
pub fn host_link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A temp node: node name, datastore, status dir, lock file, and a CNI_PATH directory
/// holding `calico` and `calico-ipam` (a symlink to the same binary, as Calico ships it).
pub struct Node {
    pub dir: tempfile::TempDir,
    pub node: String,
    pub bin: PathBuf,
}

impl Node {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let node = unique("node-");
        std::fs::write(dir.path().join("nodename"), &node).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let calico = PathBuf::from(env!("CARGO_BIN_EXE_calico"));
        std::os::unix::fs::symlink(&calico, bin.join("calico")).unwrap();
        // The calico-ipam package's binary if it was built next to ours and is not older
        // (`cargo test -p calico-cni` does not rebuild it), else ours under that name (it
        // dispatches on argv[0]).
        let sibling = calico.with_file_name("calico-ipam");
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let fresh = matches!((modified(&sibling), modified(&calico)), (Some(s), Some(c)) if s >= c);
        let ipam = if fresh { sibling } else { calico };
        std::os::unix::fs::symlink(ipam, bin.join("calico-ipam")).unwrap();
        Node { dir, node, bin }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn datastore_path(&self) -> PathBuf {
        self.path("datastore.db")
    }

    pub fn cni_path(&self) -> String {
        format!("{}:{DEBIAN_CNI}", self.bin.display())
    }

    /// A `calico` network config with `ipam`.
    pub fn conf(&self, cni_version: &str, ipam: Value) -> Value {
        json!({
            "cniVersion": cni_version,
            "name": "calico-test",
            "type": "calico",
            "datastore_type": "embedded",
            "datastore_path": self.datastore_path(),
            "nodename_file": self.path("nodename"),
            "endpoint_status_dir": self.path("endpoint-status"),
            "ipam_lock_file": self.path("ipam.lock"),
            "mtu": 1400,
            "ipam": ipam,
        })
    }

    /// host-local IPAM in 10.233.<third>.0/24 with its state in the temp dir.
    pub fn host_local(&self, third: u8) -> Value {
        json!({
            "type": "host-local",
            "ranges": [[{"subnet": format!("10.233.{third}.0/24")}]],
            "dataDir": self.path("host-local"),
        })
    }

    /// Opens the node's datastore (in a current-thread runtime).
    pub fn with_store<T>(
        &self,
        f: impl AsyncFnOnce(std::sync::Arc<dyn calico_datastore::Datastore>) -> T,
    ) -> T {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let ds = calico_datastore::connect(&calico_datastore::DatastoreConfig::Embedded {
                path: self.datastore_path(),
            })
            .await
            .unwrap();
            f(ds).await
        })
    }

    /// Number of WorkloadEndpoints in the store.
    pub fn wep_count(&self) -> usize {
        self.with_store(async |ds| {
            ds.list(calico_model::Kind::WorkloadEndpoint, None)
                .await
                .map(|l| l.items.len())
                .unwrap_or(0)
        })
    }
}

/// One plugin execution's outcome.
#[derive(Debug)]
pub struct Outcome {
    pub ok: bool,
    pub stdout: String,
    pub json: Value,
    pub stderr: String,
}

impl Outcome {
    pub fn code(&self) -> u64 {
        self.json["code"].as_u64().unwrap_or(0)
    }
}

/// Execs `plugin` with the CNI env protocol.
pub fn exec(plugin: &Path, env: &[(&str, &str)], stdin: &Value) -> Outcome {
    exec_raw(plugin, env, stdin.to_string().as_bytes())
}

/// Execs `plugin` with raw stdin bytes and only the given CNI variables.
pub fn exec_raw(plugin: &Path, env: &[(&str, &str)], stdin: &[u8]) -> Outcome {
    let mut cmd = Command::new(plugin);
    for k in [
        "CNI_COMMAND",
        "CNI_CONTAINERID",
        "CNI_NETNS",
        "CNI_IFNAME",
        "CNI_ARGS",
        "CNI_PATH",
    ] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Outcome {
        ok: out.status.success(),
        json: serde_json::from_str(stdout.trim()).unwrap_or(Value::Null),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One attachment (container ID + netns + ifname) of the `calico` plugin; DEL'd and its
/// namespace removed on drop.
pub struct Attachment<'a> {
    pub node: &'a Node,
    pub netns: Netns,
    pub container_id: String,
    pub ifname: String,
    pub args: String,
    pub conf: Value,
    /// More environment for every plugin run.
    pub extra_env: Vec<(&'static str, &'static str)>,
}

impl<'a> Attachment<'a> {
    pub fn new(node: &'a Node, conf: Value, args: &str) -> Self {
        Attachment {
            node,
            netns: Netns::new(),
            container_id: unique("ctr"),
            ifname: "eth0".into(),
            args: args.to_owned(),
            conf,
            extra_env: Vec::new(),
        }
    }

    pub fn run(&self, command: &str, conf: &Value) -> Outcome {
        self.run_plugin(&self.node.bin.join("calico"), command, conf)
    }

    pub fn run_plugin(&self, plugin: &Path, command: &str, conf: &Value) -> Outcome {
        let netns = self.netns.path.display().to_string();
        let cni_path = self.node.cni_path();
        let mut env = vec![
            ("CNI_COMMAND", command),
            ("CNI_CONTAINERID", self.container_id.as_str()),
            ("CNI_NETNS", netns.as_str()),
            ("CNI_IFNAME", self.ifname.as_str()),
            ("CNI_ARGS", self.args.as_str()),
            ("CNI_PATH", cni_path.as_str()),
        ];
        env.extend(self.extra_env.iter().copied());
        exec(plugin, &env, conf)
    }

    pub fn add(&self) -> Outcome {
        self.run("ADD", &self.conf)
    }

    pub fn with_prev(&self, result: &Value) -> Value {
        let mut c = self.conf.clone();
        c["prevResult"] = result.clone();
        c
    }

    pub fn del(&self) -> Outcome {
        self.run("DEL", &self.conf)
    }
}

impl Drop for Attachment<'_> {
    fn drop(&mut self) {
        let _ = self.del();
    }
}

/// The first `ips[].address` of a result, without prefix.
pub fn first_ip(result: &Value) -> String {
    result["ips"][0]["address"]
        .as_str()
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Pings `ip` once from the test's namespace.
pub fn ping(ip: &str) -> bool {
    Command::new("ping")
        .args(["-c", "1", "-W", "2", ip])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
