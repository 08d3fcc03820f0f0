//! End-to-end tests of `calicoctl ipam`: the built binary against a temporary embedded
//! datastore whose IPAM state the test seeds through `calico_datastore::ipam`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

mod common;
use common::Out;

use calico_datastore::Datastore;
use calico_datastore::embedded::EmbeddedDatastore;
use calico_datastore::ipam::{AssignIpArgs, AutoAssignArgs, Ipam};
use calico_model::{
    ClusterInformation, ClusterInformationSpec, IPAMHandle, IPAMHandleSpec, IPPool,
    IPPoolAllowedUse, IPPoolSpec, ObjectMeta, WorkloadEndpoint, WorkloadEndpointSpec,
};

/// A scratch embedded datastore; removed on drop.
struct Ctl {
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Ctl {
    fn new() -> Self {
        Ctl {
            dir: common::scratch_dir(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("datastore.db")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn store(&self) -> Arc<dyn Datastore> {
        Arc::new(EmbeddedDatastore::open(self.db()).expect("open store"))
    }

    /// Runs `f` on IPAM over this test's store.
    fn ipam<T>(&self, f: impl AsyncFnOnce(Ipam) -> T) -> T {
        let ipam = Ipam::new(self.store());
        self.rt.block_on(f(ipam))
    }

    fn run(&self, args: &[&str]) -> Out {
        let db = self.db().display().to_string();
        common::calicoctl(
            &[
                ("DATASTORE_TYPE", "embedded"),
                ("CALICO_DATASTORE_PATH", &db),
            ],
            args,
            None,
        )
    }

    /// Creates pool `10.0.0.0/24` (blocks of /26).
    fn pool(&self) {
        self.ipam(async |ipam| {
            let pool = IPPool::new(
                ObjectMeta::named("pool-a"),
                IPPoolSpec {
                    cidr: "10.0.0.0/24".into(),
                    ..Default::default()
                },
            );
            ipam.datastore().create(pool.into()).await.expect("pool");
        });
    }

    /// Allocates one address for pod `pod` on `node` (handle `h-<pod>`).
    fn allocate(&self, node: &str, pod: &str) -> IpAddr {
        self.ipam(async |ipam| {
            let mut args = AutoAssignArgs::new(&format!("h-{pod}"), node, 1, 0);
            args.attrs = attrs(node, pod);
            ipam.auto_assign(&args).await.expect("assign").ipv4[0].addr()
        })
    }

    /// Allocates `ip` for pod `pod` on `node` (handle `h-<pod>`).
    fn allocate_ip(&self, ip: IpAddr, node: &str, pod: &str) {
        self.ipam(async |ipam| {
            ipam.assign_ip(&AssignIpArgs {
                ip,
                handle_id: format!("h-{pod}"),
                attrs: attrs(node, pod),
                hostname: node.into(),
                intended_use: IPPoolAllowedUse::Workload,
            })
            .await
            .expect("assign ip");
        });
    }

    /// A WorkloadEndpoint for pod `pod` using `ip`.
    fn endpoint(&self, node: &str, pod: &str, ip: IpAddr) {
        self.ipam(async |ipam| {
            let wep = WorkloadEndpoint::new(
                ObjectMeta {
                    name: format!(
                        "{}-k8s-{}-eth0",
                        node.replace('-', "--"),
                        pod.replace('-', "--")
                    ),
                    namespace: "default".into(),
                    ..Default::default()
                },
                WorkloadEndpointSpec {
                    node: node.into(),
                    orchestrator: "k8s".into(),
                    pod: pod.into(),
                    endpoint: "eth0".into(),
                    interface_name: format!("cali{pod}"),
                    ip_networks: vec![format!("{ip}/32")],
                    ..Default::default()
                },
            );
            ipam.datastore().create(wep.into()).await.expect("wep");
        });
    }
}

fn attrs(node: &str, pod: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("node".into(), node.into()),
        ("pod".into(), pod.into()),
        ("namespace".into(), "default".into()),
    ])
}

/// The cells of the table row whose first cells are `first`.
#[track_caller]
fn row(out: &Out, first: &[&str]) -> Vec<String> {
    for line in out.stdout.lines() {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect();
        if cells.len() >= first.len() && cells.iter().zip(first).all(|(c, f)| c == f) {
            return cells;
        }
    }
    panic!("no row starting {first:?} in:\n{}", out.stdout);
}

#[test]
fn ipam_show_prints_pool_and_block_usage() {
    let ctl = Ctl::new();
    ctl.pool();
    let ips: Vec<IpAddr> = ["p1", "p2", "p3"]
        .iter()
        .map(|p| ctl.allocate("node-a", p))
        .collect();

    let out = ctl.run(&["ipam", "show"]).ok();
    assert_eq!(
        out.stdout
            .lines()
            .nth(1)
            .map(str::split_whitespace)
            .map(Iterator::collect::<Vec<_>>),
        Some(vec![
            "|", "GROUPING", "|", "CIDR", "|", "IPS", "TOTAL", "|", "IPS", "IN", "USE", "|", "IPS",
            "FREE", "|"
        ]),
        "{}",
        out.stdout
    );
    assert_eq!(
        row(&out, &["IP Pool"]),
        ["IP Pool", "10.0.0.0/24", "256", "3 (1%)", "253 (99%)"]
    );
    assert!(!out.stdout.contains("Block"), "{}", out.stdout);

    let out = ctl.run(&["ipam", "show", "--show-blocks"]).ok();
    // The block is whichever /26 of the pool node-a claimed; it holds the three addresses.
    let b = row(&out, &["Block"]);
    let block: ipnet::IpNet = b[1].parse().expect("block CIDR");
    assert_eq!(block.prefix_len(), 26);
    assert!(ips.iter().all(|ip| block.contains(ip)), "{b:?} {ips:?}");
    assert_eq!(b[2..], ["64", "3 (5%)", "61 (95%)"]);
    row(&out, &["IP Pool", "10.0.0.0/24"]);
}

#[test]
fn ipam_show_ip_borrowed_and_configuration() {
    let ctl = Ctl::new();
    ctl.pool();
    let a = ctl.allocate("node-a", "web");

    let out = ctl.run(&["ipam", "show", &format!("--ip={a}")]).ok();
    out.has_line(&format!("IP {a} is in use"))
        .has_line("Handle ID: h-web")
        .has_line("Active Owner Attributes:")
        .has_line("  namespace: default")
        .has_line("  node: node-a")
        .has_line("  pod: web");

    let out = ctl.run(&["ipam", "show", "--ip", "10.0.0.250"]).ok();
    assert_eq!(out.stdout, "IP 10.0.0.250 is not assigned\n");

    // node-b borrows an address from node-a's block (strict affinity is off).
    let IpAddr::V4(v4) = a else { unreachable!() };
    let borrowed = IpAddr::from(std::net::Ipv4Addr::from(u32::from(v4) + 10));
    ctl.allocate_ip(borrowed, "node-b", "db");
    let out = ctl.run(&["ipam", "show", "--show-borrowed"]).ok();
    let header = row(&out, &["IP"]);
    assert_eq!(
        header,
        [
            "IP",
            "BORROWING-NODE",
            "BLOCK",
            "BLOCK OWNER",
            "TYPE",
            "ALLOCATED-TO"
        ]
    );
    let r = row(&out, &[&borrowed.to_string()]);
    assert_eq!(r[1], "node-b");
    assert!(r[2].ends_with("/26"), "{r:?}");
    assert_eq!(r[3..], ["node-a", "pod", "default/db"]);
    assert!(!out.stdout.contains(&format!("| {a} ")), "{}", out.stdout);

    let out = ctl.run(&["ipam", "show", "--show-configuration"]).ok();
    assert_eq!(row(&out, &["PROPERTY"]), ["PROPERTY", "VALUE"]);
    assert_eq!(row(&out, &["StrictAffinity"]), ["StrictAffinity", "false"]);
    assert_eq!(
        row(&out, &["AutoAllocateBlocks"]),
        ["AutoAllocateBlocks", "true"]
    );
    assert_eq!(row(&out, &["MaxBlocksPerHost"]), ["MaxBlocksPerHost", "0"]);
}

#[test]
fn ipam_check_reports_leaks_and_release_from_report_frees_exactly_them() {
    let ctl = Ctl::new();
    ctl.pool();
    let used = ctl.allocate("node-a", "used");
    ctl.endpoint("node-a", "used", used);
    let leaked = ctl.allocate("node-a", "gone");
    let reused = ctl.allocate("node-a", "old");
    // A handle record with no addresses.
    ctl.ipam(async |ipam| {
        let h = IPAMHandle::new(
            ObjectMeta::named("orphan"),
            IPAMHandleSpec {
                handle_id: "orphan".into(),
                ..Default::default()
            },
        );
        ipam.datastore().create(h.into()).await.expect("handle");
    });

    // Unlocked, a release from a report is refused and changes nothing.
    let early = ctl.path("early.json");
    ctl.run(&["ipam", "check", "-o", &early]).ok();
    let out = ctl
        .run(&["ipam", "release", "--from-report", &early])
        .fails();
    assert_eq!(
        out.stderr,
        "the datastore is not locked. Run the `calicoctl datastore migrate lock` command in order to release unused IPs\n"
    );
    ctl.run(&["ipam", "show", &format!("--ip={leaked}")])
        .ok()
        .has_line(&format!("IP {leaked} is in use"));

    // calicoctl's workflow: lock (no CNI ADDs race the release), check, release, unlock.
    ctl.run(&["datastore", "migrate", "lock"]).ok();
    let report = ctl.path("report.json");
    let out = ctl
        .run(&["ipam", "check", "--show-problem-ips", "-o", &report])
        .ok();
    out.has_line("Checking IPAM for inconsistencies...")
        .has_line("Found 1 IPAM blocks.")
        .has_line("Found 3 IP allocations.")
        .has_line("Found 2 leaked IP allocations.")
        .has_line("Found 1 leaked IPAM handles.")
        .has_line("Check complete; found 3 problems.");
    assert!(
        out.stdout.contains(&format!("  {leaked} leaked (")),
        "{}",
        out.stdout
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(json["clusterGUID"].as_str().map(str::len), Some(32));
    assert_eq!(json["datastoreLocked"], true);
    assert!(json["version"].as_str().is_some_and(|v| v.starts_with('v')));
    let entry = &json["allocations"][leaked.to_string()][0];
    assert_eq!(entry["ip"], leaked.to_string());
    assert_eq!(entry["handle"], "h-gone");
    assert_eq!(entry["pod"], "gone");
    assert_eq!(entry["namespace"], "default");
    assert_eq!(entry["node"], "node-a");
    assert_eq!(entry["inUse"], false);
    assert!(entry["sequenceNumber"].is_u64(), "{entry}");
    assert_eq!(json["allocations"][used.to_string()][0]["inUse"], true);
    assert_eq!(json["leakedHandles"][0]["id"], "orphan");
    assert!(json["leakedHandles"][0]["revision"].is_string());

    // After the report, `reused` is released and allocated again (to another pod): the
    // report's handle and sequence number no longer match it.
    ctl.run(&["ipam", "release", &format!("--ip={reused}")])
        .ok()
        .has_line(&format!("Successfully released IP address {reused}"));
    ctl.allocate_ip(reused, "node-a", "new");

    let out = ctl.run(&["ipam", "release", "--from-report", &report]).ok();
    out.has_line("Releasing 2 old IPs...")
        .has_line("Released 1 IPs successfully")
        .has_line("1 addresses marked as leaked in the report had already been cleaned up.")
        .has_line("Deleting 1 handles...")
        .has_line("Released 1 handles; 0 skipped; 0 errors.");

    ctl.run(&["ipam", "show", &format!("--ip={leaked}")])
        .ok()
        .has_line(&format!("IP {leaked} is not assigned"));
    ctl.run(&["ipam", "show", &format!("--ip={reused}")])
        .ok()
        .has_line("Handle ID: h-new");
    ctl.run(&["ipam", "show", &format!("--ip={used}")])
        .ok()
        .has_line("Handle ID: h-used");
    let out = ctl.run(&["ipam", "check"]).ok();
    out.has_line("Found 2 IP allocations.")
        .has_line("Found 1 leaked IP allocations.") // h-new has no endpoint
        .has_line("Found 0 leaked IPAM handles.");

    // Releasing an address that is not allocated is an error.
    let out = ctl
        .run(&["ipam", "release", &format!("--ip={leaked}")])
        .fails();
    assert_eq!(out.stderr, format!("IP address {leaked} is not assigned\n"));
}

#[test]
fn release_from_reports_intersects_and_checks_the_cluster() {
    let ctl = Ctl::new();
    ctl.pool();
    ctl.ipam(async |ipam| {
        let ci = ClusterInformation::new(
            ObjectMeta::named("default"),
            ClusterInformationSpec {
                cluster_guid: "guid-1".into(),
                ..Default::default()
            },
        );
        ipam.datastore()
            .create(ci.into())
            .await
            .expect("cluster info");
    });
    ctl.run(&["datastore", "migrate", "lock"]).ok();
    let first = ctl.allocate("node-a", "first");
    let r1 = ctl.path("r1.json");
    ctl.run(&["ipam", "check", "-o", &r1]).ok();
    let second = ctl.allocate("node-a", "second");
    let r2 = ctl.path("r2.json");
    ctl.run(&["ipam", "check", "-o", &r2]).ok();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&r2).expect("report")).expect("json");
    assert_eq!(json["clusterGUID"], "guid-1");

    // A report from another cluster is refused unless --force.
    let other = ctl.path("other.json");
    std::fs::write(
        &other,
        std::fs::read_to_string(&r1)
            .expect("r1")
            .replace("guid-1", "guid-2"),
    )
    .expect("write");
    let out = ctl
        .run(&["ipam", "release", "--from-report", &other])
        .fails();
    assert!(
        out.stderr
            .contains("mismatched cluster GUID. Refusing to release"),
        "{out:#?}"
    );
    ctl.run(&["ipam", "show", &format!("--ip={first}")])
        .ok()
        .has_line(&format!("IP {first} is in use"));

    // Two reports: only what both call leaked (`first`) is released.
    ctl.run(&[
        "ipam",
        "release",
        "--from-report",
        &r1,
        "--from-report",
        &r2,
    ])
    .ok()
    .has_line("Releasing 1 old IPs...")
    .has_line("Released 1 IPs successfully")
    .has_line("Report didn't contain any handles to clean up.");
    ctl.run(&["ipam", "show", &format!("--ip={first}")])
        .ok()
        .has_line(&format!("IP {first} is not assigned"));
    ctl.run(&["ipam", "show", &format!("--ip={second}")])
        .ok()
        .has_line(&format!("IP {second} is in use"));

    let out = ctl
        .run(&["ipam", "release", "--from-report", &other, "--force"])
        .ok();
    assert!(out.stdout.starts_with("WARNING: "), "{out:#?}");
}

#[test]
fn ipam_configure_round_trip_and_cross_field_errors() {
    let ctl = Ctl::new();
    ctl.run(&[
        "ipam",
        "configure",
        "--strictaffinity=true",
        "--max-blocks-per-host=4",
    ])
    .ok();
    let out = ctl.run(&["ipam", "show", "--show-configuration"]).ok();
    assert_eq!(row(&out, &["StrictAffinity"]), ["StrictAffinity", "true"]);
    assert_eq!(row(&out, &["MaxBlocksPerHost"]), ["MaxBlocksPerHost", "4"]);

    // maxBlocksPerHost needs strict affinity: refused, nothing changes.
    let out = ctl
        .run(&["ipam", "configure", "--strictaffinity=false"])
        .fails();
    assert_eq!(
        out.stderr,
        "invalid IPAM configuration: maxBlocksPerHost requires strictAffinity true\n"
    );
    let out = ctl.run(&["ipam", "show", "--show-configuration"]).ok();
    assert_eq!(row(&out, &["StrictAffinity"]), ["StrictAffinity", "true"]);

    ctl.run(&[
        "ipam",
        "configure",
        "--strictaffinity=false",
        "--max-blocks-per-host=0",
    ])
    .ok();
    let out = ctl.run(&["ipam", "show", "--show-configuration"]).ok();
    assert_eq!(row(&out, &["StrictAffinity"]), ["StrictAffinity", "false"]);
    assert_eq!(row(&out, &["MaxBlocksPerHost"]), ["MaxBlocksPerHost", "0"]);
}

#[test]
fn ipam_bad_flags_are_clear_errors() {
    let ctl = Ctl::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["ipam", "show", "--ip=10.0.0.300"],
            "invalid value '10.0.0.300' for '--ip <IP>'",
        ),
        (
            &["ipam", "show", "--ip=10.0.0.1", "--show-blocks"],
            "cannot be used with",
        ),
        (&["ipam", "release"], "required"),
        (
            &["ipam", "release", "--ip=10.0.0.1", "--from-report=r.json"],
            "cannot be used with",
        ),
        (
            &["ipam", "release", "--ip=10.0.0.1", "--force"],
            "--from-report",
        ),
        (&["ipam", "configure"], "required"),
        (
            &["ipam", "configure", "--strictaffinity=maybe"],
            "Use true or false to set strictaffinity",
        ),
        (
            &["ipam", "configure", "--max-blocks-per-host=-1"],
            "--max-blocks-per-host",
        ),
        (
            &["ipam", "check", "--bogus"],
            "unexpected argument '--bogus'",
        ),
        (
            &["ipam", "frobnicate"],
            "unrecognized subcommand 'frobnicate'",
        ),
    ];
    for (args, message) in cases {
        let out = ctl.run(args).fails();
        assert!(out.stderr.contains(message), "{args:?}: {out:#?}");
    }
    let out = ctl
        .run(&[
            "ipam",
            "release",
            "--from-report",
            &ctl.path("missing.json"),
        ])
        .fails();
    assert!(
        out.stderr.starts_with("cannot read the report "),
        "{out:#?}"
    );
}
