//! The conformance suite: one set of checks every [`Datastore`] backend must pass unchanged.
//!
//! Each check is a public async function taking a fresh, empty store; it panics (like a
//! test assertion) on the first deviation. [`conformance_tests!`](crate::conformance_tests)
//! turns the whole suite into one `#[tokio::test]` per check for a backend:
//!
//! ```ignore
//! // tests/conformance_memory.rs
//! use calico_datastore::conformance::Fixture;
//! use calico_datastore::memory::MemoryDatastore;
//! calico_datastore::conformance_tests!(async { Fixture::new(MemoryDatastore::new()) });
//! ```
//!
//! A backend outside this crate can run the same suite the same way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use calico_model::sync::ResourceKey;
use calico_model::{
    GlobalNetworkSet, GlobalNetworkSetSpec, Kind, NetworkSet, NetworkSetSpec, ObjectMeta, Resource,
    Tier, TierSpec,
};
use futures::StreamExt;

use crate::api::{Datastore, DatastoreExt, WatchEvent, WatchEventType, WatchStream};
use crate::error::Error;

/// A store under test, plus whatever must live as long as it (a server process, a temp dir).
pub struct Fixture {
    /// The store.
    pub store: Arc<dyn Datastore>,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl Fixture {
    /// A fixture owning only the store.
    pub fn new(store: impl Datastore + 'static) -> Self {
        Fixture {
            store: Arc::new(store),
            _guard: None,
        }
    }

    /// A fixture from a shared store.
    pub fn shared(store: Arc<dyn Datastore>) -> Self {
        Fixture {
            store,
            _guard: None,
        }
    }

    /// Keeps `guard` alive (and drops it after the store).
    pub fn with_guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }
}

/// Generates one `#[tokio::test]` per conformance check, each with a fresh store from
/// `$fixture` (an expression evaluating to a future of a [`Fixture`]).
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:expr) => {
        $crate::conformance_tests!(@each $fixture;
            crud, metadata_is_managed, invalid_writes_store_nothing, compare_and_swap,
            list_revision_and_namespaces, watch_sees_every_change_in_order, watch_resumes_from_a_revision,
            watch_from_now, compaction_is_reported, concurrent_writers_lose_nothing,
            large_lists, default_allow_profile, revisions_increase);
    };
    (@each $fixture:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture: $crate::conformance::Fixture = $fixture.await;
                $crate::conformance::$name(&*fixture.store).await;
            }
        )*
    };
}

/// How long a watch may take to deliver an event before the check fails.
const WATCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A cluster-scoped test resource.
pub fn net_set(name: &str, cidr: &str) -> Resource {
    GlobalNetworkSet::new(
        ObjectMeta::named(name),
        GlobalNetworkSetSpec {
            nets: vec![cidr.parse().expect("test CIDR")],
        },
    )
    .into()
}

/// A namespaced test resource.
pub fn ns_net_set(namespace: &str, name: &str, cidr: &str) -> Resource {
    NetworkSet::new(
        ObjectMeta::namespaced(namespace, name),
        NetworkSetSpec {
            nets: vec![cidr.parse().expect("test CIDR")],
        },
    )
    .into()
}

fn key(kind: Kind, ns: &str, name: &str) -> ResourceKey {
    ResourceKey::new(kind, ns, name)
}

fn rev(r: &Resource) -> u64 {
    r.metadata().resource_version.parse().unwrap_or_else(|_| {
        panic!(
            "resourceVersion {:?} is not numeric",
            r.metadata().resource_version
        )
    })
}

fn nets(r: &Resource) -> Vec<String> {
    match r {
        Resource::GlobalNetworkSet(g) => g.spec.nets.iter().map(|n| n.to_string()).collect(),
        Resource::NetworkSet(n) => n.spec.nets.iter().map(|n| n.to_string()).collect(),
        other => panic!("unexpected {}", other.display_id()),
    }
}

fn set_nets(r: &mut Resource, cidr: &str) {
    let net = cidr.parse().expect("test CIDR");
    match r {
        Resource::GlobalNetworkSet(g) => g.spec.nets = vec![net],
        Resource::NetworkSet(n) => n.spec.nets = vec![net],
        other => panic!("unexpected {}", other.display_id()),
    }
}

async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    match tokio::time::timeout(WATCH_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(ev))) => ev,
        Ok(Some(Err(e))) => panic!("watch failed: {e}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within {WATCH_TIMEOUT:?}"),
    }
}

/// Create, get, list, update, delete, and their not-found / already-exists errors.
pub async fn crud(store: &dyn Datastore) {
    let k = key(Kind::GlobalNetworkSet, "", "office");
    assert!(matches!(store.get(&k).await, Err(Error::NotFound { .. })));
    let created = store
        .create(net_set("office", "192.0.2.0/24"))
        .await
        .unwrap();
    assert_eq!(created.name(), "office");
    assert!(!created.metadata().resource_version.is_empty());
    let got = store.get(&k).await.unwrap();
    assert_eq!(got, created, "get returns what create returned");
    match store.create(net_set("office", "198.51.100.0/24")).await {
        Err(Error::AlreadyExists { key }) => assert_eq!(key, k),
        other => panic!("second create: {other:?}"),
    }
    assert_eq!(
        nets(&store.get(&k).await.unwrap()),
        ["192.0.2.0/24"],
        "failed create changed nothing"
    );

    let mut changed = got.clone();
    set_nets(&mut changed, "198.51.100.0/24");
    let updated = store.update(changed).await.unwrap();
    assert_eq!(nets(&updated), ["198.51.100.0/24"]);
    assert_ne!(
        updated.metadata().resource_version,
        created.metadata().resource_version
    );
    assert_eq!(store.get(&k).await.unwrap(), updated);

    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    assert_eq!(list.items, vec![updated.clone()]);
    assert!(list.undecodable.is_empty());

    let deleted = store.delete(&k, None).await.unwrap();
    assert_eq!(
        nets(&deleted),
        ["198.51.100.0/24"],
        "delete returns the last value"
    );
    assert!(matches!(store.get(&k).await, Err(Error::NotFound { .. })));
    assert!(matches!(
        store.delete(&k, None).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.update(updated).await,
        Err(Error::NotFound { .. })
    ));
    assert!(
        store
            .list(Kind::GlobalNetworkSet, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // A re-created resource is a new object.
    let again = store
        .create(net_set("office", "192.0.2.0/24"))
        .await
        .unwrap();
    assert_ne!(again.metadata().uid, created.metadata().uid);
}

/// uid, creationTimestamp, generation and resourceVersion behave as in Kubernetes.
pub async fn metadata_is_managed(store: &dyn Datastore) {
    let mut input = net_set("meta", "192.0.2.0/24");
    input.metadata_mut().uid = "caller-chosen".into();
    let created = store.create(input).await.unwrap();
    let m = created.metadata().clone();
    assert_eq!(
        m.uid.len(),
        36,
        "uid is a fresh UUID, not the caller's: {}",
        m.uid
    );
    assert_eq!(m.generation, 1);
    let ts = m.creation_timestamp.clone().expect("creationTimestamp");
    assert!(ts.ends_with('Z') && ts.contains('T'), "RFC 3339 UTC: {ts}");

    // Metadata-only change: generation stays, identity stays.
    let mut relabelled = created.clone();
    relabelled
        .metadata_mut()
        .labels
        .insert("team".into(), "net".into());
    relabelled.metadata_mut().creation_timestamp = Some("1999-01-01T00:00:00Z".into());
    let r1 = store.update(relabelled).await.unwrap();
    assert_eq!(r1.metadata().generation, 1);
    assert_eq!(r1.metadata().uid, m.uid);
    assert_eq!(
        r1.metadata().creation_timestamp.as_deref(),
        Some(ts.as_str())
    );
    assert_eq!(
        r1.metadata().labels.get("team").map(String::as_str),
        Some("net")
    );

    // Spec change: generation moves.
    let mut respec = r1.clone();
    set_nets(&mut respec, "198.51.100.0/24");
    let r2 = store.update(respec).await.unwrap();
    assert_eq!(r2.metadata().generation, 2);
    // Unconditional update (no resourceVersion) of a spec change, by a client that never read it.
    let mut blind = net_set("meta", "203.0.113.0/24");
    blind.metadata_mut().resource_version.clear();
    let r3 = store.update(blind).await.unwrap();
    assert_eq!(r3.metadata().generation, 3);
    assert_eq!(r3.metadata().uid, m.uid);
    assert_eq!(store.get(&ResourceKey::of(&r3)).await.unwrap(), r3);

    // generateName.
    let mut generated = net_set("", "192.0.2.0/24");
    generated.metadata_mut().generate_name = "auto-".into();
    let g = store.create(generated).await.unwrap();
    assert!(
        g.name().starts_with("auto-") && g.name().len() > 5,
        "{}",
        g.name()
    );
    store.get(&ResourceKey::of(&g)).await.unwrap();

    // Calico's defaults are applied on write.
    let tier = store
        .create(
            Tier::new(
                ObjectMeta::named("t1"),
                TierSpec {
                    order: Some(5.0),
                    ..Default::default()
                },
            )
            .into(),
        )
        .await
        .unwrap();
    let mut expected = tier.clone();
    expected.apply_defaults();
    assert_eq!(tier, expected, "stored resources are defaulted");
}

/// Invalid resources and requests are refused with the field path; nothing is stored.
pub async fn invalid_writes_store_nothing(store: &dyn Datastore) {
    let bad = net_set("Bad_Name", "192.0.2.0/24");
    match store.create(bad).await {
        Err(Error::Invalid { errors, .. }) => {
            assert!(
                errors.problems.iter().any(|p| p.path == "metadata.name"),
                "{errors}"
            )
        }
        other => panic!("invalid name accepted: {other:?}"),
    }
    let mut with_rv = net_set("rv", "192.0.2.0/24");
    with_rv.metadata_mut().resource_version = "12".into();
    match store.create(with_rv).await {
        Err(Error::Invalid { errors, .. }) => {
            assert!(
                errors
                    .problems
                    .iter()
                    .any(|p| p.path == "metadata.resourceVersion"),
                "{errors}"
            )
        }
        other => panic!("create with resourceVersion accepted: {other:?}"),
    }
    match store.create(ns_net_set("", "nons", "192.0.2.0/24")).await {
        Err(Error::Invalid { errors, .. }) => {
            assert!(
                errors
                    .problems
                    .iter()
                    .any(|p| p.path == "metadata.namespace"),
                "{errors}"
            )
        }
        other => panic!("namespaced kind without namespace accepted: {other:?}"),
    }
    let mut cluster_ns = net_set("scoped", "192.0.2.0/24");
    cluster_ns.metadata_mut().namespace = "default".into();
    assert!(matches!(
        store.create(cluster_ns).await,
        Err(Error::Invalid { .. })
    ));
    assert!(
        store
            .list(Kind::GlobalNetworkSet, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        store
            .list(Kind::NetworkSet, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // An invalid update leaves the stored value alone.
    let good = store.create(net_set("good", "192.0.2.0/24")).await.unwrap();
    let mut worse = good.clone();
    worse
        .metadata_mut()
        .labels
        .insert("bad key!".into(), "x".into());
    assert!(matches!(
        store.update(worse).await,
        Err(Error::Invalid { .. })
    ));
    assert_eq!(store.get(&ResourceKey::of(&good)).await.unwrap(), good);
    // A resourceVersion that is not a revision of this store.
    let mut garbage = good.clone();
    garbage.metadata_mut().resource_version = "not-a-revision".into();
    assert!(matches!(
        store.update(garbage).await,
        Err(Error::Invalid { .. })
    ));
    assert!(store.watch(Kind::GlobalNetworkSet, "xyz").await.is_err());
}

/// Stale revisions fail with Conflict on update and delete; current ones succeed.
pub async fn compare_and_swap(store: &dyn Datastore) {
    let v1 = store.create(net_set("cas", "192.0.2.0/24")).await.unwrap();
    let mut a = v1.clone();
    set_nets(&mut a, "198.51.100.0/24");
    let v2 = store.update(a).await.unwrap();
    let mut stale = v1.clone();
    set_nets(&mut stale, "203.0.113.0/24");
    match store.update(stale).await {
        Err(Error::Conflict {
            key,
            expected,
            current,
        }) => {
            assert_eq!(key, ResourceKey::of(&v1));
            assert_eq!(expected, v1.metadata().resource_version);
            assert_eq!(current, v2.metadata().resource_version);
        }
        other => panic!("stale update: {other:?}"),
    }
    assert_eq!(
        nets(&store.get(&ResourceKey::of(&v1)).await.unwrap()),
        ["198.51.100.0/24"]
    );
    let k = ResourceKey::of(&v1);
    assert!(matches!(
        store
            .delete(&k, Some(&v1.metadata().resource_version))
            .await,
        Err(Error::Conflict { .. })
    ));
    store
        .get(&k)
        .await
        .expect("a refused delete deletes nothing");
    store
        .delete(&k, Some(&v2.metadata().resource_version))
        .await
        .unwrap();
    assert!(matches!(store.get(&k).await, Err(Error::NotFound { .. })));
}

/// List revisions bound every item's revision; namespace filters work; order is stable.
pub async fn list_revision_and_namespaces(store: &dyn Datastore) {
    for (ns, name) in [("b", "x"), ("a", "y"), ("a", "x"), ("c", "z")] {
        store
            .create(ns_net_set(ns, name, "10.0.0.0/8"))
            .await
            .unwrap();
    }
    store.create(net_set("global", "10.0.0.0/8")).await.unwrap();
    let all = store.list(Kind::NetworkSet, None).await.unwrap();
    let ids: Vec<_> = all
        .items
        .iter()
        .map(|r| (r.namespace().to_owned(), r.name().to_owned()))
        .collect();
    let want: Vec<_> = [("a", "x"), ("a", "y"), ("b", "x"), ("c", "z")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(ids, want, "sorted by namespace, name; other kinds excluded");
    let list_rev: u64 = all.revision.parse().unwrap();
    assert!(all.items.iter().all(|r| rev(r) <= list_rev));
    let a = store.list(Kind::NetworkSet, Some("a")).await.unwrap();
    assert_eq!(a.items.len(), 2);
    assert!(a.items.iter().all(|r| r.namespace() == "a"));
    assert!(
        store
            .list(Kind::NetworkSet, Some("nope"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // A namespace filter is ignored for cluster-scoped kinds.
    assert_eq!(
        store
            .list(Kind::GlobalNetworkSet, Some("a"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let k = key(Kind::NetworkSet, "a", "x");
    store.get(&k).await.unwrap();
    assert!(matches!(
        store.get(&key(Kind::NetworkSet, "b", "y")).await,
        Err(Error::NotFound { .. })
    ));
    // A later write is after the list revision.
    let later = store
        .create(ns_net_set("a", "z", "10.0.0.0/8"))
        .await
        .unwrap();
    assert!(rev(&later) > list_rev);
}

/// A watch from a list's revision sees every later change of its kind, once, in order.
pub async fn watch_sees_every_change_in_order(store: &dyn Datastore) {
    store.create(net_set("before", "10.0.0.0/8")).await.unwrap();
    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    let mut watch = store
        .watch(Kind::GlobalNetworkSet, &list.revision)
        .await
        .unwrap();
    let a = store.create(net_set("a", "10.0.0.0/8")).await.unwrap();
    store
        .create(ns_net_set("ns", "other-kind", "10.0.0.0/8"))
        .await
        .unwrap();
    let mut a2 = a.clone();
    set_nets(&mut a2, "10.1.0.0/16");
    let a2 = store.update(a2).await.unwrap();
    let b = store.create(net_set("b", "10.0.0.0/8")).await.unwrap();
    store.delete(&ResourceKey::of(&a), None).await.unwrap();

    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next_event(&mut watch).await);
    }
    let types: Vec<_> = seen
        .iter()
        .map(|e| (e.event_type, e.key.name.clone()))
        .collect();
    assert_eq!(
        types,
        vec![
            (WatchEventType::Added, "a".to_owned()),
            (WatchEventType::Modified, "a".to_owned()),
            (WatchEventType::Added, "b".to_owned()),
            (WatchEventType::Deleted, "a".to_owned()),
        ]
    );
    assert_eq!(seen[0].resource.as_ref(), Some(&a));
    assert_eq!(seen[1].resource.as_ref(), Some(&a2));
    assert_eq!(seen[2].resource.as_ref(), Some(&b));
    assert_eq!(seen[1].revision, a2.metadata().resource_version);
    let deleted = seen[3]
        .resource
        .as_ref()
        .expect("a delete carries the last value");
    assert_eq!(nets(deleted), ["10.1.0.0/16"]);
    let revs: Vec<u64> = seen.iter().map(|e| e.revision.parse().unwrap()).collect();
    assert!(revs.windows(2).all(|w| w[0] < w[1]), "{revs:?}");
    // Nothing else arrives.
    let extra = tokio::time::timeout(Duration::from_millis(300), watch.next()).await;
    assert!(extra.is_err(), "unexpected event: {extra:?}");
}

/// A watch started from an intermediate revision replays exactly the later changes.
pub async fn watch_resumes_from_a_revision(store: &dyn Datastore) {
    let mut revs = Vec::new();
    for i in 0..10 {
        let r = store
            .create(net_set(&format!("n{i}"), "10.0.0.0/8"))
            .await
            .unwrap();
        revs.push(r.metadata().resource_version.clone());
    }
    let mut watch = store.watch(Kind::GlobalNetworkSet, &revs[4]).await.unwrap();
    for (i, want) in revs.iter().enumerate().skip(5) {
        let ev = next_event(&mut watch).await;
        assert_eq!(ev.key.name, format!("n{i}"));
        assert_eq!(&ev.revision, want);
        assert_eq!(ev.event_type, WatchEventType::Added);
    }
    // And keeps going live.
    store
        .delete(&key(Kind::GlobalNetworkSet, "", "n0"), None)
        .await
        .unwrap();
    let ev = next_event(&mut watch).await;
    assert_eq!(
        (ev.event_type, ev.key.name.as_str()),
        (WatchEventType::Deleted, "n0")
    );
}

/// A watch from "" starts at the current revision.
pub async fn watch_from_now(store: &dyn Datastore) {
    store.create(net_set("old", "10.0.0.0/8")).await.unwrap();
    let mut watch = store.watch(Kind::GlobalNetworkSet, "").await.unwrap();
    store.create(net_set("new", "10.0.0.0/8")).await.unwrap();
    let ev = next_event(&mut watch).await;
    assert_eq!(ev.key.name, "new");
}

/// After compaction, a watch from before it fails with RevisionTooOld; after it, works.
pub async fn compaction_is_reported(store: &dyn Datastore) {
    let first = store.create(net_set("c0", "10.0.0.0/8")).await.unwrap();
    let mut last = first.clone();
    for i in 1..5 {
        last = store
            .create(net_set(&format!("c{i}"), "10.0.0.0/8"))
            .await
            .unwrap();
    }
    store
        .compact(&last.metadata().resource_version)
        .await
        .unwrap();
    let old = &first.metadata().resource_version;
    match store.watch(Kind::GlobalNetworkSet, old).await {
        Err(Error::RevisionTooOld { .. }) => {}
        Err(e) => panic!("watch from a compacted revision: wrong error {e}"),
        Ok(mut stream) => match tokio::time::timeout(WATCH_TIMEOUT, stream.next()).await {
            Ok(Some(Err(Error::RevisionTooOld { .. }))) => {}
            other => panic!("watch from a compacted revision: {other:?}"),
        },
    }
    let mut watch = store
        .watch(Kind::GlobalNetworkSet, &last.metadata().resource_version)
        .await
        .unwrap();
    store.create(net_set("after", "10.0.0.0/8")).await.unwrap();
    assert_eq!(next_event(&mut watch).await.key.name, "after");
    // The data itself is untouched.
    assert_eq!(
        store
            .list(Kind::GlobalNetworkSet, None)
            .await
            .unwrap()
            .items
            .len(),
        6
    );
}

/// N writers incrementing one counter with compare-and-swap lose no increment.
pub async fn concurrent_writers_lose_nothing(store: &dyn Datastore) {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let k = key(Kind::GlobalNetworkSet, "", "counter");
    store
        .create(net_set("counter", "10.0.0.0/8"))
        .await
        .unwrap();
    // Borrowed stores cannot move into spawned tasks; drive the writers concurrently here.
    let writers = (0..WRITERS).map(|_| {
        let k = k.clone();
        async move {
            for _ in 0..EACH {
                store
                    .modify(&k, |r| {
                        let ann = &mut r.metadata_mut().annotations;
                        let n: usize = ann.get("count").and_then(|c| c.parse().ok()).unwrap_or(0);
                        ann.insert("count".into(), (n + 1).to_string());
                    })
                    .await
                    .unwrap();
            }
        }
    });
    futures::future::join_all(writers).await;
    let final_ = store.get(&k).await.unwrap();
    assert_eq!(
        final_
            .metadata()
            .annotations
            .get("count")
            .map(String::as_str),
        Some((WRITERS * EACH).to_string().as_str())
    );
}

/// 10,000 objects list correctly.
pub async fn large_lists(store: &dyn Datastore) {
    const N: usize = 10_000;
    let names: Vec<String> = (0..N).map(|i| format!("big-{i:05}")).collect();
    futures::stream::iter(names.iter())
        .for_each_concurrent(32, |name| async move {
            store.create(net_set(name, "10.0.0.0/8")).await.unwrap();
        })
        .await;
    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    assert_eq!(list.items.len(), N);
    let got: Vec<&str> = list.items.iter().map(|r| r.name()).collect();
    let want: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(got, want);
    let by_rev: BTreeMap<u64, &str> = list.items.iter().map(|r| (rev(r), r.name())).collect();
    assert_eq!(by_rev.len(), N, "every write has its own revision");
}

/// The built-in `projectcalico-default-allow` profile is always there and read-only.
pub async fn default_allow_profile(store: &dyn Datastore) {
    let k = key(Kind::Profile, "", calico_model::DEFAULT_ALLOW_PROFILE);
    let p = store.get(&k).await.unwrap();
    let Resource::Profile(profile) = &p else {
        panic!("not a profile")
    };
    assert_eq!(profile.spec.ingress.len(), 1);
    assert_eq!(profile.spec.egress.len(), 1);
    let list = store.list(Kind::Profile, None).await.unwrap();
    assert!(
        list.items
            .iter()
            .any(|r| r.name() == calico_model::DEFAULT_ALLOW_PROFILE)
    );
    assert!(matches!(
        store.delete(&k, None).await,
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        store.update(p.clone()).await,
        Err(Error::Invalid { .. })
    ));
    let mut fresh = p;
    fresh.metadata_mut().resource_version.clear();
    assert!(matches!(
        store.create(fresh).await,
        Err(Error::Invalid { .. })
    ));
}

/// Every write gets a larger revision than the one before, across kinds.
pub async fn revisions_increase(store: &dyn Datastore) {
    let mut prev = 0u64;
    for i in 0..5 {
        let a = store
            .create(net_set(&format!("r{i}"), "10.0.0.0/8"))
            .await
            .unwrap();
        let b = store
            .create(ns_net_set("ns", &format!("r{i}"), "10.0.0.0/8"))
            .await
            .unwrap();
        assert!(rev(&a) > prev && rev(&b) > rev(&a));
        prev = rev(&b);
    }
    let d = store
        .delete(&key(Kind::GlobalNetworkSet, "", "r0"), None)
        .await
        .unwrap();
    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    assert!(
        list.revision.parse::<u64>().unwrap() > prev,
        "a delete advances the revision"
    );
    assert_eq!(nets(&d), ["10.0.0.0/8"]);
}
