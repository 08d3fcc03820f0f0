//! `run --via-cni`: each pod wired by executing the real `calico` CNI plugin (with
//! `calico-ipam`), as a container runtime does, instead of by the lab's own veth set-up.
//!
//! ADD runs inside the node namespace (the plugin puts the host end of the veth in its own
//! namespace) with the CNI environment protocol: `CNI_COMMAND`, `CNI_CONTAINERID`,
//! `CNI_NETNS=/run/netns/<pod namespace>`, `CNI_IFNAME=eth0`, `CNI_PATH`, and `CNI_ARGS`
//! carrying `K8S_POD_NAMESPACE`, `K8S_POD_NAME` and the pod's fixed addresses as `IP=a[,b]`;
//! the network configuration on stdin points the plugin at the lab's embedded datastore.
//! DEL runs for every pod added, when the lab is torn down (also on errors: [`CniPods`]'s
//! `Drop`); the namespaces are removed afterwards either way.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::LabError;
use super::topology::Topology;

/// The network name (the IPAM handle prefix).
pub const NETWORK: &str = "k8s-pod-network";
/// At most this many ADDs or DELs at once.
const PARALLEL: usize = 8;

/// One pod as the CNI plugin knows it.
#[derive(Clone, Debug)]
struct Attachment {
    key: String,
    namespace: String,
    pod: String,
    netns: String,
    container_id: String,
    ips: Vec<String>,
}

/// The pods set up through the CNI plugin; DEL for each when dropped (or on
/// [`CniPods::teardown`]).
pub struct CniPods {
    plugin: PathBuf,
    cni_path: PathBuf,
    node_ns: String,
    netconf: String,
    added: Vec<Attachment>,
    torn_down: bool,
}

impl CniPods {
    /// The plugin `calico` in `cni_path` (which must also hold `calico-ipam`), talking to the
    /// embedded datastore `store` as node `node_name`; its log and IPAM lock go to `work_dir`.
    pub fn new(
        cni_path: &Path,
        node_ns: &str,
        node_name: &str,
        store: &Path,
        status_dir: &Path,
        work_dir: &Path,
    ) -> Result<Self, LabError> {
        for bin in ["calico", "calico-ipam"] {
            if !cni_path.join(bin).is_file() {
                return Err(LabError::Scenario(format!(
                    "--via-cni: no {bin} in {} (build it with `cargo build -p calico-cni -p \
                     calico-ipam`, or pass --cni-path DIR)",
                    cni_path.display()
                )));
            }
        }
        // What calico-node writes on a real node (the plugin insists on the file).
        let nodename_file = work_dir.join("nodename");
        std::fs::write(&nodename_file, node_name).map_err(|e| LabError::Io {
            what: format!("write {}", nodename_file.display()),
            source: e,
        })?;
        let netconf = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": NETWORK,
            "type": "calico",
            "datastore_type": "embedded",
            "datastore_path": store,
            "nodename": node_name,
            "nodename_file": nodename_file,
            "ipam": {"type": "calico-ipam"},
            "endpoint_status_dir": status_dir,
            "ipam_lock_file": work_dir.join("ipam.lock"),
            "log_file_path": work_dir.join("cni.log"),
        });
        Ok(CniPods {
            plugin: cni_path.join("calico"),
            cni_path: cni_path.to_path_buf(),
            node_ns: node_ns.to_string(),
            netconf: netconf.to_string(),
            added: Vec::new(),
            torn_down: false,
        })
    }

    /// ADD for every pod of `topo` (`pods[i]` is `(namespace, pod)` of `topo.pods[i]`);
    /// returns how long it took. A pod is remembered for DEL before its ADD runs.
    pub fn add_all(
        &mut self,
        topo: &Topology,
        pods: &[(String, String)],
    ) -> Result<Duration, LabError> {
        let start = Instant::now();
        let todo: Vec<Attachment> = topo
            .pods
            .iter()
            .zip(pods)
            .enumerate()
            .map(|(i, (p, (namespace, pod)))| {
                let mut ips = vec![p.ip.to_string()];
                ips.extend(p.ip6.map(|a| a.to_string()));
                Attachment {
                    key: p.key.clone(),
                    namespace: namespace.clone(),
                    pod: pod.clone(),
                    netns: p.netns.clone(),
                    container_id: format!("{}-{i}", topo.prefix),
                    ips,
                }
            })
            .collect();
        self.added.extend(todo.iter().cloned());
        for r in self.exec_all("ADD", &todo) {
            r?;
        }
        Ok(start.elapsed())
    }

    /// DEL for every pod added (all of them, even after a failure); the first error.
    pub fn teardown(&mut self) -> Result<(), LabError> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        self.exec_all("DEL", &self.added).into_iter().collect()
    }

    /// Runs the plugin for each of `list`, [`PARALLEL`] at a time; every result.
    fn exec_all(&self, command: &str, list: &[Attachment]) -> Vec<Result<(), LabError>> {
        let mut results = Vec::with_capacity(list.len());
        for chunk in list.chunks(PARALLEL) {
            std::thread::scope(|s| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|a| s.spawn(move || self.exec(command, a)))
                    .collect();
                for h in handles {
                    results.push(h.join().unwrap_or_else(|_| {
                        Err(LabError::Cleanup(format!(
                            "a CNI {command} thread panicked"
                        )))
                    }));
                }
            });
        }
        results
    }

    /// Runs the plugin once for `a`.
    fn exec(&self, command: &str, a: &Attachment) -> Result<(), LabError> {
        let args = format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};IP={}",
            a.namespace,
            a.pod,
            a.ips.join(",")
        );
        let shown = format!("CNI {command} of {} ({})", a.key, self.plugin.display());
        let io = |e| LabError::Io {
            what: shown.clone(),
            source: e,
        };
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.node_ns])
            .arg(&self.plugin)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", &a.container_id)
            .env("CNI_NETNS", format!("/run/netns/{}", a.netns))
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", &self.cni_path)
            .env("CNI_ARGS", &args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(self.netconf.as_bytes()).map_err(io)?;
        }
        let out = child.wait_with_output().map_err(io)?;
        if out.status.success() {
            return Ok(());
        }
        Err(LabError::Command {
            cmd: format!("{shown} [CNI_ARGS={args}]"),
            stderr: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

impl Drop for CniPods {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("calico-lab: CNI DEL: {e}");
        }
    }
}
