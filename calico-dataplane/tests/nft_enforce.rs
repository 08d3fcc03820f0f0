//! Enforcement with real packets: a node namespace with Calico's plumbing (`cali*` veths,
//! /32 and /128 routes, 169.254.1.1 gateway answered by proxy ARP, fe80::1 for IPv6) and two
//! pod namespaces; the nftables backend programs the node; TCP connects and pings (both
//! families) must pass or fail exactly as the policy says, and the reference evaluator must
//! agree on every probe.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a panic is a test failure

mod nft_common;

use std::collections::BTreeSet;

use calico_dataplane::Dataplane;
use calico_dataplane::nft::NftablesDataplane;
use calico_policy::DataplaneUpdate;
use calico_policy::eval::{DataplaneState, Evaluator, Packet};
use calico_policy::ir::*;
use nft_common::*;

async fn apply(dp: &mut NftablesDataplane, eval: &mut DataplaneState, batch: Vec<DataplaneUpdate>) {
    eval.apply_all(&batch).unwrap();
    dp.apply(batch).await.unwrap();
}

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

/// Probes every pair both ways (in parallel) and checks the kernel against the evaluator.
fn check_all(lab: &Lab, eval_state: &DataplaneState, expect_some_allowed: bool) {
    let ev = Evaluator::new(eval_state);
    // (from, to, v6, Some(port) for TCP / None for ping)
    let mut probes = Vec::new();
    for from in 0..2 {
        for to in 0..2 {
            for v6 in [false, true] {
                if from != to {
                    probes.extend(PORTS.iter().map(|p| (from, to, v6, Some(*p))));
                    probes.push((from, to, v6, None));
                }
            }
        }
    }
    let addr = |pod: usize, v6: bool| {
        if v6 {
            lab.v6[pod].clone()
        } else {
            lab.pods[pod].1.clone()
        }
    };
    let results: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = probes
            .iter()
            .map(|&(from, to, v6, port)| {
                let dst = addr(to, v6);
                scope.spawn(move || match port {
                    Some(p) => lab.tcp_to(from, &dst, p),
                    None => lab.ping_to(from, &dst),
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (&(from, to, v6, port), &got) in probes.iter().zip(&results) {
        let (src, dst) = (ip(&addr(from, v6)), ip(&addr(to, v6)));
        let packet = match port {
            Some(p) => Packet::tcp(src, 40000, dst, p),
            None if v6 => Packet::icmp(src, dst, 128, 0),
            None => Packet::icmp(src, dst, 8, 0),
        };
        let want = ev.evaluate(&packet).allowed;
        assert_eq!(
            got, want,
            "{src} -> {dst} {port:?}: kernel {got}, evaluator {want}"
        );
    }
    assert_eq!(results.iter().any(|r| *r), expect_some_allowed);
}

/// Pod `i`'s workload endpoint with both families.
fn dual(name: &str, i: usize, tiers: Vec<TierInfo>) -> WorkloadEndpoint {
    let mut w = workload(
        name,
        &format!("calitest{i}"),
        &format!("10.65.0.{}", i + 1),
        tiers,
    );
    w.ipv6_nets = vec![net(&format!("fd00:65::{}/128", i + 1))];
    w
}

fn allow_8080_from_set() -> Policy {
    policy(
        "allow-8080",
        vec![rule(Action::Allow, |r| {
            r.protocol = Some(6);
            r.src.ip_sets = vec![IpSetId("s:clients".into())];
            r.dst.ports = vec![PortRange {
                min: 8080,
                max: 8080,
            }];
        })],
        vec![],
    )
}

#[test]
fn policy_allows_and_denies_real_packets_as_the_evaluator_says() {
    if !root_or_skip("policy_allows_and_denies_real_packets") {
        return;
    }
    let lab = Lab::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut dp = NftablesDataplane::new(lab.node.nft_options()).unwrap();
        let mut eval = DataplaneState::default();

        // Pod 1 receives TCP 8080 from the clients set (pod 0); everything else to it is
        // dropped at the end of the tier; pod 0 has no ingress policy and a profile without
        // ingress rules, so nothing reaches it.
        let tiers = vec![tier("default", &["allow-8080"], &[])];
        let batch = vec![
            set_update(
                "s:clients",
                &["10.65.0.1/32", "10.65.0.0/30", "fd00:65::1/128"],
            ),
            DataplaneUpdate::PolicyUpdate(allow_8080_from_set()),
            DataplaneUpdate::ProfileUpdate(profile()),
            DataplaneUpdate::WorkloadEndpointUpdate(dual("a", 0, vec![])),
            DataplaneUpdate::WorkloadEndpointUpdate(dual("b", 1, tiers.clone())),
        ];
        // Before InSync nothing is programmed.
        apply(&mut dp, &mut eval, batch).await;
        assert!(
            !lab.node
                .try_exec(&["nft", "list", "table", "inet", "calico-test"]),
            "table exists before InSync"
        );
        apply(&mut dp, &mut eval, vec![DataplaneUpdate::InSync]).await;
        assert!(lab.tcp(0, 1, 8080), "allowed TCP 8080 was dropped");
        assert!(
            lab.tcp_to(0, &lab.v6[1], 8080),
            "allowed IPv6 TCP 8080 was dropped"
        );
        assert!(!lab.tcp_to(0, &lab.v6[1], 9090), "IPv6 TCP 9090 passed");
        assert!(!lab.tcp(0, 1, 9090), "TCP 9090 passed");
        assert!(!lab.ping(0, 1), "ping to pod b passed");
        check_all(&lab, &eval, true);

        // Allow ICMP too: ping now passes (a policy chain rewrite).
        let mut p = allow_8080_from_set();
        p.inbound_rules
            .push(rule(Action::Allow, |r| r.protocol = Some(1)));
        p.inbound_rules
            .push(rule(Action::Allow, |r| r.protocol = Some(58)));
        apply(&mut dp, &mut eval, vec![DataplaneUpdate::PolicyUpdate(p)]).await;
        assert!(lab.ping(0, 1), "ping allowed by the new rule was dropped");
        assert!(
            lab.ping_to(0, &lab.v6[1]),
            "IPv6 ping allowed by the new rule was dropped"
        );
        check_all(&lab, &eval, true);

        // A tier in front: Deny TCP 9090, Pass the clients on to the default tier. The ping
        // still passes only if Pass really continues with the next tier.
        let mut sec = policy(
            "sec",
            vec![
                rule(Action::Deny, |r| {
                    r.protocol = Some(6);
                    r.dst.ports = vec![PortRange {
                        min: 9090,
                        max: 9090,
                    }];
                }),
                rule(Action::Pass, |r| {
                    r.src.ip_sets = vec![IpSetId("s:clients".into())]
                }),
            ],
            vec![],
        );
        sec.tier = "security".into();
        let b = dual(
            "b",
            1,
            vec![tier("security", &["sec"], &[]), tiers[0].clone()],
        );
        apply(
            &mut dp,
            &mut eval,
            vec![
                DataplaneUpdate::PolicyUpdate(sec),
                DataplaneUpdate::WorkloadEndpointUpdate(b),
            ],
        )
        .await;
        assert!(lab.ping(0, 1), "Pass did not continue with the next tier");
        assert!(lab.tcp(0, 1, 8080));
        check_all(&lab, &eval, true);

        // Workload to its own host: defaultEndpointToHostAction (Drop by default, then
        // Accept through a ConfigUpdate). The evaluator only models this for host endpoint
        // addresses, so the kernel is checked on its own here.
        assert!(
            !lab.ping_to(0, "10.99.0.1"),
            "workload reached its host under Drop"
        );
        apply(
            &mut dp,
            &mut eval,
            vec![DataplaneUpdate::ConfigUpdate(serde_json::json!({
                "defaultEndpointToHostAction": "Accept"
            }))],
        )
        .await;
        assert!(
            lab.ping_to(0, "10.99.0.1"),
            "workload could not reach its host under Accept"
        );

        // Take pod a out of the set: its TCP 8080 is now denied (a set element delta).
        apply(
            &mut dp,
            &mut eval,
            vec![DataplaneUpdate::IpSetDelta {
                id: IpSetId("s:clients".into()),
                added: BTreeSet::new(),
                removed: [
                    IpSetMember::Net(net("10.65.0.1/32")),
                    IpSetMember::Net(net("10.65.0.0/30")),
                    IpSetMember::Net(net("fd00:65::1/128")),
                ]
                .into(),
            }],
        )
        .await;
        assert!(
            !lab.tcp(0, 1, 8080),
            "TCP 8080 passed after the set lost pod a"
        );
        // Pod a is no longer passed on by the security tier: nothing reaches pod b, and
        // nothing reaches pod a (no ingress rules).
        assert!(!lab.ping(0, 1), "ping passed the end of the security tier");
        check_all(&lab, &eval, false);

        // Pod b's endpoint goes away: its interface is unknown, so nothing passes to it
        // (fail closed), even though the veth is still there.
        apply(
            &mut dp,
            &mut eval,
            vec![DataplaneUpdate::WorkloadEndpointRemove(
                WorkloadEndpointId {
                    namespace: "default".into(),
                    name: "b".into(),
                },
            )],
        )
        .await;
        assert!(!lab.ping(0, 1), "ping to an unknown cali interface passed");
        assert!(
            !lab.tcp(0, 1, 8080),
            "TCP to an unknown cali interface passed"
        );
    });
}
