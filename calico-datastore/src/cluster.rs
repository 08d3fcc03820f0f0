//! Cluster initialisation: the `ClusterInformation` singleton (`default`) that Calico's
//! node agent creates or refreshes at startup (libcalico-go's `EnsureInitialized`).
//!
//! It carries the cluster's GUID, the running Calico version (which `calicoctl version` and
//! its version-mismatch check read), the cluster type tags and `datastoreReady`, which
//! `calicoctl datastore migrate lock` turns off.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use calico_datastore::{cluster, memory::MemoryDatastore};
//!
//! let store = MemoryDatastore::new();
//! let info = cluster::ensure_initialized(&store, "v0.1.0", "k8s,bgp").await.unwrap();
//! assert_eq!(info.spec.calico_version, "v0.1.0");
//! assert_eq!(info.spec.datastore_ready, Some(true));
//! // Again, with another tag: the GUID stays, the tags merge.
//! let again = cluster::ensure_initialized(&store, "v0.1.0", "kubeadm").await.unwrap();
//! assert_eq!(again.spec.cluster_guid, info.spec.cluster_guid);
//! assert_eq!(again.spec.cluster_type, "k8s,bgp,kubeadm");
//! # });
//! ```

use calico_model::ClusterInformation;
use calico_model::sync::ResourceKey;
use calico_model::{Kind, Resource};

use crate::api::{Datastore, DatastoreExt};
use crate::error::{Error, Result};

/// The singleton's name.
pub const NAME: &str = "default";

/// The key of `ClusterInformation/default`.
pub fn key() -> ResourceKey {
    ResourceKey::new(Kind::ClusterInformation, "", NAME)
}

/// Reads `ClusterInformation/default` (`Ok(None)` if it does not exist).
pub async fn get(store: &(impl Datastore + ?Sized)) -> Result<Option<ClusterInformation>> {
    match store.get(&key()).await {
        Ok(Resource::ClusterInformation(ci)) => Ok(Some(*ci)),
        Ok(other) => Err(Error::invalid(
            &key(),
            "kind",
            format!("decoded as a {}", other.kind()),
        )),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Merges comma-separated type tags, keeping the existing order and adding new ones.
fn merge_types(current: &str, add: &str) -> String {
    let mut out: Vec<&str> = current
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    for t in add.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out.join(",")
}

/// Fills in what a starting node agent owns: a GUID if there is none, the running
/// `calico_version` (if not empty), the merged `cluster_type` tags and `datastoreReady: true`
/// if unset (a migration lock, `false`, is kept). Returns true if anything changed.
fn refresh(ci: &mut ClusterInformation, calico_version: &str, cluster_type: &str) -> bool {
    let before = ci.spec.clone();
    if ci.spec.cluster_guid.is_empty() {
        ci.spec.cluster_guid = uuid::Uuid::new_v4().simple().to_string();
    }
    if !calico_version.is_empty() {
        ci.spec.calico_version = calico_version.to_owned();
    }
    ci.spec.cluster_type = merge_types(&ci.spec.cluster_type, cluster_type);
    if ci.spec.datastore_ready.is_none() {
        ci.spec.datastore_ready = Some(true);
    }
    ci.spec != before
}

/// A new `ClusterInformation/default` as `EnsureInitialized` creates it: a fresh GUID (32 hex
/// digits), `calico_version`, the `cluster_type` tags, `datastoreReady: true`.
pub fn initial(calico_version: &str, cluster_type: &str) -> ClusterInformation {
    let mut ci = ClusterInformation::default();
    ci.metadata.name = NAME.to_owned();
    refresh(&mut ci, calico_version, cluster_type);
    ci
}

/// Creates `ClusterInformation/default`, or refreshes it (see the module docs), with
/// compare-and-swap. Safe to call from many nodes at once.
pub async fn ensure_initialized(
    store: &(impl Datastore + ?Sized),
    calico_version: &str,
    cluster_type: &str,
) -> Result<ClusterInformation> {
    loop {
        match get(store).await? {
            None => {
                let ci = initial(calico_version, cluster_type);
                match store
                    .create(Resource::ClusterInformation(Box::new(ci)))
                    .await
                {
                    Ok(Resource::ClusterInformation(ci)) => return Ok(*ci),
                    Ok(_) => return unreachable_kind(),
                    // Another node created it first: refresh theirs.
                    Err(Error::AlreadyExists { .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
            Some(mut ci) => {
                if !refresh(&mut ci, calico_version, cluster_type) {
                    return Ok(ci);
                }
                let written = store
                    .modify(&key(), |r| {
                        if let Resource::ClusterInformation(ci) = r {
                            refresh(ci, calico_version, cluster_type);
                        }
                    })
                    .await;
                match written {
                    Ok(Resource::ClusterInformation(ci)) => return Ok(*ci),
                    Ok(_) => return unreachable_kind(),
                    Err(Error::NotFound { .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

fn unreachable_kind() -> Result<ClusterInformation> {
    Err(Error::invalid(
        &key(),
        "kind",
        "the datastore returned another kind",
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::memory::MemoryDatastore;

    #[tokio::test]
    async fn creates_then_refreshes_keeping_guid_and_lock() {
        let store = MemoryDatastore::new();
        assert!(get(&store).await.unwrap().is_none());
        let first = ensure_initialized(&store, "v0.1.0", "k8s").await.unwrap();
        assert_eq!(first.spec.cluster_guid.len(), 32);
        assert_eq!(first.spec.datastore_ready, Some(true));
        // A migration lock is kept; the version moves.
        store
            .modify(&key(), |r| {
                if let Resource::ClusterInformation(ci) = r {
                    ci.spec.datastore_ready = Some(false);
                }
            })
            .await
            .unwrap();
        let second = ensure_initialized(&store, "v0.2.0", "k8s,bgp")
            .await
            .unwrap();
        assert_eq!(second.spec.cluster_guid, first.spec.cluster_guid);
        assert_eq!(second.spec.calico_version, "v0.2.0");
        assert_eq!(second.spec.cluster_type, "k8s,bgp");
        assert_eq!(second.spec.datastore_ready, Some(false));
        // Nothing to change: no write.
        let rv = second.metadata.resource_version.clone();
        let third = ensure_initialized(&store, "v0.2.0", "bgp").await.unwrap();
        assert_eq!(third.metadata.resource_version, rv);
    }

    #[tokio::test]
    async fn concurrent_nodes_agree_on_one_guid() {
        let store = std::sync::Arc::new(MemoryDatastore::new());
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                ensure_initialized(store.as_ref(), "v0.1.0", &format!("t{i}"))
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let ci = get(store.as_ref()).await.unwrap().unwrap();
        let mut tags: Vec<&str> = ci.spec.cluster_types().collect();
        tags.sort_unstable();
        assert_eq!(tags, ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"]);
    }

    #[test]
    fn type_tags_merge_in_order_without_duplicates() {
        assert_eq!(merge_types("", "k8s, bgp"), "k8s,bgp");
        assert_eq!(merge_types("k8s,bgp", "bgp,kdd"), "k8s,bgp,kdd");
        assert_eq!(merge_types("k8s", ""), "k8s");
    }
}
