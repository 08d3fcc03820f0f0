//! Endpoint status files through the Linux dataplane (no root needed: no routes).

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use calico_dataplane::status::{EndpointStatus, StatusWriter};
use calico_dataplane::{Dataplane, LinuxDataplane, RecordingDataplane};
use calico_policy::DataplaneUpdate;
use calico_policy::ir::{WorkloadEndpoint, WorkloadEndpointId};

fn wep(pod: &str, iface: &str, ip: &str) -> WorkloadEndpoint {
    WorkloadEndpoint {
        id: WorkloadEndpointId {
            namespace: "default".into(),
            name: format!("node1-k8s-{pod}-eth0"),
        },
        interface_name: iface.into(),
        mac: "ee:ee:ee:ee:ee:ee".into(),
        ipv4_nets: vec![ip.parse().unwrap()],
        ipv6_nets: vec![],
        profile_ids: vec!["kns.default".into()],
        tiers: vec![],
        allow_spoofed_source_prefixes: vec![],
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn status_files_follow_endpoints_after_in_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("endpoint-status");
    let mut dp = LinuxDataplane::new(
        Box::new(RecordingDataplane::default()),
        None,
        Some(StatusWriter::new(tmp.path())),
    );
    rt().block_on(async {
        dp.apply(vec![DataplaneUpdate::WorkloadEndpointUpdate(wep(
            "web",
            "cali1",
            "10.65.0.1/32",
        ))])
        .await
        .unwrap();
        assert!(!dir.exists(), "nothing may be written before InSync");
        // A file left by an earlier run for an endpoint that is gone.
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("k8s default%2Fold eth0"), "{}").unwrap();

        dp.apply(vec![DataplaneUpdate::InSync]).await.unwrap();
        assert!(!dir.join("k8s default%2Fold eth0").exists());
        let file = dir.join("k8s default%2Fweb eth0");
        let status: EndpointStatus =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(status.iface_name, "cali1");
        assert_eq!(status.ipv4_nets, vec!["10.65.0.1/32".to_owned()]);
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(
            raw,
            serde_json::json!({"ifaceName": "cali1", "mac": "ee:ee:ee:ee:ee:ee", "ipv4Nets": ["10.65.0.1/32"]})
        );

        // A second endpoint, then the first goes.
        let db = wep("db", "cali2", "10.65.0.2/32");
        dp.apply(vec![DataplaneUpdate::WorkloadEndpointUpdate(db.clone())])
            .await
            .unwrap();
        assert!(dir.join("k8s default%2Fdb eth0").exists());
        dp.apply(vec![DataplaneUpdate::WorkloadEndpointRemove(
            wep("web", "cali1", "10.65.0.1/32").id,
        )])
        .await
        .unwrap();
        assert!(!file.exists());

        // Resync removes strays and repairs altered files; hidden temp files never linger.
        std::fs::write(dir.join("k8s default%2Fghost eth0"), "{}").unwrap();
        std::fs::write(dir.join("k8s default%2Fdb eth0"), "garbage").unwrap();
        dp.resync().await.unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec!["k8s default%2Fdb eth0".to_owned()]);
        let status: EndpointStatus = serde_json::from_str(
            &std::fs::read_to_string(dir.join("k8s default%2Fdb eth0")).unwrap(),
        )
        .unwrap();
        assert_eq!(status, EndpointStatus::of(&db));
    });
}

#[test]
fn a_failed_status_write_is_reported_and_the_next_resync_repairs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    // The prefix is a file, so the status directory cannot be created.
    std::fs::write(&prefix, "not a directory").unwrap();
    let mut dp = LinuxDataplane::new(
        Box::new(RecordingDataplane::default()),
        None,
        Some(StatusWriter::new(&prefix)),
    );
    rt().block_on(async {
        let err = dp
            .apply(vec![
                DataplaneUpdate::WorkloadEndpointUpdate(wep("web", "cali1", "10.65.0.1/32")),
                DataplaneUpdate::InSync,
            ])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("endpoint-status"), "{err}");
        // The policy backend kept the batch.
        assert!(dp.state().in_sync);
        assert_eq!(dp.state().workload_endpoints.len(), 1);

        std::fs::remove_file(&prefix).unwrap();
        let report = dp.resync().await.unwrap();
        assert_eq!(report.objects_changed, 1);
        assert!(
            prefix
                .join("endpoint-status/k8s default%2Fweb eth0")
                .exists()
        );
    });
}
