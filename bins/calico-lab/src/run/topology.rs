//! The lab's network: one node namespace and one namespace per pod, wired as the Calico CNI
//! plugin wires a pod: a veth pair with the host end `cali<sha1(ns.pod)[..11]>` (MAC
//! `ee:ee:ee:ee:ee:ee`) in the node namespace and `eth0` in the pod, the pod IP as a /32 on
//! `eth0`, a default route via the link-local gateway 169.254.1.1 (answered by proxy ARP on
//! the host end), and a /32 route to the pod on the host end. The node namespace forwards
//! IPv4 and IPv6 and has an uplink veth with the default routes, so proxy ARP has a route to
//! answer for (a real node's default route plays that role); the uplink's other end is in an
//! "external" namespace holding the non-pod addresses the scenario's probes use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use calico_model::k8s::interface_name;

use super::LabError;
use super::netns::{Cleanup, enter, ip_batch};

/// The link-local address of every host end: EUI-64 of the MAC `ee:ee:ee:ee:ee:ee`.
pub const HOST_LL6: &str = "fe80::ecee:eeff:feee:eeee";

/// Writes `/proc/sys/net/<key>` = value for each pair, from a thread inside namespace `ns`.
fn in_netns_write(ns: &str, values: &[(&str, &str)]) -> Result<(), LabError> {
    let ns = ns.to_string();
    let values: Vec<(String, String)> = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    std::thread::spawn(move || -> Result<(), LabError> {
        enter(&ns)?;
        for (k, v) in &values {
            let path = format!("/proc/sys/net/{k}");
            std::fs::write(&path, v).map_err(|e| LabError::Io {
                what: format!("set {path} in {ns}"),
                source: e,
            })?;
        }
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| Err(LabError::Cleanup("a sysctl thread panicked".into())))
}

/// The uplink of the node namespace (not `cali*`, so policy dispatch ignores it).
pub const UPLINK: &str = "lab-uplink";

/// A pod of the lab.
#[derive(Clone, Debug)]
pub struct PodNet {
    /// `<namespace>/<pod>`.
    pub key: String,
    /// Its network namespace.
    pub netns: String,
    /// Its IPv4 address.
    pub ip: Ipv4Addr,
    /// Its IPv6 address, if it has one.
    pub ip6: Option<Ipv6Addr>,
    /// The host end of its veth, in the node namespace.
    pub host_if: String,
}

/// A pod to create: `<namespace>/<pod>` and its address.
#[derive(Clone, Debug)]
pub struct PodSpec {
    /// Kubernetes namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// IPv4 address.
    pub ip: Ipv4Addr,
    /// IPv6 address (dual stack), if any.
    pub ip6: Option<Ipv6Addr>,
}

/// The namespaces and links of one lab run; dropping it removes them.
pub struct Topology {
    /// The name prefix of every namespace of this run.
    pub prefix: String,
    /// The node namespace.
    pub node_ns: String,
    /// The namespace behind the node's uplink, holding the scenario's external addresses.
    pub ext_ns: String,
    /// External (non-pod) addresses probes use, all in [`Topology::ext_ns`].
    pub externals: Vec<IpAddr>,
    /// The scenario has host endpoints (not wired in the lab; external probes skip).
    pub has_host_endpoints: bool,
    /// The pods, in the order given.
    pub pods: Vec<PodNet>,
    /// How long building took.
    pub build_time: Duration,
    /// The lab wired the pods itself (false: the CNI plugin does, after [`Topology::build`],
    /// which then only creates the pods' empty namespaces).
    wire_pods: bool,
    cleanup: Cleanup,
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '.'
            }
        })
        .collect()
}

impl Topology {
    /// Creates the namespaces and links; on any error what was created is removed again.
    /// Every namespace is registered with `cleanup` before it is created. Without
    /// `wire_pods` the pod namespaces stay empty (the CNI plugin wires them) and each
    /// pod's `host_if` is only a guess until [`Topology::set_host_if`].
    pub fn build(
        prefix: &str,
        pods: &[PodSpec],
        externals: &[IpAddr],
        wire_pods: bool,
        cleanup: &Cleanup,
    ) -> Result<Self, LabError> {
        let start = Instant::now();
        let node_ns = format!("{prefix}-node");
        let nets: Vec<PodNet> = pods
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut netns = format!(
                    "{prefix}-{i}-{}.{}",
                    sanitize(&p.namespace),
                    sanitize(&p.name)
                );
                netns.truncate(200);
                PodNet {
                    key: format!("{}/{}", p.namespace, p.name),
                    netns,
                    ip: p.ip,
                    ip6: p.ip6,
                    host_if: interface_name("", &p.namespace, &p.name),
                }
            })
            .collect();
        let topo = Topology {
            prefix: prefix.to_string(),
            node_ns: node_ns.clone(),
            ext_ns: format!("{prefix}-ext"),
            externals: externals.to_vec(),
            has_host_endpoints: false,
            pods: nets,
            build_time: Duration::ZERO,
            wire_pods,
            cleanup: cleanup.clone(),
        };
        // From here on, Drop removes whatever exists.
        let mut topo = topo;
        topo.create()?;
        topo.build_time = start.elapsed();
        Ok(topo)
    }

    fn create(&self) -> Result<(), LabError> {
        let _busy = self.cleanup.busy();
        self.cleanup.namespace(&self.node_ns);
        self.cleanup.namespace(&self.ext_ns);
        for p in &self.pods {
            self.cleanup.namespace(&p.netns);
        }
        // Namespaces and veth pairs, each end created directly in its namespace.
        let mut root = vec![
            format!("netns add {}", self.node_ns),
            format!("netns add {}", self.ext_ns),
            format!(
                "link add {UPLINK} netns {} address ee:ee:ee:ee:ee:ee type veth peer name eth0 netns {}",
                self.node_ns, self.ext_ns
            ),
        ];
        for p in &self.pods {
            root.push(format!("netns add {}", p.netns));
        }
        for p in self.wired() {
            root.push(format!(
                "link add {} netns {} address ee:ee:ee:ee:ee:ee type veth peer name eth0 netns {}",
                p.host_if, self.node_ns, p.netns
            ));
        }
        ip_batch(None, &root, false)?;
        if !self.wire_pods {
            // Pod namespaces need loopback up (the CNI plugin only does eth0).
            for p in &self.pods {
                ip_batch(Some(&p.netns), &["link set lo up".to_string()], false)?;
            }
        }
        // The pods' side, in parallel (one `ip` per pod namespace).
        let results: Vec<Result<(), LabError>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .wired()
                .map(|p| {
                    s.spawn(move || {
                        if p.ip6.is_some() {
                            // No duplicate address detection: addresses usable at once.
                            in_netns_write(&p.netns, &[("ipv6/conf/eth0/accept_dad", "0")])?;
                        }
                        let mut lines = vec![
                            "link set lo up".to_string(),
                            format!("addr add {}/32 dev eth0", p.ip),
                            "link set eth0 up".to_string(),
                            "route add 169.254.1.1/32 dev eth0 scope link".to_string(),
                            "route add default via 169.254.1.1 dev eth0 onlink".to_string(),
                        ];
                        if let Some(ip6) = p.ip6 {
                            lines.push(format!("addr add {ip6}/128 dev eth0 nodad"));
                            // The host end's link-local address (EUI-64 of ee:ee:ee:ee:ee:ee).
                            lines.push(format!("route add default via {HOST_LL6} dev eth0"));
                        }
                        ip_batch(Some(&p.netns), &lines, false)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LabError::Cleanup("a set-up thread panicked".into()))
                    })
                })
                .collect()
        });
        for r in results {
            r?;
        }
        // The node's side: links up, sysctls as the CNI plugin and Felix set them, routes.
        self.node_sysctls()?;
        self.ext_side()?;
        let mut node = vec![
            "link set lo up".to_string(),
            format!("link set {UPLINK} up"),
            format!("route add default dev {UPLINK}"),
            format!("route add ::/0 dev {UPLINK}"),
        ];
        for p in self.wired() {
            node.push(format!("link set {} up", p.host_if));
        }
        ip_batch(Some(&self.node_ns), &node, false)?;
        let mut routes: Vec<String> = Vec::new();
        for p in self.wired() {
            routes.push(format!(
                "route replace {}/32 dev {} scope link",
                p.ip, p.host_if
            ));
            if let Some(ip6) = p.ip6 {
                routes.push(format!(
                    "route replace {ip6}/128 dev {} scope link",
                    p.host_if
                ));
            }
        }
        if routes.is_empty() {
            return Ok(());
        }
        ip_batch(Some(&self.node_ns), &routes, false)
    }

    /// The pods the lab wires itself (none when the CNI plugin does).
    fn wired(&self) -> impl Iterator<Item = &PodNet> {
        self.pods.iter().filter(|_| self.wire_pods)
    }

    /// Records the host end the CNI plugin gave a pod (its WorkloadEndpoint's
    /// `interfaceName`).
    pub fn set_host_if(&mut self, key: &str, host_if: &str) {
        if let Some(p) = self.pods.iter_mut().find(|p| p.key == key) {
            p.host_if = host_if.to_string();
        }
    }

    /// The external side: every external address on `eth0`, routes back through the node
    /// (IPv4 on-link, answered by the node's proxy ARP; IPv6 via the uplink's link-local).
    fn ext_side(&self) -> Result<(), LabError> {
        in_netns_write(&self.ext_ns, &[("ipv6/conf/eth0/accept_dad", "0")])?;
        let mut lines = vec!["link set lo up".to_string(), "link set eth0 up".to_string()];
        for ip in &self.externals {
            lines.push(match ip {
                IpAddr::V4(a) => format!("addr add {a}/32 dev eth0"),
                IpAddr::V6(a) => format!("addr add {a}/128 dev eth0 nodad"),
            });
        }
        lines.push("route add default dev eth0".to_string());
        lines.push(format!("route add default via {HOST_LL6} dev eth0"));
        ip_batch(Some(&self.ext_ns), &lines, false)
    }

    /// The node's sysctls, as the CNI plugin and Felix set them; written before the host
    /// ends go up so that IPv6 needs no duplicate address detection.
    fn node_sysctls(&self) -> Result<(), LabError> {
        let mut values: Vec<(String, &str)> = vec![
            ("ipv4/ip_forward".into(), "1"),
            ("ipv6/conf/all/forwarding".into(), "1"),
        ];
        let ifaces = self.wired().map(|p| p.host_if.as_str()).chain([UPLINK]);
        for i in ifaces {
            values.push((format!("ipv4/conf/{i}/proxy_arp"), "1"));
            values.push((format!("ipv4/neigh/{i}/proxy_delay"), "0"));
            values.push((format!("ipv4/conf/{i}/route_localnet"), "1"));
            values.push((format!("ipv4/conf/{i}/forwarding"), "1"));
            values.push((format!("ipv6/conf/{i}/accept_dad"), "0"));
            values.push((format!("ipv6/conf/{i}/accept_ra"), "0"));
            values.push((format!("ipv6/conf/{i}/proxy_ndp"), "1"));
        }
        let refs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        in_netns_write(&self.node_ns, &refs)
    }

    /// Where a probe end lives: a pod (`<namespace>/<pod>`) or an external address; its
    /// namespace, and its address of the family asked for (`None` if it has none).
    pub fn endpoint(&self, who: &str, v6: bool) -> Option<(String, Option<IpAddr>)> {
        if let Ok(ip) = who.parse::<IpAddr>() {
            return self
                .externals
                .contains(&ip)
                .then(|| (self.ext_ns.clone(), (ip.is_ipv6() == v6).then_some(ip)));
        }
        let p = self.pod(who)?;
        let ip = if v6 {
            p.ip6.map(IpAddr::V6)
        } else {
            Some(IpAddr::V4(p.ip))
        };
        Some((p.netns.clone(), ip))
    }

    /// The pod named `<namespace>/<pod>`.
    pub fn pod(&self, key: &str) -> Option<&PodNet> {
        self.pods.iter().find(|p| p.key == key)
    }

    /// Removes every namespace (and so every link) of this run.
    pub fn teardown(&mut self) -> Result<(), LabError> {
        let mut names = vec![self.node_ns.clone(), self.ext_ns.clone()];
        names.extend(self.pods.iter().map(|p| p.netns.clone()));
        super::netns::delete(&names)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("calico-lab: removing the lab: {e}");
        }
    }
}
