//! The [`Datastore`] trait every backend implements, and the types it speaks.

use std::time::Duration;

use async_trait::async_trait;
use calico_model::sync::ResourceKey;
use calico_model::{Kind, Resource};
use futures::stream::BoxStream;

use crate::error::{Error, Result};

/// The result of [`Datastore::list`]: the items and the revision the list was read at.
#[derive(Clone, Debug, Default)]
pub struct ListResult {
    /// The resources, ordered by namespace then name, each with its `resourceVersion`.
    pub items: Vec<Resource>,
    /// The store's revision at the time of the list; pass it to [`Datastore::watch`] to see
    /// every change after the list and nothing twice.
    pub revision: String,
    /// Stored values that could not be decoded (written by a newer or foreign client, or
    /// corrupt). They are reported, never silently dropped; a syncer treats them as absent,
    /// as Felix does.
    pub undecodable: Vec<Undecodable>,
}

/// A stored value that does not decode as a valid resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Undecodable {
    /// The resource the value is stored under.
    pub key: ResourceKey,
    /// Its revision.
    pub revision: String,
    /// Why it does not decode.
    pub reason: String,
}

/// What happened to a resource, as seen by a watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchEventType {
    /// The resource was created.
    Added,
    /// The resource was updated.
    Modified,
    /// The resource was deleted.
    Deleted,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchEvent {
    /// What happened.
    pub event_type: WatchEventType,
    /// Which resource.
    pub key: ResourceKey,
    /// The store revision of the change (strictly increasing along one watch).
    pub revision: String,
    /// The new value (Added/Modified) or the last value before the delete (Deleted).
    /// `None` when the stored value does not decode; `problem` then says why.
    pub resource: Option<Resource>,
    /// Why the value did not decode, if it did not.
    pub problem: Option<String>,
}

/// A stream of watch events. It ends with an error item when the watch breaks; an
/// [`Error::RevisionTooOld`] item means history was compacted and the caller must relist.
pub type WatchStream = BoxStream<'static, Result<WatchEvent>>;

/// Storage for Calico resources with revisions, compare-and-swap writes and watches.
///
/// Every backend passes the same conformance suite ([`crate::conformance`]). Semantics:
/// - **Revisions** are opaque strings. `metadata.resourceVersion` of a returned resource is
///   the revision of its last write; [`ListResult::revision`] is the store's revision at list
///   time. Within one store, revisions of successive writes increase.
/// - **Writes validate** the resource (Calico's defaults, then every validation rule) before
///   anything reaches storage, and set `uid`, `creationTimestamp`, `generation` and
///   `resourceVersion` as Kubernetes does (generation starts at 1 and increases when
///   anything but metadata changes).
/// - **Namespaces**: namespaced kinds need `metadata.namespace`; cluster-scoped kinds refuse one.
#[async_trait]
pub trait Datastore: Send + Sync {
    /// The backend's name (`embedded`, `memory`, `etcdv3`, …).
    fn backend(&self) -> &'static str;

    /// Reads one resource. [`Error::NotFound`] if it does not exist.
    async fn get(&self, key: &ResourceKey) -> Result<Resource>;

    /// Lists every resource of a kind, optionally in one namespace (`None`: all namespaces;
    /// ignored for cluster-scoped kinds).
    async fn list(&self, kind: Kind, namespace: Option<&str>) -> Result<ListResult>;

    /// Creates a resource; [`Error::AlreadyExists`] if it exists. `resourceVersion` must be
    /// empty. Returns the stored resource.
    async fn create(&self, resource: Resource) -> Result<Resource>;

    /// Replaces an existing resource. With a `resourceVersion` this is a compare-and-swap:
    /// a stale one fails with [`Error::Conflict`]. Without one the write is unconditional
    /// (but the resource must exist), as in Calico. Returns the stored resource.
    async fn update(&self, resource: Resource) -> Result<Resource>;

    /// Deletes a resource, optionally only if it is still at `revision`. Returns the last
    /// stored value.
    async fn delete(&self, key: &ResourceKey, revision: Option<&str>) -> Result<Resource>;

    /// Watches one kind (all namespaces) for changes after `from_revision` (usually a
    /// [`ListResult::revision`]); an empty revision means "from now". Events arrive in
    /// revision order. A revision older than the kept history fails with
    /// [`Error::RevisionTooOld`], either here or as a stream item.
    async fn watch(&self, kind: Kind, from_revision: &str) -> Result<WatchStream>;

    /// Discards history up to `revision` (what `etcdctl compact` does). Watches from an
    /// older revision then fail with [`Error::RevisionTooOld`].
    async fn compact(&self, revision: &str) -> Result<()>;
}

/// Helpers built from the [`Datastore`] primitives, available on every datastore.
#[async_trait]
pub trait DatastoreExt: Datastore {
    /// Creates the resource, or replaces it if it exists (calicoctl `apply`): reads the
    /// current `resourceVersion` and writes with compare-and-swap, retrying on conflict.
    async fn apply(&self, mut resource: Resource) -> Result<Resource> {
        let key = ResourceKey::of(&resource);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.get(&key).await {
                Ok(current) => {
                    resource.metadata_mut().resource_version =
                        current.metadata().resource_version.clone();
                    match self.update(resource.clone()).await {
                        Err(Error::Conflict { .. } | Error::NotFound { .. })
                            if attempt < MAX_RETRIES => {}
                        other => return other,
                    }
                }
                Err(Error::NotFound { .. }) => {
                    resource.metadata_mut().resource_version.clear();
                    match self.create(resource.clone()).await {
                        Err(Error::AlreadyExists { .. }) if attempt < MAX_RETRIES => {}
                        other => return other,
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Read-modify-write with compare-and-swap: reads the resource, lets `change` edit it
    /// and writes it back, re-reading and retrying on [`Error::Conflict`]. This is the
    /// pattern every Calico controller and IPAM write uses.
    async fn modify<F>(&self, key: &ResourceKey, mut change: F) -> Result<Resource>
    where
        F: FnMut(&mut Resource) + Send,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut current = self.get(key).await?;
            change(&mut current);
            match self.update(current).await {
                Err(Error::Conflict { .. }) if attempt < MAX_CAS_RETRIES => {
                    // Spread concurrent writers out a little.
                    if attempt > 3 {
                        tokio::time::sleep(Duration::from_micros(fastrand::u64(
                            0..200 * attempt as u64,
                        )))
                        .await;
                    }
                }
                other => return other,
            }
        }
    }
}

impl<T: Datastore + ?Sized> DatastoreExt for T {}

/// Attempts of [`DatastoreExt::apply`] before a conflict is returned to the caller.
const MAX_RETRIES: u32 = 5;
/// Attempts of [`DatastoreExt::modify`]; high because many writers may contend on one object.
const MAX_CAS_RETRIES: u32 = 1000;
