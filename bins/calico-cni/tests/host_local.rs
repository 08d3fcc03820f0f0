//! ADD / CHECK / DEL / DEL / re-ADD of the `calico` plugin with Debian's `host-local` IPAM,
//! checked inside the pod namespace, on the host, in the datastore and with a ping.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;

#[test]
fn add_check_del_with_host_local() {
    if skip_unless_root("add_check_del_with_host_local")
        || skip_unless_debian_plugins("add_check_del_with_host_local")
    {
        return;
    }
    let node = Node::new();
    let conf = node.conf("1.0.0", node.host_local(1));
    let att = Attachment::new(&node, conf, "K8S_POD_NAMESPACE=default;K8S_POD_NAME=nginx");
    let host_if = "calic440f455693";

    let add = att.add();
    assert!(add.ok, "ADD failed: {} {}", add.stdout, add.stderr);
    let r = &add.json;
    assert_eq!(r["cniVersion"], "1.0.0");
    assert_eq!(r["interfaces"][0]["name"], host_if);
    assert!(r["interfaces"][0].get("sandbox").is_none());
    assert_eq!(r["interfaces"][1]["name"], "eth0");
    assert_eq!(r["interfaces"][1]["mtu"], 1400);
    assert_eq!(
        r["interfaces"][1]["sandbox"],
        att.netns.path.display().to_string()
    );
    assert_eq!(r["ips"][0]["interface"], 1);
    let addr = r["ips"][0]["address"].as_str().unwrap().to_owned();
    assert!(
        addr.starts_with("10.233.1.") && addr.ends_with("/32"),
        "{addr}"
    );
    let ip = first_ip(r);

    // Inside the pod.
    let addrs = att.netns.ip(&["-4", "addr", "show", "dev", "eth0"]);
    assert!(addrs.contains(&format!("{ip}/32")), "{addrs}");
    assert!(addrs.contains("mtu 1400"), "{addrs}");
    let routes = att.netns.ip(&["-4", "route"]);
    assert!(
        routes.contains("default via 169.254.1.1 dev eth0"),
        "{routes}"
    );
    assert!(
        routes
            .lines()
            .any(|l| l.starts_with("169.254.1.1 dev eth0") && l.contains("scope link")),
        "{routes}"
    );
    // On the host.
    let link = host_ip(&["link", "show", "dev", host_if]);
    assert!(
        link.contains("ee:ee:ee:ee:ee:ee") && link.contains("mtu 1400"),
        "{link}"
    );
    let host_routes = host_ip(&["-4", "route", "show", "dev", host_if]);
    assert!(
        host_routes
            .lines()
            .any(|l| l.starts_with(&format!("{ip} ")) && l.contains("scope link")),
        "{host_routes}"
    );
    assert_eq!(
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{host_if}/proxy_arp"))
            .unwrap()
            .trim(),
        "1"
    );
    assert!(ping(&ip), "ping {ip} from the host");
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &att.netns.name,
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "ip_forward off by default"
    );
    // In the datastore.
    let wep_name = format!("{}-k8s-nginx-eth0", node.node.replace('-', "--"));
    let wep = node.with_store(async |ds| {
        ds.get(&calico_model::sync::ResourceKey::new(
            calico_model::Kind::WorkloadEndpoint,
            "default",
            &wep_name,
        ))
        .await
    });
    let wep = match wep.unwrap() {
        calico_model::Resource::WorkloadEndpoint(w) => w,
        other => panic!("{other:?}"),
    };
    assert_eq!(wep.spec.interface_name, host_if);
    assert_eq!(wep.spec.container_id, att.container_id);
    assert_eq!(wep.spec.ip_networks, vec![format!("{ip}/32")]);
    assert_eq!(wep.spec.profiles, vec!["kns.default".to_owned()]);
    assert_eq!(wep.spec.mac, r["interfaces"][1]["mac"].as_str().unwrap());
    assert_eq!(wep.metadata.labels["projectcalico.org/orchestrator"], "k8s");

    // CHECK against the result.
    let check = att.run("CHECK", &att.with_prev(r));
    assert!(check.ok, "CHECK: {} {}", check.stdout, check.stderr);

    // Re-ADD: same address, still one endpoint.
    let again = att.add();
    assert!(again.ok, "re-ADD: {} {}", again.stdout, again.stderr);
    assert_eq!(first_ip(&again.json), ip, "re-ADD keeps the address");
    assert_eq!(node.wep_count(), 1);
    assert!(ping(&ip), "ping {ip} after re-ADD");

    // DEL twice.
    let del = att.del();
    assert!(del.ok, "DEL: {} {}", del.stdout, del.stderr);
    assert!(!host_link_exists(host_if));
    assert!(!host_ip(&["-4", "route"]).contains(&ip));
    assert_eq!(node.wep_count(), 0);
    let del2 = att.del();
    assert!(del2.ok, "second DEL: {} {}", del2.stdout, del2.stderr);

    // CHECK after DEL reports the problem.
    let check = att.run("CHECK", &att.with_prev(r));
    assert!(!check.ok);

    // DEL with the namespace gone.
    let gone = Attachment::new(&node, att.conf.clone(), "");
    let id = gone.container_id.clone();
    let add = gone.add();
    assert!(add.ok, "{} {}", add.stdout, add.stderr);
    assert!(host_link_exists(&format!(
        "cali{}",
        &id[..id.len().min(11)]
    )));
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &gone.netns.name])
        .status();
    let del = gone.del();
    assert!(
        del.ok,
        "DEL after netns removal: {} {}",
        del.stdout, del.stderr
    );
    assert_eq!(node.wep_count(), 0);
    // host-local released the address: its data dir has no reservation left.
    let left: Vec<_> = std::fs::read_dir(node.path("host-local").join("calico-test"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter()
            .all(|n| n.to_string_lossy().starts_with("last_reserved_ip") || n == "lock"),
        "{left:?}"
    );
}

#[test]
fn dual_stack_with_host_local() {
    if skip_unless_root("dual_stack_with_host_local")
        || skip_unless_debian_plugins("dual_stack_with_host_local")
    {
        return;
    }
    let node = Node::new();
    let ipam = serde_json::json!({
        "type": "host-local",
        "ranges": [[{"subnet": "10.233.2.0/24"}], [{"subnet": "fd33:233:2::/64"}]],
        "dataDir": node.path("host-local"),
    });
    let mut conf = node.conf("0.4.0", ipam);
    let log = node.path("log/cni.log");
    conf["log_file_path"] = serde_json::json!(log);
    conf["num_queues"] = serde_json::json!(2);
    conf["container_settings"] = serde_json::json!({"allow_ip_forwarding": true});
    let att = Attachment::new(&node, conf, "K8S_POD_NAMESPACE=dual;K8S_POD_NAME=stack");
    let host_if = calico_cni::names::host_veth_name_k8s("dual", "stack");
    let add = att.add();
    assert!(add.ok, "ADD: {} {}", add.stdout, add.stderr);
    let r = &add.json;
    // 0.4.0 results carry ips[].version and no interface mtu.
    assert_eq!(r["cniVersion"], "0.4.0");
    assert_eq!(r["ips"][0]["version"], "4");
    assert_eq!(r["ips"][1]["version"], "6");
    assert!(r["interfaces"][1].get("mtu").is_none());
    let v6 = r["ips"][1]["address"].as_str().unwrap().to_owned();
    assert!(v6.ends_with("/128"), "{v6}");
    let v6 = v6.trim_end_matches("/128").to_owned();
    let routes6 = att.netns.ip(&["-6", "route"]);
    assert!(
        routes6.contains("default via fe80::ecee:eeff:feee:eeee dev eth0"),
        "{routes6}"
    );
    let host6 = host_ip(&["-6", "route", "show", "dev", &host_if]);
    assert!(host6.contains(&v6), "{host6}");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{host_if}/proxy_ndp"))
            .unwrap()
            .trim(),
        "1"
    );
    assert!(ping(&first_ip(r)), "ping v4");
    // The host veth's link-local needs a moment (no DAD, but address generation is async).
    let mut ok6 = false;
    for _ in 0..20 {
        if ping(&v6) {
            ok6 = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ok6, "ping {v6}");
    let check = att.run("CHECK", &att.with_prev(r));
    assert!(check.ok, "CHECK: {} {}", check.stdout, check.stderr);
    // num_queues on both ends, forwarding allowed in the pod.
    let details = host_ip(&["-d", "link", "show", "dev", &host_if]);
    assert!(details.contains("numtxqueues 2"), "{details}");
    assert!(
        att.netns
            .ip(&["-d", "link", "show", "dev", "eth0"])
            .contains("numrxqueues 2")
    );
    let fwd = |key: &str| {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &att.netns.name, "cat", key])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(fwd("/proc/sys/net/ipv4/ip_forward"), "1");
    assert_eq!(fwd("/proc/sys/net/ipv6/conf/all/forwarding"), "1");
    let del = att.del();
    assert!(del.ok, "DEL: {} {}", del.stdout, del.stderr);
    assert!(!host_link_exists(&host_if));
    let log = std::fs::read_to_string(log).unwrap();
    for needle in ["calico ADD", "calico CHECK", "calico DEL", "exit=0"] {
        assert!(log.contains(needle), "{needle:?} not logged: {log}");
    }
}
