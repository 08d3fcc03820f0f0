//! The IPAM kinds in Calico's etcd "model" layout (`/calico/ipam/v2/…`, bare values): what
//! the store writes is what libcalico-go's etcd backend writes, and what it writes reads
//! back here (get by name, list, watch).
#![cfg(all(feature = "etcd", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use calico_datastore::etcd::etcd_client::{Client, GetOptions};
use calico_datastore::{Datastore, Error, WatchEvent, WatchEventType, WatchStream};
use calico_model::sync::ResourceKey;
use calico_model::{
    AllocationAttribute, BlockAffinity, BlockAffinitySpec, BlockAffinityState, IPAMBlock,
    IPAMBlockSpec, IPAMConfiguration, IPAMConfigurationSpec, IPAMHandle, IPAMHandleSpec, Kind,
    ObjectMeta, Resource,
};
mod common;
use common::{raw_get, setup};
use futures::StreamExt;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

async fn raw_put(raw: &Client, key: &str, value: &Value) -> String {
    let put = raw
        .kv_client()
        .put(key, value.to_string(), None)
        .await
        .unwrap();
    put.header().unwrap().revision().to_string()
}

async fn all_keys(raw: &Client) -> Vec<String> {
    let all = raw
        .kv_client()
        .get("", Some(GetOptions::new().with_all_keys().with_keys_only()))
        .await
        .unwrap();
    all.kvs()
        .iter()
        .map(|kv| kv.key_str().unwrap().to_owned())
        .collect()
}

async fn next_event(watch: &mut WatchStream) -> WatchEvent {
    tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("an event in time")
        .expect("the watch goes on")
        .expect("no error")
}

fn block(cidr: &str) -> Resource {
    let net: calico_model::ipnet::IpNet = cidr.parse().unwrap();
    IPAMBlock::new(
        ObjectMeta::named(calico_model::ipam_block_name(&net)),
        IPAMBlockSpec {
            cidr: cidr.into(),
            affinity: Some("host:node-a-1".into()),
            affinity_claim_time: Some("2026-08-01T10:00:00Z".into()),
            allocations: vec![Some(0), None, None, None],
            unallocated: vec![1, 2, 3],
            attributes: vec![AllocationAttribute {
                handle_id: Some("k8s-pod-network.abc".into()),
                active_owner_attrs: BTreeMap::from([("node".into(), "node-a-1".into())]),
                ..Default::default()
            }],
            sequence_number: 1_785_578_400_000_000_007,
            sequence_number_for_allocation: BTreeMap::from([(
                "0".into(),
                1_785_578_400_000_000_001,
            )]),
            ..Default::default()
        },
    )
    .into()
}

fn affinity(node: &str, cidr: &str, type_: &str) -> Resource {
    let net: calico_model::ipnet::IpNet = cidr.parse().unwrap();
    BlockAffinity::new(
        ObjectMeta::named(calico_model::block_affinity_name(node, &net)),
        BlockAffinitySpec {
            state: BlockAffinityState::Confirmed,
            node: node.into(),
            type_: type_.into(),
            cidr: cidr.into(),
            deleted: false,
        },
    )
    .into()
}

fn spec_of(r: &Resource) -> Value {
    r.to_value()["spec"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_land_in_calicos_ipam_layout() {
    let (_server, store, raw) = setup().await;

    // IPv4 block.
    let b4 = store.create(block("10.244.1.0/30")).await.unwrap();
    let (value, rev) = raw_get(&raw, "/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-30")
        .await
        .expect("the block is at Calico's key");
    assert_eq!(b4.metadata().resource_version, rev.to_string());
    assert_eq!(
        value,
        json!({
            "cidr": "10.244.1.0/30",
            "affinity": "host:node-a-1",
            "affinity_claim_time": "2026-08-01T10:00:00Z",
            "allocations": [0, null, null, null],
            "unallocated": [1, 2, 3],
            "attributes": [{"handle_id": "k8s-pod-network.abc", "secondary": {"node": "node-a-1"}}],
            "sequenceNumber": 1_785_578_400_000_000_007_u64,
            "sequenceNumberForAllocation": {"0": 1_785_578_400_000_000_001_u64},
            "deleted": false
        })
    );
    // IPv6 block without affinity: `affinity` is null, as Go writes a nil *string.
    let mut v6 = block("fd00:10::/122");
    if let Resource::IPAMBlock(b) = &mut v6 {
        b.spec.affinity = None;
        b.spec.affinity_claim_time = None;
    }
    let v6 = store.create(v6).await.unwrap();
    assert_eq!(v6.name(), "fd00-10---122");
    let (value, _) = raw_get(&raw, "/calico/ipam/v2/assignment/ipv6/block/fd00:10::-122")
        .await
        .expect("the v6 block is at Calico's key");
    assert_eq!(value["affinity"], Value::Null);
    assert!(value.get("affinity_claim_time").is_none(), "{value}");

    // Affinities: a node name with dashes, and a virtual one.
    let a = store
        .create(affinity("node-a-1", "10.244.1.0/30", "host"))
        .await
        .unwrap();
    assert_eq!(a.name(), "node-a-1-10-244-1-0-30");
    let (value, _) = raw_get(
        &raw,
        "/calico/ipam/v2/host/node-a-1/ipv4/block/10.244.1.0-30",
    )
    .await
    .expect("host affinity");
    assert_eq!(value, json!({"state": "confirmed", "deleted": false}));
    store
        .create(affinity("load-balancer", "fd00:10::/122", "virtual"))
        .await
        .unwrap();
    let (value, _) = raw_get(
        &raw,
        "/calico/ipam/v2/virtual/load-balancer/ipv6/block/fd00:10::-122",
    )
    .await
    .expect("virtual affinity");
    assert_eq!(value, json!({"state": "confirmed", "deleted": false}));

    // Handle and configuration.
    let handle: Resource = IPAMHandle::new(
        ObjectMeta::named("k8s-pod-network.abc"),
        IPAMHandleSpec {
            handle_id: "k8s-pod-network.abc".into(),
            block: BTreeMap::from([("10.244.1.0/30".into(), 1)]),
            deleted: false,
        },
    )
    .into();
    store.create(handle).await.unwrap();
    let (value, _) = raw_get(&raw, "/calico/ipam/v2/handle/k8s-pod-network.abc")
        .await
        .expect("handle");
    assert_eq!(
        value,
        json!({"block": {"10.244.1.0/30": 1}, "deleted": false})
    );
    let config: Resource = IPAMConfiguration::new(
        ObjectMeta::named("default"),
        IPAMConfigurationSpec {
            strict_affinity: true,
            max_blocks_per_host: 4,
            ..Default::default()
        },
    )
    .into();
    let config = store.create(config).await.unwrap();
    let (value, _) = raw_get(&raw, "/calico/ipam/v2/config")
        .await
        .expect("config");
    assert_eq!(
        value,
        json!({"strict_affinity": true, "auto_allocate_blocks": true, "maxBlocksPerHost": 4})
    );

    // Nothing else was written, and no v3 keys.
    let mut keys = all_keys(&raw).await;
    keys.sort();
    assert_eq!(
        keys,
        [
            "/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-30",
            "/calico/ipam/v2/assignment/ipv6/block/fd00:10::-122",
            "/calico/ipam/v2/config",
            "/calico/ipam/v2/handle/k8s-pod-network.abc",
            "/calico/ipam/v2/host/node-a-1/ipv4/block/10.244.1.0-30",
            "/calico/ipam/v2/virtual/load-balancer/ipv6/block/fd00:10::-122",
        ]
    );

    // Everything reads back by name with the spec written.
    for written in [&b4, &v6, &a, &config] {
        let got = store.get(&ResourceKey::of(written)).await.unwrap();
        assert_eq!(spec_of(&got), spec_of(written), "{}", written.name());
        assert_eq!(
            got.metadata().resource_version,
            written.metadata().resource_version
        );
        assert_eq!(got.metadata().uid.len(), 36);
    }
    let h = store
        .get(&ResourceKey::new(
            Kind::IPAMHandle,
            "",
            "k8s-pod-network.abc",
        ))
        .await
        .unwrap();
    assert_eq!(spec_of(&h)["handleID"], "k8s-pod-network.abc");

    // Compare-and-swap update and delete work on the model keys.
    let mut changed = b4.clone();
    if let Resource::IPAMBlock(b) = &mut changed {
        b.spec.sequence_number += 1;
    }
    let updated = store.update(changed).await.unwrap();
    assert!(matches!(
        store.update(b4.clone()).await,
        Err(Error::Conflict { .. })
    ));
    let (value, rev) = raw_get(&raw, "/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-30")
        .await
        .unwrap();
    assert_eq!(updated.metadata().resource_version, rev.to_string());
    assert_eq!(value["sequenceNumber"], 1_785_578_400_000_000_008_u64);
    let gone = store
        .delete(
            &ResourceKey::of(&a),
            Some(a.metadata().resource_version.as_str()),
        )
        .await
        .unwrap();
    assert_eq!(spec_of(&gone), spec_of(&a));
    assert!(
        raw_get(
            &raw,
            "/calico/ipam/v2/host/node-a-1/ipv4/block/10.244.1.0-30"
        )
        .await
        .is_none()
    );
    assert!(matches!(
        store.get(&ResourceKey::of(&a)).await,
        Err(Error::NotFound { .. })
    ));

    // Labels cannot be stored in the model layout.
    let mut labelled = affinity("node-b", "10.244.2.0/26", "host");
    labelled
        .metadata_mut()
        .labels
        .insert("projectcalico.org/affinity-type".into(), "host".into());
    match store.create(labelled).await {
        Err(Error::Invalid { errors, .. }) => {
            assert_eq!(errors.problems[0].path, "metadata.labels")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_written_by_calico_read_back() {
    let (_server, store, raw) = setup().await;
    // Legacy and foreign keys under the prefix are never mistaken for IPAM objects.
    raw.kv_client()
        .put("/calico/ipam/v2/host/node-a-1", "", None)
        .await
        .unwrap();

    let lists_at_start: Vec<String> = {
        let mut revs = Vec::new();
        for kind in [Kind::IPAMBlock, Kind::BlockAffinity, Kind::IPAMHandle] {
            let l = store.list(kind, None).await.unwrap();
            assert!(l.items.is_empty() && l.undecodable.is_empty(), "{kind}");
            revs.push(l.revision);
        }
        revs
    };
    let mut block_watch = store
        .watch(Kind::IPAMBlock, &lists_at_start[0])
        .await
        .unwrap();
    let mut affinity_watch = store
        .watch(Kind::BlockAffinity, &lists_at_start[1])
        .await
        .unwrap();
    let mut handle_watch = store
        .watch(Kind::IPAMHandle, &lists_at_start[2])
        .await
        .unwrap();

    let block_value = json!({
        "cidr": "10.9.0.0/30",
        "affinity": "host:node-1",
        "affinity_claim_time": "2026-08-01T10:00:00Z",
        "allocations": [0, null, 1, null],
        "unallocated": [3, 1],
        "attributes": [
            {"handle_id": "k8s-pod-network.4f1c0a",
             "secondary": {"namespace": "default", "node": "node-1", "pod": "web-0",
                           "timestamp": "2026-08-01 10:00:02 +0000 UTC"}},
            {"releasedAt": "2026-08-01T10:05:00Z"}
        ],
        "sequenceNumber": 1_785_578_400_000_000_007_u64,
        "sequenceNumberForAllocation": {"0": 1_785_578_400_000_000_001_u64, "2": 1_785_578_400_000_000_006_u64},
        "deleted": false
    });
    let rev = raw_put(
        &raw,
        "/calico/ipam/v2/assignment/ipv4/block/10.9.0.0-30",
        &block_value,
    )
    .await;
    raw_put(
        &raw,
        "/calico/ipam/v2/assignment/ipv6/block/fd00:10::-122",
        &json!({"cidr": "fd00:10::/122", "affinity": null, "allocations": [null],
                "unallocated": [0], "attributes": null, "sequenceNumber": 1,
                "sequenceNumberForAllocation": null, "deleted": false}),
    )
    .await;
    raw_put(
        &raw,
        "/calico/ipam/v2/host/node-a-1/ipv4/block/10.9.0.0-30",
        &json!({"state": "confirmed", "deleted": false}),
    )
    .await;
    raw_put(
        &raw,
        "/calico/ipam/v2/virtual/load-balancer/ipv6/block/fd00:10::-122",
        &json!({"state": "pending", "deleted": false}),
    )
    .await;
    raw_put(
        &raw,
        "/calico/ipam/v2/handle/k8s-pod-network.4f1c0a",
        &json!({"block": {"10.9.0.0/30": 1}, "deleted": false}),
    )
    .await;
    raw_put(
        &raw,
        "/calico/ipam/v2/config",
        &json!({"strict_affinity": true, "auto_allocate_blocks": true, "ipCooldownSeconds": 60}),
    )
    .await;

    // Get by name.
    let b = store
        .get(&ResourceKey::new(Kind::IPAMBlock, "", "10-9-0-0-30"))
        .await
        .unwrap();
    assert_eq!(b.metadata().resource_version, rev);
    let Resource::IPAMBlock(blk) = &b else {
        panic!("{b:?}")
    };
    assert_eq!(
        blk.spec.affinity_claim_time.as_deref(),
        Some("2026-08-01T10:00:00Z")
    );
    assert_eq!(blk.spec.sequence_number, 1_785_578_400_000_000_007);
    let a = store
        .get(&ResourceKey::new(
            Kind::BlockAffinity,
            "",
            "node-a-1-10-9-0-0-30",
        ))
        .await
        .unwrap();
    let Resource::BlockAffinity(aff) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(
        (
            aff.spec.node.as_str(),
            aff.spec.cidr.as_str(),
            aff.spec.type_.as_str()
        ),
        ("node-a-1", "10.9.0.0/30", "host")
    );
    let lb = store
        .get(&ResourceKey::new(
            Kind::BlockAffinity,
            "",
            "load-balancer-fd00-10---122",
        ))
        .await
        .unwrap();
    let Resource::BlockAffinity(lb) = &lb else {
        panic!()
    };
    assert_eq!(
        (lb.spec.type_.as_str(), lb.spec.state),
        ("virtual", BlockAffinityState::Pending)
    );
    let c = store
        .get(&ResourceKey::new(Kind::IPAMConfiguration, "", "default"))
        .await
        .unwrap();
    let Resource::IPAMConfiguration(cfg) = &c else {
        panic!()
    };
    assert!(cfg.spec.strict_affinity);
    assert_eq!(cfg.spec.ip_cooldown_seconds, Some(60));

    // Lists hold exactly the objects of the kind (not the legacy host directory).
    let names = |l: &calico_datastore::ListResult| -> Vec<String> {
        l.items.iter().map(|r| r.name().to_owned()).collect()
    };
    let blocks = store.list(Kind::IPAMBlock, None).await.unwrap();
    assert_eq!(names(&blocks), ["10-9-0-0-30", "fd00-10---122"]);
    let affs = store.list(Kind::BlockAffinity, None).await.unwrap();
    assert_eq!(
        names(&affs),
        ["load-balancer-fd00-10---122", "node-a-1-10-9-0-0-30"]
    );
    assert!(affs.undecodable.is_empty(), "{:?}", affs.undecodable);
    let handles = store.list(Kind::IPAMHandle, None).await.unwrap();
    assert_eq!(names(&handles), ["k8s-pod-network.4f1c0a"]);
    let configs = store.list(Kind::IPAMConfiguration, None).await.unwrap();
    assert_eq!(names(&configs), ["default"]);

    // Watches saw the raw writes as Added events, decoded.
    let ev = next_event(&mut block_watch).await;
    assert_eq!(
        (ev.event_type, ev.key.name.as_str()),
        (WatchEventType::Added, "10-9-0-0-30")
    );
    assert_eq!(spec_of(ev.resource.as_ref().unwrap()), spec_of(&b));
    assert_eq!(next_event(&mut block_watch).await.key.name, "fd00-10---122");
    let ev = next_event(&mut affinity_watch).await;
    assert_eq!(ev.key.name, "node-a-1-10-9-0-0-30");
    assert!(ev.resource.is_some());
    let ev = next_event(&mut affinity_watch).await;
    assert_eq!(ev.key.name, "load-balancer-fd00-10---122");
    let ev = next_event(&mut handle_watch).await;
    assert_eq!(ev.key.name, "k8s-pod-network.4f1c0a");

    // A raw delete is a Deleted event carrying the last value.
    raw.kv_client()
        .delete("/calico/ipam/v2/host/node-a-1/ipv4/block/10.9.0.0-30", None)
        .await
        .unwrap();
    let ev = next_event(&mut affinity_watch).await;
    assert_eq!(ev.event_type, WatchEventType::Deleted);
    assert_eq!(ev.key.name, "node-a-1-10-9-0-0-30");
    assert_eq!(spec_of(ev.resource.as_ref().unwrap()), spec_of(&a));

    // A broken value is reported, not dropped.
    raw.kv_client()
        .put("/calico/ipam/v2/handle/broken", "not json", None)
        .await
        .unwrap();
    let ev = next_event(&mut handle_watch).await;
    assert_eq!(ev.key.name, "broken");
    assert!(ev.resource.is_none() && ev.problem.is_some());
    let handles = store.list(Kind::IPAMHandle, None).await.unwrap();
    assert_eq!(handles.undecodable.len(), 1);
    assert!(
        handles.undecodable[0].reason.contains("IPAMHandle"),
        "{:?}",
        handles.undecodable
    );

    // Calico's objects update in place: the value stays Calico-shaped.
    let mut b2 = b.clone();
    if let Resource::IPAMBlock(blk) = &mut b2 {
        blk.spec.unallocated = vec![3];
        blk.spec.allocations[1] = Some(0);
    }
    store.update(b2).await.unwrap();
    let (value, _) = raw_get(&raw, "/calico/ipam/v2/assignment/ipv4/block/10.9.0.0-30")
        .await
        .unwrap();
    let mut expected = block_value.clone();
    expected["unallocated"] = json!([3]);
    expected["allocations"] = json!([0, 0, 1, null]);
    assert_eq!(value, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_affinity_names_resolve_in_one_read() {
    let (_server, store, raw) = setup().await;
    // `node-fd00-10---122` is node `node` + fd00:10::/122, or node `node-fd00` + 10::/122.
    raw_put(
        &raw,
        "/calico/ipam/v2/host/node/ipv6/block/fd00:10::-122",
        &json!({"state": "confirmed", "deleted": false}),
    )
    .await;
    let name = ResourceKey::new(Kind::BlockAffinity, "", "node-fd00-10---122");
    let got = store.get(&name).await.unwrap();
    let Resource::BlockAffinity(a) = &got else {
        panic!()
    };
    assert_eq!(
        (a.spec.node.as_str(), a.spec.cidr.as_str()),
        ("node", "fd00:10::/122")
    );
    // With both present, the longest node name wins.
    raw_put(
        &raw,
        "/calico/ipam/v2/host/node-fd00/ipv6/block/10::-122",
        &json!({"state": "pending", "deleted": false}),
    )
    .await;
    let got = store.get(&name).await.unwrap();
    let Resource::BlockAffinity(a) = &got else {
        panic!()
    };
    assert_eq!(
        (a.spec.node.as_str(), a.spec.cidr.as_str()),
        ("node-fd00", "10::/122")
    );
    // Delete by name removes that one; the other is found next.
    store.delete(&name, None).await.unwrap();
    assert!(
        raw_get(&raw, "/calico/ipam/v2/host/node-fd00/ipv6/block/10::-122")
            .await
            .is_none()
    );
    let got = store.get(&name).await.unwrap();
    let Resource::BlockAffinity(a) = &got else {
        panic!()
    };
    assert_eq!(a.spec.node, "node");
    store.delete(&name, None).await.unwrap();
    assert!(matches!(
        store.delete(&name, None).await,
        Err(Error::NotFound { .. })
    ));
    // Names that no key can hold are simply not found.
    for (kind, name) in [
        (Kind::BlockAffinity, "no-cidr-here"),
        (Kind::IPAMBlock, "10-0-0-1-26"),
        (Kind::IPAMConfiguration, "other"),
    ] {
        assert!(matches!(
            store.get(&ResourceKey::new(kind, "", name)).await,
            Err(Error::NotFound { .. })
        ));
    }
}
