//! The Linux dataplane: a policy backend plus workload routes, interface sysctls and
//! endpoint status files.
//!
//! [`LinuxDataplane`] composes
//! 1. a policy backend (`Box<dyn Dataplane>`: nftables, or [`RecordingDataplane`] in tests),
//! 2. an optional [`RouteManager`] (routes and sysctls over netlink),
//! 3. an optional [`StatusWriter`] (the CNI plugin's "policy is programmed" files),
//!
//! in that order: a batch goes to the policy backend first; once it succeeded and the state is
//! in sync, routes and sysctls are brought in line, then status files are written, so a status
//! file never claims an endpoint whose rules are not in place. Nothing is touched by (2) and
//! (3) before the first `InSync`, and the first pass after it is a full resync (mark and
//! sweep: leftovers of an earlier run are removed, as Felix does). A failure in (2) or (3) is returned; the next `apply` or
//! `resync` retries it, as the policy backend's desired state already holds the batch.
//!
//! [`RecordingDataplane`]: crate::RecordingDataplane

use async_trait::async_trait;
use calico_policy::DataplaneUpdate;

use crate::error::Result;
use crate::routes::RouteManager;
use crate::state::DesiredState;
use crate::status::StatusWriter;
use crate::{ApplyReport, Dataplane};

/// A policy backend with routes, sysctls and status files. See the [module docs](self).
pub struct LinuxDataplane {
    policy: Box<dyn Dataplane>,
    routes: Option<RouteManager>,
    status: Option<StatusWriter>,
    /// The first in-sync pass (a mark-and-sweep of what an earlier run left) is done.
    swept: bool,
}

impl LinuxDataplane {
    /// Composes the parts; `routes` and `status` may be left out.
    pub fn new(
        policy: Box<dyn Dataplane>,
        routes: Option<RouteManager>,
        status: Option<StatusWriter>,
    ) -> Self {
        LinuxDataplane {
            policy,
            routes,
            status,
            swept: false,
        }
    }

    /// The policy backend.
    pub fn policy(&self) -> &dyn Dataplane {
        self.policy.as_ref()
    }

    /// The route manager, if any.
    pub fn routes(&self) -> Option<&RouteManager> {
        self.routes.as_ref()
    }

    /// The status writer, if any.
    pub fn status(&self) -> Option<&StatusWriter> {
        self.status.as_ref()
    }

    /// Routes/sysctls then status files, for the current desired state.
    async fn follow(&mut self, full: bool) -> Result<usize> {
        let state = self.policy.state();
        if !state.in_sync {
            return Ok(0);
        }
        // The first pass after InSync is a full one: it removes the routes and status
        // files an earlier run left for endpoints that are gone.
        let full = full || !self.swept;
        let mut changed = 0;
        if let Some(routes) = &self.routes {
            let report = if full {
                routes.resync(state).await?
            } else {
                routes.apply(state).await?
            };
            changed += report.objects_changed();
        }
        if let Some(status) = &mut self.status {
            changed += if full {
                status.resync(state)?
            } else {
                status.apply(state)?
            };
        }
        self.swept = true;
        Ok(changed)
    }
}

#[async_trait]
impl Dataplane for LinuxDataplane {
    fn name(&self) -> &'static str {
        self.policy.name()
    }

    async fn apply(&mut self, batch: Vec<DataplaneUpdate>) -> Result<ApplyReport> {
        let mut report = self.policy.apply(batch).await?;
        report.objects_changed += self.follow(false).await?;
        Ok(report)
    }

    async fn resync(&mut self) -> Result<ApplyReport> {
        let mut report = self.policy.resync().await?;
        report.objects_changed += self.follow(true).await?;
        Ok(report)
    }

    fn state(&self) -> &DesiredState {
        self.policy.state()
    }
}
