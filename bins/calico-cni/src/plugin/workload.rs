//! The `calico` plugin's datastore side: the WorkloadEndpoint, the per-network Profile of
//! the `cni` orchestrator, and Felix's endpoint status file.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calico_datastore::{Datastore, DatastoreExt};
use calico_model::sync::ResourceKey;
use calico_model::{
    Action, Kind, ObjectMeta, Profile, ProfileSpec, Resource, Rule, WorkloadEndpoint,
    WorkloadEndpointSpec,
};
use ipnet::IpNet;

use crate::names::{self, WorkloadIds};
use crate::skel::{Error, Result};

/// How often the status file is looked for.
const STATUS_POLL: Duration = Duration::from_millis(100);

/// What the WorkloadEndpoint records about the attachment.
#[derive(Clone, Debug)]
pub struct EndpointFacts<'a> {
    /// Who.
    pub ids: &'a WorkloadIds,
    /// The WorkloadEndpoint name.
    pub name: &'a str,
    /// The host veth.
    pub host_ifname: &'a str,
    /// The container interface MAC.
    pub mac: &'a str,
    /// The pod's addresses (single-address prefixes).
    pub addresses: &'a [IpNet],
    /// The network name (the `cni` orchestrator's profile).
    pub network: &'a str,
}

/// The WorkloadEndpoint for an attachment.
pub fn workload_endpoint(f: &EndpointFacts<'_>) -> WorkloadEndpoint {
    let mut meta = ObjectMeta::namespaced(&f.ids.namespace, f.name);
    meta.labels
        .insert(names::LABEL_NAMESPACE.into(), f.ids.namespace.clone());
    meta.labels
        .insert(names::LABEL_ORCHESTRATOR.into(), f.ids.orchestrator.into());
    let profiles = if f.ids.is_k8s() {
        vec![format!(
            "{}{}",
            names::NAMESPACE_PROFILE_PREFIX,
            f.ids.namespace
        )]
    } else {
        vec![f.network.to_owned()]
    };
    WorkloadEndpoint::new(
        meta,
        WorkloadEndpointSpec {
            orchestrator: f.ids.orchestrator.into(),
            workload: if f.ids.is_k8s() {
                String::new()
            } else {
                f.ids.container_id.clone()
            },
            node: f.ids.node.clone(),
            container_id: f.ids.container_id.clone(),
            pod: f.ids.pod.clone(),
            endpoint: f.ids.endpoint.clone(),
            ip_networks: f.addresses.iter().map(ToString::to_string).collect(),
            profiles,
            interface_name: f.host_ifname.to_owned(),
            mac: f.mac.to_owned(),
            ..WorkloadEndpointSpec::default()
        },
    )
}

/// The profile Calico creates for a network of the `cni` orchestrator: egress allowed,
/// ingress only from endpoints carrying the label `<network>`, which it applies.
pub fn network_profile(network: &str) -> Profile {
    let mut ingress = Rule::new(Action::Allow);
    ingress.source.selector = format!("has({network})");
    Profile::new(
        ObjectMeta::named(network),
        ProfileSpec {
            ingress: vec![ingress],
            egress: vec![Rule::new(Action::Allow)],
            labels_to_apply: [(network.to_owned(), String::new())].into_iter().collect(),
        },
    )
}

/// Writes (creates or replaces) the WorkloadEndpoint.
pub async fn write_endpoint(ds: &Arc<dyn Datastore>, wep: WorkloadEndpoint) -> Result<()> {
    let name = wep.metadata.name.clone();
    ds.apply(Resource::from(wep))
        .await
        .map(|_| ())
        .map_err(|e| Error::datastore(format!("write WorkloadEndpoint {name}"), e))
}

/// Creates the network's profile if it does not exist.
pub async fn ensure_profile(ds: &Arc<dyn Datastore>, network: &str) -> Result<()> {
    match ds.create(network_profile(network).into()).await {
        Ok(_) | Err(calico_datastore::Error::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(Error::datastore(format!("create Profile {network}"), e)),
    }
}

fn wep_key(namespace: &str, name: &str) -> ResourceKey {
    ResourceKey::new(Kind::WorkloadEndpoint, namespace, name)
}

/// Reads a WorkloadEndpoint (`None` if absent).
pub async fn get_endpoint(
    ds: &Arc<dyn Datastore>,
    namespace: &str,
    name: &str,
) -> Result<Option<WorkloadEndpoint>> {
    match ds.get(&wep_key(namespace, name)).await {
        Ok(Resource::WorkloadEndpoint(w)) => Ok(Some(*w)),
        Ok(_) => Ok(None),
        Err(calico_datastore::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(Error::datastore(format!("read WorkloadEndpoint {name}"), e)),
    }
}

/// Deletes the WorkloadEndpoint if it belongs to `container_id` (an endpoint recording
/// another container is kept: a newer sandbox owns it). Absent is fine.
pub async fn delete_endpoint(
    ds: &Arc<dyn Datastore>,
    namespace: &str,
    name: &str,
    container_id: &str,
) -> Result<bool> {
    for _ in 0..6 {
        let Some(wep) = get_endpoint(ds, namespace, name).await? else {
            return Ok(false);
        };
        if !wep.spec.container_id.is_empty() && wep.spec.container_id != container_id {
            return Ok(false);
        }
        match ds
            .delete(
                &wep_key(namespace, name),
                Some(&wep.metadata.resource_version),
            )
            .await
        {
            Ok(_) => return Ok(true),
            Err(calico_datastore::Error::NotFound { .. }) => return Ok(false),
            Err(calico_datastore::Error::Conflict { .. }) => continue,
            Err(e) => {
                return Err(Error::datastore(
                    format!("delete WorkloadEndpoint {name}"),
                    e,
                ));
            }
        }
    }
    Err(Error::TryAgain(format!(
        "WorkloadEndpoint {name} kept changing while being deleted"
    )))
}

/// Every WorkloadEndpoint of `node`.
pub async fn endpoints_of_node(
    ds: &Arc<dyn Datastore>,
    node: &str,
) -> Result<Vec<WorkloadEndpoint>> {
    let list = ds
        .list(Kind::WorkloadEndpoint, None)
        .await
        .map_err(|e| Error::datastore("list WorkloadEndpoints", e))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|r| match r {
            Resource::WorkloadEndpoint(w) if w.spec.node == node => Some(*w),
            _ => None,
        })
        .collect())
}

/// Felix's status file for the endpoint.
pub fn status_file(dir: &Path, namespace: &str, name: &str) -> std::path::PathBuf {
    let id = calico_policy::ir::WorkloadEndpointId {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    dir.join(calico_dataplane::status::status_filename(&id))
}

/// Waits up to `seconds` for Felix's status file of the endpoint.
pub fn wait_for_policy(dir: &Path, namespace: &str, name: &str, seconds: u64) -> Result<()> {
    let file = status_file(dir, namespace, name);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if file.exists() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::PolicyTimeout {
                endpoint: name.to_owned(),
                seconds,
            });
        }
        std::thread::sleep(STATUS_POLL);
    }
}
