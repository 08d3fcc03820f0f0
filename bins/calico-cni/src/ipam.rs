//! The `calico-ipam` IPAM plugin: addresses from Calico IPAM ([`calico_datastore::ipam`]).
//!
//! - ADD: the handle `<network>.<container ID>` keeps what it has (a repeated ADD returns
//!   the same addresses); `IP=<addr>` in `CNI_ARGS` assigns that address (`IP=<v4>,<v6>`: both); otherwise one IPv4
//!   address (unless `assign_ipv4` is `"false"`) and one IPv6 address (if `assign_ipv6` is
//!   `"true"`). The result lists each address with its block's prefix (`10.244.1.5/26`)
//!   and one route per address to that prefix; no interfaces.
//! - DEL: releases the handle, then the legacy `<namespace>.<pod>` handle; idempotent.
//! - CHECK: the handle must hold addresses.
//! - GC: releases this node's handles of the network whose container is not in
//!   `cni.dev/valid-attachments`.
//! - STATUS: the datastore answers.
//!
//! Work on the datastore happens under a host-wide best-effort `flock` on `ipam_lock_file`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::net::IpAddr;
use std::path::Path;

use calico_datastore::ipam::{AssignIpArgs, AutoAssignArgs, Ipam};
use calico_model::{IPPoolAllowedUse, Kind, Resource};
use ipnet::IpNet;
use nix::fcntl::{Flock, FlockArg};

use crate::names::{self, WorkloadIds};
use crate::netconf::NetConf;
use crate::plugin::Store;
use crate::skel::{self, CniResult, Error, IpConfig, Plugin, Request, Result, Route, args};

/// Default IPv4 block prefix length (when a pool does not say).
const DEFAULT_BLOCK_V4: u8 = 26;
/// Default IPv6 block prefix length.
const DEFAULT_BLOCK_V6: u8 = 122;

/// The `calico-ipam` plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct CalicoIpam;

/// The process entry point of the `calico-ipam` binary.
pub fn main() -> i32 {
    skel::main(&CalicoIpam)
}

/// Holds the host-wide IPAM lock while alive (if it could be taken).
struct HostLock(#[allow(dead_code)] Option<Flock<File>>);

impl HostLock {
    /// Takes the lock; failures are reported on stderr and ignored (the datastore's
    /// compare-and-swap protects the data; the lock only avoids wasted retries).
    fn take(path: &Path) -> Self {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = match OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) => {
                eprintln!(
                    "calico-ipam: lock {}: {e} (continuing without)",
                    path.display()
                );
                return HostLock(None);
            }
        };
        match Flock::lock(file, FlockArg::LockExclusive) {
            Ok(l) => HostLock(Some(l)),
            Err((_, e)) => {
                eprintln!(
                    "calico-ipam: lock {}: {e} (continuing without)",
                    path.display()
                );
                HostLock(None)
            }
        }
    }
}

struct Ctx {
    conf: NetConf,
    ids: WorkloadIds,
    handle: String,
    store: Store,
    ipam: Ipam,
}

impl Ctx {
    /// The request's context, on `store` if given (already checked ready) or a new
    /// connection.
    fn new(req: &Request, store: Option<Store>) -> Result<Self> {
        let conf = NetConf::from_value(&req.config)?;
        let node = conf.node_name()?;
        let ids = WorkloadIds::new(&node, &req.env);
        let handle = names::ipam_handle(&conf.name, &req.env.container_id);
        let store = match store {
            Some(s) => s,
            None => {
                let s = Store::connect(&conf)?;
                s.ensure_ready()?;
                s
            }
        };
        let ipam = Ipam::new(store.ds.clone());
        Ok(Ctx {
            conf,
            ids,
            handle,
            store,
            ipam,
        })
    }

    fn attrs(&self) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        a.insert("node".to_owned(), self.ids.node.clone());
        a.insert(
            "timestamp".to_owned(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        );
        if self.ids.is_k8s() {
            a.insert("namespace".to_owned(), self.ids.namespace.clone());
            a.insert("pod".to_owned(), self.ids.pod.clone());
        }
        a
    }

    /// Each address with the block prefix of the pool containing it.
    fn with_block_prefix(&self, ips: &[IpAddr]) -> Result<Vec<IpNet>> {
        let pools = self
            .store
            .block_on(self.store.ds.list(Kind::IPPool, None))
            .map_err(|e| Error::datastore("list IPPools", e))?;
        let pools: Vec<(IpNet, i64)> = pools
            .items
            .iter()
            .filter_map(|r| match r {
                Resource::IPPool(p) => p.spec.cidr.parse().ok().map(|c| (c, p.spec.block_size)),
                _ => None,
            })
            .collect();
        Ok(ips
            .iter()
            .map(|ip| {
                let default = if ip.is_ipv4() {
                    DEFAULT_BLOCK_V4
                } else {
                    DEFAULT_BLOCK_V6
                };
                let prefix = pools
                    .iter()
                    .find(|(c, _)| c.contains(ip))
                    .and_then(|(_, b)| u8::try_from(*b).ok().filter(|b| *b > 0))
                    .unwrap_or(default);
                IpNet::new(*ip, prefix).unwrap_or_else(|_| IpNet::from(*ip))
            })
            .collect())
    }
}

/// The addresses of `CNI_ARGS` `IP=`: one address, or a comma-separated list (at most one
/// per family, as host-local accepts them: `IP=10.0.0.5,fd00::5`).
fn requested_ips(value: &str) -> Result<Vec<IpAddr>> {
    let bad = |reason: String| Error::InvalidEnv {
        var: "CNI_ARGS".into(),
        reason: format!("IP={value}: {reason}"),
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for part in value.split(',').map(str::trim) {
        let ip: IpAddr = part.parse().map_err(|e| bad(format!("{part:?}: {e}")))?;
        if ips.iter().any(|i| i.is_ipv4() == ip.is_ipv4()) {
            return Err(bad("more than one address of a family".into()));
        }
        ips.push(ip);
    }
    Ok(ips)
}

fn result_of(cni_version: &str, nets: &[IpNet]) -> CniResult {
    CniResult {
        cni_version: cni_version.to_owned(),
        interfaces: vec![],
        ips: nets
            .iter()
            .map(|n| IpConfig {
                address: *n,
                gateway: None,
                interface: None,
            })
            .collect(),
        routes: nets.iter().map(|n| Route::to(*n)).collect(),
        dns: skel::Dns::default(),
    }
}

impl CalicoIpam {
    /// Runs `command` in this process on an already open (and ready) datastore: what the
    /// `calico` plugin does instead of executing the `calico-ipam` binary — the same code,
    /// one process start and one datastore open less per pod.
    pub(crate) fn run_in(
        &self,
        command: skel::Command,
        req: &Request,
        store: &Store,
    ) -> Result<Option<CniResult>> {
        let ctx = Ctx::new(req, Some(store.clone()))?;
        match command {
            skel::Command::Add => self.add_in(req, ctx).map(Some),
            skel::Command::Del => self.del_in(ctx).map(|()| None),
            skel::Command::Check => self.check_in(ctx).map(|()| None),
            other => Err(Error::config(
                "ipam",
                format!("{} is not run in-process", other.as_str()),
            )),
        }
    }

    fn add_in(&self, req: &Request, ctx: Ctx) -> Result<CniResult> {
        let _lock = HostLock::take(&ctx.conf.ipam_lock_file());
        let existing = ctx.store.block_on(ctx.ipam.ips_by_handle(&ctx.handle))?;
        if !existing.is_empty() {
            return Ok(result_of(
                &req.cni_version,
                &ctx.with_block_prefix(&existing)?,
            ));
        }
        let nets = if let Some(ips) = req.env.args.get(args::IP) {
            let ips = requested_ips(ips)?;
            let mut nets = Vec::with_capacity(ips.len());
            for ip in ips {
                match ctx.store.block_on(ctx.ipam.assign_ip(&AssignIpArgs {
                    ip,
                    handle_id: ctx.handle.clone(),
                    attrs: ctx.attrs(),
                    hostname: ctx.ids.node.clone(),
                    intended_use: IPPoolAllowedUse::Workload,
                })) {
                    Ok(net) => nets.push(net),
                    Err(e) => {
                        // All or nothing: give back what this ADD took.
                        let _ = ctx.store.block_on(ctx.ipam.release_by_handle(&ctx.handle));
                        return Err(e.into());
                    }
                }
            }
            nets
        } else {
            let num_ipv4 = usize::from(ctx.conf.ipam.want_ipv4());
            let num_ipv6 = usize::from(ctx.conf.ipam.want_ipv6());
            if num_ipv4 + num_ipv6 == 0 {
                return Err(Error::config(
                    "ipam",
                    "assign_ipv4 and assign_ipv6 are both false: nothing to assign",
                ));
            }
            let got = ctx.store.block_on(ctx.ipam.auto_assign(&AutoAssignArgs {
                num_ipv4,
                num_ipv6,
                handle_id: ctx.handle.clone(),
                attrs: ctx.attrs(),
                hostname: ctx.ids.node.clone(),
                ipv4_pools: ctx.conf.ipam.ipv4_pools.clone(),
                ipv6_pools: ctx.conf.ipam.ipv6_pools.clone(),
                max_blocks_per_host: 0,
                intended_use: IPPoolAllowedUse::Workload,
                namespace_labels: None,
            }))?;
            if got.ipv4.len() < num_ipv4 || got.ipv6.len() < num_ipv6 {
                let _ = ctx.store.block_on(ctx.ipam.release_by_handle(&ctx.handle));
                return Err(Error::from(calico_datastore::ipam::IpamError::Exhausted {
                    family: if got.ipv4.len() < num_ipv4 { 4 } else { 6 },
                    requested: num_ipv4 + num_ipv6,
                    assigned: got.ipv4.len() + got.ipv6.len(),
                    reason: "IPAM assigned fewer addresses than requested".into(),
                }));
            }
            got.ipv4.into_iter().chain(got.ipv6).collect()
        };
        Ok(result_of(&req.cni_version, &nets))
    }

    fn del_in(&self, ctx: Ctx) -> Result<()> {
        let _lock = HostLock::take(&ctx.conf.ipam_lock_file());
        ctx.store
            .block_on(ctx.ipam.release_by_handle(&ctx.handle))?;
        if ctx.ids.is_k8s() {
            let legacy = names::legacy_ipam_handle(&ctx.ids.namespace, &ctx.ids.pod);
            ctx.store.block_on(ctx.ipam.release_by_handle(&legacy))?;
        }
        Ok(())
    }

    fn check_in(&self, ctx: Ctx) -> Result<()> {
        let ips = ctx.store.block_on(ctx.ipam.ips_by_handle(&ctx.handle))?;
        if ips.is_empty() {
            return Err(Error::UnknownContainer(format!(
                "IPAM handle {} holds no addresses",
                ctx.handle
            )));
        }
        Ok(())
    }
}

impl Plugin for CalicoIpam {
    fn name(&self) -> &'static str {
        "calico-ipam"
    }

    fn known_args(&self) -> Option<&'static [&'static str]> {
        Some(args::KNOWN_KEYS)
    }

    fn add(&self, req: &Request) -> Result<CniResult> {
        self.add_in(req, Ctx::new(req, None)?)
    }

    fn del(&self, req: &Request) -> Result<()> {
        self.del_in(Ctx::new(req, None)?)
    }

    fn check(&self, req: &Request) -> Result<()> {
        self.check_in(Ctx::new(req, None)?)
    }

    fn gc(&self, req: &Request) -> Result<()> {
        let conf = NetConf::from_value(&req.config)?;
        let node = conf.node_name()?;
        let store = Store::connect(&conf)?;
        let ipam = Ipam::new(store.ds.clone());
        let valid: BTreeSet<String> = conf
            .valid_attachments()?
            .iter()
            .map(|a| a.container_id.clone())
            .collect();
        let prefix = format!("{}.", conf.name);
        let _lock = HostLock::take(&conf.ipam_lock_file());
        let blocks = store
            .block_on(store.ds.list(Kind::IPAMBlock, None))
            .map_err(|e| Error::datastore("list IPAM blocks", e))?;
        let mut stale = BTreeSet::new();
        for r in &blocks.items {
            let Resource::IPAMBlock(b) = r else { continue };
            for attr in &b.spec.attributes {
                let Some(handle) = &attr.handle_id else {
                    continue;
                };
                let Some(container) = handle.strip_prefix(&prefix) else {
                    continue;
                };
                if attr.active_owner_attrs.get("node") == Some(&node) && !valid.contains(container)
                {
                    stale.insert(handle.clone());
                }
            }
        }
        let mut first_error = None;
        for handle in stale {
            if let Err(e) = store.block_on(ipam.release_by_handle(&handle)) {
                eprintln!("calico-ipam: GC: release {handle}: {e}");
                first_error.get_or_insert(Error::from(e));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn status(&self, req: &Request) -> Result<()> {
        let conf = NetConf::from_value(&req.config)?;
        Store::connect(&conf)
            .map_err(|e| Error::NotAvailable(e.to_string()))?
            .ping()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::requested_ips;

    #[test]
    fn ip_arg_takes_one_address_or_one_per_family() {
        assert_eq!(
            requested_ips("10.0.0.5").unwrap(),
            vec!["10.0.0.5".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(
            requested_ips("10.0.0.5, fd00::5").unwrap(),
            vec![
                "10.0.0.5".parse::<std::net::IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
        assert!(requested_ips("10.0.0.5,10.0.0.6").is_err());
        assert!(requested_ips("10.0.0.5,").is_err());
        assert!(requested_ips("nope").is_err());
    }
}
