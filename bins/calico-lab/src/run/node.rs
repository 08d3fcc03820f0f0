//! The policy side of `run`: a fresh embedded datastore holding each case's resources (built
//! exactly as `simulate` builds them), and `calico-node` running inside the node namespace,
//! with the wait for "this case is programmed" (see docs/LAB.md for the contract).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use calico_datastore::embedded::{Durability, EmbeddedDatastore, EmbeddedOptions};
use calico_datastore::syncer::FELIX_KINDS;
use calico_datastore::{Datastore, DatastoreExt};
use calico_model::sync::ResourceKey;
use calico_model::{
    GlobalNetworkSet, GlobalNetworkSetSpec, IPIPMode, IPPool, IPPoolSpec, Kind, ObjectMeta,
    Resource, VXLANMode, WorkloadEndpoint,
};
use ipnet::IpNet;

use super::LabError;
use super::netns::{Cleanup, enter};

/// The health port calico-node is given (inside the node namespace, so never taken).
pub const HEALTH_PORT: u16 = 9099;
/// The Prometheus port calico-node is given (inside the node namespace).
pub const METRICS_PORT: u16 = 9091;
/// The counter calico-node exports: datastore update events whose effect it has applied.
pub const APPLIED_UPDATES_METRIC: &str = "calico_node_applied_updates";
/// The name of the marker resource written last for every case.
pub const MARKER: &str = "calico-lab-marker";
/// Felix's counter of datastore updates processed by the calculation graph.
pub const UPDATES_METRIC: &str = "felix_calc_graph_updates_processed";
/// Counters that must hold still (the apply after the last update is done).
const SETTLE_METRICS: [&str; 4] = [
    UPDATES_METRIC,
    "felix_int_dataplane_apply_time_seconds_count",
    "felix_int_dataplane_messages",
    "felix_int_dataplane_failures",
];
/// How long those counters must hold still.
const SETTLE: Duration = Duration::from_millis(30);
/// How long to wait for calico-node to become ready, or to program a case.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// A running calico-node on a fresh datastore.
pub struct Node {
    rt: tokio::runtime::Runtime,
    store: EmbeddedDatastore,
    written: BTreeMap<ResourceKey, serde_json::Value>,
    node_ns: String,
    log: PathBuf,
    cleanup: Cleanup,
    started: bool,
    marker_seq: u64,
    warned_no_metric: bool,
    node_bin: PathBuf,
    dataplane: String,
    /// The pods' WorkloadEndpoints were written by the CNI plugin: a case's endpoint only
    /// adds its labels, profiles, service account and ports to the plugin's (see
    /// [`Node::merge_endpoint`]) and is never deleted.
    via_cni: bool,
    /// Kept so the directory lives as long as the node.
    _dir: tempfile::TempDir,
}

fn ds(what: &str, e: calico_datastore::Error) -> LabError {
    LabError::Node(format!("datastore: {what}: {e}"))
}

impl Node {
    /// Opens a fresh datastore in a temporary directory (the node is started by the first
    /// [`Node::program`], once the first case's resources are in).
    pub fn new(
        node_ns: &str,
        node_bin: &Path,
        dataplane: &str,
        cleanup: &Cleanup,
    ) -> Result<Node, LabError> {
        let dir = tempfile::Builder::new()
            .prefix("calico-lab-")
            .tempdir()
            .map_err(|e| LabError::Io {
                what: "create a temporary directory".into(),
                source: e,
            })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LabError::Io {
                what: "start the async runtime".into(),
                source: e,
            })?;
        // A throw-away store: no fsync per write.
        let options = EmbeddedOptions::default().durability(Durability::Normal);
        let store = EmbeddedDatastore::open_with(dir.path().join("datastore.db"), options)
            .map_err(|e| ds("open", e))?;
        Ok(Node {
            rt,
            store,
            written: BTreeMap::new(),
            node_ns: node_ns.to_string(),
            log: dir.path().join("calico-node.log"),
            cleanup: cleanup.clone(),
            started: false,
            marker_seq: 0,
            warned_no_metric: false,
            node_bin: node_bin.to_path_buf(),
            dataplane: dataplane.to_string(),
            via_cni: false,
            _dir: dir,
        })
    }

    /// Endpoints written by the CNI plugin: a case's WorkloadEndpoint is merged into them.
    pub fn set_via_cni(&mut self) {
        self.via_cni = true;
    }

    /// Creates one IPPool per IPAM block (/26, /122) holding any of `addresses` (no
    /// encapsulation, no NAT), so that calico-ipam can hand out exactly those addresses.
    pub fn ensure_pools(&self, addresses: &[IpAddr]) -> Result<Vec<String>, LabError> {
        let mut cidrs: Vec<IpNet> = addresses
            .iter()
            .filter_map(|ip| {
                let len = if ip.is_ipv4() { 26 } else { 122 };
                IpNet::new(*ip, len).ok().map(|n| n.trunc())
            })
            .collect();
        cidrs.sort();
        cidrs.dedup();
        self.rt.block_on(async {
            for (i, cidr) in cidrs.iter().enumerate() {
                let pool = IPPool::new(
                    ObjectMeta::named(format!("calico-lab-pool-{i}")),
                    IPPoolSpec {
                        cidr: cidr.to_string(),
                        block_size: i64::from(cidr.prefix_len()),
                        vxlan_mode: Some(VXLANMode::Never),
                        ipip_mode: Some(IPIPMode::Never),
                        ..IPPoolSpec::default()
                    },
                );
                self.store
                    .apply(pool.into())
                    .await
                    .map_err(|e| ds(&format!("write IPPool {cidr}"), e))?;
            }
            Ok(())
        })?;
        Ok(cidrs.iter().map(ToString::to_string).collect())
    }

    /// Every WorkloadEndpoint in the datastore.
    pub fn endpoints(&self) -> Result<Vec<WorkloadEndpoint>, LabError> {
        let list = self
            .rt
            .block_on(self.store.list(Kind::WorkloadEndpoint, None))
            .map_err(|e| ds("list WorkloadEndpoints", e))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|r| match r {
                Resource::WorkloadEndpoint(w) => Some(*w),
                _ => None,
            })
            .collect())
    }

    /// Writes `resources` (replacing what the previous case wrote: changed ones updated,
    /// missing ones deleted), starts calico-node if needed and waits until it has applied
    /// them.
    pub fn program(&mut self, resources: Vec<Resource>) -> Result<(), LabError> {
        let before = if self.started { self.scrape() } else { None };
        let (revision, writes) = self.write(resources)?;
        if !self.started {
            self.start()?;
            self.started = true;
            self.wait_ready()?;
        }
        self.wait_applied(revision, writes, before.as_ref())
    }

    /// Writes the case; returns the marker's revision and the number of writes.
    fn write(&mut self, resources: Vec<Resource>) -> Result<(u64, usize), LabError> {
        let mut next: BTreeMap<ResourceKey, (serde_json::Value, Resource)> = BTreeMap::new();
        for r in resources {
            let v = serde_json::to_value(&r)
                .map_err(|e| LabError::Node(format!("encode {}: {e}", ResourceKey::of(&r))))?;
            next.insert(ResourceKey::of(&r), (v, r));
        }
        let store = &self.store;
        let via_cni = self.via_cni;
        let written = &mut self.written;
        self.marker_seq += 1;
        let seq = self.marker_seq;
        let mut writes = 1; // the marker
        let revision = self.rt.block_on(async {
            // Deletions first (tiers last), then writes (tiers first).
            let mut gone: Vec<ResourceKey> = written
                .keys()
                .filter(|k| !next.contains_key(*k))
                .filter(|k| !(via_cni && k.kind == Kind::WorkloadEndpoint))
                .cloned()
                .collect();
            gone.sort_by_key(|k| k.kind == Kind::Tier);
            for key in gone {
                match store.delete(&key, None).await {
                    Ok(_) | Err(calico_datastore::Error::NotFound { .. }) => {}
                    Err(e) => return Err(ds(&format!("delete {key}"), e)),
                }
                writes += usize::from(FELIX_KINDS.contains(&key.kind));
                written.remove(&key);
            }
            let mut todo: Vec<(&ResourceKey, &(serde_json::Value, Resource))> = next
                .iter()
                .filter(|(k, (v, _))| written.get(*k) != Some(v))
                .collect();
            todo.sort_by_key(|(k, _)| k.kind != Kind::Tier);
            for (key, (v, r)) in todo {
                match r {
                    Resource::WorkloadEndpoint(w) if via_cni => merge_endpoint(store, w).await?,
                    _ => {
                        store
                            .apply(r.clone())
                            .await
                            .map_err(|e| ds(&format!("write {key}"), e))?;
                    }
                }
                // Only kinds calico-node watches become update events it counts.
                writes += usize::from(FELIX_KINDS.contains(&key.kind));
                written.insert(key.clone(), v.clone());
            }
            // The marker goes last: once calico-node has applied its revision, it has applied
            // everything above.
            let mut meta = ObjectMeta::named(MARKER);
            meta.labels.insert("calico-lab/seq".into(), seq.to_string());
            let marker = GlobalNetworkSet::new(meta, GlobalNetworkSetSpec { nets: vec![] });
            let stored = store
                .apply(marker.into())
                .await
                .map_err(|e| ds("write the marker", e))?;
            let rv = &stored.metadata().resource_version;
            rv.parse::<u64>()
                .map_err(|_| LabError::Node(format!("marker revision {rv:?} is not a number")))
        })?;
        Ok((revision, writes))
    }

    fn start(&mut self) -> Result<(), LabError> {
        let node_bin = self.node_bin.clone();
        if !node_bin.is_file() {
            return Err(LabError::Node(format!(
                "calico-node not found at {} (build it with `cargo build -p calico-node`, pass \
                 --node-bin PATH, or use --no-policy to probe the bare network)",
                node_bin.display()
            )));
        }
        let log = std::fs::File::create(&self.log).map_err(|e| LabError::Io {
            what: format!("create {}", self.log.display()),
            source: e,
        })?;
        let log2 = log.try_clone().map_err(|e| LabError::Io {
            what: "duplicate the log file".into(),
            source: e,
        })?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.node_ns])
            .arg(&node_bin)
            .env("NODENAME", crate::simulate::NODE)
            .env("DATASTORE_TYPE", "embedded")
            .env("CALICO_DATASTORE_PATH", self.store_path())
            .env("CALICO_NETWORKING_BACKEND", "none")
            .env("CALICO_DATAPLANE", &self.dataplane)
            .env("FELIX_HEALTHENABLED", "true")
            .env("FELIX_HEALTHHOST", "127.0.0.1")
            .env("FELIX_HEALTHPORT", HEALTH_PORT.to_string())
            .env("FELIX_PROMETHEUSMETRICSENABLED", "true")
            .env("FELIX_PROMETHEUSMETRICSPORT", METRICS_PORT.to_string())
            .env("FELIX_ENDPOINTSTATUSPATHPREFIX", self.status_dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| LabError::Io {
                what: format!("start {} in {}", node_bin.display(), self.node_ns),
                source: e,
            })?;
        self.cleanup.child("calico-node", child);
        Ok(())
    }

    /// The datastore file (shared with calico-node and the CNI plugins).
    pub fn store_path(&self) -> PathBuf {
        self.log.with_file_name("datastore.db")
    }

    /// Where calico-node writes endpoint status files.
    pub fn status_dir(&self) -> PathBuf {
        self.log.with_file_name("status")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn get(&self, port: u16, path: &str) -> Option<(u16, String)> {
        http_get(&self.node_ns, port, path)
    }

    fn wait_ready(&self) -> Result<(), LabError> {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            if let Some((code, _)) = self.get(HEALTH_PORT, "/readiness")
                && (200..300).contains(&code)
            {
                return Ok(());
            }
            if let Some(status) = self.cleanup.exited("calico-node") {
                return Err(LabError::Node(format!(
                    "calico-node exited ({status}) before it was ready; log:\n{}",
                    self.log_tail()
                )));
            }
            if Instant::now() > deadline {
                return Err(LabError::Node(format!(
                    "calico-node not ready after {WAIT_LIMIT:?}; log:\n{}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The unlabelled samples of calico-node's `/metrics` (metrics port, else health port).
    fn scrape(&self) -> Option<BTreeMap<String, f64>> {
        for port in [METRICS_PORT, HEALTH_PORT] {
            if let Some((200, body)) = self.get(port, "/metrics") {
                return Some(parse_metrics(&body));
            }
        }
        None
    }

    /// Waits until calico-node has applied everything written so far: its applied-updates
    /// counter grew by `writes` since `before` (the first case: readiness covers the initial
    /// list); or, for a calico-node without that gauge, its processed
    /// update counter grew by `writes` since `before` and its dataplane counters then held
    /// still for two scrapes; or, without metrics at all, the node's ruleset settled.
    fn wait_applied(
        &mut self,
        revision: u64,
        writes: usize,
        before: Option<&BTreeMap<String, f64>>,
    ) -> Result<(), LabError> {
        let deadline = Instant::now() + WAIT_LIMIT;
        let base = before
            .and_then(|m| m.get(UPDATES_METRIC))
            .copied()
            .unwrap_or(0.0);
        let applied_base = before
            .and_then(|m| m.get(APPLIED_UPDATES_METRIC))
            .copied()
            .unwrap_or(0.0);
        let mut settled: Option<(Vec<f64>, Instant)> = None;
        let mut last_ruleset: Option<(String, Instant)> = None;
        loop {
            let now = Instant::now();
            match self.scrape() {
                Some(m) if m.contains_key(APPLIED_UPDATES_METRIC) => {
                    // Every write is one update event; the syncer's kinds arrive in any
                    // order, so count them rather than compare revisions.
                    if m.get(APPLIED_UPDATES_METRIC)
                        .is_some_and(|v| *v >= applied_base + writes as f64)
                    {
                        return Ok(());
                    }
                }
                Some(m) if m.contains_key(UPDATES_METRIC) => {
                    let seen = m.get(UPDATES_METRIC).copied().unwrap_or(0.0);
                    if seen >= base + writes as f64 {
                        let counters: Vec<f64> = SETTLE_METRICS
                            .iter()
                            .map(|k| m.get(*k).copied().unwrap_or(-1.0))
                            .collect();
                        match &settled {
                            Some((prev, since)) if *prev == counters => {
                                if now.duration_since(*since) >= SETTLE {
                                    return Ok(());
                                }
                            }
                            _ => settled = Some((counters, now)),
                        }
                    }
                }
                _ => {
                    if !self.warned_no_metric {
                        eprintln!(
                            "calico-lab: calico-node serves no metrics; waiting for the node's \
                             nftables ruleset to settle instead"
                        );
                        self.warned_no_metric = true;
                    }
                    let rules = nft_ruleset(&self.node_ns);
                    match &last_ruleset {
                        Some((prev, since)) if *prev == rules => {
                            if now.duration_since(*since) >= Duration::from_millis(300) {
                                return Ok(());
                            }
                        }
                        _ => last_ruleset = Some((rules, now)),
                    }
                }
            }
            if let Some(status) = self.cleanup.exited("calico-node") {
                return Err(LabError::Node(format!(
                    "calico-node exited ({status}); log:\n{}",
                    self.log_tail()
                )));
            }
            if Instant::now() > deadline {
                return Err(LabError::Node(format!(
                    "calico-node did not apply revision {revision} within {WAIT_LIMIT:?}; log:\n{}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops calico-node (its rules stay until the namespace goes).
    pub fn stop(&self) {
        self.cleanup
            .stop_child("calico-node", Duration::from_secs(2));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Adds what the Kubernetes datastore would carry for a pod (its labels, the `kns.`/`ksa.`
/// profiles, service account and named ports of `case_wep`) to the WorkloadEndpoint the CNI
/// plugin wrote for that pod, keeping the plugin's interface, MAC, container and addresses.
/// A compare-and-swap update, retried on conflict.
async fn merge_endpoint(
    store: &EmbeddedDatastore,
    case_wep: &WorkloadEndpoint,
) -> Result<(), LabError> {
    let key = ResourceKey::new(
        Kind::WorkloadEndpoint,
        &case_wep.metadata.namespace,
        &case_wep.metadata.name,
    );
    for _ in 0..10 {
        let current = match store.get(&key).await {
            Ok(Resource::WorkloadEndpoint(w)) => *w,
            Ok(_) | Err(calico_datastore::Error::NotFound { .. }) => {
                return Err(LabError::Node(format!(
                    "the CNI plugin wrote no WorkloadEndpoint {key} for pod {}/{}",
                    case_wep.metadata.namespace, case_wep.spec.pod
                )));
            }
            Err(e) => return Err(ds(&format!("read {key}"), e)),
        };
        let mut merged = current.clone();
        merged.metadata.labels = case_wep.metadata.labels.clone();
        merged.spec.profiles = case_wep.spec.profiles.clone();
        merged.spec.service_account_name = case_wep.spec.service_account_name.clone();
        merged.spec.ports = case_wep.spec.ports.clone();
        // `resourceVersion` is the one read: a concurrent writer makes this a conflict.
        match store.update(merged.into()).await {
            Ok(_) => return Ok(()),
            Err(calico_datastore::Error::Conflict { .. }) => continue,
            Err(e) => return Err(ds(&format!("update {key}"), e)),
        }
    }
    Err(LabError::Node(format!(
        "{key} kept changing while its labels were added"
    )))
}

/// The samples without labels of a Prometheus text page: name → value.
pub fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?;
            let value = it.next()?.parse().ok()?;
            (!name.contains('{')).then(|| (name.to_string(), value))
        })
        .collect()
}

/// The node namespace's nftables ruleset as text (empty if `nft` fails).
pub fn nft_ruleset(ns: &str) -> String {
    Command::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "ruleset"])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// `GET path` on 127.0.0.1:`port` inside namespace `ns`: the status code and the body.
fn http_get(ns: &str, port: u16, path: &str) -> Option<(u16, String)> {
    let ns = ns.to_string();
    let path = path.to_string();
    std::thread::spawn(move || -> Option<(u16, String)> {
        enter(&ns).ok()?;
        let mut s = TcpStream::connect_timeout(
            &(Ipv4Addr::LOCALHOST, port).into(),
            Duration::from_millis(200),
        )
        .ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Some((code, body))
    })
    .join()
    .ok()
    .flatten()
}
