//! The desired dataplane state: what the sequence of [`DataplaneUpdate`]s so far says the
//! host should enforce. Every backend keeps one; it is what a resync compares the kernel to.

use std::collections::{BTreeMap, BTreeSet};

use calico_policy::DataplaneUpdate;
use calico_policy::ir::{
    HostEndpoint, IpSetId, IpSetMember, IpSetType, Policy, PolicyId, Profile, Route,
    WorkloadEndpoint, WorkloadEndpointId,
};

use crate::error::{Error, Result};

/// One IP set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpSet {
    /// Member type.
    pub set_type: IpSetType,
    /// Members.
    pub members: BTreeSet<IpSetMember>,
}

/// Everything the dataplane should enforce, keyed for lookup.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredState {
    /// Effective node-agent configuration (the merged FelixConfiguration spec), if any.
    pub config: Option<serde_json::Value>,
    /// IP sets by ID.
    pub ip_sets: BTreeMap<IpSetId, IpSet>,
    /// Policies used by local endpoints.
    pub policies: BTreeMap<PolicyId, Policy>,
    /// Profiles used by local endpoints.
    pub profiles: BTreeMap<String, Profile>,
    /// Local workload endpoints.
    pub workload_endpoints: BTreeMap<WorkloadEndpointId, WorkloadEndpoint>,
    /// Local host endpoints.
    pub host_endpoints: BTreeMap<String, HostEndpoint>,
    /// Routes.
    pub routes: BTreeSet<Route>,
    /// The calculation graph has sent its complete state at least once.
    pub in_sync: bool,
}

impl DesiredState {
    /// Applies one update. An update that contradicts the state (a delta to an unknown IP
    /// set) is an [`Error::Inconsistent`] and leaves the state unchanged.
    pub fn apply(&mut self, update: &DataplaneUpdate) -> Result<()> {
        match update {
            DataplaneUpdate::ConfigUpdate(config) => self.config = Some(config.clone()),
            DataplaneUpdate::IpSetUpdate {
                id,
                set_type,
                members,
            } => {
                self.ip_sets.insert(
                    id.clone(),
                    IpSet {
                        set_type: *set_type,
                        members: members.clone(),
                    },
                );
            }
            DataplaneUpdate::IpSetDelta { id, added, removed } => {
                let set = self.ip_sets.get_mut(id).ok_or_else(|| {
                    Error::Inconsistent(format!("delta to IP set {id}, which does not exist"))
                })?;
                for member in removed {
                    set.members.remove(member);
                }
                set.members.extend(added.iter().cloned());
            }
            DataplaneUpdate::IpSetRemove(id) => {
                self.ip_sets.remove(id);
            }
            DataplaneUpdate::PolicyUpdate(policy) => {
                self.policies.insert(policy.id.clone(), policy.clone());
            }
            DataplaneUpdate::PolicyRemove(id) => {
                self.policies.remove(id);
            }
            DataplaneUpdate::ProfileUpdate(profile) => {
                self.profiles.insert(profile.name.clone(), profile.clone());
            }
            DataplaneUpdate::ProfileRemove(name) => {
                self.profiles.remove(name);
            }
            DataplaneUpdate::WorkloadEndpointUpdate(wep) => {
                self.workload_endpoints.insert(wep.id.clone(), wep.clone());
            }
            DataplaneUpdate::WorkloadEndpointRemove(id) => {
                self.workload_endpoints.remove(id);
            }
            DataplaneUpdate::HostEndpointUpdate(hep) => {
                self.host_endpoints.insert(hep.id.clone(), hep.clone());
            }
            DataplaneUpdate::HostEndpointRemove(id) => {
                self.host_endpoints.remove(id);
            }
            DataplaneUpdate::RouteUpdate(route) => {
                // One route per destination: a new target replaces the old one.
                self.routes.retain(|r| r.dst != route.dst);
                self.routes.insert(route.clone());
            }
            DataplaneUpdate::RouteRemove(route) => {
                self.routes.retain(|r| r.dst != route.dst);
            }
            DataplaneUpdate::InSync => self.in_sync = true,
        }
        Ok(())
    }

    /// Applies a batch in order; stops at the first inconsistent update.
    pub fn apply_all<'a>(
        &mut self,
        batch: impl IntoIterator<Item = &'a DataplaneUpdate>,
    ) -> Result<()> {
        batch.into_iter().try_for_each(|u| self.apply(u))
    }

    /// The workload endpoint using a host-side interface.
    pub fn workload_by_interface(&self, interface: &str) -> Option<&WorkloadEndpoint> {
        self.workload_endpoints
            .values()
            .find(|w| w.interface_name == interface)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_policy::ir::IpSetMember;

    fn net(s: &str) -> IpSetMember {
        IpSetMember::Net(s.parse().unwrap())
    }

    #[test]
    fn deltas_change_members_and_unknown_sets_are_refused() {
        let mut state = DesiredState::default();
        let id = IpSetId("s:abc".into());
        state
            .apply(&DataplaneUpdate::IpSetUpdate {
                id: id.clone(),
                set_type: IpSetType::Net,
                members: [net("10.0.0.1/32")].into(),
            })
            .unwrap();
        state
            .apply(&DataplaneUpdate::IpSetDelta {
                id: id.clone(),
                added: [net("10.0.0.2/32")].into(),
                removed: [net("10.0.0.1/32")].into(),
            })
            .unwrap();
        assert_eq!(state.ip_sets[&id].members, [net("10.0.0.2/32")].into());
        let err = state
            .apply(&DataplaneUpdate::IpSetDelta {
                id: IpSetId("s:missing".into()),
                added: BTreeSet::new(),
                removed: BTreeSet::new(),
            })
            .unwrap_err();
        assert!(err.to_string().contains("s:missing"), "{err}");
        state.apply(&DataplaneUpdate::IpSetRemove(id)).unwrap();
        assert!(state.ip_sets.is_empty());
    }
}
