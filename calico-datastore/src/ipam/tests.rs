#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use calico_model::{
    IPAMConfigurationSpec, IPPool, IPPoolSpec, IPReservation, IPReservationSpec, Kind, Node,
    NodeSpec, ObjectMeta, Resource, WorkloadEndpoint, WorkloadEndpointSpec,
};
use proptest::prelude::*;

use super::*;
use crate::memory::MemoryDatastore;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn store_with_pools(pools: &[(&str, &str, i64)]) -> Arc<dyn Datastore> {
    let ds: Arc<dyn Datastore> = Arc::new(MemoryDatastore::new());
    for (name, cidr, bs) in pools {
        let spec = IPPoolSpec {
            cidr: (*cidr).into(),
            block_size: *bs,
            ..Default::default()
        };
        ds.create(IPPool::new(ObjectMeta::named(*name), spec).into())
            .await
            .unwrap();
    }
    ds
}

fn args(handle: &str, host: &str, n4: usize, n6: usize) -> AutoAssignArgs {
    AutoAssignArgs::new(handle, host, n4, n6)
}

/// Every allocation in the store, as address → handle; panics on a duplicate.
async fn allocations(ipam: &Ipam) -> BTreeMap<IpAddr, String> {
    let mut out = BTreeMap::new();
    for a in ipam.allocations().await.unwrap() {
        assert!(
            out.insert(a.ip, a.handle.clone().unwrap_or_default())
                .is_none(),
            "{} allocated twice",
            a.ip
        );
    }
    out
}

/// The handles' own view: handle → count per block must match the blocks.
async fn assert_handles_consistent(ipam: &Ipam) {
    let allocs = allocations(ipam).await;
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for h in allocs.values() {
        *counts.entry(h.clone()).or_insert(0) += 1;
    }
    let handles = ipam.datastore().list(Kind::IPAMHandle, None).await.unwrap();
    let mut stored: BTreeMap<String, i64> = BTreeMap::new();
    for r in handles.items {
        if let Resource::IPAMHandle(h) = r {
            stored.insert(h.spec.handle_id.clone(), h.spec.block.values().sum());
        }
    }
    assert_eq!(stored, counts, "handle records disagree with the blocks");
}

#[test]
fn assigns_from_an_affine_block_then_claims_more() {
    rt().block_on(async {
        let ds = store_with_pools(&[("p", "10.10.0.0/16", 29)]).await;
        let ipam = Ipam::new(ds.clone());
        let got = ipam
            .auto_assign(&args("h1", "node-a", 10, 0))
            .await
            .unwrap();
        assert_eq!(got.ipv4.len(), 10);
        assert!(got.ipv4.iter().all(|n| n.prefix_len() == 29));
        // Two /29 blocks claimed for node-a, both confirmed.
        let affs = ipam.list_affinities(Some("node-a")).await.unwrap();
        assert_eq!(affs.len(), 2);
        assert!(affs.iter().all(|a| a.confirmed()));
        let blocks: BTreeSet<_> = got.ipv4.iter().map(|n| n.trunc()).collect();
        assert_eq!(blocks.len(), 2);
        assert_eq!(ipam.ips_by_handle("h1").await.unwrap().len(), 10);
        assert_handles_consistent(&ipam).await;
        assert!(ipam.check().await.unwrap().block_problems.is_empty());
        // Release by handle frees everything, keeps the (empty) affine blocks.
        assert_eq!(ipam.release_by_handle("h1").await.unwrap().len(), 10);
        assert!(allocations(&ipam).await.is_empty());
        assert!(ipam.get_handle("h1").await.unwrap().is_none());
        assert_eq!(ipam.list_blocks().await.unwrap().len(), 2);
        // Missing handle: not an error.
        assert!(ipam.release_by_handle("h1").await.unwrap().is_empty());
    });
}

#[test]
fn dual_stack_is_all_or_nothing() {
    rt().block_on(async {
        let ds =
            store_with_pools(&[("v4", "10.20.0.0/24", 26), ("v6", "fd00:20::/120", 122)]).await;
        let ipam = Ipam::new(ds);
        let got = ipam.auto_assign(&args("h", "n", 1, 1)).await.unwrap();
        assert_eq!(got.ipv4.len(), 1);
        assert_eq!(got.ipv6.len(), 1);
        assert_eq!(got.ipv6[0].prefix_len(), 122);
        // Ask for more IPv6 than exists: the IPv4 address must not stay allocated.
        let err = ipam
            .auto_assign(&args("big", "n", 1, 300))
            .await
            .unwrap_err();
        assert!(
            matches!(err, IpamError::Exhausted { family: 6, .. }),
            "{err}"
        );
        assert!(ipam.ips_by_handle("big").await.unwrap().is_empty());
        assert_eq!(allocations(&ipam).await.len(), 2);
        assert_handles_consistent(&ipam).await;
    });
}

#[test]
fn strict_affinity_and_block_limit() {
    rt().block_on(async {
        // 4 blocks of 4 addresses.
        let ds = store_with_pools(&[("p", "10.30.0.0/28", 30)]).await;
        let ipam = Ipam::new(ds.clone());
        ipam.set_config(IPAMConfigurationSpec {
            strict_affinity: true,
            max_blocks_per_host: 2,
            auto_allocate_blocks: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
        ipam.auto_assign(&args("a", "node-a", 8, 0)).await.unwrap();
        let err = ipam
            .auto_assign(&args("a2", "node-a", 1, 0))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("per host block limit"), "{err}");
        // node-b gets the other two blocks; then the pool is full for everyone.
        ipam.auto_assign(&args("b", "node-b", 8, 0)).await.unwrap();
        let err = ipam
            .auto_assign(&args("c", "node-c", 1, 0))
            .await
            .unwrap_err();
        assert!(matches!(err, IpamError::Exhausted { .. }), "{err}");
        // Without strict affinity node-c borrows a freed address from node-a's block.
        ipam.set_config(IPAMConfigurationSpec::default())
            .await
            .unwrap();
        let freed = ipam.release_by_handle("a").await.unwrap();
        assert_eq!(freed.len(), 8);
        // node-a's blocks stay affine (empty) — node-c may not claim them within a
        // minute, but borrows.
        let got = ipam.auto_assign(&args("c", "node-c", 1, 0)).await.unwrap();
        let info = ipam
            .allocation_of(got.ipv4[0].addr())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.block_affinity.as_deref(), Some("host:node-a"));
        assert_handles_consistent(&ipam).await;
        // Cross-field rules of the configuration.
        let bad = ipam
            .set_config(IPAMConfigurationSpec {
                max_blocks_per_host: 3,
                ..Default::default()
            })
            .await;
        assert!(matches!(bad, Err(IpamError::Invalid(_))));
    });
}

#[test]
fn pool_selection() {
    rt().block_on(async {
        let ds: Arc<dyn Datastore> = Arc::new(MemoryDatastore::new());
        let mk = |name: &str, cidr: &str, f: &dyn Fn(&mut IPPoolSpec)| {
            let mut spec = IPPoolSpec {
                cidr: cidr.into(),
                ..Default::default()
            };
            f(&mut spec);
            IPPool::new(ObjectMeta::named(name), spec)
        };
        for p in [
            mk("a-disabled", "10.1.0.0/24", &|s| s.disabled = true),
            mk("b-rack2", "10.2.0.0/24", &|s| {
                s.node_selector = "rack == '2'".into()
            }),
            mk("c-manual", "10.3.0.0/24", &|s| {
                s.assignment_mode = Some(calico_model::AssignmentMode::Manual)
            }),
            mk("d-tunnel", "10.4.0.0/24", &|s| {
                s.allowed_uses = vec![IPPoolAllowedUse::Tunnel]
            }),
            mk("e-prod", "10.5.0.0/24", &|s| {
                s.namespace_selector = "env == 'prod'".into();
                s.allowed_uses = vec![IPPoolAllowedUse::Workload];
            }),
        ] {
            ds.create(p.into()).await.unwrap();
        }
        let mut node = Node::new(ObjectMeta::named("n2"), NodeSpec::default());
        node.metadata.labels.insert("rack".into(), "2".into());
        ds.create(node.into()).await.unwrap();
        let ipam = Ipam::new(ds);
        let in_net = |n: &IpNet, cidr: &str| cidr.parse::<IpNet>().unwrap().contains(&n.addr());

        // A node without labels only qualifies for e-prod (no namespace given → no filter).
        let got = ipam.auto_assign(&args("x1", "n1", 1, 0)).await.unwrap();
        assert!(in_net(&got.ipv4[0], "10.5.0.0/24"), "{got:?}");
        // With namespace labels that do not match, nothing qualifies.
        let mut a = args("x2", "n1", 1, 0);
        a.namespace_labels = Some(BTreeMap::from([("env".into(), "dev".into())]));
        assert!(matches!(
            ipam.auto_assign(&a).await,
            Err(IpamError::NoQualifiedPool { .. })
        ));
        // The rack-2 node qualifies for b (first by name order).
        let got = ipam.auto_assign(&args("x3", "n2", 1, 0)).await.unwrap();
        assert!(in_net(&got.ipv4[0], "10.2.0.0/24"), "{got:?}");
        // Requested by name: the manual pool, selectors ignored.
        let mut a = args("x4", "n1", 1, 0);
        a.ipv4_pools = vec!["c-manual".into()];
        assert!(in_net(
            &ipam.auto_assign(&a).await.unwrap().ipv4[0],
            "10.3.0.0/24"
        ));
        // Requested by CIDR.
        let mut a = args("x5", "n1", 1, 0);
        a.ipv4_pools = vec!["10.2.0.0/24".into()];
        assert!(in_net(
            &ipam.auto_assign(&a).await.unwrap().ipv4[0],
            "10.2.0.0/24"
        ));
        // A disabled or unknown pool is an error naming it.
        let mut a = args("x6", "n1", 1, 0);
        a.ipv4_pools = vec!["a-disabled".into()];
        let err = ipam.auto_assign(&a).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the given pool (a-disabled) does not exist, or is not enabled"
        );
        // Tunnel use.
        let mut a = args("tunnel", "n1", 1, 0);
        a.intended_use = IPPoolAllowedUse::Tunnel;
        assert!(in_net(
            &ipam.auto_assign(&a).await.unwrap().ipv4[0],
            "10.4.0.0/24"
        ));
    });
}

#[test]
fn reservations_are_never_handed_out() {
    rt().block_on(async {
        let ds = store_with_pools(&[("p", "10.40.0.0/29", 29)]).await;
        let res = IPReservation::new(
            ObjectMeta::named("r"),
            IPReservationSpec {
                reserved_cidrs: vec!["10.40.0.0/30".into(), "10.40.0.5".into()],
            },
        );
        ds.create(res.into()).await.unwrap();
        let ipam = Ipam::new(ds);
        let got = ipam.auto_assign(&args("h", "n", 3, 0)).await.unwrap();
        let ips: Vec<String> = got.ipv4.iter().map(|n| n.addr().to_string()).collect();
        assert_eq!(ips, ["10.40.0.4", "10.40.0.6", "10.40.0.7"]);
        assert!(ipam.auto_assign(&args("h2", "n", 1, 0)).await.is_err());
        let err = ipam
            .assign_ip(&AssignIpArgs {
                ip: "10.40.0.1".parse().unwrap(),
                handle_id: "h3".into(),
                attrs: BTreeMap::new(),
                hostname: "n".into(),
                intended_use: IPPoolAllowedUse::Workload,
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
        let u = ipam.utilization().await.unwrap();
        assert_eq!(
            (u[0].total, u[0].in_use, u[0].reserved, u[0].free()),
            (8, 3, 5, 0)
        );
    });
}

#[test]
fn assign_ip_and_guarded_release() {
    rt().block_on(async {
        let ds = store_with_pools(&[("p", "10.50.0.0/24", 26)]).await;
        let ipam = Ipam::new(ds);
        let ip: IpAddr = "10.50.0.77".parse().unwrap();
        let a = AssignIpArgs {
            ip,
            handle_id: "h1".into(),
            attrs: BTreeMap::from([("node".into(), "n".into())]),
            hostname: "n".into(),
            intended_use: IPPoolAllowedUse::Workload,
        };
        assert_eq!(
            ipam.assign_ip(&a).await.unwrap().to_string(),
            "10.50.0.77/26"
        );
        // Idempotent for the same handle, refused for another.
        ipam.assign_ip(&a).await.unwrap();
        let other = AssignIpArgs {
            handle_id: "h2".into(),
            ..a.clone()
        };
        assert!(matches!(
            ipam.assign_ip(&other).await,
            Err(IpamError::AlreadyAllocated { .. })
        ));
        let out = ipam
            .assign_ip(&AssignIpArgs {
                ip: "192.168.9.9".parse().unwrap(),
                ..a.clone()
            })
            .await;
        assert!(matches!(out, Err(IpamError::NotInPool(_))));
        // The block was claimed for host n.
        assert_eq!(ipam.list_affinities(Some("n")).await.unwrap().len(), 1);

        let info = ipam.allocation_of(ip).await.unwrap().unwrap();
        let seq = info.sequence_number.unwrap();
        // A stale guard does not release.
        let stale = ReleaseOptions {
            address: ip,
            handle_id: Some("h1".into()),
            sequence_number: Some(seq + 1),
        };
        assert_eq!(ipam.release_ips(&[stale]).await.unwrap(), vec![ip]);
        let wrong = ReleaseOptions {
            address: ip,
            handle_id: Some("zzz".into()),
            sequence_number: None,
        };
        assert_eq!(ipam.release_ips(&[wrong]).await.unwrap(), vec![ip]);
        let good = ReleaseOptions {
            address: ip,
            handle_id: Some("h1".into()),
            sequence_number: Some(seq),
        };
        assert!(
            ipam.release_ips(std::slice::from_ref(&good))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(ipam.get_handle("h1").await.unwrap().is_none());
        // Re-allocated to another handle: the old observation must not free it.
        ipam.assign_ip(&other).await.unwrap();
        assert_eq!(ipam.release_ips(&[good]).await.unwrap(), vec![ip]);
        assert_eq!(ipam.ips_by_handle("h2").await.unwrap(), vec![ip]);
    });
}

#[test]
fn check_finds_leaks() {
    rt().block_on(async {
        let ds = store_with_pools(&[("p", "10.60.0.0/24", 28)]).await;
        let ipam = Ipam::new(ds.clone());
        let used = ipam
            .auto_assign(&args("used", "n", 1, 0))
            .await
            .unwrap()
            .ipv4[0];
        let leaked = ipam
            .auto_assign(&args("leaked", "n", 1, 0))
            .await
            .unwrap()
            .ipv4[0];
        let wep = WorkloadEndpoint::new(
            ObjectMeta {
                name: "n-cni-abc-eth0".into(),
                namespace: "default".into(),
                ..Default::default()
            },
            WorkloadEndpointSpec {
                node: "n".into(),
                orchestrator: "cni".into(),
                workload: "abc".into(),
                endpoint: "eth0".into(),
                interface_name: "caliabc".into(),
                ip_networks: vec![format!("{}/32", used.addr()), "10.60.0.200/32".into()],
                ..Default::default()
            },
        );
        ds.create(wep.into()).await.unwrap();
        // A handle with no addresses, and an affinity whose block vanished.
        ipam.adjust_handle("orphan", &"10.60.0.0/28".parse().unwrap(), 1)
            .await
            .unwrap();
        ipam.set_affinity_state(
            "n",
            &"10.60.0.240/28".parse().unwrap(),
            calico_model::BlockAffinityState::Confirmed,
        )
        .await
        .unwrap();
        let r = ipam.check().await.unwrap();
        assert_eq!(r.allocations, 2);
        assert_eq!(r.leaked_allocations.len(), 1);
        assert_eq!(r.leaked_allocations[0].allocation.ip, leaked.addr());
        assert_eq!(r.in_use_not_allocated, vec!["10.60.0.200".to_string()]);
        assert_eq!(r.leaked_handles.len(), 1);
        assert_eq!(r.leaked_handles[0].id, "orphan");
        assert_eq!(
            r.affinities_without_block,
            vec!["n/10.60.0.240/28".to_string()]
        );
        assert!(!r.is_clean());
    });
}

#[test]
fn concurrent_tasks_never_duplicate() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ds = store_with_pools(&[("p", "10.70.0.0/22", 28)]).await;
        let ipam = Ipam::new(ds);
        let mut tasks = Vec::new();
        for t in 0..8 {
            let ipam = ipam.clone();
            tasks.push(tokio::spawn(async move {
                let host = format!("node-{}", t % 3);
                let mut held = Vec::new();
                for i in 0..40 {
                    let h = format!("t{t}-{i}");
                    ipam.auto_assign(&args(&h, &host, 1, 0)).await.unwrap();
                    held.push(h);
                    if i % 3 == 0 {
                        let h = held.remove(fastrand::usize(..held.len()));
                        assert_eq!(ipam.release_by_handle(&h).await.unwrap().len(), 1);
                    }
                }
                held
            }));
        }
        let mut held = BTreeSet::new();
        for t in tasks {
            held.extend(t.await.unwrap());
        }
        let allocs = allocations(&ipam).await;
        let owners: BTreeSet<String> = allocs.values().cloned().collect();
        assert_eq!(owners, held);
        assert_eq!(allocs.len(), held.len());
        assert_handles_consistent(&ipam).await;
        for h in &held {
            ipam.release_by_handle(h).await.unwrap();
        }
        assert!(allocations(&ipam).await.is_empty());
        let r = ipam.check().await.unwrap();
        assert!(r.is_clean(), "{r:?}");
    });
}

#[derive(Debug, Clone)]
enum Op {
    Auto { handle: u8, host: u8, n: usize },
    ReleaseHandle(u8),
    ReleaseOne(u8),
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever sequence of assignments and releases: no address is ever held twice, every
    /// allocation has its handle (and handle counts match), a released handle never comes
    /// back, and the blocks stay structurally sound.
    #[test]
    fn ipam_invariants(ops in proptest::collection::vec(prop_oneof![
        (0u8..6, 0u8..3, 1usize..4).prop_map(|(handle, host, n)| Op::Auto { handle, host, n }),
        (0u8..6).prop_map(Op::ReleaseHandle),
        (0u8..64).prop_map(Op::ReleaseOne),
    ], 1..25)) {
        rt().block_on(async {
            // 64 addresses in /29 blocks: exhaustion and borrowing both happen.
            let ds = store_with_pools(&[("p", "10.80.0.0/26", 29)]).await;
            let ipam = Ipam::new(ds);
            let mut model: BTreeMap<IpAddr, String> = BTreeMap::new();
            let mut released: BTreeSet<String> = BTreeSet::new();
            let mut generation = 0u32;
            for op in ops {
                match op {
                    Op::Auto { handle, host, n } => {
                        generation += 1;
                        let h = format!("h{handle}-{generation}");
                        match ipam.auto_assign(&args(&h, &format!("host{host}"), n, 0)).await {
                            Ok(got) => {
                                assert_eq!(got.ipv4.len(), n);
                                for ip in got.ipv4 {
                                    assert!(model.insert(ip.addr(), h.clone()).is_none(), "{ip} given twice");
                                }
                            }
                            Err(IpamError::Exhausted { .. }) => {
                                assert!(ipam.ips_by_handle(&h).await.unwrap().is_empty());
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    Op::ReleaseHandle(i) => {
                        let victims: BTreeSet<String> = model.values().filter(|h| h.starts_with(&format!("h{i}-"))).cloned().collect();
                        for h in victims {
                            let got: BTreeSet<IpAddr> = ipam.release_by_handle(&h).await.unwrap().into_iter().collect();
                            let want: BTreeSet<IpAddr> = model.iter().filter(|(_, v)| **v == h).map(|(k, _)| *k).collect();
                            assert_eq!(got, want);
                            model.retain(|_, v| *v != h);
                            released.insert(h);
                        }
                    }
                    Op::ReleaseOne(o) => {
                        let ip: IpAddr = format!("10.80.0.{o}").parse().unwrap();
                        let not = ipam.release_ips(&[ReleaseOptions { address: ip, handle_id: None, sequence_number: None }]).await.unwrap();
                        assert_eq!(not.is_empty(), model.remove(&ip).is_some());
                    }
                }
                let actual = allocations(&ipam).await;
                assert_eq!(&actual, &model);
                assert!(actual.values().all(|h| !released.contains(h)), "a released handle came back");
                assert_handles_consistent(&ipam).await;
                let r = ipam.check().await.unwrap();
                assert!(r.block_problems.is_empty() && r.allocations_without_handle.is_empty() && r.leaked_handles.is_empty(), "{r:?}");
            }
        });
    }
}
