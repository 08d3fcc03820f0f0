//! The `calico` plugin with the `calico-ipam` delegate on an embedded store: ADD / CHECK /
//! re-ADD / DEL / GC / STATUS, a specific address via `IP=`, and 50 parallel ADDs and DELs.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::BTreeSet;

use calico_datastore::ipam::Ipam;
use calico_model::{IPPool, IPPoolSpec, Kind, ObjectMeta, Resource};
use common::*;
use serde_json::json;

/// Creates the IPPool the test allocates from.
fn create_pool(node: &Node, cidr: &str) {
    node.with_store(async |ds| {
        ds.create(
            IPPool::new(
                ObjectMeta::named("test-pool"),
                IPPoolSpec {
                    cidr: cidr.into(),
                    block_size: 26,
                    ..IPPoolSpec::default()
                },
            )
            .into(),
        )
        .await
        .unwrap();
    });
}

fn handle_ips(node: &Node, handle: &str) -> Vec<std::net::IpAddr> {
    let handle = handle.to_owned();
    node.with_store(async move |ds| Ipam::new(ds).ips_by_handle(&handle).await.unwrap())
}

fn count(node: &Node, kind: Kind) -> usize {
    node.with_store(async move |ds| ds.list(kind, None).await.unwrap().items.len())
}

/// Allocated addresses over every block.
fn allocated(node: &Node) -> usize {
    node.with_store(async |ds| {
        ds.list(Kind::IPAMBlock, None)
            .await
            .unwrap()
            .items
            .iter()
            .map(|r| match r {
                Resource::IPAMBlock(b) => b.spec.allocations.iter().flatten().count(),
                _ => 0,
            })
            .sum()
    })
}

/// True (loudly) if calico-ipam is not implemented in this build yet.
fn ipam_missing(o: &Outcome, test: &str) -> bool {
    if o.stdout.contains("not yet implemented") || o.stderr.contains("not yet implemented") {
        eprintln!("!!! SKIPPING {test}: calico_datastore::ipam is not implemented in this build");
        return true;
    }
    false
}

#[test]
fn add_check_del_gc_with_calico_ipam() {
    let test = "add_check_del_gc_with_calico_ipam";
    if skip_unless_root(test) {
        return;
    }
    let node = Node::new();
    create_pool(&node, "10.233.64.0/20");
    let conf = node.conf("1.1.0", json!({"type": "calico-ipam"}));
    let att = Attachment::new(
        &node,
        conf.clone(),
        "K8S_POD_NAMESPACE=ipam;K8S_POD_NAME=pod-a",
    );
    let add = att.add();
    if ipam_missing(&add, test) {
        return;
    }
    assert!(add.ok, "ADD: {} {}", add.stdout, add.stderr);
    let ip = first_ip(&add.json);
    let pool: ipnet::IpNet = "10.233.64.0/20".parse().unwrap();
    assert!(
        pool.contains(&ip.parse::<std::net::IpAddr>().unwrap()),
        "{ip}"
    );
    assert_eq!(add.json["ips"][0]["address"], format!("{ip}/32"));
    // The IPAM route: the address with its block's mask.
    assert_eq!(add.json["routes"][0]["dst"], format!("{ip}/26"));
    let handle = format!("calico-test.{}", att.container_id);
    assert_eq!(
        handle_ips(&node, &handle),
        vec![ip.parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(ping(&ip), "ping {ip}");
    let check = att.run("CHECK", &att.with_prev(&add.json));
    assert!(check.ok, "CHECK: {} {}", check.stdout, check.stderr);

    // Re-ADD: the handle's address again.
    let again = att.add();
    assert!(again.ok, "re-ADD: {} {}", again.stdout, again.stderr);
    assert_eq!(first_ip(&again.json), ip);
    assert_eq!(handle_ips(&node, &handle).len(), 1);

    // A specific address through CNI_ARGS IP=.
    let fixed = Attachment::new(
        &node,
        conf.clone(),
        "K8S_POD_NAMESPACE=ipam;K8S_POD_NAME=pod-b;IP=10.233.70.7",
    );
    let o = fixed.add();
    assert!(o.ok, "ADD IP=: {} {}", o.stdout, o.stderr);
    assert_eq!(o.json["ips"][0]["address"], "10.233.70.7/32");

    // STATUS (forwarded to calico-ipam).
    let status = exec(
        &node.bin.join("calico"),
        &[("CNI_COMMAND", "STATUS"), ("CNI_PATH", &node.cni_path())],
        &conf,
    );
    assert!(status.ok, "STATUS: {} {}", status.stdout, status.stderr);

    // GC: only the first attachment is still valid.
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": att.container_id, "ifname": "eth0"}]);
    let o = exec(
        &node.bin.join("calico"),
        &[("CNI_COMMAND", "GC"), ("CNI_PATH", &node.cni_path())],
        &gc,
    );
    assert!(o.ok, "GC: {} {}", o.stdout, o.stderr);
    assert!(handle_ips(&node, &format!("calico-test.{}", fixed.container_id)).is_empty());
    assert_eq!(
        handle_ips(&node, &handle).len(),
        1,
        "GC kept the valid attachment"
    );
    assert_eq!(count(&node, Kind::WorkloadEndpoint), 1);
    drop(fixed);

    // DEL twice.
    let del = att.del();
    assert!(del.ok, "DEL: {} {}", del.stdout, del.stderr);
    assert!(handle_ips(&node, &handle).is_empty());
    assert_eq!(count(&node, Kind::WorkloadEndpoint), 0);
    assert_eq!(count(&node, Kind::IPAMHandle), 0);
    assert_eq!(allocated(&node), 0);
    assert!(att.del().ok);
}

#[test]
fn fifty_parallel_adds_and_dels() {
    let test = "fifty_parallel_adds_and_dels";
    if skip_unless_root(test) {
        return;
    }
    const N: usize = 50;
    let node = Node::new();
    create_pool(&node, "10.233.128.0/20");
    let conf = node.conf("1.0.0", json!({"type": "calico-ipam"}));
    let atts: Vec<Attachment> = (0..N)
        .map(|i| {
            Attachment::new(
                &node,
                conf.clone(),
                &format!("K8S_POD_NAMESPACE=par;K8S_POD_NAME=p{i}"),
            )
        })
        .collect();
    let started = std::time::Instant::now();
    let adds: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = atts.iter().map(|a| s.spawn(|| a.add())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    if adds.iter().any(|o| ipam_missing(o, test)) {
        return;
    }
    for o in &adds {
        assert!(o.ok, "ADD: {} {}", o.stdout, o.stderr);
    }
    let ips: BTreeSet<String> = adds.iter().map(|o| first_ip(&o.json)).collect();
    assert_eq!(ips.len(), N, "addresses are unique");
    let routes = host_ip(&["-4", "route"]);
    // Count only this test's pool: other test binaries may run concurrently (nextest).
    let pool: ipnet::IpNet = "10.233.128.0/20".parse().unwrap();
    let in_pool = |l: &str| {
        l.split_whitespace()
            .next()
            .and_then(|a| a.parse::<std::net::IpAddr>().ok())
            .is_some_and(|a| pool.contains(&a))
            && l.contains("dev cali")
    };
    let ours = routes.lines().filter(|l| in_pool(l)).count();
    assert_eq!(ours, N, "{routes}");
    assert_eq!(count(&node, Kind::WorkloadEndpoint), N);
    assert_eq!(allocated(&node), N);

    eprintln!(
        "{N} parallel ADDs (calico + calico-ipam, embedded store): {:?}",
        started.elapsed()
    );
    let started = std::time::Instant::now();
    let dels: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = atts.iter().map(|a| s.spawn(|| a.del())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("{N} parallel DELs: {:?}", started.elapsed());
    for o in &dels {
        assert!(o.ok, "DEL: {} {}", o.stdout, o.stderr);
    }
    for i in 0..N {
        assert!(!host_link_exists(&calico_cni::names::host_veth_name_k8s(
            "par",
            &format!("p{i}")
        )));
    }
    let routes = host_ip(&["-4", "route"]);
    assert!(!routes.lines().any(in_pool), "{routes}");
    assert_eq!(count(&node, Kind::WorkloadEndpoint), 0);
    assert_eq!(count(&node, Kind::IPAMHandle), 0);
    assert_eq!(allocated(&node), 0);
}

#[test]
fn dual_stack_with_calico_ipam() {
    let test = "dual_stack_with_calico_ipam";
    if skip_unless_root(test) {
        return;
    }
    let node = Node::new();
    create_pool(&node, "10.233.96.0/20");
    node.with_store(async |ds| {
        ds.create(
            IPPool::new(
                ObjectMeta::named("test-pool-v6"),
                IPPoolSpec {
                    cidr: "fd33:233:96::/112".into(),
                    block_size: 122,
                    ..IPPoolSpec::default()
                },
            )
            .into(),
        )
        .await
        .unwrap();
    });
    let conf = node.conf(
        "1.0.0",
        json!({"type": "calico-ipam", "assign_ipv4": "true", "assign_ipv6": "true"}),
    );
    let mut att = Attachment::new(&node, conf, "K8S_POD_NAMESPACE=ipam6;K8S_POD_NAME=pod-6");
    // This test runs calico-ipam as its own process (the others run it inside `calico`).
    att.extra_env.push(("CALICO_CNI_EXEC_IPAM", "1"));
    let add = att.add();
    if ipam_missing(&add, test) {
        return;
    }
    assert!(add.ok, "ADD: {} {}", add.stdout, add.stderr);
    let ips = add.json["ips"].as_array().unwrap();
    assert_eq!(ips.len(), 2, "{}", add.stdout);
    let v6 = ips[1]["address"].as_str().unwrap().to_owned();
    assert!(
        v6.starts_with("fd33:233:96::") && v6.ends_with("/128"),
        "{v6}"
    );
    let v6 = v6.trim_end_matches("/128").to_owned();
    assert_eq!(add.json["routes"][1]["dst"], format!("{v6}/122"));
    let routes6 = att.netns.ip(&["-6", "route"]);
    assert!(
        routes6.contains("default via fe80::ecee:eeff:feee:eeee dev eth0"),
        "{routes6}"
    );
    let mut ok6 = false;
    for _ in 0..20 {
        if ping(&v6) {
            ok6 = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ok6, "ping {v6}");
    assert!(ping(&first_ip(&add.json)));
    let handle = format!("calico-test.{}", att.container_id);
    assert_eq!(handle_ips(&node, &handle).len(), 2);
    let del = att.del();
    assert!(del.ok, "DEL: {} {}", del.stdout, del.stderr);
    assert!(handle_ips(&node, &handle).is_empty());
    assert_eq!(allocated(&node), 0);
}
