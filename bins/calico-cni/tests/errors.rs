//! VERSION negotiation, the error JSON and exit codes for bad input, and that a failed
//! ADD leaves nothing behind (no veth, no WorkloadEndpoint, no IPAM reservation).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use serde_json::json;

fn env<'a>(command: &'a str, netns: &'a str, cni_path: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CNI_COMMAND", command),
        ("CNI_CONTAINERID", "ctr-errors-1"),
        ("CNI_NETNS", netns),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", cni_path),
    ]
}

fn assert_error(o: &Outcome, code: u64, needle: &str) {
    assert!(!o.ok, "expected failure, got {}", o.stdout);
    assert_eq!(o.code(), code, "{}", o.stdout);
    let text = format!("{} {}", o.json["msg"], o.json["details"]);
    assert!(text.contains(needle), "{needle:?} not in {}", o.stdout);
    assert!(o.json["cniVersion"].is_string(), "{}", o.stdout);
}

#[test]
fn version_negotiation() {
    let node = Node::new();
    for plugin in ["calico", "calico-ipam"] {
        let bin = node.bin.join(plugin);
        let o = exec(
            &bin,
            &[("CNI_COMMAND", "VERSION")],
            &json!({"cniVersion": "0.4.0"}),
        );
        assert!(o.ok, "{}", o.stdout);
        assert_eq!(o.json["cniVersion"], "0.4.0");
        let versions = o.json["supportedVersions"].as_array().unwrap();
        for v in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
            assert!(versions.contains(&json!(v)), "{plugin}: {v} missing");
        }
        let empty = exec_raw(&bin, &[("CNI_COMMAND", "VERSION")], b"");
        assert!(
            empty.ok && empty.json["cniVersion"] == "1.1.0",
            "{}",
            empty.stdout
        );
    }
}

#[test]
fn protocol_errors() {
    let node = Node::new();
    let bin = node.bin.join("calico");
    let cni_path = node.cni_path();
    let good = node.conf("1.0.0", node.host_local(9));

    // Missing env vars: code 4 naming them.
    let o = exec(&bin, &[("CNI_COMMAND", "ADD")], &good);
    assert_error(&o, 4, "CNI_CONTAINERID");
    assert!(o.json["msg"].as_str().unwrap().contains("CNI_NETNS"));
    assert!(o.json["msg"].as_str().unwrap().contains("CNI_IFNAME"));
    let o = exec(&bin, &[], &good);
    assert_error(&o, 4, "CNI_COMMAND");
    // Bad JSON: 6.
    let o = exec_raw(
        &bin,
        &env("ADD", "/run/netns/none", &cni_path),
        b"{not json",
    );
    assert_error(&o, 6, "decoding");
    // Unsupported version: 1, with the supported list.
    let mut c = good.clone();
    c["cniVersion"] = json!("0.2.0");
    let o = exec(&bin, &env("ADD", "/run/netns/none", &cni_path), &c);
    assert_error(&o, 1, "1.1.0");
    // CHECK needs 0.4.0, GC/STATUS 1.1.0.
    c["cniVersion"] = json!("0.3.1");
    assert_error(
        &exec(&bin, &env("CHECK", "/run/netns/none", &cni_path), &c),
        1,
        "CHECK",
    );
    c["cniVersion"] = json!("1.0.0");
    assert_error(&exec(&bin, &env("GC", "", &cni_path), &c), 1, "GC");
    assert_error(&exec(&bin, &env("STATUS", "", &cni_path), &c), 1, "STATUS");
    // Bad network name, bad CIDR, unknown datastore type, missing node name file: 7.
    let mut c = good.clone();
    c["name"] = json!("bad name!");
    assert_error(
        &exec(&bin, &env("ADD", "/run/netns/none", &cni_path), &c),
        7,
        "name",
    );
    let mut c = good.clone();
    c["ipam"] = json!({"type": "calico-ipam", "ipv4_pools": ["10.233.0.0/33"]});
    assert_error(
        &exec(&bin, &env("ADD", "/run/netns/none", &cni_path), &c),
        7,
        "ipam.ipv4_pools[0]",
    );
    let mut c = good.clone();
    c["datastore_type"] = json!("zookeeper");
    assert_error(
        &exec(&bin, &env("ADD", "/run/netns/none", &cni_path), &c),
        7,
        "datastore_type",
    );
    let mut c = good.clone();
    c["nodename_file"] = json!(node.path("no-such-file"));
    assert_error(
        &exec(&bin, &env("ADD", "/run/netns/none", &cni_path), &c),
        7,
        "nodename_file",
    );
    // Bad container ID / interface name: 4.
    let mut e = env("ADD", "/run/netns/none", &cni_path);
    e[1] = ("CNI_CONTAINERID", "-bad/id");
    assert_error(&exec(&bin, &e, &good), 4, "CNI_CONTAINERID");
    let mut e = env("ADD", "/run/netns/none", &cni_path);
    e[3] = ("CNI_IFNAME", "much-too-long-ifname");
    assert_error(&exec(&bin, &e, &good), 4, "CNI_IFNAME");
    // calico-ipam refuses unknown CNI_ARGS without IgnoreUnknown.
    let ipam = node.bin.join("calico-ipam");
    let mut e = env("ADD", "/run/netns/none", &cni_path);
    e.push(("CNI_ARGS", "FOO=bar"));
    assert_error(&exec(&ipam, &e, &good), 4, "CNI_ARGS");
    // STATUS with an unreachable datastore: 50.
    let mut c = good.clone();
    c["cniVersion"] = json!("1.1.0");
    c["datastore_path"] = json!("/proc/no-such-dir/ds.db");
    assert_error(&exec(&bin, &env("STATUS", "", &cni_path), &c), 50, "");
    c["datastore_path"] = json!(node.datastore_path());
    let o = exec(&bin, &env("STATUS", "", &cni_path), &c);
    assert!(o.ok, "STATUS: {} {}", o.stdout, o.stderr);
}

#[test]
fn failed_add_leaves_nothing_behind() {
    if skip_unless_root("failed_add_leaves_nothing_behind")
        || skip_unless_debian_plugins("failed_add_leaves_nothing_behind")
    {
        return;
    }
    let node = Node::new();
    let netns = Netns::new();
    let cni_path = node.cni_path();
    let ns_path = netns.path.display().to_string();
    // The interface already exists in the pod: the veth cannot be created after IPAM
    // succeeded, so IPAM must be released and the host end removed.
    let _ = netns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "other0",
    ]);
    let conf = node.conf("1.0.0", node.host_local(8));
    let o = exec(
        &node.bin.join("calico"),
        &env("ADD", &ns_path, &cni_path),
        &conf,
    );
    assert!(!o.ok, "{}", o.stdout);
    assert_eq!(o.code(), 101, "{}", o.stdout);
    assert!(
        !host_link_exists("calictr-errors-"),
        "host veth left behind"
    );
    assert_eq!(node.wep_count(), 0, "WorkloadEndpoint left behind");
    let reserved: Vec<String> = std::fs::read_dir(node.path("host-local").join("calico-test"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("10."))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        reserved.is_empty(),
        "IPAM reservation left behind: {reserved:?}"
    );
    // Policy timeout: everything is rolled back too.
    let netns2 = Netns::new();
    let ns2 = netns2.path.display().to_string();
    let mut conf = node.conf("1.0.0", node.host_local(8));
    conf["policy_setup_timeout_seconds"] = json!(1);
    let o = exec(
        &node.bin.join("calico"),
        &env("ADD", &ns2, &cni_path),
        &conf,
    );
    assert_eq!(o.code(), 103, "{} {}", o.stdout, o.stderr);
    assert!(!host_link_exists("calictr-errors-"));
    assert!(netns2.ip(&["link", "show", "eth0"]).is_empty());
    assert_eq!(node.wep_count(), 0);
    // With the status file present the wait succeeds.
    let status_dir = node.path("endpoint-status");
    std::fs::create_dir_all(&status_dir).unwrap();
    std::fs::write(status_dir.join("cni ctr-errors-1 eth0"), "{}").unwrap();
    let o = exec(
        &node.bin.join("calico"),
        &env("ADD", &ns2, &cni_path),
        &conf,
    );
    assert!(o.ok, "{} {}", o.stdout, o.stderr);
    assert_eq!(node.wep_count(), 1);
    let o = exec(
        &node.bin.join("calico"),
        &env("DEL", &ns2, &cni_path),
        &conf,
    );
    assert!(o.ok, "{} {}", o.stdout, o.stderr);
    assert_eq!(node.wep_count(), 0);
}

#[test]
fn locked_datastore_is_try_again() {
    if skip_unless_root("locked_datastore_is_try_again")
        || skip_unless_debian_plugins("locked_datastore_is_try_again")
    {
        return;
    }
    let node = Node::new();
    node.with_store(async |ds| {
        ds.create(
            calico_model::ClusterInformation::new(
                calico_model::ObjectMeta::named("default"),
                calico_model::ClusterInformationSpec {
                    datastore_ready: Some(false),
                    ..Default::default()
                },
            )
            .into(),
        )
        .await
        .unwrap();
    });
    let att = Attachment::new(&node, node.conf("1.0.0", node.host_local(7)), "");
    let o = att.add();
    assert_eq!(o.code(), 11, "{} {}", o.stdout, o.stderr);
    assert!(att.netns.ip(&["link", "show", "eth0"]).is_empty());
    assert_eq!(node.wep_count(), 0);
}
