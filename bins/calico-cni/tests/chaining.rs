//! Chaining: `calico`, then Debian's `portmap` and `bandwidth` with our result as their
//! `prevResult` (as a runtime runs a conflist), then DEL in reverse order.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{Value, json};

/// Removes the top-level chains portmap creates, if this test created them.
struct PortmapChains {
    existed: bool,
    /// Whether the nftables `ip nat` / `ip6 nat` tables (iptables-nft) existed before.
    tables: [(&'static str, &'static str, bool); 2],
}

fn nft_table_exists(family: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", family, "nat"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn nat_chain_exists(chain: &str) -> bool {
    Command::new("iptables")
        .args(["-t", "nat", "-S", chain])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

impl Drop for PortmapChains {
    fn drop(&mut self) {
        if !self.existed {
            self.remove_chains();
        }
        // Drop the nat tables iptables-nft created for us if nothing else uses them.
        for (family, tool, existed) in self.tables {
            let rules = Command::new(tool)
                .args(["-t", "nat", "-S"])
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .filter(|l| !l.starts_with("-P "))
                        .count()
                })
                .unwrap_or(1);
            if !existed && rules == 0 {
                let _ = Command::new("nft")
                    .args(["delete", "table", family, "nat"])
                    .output();
            }
        }
    }
}

impl PortmapChains {
    fn new() -> Self {
        let tables = [
            ("ip", "iptables", nft_table_exists("ip")),
            ("ip6", "ip6tables", nft_table_exists("ip6")),
        ];
        PortmapChains {
            existed: nat_chain_exists("CNI-HOSTPORT-DNAT"),
            tables,
        }
    }

    fn remove_chains(&self) {
        let ipt = |args: &[&str]| {
            let _ = Command::new("iptables").args(args).output();
        };
        ipt(&[
            "-t",
            "nat",
            "-D",
            "PREROUTING",
            "-m",
            "addrtype",
            "--dst-type",
            "LOCAL",
            "-j",
            "CNI-HOSTPORT-DNAT",
        ]);
        ipt(&[
            "-t",
            "nat",
            "-D",
            "OUTPUT",
            "-m",
            "addrtype",
            "--dst-type",
            "LOCAL",
            "-j",
            "CNI-HOSTPORT-DNAT",
        ]);
        ipt(&[
            "-t",
            "nat",
            "-D",
            "POSTROUTING",
            "-m",
            "comment",
            "--comment",
            "CNI portfwd requiring masquerade",
            "-j",
            "CNI-HOSTPORT-MASQ",
        ]);
        for chain in [
            "CNI-HOSTPORT-DNAT",
            "CNI-HOSTPORT-SETMARK",
            "CNI-HOSTPORT-MASQ",
        ] {
            ipt(&["-t", "nat", "-F", chain]);
        }
        for chain in [
            "CNI-HOSTPORT-DNAT",
            "CNI-HOSTPORT-SETMARK",
            "CNI-HOSTPORT-MASQ",
        ] {
            ipt(&["-t", "nat", "-X", chain]);
        }
    }
}

fn plugin_conf(net: &Value, plugin: Value, runtime: Value, prev: &Value) -> Value {
    let mut c = plugin;
    c["cniVersion"] = net["cniVersion"].clone();
    c["name"] = net["name"].clone();
    c["runtimeConfig"] = runtime;
    c["prevResult"] = prev.clone();
    c
}

#[test]
fn chained_with_portmap_and_bandwidth() {
    if skip_unless_root("chained_with_portmap_and_bandwidth")
        || skip_unless_debian_plugins("chained_with_portmap_and_bandwidth")
    {
        return;
    }
    if Command::new("iptables").arg("--version").output().is_err() {
        eprintln!("!!! SKIPPING chained_with_portmap_and_bandwidth: no iptables for portmap");
        return;
    }
    let _chains = PortmapChains::new();
    let node = Node::new();
    let conf = node.conf("1.0.0", node.host_local(3));
    let att = Attachment::new(
        &node,
        conf.clone(),
        "K8S_POD_NAMESPACE=chain;K8S_POD_NAME=web",
    );
    let portmap = Path::new(DEBIAN_CNI).join("portmap");
    let bandwidth = Path::new(DEBIAN_CNI).join("bandwidth");
    let pm = json!({"type": "portmap", "snat": true});
    let pm_rt =
        json!({"portMappings": [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]});
    let bw = json!({"type": "bandwidth"});
    let bw_rt = json!({"bandwidth": {"ingressRate": 8_000_000, "ingressBurst": 8_000_000,
                                      "egressRate": 8_000_000, "egressBurst": 8_000_000}});

    let r1 = att.add();
    assert!(r1.ok, "calico ADD: {} {}", r1.stdout, r1.stderr);
    let r2 = att.run_plugin(
        &portmap,
        "ADD",
        &plugin_conf(&conf, pm.clone(), pm_rt.clone(), &r1.json),
    );
    assert!(r2.ok, "portmap ADD: {} {}", r2.stdout, r2.stderr);
    let r3 = att.run_plugin(
        &bandwidth,
        "ADD",
        &plugin_conf(&conf, bw.clone(), bw_rt.clone(), &r2.json),
    );
    assert!(r3.ok, "bandwidth ADD: {} {}", r3.stdout, r3.stderr);
    let fin = r3.json.clone();
    assert_eq!(first_ip(&fin), first_ip(&r1.json));
    let dnat = Command::new("iptables")
        .args(["-t", "nat", "-S"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&dnat.stdout).contains("18080"),
        "portmap DNAT rule missing"
    );

    // CHECK in order: ours must accept the final result; bandwidth's too. portmap 1.1.1's
    // CHECK is broken for IPv4-only results (containernetworking/plugins#819): not asserted.
    let c1 = att.run("CHECK", &att.with_prev(&fin));
    assert!(c1.ok, "calico CHECK: {} {}", c1.stdout, c1.stderr);
    let _ = att.run_plugin(
        &portmap,
        "CHECK",
        &plugin_conf(&conf, pm.clone(), pm_rt.clone(), &fin),
    );
    let c3 = att.run_plugin(
        &bandwidth,
        "CHECK",
        &plugin_conf(&conf, bw.clone(), bw_rt.clone(), &fin),
    );
    assert!(c3.ok, "bandwidth CHECK: {} {}", c3.stdout, c3.stderr);

    // DEL in reverse order.
    let d3 = att.run_plugin(&bandwidth, "DEL", &plugin_conf(&conf, bw, bw_rt, &fin));
    assert!(d3.ok, "bandwidth DEL: {} {}", d3.stdout, d3.stderr);
    let d2 = att.run_plugin(&portmap, "DEL", &plugin_conf(&conf, pm, pm_rt, &fin));
    assert!(d2.ok, "portmap DEL: {} {}", d2.stdout, d2.stderr);
    let d1 = att.run("DEL", &att.with_prev(&fin));
    assert!(d1.ok, "calico DEL: {} {}", d1.stdout, d1.stderr);
    assert!(!host_link_exists(&calico_cni::names::host_veth_name_k8s(
        "chain", "web"
    )));
    let links = host_ip(&["-br", "link"]);
    assert!(!links.contains("bwp"), "bandwidth ifb left: {links}");
    assert_eq!(node.wep_count(), 0);
}
