//! nftables backend: programming a large ruleset into a throwaway network namespace.
//!
//! Shape: 2,000 policies × 10 rules (20,000 rules), 500 IP sets × 20 members (10,000
//! members), 100 local workload endpoints with 20 policies each (in 2 tiers).
//!
//! Prints:
//! - full apply (`NftablesDataplane::apply` of the whole state + InSync: render, diff, one
//!   `nft -j -f -` transaction) ÷ `nft -j -f -` of the same rendered document (the floor);
//!   target ≤ 1.3;
//! - one policy change applied incrementally ÷ full apply; target ≤ 0.05;
//! - one IP set delta applied incrementally;
//! - a resync of the unchanged table (list, compare, nothing to send).
//!
//! Needs root (a network namespace). Run: `cargo bench -p calico-benches --bench nft`.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use calico_dataplane::nft::{NftOptions, NftablesDataplane, render};
use calico_dataplane::{Dataplane, DesiredState};
use calico_policy::DataplaneUpdate;
use calico_policy::ir::*;

const POLICIES: usize = 2_000;
const RULES_PER_POLICY: usize = 10;
const SETS: usize = 500;
const MEMBERS_PER_SET: usize = 20;
const ENDPOINTS: usize = 100;
const RUNS: usize = 5;

fn pid(i: usize) -> PolicyId {
    PolicyId {
        kind: PolicyKind::NetworkPolicy,
        namespace: format!("ns{}", i % 10),
        name: format!("policy-{i}"),
    }
}

fn set_id(i: usize) -> IpSetId {
    IpSetId(format!("s:bench-set-{i}"))
}

fn member(set: usize, j: usize) -> IpSetMember {
    // Every other address, so that no two members merge into one interval.
    let n = (set * MEMBERS_PER_SET + j) * 2;
    let s = format!("10.{}.{}.{}/32", 100 + n / 65536, (n / 256) % 256, n % 256);
    IpSetMember::Net(s.parse().expect("valid /32"))
}

fn policy(i: usize, variant: u16) -> Policy {
    let rules = (0..RULES_PER_POLICY)
        .map(|j| Rule {
            action: if j + 1 == RULES_PER_POLICY {
                Action::Deny
            } else {
                Action::Allow
            },
            ip_version: None,
            protocol: Some(6),
            not_protocol: None,
            icmp: None,
            not_icmp: None,
            src: EndpointMatch {
                ip_sets: vec![set_id((i * 7 + j) % SETS)],
                ..Default::default()
            },
            dst: EndpointMatch {
                ports: vec![PortRange {
                    min: 1000 + j as u16 + variant,
                    max: 1000 + j as u16 + variant,
                }],
                ..Default::default()
            },
            http: None,
            id: format!("r{i}-{j}"),
            index: j,
        })
        .collect::<Vec<_>>();
    // Half the rules ingress, half egress.
    let (inbound, outbound) = rules.split_at(RULES_PER_POLICY / 2);
    Policy {
        id: pid(i),
        tier: if i.is_multiple_of(2) {
            "security"
        } else {
            "default"
        }
        .into(),
        inbound_rules: inbound.to_vec(),
        outbound_rules: outbound.to_vec(),
        untracked: false,
        pre_dnat: false,
        apply_on_forward: false,
        selector: "all()".into(),
    }
}

fn state_updates() -> Vec<DataplaneUpdate> {
    let mut u = Vec::new();
    for s in 0..SETS {
        u.push(DataplaneUpdate::IpSetUpdate {
            id: set_id(s),
            set_type: IpSetType::Net,
            members: (0..MEMBERS_PER_SET).map(|j| member(s, j)).collect(),
        });
    }
    for i in 0..POLICIES {
        u.push(DataplaneUpdate::PolicyUpdate(policy(i, 0)));
    }
    u.push(DataplaneUpdate::ProfileUpdate(Profile {
        name: "kns.default".into(),
        inbound_rules: vec![],
        outbound_rules: vec![],
    }));
    for e in 0..ENDPOINTS {
        let mine: Vec<usize> = (0..POLICIES).filter(|i| i % ENDPOINTS == e).collect();
        let tier = |name: &str, parity: usize| {
            let ids: Vec<PolicyId> = mine
                .iter()
                .filter(|i| *i % 2 == parity)
                .map(|i| pid(*i))
                .collect();
            TierInfo {
                name: name.into(),
                default_action: TierDefaultAction::Deny,
                ingress_policies: ids.clone(),
                egress_policies: ids,
            }
        };
        u.push(DataplaneUpdate::WorkloadEndpointUpdate(WorkloadEndpoint {
            id: WorkloadEndpointId {
                namespace: "default".into(),
                name: format!("wep-{e}"),
            },
            interface_name: format!("calib{e:04}"),
            mac: String::new(),
            ipv4_nets: vec![
                format!("10.65.{}.{}/32", e / 250, e % 250 + 1)
                    .parse()
                    .expect("ip"),
            ],
            ipv6_nets: vec![],
            profile_ids: vec!["kns.default".into()],
            tiers: vec![tier("security", 0), tier("default", 1)],
            allow_spoofed_source_prefixes: vec![],
        }));
    }
    u.push(DataplaneUpdate::InSync);
    u
}

struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("calt-bench-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name} failed");
        Netns(name)
    }

    fn options(&self) -> NftOptions {
        NftOptions {
            table: "calico-bench".into(),
            command_prefix: vec!["ip".into(), "netns".into(), "exec".into(), self.0.clone()],
            ..NftOptions::default()
        }
    }

    fn nft(&self, args: &[&str], stdin: Option<&[u8]>) -> bool {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, "nft"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nft");
        if let (Some(mut pipe), Some(data)) = (child.stdin.take(), stdin) {
            pipe.write_all(data).expect("write to nft");
        }
        child.wait().is_ok_and(|s| s.success())
    }

    fn drop_table(&self) {
        let _ = self.nft(&["add", "table", "inet", "calico-bench"], None);
        let _ = self.nft(&["delete", "table", "inet", "calico-bench"], None);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap_or(false);
    if !root {
        eprintln!("SKIP (not root): the nft bench needs root to create a network namespace");
        return;
    }
    // `cargo bench` passes `--bench`; a filter that excludes us skips the run.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with("--") && !"nft".contains(a.as_str()))
    {
        return;
    }
    let ns = Netns::new();
    let updates = state_updates();
    let mut state = DesiredState::default();
    state.apply_all(&updates).expect("consistent updates");
    let opts = ns.options();

    let t = Instant::now();
    let ruleset = render(&state, &opts);
    let render_time = t.elapsed();
    let doc = ruleset.to_json_text().into_bytes();
    println!(
        "nft bench: {} policies, {} rules rendered ({} chains, {} sets, {} set elements), {} endpoints; render {}",
        POLICIES,
        ruleset.rule_count(),
        ruleset.chains.len(),
        ruleset.sets.len(),
        ruleset
            .sets
            .values()
            .map(|s| s.elements.len())
            .sum::<usize>(),
        ENDPOINTS,
        ms(render_time),
    );

    if let Some(path) = std::env::var_os("NFT_BENCH_DUMP") {
        std::fs::write(&path, &doc).expect("write the rendered document");
        println!("wrote the rendered document to {}", path.to_string_lossy());
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut floor = Vec::new();
    let mut full = Vec::new();
    let mut incr_policy = Vec::new();
    let mut incr_set = Vec::new();
    let mut resync = Vec::new();
    for run in 0..RUNS {
        // Floor: nft alone, same document, empty table.
        ns.drop_table();
        let t = Instant::now();
        assert!(
            ns.nft(&["-j", "-f", "-"], Some(&doc)),
            "nft -f of the rendered document failed"
        );
        floor.push(t.elapsed());
        ns.drop_table();

        // Ours: everything from the update stream to the kernel.
        let mut dp = NftablesDataplane::new(opts.clone()).expect("nft works");
        let batch = updates.clone();
        let t = Instant::now();
        rt.block_on(dp.apply(batch)).expect("full apply");
        full.push(t.elapsed());

        // One policy changes.
        let p = policy(run * 13 % POLICIES, 1 + run as u16);
        let t = Instant::now();
        let report = rt
            .block_on(dp.apply(vec![DataplaneUpdate::PolicyUpdate(p)]))
            .expect("incremental apply");
        incr_policy.push(t.elapsed());
        assert_eq!(
            dp.last_transaction().map(|t| t.chains_written.len()),
            Some(2),
            "a policy change rewrote more than its two chains: {report:?}"
        );

        // One IP set member changes.
        let s = run * 31 % SETS;
        let t = Instant::now();
        rt.block_on(dp.apply(vec![DataplaneUpdate::IpSetDelta {
            id: set_id(s),
            added: [IpSetMember::Net("10.200.0.1/32".parse().expect("ip"))].into(),
            removed: BTreeSet::from([member(s, 0)]),
        }]))
        .expect("delta apply");
        incr_set.push(t.elapsed());

        // A resync: list the whole table, compare, nothing to repair.
        let t = Instant::now();
        let report = rt.block_on(dp.resync()).expect("resync");
        resync.push(t.elapsed());
        assert_eq!(
            report.objects_changed, 0,
            "resync found drift in a fresh table"
        );
    }
    let (floor, full) = (median(floor), median(full));
    let (incr_policy, incr_set) = (median(incr_policy), median(incr_set));
    println!("  nft -j -f (floor)        {}", ms(floor));
    println!(
        "  full apply (ours)        {}   ratio {:.2} (target <= 1.3)",
        ms(full),
        full.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "  one policy change        {}   ratio to full {:.3} (target <= 0.05)",
        ms(incr_policy),
        incr_policy.as_secs_f64() / full.as_secs_f64()
    );
    println!("  one IP set delta         {}", ms(incr_set));
    println!("  resync (no drift)        {}", ms(median(resync)));
    println!("  (medians of {RUNS} runs)");
}
