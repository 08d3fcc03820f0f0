//! The Linux side effects of the `calico` plugin: the veth pair, addresses, routes and
//! sysctls, over rtnetlink. Work inside the pod's network namespace happens on a dedicated
//! thread that enters it with `setns`; the calling thread never leaves its namespace.

use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteScope, RouteVia,
};
use nix::sched::{CloneFlags, setns};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::skel::{Error, Result};

/// The host-side veth MAC: every pod sees the same gateway MAC.
pub const HOST_MAC: [u8; 6] = [0xee; 6];
/// The IPv4 gateway the pod routes through (answered by proxy ARP on the host veth).
pub const GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The IPv6 gateway: the host veth's link-local address (EUI-64 of [`HOST_MAC`]).
pub const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0xecee, 0xeeff, 0xfeee, 0xeeee);
/// The network namespace of the calling process.
const OWN_NETNS: &str = "/proc/self/ns/net";

const EEXIST: i32 = 17;
const ENODEV: i32 = 19;
const ESRCH: i32 = 3;

/// What ADD programs for one pod.
#[derive(Clone, Debug)]
pub struct PodNetwork<'a> {
    /// The pod's network namespace (CNI_NETNS).
    pub netns: &'a Path,
    /// Container-side interface (CNI_IFNAME).
    pub ifname: &'a str,
    /// Host-side veth name.
    pub host_ifname: &'a str,
    /// MTU of both ends.
    pub mtu: u32,
    /// Queues per end (0/1: kernel default).
    pub num_queues: u32,
    /// The pod's addresses as single-address prefixes.
    pub addresses: &'a [IpNet],
    /// `ip_forward` inside the pod.
    pub allow_ip_forwarding: bool,
}

fn nl_err(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let what = what.into();
    move |e| Error::dataplane(what, e)
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

/// Runs `f` with a netlink handle on a fresh current-thread runtime (in the calling
/// thread's network namespace).
fn with_netlink<T, F, Fut>(f: F) -> Result<T>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            what: "start the netlink runtime".into(),
            source: e,
        })?;
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| Error::Io {
            what: "open a netlink socket".into(),
            source: e,
        })?;
        let task = tokio::spawn(conn);
        let out = f(handle).await;
        task.abort();
        out
    })
}

/// Opens a network namespace file; `Ok(None)` if it does not exist.
fn open_netns(netns: &Path) -> Result<Option<File>> {
    match File::open(netns) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io {
            what: format!("open network namespace {}", netns.display()),
            source: e,
        }),
    }
}

/// Runs `f` on a thread inside the network namespace `ns`.
fn in_netns<T: Send>(ns: &File, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(ns, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::dataplane("enter the pod network namespace", e))?;
            f()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(Error::Internal(
                "a network namespace thread panicked".into(),
            ))
        })
    })
}

/// Writes `/proc/sys/net/<key>` in the calling thread's network namespace.
fn sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/net/{key}");
    std::fs::write(&path, value).map_err(|e| Error::Io {
        what: format!("set {path}={value}"),
        source: e,
    })
}

async fn link_by_name(handle: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if matches!(errno(&e), Some(ENODEV)) => Ok(None),
        Err(e) => Err(Error::dataplane(format!("look up link {name}"), e)),
    }
}

fn link_mac(link: &LinkMessage) -> String {
    link.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Address(mac) => Some(
                mac.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

async fn delete_link_named(handle: &Handle, name: &str) -> Result<bool> {
    let Some(link) = link_by_name(handle, name).await? else {
        return Ok(false);
    };
    match handle.link().del(link.header.index).execute().await {
        Ok(()) => Ok(true),
        Err(e) if matches!(errno(&e), Some(ENODEV)) => Ok(false),
        Err(e) => Err(Error::dataplane(format!("delete link {name}"), e)),
    }
}

/// Deletes a link of the calling process's namespace by name (absent: fine).
pub fn delete_host_link(name: &str) -> Result<()> {
    with_netlink(|h| async move { delete_link_named(&h, name).await.map(|_| ()) })
}

/// Creates and configures the veth pair of a pod; returns the container interface's MAC.
/// A host link of the same name is deleted first (a re-ADD re-creates the pair).
pub fn setup_pod_network(net: &PodNetwork<'_>) -> Result<String> {
    let host = net.host_ifname;
    with_netlink(|h| async move { delete_link_named(&h, host).await.map(|_| ()) })?;
    let own = File::open(OWN_NETNS).map_err(|e| Error::Io {
        what: format!("open {OWN_NETNS}"),
        source: e,
    })?;
    let pod = open_netns(net.netns)?.ok_or_else(|| Error::InvalidEnv {
        var: "CNI_NETNS".into(),
        reason: format!("network namespace {} does not exist", net.netns.display()),
    })?;
    let mac = in_netns(&pod, || setup_container_side(net, &own))?;
    setup_host_side(net)?;
    Ok(mac)
}

fn setup_container_side(net: &PodNetwork<'_>, host_ns: &File) -> Result<String> {
    use std::os::fd::AsRawFd;
    let has_v6 = net.addresses.iter().any(|a| a.addr().is_ipv6());
    if has_v6 {
        for k in ["all", "default", "lo"] {
            let _ = sysctl(&format!("ipv6/conf/{k}/disable_ipv6"), "0");
        }
    }
    let forwarding = if net.allow_ip_forwarding { "1" } else { "0" };
    with_netlink(|h| async move {
        if link_by_name(&h, net.ifname).await?.is_some() {
            return Err(Error::dataplane(
                format!("create {} in {}", net.ifname, net.netns.display()),
                "interface already exists",
            ));
        }
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(net.host_ifname.to_owned())
            .mtu(net.mtu)
            .address(HOST_MAC.to_vec())
            .setns_by_fd(host_ns.as_raw_fd());
        let mut veth = LinkVeth::new(net.ifname, net.host_ifname).mtu(net.mtu);
        if net.num_queues > 1 {
            for a in [
                LinkAttribute::NumTxQueues(net.num_queues),
                LinkAttribute::NumRxQueues(net.num_queues),
            ] {
                peer = peer.append_extra_attribute(a.clone());
                veth = veth.append_extra_attribute(a);
            }
        }
        let veth = veth.set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
        h.link()
            .add(veth.build())
            .execute()
            .await
            .map_err(nl_err(format!(
                "create veth {} / {}",
                net.ifname, net.host_ifname
            )))?;
        let link = link_by_name(&h, net.ifname).await?.ok_or_else(|| {
            Error::dataplane(format!("read back {}", net.ifname), "link vanished")
        })?;
        let index = link.header.index;
        if has_v6 {
            sysctl(&format!("ipv6/conf/{}/accept_dad", net.ifname), "0")?;
        }
        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(nl_err(format!("bring {} up", net.ifname)))?;
        for a in net.addresses {
            h.address()
                .add(index, a.addr(), a.prefix_len())
                .replace()
                .execute()
                .await
                .map_err(nl_err(format!("add address {a} to {}", net.ifname)))?;
        }
        if net.addresses.iter().any(|a| a.addr().is_ipv4()) {
            let gw = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(GATEWAY_V4, 32)
                .output_interface(index)
                .scope(RouteScope::Link)
                .build();
            add_route(&h, gw, &format!("{GATEWAY_V4}/32 dev {}", net.ifname)).await?;
            let default = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(Ipv4Addr::UNSPECIFIED, 0)
                .gateway(GATEWAY_V4)
                .output_interface(index)
                .build();
            add_route(
                &h,
                default,
                &format!("default via {GATEWAY_V4} dev {}", net.ifname),
            )
            .await?;
            sysctl("ipv4/ip_forward", forwarding)?;
        }
        if has_v6 {
            let default = RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(Ipv6Addr::UNSPECIFIED, 0)
                .gateway(GATEWAY_V6)
                .output_interface(index)
                .build();
            add_route(
                &h,
                default,
                &format!("default via {GATEWAY_V6} dev {}", net.ifname),
            )
            .await?;
            sysctl("ipv6/conf/all/forwarding", forwarding)?;
        }
        Ok(link_mac(&link))
    })
}

/// Adds a route; an identical existing one is fine.
async fn add_route(h: &Handle, msg: RouteMessage, what: &str) -> Result<()> {
    match h.route().add(msg).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(EEXIST) => Ok(()),
        Err(e) => Err(Error::dataplane(format!("add route {what}"), e)),
    }
}

fn setup_host_side(net: &PodNetwork<'_>) -> Result<()> {
    let host = net.host_ifname;
    let has_v4 = net.addresses.iter().any(|a| a.addr().is_ipv4());
    let has_v6 = net.addresses.iter().any(|a| a.addr().is_ipv6());
    if has_v4 {
        sysctl(&format!("ipv4/conf/{host}/route_localnet"), "1")?;
        sysctl(&format!("ipv4/neigh/{host}/proxy_delay"), "0")?;
        sysctl(&format!("ipv4/conf/{host}/proxy_arp"), "1")?;
        sysctl(&format!("ipv4/conf/{host}/forwarding"), "1")?;
    }
    if Path::new(&format!("/proc/sys/net/ipv6/conf/{host}")).exists() {
        if has_v6 {
            sysctl(&format!("ipv6/conf/{host}/accept_dad"), "0")?;
            sysctl(&format!("ipv6/conf/{host}/disable_ipv6"), "0")?;
            sysctl(&format!("ipv6/conf/{host}/proxy_ndp"), "1")?;
            sysctl(&format!("ipv6/conf/{host}/forwarding"), "1")?;
        }
        sysctl(&format!("ipv6/conf/{host}/accept_ra"), "0")?;
    }
    with_netlink(|h| async move {
        let link = link_by_name(&h, host).await?.ok_or_else(|| {
            Error::dataplane(
                format!("find host veth {host}"),
                "not in the host namespace",
            )
        })?;
        let index = link.header.index;
        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(nl_err(format!("bring {host} up")))?;
        for a in net.addresses {
            let dst = single(a);
            let msg = host_route(dst, index);
            match h.route().add(msg).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(EEXIST) => match route_oif(&h, dst).await? {
                    Some(oif) if oif == index => {}
                    other => {
                        let name = match other {
                            Some(i) => link_name_by_index(&h, i).await,
                            None => "another link".into(),
                        };
                        return Err(Error::dataplane(
                            format!("add route {dst} dev {host}"),
                            format!("a route to {dst} already exists via {name}"),
                        ));
                    }
                },
                Err(e) => return Err(Error::dataplane(format!("add route {dst} dev {host}"), e)),
            }
        }
        Ok(())
    })
}

fn single(a: &IpNet) -> IpNet {
    IpNet::from(a.addr())
}

fn host_route(dst: IpNet, index: u32) -> RouteMessage {
    match dst {
        IpNet::V4(v4) => RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(v4.addr(), v4.prefix_len())
            .output_interface(index)
            .scope(RouteScope::Link)
            .build(),
        IpNet::V6(v6) => RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(v6.addr(), v6.prefix_len())
            .output_interface(index)
            .build(),
    }
}

/// The output interface of the main-table route to exactly `dst`, if there is one.
async fn route_oif(h: &Handle, dst: IpNet) -> Result<Option<u32>> {
    Ok(routes(h, dst.addr().is_ipv4())
        .await?
        .into_iter()
        .find(|r| r.dst == dst)
        .and_then(|r| r.oif))
}

async fn link_name_by_index(h: &Handle, index: u32) -> String {
    let mut links = h.link().get().match_index(index).execute();
    match links.try_next().await {
        Ok(Some(l)) => l
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap_or_else(|| format!("link #{index}")),
        _ => format!("link #{index}"),
    }
}

/// A route as read back from the kernel (main table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelRoute {
    /// Destination.
    pub dst: IpNet,
    /// Gateway.
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
}

async fn routes(h: &Handle, v4: bool) -> Result<Vec<KernelRoute>> {
    let filter = if v4 {
        RouteMessageBuilder::<Ipv4Addr>::new().build()
    } else {
        RouteMessageBuilder::<Ipv6Addr>::new().build()
    };
    let mut stream = h.route().get(filter).execute();
    let mut out = Vec::new();
    while let Some(r) = stream.try_next().await.map_err(nl_err("list routes"))? {
        if r.header.table != 254 {
            continue;
        }
        let mut dst: Option<IpAddr> = None;
        let mut gateway = None;
        let mut oif = None;
        for a in &r.attributes {
            match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => dst = Some((*ip).into()),
                RouteAttribute::Destination(RouteAddress::Inet6(ip)) => dst = Some((*ip).into()),
                RouteAttribute::Gateway(RouteAddress::Inet(ip)) => gateway = Some((*ip).into()),
                RouteAttribute::Gateway(RouteAddress::Inet6(ip)) => gateway = Some((*ip).into()),
                RouteAttribute::Via(RouteVia::Inet6(ip)) => gateway = Some((*ip).into()),
                RouteAttribute::Oif(i) => oif = Some(*i),
                _ => {}
            }
        }
        let dst = dst.unwrap_or(if v4 {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        });
        if let Ok(dst) = IpNet::new(dst, r.header.destination_prefix_length) {
            out.push(KernelRoute { dst, gateway, oif });
        }
    }
    Ok(out)
}

/// Deletes `ifname` inside the pod namespace (which removes the host end too). A missing
/// namespace path or link is success. Returns whether a link was deleted.
pub fn teardown_pod_network(netns: &Path, ifname: &str) -> Result<bool> {
    if netns.as_os_str().is_empty() {
        return Ok(false);
    }
    let Some(pod) = open_netns(netns)? else {
        return Ok(false);
    };
    in_netns(&pod, || {
        with_netlink(|h| async move { delete_link_named(&h, ifname).await })
    })
}

/// What CHECK found missing or wrong (empty: all fine).
pub fn check_pod_network(net: &PodNetwork<'_>) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let pod = open_netns(net.netns)?.ok_or_else(|| {
        Error::UnknownContainer(format!(
            "network namespace {} does not exist",
            net.netns.display()
        ))
    })?;
    let inside = in_netns(&pod, || {
        with_netlink(|h| async move {
            let mut p = Vec::new();
            let Some(link) = link_by_name(&h, net.ifname).await? else {
                p.push(format!(
                    "{} is missing in {}",
                    net.ifname,
                    net.netns.display()
                ));
                return Ok(p);
            };
            let index = link.header.index;
            let mut have = Vec::new();
            for family in [AddressFamily::Inet, AddressFamily::Inet6] {
                let mut req = h.address().get().set_link_index_filter(index);
                req.message_mut().header.family = family;
                let mut s = req.execute();
                while let Some(m) = s.try_next().await.map_err(nl_err("list addresses"))? {
                    for a in &m.attributes {
                        if let AddressAttribute::Address(ip) = a
                            && let Ok(n) = IpNet::new(*ip, m.header.prefix_len)
                        {
                            have.push(n);
                        }
                    }
                }
            }
            for a in net.addresses {
                if !have.contains(a) {
                    p.push(format!("{} lacks address {a}", net.ifname));
                }
            }
            if net.addresses.iter().any(|a| a.addr().is_ipv4()) {
                let r = routes(&h, true).await?;
                if !r
                    .iter()
                    .any(|r| r.dst.prefix_len() == 0 && r.gateway == Some(GATEWAY_V4.into()))
                {
                    p.push(format!("no default route via {GATEWAY_V4} in the pod"));
                }
            }
            if net.addresses.iter().any(|a| a.addr().is_ipv6()) {
                let r = routes(&h, false).await?;
                if !r
                    .iter()
                    .any(|r| r.dst.prefix_len() == 0 && r.gateway == Some(GATEWAY_V6.into()))
                {
                    p.push(format!("no IPv6 default route via {GATEWAY_V6} in the pod"));
                }
            }
            Ok(p)
        })
    })?;
    problems.extend(inside);
    let host = net.host_ifname;
    let outside = with_netlink(|h| async move {
        let mut p = Vec::new();
        let Some(link) = link_by_name(&h, host).await? else {
            p.push(format!("host veth {host} is missing"));
            return Ok(p);
        };
        for a in net.addresses {
            let dst = single(a);
            if route_oif(&h, dst).await? != Some(link.header.index) {
                p.push(format!("no route {dst} dev {host} on the host"));
            }
        }
        Ok(p)
    })?;
    problems.extend(outside);
    Ok(problems)
}

/// True if a route delete error means "no such route".
pub fn is_no_such_route(e: &rtnetlink::Error) -> bool {
    errno(e) == Some(ESRCH)
}
