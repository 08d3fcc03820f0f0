//! The `calico` plugin and `calico-ipam` on a real etcd (`datastore_type: etcdv3`).
//! Needs the `etcd` feature and an `etcd` binary.
#![cfg(feature = "etcd")]
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use calico_datastore::testing::EtcdServer;
use calico_model::{IPPool, IPPoolSpec, Kind, ObjectMeta};
use common::*;
use serde_json::json;

#[test]
fn add_del_on_etcd() {
    let test = "add_del_on_etcd";
    if skip_unless_root(test) {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = match rt.block_on(EtcdServer::spawn()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("!!! SKIPPING {test}: cannot start etcd: {e}");
            return;
        }
    };
    let ds = rt
        .block_on(calico_datastore::connect(
            &calico_datastore::DatastoreConfig::Etcd(server.config()),
        ))
        .unwrap();
    rt.block_on(
        ds.create(
            IPPool::new(
                ObjectMeta::named("etcd-pool"),
                IPPoolSpec {
                    cidr: "10.233.160.0/20".into(),
                    block_size: 26,
                    ..IPPoolSpec::default()
                },
            )
            .into(),
        ),
    )
    .unwrap();
    let node = Node::new();
    let mut conf = node.conf("1.0.0", json!({"type": "calico-ipam"}));
    conf["datastore_type"] = json!("etcdv3");
    conf["etcd_endpoints"] = json!(server.endpoint());
    let att = Attachment::new(
        &node,
        conf.clone(),
        "K8S_POD_NAMESPACE=etcd;K8S_POD_NAME=pod-e",
    );
    let add = att.add();
    assert!(add.ok, "ADD: {} {}", add.stdout, add.stderr);
    let ip = first_ip(&add.json);
    assert!(ip.starts_with("10.233.1"), "{ip}");
    assert!(ping(&ip));
    let weps = rt.block_on(ds.list(Kind::WorkloadEndpoint, None)).unwrap();
    assert_eq!(weps.items.len(), 1);
    let mut status = conf.clone();
    status["cniVersion"] = json!("1.1.0");
    let o = exec(
        &node.bin.join("calico"),
        &[("CNI_COMMAND", "STATUS"), ("CNI_PATH", &node.cni_path())],
        &status,
    );
    assert!(o.ok, "STATUS: {} {}", o.stdout, o.stderr);
    let del = att.del();
    assert!(del.ok, "DEL: {} {}", del.stdout, del.stderr);
    assert_eq!(
        rt.block_on(ds.list(Kind::WorkloadEndpoint, None))
            .unwrap()
            .items
            .len(),
        0
    );
    assert_eq!(
        rt.block_on(ds.list(Kind::IPAMHandle, None))
            .unwrap()
            .items
            .len(),
        0
    );
}
