//! The syncer contract between datastores and consumers (Felix's `SyncerCallbacks`):
//! a stream of resources set or deleted, and the datastore's sync status.
//!
//! Defined here so that `calico-datastore` can produce it and `calico-policy` consume it
//! without depending on each other.
//!
//! ```
//! use calico_model::sync::{ResourceKey, SyncEvent, SyncStatus};
//! use calico_model::{Kind, ObjectMeta, Tier, TierSpec};
//!
//! let tier = Tier::new(ObjectMeta::named("security"), TierSpec { order: Some(100.0), ..Default::default() });
//! let events = vec![
//!     SyncEvent::Status(SyncStatus::ResyncInProgress),
//!     SyncEvent::set(tier.into()),
//!     SyncEvent::deleted(ResourceKey::new(Kind::Tier, "", "old")),
//!     SyncEvent::Status(SyncStatus::InSync),
//! ];
//! assert_eq!(events.len(), 4);
//! ```

use std::fmt;

use crate::resource::{Kind, Resource};

/// Identity of a resource: kind, namespace (empty for cluster-scoped kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    /// The kind.
    pub kind: Kind,
    /// The namespace; empty for cluster-scoped kinds.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ResourceKey {
    /// A key from its parts.
    pub fn new(kind: Kind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ResourceKey {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of a resource.
    pub fn of(resource: &Resource) -> Self {
        ResourceKey::new(resource.kind(), resource.namespace(), resource.name())
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// The datastore's sync status, in the order a syncer moves through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncStatus {
    /// Not connected yet, or the data is not ready to use.
    WaitForDatastore,
    /// Sending every existing resource plus concurrent changes.
    ResyncInProgress,
    /// Everything that existed has been delivered: the consumer has the full picture.
    InSync,
}

/// One event from a syncer.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncEvent {
    /// A resource is set (`Some`) or absent (`None`: deleted, or failed validation).
    /// Consumers must decide existence from the value only, never assume ordering or that
    /// every intermediate state is seen, and tolerate a delete of something never set.
    Update {
        /// Which resource.
        key: ResourceKey,
        /// The resource, or `None` when it is absent.
        value: Option<Resource>,
        /// The datastore revision of this state (opaque).
        revision: String,
    },
    /// The sync status changed.
    Status(SyncStatus),
}

impl SyncEvent {
    /// A resource set, with no revision.
    pub fn set(resource: Resource) -> Self {
        let revision = resource.metadata().resource_version.clone();
        SyncEvent::Update {
            key: ResourceKey::of(&resource),
            value: Some(resource),
            revision,
        }
    }

    /// A resource deleted.
    pub fn deleted(key: ResourceKey) -> Self {
        SyncEvent::Update {
            key,
            value: None,
            revision: String::new(),
        }
    }
}
