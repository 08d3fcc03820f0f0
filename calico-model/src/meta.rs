//! Kubernetes object metadata (`metav1.ObjectMeta`) as Calico resources carry it.
//!
//! Field names and omission rules follow Kubernetes' JSON encoding: empty strings, zero
//! numbers and empty collections are omitted on output.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::util::{is_default, is_empty_map};

/// Standard object metadata (`metadata:`) of every resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// Object name, unique within its kind (and namespace, for namespaced kinds).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Prefix the server uses to generate a unique name when `name` is empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    /// Namespace of a namespaced resource; empty for cluster-scoped kinds.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Deprecated self link; kept so that documents round-trip.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub self_link: String,
    /// Unique identifier set by the datastore on creation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Opaque revision of this object, used for compare-and-swap updates.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Sequence number of the desired state (spec changes).
    #[serde(default, skip_serializing_if = "is_default")]
    pub generation: i64,
    /// RFC 3339 creation time, set by the datastore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// RFC 3339 time at which the object will be deleted (finalizers pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    /// Grace period for the pending deletion, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Labels that selectors match on.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub labels: BTreeMap<String, String>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub annotations: BTreeMap<String, String>,
    /// Objects this object depends on (garbage collection).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    /// Finalizers that must be removed before the object is deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    /// Server-side-apply field ownership, kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<serde_json::Map<String, serde_json::Value>>")]
    pub managed_fields: Vec<serde_json::Value>,
}

impl ObjectMeta {
    /// Metadata carrying only a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Metadata carrying a namespace and a name.
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            ..Self::default()
        }
    }
}

/// A reference from an object to its owner (`metav1.OwnerReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnerReference {
    /// API version of the owner.
    pub api_version: String,
    /// Kind of the owner.
    pub kind: String,
    /// Name of the owner.
    pub name: String,
    /// UID of the owner.
    pub uid: String,
    /// True if the owner is the managing controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// True if the owner cannot be deleted before this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// Metadata of a `…List` document (`metav1.ListMeta`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListMeta {
    /// Revision of the store at which the list was read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Deprecated self link.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub self_link: String,
    /// Continuation token for paged lists.
    #[serde(default, rename = "continue", skip_serializing_if = "String::is_empty")]
    pub continue_token: String,
    /// Number of items not returned by a paged list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_item_count: Option<i64>,
}

/// A standard Kubernetes condition (`metav1.Condition`), used in several statuses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    /// Condition type, e.g. `Allocatable` or `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Generation the condition was computed for.
    #[serde(default, skip_serializing_if = "is_default")]
    pub observed_generation: i64,
    /// RFC 3339 time of the last status change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// Machine-readable reason in CamelCase.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}
