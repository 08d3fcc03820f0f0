//! Routes and sysctls on the real kernel, in a throwaway network namespace (needs root).

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::fs::File;
use std::process::Command;
use std::time::{Duration, Instant};

use calico_dataplane::routes::{RouteManager, RouteOptions};
use calico_dataplane::status::StatusWriter;
use calico_dataplane::{Dataplane, LinuxDataplane, RecordingDataplane};
use calico_policy::DataplaneUpdate;
use calico_policy::ir::{Route, RouteTarget, WorkloadEndpoint, WorkloadEndpointId};

/// A network namespace deleted on drop.
struct NetNs(String);

impl NetNs {
    fn new() -> Option<NetNs> {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("SKIP (not root): routes_netns needs root to create network namespaces");
            return None;
        }
        let name = format!("calt-{:08x}", std::process::id() ^ fastrand_u32());
        run(&["ip", "netns", "add", &name]);
        Some(NetNs(name))
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "-n", &self.0];
        full.extend_from_slice(args);
        run(&full)
    }

    fn veth(&self, name: &str, peer: &str) {
        self.ip(&["link", "add", name, "type", "veth", "peer", "name", peer]);
        self.ip(&["link", "set", peer, "up"]);
        self.ip(&["link", "set", name, "up"]);
    }

    fn sysctl(&self, path: &str) -> String {
        run(&[
            "ip",
            "netns",
            "exec",
            &self.0,
            "cat",
            &format!("/proc/sys/{path}"),
        ])
        .trim()
        .to_owned()
    }

    /// `(dst, dev, protocol)` of the main table's routes of `family` (`-4` or `-6`).
    fn routes(&self, family: &str) -> Vec<(String, String, String)> {
        let out = self.ip(&[family, "-d", "-j", "route", "show", "table", "main"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["dst"].as_str().unwrap_or("").to_owned(),
                            r["dev"].as_str().unwrap_or("").to_owned(),
                            r["protocol"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn has_route(&self, family: &str, dst: &str, dev: &str) -> bool {
        self.routes(family).iter().any(|(d, v, _)| {
            (d == dst || format!("{d}/32") == dst || format!("{d}/128") == dst) && v == dev
        })
    }

    /// Runs `f` on a current-thread runtime in a thread that entered the namespace.
    fn enter<F, Fut>(&self, f: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let path = format!("/run/netns/{}", self.0);
        let handle = std::thread::spawn(move || {
            let fd = File::open(&path).unwrap();
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f());
        });
        if let Err(e) = handle.join() {
            std::panic::resume_unwind(e);
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn fastrand_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    t.subsec_nanos()
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wep(pod: &str, iface: &str, v4: &str, v6: Option<&str>) -> WorkloadEndpoint {
    WorkloadEndpoint {
        id: WorkloadEndpointId {
            namespace: "default".into(),
            name: format!("node1-k8s-{pod}-eth0"),
        },
        interface_name: iface.into(),
        mac: String::new(),
        ipv4_nets: vec![v4.parse().unwrap()],
        ipv6_nets: v6.map(|s| s.parse().unwrap()).into_iter().collect(),
        profile_ids: vec![],
        tiers: vec![],
        allow_spoofed_source_prefixes: vec![],
    }
}

fn route(dst: &str, iface: &str) -> Route {
    Route {
        dst: dst.parse().unwrap(),
        target: RouteTarget::LocalWorkload {
            interface_name: iface.into(),
        },
    }
}

/// Waits (bounded) for a condition that an asynchronous event makes true.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn routes_sysctls_pending_interfaces_and_stale_cleanup() {
    let Some(ns) = NetNs::new() else { return };
    ns.veth("cali1", "peer1");
    // Left by an earlier run for an endpoint that is gone: swept at the first InSync.
    ns.ip(&[
        "route",
        "add",
        "10.65.4.4/32",
        "dev",
        "cali1",
        "proto",
        "boot",
        "scope",
        "link",
    ]);
    let ns = std::sync::Arc::new(ns);
    let inner = ns.clone();
    let status_dir = tempfile::tempdir().unwrap();
    let status_prefix = status_dir.path().to_owned();
    ns.enter(move || async move {
        let ns = inner;
        let routes = RouteManager::new(RouteOptions::default()).unwrap();
        let mut dp = LinuxDataplane::new(
            Box::new(RecordingDataplane::default()),
            Some(routes),
            Some(StatusWriter::new(&status_prefix)),
        );
        let mut web = wep("web", "cali1", "10.65.0.1/32", Some("fd00:65::1/128"));
        web.mac = "ee:ee:ee:00:00:01".into();
        let db = wep("db", "cali2", "10.65.0.2/32", None);

        // Before InSync nothing is programmed.
        dp.apply(vec![
            DataplaneUpdate::WorkloadEndpointUpdate(web.clone()),
            DataplaneUpdate::WorkloadEndpointUpdate(db.clone()),
            DataplaneUpdate::RouteUpdate(route("10.65.0.1/32", "cali1")),
            DataplaneUpdate::RouteUpdate(route("fd00:65::1/128", "cali1")),
            DataplaneUpdate::RouteUpdate(route("10.65.0.2/32", "cali2")),
        ])
        .await
        .unwrap();
        assert!(!ns.has_route("-4", "10.65.0.1/32", "cali1"));
        assert!(ns.has_route("-4", "10.65.4.4/32", "cali1"));

        let report = dp.apply(vec![DataplaneUpdate::InSync]).await.unwrap();
        assert!(report.objects_changed > 0);
        assert!(
            ns.has_route("-4", "10.65.0.1/32", "cali1"),
            "{:?}",
            ns.routes("-4")
        );
        assert!(
            ns.has_route("-6", "fd00:65::1/128", "cali1"),
            "{:?}",
            ns.routes("-6")
        );
        let protos: Vec<String> = ns
            .routes("-4")
            .into_iter()
            .filter(|r| r.0 == "10.65.0.1")
            .map(|r| r.2)
            .collect();
        assert_eq!(protos, vec!["boot".to_owned()]);
        assert!(
            !ns.has_route("-4", "10.65.4.4/32", "cali1"),
            "the leftover route survived the first in-sync apply"
        );
        let scoped = ns.ip(&["-4", "route", "show", "10.65.0.1/32"]);
        assert!(scoped.contains("scope link"), "{scoped}");

        // A permanent ARP entry for the workload's MAC.
        let neigh = ns.ip(&["-4", "neigh", "show", "dev", "cali1"]);
        assert!(
            neigh.contains("10.65.0.1 lladdr ee:ee:ee:00:00:01 PERMANENT"),
            "{neigh}"
        );

        // Sysctls of the workload interface, and global forwarding.
        assert_eq!(ns.sysctl("net/ipv4/conf/cali1/proxy_arp"), "1");
        assert_eq!(ns.sysctl("net/ipv4/conf/cali1/forwarding"), "1");
        assert_eq!(ns.sysctl("net/ipv4/conf/cali1/route_localnet"), "1");
        assert_eq!(ns.sysctl("net/ipv4/neigh/cali1/proxy_delay"), "0");
        assert_eq!(ns.sysctl("net/ipv6/conf/cali1/accept_ra"), "0");
        assert_eq!(ns.sysctl("net/ipv6/conf/cali1/proxy_ndp"), "1");
        assert_eq!(ns.sysctl("net/ipv4/ip_forward"), "1");
        let rp = ns.sysctl("net/ipv4/conf/cali1/rp_filter");
        let default_rp = ns.sysctl("net/ipv4/conf/default/rp_filter");
        assert_eq!(rp, default_rp);

        // cali2 does not exist yet: its route is pending, and appears with the interface.
        assert!(!ns.has_route("-4", "10.65.0.2/32", "cali2"));
        let pending = dp.routes().unwrap().pending_interfaces().await;
        assert!(pending.contains("cali2"), "{pending:?}");
        ns.veth("cali2", "peer2");
        eventually("the route through cali2 after the link appeared", || {
            ns.has_route("-4", "10.65.0.2/32", "cali2")
        })
        .await;
        assert_eq!(ns.sysctl("net/ipv4/conf/cali2/proxy_arp"), "1");
        assert!(dp.routes().unwrap().pending_interfaces().await.is_empty());

        // The interface is deleted and re-created (the kernel dropped its route and sysctls):
        // both come back.
        ns.ip(&["link", "del", "cali2"]);
        eventually("cali2 to be pending again", || {
            !ns.has_route("-4", "10.65.0.2/32", "cali2")
        })
        .await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !dp
            .routes()
            .unwrap()
            .pending_interfaces()
            .await
            .contains("cali2")
        {
            assert!(Instant::now() < deadline, "cali2 never became pending");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ns.veth("cali2", "peer2");
        eventually("the route through the re-created cali2", || {
            ns.has_route("-4", "10.65.0.2/32", "cali2")
        })
        .await;
        eventually("proxy_arp on the re-created cali2", || {
            ns.sysctl("net/ipv4/conf/cali2/proxy_arp") == "1"
        })
        .await;

        // Resync: a stale route of ours is deleted; a route with another protocol and a
        // route through a non-workload interface are left alone.
        ns.veth("eth9", "peer9");
        ns.ip(&[
            "route",
            "add",
            "10.65.9.9/32",
            "dev",
            "cali1",
            "proto",
            "boot",
            "scope",
            "link",
        ]);
        ns.ip(&[
            "route",
            "add",
            "10.65.8.8/32",
            "dev",
            "cali1",
            "proto",
            "static",
            "scope",
            "link",
        ]);
        ns.ip(&[
            "route",
            "add",
            "10.65.7.7/32",
            "dev",
            "eth9",
            "proto",
            "boot",
            "scope",
            "link",
        ]);
        // A desired route deleted behind our back comes back.
        ns.ip(&["route", "del", "10.65.0.1/32", "dev", "cali1"]);
        dp.resync().await.unwrap();
        assert!(
            !ns.has_route("-4", "10.65.9.9/32", "cali1"),
            "{:?}",
            ns.routes("-4")
        );
        assert!(ns.has_route("-4", "10.65.8.8/32", "cali1"));
        assert!(ns.has_route("-4", "10.65.7.7/32", "eth9"));
        assert!(ns.has_route("-4", "10.65.0.1/32", "cali1"));

        // Removing a route deletes it; re-applying the same state changes nothing.
        dp.apply(vec![DataplaneUpdate::RouteRemove(route(
            "10.65.0.2/32",
            "cali2",
        ))])
        .await
        .unwrap();
        assert!(!ns.has_route("-4", "10.65.0.2/32", "cali2"));
        let report = dp.apply(vec![]).await.unwrap();
        assert_eq!(report.objects_changed, 0);

        // Status files were written for both endpoints.
        assert!(
            status_prefix
                .join("endpoint-status/k8s default%2Fweb eth0")
                .exists()
        );
        assert!(
            status_prefix
                .join("endpoint-status/k8s default%2Fdb eth0")
                .exists()
        );
    });
}

#[test]
fn a_route_moves_between_interfaces() {
    let Some(ns) = NetNs::new() else { return };
    ns.veth("cali1", "peer1");
    ns.veth("cali2", "peer2");
    let ns = std::sync::Arc::new(ns);
    let inner = ns.clone();
    ns.enter(move || async move {
        let ns = inner;
        let mut dp = LinuxDataplane::new(
            Box::new(RecordingDataplane::default()),
            Some(RouteManager::new(RouteOptions::default()).unwrap()),
            None,
        );
        dp.apply(vec![
            DataplaneUpdate::RouteUpdate(route("10.65.0.5/32", "cali1")),
            DataplaneUpdate::InSync,
        ])
        .await
        .unwrap();
        assert!(ns.has_route("-4", "10.65.0.5/32", "cali1"));
        dp.apply(vec![DataplaneUpdate::RouteUpdate(route(
            "10.65.0.5/32",
            "cali2",
        ))])
        .await
        .unwrap();
        assert!(
            ns.has_route("-4", "10.65.0.5/32", "cali2"),
            "{:?}",
            ns.routes("-4")
        );
        assert!(!ns.has_route("-4", "10.65.0.5/32", "cali1"));

        // Deleting a route somebody else already deleted succeeds.
        ns.ip(&["route", "del", "10.65.0.5/32", "dev", "cali2"]);
        dp.apply(vec![DataplaneUpdate::RouteRemove(route(
            "10.65.0.5/32",
            "cali2",
        ))])
        .await
        .unwrap();
        assert!(ns.routes("-4").iter().all(|r| r.0 != "10.65.0.5"));
    });
}

/// Figures for docs/NODE.md, not an assertion: programs routes and sysctls for 500 workload
/// interfaces and prints how long the first apply, a no-op apply and a resync take.
/// `cargo test -p calico-dataplane --test routes_netns -- --ignored --nocapture`
#[test]
#[ignore = "measurement; run by hand"]
fn measure_500_interfaces() {
    let Some(ns) = NetNs::new() else { return };
    let n = 500;
    let mut batch = String::new();
    for i in 0..n {
        batch.push_str(&format!(
            "link add cali{i:011} type veth peer name p{i}\nlink set cali{i:011} up\nlink set p{i} up\n"
        ));
    }
    let mut child = Command::new("ip")
        .args(["-n", &ns.0, "-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), batch.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let ns = std::sync::Arc::new(ns);
    let inner = ns.clone();
    ns.enter(move || async move {
        let ns = inner;
        let mut dp = LinuxDataplane::new(
            Box::new(RecordingDataplane::default()),
            Some(RouteManager::new(RouteOptions::default()).unwrap()),
            None,
        );
        let mut updates = Vec::new();
        for i in 0..n {
            let iface = format!("cali{i:011}");
            let ip = format!("10.66.{}.{}/32", i / 250, i % 250 + 1);
            updates.push(DataplaneUpdate::WorkloadEndpointUpdate(wep(
                &format!("pod{i}"),
                &iface,
                &ip,
                None,
            )));
            updates.push(DataplaneUpdate::RouteUpdate(route(&ip, &iface)));
        }
        updates.push(DataplaneUpdate::InSync);
        let t = Instant::now();
        let report = dp.apply(updates).await.unwrap();
        let first = t.elapsed();
        let t = Instant::now();
        dp.apply(vec![]).await.unwrap();
        let noop = t.elapsed();
        let t = Instant::now();
        dp.resync().await.unwrap();
        let resync = t.elapsed();
        let routes = ns.routes("-4").len();
        eprintln!(
            "{n} interfaces: first apply {first:?} ({} objects), no-op apply {noop:?}, \
             full resync {resync:?}; {routes} routes in the table",
            report.objects_changed
        );
    });
}
