//! Incremental updates touch only what changed; resync repairs drift; transactions are
//! atomic (a concurrent reader never sees a half-written chain; a refused transaction
//! changes nothing and names the failing object).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a panic is a test failure

mod nft_common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use calico_dataplane::nft::render::policy_chain;
use calico_dataplane::nft::{NftablesDataplane, render};
use calico_dataplane::{Dataplane, Error};
use calico_policy::DataplaneUpdate;
use calico_policy::ir::*;
use nft_common::*;
use serde_json::Value;

const TABLE: &str = "calico-test";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// (verb, object kind) of every command of the last transaction.
fn verbs(dp: &NftablesDataplane) -> BTreeSet<(String, String)> {
    dp.last_transaction()
        .unwrap()
        .commands()
        .iter()
        .map(|c| {
            let (verb, body) = c.as_object().unwrap().iter().next().unwrap();
            let kind = body.as_object().unwrap().keys().next().unwrap();
            (verb.clone(), kind.clone())
        })
        .collect()
}

fn set_elements(ns: &Netns, name: &str) -> BTreeSet<String> {
    let listing = ns.list_table(TABLE);
    listing["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("set"))
        .find(|s| s["name"] == name)
        .and_then(|s| s.get("elem"))
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|e| e.to_string()).collect())
        .unwrap_or_default()
}

fn chain_comments(listing: &Value, chain: &str) -> Vec<String> {
    listing["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| r["chain"] == chain)
        .map(|r| r["comment"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_set_delta_sends_only_element_changes_and_a_policy_change_only_its_chain() {
    if !root_or_skip("a_set_delta_sends_only_element_changes") {
        return;
    }
    let ns = Netns::new("incr");
    rt().block_on(async {
        let mut dp = NftablesDataplane::new(ns.nft_options()).unwrap();
        dp.apply(representative()).await.unwrap();
        let set4 = calico_dataplane::nft::render::set_name(
            &IpSetId("s:web".into()),
            IpSetType::Net,
            IpVersion::V4,
        );
        assert_eq!(
            set_elements(&ns, &set4),
            [r#"{"prefix":{"addr":"10.65.0.0","len":23}}"#.to_owned()].into()
        );

        // One delta: only element deletes and adds.
        let report = dp
            .apply(vec![DataplaneUpdate::IpSetDelta {
                id: IpSetId("s:web".into()),
                added: [IpSetMember::Net(net("10.80.0.1/32"))].into(),
                removed: [IpSetMember::Net(net("10.65.1.0/24"))].into(),
            }])
            .await
            .unwrap();
        assert_eq!(
            verbs(&dp),
            [
                ("add".to_owned(), "element".to_owned()),
                ("delete".to_owned(), "element".to_owned())
            ]
            .into(),
            "{:#?}",
            dp.last_transaction()
        );
        let tx = dp.last_transaction().unwrap();
        assert!(tx.chains_written.is_empty());
        assert_eq!((tx.elements_added, tx.elements_deleted), (2, 1));
        assert_eq!(report.objects_changed, 3);
        assert_eq!(
            set_elements(&ns, &set4),
            [
                r#"{"prefix":{"addr":"10.65.0.0","len":24}}"#.to_owned(),
                r#""10.80.0.1""#.to_owned()
            ]
            .into()
        );

        // One policy change: only that policy's ingress chain is flushed and refilled.
        let mut p = dp.state().policies[&pid("allow-web")].clone();
        p.inbound_rules
            .push(rule(Action::Allow, |r| r.protocol = Some(17)));
        dp.apply(vec![DataplaneUpdate::PolicyUpdate(p)])
            .await
            .unwrap();
        let chain = policy_chain(&pid("allow-web"), Direction::Ingress);
        let tx = dp.last_transaction().unwrap();
        assert_eq!(tx.chains_written, vec![chain.clone()]);
        assert_eq!(
            verbs(&dp),
            [
                ("flush".to_owned(), "chain".to_owned()),
                ("add".to_owned(), "rule".to_owned())
            ]
            .into()
        );
        for c in &tx.commands() {
            let body = c.as_object().unwrap().values().next().unwrap();
            let obj = body.as_object().unwrap().values().next().unwrap();
            let target = obj.get("chain").or_else(|| obj.get("name")).unwrap();
            assert_eq!(target, &Value::String(chain.clone()));
        }
        let listing = ns.list_table(TABLE);
        assert_eq!(
            chain_comments(&listing, &chain).len(),
            dp.ruleset().chains[&chain].rules.len()
        );

        // Removing the endpoint, its policies, profile and sets deletes their objects.
        let mut batch = vec![
            DataplaneUpdate::HostEndpointRemove("node1-eth0".into()),
            DataplaneUpdate::HostEndpointRemove("node1-all".into()),
        ];
        for (ns_name, name) in [
            ("default", "node1-k8s-a-eth0"),
            ("default", "node1-k8s-b-eth0"),
        ] {
            batch.push(DataplaneUpdate::WorkloadEndpointRemove(
                WorkloadEndpointId {
                    namespace: ns_name.into(),
                    name: name.into(),
                },
            ));
        }
        batch.push(DataplaneUpdate::ProfileRemove("kns.default".into()));
        for p in ["security", "allow-web", "host-untracked"] {
            batch.push(DataplaneUpdate::PolicyRemove(pid(p)));
        }
        batch.push(DataplaneUpdate::IpSetRemove(IpSetId("s:web".into())));
        batch.push(DataplaneUpdate::IpSetRemove(IpSetId("n:http".into())));
        dp.apply(batch).await.unwrap();
        let listing = ns.list_table(TABLE);
        let names: BTreeSet<String> = listing["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o.get("chain").or_else(|| o.get("set")))
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        let want: BTreeSet<String> = dp
            .ruleset()
            .chains
            .keys()
            .chain(dp.ruleset().sets.keys().filter(|s| !s.ends_with("-map")))
            .cloned()
            .collect();
        assert_eq!(names, want);
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with("cali-pi-") || n.starts_with("cali4"))
        );
    });
}

#[test]
fn resync_repairs_a_deleted_rule_a_lost_element_and_removes_a_stray_chain() {
    if !root_or_skip("resync_repairs_drift") {
        return;
    }
    let ns = Netns::new("rsync");
    rt().block_on(async {
        let mut dp = NftablesDataplane::new(ns.nft_options()).unwrap();
        dp.apply(representative()).await.unwrap();
        let before = ns.list_table(TABLE);
        let chain = "cali-tw-calia";
        let handle = before["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o.get("rule"))
            .find(|r| r["chain"] == chain)
            .map(|r| r["handle"].to_string())
            .unwrap();
        ns.nft(&["delete", "rule", "inet", TABLE, chain, "handle", &handle]);
        ns.nft(&["add", "chain", "inet", TABLE, "stray-chain"]);
        ns.nft(&["add", "rule", "inet", TABLE, "stray-chain", "drop"]);
        ns.nft(&[
            "add",
            "set",
            "inet",
            TABLE,
            "stray-set",
            "{ type ipv4_addr; }",
        ]);
        let set4 = calico_dataplane::nft::render::set_name(
            &IpSetId("s:web".into()),
            IpSetType::Net,
            IpVersion::V4,
        );
        ns.nft(&["flush", "set", "inet", TABLE, &set4]);
        assert_ne!(
            chain_comments(&ns.list_table(TABLE), chain),
            chain_comments(&before, chain)
        );

        let report = dp.resync().await.unwrap();
        let tx = dp.last_transaction().unwrap();
        assert_eq!(tx.chains_written, vec![chain.to_owned()], "{tx:#?}");
        assert_eq!(tx.chains_deleted, vec!["stray-chain".to_owned()]);
        assert_eq!(tx.sets_deleted, vec!["stray-set".to_owned()]);
        assert_eq!(tx.elements_added, 1);
        assert_eq!(report.objects_changed, 4);

        let after = ns.list_table(TABLE);
        assert_eq!(
            chain_comments(&after, chain),
            chain_comments(&before, chain)
        );
        assert_eq!(set_elements(&ns, &set4).len(), 1);
        let count = |l: &Value, kind: &str| {
            l["nftables"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o.get(kind).is_some())
                .count()
        };
        for kind in ["chain", "rule", "set", "map"] {
            assert_eq!(count(&after, kind), count(&before, kind), "{kind}");
        }
        // Nothing left to repair.
        assert_eq!(dp.resync().await.unwrap().objects_changed, 0);
    });
}

#[test]
fn a_concurrent_reader_never_sees_a_half_written_chain() {
    if !root_or_skip("a_concurrent_reader_never_sees_a_half_written_chain") {
        return;
    }
    let ns = Netns::new("atom");
    rt().block_on(async {
        let mut dp = NftablesDataplane::new(ns.nft_options()).unwrap();
        let updates = representative();
        dp.apply(updates).await.unwrap();
        let chain = policy_chain(&pid("allow-web"), Direction::Ingress);
        let version = |n: u16| {
            let mut p = dp.state().policies[&pid("allow-web")].clone();
            p.inbound_rules = (0..(20 + n))
                .map(|i| {
                    rule(Action::Allow, |r| {
                        r.protocol = Some(6);
                        r.dst.ports = vec![PortRange {
                            min: 1000 + i + 100 * n,
                            max: 1000 + i + 100 * n,
                        }];
                    })
                })
                .collect();
            p
        };
        let (a, b) = (version(0), version(1));
        let expected = |p: &Policy| {
            let mut state = dp.state().clone();
            state.policies.insert(p.id.clone(), p.clone());
            render(&state, dp.options()).chains[&chain]
                .rules
                .iter()
                .map(|r| r.comment())
                .collect::<Vec<_>>()
        };
        let (want_a, want_b) = (expected(&a), expected(&b));
        dp.apply(vec![DataplaneUpdate::PolicyUpdate(a.clone())])
            .await
            .unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let stop = stop.clone();
            let ns_name = ns.name.clone();
            let chain = chain.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let out = std::process::Command::new("ip")
                        .args([
                            "netns", "exec", &ns_name, "nft", "-j", "list", "chain", "inet", TABLE,
                            &chain,
                        ])
                        .output()
                        .unwrap();
                    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                    seen.push(chain_comments(&v, &chain));
                }
                seen
            })
        };
        for i in 0..20 {
            let p = if i % 2 == 0 { b.clone() } else { a.clone() };
            dp.apply(vec![DataplaneUpdate::PolicyUpdate(p)])
                .await
                .unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let seen = reader.join().unwrap();
        assert!(!seen.is_empty());
        for s in &seen {
            assert!(
                *s == want_a || *s == want_b,
                "a reader saw {} rules, neither version ({} / {})",
                s.len(),
                want_a.len(),
                want_b.len()
            );
        }
    });
}

#[test]
fn a_refused_transaction_changes_nothing_and_names_the_failing_object() {
    if !root_or_skip("a_refused_transaction_changes_nothing") {
        return;
    }
    let ns = Netns::new("fail");
    rt().block_on(async {
        let mut dp = NftablesDataplane::new(ns.nft_options()).unwrap();
        dp.apply(representative()).await.unwrap();
        let before = ns.list_table(TABLE);
        // An interface name longer than the kernel's IFNAMSIZ cannot be a map key.
        let bad = workload("bad", "cali0123456789abcdefghijklmnop", "10.65.0.9", vec![]);
        let mut p = dp.state().policies[&pid("allow-web")].clone();
        p.inbound_rules.push(rule(Action::Deny, |_| {}));
        let err = dp
            .apply(vec![
                DataplaneUpdate::PolicyUpdate(p),
                DataplaneUpdate::WorkloadEndpointUpdate(bad),
            ])
            .await
            .unwrap_err();
        match &err {
            Error::Kernel { tool, object, .. } => {
                assert_eq!(*tool, "nft");
                assert!(
                    object.contains("cali0123456789abcdefghijklmnop"),
                    "failing object not named: {err}"
                );
            }
            other => panic!("expected a kernel error, got {other}"),
        }
        let after = ns.list_table(TABLE);
        let strip = |v: &Value| -> Vec<Value> {
            v["nftables"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o.get("metainfo").is_none())
                .cloned()
                .collect()
        };
        assert_eq!(
            strip(&after),
            strip(&before),
            "a refused transaction changed the table"
        );
        // Once the bad endpoint is gone the next apply programs the rest.
        dp.apply(vec![DataplaneUpdate::WorkloadEndpointRemove(
            WorkloadEndpointId {
                namespace: "default".into(),
                name: "bad".into(),
            },
        )])
        .await
        .unwrap();
        assert_eq!(dp.resync().await.unwrap().objects_changed, 0);
    });
}

#[test]
fn a_restarted_backend_adopts_the_table_and_a_config_change_rewrites_only_what_it_affects() {
    if !root_or_skip("a_restarted_backend_adopts_the_table") {
        return;
    }
    let ns = Netns::new("rest");
    rt().block_on(async {
        let mut first = NftablesDataplane::new(ns.nft_options()).unwrap();
        first.apply(representative()).await.unwrap();
        let before = ns.list_table(TABLE);
        drop(first);

        // A new process with the same state: the first in-sync apply lists the table, finds
        // it identical and sends nothing (no window where rules are missing).
        let mut second = NftablesDataplane::new(ns.nft_options()).unwrap();
        let report = second.apply(representative()).await.unwrap();
        assert!(report.in_sync);
        assert_eq!(report.objects_changed, 0, "{:?}", second.last_transaction());
        assert_eq!(
            chain_comments(&ns.list_table(TABLE), "filter-FORWARD"),
            chain_comments(&before, "filter-FORWARD")
        );

        // defaultEndpointToHostAction Accept -> Drop rewrites the workload-to-host chain only.
        second
            .apply(vec![DataplaneUpdate::ConfigUpdate(serde_json::json!({
                "defaultEndpointToHostAction": "Drop"
            }))])
            .await
            .unwrap();
        assert_eq!(
            second.last_transaction().unwrap().chains_written,
            vec!["cali-wl-to-host".to_owned()]
        );
        // New failsafe ports rewrite the host endpoint chains that carry them.
        second
            .apply(vec![DataplaneUpdate::ConfigUpdate(serde_json::json!({
                "failsafeInboundHostPorts": [{"protocol": "TCP", "port": 2222}]
            }))])
            .await
            .unwrap();
        let written: BTreeSet<String> = second
            .last_transaction()
            .unwrap()
            .chains_written
            .iter()
            .cloned()
            .collect();
        // The Drop from the previous update was replaced by the default (Drop) too, so only
        // the inbound failsafe carriers change.
        assert_eq!(
            written,
            [
                "cali-fh-any",
                "cali-fh-eth0",
                "cali-pre-fh-any",
                "cali-pre-fh-eth0",
                "cali-raw-fh-any",
                "cali-raw-fh-eth0"
            ]
            .map(String::from)
            .into()
        );
        assert_eq!(second.options().failsafe_inbound.len(), 1);
    });
}
