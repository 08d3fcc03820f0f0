//! Calico's datastore layer: where resources live, and how changes reach the agents.
//!
//! - [`Datastore`]: get, list (with the list's revision), create, compare-and-swap update,
//!   conditional delete, and ordered watches that resume from a revision; one error type
//!   ([`Error`]) with Calico's distinctions (not found, already exists, conflict,
//!   unavailable, invalid, revision too old).
//! - Backends: [`memory`] (in-process), `embedded` (SQLite in WAL mode: several processes
//!   share one file with no daemon) and `etcd` (Calico's exact etcd v3 key layout). The
//!   storage-owning backends implement the small [`KvBackend`] trait; [`KvStore`] turns any
//!   of them into a full [`Datastore`].
//! - [`migrate`]: lock, export (one YAML stream, IPAM included), import into another
//!   backend, unlock — `calicoctl datastore migrate`.
//! - [`conformance`]: the test suite every backend passes, public so that a third-party
//!   backend can run it too.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use calico_datastore::{Datastore, DatastoreExt, Error, memory::MemoryDatastore};
//! use calico_model::sync::ResourceKey;
//! use calico_model::{Kind, ObjectMeta, Tier, TierSpec};
//!
//! let store = MemoryDatastore::new();
//! let tier = Tier::new(ObjectMeta::named("security"), TierSpec { order: Some(100.0), ..Default::default() });
//! let created = store.create(tier.into()).await?;
//!
//! // Compare-and-swap: a write carrying a stale resourceVersion is refused.
//! let key = ResourceKey::of(&created);
//! let fresh = store.modify(&key, |r| { r.metadata_mut().labels.insert("team".into(), "sec".into()); }).await?;
//! assert!(matches!(store.update(created).await, Err(Error::Conflict { .. })));
//! assert_ne!(fresh.metadata().resource_version, "");
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```

pub mod api;
pub mod cluster;
pub mod config;
pub mod conformance;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod error;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod ipam;
pub mod kv;
pub mod memory;
pub mod migrate;
pub mod syncer;
#[cfg(feature = "testing")]
pub mod testing;

pub use api::{
    Datastore, DatastoreExt, ListResult, Undecodable, WatchEvent, WatchEventType, WatchStream,
};
pub use config::{DatastoreConfig, EtcdConfig, connect};
pub use error::{Error, Result};
pub use kv::{KvBackend, KvEntry, KvEvent, KvOp, KvStore};
