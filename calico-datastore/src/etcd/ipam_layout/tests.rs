#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::*;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn affinity(t: AffinityType, node: &str, cidr: &str) -> ModelKey {
    ModelKey::Affinity {
        affinity_type: t,
        node: node.into(),
        cidr: net(cidr),
    }
}

/// Decodes a stored model value into the resource the store would see.
fn read(model_key: &ModelKey, value: &str) -> Resource {
    let v3 = decode(model_key, value.as_bytes(), 7).unwrap();
    Resource::from_value(model_key.kind(), &serde_json::from_str(&v3).unwrap()).unwrap()
}

/// Writes a resource as the backend would: its key and value.
fn write(resource: &Resource) -> (ModelKey, Value) {
    let key = ResourceKey::of(resource);
    let (model_key, value) = write_target(&key, &serde_json::to_string(resource).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    (model_key, serde_json::from_str(&value).unwrap())
}

/// The exact bytes a resource is stored as.
fn write_raw(resource: &Resource) -> String {
    write_target(
        &ResourceKey::of(resource),
        &serde_json::to_string(resource).unwrap(),
    )
    .unwrap()
    .1
}

/// A Calico-written value reads back and re-encodes to the same JSON, at the same key.
fn assert_round_trip(path: &str, value: Value) -> Resource {
    let model_key = ModelKey::parse(path).unwrap_or_else(|| panic!("{path} parses"));
    assert_eq!(model_key.path(), path);
    let resource = read(&model_key, &value.to_string());
    assert_eq!(resource.name(), model_key.name());
    let (written_key, written) = write(&resource);
    assert_eq!(written_key, model_key);
    assert_eq!(written, value, "re-encoded value differs");
    resource
}

#[test]
fn block_keys_round_trip() {
    for (cidr, path, name) in [
        (
            "10.244.1.0/26",
            "/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26",
            "10-244-1-0-26",
        ),
        (
            "fd00:10::/122",
            "/calico/ipam/v2/assignment/ipv6/block/fd00:10::-122",
            "fd00-10---122",
        ),
        (
            "2001:db8:0:1:2:3:4:0/122",
            "/calico/ipam/v2/assignment/ipv6/block/2001:db8:0:1:2:3:4:0-122",
            "2001-db8-0-1-2-3-4-0-122",
        ),
        (
            "::/122",
            "/calico/ipam/v2/assignment/ipv6/block/::-122",
            "---122",
        ),
    ] {
        let key = ModelKey::Block(net(cidr));
        assert_eq!(key.path(), path);
        assert_eq!(key.name(), name);
        assert_eq!(ModelKey::parse(path), Some(key.clone()));
        assert_eq!(parse_block_name(name), Some(net(cidr)), "{name}");
        assert_eq!(
            candidates(&ResourceKey::new(Kind::IPAMBlock, "", name)),
            vec![key]
        );
    }
}

#[test]
fn block_names_must_be_canonical() {
    for name in [
        "10-244-1-1-26",          // host bits
        "10-244-1-0-33",          // bad length
        "010-244-1-0-26",         // not canonical
        "10-244-1-26",            // four parts: read as IPv6, which it is not
        "fd00-0-0-0-0-0-0-0-122", // canonical is fd00::
        "fd00-10--122",
        "",
        "x",
    ] {
        assert_eq!(parse_block_name(name), None, "{name}");
    }
}

#[test]
fn affinity_keys_round_trip() {
    for (key, path, name) in [
        (
            affinity(AffinityType::Host, "node-1", "10.244.1.0/26"),
            "/calico/ipam/v2/host/node-1/ipv4/block/10.244.1.0-26",
            "node-1-10-244-1-0-26",
        ),
        (
            affinity(AffinityType::Virtual, "load-balancer", "10.96.0.0/26"),
            "/calico/ipam/v2/virtual/load-balancer/ipv4/block/10.96.0.0-26",
            "load-balancer-10-96-0-0-26",
        ),
        (
            affinity(
                AffinityType::Host,
                "worker-a-2.example.com",
                "fd00:10::/122",
            ),
            "/calico/ipam/v2/host/worker-a-2.example.com/ipv6/block/fd00:10::-122",
            "worker-a-2.example.com-fd00-10---122",
        ),
    ] {
        assert_eq!(key.path(), path);
        assert_eq!(key.name(), name);
        assert_eq!(ModelKey::parse(path), Some(key.clone()));
        // Resolving the name considers this key among its candidates.
        let found = candidates(&ResourceKey::new(Kind::BlockAffinity, "", name));
        assert!(found.contains(&key), "{name}: {found:?}");
        assert!(found.iter().all(|c| c.name() == name), "{found:?}");
    }
}

#[test]
fn affinity_name_candidates_longest_node_first() {
    let found = candidates(&ResourceKey::new(
        Kind::BlockAffinity,
        "",
        "node-fd00-10---122",
    ));
    // `node-fd00` + `10::/122` and `node` + `fd00:10::/122` are both valid readings.
    assert_eq!(
        found,
        vec![
            affinity(AffinityType::Host, "node-fd00", "10::/122"),
            affinity(AffinityType::Virtual, "node-fd00", "10::/122"),
            affinity(AffinityType::Host, "node", "fd00:10::/122"),
            affinity(AffinityType::Virtual, "node", "fd00:10::/122"),
        ]
    );
    let v4 = candidates(&ResourceKey::new(
        Kind::BlockAffinity,
        "",
        "a-b-c-10-0-0-0-26",
    ));
    assert_eq!(
        v4,
        vec![
            affinity(AffinityType::Host, "a-b-c", "10.0.0.0/26"),
            affinity(AffinityType::Virtual, "a-b-c", "10.0.0.0/26"),
        ]
    );
    for name in ["10-0-0-0-26", "-10-0-0-0-26", "node", ""] {
        assert!(
            candidates(&ResourceKey::new(Kind::BlockAffinity, "", name)).is_empty(),
            "{name}"
        );
    }
}

#[test]
fn handle_and_config_keys() {
    let h = ModelKey::Handle("k8s-pod-network.4F1C".into());
    assert_eq!(h.path(), "/calico/ipam/v2/handle/k8s-pod-network.4F1C");
    assert_eq!(h.name(), "k8s-pod-network.4f1c");
    assert_eq!(ModelKey::parse(&h.path()), Some(h));
    assert_eq!(
        candidates(&ResourceKey::new(
            Kind::IPAMHandle,
            "",
            "k8s-pod-network.4f1c"
        )),
        vec![ModelKey::Handle("k8s-pod-network.4f1c".into())]
    );
    // Upper case never names a handle.
    assert!(candidates(&ResourceKey::new(Kind::IPAMHandle, "", "A")).is_empty());
    assert_eq!(ModelKey::Config.path(), "/calico/ipam/v2/config");
    assert_eq!(
        ModelKey::parse("/calico/ipam/v2/config"),
        Some(ModelKey::Config)
    );
    assert_eq!(ModelKey::Config.name(), "default");
    assert!(candidates(&ResourceKey::new(Kind::IPAMConfiguration, "", "other")).is_empty());
    assert!(candidates(&ResourceKey::new(Kind::IPPool, "", "default")).is_empty());
}

#[test]
fn foreign_ipam_keys_do_not_parse() {
    for path in [
        "/calico/ipam/v2/host/node-1",
        "/calico/ipam/v2/host/node-1/ipv4",
        "/calico/ipam/v2/host/node-1/ipv4/block",
        "/calico/ipam/v2/host/node-1/ipv4/block/10.0.0.1-26",
        "/calico/ipam/v2/host/node-1/ipv6/block/10.0.0.0-26",
        "/calico/ipam/v2/hosts/node-1/ipv4/block/10.0.0.0-26",
        "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0/26",
        "/calico/ipam/v2/assignment/ipv4/block/",
        "/calico/ipam/v2/handle/",
        "/calico/ipam/v2/handle/a/b",
        "/calico/ipam/v2/configx",
        "/calico/ipam/v2/",
        "/calico/resources/v3/projectcalico.org/ipamblocks/10-0-0-0-26",
    ] {
        assert_eq!(ModelKey::parse(path), None, "{path}");
    }
}

#[test]
fn ranges_hold_their_keys_and_skip_the_rest() {
    let inside = |layout: EtcdLayout, path: &str| {
        let (start, end) = layout.range().unwrap();
        path.as_bytes() >= start.as_bytes() && path.as_bytes() < end.as_slice()
    };
    let aff = EtcdLayout::Affinity;
    assert!(inside(aff, "/calico/ipam/v2/host/n/ipv4/block/10.0.0.0-26"));
    assert!(inside(
        aff,
        "/calico/ipam/v2/virtual/n/ipv4/block/10.0.0.0-26"
    ));
    assert!(!inside(aff, "/calico/ipam/v2/handle/h"));
    assert!(!inside(aff, "/calico/ipam/v2/config"));
    assert!(!inside(
        aff,
        "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26"
    ));
    assert!(inside(EtcdLayout::Config, "/calico/ipam/v2/config"));
    assert!(!inside(EtcdLayout::Config, "/calico/ipam/v2/config/x"));
    assert!(inside(
        EtcdLayout::Block,
        "/calico/ipam/v2/assignment/ipv6/block/fd00::-122"
    ));
    assert!(inside(EtcdLayout::Handle, "/calico/ipam/v2/handle/h"));
    assert_eq!(EtcdLayout::Resource.range(), None);
}

/// The block of the spec notes (§1.3), as Calico writes it.
fn calico_block() -> Value {
    json!({
        "cidr": "10.9.0.0/30",
        "affinity": "host:node-1",
        "affinity_claim_time": "2026-08-01T10:00:00Z",
        "allocations": [0, null, 1, null],
        "unallocated": [3, 1],
        "attributes": [
            {
                "handle_id": "k8s-pod-network.4f1c0a",
                "secondary": {
                    "namespace": "default",
                    "node": "node-1",
                    "pod": "web-0",
                    "timestamp": "2026-08-01 10:00:02 +0000 UTC"
                }
            },
            {"releasedAt": "2026-08-01T10:05:00Z"}
        ],
        "sequenceNumber": 1_785_578_400_000_000_007_u64,
        "sequenceNumberForAllocation": {"0": 1_785_578_400_000_000_001_u64, "2": 1_785_578_400_000_000_006_u64},
        "deleted": false
    })
}

#[test]
fn calico_block_value_round_trips() {
    let r = assert_round_trip(
        "/calico/ipam/v2/assignment/ipv4/block/10.9.0.0-30",
        calico_block(),
    );
    let Resource::IPAMBlock(b) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(b.metadata.name, "10-9-0-0-30");
    assert_eq!(
        b.spec.affinity_claim_time.as_deref(),
        Some("2026-08-01T10:00:00Z")
    );
    assert_eq!(b.spec.sequence_number, 1_785_578_400_000_000_007);
    assert_eq!(b.spec.allocations, vec![Some(0), None, Some(1), None]);
    assert_eq!(
        b.spec.attributes[0].active_owner_attrs["pod"],
        "web-0".to_owned()
    );
    assert_eq!(
        b.spec.attributes[1].released_at.as_deref(),
        Some("2026-08-01T10:05:00Z")
    );
    // The v3 form uses the CRD's camelCase claim time.
    let v3 = r.to_value();
    assert_eq!(v3["spec"]["affinityClaimTime"], "2026-08-01T10:00:00Z");
    assert!(v3["metadata"].get("creationTimestamp").is_none());
    assert_eq!(v3["metadata"]["uid"].as_str().unwrap().len(), 36);
}

#[test]
fn unaffine_v6_block_writes_null_affinity() {
    let value = json!({
        "cidr": "fd00:10::/122",
        "affinity": null,
        "allocations": [null, null],
        "unallocated": [0, 1],
        "attributes": [],
        "sequenceNumber": 5,
        "sequenceNumberForAllocation": {},
        "deleted": false
    });
    let r = assert_round_trip(
        "/calico/ipam/v2/assignment/ipv6/block/fd00:10::-122",
        value.clone(),
    );
    assert_eq!(r.name(), "fd00-10---122");
    // The exact bytes, in Go's field order.
    assert_eq!(
        write_raw(&r),
        r#"{"cidr":"fd00:10::/122","affinity":null,"allocations":[null,null],"unallocated":[0,1],"attributes":[],"sequenceNumber":5,"sequenceNumberForAllocation":{},"deleted":false}"#
    );
}

#[test]
fn go_nulls_and_legacy_fields_read() {
    // Go writes nil slices and maps as null, old attributes with null members, and very old
    // blocks carry `hostAffinity` instead of `affinity`.
    let value = json!({
        "cidr": "10.0.0.0/31",
        "affinity": null,
        "hostAffinity": "old-node",
        "allocations": [0, null],
        "unallocated": null,
        "attributes": [{"handle_id": null, "secondary": null}],
        "sequenceNumber": 0,
        "sequenceNumberForAllocation": null,
        "deleted": false,
        "someFutureField": 1
    });
    let r = read(&ModelKey::Block(net("10.0.0.0/31")), &value.to_string());
    let Resource::IPAMBlock(b) = r else { panic!() };
    assert_eq!(b.spec.affinity.as_deref(), Some("host:old-node"));
    assert!(b.spec.unallocated.is_empty());
    assert_eq!(b.spec.attributes, vec![AllocationAttribute::default()]);
}

#[test]
fn calico_affinity_values_round_trip() {
    let r = assert_round_trip(
        "/calico/ipam/v2/host/node-a-1/ipv4/block/10.244.1.0-26",
        json!({"state": "confirmed", "deleted": false}),
    );
    let Resource::BlockAffinity(a) = &r else {
        panic!()
    };
    assert_eq!(a.metadata.name, "node-a-1-10-244-1-0-26");
    assert_eq!(
        (
            a.spec.node.as_str(),
            a.spec.cidr.as_str(),
            a.spec.type_.as_str()
        ),
        ("node-a-1", "10.244.1.0/26", "host")
    );
    assert_eq!(a.spec.state, BlockAffinityState::Confirmed);
    let r = assert_round_trip(
        "/calico/ipam/v2/virtual/load-balancer/ipv6/block/fd00:10::-122",
        json!({"state": "pending", "deleted": false}),
    );
    let Resource::BlockAffinity(a) = &r else {
        panic!()
    };
    assert_eq!(a.spec.type_, "virtual");
    assert_eq!(a.spec.state, BlockAffinityState::Pending);
    // Very old data: an empty value, or no state.
    let key = affinity(AffinityType::Host, "n", "10.0.0.0/26");
    for old in ["", "{}", "{\"deleted\":false}"] {
        let Resource::BlockAffinity(a) = read(&key, old) else {
            panic!()
        };
        assert_eq!(a.spec.state, BlockAffinityState::Unset, "{old:?}");
    }
    let (_, v) = write(&read(&key, ""));
    assert_eq!(v, json!({"state": "", "deleted": false}));
}

#[test]
fn affinity_writes_take_the_key_from_the_spec() {
    let mk = |node: &str, cidr: &str, t: &str, name: &str| -> Resource {
        BlockAffinity::new(
            ObjectMeta::named(name),
            BlockAffinitySpec {
                state: BlockAffinityState::Confirmed,
                node: node.into(),
                type_: t.into(),
                cidr: cidr.into(),
                deleted: false,
            },
        )
        .into()
    };
    let host = mk("node-1", "10.0.0.0/26", "", "node-1-10-0-0-0-26");
    let (k, _) = write(&host);
    assert_eq!(
        k.path(),
        "/calico/ipam/v2/host/node-1/ipv4/block/10.0.0.0-26"
    );
    assert_eq!(write_raw(&host), r#"{"state":"confirmed","deleted":false}"#);
    let (k, _) = write(&mk("lb", "10.0.0.0/26", "virtual", "lb-10-0-0-0-26"));
    assert_eq!(
        k.path(),
        "/calico/ipam/v2/virtual/lb/ipv4/block/10.0.0.0-26"
    );
    // A name the spec does not imply, or a non-canonical CIDR, is refused.
    for (r, field) in [
        (
            mk("node-2", "10.0.0.0/26", "", "node-1-10-0-0-0-26"),
            "metadata.name",
        ),
        (
            mk("node-1", "10.0.0.1/26", "", "node-1-10-0-0-0-26"),
            "spec.cidr",
        ),
    ] {
        let err =
            write_target(&ResourceKey::of(&r), &serde_json::to_string(&r).unwrap()).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { errors, .. } if errors.problems[0].path == field),
            "{err:?}"
        );
    }
}

#[test]
fn calico_handle_value_round_trips() {
    let r = assert_round_trip(
        "/calico/ipam/v2/handle/k8s-pod-network.4F1C0A",
        json!({"block": {"10.244.1.0/26": 1, "fd00:10::/122": 2}, "deleted": false}),
    );
    let Resource::IPAMHandle(h) = &r else {
        panic!()
    };
    assert_eq!(h.metadata.name, "k8s-pod-network.4f1c0a");
    assert_eq!(h.spec.handle_id, "k8s-pod-network.4F1C0A");
    assert_eq!(h.spec.block["fd00:10::/122"], 2);
    let Resource::IPAMHandle(h) = read(
        &ModelKey::Handle("h".into()),
        r#"{"block":null,"deleted":false}"#,
    ) else {
        panic!()
    };
    assert!(h.spec.block.is_empty());
}

#[test]
fn calico_config_values_round_trip() {
    let r = assert_round_trip(
        "/calico/ipam/v2/config",
        json!({
            "strict_affinity": true,
            "auto_allocate_blocks": true,
            "maxBlocksPerHost": 16,
            "ipCooldownSeconds": 300,
            "kubeVirtVMAddressPersistence": "Disabled"
        }),
    );
    let Resource::IPAMConfiguration(c) = &r else {
        panic!()
    };
    assert_eq!(c.metadata.name, "default");
    assert!(c.spec.strict_affinity);
    assert_eq!(c.spec.max_blocks_per_host, 16);
    assert_eq!(c.spec.ip_cooldown_seconds, Some(300));
    assert_eq!(
        c.spec.kube_virt_vm_address_persistence,
        Some(VMAddressPersistence::Disabled)
    );
    // Zero ints are omitted; the two bools are always written.
    assert_round_trip(
        "/calico/ipam/v2/config",
        json!({"strict_affinity": false, "auto_allocate_blocks": true}),
    );
    // Go omits false bools: an absent auto_allocate_blocks is false, not the default.
    let Resource::IPAMConfiguration(c) = read(&ModelKey::Config, r#"{"strict_affinity":true}"#)
    else {
        panic!()
    };
    assert_eq!(c.spec.auto_allocate_blocks, Some(false));
    // The v3 default (autoAllocateBlocks unset = true) is written out.
    let raw = write_raw(
        &IPAMConfiguration::new(
            ObjectMeta::named("default"),
            IPAMConfigurationSpec::default(),
        )
        .into(),
    );
    assert_eq!(
        raw,
        r#"{"strict_affinity":false,"auto_allocate_blocks":true}"#
    );
}

#[test]
fn metadata_that_cannot_be_stored_is_refused() {
    let mut r: Resource = IPAMConfiguration::new(
        ObjectMeta::named("default"),
        IPAMConfigurationSpec::default(),
    )
    .into();
    r.metadata_mut().labels.insert("a".into(), "b".into());
    let err = write_target(&ResourceKey::of(&r), &serde_json::to_string(&r).unwrap()).unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { errors, .. } if errors.problems[0].path == "metadata.labels"),
        "{err:?}"
    );
}

#[test]
fn bad_values_report_why() {
    let err = decode(&ModelKey::Config, b"{\"strict_affinity\":\"yes\"}", 1).unwrap_err();
    assert!(err.contains("IPAMConfiguration"), "{err}");
    assert!(decode(&ModelKey::Handle("h".into()), b"not json", 1).is_err());
}

#[test]
fn uids_are_stable_per_incarnation() {
    let a = derived_uid("/calico/ipam/v2/config", 5);
    assert_eq!(a, derived_uid("/calico/ipam/v2/config", 5));
    assert_ne!(a, derived_uid("/calico/ipam/v2/config", 6));
    assert_ne!(a, derived_uid("/calico/ipam/v2/handle/x", 5));
    assert_eq!(a.len(), 36);
}
