#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use async_trait::async_trait;
use calico_model::decode_yaml;

use super::*;
use crate::ipam::{AutoAssignArgs, Ipam};
use crate::memory::MemoryDatastore;
use crate::{ListResult, WatchStream};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A varied set, written in an order that is not the export order.
const FIXTURE: &str = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-np, namespace: zeta}
spec: {selector: all(), types: [Ingress]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-np, namespace: zeta}
spec: {selector: all()}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: z-np, namespace: alpha, labels: {team: x}, annotations: {note: kept}}
spec: {selector: app == 'web'}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny}
spec: {selector: all(), order: 100}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 50}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-b}
spec: {cidr: 10.1.0.0/16}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-a}
spec: {cidr: 10.0.0.0/16, blockSize: 26}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: office, namespace: alpha}
spec: {nets: [192.0.2.0/24]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: internet}
spec: {nets: [0.0.0.0/0]}
";

async fn populate(ds: &Arc<dyn Datastore>) {
    for r in decode_yaml(FIXTURE).unwrap() {
        ds.create(r).await.unwrap();
    }
    let ipam = Ipam::new(Arc::clone(ds));
    for (i, host) in ["node-1", "node-2", "node-1"].iter().enumerate() {
        let mut args = AutoAssignArgs::new(&format!("k8s-pod-network.h{i}"), host, 2, 0);
        args.attrs.insert("node".into(), (*host).into());
        ipam.auto_assign(&args).await.unwrap();
    }
}

fn memory() -> Arc<dyn Datastore> {
    Arc::new(MemoryDatastore::new())
}

async fn export_text(ds: &dyn Datastore) -> String {
    to_stream(&export(ds, &ExportOptions::default(), &()).await.unwrap())
}

#[test]
fn export_order_names_every_kind_once() {
    for kind in Kind::ALL {
        assert_eq!(
            EXPORT_ORDER.iter().filter(|k| *k == kind).count(),
            1,
            "{kind} must appear exactly once in EXPORT_ORDER"
        );
    }
    assert_eq!(EXPORT_ORDER.len(), Kind::ALL.len());
    assert_eq!(EXPORT_ORDER[0], Kind::ClusterInformation);
    // Namespaced kinds come after every cluster-scoped one.
    let first_namespaced = EXPORT_ORDER.iter().position(|k| k.namespaced()).unwrap();
    assert!(
        EXPORT_ORDER[first_namespaced..]
            .iter()
            .all(|k| k.namespaced())
    );
}

#[test]
fn export_needs_a_lock_and_unlock_restores_ready() {
    rt().block_on(async {
        let ds = memory();
        assert!(matches!(
            export(ds.as_ref(), &ExportOptions::default(), &()).await,
            Err(MigrateError::NotLocked)
        ));
        // Unlock needs a ClusterInformation, as in calicoctl.
        let err = unlock(ds.as_ref()).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Error retrieving ClusterInformation for unlocking: "),
            "{err}"
        );
        lock(ds.as_ref(), "v9.9.9").await.unwrap();
        assert!(is_locked(ds.as_ref()).await.unwrap());
        let ci = ds.get(&cluster_information_key()).await.unwrap();
        let Resource::ClusterInformation(ci) = ci else {
            panic!("kind")
        };
        assert_eq!(ci.spec.cluster_guid.len(), 32);
        assert_eq!(ci.spec.calico_version, "v9.9.9");
        // Locking twice is fine and keeps the GUID.
        lock(ds.as_ref(), "v0").await.unwrap();
        let Resource::ClusterInformation(again) = ds.get(&cluster_information_key()).await.unwrap()
        else {
            panic!("kind")
        };
        assert_eq!(again.spec.cluster_guid, ci.spec.cluster_guid);
        assert!(
            export(ds.as_ref(), &ExportOptions::default(), &())
                .await
                .is_ok()
        );
        unlock(ds.as_ref()).await.unwrap();
        assert!(!is_locked(ds.as_ref()).await.unwrap());
        let Resource::ClusterInformation(ci) = ds.get(&cluster_information_key()).await.unwrap()
        else {
            panic!("kind")
        };
        assert_eq!(ci.spec.datastore_ready, Some(true));
        let unlocked = ExportOptions {
            require_locked: false,
        };
        assert!(export(ds.as_ref(), &unlocked, &()).await.is_ok());
    });
}

#[test]
fn export_is_ordered_stripped_and_deterministic() {
    rt().block_on(async {
        let ds = memory();
        populate(&ds).await;
        lock(ds.as_ref(), "v1").await.unwrap();
        let out = export(ds.as_ref(), &ExportOptions::default(), &())
            .await
            .unwrap();
        let keys: Vec<(usize, String, String)> = out
            .iter()
            .map(|r| (order_of(r.kind()), r.namespace().into(), r.name().into()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "kind order, then namespace, then name");
        assert_eq!(out[0].kind(), Kind::ClusterInformation);
        assert!(out.iter().all(|r| {
            let m = r.metadata();
            m.uid.is_empty()
                && m.resource_version.is_empty()
                && m.creation_timestamp.is_none()
                && m.generation == 0
        }));
        assert!(
            !out.iter().any(is_built_in),
            "the built-in profile stays out"
        );
        for kind in [
            Kind::IPAMBlock,
            Kind::BlockAffinity,
            Kind::IPAMHandle,
            Kind::NetworkPolicy,
        ] {
            assert!(out.iter().any(|r| r.kind() == kind), "{kind} exported");
        }
        let np: Vec<String> = out
            .iter()
            .filter(|r| r.kind() == Kind::NetworkPolicy)
            .map(|r| format!("{}/{}", r.namespace(), r.name()))
            .collect();
        assert_eq!(np, ["alpha/z-np", "zeta/a-np", "zeta/b-np"]);
        let text = to_stream(&out);
        assert!(text.contains("\n---\n"));
        assert!(text.contains("note: kept"), "annotations survive");
        assert_eq!(text, export_text(ds.as_ref()).await, "same bytes twice");
    });
}

#[test]
fn round_trip_is_byte_identical_and_ipam_keeps_working() {
    rt().block_on(async {
        let source = memory();
        populate(&source).await;
        lock(source.as_ref(), "v1").await.unwrap();
        let first = export_text(source.as_ref()).await;

        let target = memory();
        let summary = import(
            target.as_ref(),
            decode_stream(&first).unwrap(),
            &ImportOptions::default(),
            &(),
        )
        .await
        .unwrap();
        assert_eq!(summary.resources, 9);
        assert!(summary.ipam >= 5, "{summary:?}");
        assert!(is_locked(target.as_ref()).await.unwrap());
        assert_eq!(export_text(target.as_ref()).await, first);

        // IPAM on the imported store: the same allocations, and new ones do not collide.
        let before = Ipam::new(Arc::clone(&source)).allocations().await.unwrap();
        let ipam = Ipam::new(Arc::clone(&target));
        let after = ipam.allocations().await.unwrap();
        assert_eq!(
            before.iter().map(|a| a.ip).collect::<Vec<_>>(),
            after.iter().map(|a| a.ip).collect::<Vec<_>>()
        );
        let got = ipam
            .auto_assign(&AutoAssignArgs::new("k8s-pod-network.new", "node-1", 1, 0))
            .await
            .unwrap();
        assert!(!after.iter().any(|a| a.ip == got.ipv4[0].addr()));
        assert_eq!(ipam.check().await.unwrap().allocations, after.len() + 1);
    });
}

#[test]
fn import_refuses_a_non_empty_target_and_writes_nothing() {
    rt().block_on(async {
        let source = memory();
        populate(&source).await;
        lock(source.as_ref(), "v1").await.unwrap();
        let stream = export_text(source.as_ref()).await;

        let target = memory();
        let gns = decode_yaml(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: x}\nspec: {nets: [198.51.100.0/24]}\n",
        )
        .unwrap();
        target.create(gns[0].clone()).await.unwrap();
        let err = import(
            target.as_ref(),
            decode_stream(&stream).unwrap(),
            &ImportOptions::default(),
            &(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Datastore already has Calico resources: Found existing Calico GlobalNetworkSet resource (x). Import into an empty datastore"
        );
        assert!(matches!(
            target.get(&cluster_information_key()).await,
            Err(Error::NotFound { .. })
        ));
        assert_eq!(
            target.list(Kind::IPPool, None).await.unwrap().items.len(),
            0
        );
    });
}

#[test]
fn import_lists_every_problem_and_writes_nothing() {
    rt().block_on(async {
        let text = "
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: p}
spec: {cidr: 10.0.0.0/16}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: p}
spec: {cidr: 10.9.0.0/16}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: bad}
spec: {cidr: 10.0.0.0/99}
";
        // A field that is not in the schema does not decode: reported with its line.
        let err = decode_stream(&text.replace("cidr: 10.9", "cidrs: 10.9")).unwrap_err();
        let MigrateError::Invalid { problems } = &err else {
            panic!("{err}")
        };
        assert_eq!(problems.len(), 1, "{err}");
        assert_eq!(problems[0].document, 2);
        assert!(problems[0].line.is_some(), "{err}");

        // Decodes, but one pool is repeated and one is invalid: both are reported.
        let resources = decode_stream(text).unwrap();
        let target = memory();
        let err = import(target.as_ref(), resources, &ImportOptions::default(), &())
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("document 2: IPPool/p: also in document 1"),
            "{msg}"
        );
        assert!(msg.contains("document 3: IPPool/bad: spec.cidr: "), "{msg}");
        assert_eq!(
            target.list(Kind::IPPool, None).await.unwrap().items.len(),
            0
        );
        assert!(matches!(
            target.get(&cluster_information_key()).await,
            Err(Error::NotFound { .. })
        ));
    });
}

#[test]
fn go_calicoctl_export_files_are_recognised() {
    let go =
        "apiVersion: projectcalico.org/v3\nkind: IPPoolList\nitems: []\n---\n===\n{}\n===\n{}\n";
    assert!(matches!(
        decode_stream(go),
        Err(MigrateError::GoExportFormat)
    ));
}

/// A memory store whose `create` fails for one resource name (a fault injected in front of
/// a real store).
struct FailingCreate {
    inner: MemoryDatastore,
    fail_name: &'static str,
    creates: AtomicUsize,
}

#[async_trait]
impl Datastore for FailingCreate {
    fn backend(&self) -> &'static str {
        "failing"
    }
    async fn get(&self, key: &ResourceKey) -> crate::Result<Resource> {
        self.inner.get(key).await
    }
    async fn list(&self, kind: Kind, namespace: Option<&str>) -> crate::Result<ListResult> {
        self.inner.list(kind, namespace).await
    }
    async fn create(&self, resource: Resource) -> crate::Result<Resource> {
        self.creates.fetch_add(1, Ordering::Relaxed);
        if resource.name() == self.fail_name {
            return Err(Error::unavailable("injected failure"));
        }
        self.inner.create(resource).await
    }
    async fn update(&self, resource: Resource) -> crate::Result<Resource> {
        self.inner.update(resource).await
    }
    async fn delete(&self, key: &ResourceKey, revision: Option<&str>) -> crate::Result<Resource> {
        self.inner.delete(key, revision).await
    }
    async fn watch(&self, kind: Kind, from_revision: &str) -> crate::Result<WatchStream> {
        self.inner.watch(kind, from_revision).await
    }
    async fn compact(&self, revision: &str) -> crate::Result<()> {
        self.inner.compact(revision).await
    }
}

#[test]
fn a_failed_write_removes_what_the_import_wrote() {
    rt().block_on(async {
        let source = memory();
        populate(&source).await;
        lock(source.as_ref(), "v1").await.unwrap();
        let stream = export_text(source.as_ref()).await;

        let target = FailingCreate {
            inner: MemoryDatastore::new(),
            fail_name: "office",
            creates: AtomicUsize::new(0),
        };
        let err = import(
            &target,
            decode_stream(&stream).unwrap(),
            &ImportOptions {
                concurrency: 4,
                ..ImportOptions::default()
            },
            &(),
        )
        .await
        .unwrap_err();
        let MigrateError::Write {
            key,
            rolled_back,
            rollback_failures,
            ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!(key.name, "office");
        assert!(*rolled_back > 5, "{err}");
        assert!(rollback_failures.is_empty());
        assert!(err.to_string().starts_with(
            "Failed to import NetworkSet/alpha/office: datastore unavailable: injected failure"
        ));
        assert!(target.creates.load(Ordering::Relaxed) > 5);
        // Empty again: another import can start from scratch.
        for kind in EXPORT_ORDER {
            let left = target.inner.list(*kind, None).await.unwrap().items;
            assert!(left.iter().all(is_built_in), "{kind} left: {left:?}");
        }
    });
}

/// Counts what a [`Progress`] hears.
#[derive(Default)]
struct Counting {
    started: std::sync::Mutex<Vec<(Stage, u64)>>,
    advanced: AtomicUsize,
}

impl Progress for Counting {
    fn start(&self, stage: Stage, total: u64) {
        self.started.lock().unwrap().push((stage, total));
    }
    fn advance(&self, _: Stage, done: u64) {
        self.advanced.fetch_add(done as usize, Ordering::Relaxed);
    }
}

#[test]
fn progress_hears_every_document() {
    rt().block_on(async {
        let source = memory();
        populate(&source).await;
        lock(source.as_ref(), "v1").await.unwrap();
        let p = Counting::default();
        let out = export(source.as_ref(), &ExportOptions::default(), &p)
            .await
            .unwrap();
        assert_eq!(
            *p.started.lock().unwrap(),
            [(Stage::Read, EXPORT_ORDER.len() as u64)]
        );
        assert_eq!(p.advanced.load(Ordering::Relaxed), EXPORT_ORDER.len());

        let p = Counting::default();
        let target = memory();
        import(target.as_ref(), out.clone(), &ImportOptions::default(), &p)
            .await
            .unwrap();
        let started = p.started.lock().unwrap().clone();
        assert_eq!(started[1], (Stage::Write, (out.len() - 1) as u64));
        assert_eq!(
            p.advanced.load(Ordering::Relaxed),
            EXPORT_ORDER.len() - 1 + out.len() - 1
        );
    });
}
