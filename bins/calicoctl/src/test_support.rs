//! Test support: a datastore with a concurrent writer, to show that read-modify-write
//! commands write with compare-and-swap and never lose another client's change.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use calico_datastore::memory::MemoryDatastore;
use calico_datastore::{Datastore, Error, ListResult, Result, WatchStream};
use calico_model::Resource;
use calico_model::sync::ResourceKey;

/// Runs a future on a fresh single-threaded runtime.
pub fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A memory store where, just before the first `update`, another client sets the label
/// `racer=won` on the same resource.
pub struct Interfering {
    inner: MemoryDatastore,
    raced: AtomicBool,
    conflicts: AtomicUsize,
}

impl Interfering {
    /// A store holding `resource`.
    pub async fn with(resource: Resource) -> Self {
        let inner = MemoryDatastore::new();
        inner.create(resource).await.expect("create");
        Interfering {
            inner,
            raced: AtomicBool::new(false),
            conflicts: AtomicUsize::new(0),
        }
    }

    /// How many updates failed with a conflict.
    pub fn conflicts(&self) -> usize {
        self.conflicts.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Datastore for Interfering {
    fn backend(&self) -> &'static str {
        "interfering"
    }

    async fn get(&self, key: &ResourceKey) -> Result<Resource> {
        self.inner.get(key).await
    }

    async fn list(&self, kind: calico_model::Kind, namespace: Option<&str>) -> Result<ListResult> {
        self.inner.list(kind, namespace).await
    }

    async fn create(&self, resource: Resource) -> Result<Resource> {
        self.inner.create(resource).await
    }

    async fn update(&self, resource: Resource) -> Result<Resource> {
        if !self.raced.swap(true, Ordering::SeqCst) {
            let mut theirs = self.inner.get(&ResourceKey::of(&resource)).await?;
            theirs
                .metadata_mut()
                .labels
                .insert("racer".into(), "won".into());
            self.inner.update(theirs).await?;
        }
        let out = self.inner.update(resource).await;
        if matches!(out, Err(Error::Conflict { .. })) {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        out
    }

    async fn delete(&self, key: &ResourceKey, revision: Option<&str>) -> Result<Resource> {
        self.inner.delete(key, revision).await
    }

    async fn watch(&self, kind: calico_model::Kind, from_revision: &str) -> Result<WatchStream> {
        self.inner.watch(kind, from_revision).await
    }

    async fn compact(&self, revision: &str) -> Result<()> {
        self.inner.compact(revision).await
    }
}

/// An IPPool named `name` for `cidr`, everything else defaulted.
pub fn pool(name: &str, cidr: &str) -> Resource {
    calico_model::IPPool::new(
        calico_model::ObjectMeta::named(name),
        calico_model::IPPoolSpec {
            cidr: cidr.into(),
            ..calico_model::IPPoolSpec::default()
        },
    )
    .into()
}
