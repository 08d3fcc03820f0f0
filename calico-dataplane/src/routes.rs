//! Workload routes and interface sysctls over netlink, as Felix's route table and endpoint
//! manager program them.
//!
//! For every local workload address the [`RouteManager`] keeps a `/32` (IPv4) or `/128`
//! (IPv6) route `dev <cali-if> scope link` in the main table, tagged with a route protocol
//! number ([`RouteOptions::protocol`], Felix's `DeviceRouteProtocol`, default 3). A kernel
//! route is **ours** when it is in the main table, carries that protocol *and* leaves through
//! a workload interface (a name starting with one of [`RouteOptions::interface_prefixes`]);
//! resync deletes ours that are no longer desired and never touches anything else.
//!
//! Each workload interface gets Felix's sysctls (spec §2.10), written under `/proc/sys` of
//! the network namespace the manager was created in:
//! `ipv6/conf/<if>/accept_ra=0` always; `ipv4/conf/<if>/route_localnet=1`,
//! `ipv4/neigh/<if>/proxy_delay=0`, `ipv4/conf/<if>/proxy_arp=1`,
//! `ipv4/conf/<if>/forwarding=1`, `ipv4/conf/<if>/rp_filter=<default>` (the namespace's
//! `conf/default/rp_filter`, 1 if unreadable; 0 when the endpoint may spoof sources); and with
//! IPv6 `ipv6/conf/<if>/proxy_ndp=1`, `ipv6/conf/<if>/forwarding=1`. With
//! [`RouteOptions::ip_forwarding`] the global `ipv4/ip_forward=1` (and
//! `ipv6/conf/all/forwarding=1`) is set too.
//!
//! When the endpoint's MAC is known, each of its IPv4 addresses also gets a permanent ARP entry
//! on the interface (Felix's static ARP entries), so the host never has to resolve it.
//!
//! **Interfaces that do not exist yet.** A route whose interface is missing or down (the
//! kernel refuses a route through a down device) is kept *pending*. The manager subscribes to
//! netlink's link multicast group (`RTNLGRP_LINK`) and programs an interface's sysctls and
//! pending routes as soon as it appears and is up; every [`RouteManager::apply`] and
//! [`RouteManager::resync`] re-checks pending interfaces as well, and the node agent resyncs
//! periodically (Felix's `RouteRefreshInterval`) as the backstop.
//!
//! The netlink sockets belong to the network namespace of the thread that calls
//! [`RouteManager::new`] (which must run inside a tokio runtime).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use calico_policy::ir::RouteTarget;
use futures::{StreamExt, TryStreamExt};
use ipnet::IpNet;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::NeighbourState;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
};
use rtnetlink::{Handle, MulticastGroup, RouteMessageBuilder};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::state::DesiredState;

/// Felix's default `DeviceRouteProtocol` (`RTPROT_BOOT`).
pub const DEFAULT_ROUTE_PROTOCOL: u8 = 3;

/// Settings of a [`RouteManager`].
#[derive(Clone, Debug)]
pub struct RouteOptions {
    /// Route protocol number that marks our routes (Felix's `DeviceRouteProtocol`).
    pub protocol: u8,
    /// Workload interface name prefixes (Felix's `InterfacePrefix`, default `cali`).
    pub interface_prefixes: Vec<String>,
    /// Program IPv6 routes and sysctls (Felix's `IPv6Support`).
    pub ipv6: bool,
    /// Set the global forwarding sysctls (Felix's `IPForwarding=Enabled`).
    pub ip_forwarding: bool,
    /// Set per-interface sysctls.
    pub sysctls: bool,
    /// Root of the sysctl tree (`/proc/sys`).
    pub proc_sys: PathBuf,
    /// Watch link events to program interfaces as they appear.
    pub watch_links: bool,
    /// Add a permanent ARP entry for each workload IPv4 address with a known MAC.
    pub static_arp: bool,
}

impl Default for RouteOptions {
    fn default() -> Self {
        RouteOptions {
            protocol: DEFAULT_ROUTE_PROTOCOL,
            interface_prefixes: vec!["cali".to_owned()],
            ipv6: true,
            ip_forwarding: true,
            sysctls: true,
            proc_sys: PathBuf::from("/proc/sys"),
            watch_links: true,
            static_arp: true,
        }
    }
}

/// What one [`RouteManager`] pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteReport {
    /// Routes written (added or replaced).
    pub routes_written: usize,
    /// Routes deleted.
    pub routes_deleted: usize,
    /// Sysctl files written.
    pub sysctls_written: usize,
    /// Static ARP entries written.
    pub neighbours_written: usize,
    /// Interfaces still waiting to appear (or come up).
    pub pending_interfaces: usize,
}

impl RouteReport {
    /// Objects changed (routes written or deleted, sysctls written).
    pub fn objects_changed(&self) -> usize {
        self.routes_written + self.routes_deleted + self.sysctls_written + self.neighbours_written
    }

    fn add(&mut self, other: &RouteReport) {
        self.routes_written += other.routes_written;
        self.routes_deleted += other.routes_deleted;
        self.sysctls_written += other.sysctls_written;
        self.neighbours_written += other.neighbours_written;
        self.pending_interfaces = other.pending_interfaces;
    }
}

/// Per-interface settings derived from the workload endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct IfaceWant {
    /// The endpoint may send from addresses other than its own (rp_filter off).
    allow_spoofing: bool,
    /// Static ARP entries (workload IPv4 address → its MAC).
    arp: Vec<(Ipv4Addr, [u8; 6])>,
}

/// Parses `aa:bb:cc:dd:ee:ff`.
fn parse_mac(mac: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<_>>()?;
    <[u8; 6]>::try_from(bytes).ok()
}

/// Keeps workload routes and interface sysctls in line with the desired state. See the
/// [module docs](self).
pub struct RouteManager {
    inner: Arc<Mutex<Inner>>,
    tasks: Vec<JoinHandle<()>>,
}

struct Inner {
    handle: Handle,
    options: RouteOptions,
    /// Desired routes: destination → interface.
    desired: BTreeMap<IpNet, String>,
    /// Desired routes grouped by interface.
    by_iface: BTreeMap<String, Vec<IpNet>>,
    /// Desired workload interfaces.
    interfaces: BTreeMap<String, IfaceWant>,
    /// Routes known to be in the kernel as we want them.
    programmed: BTreeMap<IpNet, String>,
    /// Interfaces whose sysctls are set (with the settings used).
    configured: BTreeMap<String, IfaceWant>,
    /// Interfaces that are missing or down.
    pending: BTreeSet<String>,
    global_done: bool,
}

impl Drop for RouteManager {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn netlink_err(object: impl Into<String>, err: impl std::fmt::Display) -> Error {
    Error::Kernel {
        tool: "netlink",
        object: object.into(),
        reason: err.to_string(),
    }
}

impl RouteManager {
    /// Opens the netlink connections in the calling thread's network namespace and, with
    /// [`RouteOptions::watch_links`], starts the link watcher. Must be called inside a tokio
    /// runtime.
    pub fn new(options: RouteOptions) -> Result<Self> {
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| Error::io("opening a netlink route socket", e))?;
        let mut tasks = vec![tokio::spawn(conn)];
        let watch = options.watch_links;
        let inner = Arc::new(Mutex::new(Inner {
            handle,
            options,
            desired: BTreeMap::new(),
            by_iface: BTreeMap::new(),
            interfaces: BTreeMap::new(),
            programmed: BTreeMap::new(),
            configured: BTreeMap::new(),
            pending: BTreeSet::new(),
            global_done: false,
        }));
        if watch {
            let (conn, _handle, mut messages) =
                rtnetlink::new_multicast_connection(&[MulticastGroup::Link])
                    .map_err(|e| Error::io("subscribing to netlink link events", e))?;
            tasks.push(tokio::spawn(conn));
            let weak = Arc::downgrade(&inner);
            tasks.push(tokio::spawn(async move {
                while let Some((message, _)) = messages.next().await {
                    let rtnetlink::packet_core::NetlinkPayload::InnerMessage(payload) =
                        message.payload
                    else {
                        continue;
                    };
                    let (link, deleted) = match payload {
                        RouteNetlinkMessage::NewLink(link) => (link, false),
                        RouteNetlinkMessage::DelLink(link) => (link, true),
                        _ => continue,
                    };
                    let Some(name) = link_name(&link) else {
                        continue;
                    };
                    let Some(inner) = weak.upgrade() else { break };
                    let mut inner = inner.lock().await;
                    inner
                        .on_link_event(&name, deleted, link.header.flags.contains(LinkFlags::Up))
                        .await;
                }
            }));
        }
        Ok(RouteManager { inner, tasks })
    }

    /// Programs the difference between the desired state and what this manager programmed
    /// so far (new or moved routes replaced, removed ones deleted, new interfaces
    /// configured), and retries pending interfaces. Does nothing before the state is in sync.
    pub async fn apply(&self, state: &DesiredState) -> Result<RouteReport> {
        let mut inner = self.inner.lock().await;
        inner.set_desired(state);
        if !state.in_sync {
            return Ok(RouteReport::default());
        }
        inner.reconcile(false).await
    }

    /// Reads the kernel's routes, deletes ours that are not desired, rewrites every desired
    /// route and sysctl. Does nothing before the state is in sync.
    pub async fn resync(&self, state: &DesiredState) -> Result<RouteReport> {
        let mut inner = self.inner.lock().await;
        inner.set_desired(state);
        if !state.in_sync {
            return Ok(RouteReport::default());
        }
        inner.reconcile(true).await
    }

    /// Interfaces with desired routes or sysctls that are missing or down.
    pub async fn pending_interfaces(&self) -> BTreeSet<String> {
        self.inner.lock().await.pending.clone()
    }

    /// Number of routes currently programmed.
    pub async fn programmed_routes(&self) -> usize {
        self.inner.lock().await.programmed.len()
    }
}

fn link_name(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn route_dst(route: &RouteMessage) -> Option<IpNet> {
    let len = route.header.destination_prefix_length;
    route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(a)) => IpNet::new(IpAddr::V4(*a), len).ok(),
        RouteAttribute::Destination(RouteAddress::Inet6(a)) => IpNet::new(IpAddr::V6(*a), len).ok(),
        _ => None,
    })
}

fn route_table(route: &RouteMessage) -> u32 {
    route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table))
}

fn route_oif(route: &RouteMessage) -> Option<u32> {
    route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    })
}

impl Inner {
    fn is_workload_iface(&self, name: &str) -> bool {
        self.options
            .interface_prefixes
            .iter()
            .any(|p| !p.is_empty() && name.starts_with(p.as_str()))
    }

    fn set_desired(&mut self, state: &DesiredState) {
        self.desired = state
            .routes
            .iter()
            .filter(|r| self.options.ipv6 || r.dst.addr().is_ipv4())
            .map(|r| match &r.target {
                RouteTarget::LocalWorkload { interface_name } => (r.dst, interface_name.clone()),
            })
            .collect();
        self.by_iface.clear();
        for (dst, iface) in &self.desired {
            self.by_iface.entry(iface.clone()).or_default().push(*dst);
        }
        let mut interfaces: BTreeMap<String, IfaceWant> = BTreeMap::new();
        for wep in state.workload_endpoints.values() {
            if wep.interface_name.is_empty() {
                continue;
            }
            interfaces.insert(
                wep.interface_name.clone(),
                IfaceWant {
                    allow_spoofing: !wep.allow_spoofed_source_prefixes.is_empty(),
                    arp: match parse_mac(&wep.mac) {
                        Some(mac) if self.options.static_arp => wep
                            .ipv4_nets
                            .iter()
                            .filter_map(|n| match n {
                                IpNet::V4(v4) if v4.prefix_len() == 32 => Some((v4.addr(), mac)),
                                _ => None,
                            })
                            .collect(),
                        _ => Vec::new(),
                    },
                },
            );
        }
        for iface in self.desired.values() {
            interfaces.entry(iface.clone()).or_default();
        }
        self.interfaces = interfaces;
        self.pending.retain(|i| self.interfaces.contains_key(i));
        self.configured
            .retain(|i, _| self.interfaces.contains_key(i));
    }

    async fn reconcile(&mut self, full: bool) -> Result<RouteReport> {
        let mut report = RouteReport::default();
        if self.options.ip_forwarding && (full || !self.global_done) {
            report.sysctls_written += self.set_global_sysctls()?;
            self.global_done = true;
        }
        if !full && self.up_to_date() {
            return Ok(report);
        }
        let links = self.dump_links().await?;
        if full {
            report.routes_deleted += self.delete_stale(&links).await?;
        } else {
            // Routes removed from the desired state (or moved to another interface).
            let gone: Vec<(IpNet, String)> = self
                .programmed
                .iter()
                .filter(|(dst, iface)| self.desired.get(dst) != Some(iface))
                .map(|(d, i)| (*d, i.clone()))
                .collect();
            for (dst, iface) in gone {
                if self.desired.contains_key(&dst) {
                    // Moving: the replace below overwrites it.
                    self.programmed.remove(&dst);
                    continue;
                }
                if let Some((index, _)) = links.get(&iface) {
                    self.delete_route(dst, *index, &iface).await?;
                    report.routes_deleted += 1;
                }
                self.programmed.remove(&dst);
            }
        }
        let names: Vec<String> = self.interfaces.keys().cloned().collect();
        let mut first_err = None;
        for name in names {
            let link = links.get(&name).copied();
            match self.program_with(&name, link, full).await {
                Ok(r) => report.add(&RouteReport {
                    pending_interfaces: 0,
                    ..r
                }),
                Err(e) => {
                    tracing::warn!(interface = %name, error = %e, "programming interface failed");
                    first_err.get_or_insert(e);
                }
            }
        }
        report.pending_interfaces = self.pending.len();
        match first_err {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// True if what was programmed matches the desired state and nothing is pending, so an
    /// incremental pass has nothing to do (and need not read the kernel's links).
    fn up_to_date(&self) -> bool {
        self.pending.is_empty()
            && self.programmed == self.desired
            && (!(self.options.sysctls || self.options.static_arp)
                || (self.configured.len() == self.interfaces.len()
                    && self
                        .interfaces
                        .iter()
                        .all(|(name, want)| self.configured.get(name) == Some(want))))
    }

    /// Follows a link event: a desired interface that went away or down has lost its routes
    /// (the kernel drops them) and waits again; one that is (back) up is programmed.
    async fn on_link_event(&mut self, name: &str, deleted: bool, up: bool) {
        if !self.interfaces.contains_key(name) {
            return;
        }
        if deleted || !up {
            self.programmed.retain(|_, iface| iface != name);
            if deleted {
                self.configured.remove(name);
            }
            self.pending.insert(name.to_owned());
            return;
        }
        if !self.pending.contains(name) {
            return;
        }
        match self.program_interface(name).await {
            Ok(report) if report.objects_changed() > 0 => {
                tracing::info!(interface = %name, routes = report.routes_written,
                    "interface appeared; programmed its routes and sysctls");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(interface = %name, error = %e,
                    "programming an interface that appeared failed; will retry");
            }
        }
    }

    /// Programs one interface after a link event.
    async fn program_interface(&mut self, name: &str) -> Result<RouteReport> {
        let link = self.lookup_link(name).await;
        let report = self.program_with(name, link, false).await?;
        Ok(RouteReport {
            pending_interfaces: self.pending.len(),
            ..report
        })
    }

    /// Sets sysctls and routes of `name`, whose link is `link` (index, up) if it exists.
    async fn program_with(
        &mut self,
        name: &str,
        link: Option<(u32, bool)>,
        full: bool,
    ) -> Result<RouteReport> {
        let mut report = RouteReport::default();
        let Some(want) = self.interfaces.get(name).cloned() else {
            return Ok(report);
        };
        let Some((index, up)) = link else {
            self.pending.insert(name.to_owned());
            return Ok(report);
        };
        if !up {
            // The kernel refuses routes through a down device; wait for it to come up (Felix
            // too configures an interface once it is up).
            self.pending.insert(name.to_owned());
            return Ok(report);
        }
        if full || self.configured.get(name) != Some(&want) {
            if self.options.sysctls {
                report.sysctls_written += self.set_iface_sysctls(name, &want)?;
            }
            for (ip, mac) in &want.arp {
                self.replace_static_arp(index, name, *ip, mac).await?;
                report.neighbours_written += 1;
            }
            self.configured.insert(name.to_owned(), want);
        }
        let dsts: Vec<IpNet> = self.by_iface.get(name).cloned().unwrap_or_default();
        for dst in dsts {
            if !full && self.programmed.get(&dst).map(String::as_str) == Some(name) {
                continue;
            }
            self.replace_route(dst, index, name).await?;
            self.programmed.insert(dst, name.to_owned());
            report.routes_written += 1;
        }
        self.pending.remove(name);
        Ok(report)
    }

    async fn lookup_link(&self, name: &str) -> Option<(u32, bool)> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute();
        match links.try_next().await {
            Ok(Some(link)) => Some((link.header.index, link.header.flags.contains(LinkFlags::Up))),
            _ => None,
        }
    }

    /// Every link: name → (index, up).
    async fn dump_links(&self) -> Result<BTreeMap<String, (u32, bool)>> {
        let mut out = BTreeMap::new();
        let mut links = self.handle.link().get().execute();
        while let Some(link) = links
            .try_next()
            .await
            .map_err(|e| netlink_err("link dump", e))?
        {
            if let Some(name) = link_name(&link) {
                out.insert(
                    name,
                    (link.header.index, link.header.flags.contains(LinkFlags::Up)),
                );
            }
        }
        Ok(out)
    }

    fn route_message(&self, dst: IpNet, index: u32) -> RouteMessage {
        let protocol = RouteProtocol::from(self.options.protocol);
        match dst {
            IpNet::V4(v4) => RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(v4.addr(), v4.prefix_len())
                .output_interface(index)
                .scope(RouteScope::Link)
                .protocol(protocol)
                .table_id(u32::from(RouteHeader::RT_TABLE_MAIN))
                .build(),
            IpNet::V6(v6) => RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(v6.addr(), v6.prefix_len())
                .output_interface(index)
                .protocol(protocol)
                .table_id(u32::from(RouteHeader::RT_TABLE_MAIN))
                .build(),
        }
    }

    async fn replace_static_arp(
        &self,
        index: u32,
        iface: &str,
        ip: Ipv4Addr,
        mac: &[u8; 6],
    ) -> Result<()> {
        self.handle
            .neighbours()
            .add(index, IpAddr::V4(ip))
            .link_layer_address(mac)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(|e| netlink_err(format!("static ARP entry {ip} dev {iface}"), e))
    }

    async fn replace_route(&self, dst: IpNet, index: u32, iface: &str) -> Result<()> {
        let msg = self.route_message(dst, index);
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| netlink_err(format!("route {dst} dev {iface}"), e))
    }

    async fn delete_route(&self, dst: IpNet, index: u32, iface: &str) -> Result<()> {
        let msg = self.route_message(dst, index);
        match self.handle.route().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if is_no_such_route(&e) => Ok(()),
            Err(e) => Err(netlink_err(format!("delete route {dst} dev {iface}"), e)),
        }
    }

    /// Deletes our routes that are not desired; refreshes `programmed` from the kernel.
    async fn delete_stale(&mut self, links: &BTreeMap<String, (u32, bool)>) -> Result<usize> {
        let by_index: BTreeMap<u32, &str> =
            links.iter().map(|(n, (i, _))| (*i, n.as_str())).collect();
        let protocol = RouteProtocol::from(self.options.protocol);
        let mut ours: Vec<RouteMessage> = Vec::new();
        let families: Vec<RouteMessage> = if self.options.ipv6 {
            vec![
                RouteMessageBuilder::<Ipv4Addr>::new().build(),
                RouteMessageBuilder::<Ipv6Addr>::new().build(),
            ]
        } else {
            vec![RouteMessageBuilder::<Ipv4Addr>::new().build()]
        };
        for family in families {
            let mut routes = self.handle.route().get(family).execute();
            while let Some(route) = routes
                .try_next()
                .await
                .map_err(|e| netlink_err("route dump", e))?
            {
                if route_table(&route) != u32::from(RouteHeader::RT_TABLE_MAIN)
                    || route.header.protocol != protocol
                {
                    continue;
                }
                let Some(name) = route_oif(&route).and_then(|i| by_index.get(&i)) else {
                    continue;
                };
                if self.is_workload_iface(name) {
                    ours.push(route);
                }
            }
        }
        self.programmed.clear();
        let mut deleted = 0;
        for route in ours {
            let Some(dst) = route_dst(&route) else {
                continue;
            };
            let name = route_oif(&route)
                .and_then(|i| by_index.get(&i))
                .map(|n| (*n).to_owned())
                .unwrap_or_default();
            if self.desired.get(&dst) == Some(&name) {
                continue;
            }
            match self.handle.route().del(route).execute().await {
                Ok(()) => {
                    tracing::info!(dst = %dst, interface = %name, "deleted stale route");
                    deleted += 1;
                }
                Err(e) if is_no_such_route(&e) => {}
                Err(e) => return Err(netlink_err(format!("delete route {dst} dev {name}"), e)),
            }
        }
        Ok(deleted)
    }

    fn sysctl_path(&self, rel: &str) -> PathBuf {
        self.options.proc_sys.join(rel)
    }

    fn set_global_sysctls(&self) -> Result<usize> {
        let mut n = write_sysctl(&self.sysctl_path("net/ipv4/ip_forward"), "1", true)?;
        if self.options.ipv6 {
            n += write_sysctl(
                &self.sysctl_path("net/ipv6/conf/all/forwarding"),
                "1",
                false,
            )?;
        }
        Ok(n)
    }

    fn set_iface_sysctls(&self, name: &str, want: &IfaceWant) -> Result<usize> {
        // Interface names with dots appear with slashes in sysctl paths.
        let ifc = name.replace('.', "/");
        let rp_filter = if want.allow_spoofing {
            "0".to_owned()
        } else {
            std::fs::read_to_string(self.sysctl_path("net/ipv4/conf/default/rp_filter"))
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "1".to_owned())
        };
        let mut n = 0;
        // IPv6 may be disabled in this namespace: its files are then absent and skipped.
        n += write_sysctl(
            &self.sysctl_path(&format!("net/ipv6/conf/{ifc}/accept_ra")),
            "0",
            false,
        )?;
        let v4: [(String, &str); 5] = [
            (format!("net/ipv4/conf/{ifc}/route_localnet"), "1"),
            (format!("net/ipv4/neigh/{ifc}/proxy_delay"), "0"),
            (format!("net/ipv4/conf/{ifc}/proxy_arp"), "1"),
            (format!("net/ipv4/conf/{ifc}/forwarding"), "1"),
            (format!("net/ipv4/conf/{ifc}/rp_filter"), rp_filter.as_str()),
        ];
        for (path, value) in v4 {
            n += write_sysctl(&self.sysctl_path(&path), value, true)?;
        }
        if self.options.ipv6 {
            for (path, value) in [
                (format!("net/ipv6/conf/{ifc}/proxy_ndp"), "1"),
                (format!("net/ipv6/conf/{ifc}/forwarding"), "1"),
            ] {
                n += write_sysctl(&self.sysctl_path(&path), value, false)?;
            }
        }
        Ok(n)
    }
}

/// `ESRCH`: the route is already gone, so a delete reached its goal.
fn is_no_such_route(e: &rtnetlink::Error) -> bool {
    const ESRCH: i32 = 3;
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code().abs() == ESRCH)
}

/// Writes `value` to a sysctl file unless it already holds it; returns 1 if it wrote.
/// A missing file is an error only when `required`.
fn write_sysctl(path: &Path, value: &str, required: bool) -> Result<usize> {
    match std::fs::read_to_string(path) {
        Ok(current) if current.trim() == value => return Ok(0),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(0),
        Err(e) => return Err(Error::io(format!("reading sysctl {}", path.display()), e)),
    }
    std::fs::write(path, value).map_err(|e| Error::Kernel {
        tool: "sysctl",
        object: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_writes_only_when_different_and_skips_optional_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, "0\n").unwrap();
        assert_eq!(write_sysctl(&f, "1", true).unwrap(), 1);
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "1");
        assert_eq!(write_sysctl(&f, "1", true).unwrap(), 0);
        let missing = dir.path().join("missing");
        assert_eq!(write_sysctl(&missing, "1", false).unwrap(), 0);
        assert!(write_sysctl(&missing, "1", true).is_err());
    }
}
