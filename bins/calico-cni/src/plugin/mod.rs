//! The `calico` network plugin: ADD/DEL/CHECK/GC/STATUS for `type: calico` (see
//! `docs/CNI.md`). IPAM is delegated to the plugin named by `ipam.type` (`calico-ipam` or
//! any CNI IPAM plugin such as `host-local`).

pub mod dataplane;
pub mod netlink;
pub mod workload;

pub use dataplane::{LinuxPodDataplane, PodDataplane, RecordingPodDataplane};

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use calico_datastore::Datastore;
use calico_model::Kind;
use ipnet::IpNet;

use crate::names::WorkloadIds;
use crate::netconf::NetConf;
use crate::skel::{
    self, CniArgs, CniResult, Command, Error, Interface, IpConfig, Plugin, Request, Result,
    delegate,
};

/// The IPAM plugin GC and STATUS are forwarded to (others, e.g. Debian's host-local 1.1.1,
/// do not implement them).
pub const CALICO_IPAM: &str = "calico-ipam";

/// Felix's host interface prefix variable, honoured for pods' host veth names as Calico does.
pub const FELIX_INTERFACEPREFIX: &str = "FELIX_INTERFACEPREFIX";

/// The `calico` plugin: the dataplane it programs and, optionally, a datastore to use
/// instead of the one the network config names (for embedding and tests).
#[derive(Clone)]
pub struct CalicoPlugin {
    dataplane: Arc<dyn PodDataplane>,
    datastore: Option<Arc<dyn Datastore>>,
}

impl Default for CalicoPlugin {
    fn default() -> Self {
        CalicoPlugin::new(Arc::new(LinuxPodDataplane), None)
    }
}

impl CalicoPlugin {
    /// A plugin programming `dataplane`; with `datastore`, the config's datastore settings
    /// are ignored and that store is used.
    pub fn new(dataplane: Arc<dyn PodDataplane>, datastore: Option<Arc<dyn Datastore>>) -> Self {
        CalicoPlugin {
            dataplane,
            datastore,
        }
    }

    fn store(&self, conf: &NetConf) -> Result<Store> {
        match &self.datastore {
            Some(ds) => Store::with(ds.clone()),
            None => Store::connect(conf),
        }
    }
}

/// The process entry point of the `calico` binary.
pub fn main() -> i32 {
    skel::main(&CalicoPlugin::default())
}

/// The single-threaded runtime a plugin's datastore futures run on.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            what: "start the datastore runtime".into(),
            source: e,
        })
}

/// A datastore connection with the runtime its futures run on (cheap to clone: both are
/// shared).
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) rt: Arc<tokio::runtime::Runtime>,
    pub(crate) ds: Arc<dyn Datastore>,
}

impl Store {
    pub(crate) fn connect(conf: &NetConf) -> Result<Self> {
        let config = conf.datastore()?;
        let rt = runtime()?;
        let ds = rt
            .block_on(calico_datastore::connect(&config))
            .map_err(|e| Error::datastore("connect", e))?;
        Ok(Store {
            rt: Arc::new(rt),
            ds,
        })
    }

    /// A store over an existing datastore.
    pub(crate) fn with(ds: Arc<dyn Datastore>) -> Result<Self> {
        let rt = runtime()?;
        Ok(Store {
            rt: Arc::new(rt),
            ds,
        })
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Fails (code 11, try again) while `ClusterInformation/default` says
    /// `datastoreReady: false` (`calicoctl datastore migrate lock`), as Calico does.
    /// A missing ClusterInformation counts as ready.
    pub(crate) fn ensure_ready(&self) -> Result<()> {
        let key = calico_model::sync::ResourceKey::new(Kind::ClusterInformation, "", "default");
        match self.block_on(self.ds.get(&key)) {
            Ok(calico_model::Resource::ClusterInformation(ci))
                if !ci.spec.datastore_ready_or_default() =>
            {
                Err(Error::TryAgain(
                    "Calico is currently not ready to process requests (datastoreReady is false)"
                        .into(),
                ))
            }
            Ok(_) | Err(calico_datastore::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::datastore("read ClusterInformation default", e)),
        }
    }

    /// Fails with code 50 if the datastore does not answer.
    pub(crate) fn ping(&self) -> Result<()> {
        self.block_on(self.ds.list(Kind::IPPool, None))
            .map(|_| ())
            .map_err(|e| Error::NotAvailable(format!("the Calico datastore is not reachable: {e}")))
    }
}

/// What a request is about, derived once.
struct Attachment {
    conf: NetConf,
    ids: WorkloadIds,
    wep_name: String,
    host_ifname: String,
}

impl Attachment {
    fn new(req: &Request) -> Result<Self> {
        let conf = NetConf::from_value(&req.config)?;
        let node = conf.node_name()?;
        let ids = WorkloadIds::new(&node, &req.env);
        let wep_name = ids.wep_name()?;
        let host_ifname =
            ids.host_veth_with_prefix(&std::env::var(FELIX_INTERFACEPREFIX).unwrap_or_default());
        Ok(Attachment {
            conf,
            ids,
            wep_name,
            host_ifname,
        })
    }

    fn ipam_type(&self) -> Result<&str> {
        if self.conf.ipam.type_.is_empty() {
            return Err(Error::config(
                "ipam.type",
                "required (e.g. calico-ipam or host-local)",
            ));
        }
        Ok(&self.conf.ipam.type_)
    }
}

fn ipam_args(req: &Request) -> String {
    CniArgs::with_ignore_unknown(&req.env.args_raw)
}

/// Set to run `calico-ipam` as a separate process even when the store is open here.
pub const EXEC_IPAM_ENV: &str = "CALICO_CNI_EXEC_IPAM";

/// Runs the IPAM plugin for `command`. `calico-ipam` runs in this process on the open
/// datastore `store` (the same code as the `calico-ipam` binary, with the same `CNI_ARGS` it
/// would get: one process start and one datastore open less per pod); any other type, or
/// any type when [`EXEC_IPAM_ENV`] is set, is executed from `CNI_PATH` as the spec describes.
fn run_ipam(
    ipam_type: &str,
    command: Command,
    req: &Request,
    store: Option<&Store>,
) -> Result<Option<CniResult>> {
    let args = ipam_args(req);
    if let Some(store) = store
        && ipam_type == CALICO_IPAM
        && std::env::var_os(EXEC_IPAM_ENV).is_none()
    {
        let mut sub = req.clone();
        sub.env.command = command;
        sub.env.args = CniArgs::parse(&args, Some(skel::args::KNOWN_KEYS))?;
        sub.env.args_raw = args;
        return crate::ipam::CalicoIpam.run_in(command, &sub, store);
    }
    delegate::exec(ipam_type, command, &req.env, &args, &req.stdin)
}

/// Everything an ADD did so far, undone in reverse if it fails.
#[derive(Default)]
struct Undo {
    ipam: Option<String>,
    host_link: Option<String>,
    netns_link: bool,
    wep: Option<(String, String, String)>,
}

impl Undo {
    fn run(&self, req: &Request, store: &Store, dataplane: &dyn PodDataplane) {
        if let Some((ns, name, cid)) = &self.wep
            && let Err(e) = store.block_on(workload::delete_endpoint(&store.ds, ns, name, cid))
        {
            eprintln!("calico: rollback: {e}");
        }
        if self.netns_link
            && let Err(e) = dataplane.teardown(Path::new(&req.env.netns), &req.env.ifname)
        {
            eprintln!("calico: rollback: {e}");
        }
        if let Some(host) = &self.host_link
            && let Err(e) = dataplane.delete_host_link(host)
        {
            eprintln!("calico: rollback: {e}");
        }
        if let Some(ipam) = &self.ipam
            && let Err(e) = run_ipam(ipam, Command::Del, req, Some(store))
        {
            eprintln!("calico: rollback: IPAM DEL: {e}");
        }
    }
}

/// A WorkloadEndpoint `ipNetworks` entry (CIDR or bare address).
fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// The single-address prefixes of an IPAM result's addresses.
fn pod_addresses(ipam: &CniResult) -> Vec<IpNet> {
    ipam.ips
        .iter()
        .map(|ip| IpNet::from(ip.address.addr()))
        .collect()
}

impl CalicoPlugin {
    fn add_inner(
        &self,
        req: &Request,
        a: &Attachment,
        store: &Store,
        undo: &mut Undo,
    ) -> Result<CniResult> {
        let ipam_type = a.ipam_type()?;
        // A repeated ADD of the same attachment (same container and interface) keeps its
        // addresses: calico-ipam returns the handle's existing ones; other IPAM plugins
        // (host-local refuses a second allocation) are not asked again and the endpoint's
        // addresses are reused. Nothing that existed before is rolled back.
        let existing = store
            .block_on(workload::get_endpoint(
                &store.ds,
                &a.ids.namespace,
                &a.wep_name,
            ))?
            .filter(|w| {
                w.spec.container_id == a.ids.container_id
                    && w.spec.endpoint == req.env.ifname
                    && !w.spec.ip_networks.is_empty()
            });
        let ipam = match &existing {
            Some(w) if ipam_type != CALICO_IPAM => CniResult {
                ips: w
                    .spec
                    .ip_networks
                    .iter()
                    .filter_map(|n| parse_net(n))
                    .map(|address| IpConfig {
                        address,
                        gateway: None,
                        interface: None,
                    })
                    .collect(),
                ..CniResult::default()
            },
            _ => run_ipam(ipam_type, Command::Add, req, Some(store))?.unwrap_or_default(),
        };
        if existing.is_none() {
            undo.ipam = Some(ipam_type.to_owned());
        }
        if ipam.ips.is_empty() {
            return Err(Error::Delegate {
                plugin: ipam_type.to_owned(),
                code: skel::error::CODE_IPAM,
                msg: "the IPAM plugin returned no addresses".into(),
                details: String::new(),
            });
        }
        let addresses = pod_addresses(&ipam);
        let mtu = a.conf.resolved_mtu();
        let net = netlink::PodNetwork {
            netns: Path::new(&req.env.netns),
            ifname: &req.env.ifname,
            host_ifname: &a.host_ifname,
            mtu,
            num_queues: a.conf.num_queues,
            addresses: &addresses,
            allow_ip_forwarding: a.conf.container_settings.allow_ip_forwarding,
        };
        undo.host_link = Some(a.host_ifname.clone());
        undo.netns_link = true;
        let mac = self.dataplane.setup(&net)?;
        let facts = workload::EndpointFacts {
            ids: &a.ids,
            name: &a.wep_name,
            host_ifname: &a.host_ifname,
            mac: &mac,
            addresses: &addresses,
            network: &a.conf.name,
        };
        if !a.ids.is_k8s() && a.conf.policy.type_.is_empty() {
            store.block_on(workload::ensure_profile(&store.ds, &a.conf.name))?;
        }
        if existing.is_none() {
            undo.wep = Some((
                a.ids.namespace.clone(),
                a.wep_name.clone(),
                a.ids.container_id.clone(),
            ));
        }
        store.block_on(workload::write_endpoint(
            &store.ds,
            workload::workload_endpoint(&facts),
        ))?;
        if a.conf.policy_setup_timeout_seconds > 0 {
            workload::wait_for_policy(
                &a.conf.endpoint_status_dir(),
                &a.ids.namespace,
                &a.wep_name,
                a.conf.policy_setup_timeout_seconds,
            )?;
        }
        Ok(CniResult {
            cni_version: req.cni_version.clone(),
            interfaces: vec![
                Interface {
                    name: a.host_ifname.clone(),
                    ..Interface::default()
                },
                Interface {
                    name: req.env.ifname.clone(),
                    mac,
                    mtu: Some(mtu),
                    sandbox: req.env.netns.clone(),
                    ..Interface::default()
                },
            ],
            ips: addresses
                .iter()
                .map(|a| IpConfig {
                    address: *a,
                    gateway: None,
                    interface: Some(1),
                })
                .collect(),
            routes: ipam.routes,
            dns: ipam.dns,
        })
    }
}

impl Plugin for CalicoPlugin {
    fn name(&self) -> &'static str {
        "calico"
    }

    fn add(&self, req: &Request) -> Result<CniResult> {
        let a = Attachment::new(req)?;
        let store = self.store(&a.conf)?;
        store.ensure_ready()?;
        let mut undo = Undo::default();
        match self.add_inner(req, &a, &store, &mut undo) {
            Ok(r) => Ok(r),
            Err(e) => {
                undo.run(req, &store, self.dataplane.as_ref());
                Err(e)
            }
        }
    }

    fn del(&self, req: &Request) -> Result<()> {
        let a = Attachment::new(req)?;
        let mut errors: Vec<Error> = Vec::new();
        let mut open = None;
        match self
            .store(&a.conf)
            .and_then(|s| s.ensure_ready().map(|()| s))
        {
            Ok(store) => {
                open = Some(store.clone());
                if let Err(e) = store.block_on(workload::delete_endpoint(
                    &store.ds,
                    &a.ids.namespace,
                    &a.wep_name,
                    &a.ids.container_id,
                )) {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(e),
        }
        if let Err(e) = self
            .dataplane
            .teardown(Path::new(&req.env.netns), &req.env.ifname)
        {
            errors.push(e);
        }
        match a.ipam_type() {
            Ok(t) => {
                if let Err(e) = run_ipam(t, Command::Del, req, open.as_ref()) {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(e),
        }
        for e in errors.iter().skip(1) {
            eprintln!("calico: DEL: also: {e}");
        }
        errors.into_iter().next().map_or(Ok(()), Err)
    }

    fn check(&self, req: &Request) -> Result<()> {
        let a = Attachment::new(req)?;
        let prev = a
            .conf
            .prev_result
            .as_ref()
            .ok_or_else(|| Error::config("prevResult", "required for CHECK"))?;
        let prev = CniResult::from_json("prevResult", prev)?;
        // Our addresses: those on the container interface (or, if the result does not say,
        // every address).
        let container_idx = prev
            .interfaces
            .iter()
            .position(|i| i.name == req.env.ifname && !i.sandbox.is_empty());
        let addresses: Vec<IpNet> = prev
            .ips
            .iter()
            .filter(|ip| ip.interface.is_none() || ip.interface == container_idx)
            .map(|ip| IpNet::from(ip.address.addr()))
            .collect();
        if addresses.is_empty() {
            return Err(Error::config(
                "prevResult.ips",
                "no addresses for the container interface",
            ));
        }
        let net = netlink::PodNetwork {
            netns: Path::new(&req.env.netns),
            ifname: &req.env.ifname,
            host_ifname: &a.host_ifname,
            mtu: 0,
            num_queues: 0,
            addresses: &addresses,
            allow_ip_forwarding: false,
        };
        let mut problems = self.dataplane.check(&net)?;
        let store = self.store(&a.conf)?;
        match store.block_on(workload::get_endpoint(
            &store.ds,
            &a.ids.namespace,
            &a.wep_name,
        ))? {
            None => problems.push(format!("WorkloadEndpoint {} is missing", a.wep_name)),
            Some(w) => {
                if w.spec.container_id != a.ids.container_id {
                    problems.push(format!(
                        "WorkloadEndpoint {} belongs to container {}",
                        a.wep_name, w.spec.container_id
                    ));
                }
                for ip in &addresses {
                    if !w.spec.ip_networks.contains(&ip.to_string()) {
                        problems.push(format!("WorkloadEndpoint {} lacks {ip}", a.wep_name));
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::dataplane("CHECK", problems.join("; ")));
        }
        delegate::exec(
            a.ipam_type()?,
            Command::Check,
            &req.env,
            &ipam_args(req),
            &req.stdin,
        )
        .map(|_| ())
    }

    fn gc(&self, req: &Request) -> Result<()> {
        let conf = NetConf::from_value(&req.config)?;
        let node = conf.node_name()?;
        let valid: BTreeSet<(String, String)> = conf
            .valid_attachments()?
            .iter()
            .map(|a| (a.container_id.clone(), a.ifname.clone()))
            .collect();
        let store = self.store(&conf)?;
        let mut errors = Vec::new();
        for w in store.block_on(workload::endpoints_of_node(&store.ds, &node))? {
            if w.spec.container_id.is_empty()
                || valid.contains(&(w.spec.container_id.clone(), w.spec.endpoint.clone()))
            {
                continue;
            }
            if let Err(e) = store.block_on(workload::delete_endpoint(
                &store.ds,
                &w.metadata.namespace,
                &w.metadata.name,
                &w.spec.container_id,
            )) {
                errors.push(e);
            }
        }
        if conf.ipam.type_ == CALICO_IPAM
            && let Err(e) = delegate::exec(
                CALICO_IPAM,
                Command::Gc,
                &req.env,
                &req.env.args_raw,
                &req.stdin,
            )
        {
            errors.push(e);
        }
        errors.into_iter().next().map_or(Ok(()), Err)
    }

    fn status(&self, req: &Request) -> Result<()> {
        let conf = NetConf::from_value(&req.config)?;
        self.store(&conf)
            .map_err(|e| Error::NotAvailable(e.to_string()))?
            .ping()?;
        if conf.ipam.type_ == CALICO_IPAM {
            delegate::exec(
                CALICO_IPAM,
                Command::Status,
                &req.env,
                &req.env.args_raw,
                &req.stdin,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_datastore::memory::MemoryDatastore;
    use std::os::unix::fs::PermissionsExt;

    /// A temp dir with a node name file and a fake IPAM plugin that logs its calls.
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(dir.path().join("nodename"), "node-1").unwrap_or_else(|e| panic!("{e}"));
            let script = dir.path().join("fake-ipam");
            std::fs::write(
                &script,
                "#!/bin/sh\necho \"$CNI_COMMAND $CNI_CONTAINERID $CNI_ARGS\" >> \"$(dirname \"$0\")/calls\"\n\
                 if [ \"$CNI_COMMAND\" = ADD ]; then echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.1.2.3/26\"}],\"routes\":[{\"dst\":\"10.1.2.3/26\"}]}'; fi\n",
            )
            .unwrap_or_else(|e| panic!("{e}"));
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("{e}"));
            Fixture { dir }
        }

        fn request(&self, command: &str, extra: serde_json::Value) -> Request {
            self.request_for(command, "c0ffee", extra)
        }

        fn request_for(&self, command: &str, container: &str, extra: serde_json::Value) -> Request {
            let container = container.to_owned();
            let mut conf = serde_json::json!({
                "cniVersion": "1.0.0", "name": "net1", "type": "calico",
                "nodename_file": self.dir.path().join("nodename"),
                "mtu": 1410, "ipam": {"type": "fake-ipam"},
            });
            if let (Some(c), Some(e)) = (conf.as_object_mut(), extra.as_object()) {
                c.extend(e.clone());
            }
            let path = self.dir.path().display().to_string();
            let command = command.to_owned();
            let vars = move |k: &str| -> Option<String> {
                Some(match k {
                    "CNI_COMMAND" => command.clone(),
                    "CNI_CONTAINERID" => container.clone(),
                    "CNI_NETNS" => "/run/netns/fake".into(),
                    "CNI_IFNAME" => "eth0".into(),
                    "CNI_ARGS" => "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-1".into(),
                    "CNI_PATH" => path.clone(),
                    _ => return None,
                })
            };
            skel::parse_request(vars, conf.to_string().into_bytes(), None)
                .unwrap_or_else(|(_, e)| panic!("{e}"))
        }

        fn ipam_calls(&self) -> Vec<String> {
            std::fs::read_to_string(self.dir.path().join("calls"))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    fn wep_count(ds: &Arc<dyn Datastore>) -> usize {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(ds.list(Kind::WorkloadEndpoint, None))
            .map(|l| l.items.len())
            .unwrap_or(0)
    }

    #[test]
    fn add_and_del_on_recording_dataplane() {
        let fx = Fixture::new();
        let ds: Arc<dyn Datastore> = Arc::new(MemoryDatastore::new());
        let dp = Arc::new(RecordingPodDataplane::default());
        let plugin = CalicoPlugin::new(dp.clone(), Some(ds.clone()));
        let r = plugin
            .add(&fx.request("ADD", serde_json::json!({})))
            .unwrap_or_else(|e| panic!("{e}"));
        let host = crate::names::host_veth_name_k8s("ns1", "web-1");
        assert_eq!(r.interfaces[0].name, host);
        assert_eq!(r.interfaces[1].mac, dataplane::RECORDED_MAC);
        assert_eq!(r.interfaces[1].mtu, Some(1410));
        assert_eq!(r.ips[0].address.to_string(), "10.1.2.3/32");
        assert_eq!(r.routes[0].dst.to_string(), "10.1.2.3/26");
        assert_eq!(
            dp.calls(),
            vec![format!(
                "setup /run/netns/fake eth0 {host} mtu=1410 10.1.2.3/32"
            )]
        );
        assert_eq!(wep_count(&ds), 1);
        // The delegate got IgnoreUnknown=1 prepended.
        assert_eq!(
            fx.ipam_calls(),
            vec!["ADD c0ffee IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-1"]
        );
        plugin
            .del(&fx.request("DEL", serde_json::json!({})))
            .unwrap_or_else(|e| panic!("{e}"));
        plugin
            .del(&fx.request("DEL", serde_json::json!({})))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wep_count(&ds), 0);
        assert_eq!(
            fx.ipam_calls()
                .iter()
                .filter(|c| c.starts_with("DEL"))
                .count(),
            2
        );
    }

    #[test]
    fn failed_add_rolls_back() {
        let fx = Fixture::new();
        let ds: Arc<dyn Datastore> = Arc::new(MemoryDatastore::new());
        let dp = Arc::new(RecordingPodDataplane::failing_setup());
        let plugin = CalicoPlugin::new(dp.clone(), Some(ds.clone()));
        let e = plugin.add(&fx.request("ADD", serde_json::json!({}))).err();
        assert_eq!(e.map(|e| e.code()), Some(skel::error::CODE_DATAPLANE));
        let host = crate::names::host_veth_name_k8s("ns1", "web-1");
        let calls = dp.calls();
        assert!(
            calls.contains(&"teardown /run/netns/fake eth0".to_owned()),
            "{calls:?}"
        );
        assert!(
            calls.contains(&format!("delete-host-link {host}")),
            "{calls:?}"
        );
        assert_eq!(wep_count(&ds), 0);
        let ipam = fx.ipam_calls();
        assert_eq!(ipam.len(), 2, "{ipam:?}");
        assert!(ipam[1].starts_with("DEL c0ffee"), "{ipam:?}");
    }

    #[test]
    fn del_of_an_older_container_keeps_the_endpoint() {
        let fx = Fixture::new();
        let ds: Arc<dyn Datastore> = Arc::new(MemoryDatastore::new());
        let dp = Arc::new(RecordingPodDataplane::default());
        let plugin = CalicoPlugin::new(dp.clone(), Some(ds.clone()));
        plugin
            .add(&fx.request("ADD", serde_json::json!({})))
            .unwrap_or_else(|e| panic!("{e}"));
        // The pod's previous sandbox is deleted after the new one was added.
        plugin
            .del(&fx.request_for("DEL", "old5andb0x", serde_json::json!({})))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wep_count(&ds), 1, "the newer sandbox's endpoint stays");
        let calls = fx.ipam_calls();
        assert_eq!(
            calls
                .last()
                .map(String::as_str)
                .unwrap_or_default()
                .split(' ')
                .nth(1),
            Some("old5andb0x")
        );
    }

    #[test]
    fn gc_needs_valid_attachments() {
        let fx = Fixture::new();
        let ds: Arc<dyn Datastore> = Arc::new(MemoryDatastore::new());
        let plugin =
            CalicoPlugin::new(Arc::new(RecordingPodDataplane::default()), Some(ds.clone()));
        plugin
            .add(&fx.request("ADD", serde_json::json!({})))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut req = fx.request("ADD", serde_json::json!({}));
        let e = plugin
            .gc(&req)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("cni.dev/valid-attachments"), "{e}");
        assert_eq!(wep_count(&ds), 1);
        req.config["cni.dev/valid-attachments"] =
            serde_json::json!([{"containerID": "c0ffee", "ifname": "eth0"}]);
        plugin.gc(&req).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wep_count(&ds), 1, "the valid attachment stays");
        req.config["cni.dev/valid-attachments"] = serde_json::json!([]);
        plugin.gc(&req).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wep_count(&ds), 0);
    }

    #[test]
    fn policy_timeout_rolls_back_the_endpoint() {
        let fx = Fixture::new();
        let ds: Arc<dyn Datastore> = Arc::new(MemoryDatastore::new());
        let dp = Arc::new(RecordingPodDataplane::default());
        let plugin = CalicoPlugin::new(dp, Some(ds.clone()));
        let extra = serde_json::json!({
            "policy_setup_timeout_seconds": 1,
            "endpoint_status_dir": fx.dir.path().join("status"),
        });
        let e = plugin.add(&fx.request("ADD", extra)).err();
        assert_eq!(e.map(|e| e.code()), Some(skel::error::CODE_POLICY_TIMEOUT));
        assert_eq!(wep_count(&ds), 0);
    }
}
