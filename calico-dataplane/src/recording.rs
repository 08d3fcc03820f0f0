//! The `none` dataplane: records what it is given, programs nothing.

use async_trait::async_trait;
use calico_policy::DataplaneUpdate;

use crate::error::Result;
use crate::state::DesiredState;
use crate::{ApplyReport, Dataplane};

/// A [`Dataplane`] that keeps the desired state and the batches it was given.
///
/// Felix's `none`-style dataplane, for tests and policy dry runs: the state it holds is
/// what an enforcing backend would program.
#[derive(Debug, Default)]
pub struct RecordingDataplane {
    state: DesiredState,
    /// Every batch applied, in order.
    pub batches: Vec<Vec<DataplaneUpdate>>,
    /// Number of resyncs requested.
    pub resyncs: usize,
}

#[async_trait]
impl Dataplane for RecordingDataplane {
    fn name(&self) -> &'static str {
        "none"
    }

    async fn apply(&mut self, batch: Vec<DataplaneUpdate>) -> Result<ApplyReport> {
        let mut next = self.state.clone();
        next.apply_all(&batch)?;
        let report = ApplyReport {
            updates: batch.len(),
            objects_changed: 0,
            in_sync: next.in_sync && !self.state.in_sync,
        };
        self.state = next;
        self.batches.push(batch);
        Ok(report)
    }

    async fn resync(&mut self) -> Result<ApplyReport> {
        self.resyncs += 1;
        Ok(ApplyReport::default())
    }

    fn state(&self) -> &DesiredState {
        &self.state
    }
}
