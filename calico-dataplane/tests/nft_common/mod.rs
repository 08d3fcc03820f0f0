//! Shared helpers of the nftables tests: root check, throwaway network namespaces, IR
//! builders.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use calico_dataplane::nft::NftOptions;
use calico_policy::DataplaneUpdate;
use calico_policy::ir::*;

/// True when running as root; otherwise prints a loud SKIP line.
pub fn root_or_skip(test: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0");
    let nft = Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    // Written to the real stderr (not eprintln!, which the test harness captures for
    // passing tests), so that a skip is always visible.
    let loud = |msg: String| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "{msg}");
    };
    if !root {
        loud(format!(
            "SKIP (not root): {test} needs root to create network namespaces"
        ));
    } else if !nft {
        loud(format!("SKIP (no nft): {test} needs the nft binary"));
    }
    root && nft
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "calt-{tag}{}-{n}-{:x}",
        std::process::id() % 100_000,
        t % 0xfffff
    )
}

/// Runs a command, panicking with its output if it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace, deleted on drop (with everything in it).
pub struct Netns {
    pub name: String,
    children: Vec<Child>,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = unique(tag);
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns {
            name,
            children: Vec::new(),
        };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside, panicking on failure.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// Runs a command inside; true if it succeeded.
    pub fn try_exec(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Writes a sysctl inside.
    pub fn sysctl(&self, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.exec(&["sh", "-c", &format!("echo {value} > {path}")]);
    }

    /// Starts a background process inside; killed on drop.
    pub fn spawn(&mut self, args: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    /// nft options running nft inside this namespace, with a unique table name.
    pub fn nft_options(&self) -> NftOptions {
        NftOptions {
            table: "calico-test".into(),
            command_prefix: vec![
                "ip".into(),
                "netns".into(),
                "exec".into(),
                self.name.clone(),
            ],
            ..NftOptions::default()
        }
    }

    /// `nft` inside the namespace.
    pub fn nft(&self, args: &[&str]) -> String {
        let mut full = vec!["nft"];
        full.extend_from_slice(args);
        self.exec(&full)
    }

    /// The table as JSON.
    pub fn list_table(&self, table: &str) -> serde_json::Value {
        serde_json::from_str(&self.nft(&["-j", "list", "table", "inet", table])).unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

// ---------------------------------------------------------------------------------------
// IR builders.

pub fn rule(action: Action, f: impl FnOnce(&mut Rule)) -> Rule {
    let mut r = Rule {
        action,
        ip_version: None,
        protocol: None,
        not_protocol: None,
        icmp: None,
        not_icmp: None,
        src: EndpointMatch::default(),
        dst: EndpointMatch::default(),
        http: None,
        id: String::new(),
        index: 0,
    };
    f(&mut r);
    r
}

pub fn net(s: &str) -> ipnet::IpNet {
    s.parse().unwrap()
}

pub fn pid(name: &str) -> PolicyId {
    PolicyId {
        kind: PolicyKind::GlobalNetworkPolicy,
        namespace: String::new(),
        name: name.into(),
    }
}

pub fn policy(name: &str, inbound: Vec<Rule>, outbound: Vec<Rule>) -> Policy {
    let index = |mut v: Vec<Rule>| {
        for (i, r) in v.iter_mut().enumerate() {
            r.index = i;
        }
        v
    };
    Policy {
        id: pid(name),
        tier: "default".into(),
        inbound_rules: index(inbound),
        outbound_rules: index(outbound),
        untracked: false,
        pre_dnat: false,
        apply_on_forward: false,
        selector: "all()".into(),
    }
}

pub fn tier(name: &str, ingress: &[&str], egress: &[&str]) -> TierInfo {
    TierInfo {
        name: name.into(),
        default_action: TierDefaultAction::Deny,
        ingress_policies: ingress.iter().map(|p| pid(p)).collect(),
        egress_policies: egress.iter().map(|p| pid(p)).collect(),
    }
}

pub fn workload(name: &str, iface: &str, ip: &str, tiers: Vec<TierInfo>) -> WorkloadEndpoint {
    WorkloadEndpoint {
        id: WorkloadEndpointId {
            namespace: "default".into(),
            name: name.into(),
        },
        interface_name: iface.into(),
        mac: String::new(),
        ipv4_nets: vec![net(&format!("{ip}/32"))],
        ipv6_nets: vec![],
        profile_ids: vec!["kns.default".into()],
        tiers,
        allow_spoofed_source_prefixes: vec![],
    }
}

/// The namespace profile: egress allowed, ingress left to policy (no ingress rules).
pub fn profile() -> Profile {
    Profile {
        name: "kns.default".into(),
        inbound_rules: vec![],
        outbound_rules: vec![rule(Action::Allow, |_| {})],
    }
}

pub fn set_update(id: &str, members: &[&str]) -> DataplaneUpdate {
    DataplaneUpdate::IpSetUpdate {
        id: IpSetId(id.into()),
        set_type: IpSetType::Net,
        members: members
            .iter()
            .map(|m| IpSetMember::Net(net(m)))
            .collect::<BTreeSet<_>>(),
    }
}

/// A representative IR: selector and named-port sets (overlapping members, both
/// families), tiers with Pass and Log, negations, ICMP, two workloads, a host endpoint with
/// untracked, pre-DNAT and forward policy.
pub fn representative() -> Vec<DataplaneUpdate> {
    let web = IpSetId("s:web".into());
    let http = IpSetId("n:http".into());
    let mut updates = vec![
        DataplaneUpdate::ConfigUpdate(serde_json::json!({"defaultEndpointToHostAction": "Accept"})),
        set_update(
            "s:web",
            &[
                "10.65.0.0/24",
                "10.65.0.7/32",
                "10.65.1.0/24",
                "fd00::/64",
                "fd00::5/128",
            ],
        ),
        DataplaneUpdate::IpSetUpdate {
            id: http.clone(),
            set_type: IpSetType::IpAndPort,
            members: [
                IpSetMember::IpPort {
                    ip: "10.65.0.2".parse().unwrap(),
                    protocol: 6,
                    port: 8080,
                },
                IpSetMember::IpPort {
                    ip: "fd00::2".parse().unwrap(),
                    protocol: 17,
                    port: 53,
                },
            ]
            .into(),
        },
    ];
    let mut sec = policy(
        "security",
        vec![
            rule(Action::Deny, |r| r.src.nets = vec![net("192.168.0.0/16")]),
            rule(Action::Log, |r| r.protocol = Some(6)),
            rule(Action::Pass, |r| r.src.ip_sets = vec![web.clone()]),
        ],
        vec![rule(Action::Pass, |_| {})],
    );
    sec.tier = "security".into();
    updates.push(DataplaneUpdate::PolicyUpdate(sec));
    updates.push(DataplaneUpdate::PolicyUpdate(policy(
        "allow-web",
        vec![
            rule(Action::Allow, |r| {
                r.protocol = Some(6);
                r.src.ip_sets = vec![web.clone()];
                r.dst.ports = vec![
                    PortRange { min: 80, max: 80 },
                    PortRange {
                        min: 8000,
                        max: 8100,
                    },
                ];
                r.dst.named_port_sets = vec![http.clone()];
            }),
            rule(Action::Allow, |r| {
                r.protocol = Some(1);
                r.icmp = Some(IcmpMatch {
                    icmp_type: 8,
                    code: None,
                });
            }),
            rule(Action::Deny, |r| {
                r.not_protocol = Some(17);
                r.src.not_nets = vec![net("10.0.0.0/8"), net("fd00::/8")];
                r.dst.not_ports = vec![PortRange { min: 22, max: 22 }];
            }),
        ],
        vec![rule(Action::Allow, |r| {
            r.dst.not_ip_sets = vec![web.clone()];
            r.dst.not_named_port_sets = vec![http.clone()];
        })],
    )));
    let mut host_policy = policy(
        "host-untracked",
        vec![rule(Action::Allow, |r| {
            r.protocol = Some(17);
            r.dst.ports = vec![PortRange {
                min: 4789,
                max: 4789,
            }];
        })],
        vec![],
    );
    host_policy.untracked = true;
    updates.push(DataplaneUpdate::PolicyUpdate(host_policy));
    updates.push(DataplaneUpdate::ProfileUpdate(profile()));
    let tiers = vec![
        tier("security", &["security"], &["security"]),
        tier("default", &["allow-web"], &["allow-web"]),
    ];
    updates.push(DataplaneUpdate::WorkloadEndpointUpdate(workload(
        "node1-k8s-a-eth0",
        "calia",
        "10.65.0.1",
        tiers.clone(),
    )));
    let mut b = workload("node1-k8s-b-eth0", "calib", "10.65.0.2", vec![]);
    b.ipv6_nets = vec![net("fd00::2/128")];
    b.allow_spoofed_source_prefixes = vec![net("10.70.0.0/16")];
    updates.push(DataplaneUpdate::WorkloadEndpointUpdate(b));
    updates.push(DataplaneUpdate::HostEndpointUpdate(HostEndpoint {
        id: "node1-eth0".into(),
        interface_name: "eth0".into(),
        expected_ipv4_addrs: vec!["192.0.2.10".parse().unwrap()],
        expected_ipv6_addrs: vec![],
        profile_ids: vec![],
        tiers: vec![tier("default", &["allow-web"], &[])],
        untracked_tiers: vec![tier("default", &["host-untracked"], &[])],
        pre_dnat_tiers: vec![],
        forward_tiers: vec![],
    }));
    updates.push(DataplaneUpdate::HostEndpointUpdate(HostEndpoint {
        id: "node1-all".into(),
        interface_name: "*".into(),
        expected_ipv4_addrs: vec![],
        expected_ipv6_addrs: vec![],
        profile_ids: vec!["kns.default".into()],
        tiers: vec![],
        untracked_tiers: vec![],
        pre_dnat_tiers: vec![tier("default", &["host-untracked"], &[])],
        forward_tiers: vec![tier("default", &["allow-web"], &["allow-web"])],
    }));
    updates.push(DataplaneUpdate::InSync);
    updates
}

/// A node namespace with Calico's workload plumbing and two pod namespaces (10.65.0.1 and
/// 10.65.0.2, fd00:65::1 and fd00:65::2) behind `calitest0` / `calitest1`, each running TCP
/// listeners on [`PORTS`]: what a CNI plugin would have set up. Nothing is enforced until
/// something programs the node's nftables.
pub struct Lab {
    /// The node.
    pub node: Netns,
    /// The pods and their IPv4 addresses.
    pub pods: Vec<(Netns, String)>,
    /// The pods' IPv6 addresses.
    pub v6: Vec<String>,
}

/// The ports every pod listens on (TCP).
pub const PORTS: [u16; 2] = [8080, 9090];

impl Lab {
    /// Builds it (root).
    pub fn new() -> Lab {
        let node = Netns::new("node");
        // An uplink with a default route, so that proxy ARP answers for 169.254.1.1.
        node.exec(&[
            "ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1",
        ]);
        node.exec(&["ip", "link", "set", "uplink0", "up"]);
        node.exec(&["ip", "link", "set", "uplink1", "up"]);
        node.exec(&["ip", "addr", "add", "10.99.0.1/24", "dev", "uplink0"]);
        node.exec(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            "10.99.0.2",
            "dev",
            "uplink0",
        ]);
        node.sysctl("net.ipv4.ip_forward", "1");
        node.sysctl("net.ipv6.conf.all.forwarding", "1");
        let mut pods = Vec::new();
        let mut v6 = Vec::new();
        for (i, ip) in ["10.65.0.1", "10.65.0.2"].iter().enumerate() {
            let mut pod = Netns::new("pod");
            let iface = format!("calitest{i}");
            node.exec(&[
                "ip", "link", "add", &iface, "type", "veth", "peer", "name", "eth0", "netns",
                &pod.name,
            ]);
            node.sysctl(&format!("net.ipv6.conf.{iface}.accept_dad"), "0");
            pod.sysctl("net.ipv6.conf.eth0.accept_dad", "0");
            node.exec(&["ip", "link", "set", &iface, "up"]);
            node.sysctl(&format!("net.ipv4.conf.{iface}.proxy_arp"), "1");
            node.sysctl(&format!("net.ipv4.neigh.{iface}.proxy_delay"), "0");
            node.sysctl(&format!("net.ipv4.conf.{iface}.forwarding"), "1");
            node.exec(&[
                "ip",
                "route",
                "add",
                &format!("{ip}/32"),
                "dev",
                &iface,
                "scope",
                "link",
            ]);
            pod.exec(&["ip", "link", "set", "eth0", "up"]);
            pod.exec(&["ip", "addr", "add", &format!("{ip}/32"), "dev", "eth0"]);
            pod.exec(&[
                "ip",
                "route",
                "add",
                "169.254.1.1",
                "dev",
                "eth0",
                "scope",
                "link",
            ]);
            pod.exec(&[
                "ip",
                "route",
                "add",
                "default",
                "via",
                "169.254.1.1",
                "dev",
                "eth0",
            ]);
            // IPv6: a link-local gateway on the host side, /128 routes both ways.
            let ip6 = format!("fd00:65::{}", i + 1);
            node.exec(&[
                "ip",
                "-6",
                "addr",
                "add",
                "fe80::1/64",
                "dev",
                &iface,
                "nodad",
            ]);
            node.exec(&[
                "ip",
                "-6",
                "route",
                "add",
                &format!("{ip6}/128"),
                "dev",
                &iface,
            ]);
            pod.exec(&[
                "ip",
                "-6",
                "addr",
                "add",
                &format!("{ip6}/128"),
                "dev",
                "eth0",
                "nodad",
            ]);
            pod.exec(&[
                "ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0",
            ]);
            v6.push(ip6);
            for port in PORTS {
                let script = format!(
                    "import socket\ns=socket.socket(socket.AF_INET6)\ns.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('::',{port}))\ns.listen(64)\nwhile True:\n  c,_=s.accept()\n  c.close()\n"
                );
                pod.spawn(&["python3", "-c", &script]);
            }
            pods.push((pod, ip.to_string()));
        }
        let lab = Lab { node, pods, v6 };
        // Listeners are up when a local connect succeeds (loopback is not policed).
        for (pod, _) in &lab.pods {
            for port in PORTS {
                let mut ok = false;
                for _ in 0..200 {
                    if pod.try_exec(&["python3", "-c", &connect_script("127.0.0.1", port)]) {
                        ok = true;
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                assert!(ok, "listener on {port} in {} did not start", pod.name);
            }
        }
        lab
    }

    /// A TCP connection from pod `from` to pod `to`'s IPv4 address.
    pub fn tcp(&self, from: usize, to: usize, port: u16) -> bool {
        self.tcp_to(from, &self.pods[to].1, port)
    }

    /// A TCP connection from pod `from` to `ip`.
    pub fn tcp_to(&self, from: usize, ip: &str, port: u16) -> bool {
        self.pods[from]
            .0
            .try_exec(&["python3", "-c", &connect_script(ip, port)])
    }

    /// A ping from pod `from` to pod `to`'s IPv4 address.
    pub fn ping(&self, from: usize, to: usize) -> bool {
        self.ping_to(from, &self.pods[to].1)
    }

    /// A ping from pod `from` to `ip`.
    pub fn ping_to(&self, from: usize, ip: &str) -> bool {
        self.pods[from]
            .0
            .try_exec(&["ping", "-c", "1", "-W", "2", ip])
    }
}

/// A Python one-liner that connects to `ip`:`port` within 2 s.
pub fn connect_script(ip: &str, port: u16) -> String {
    format!("import socket\nsocket.create_connection(('{ip}',{port}),timeout=2.0).close()\n")
}
