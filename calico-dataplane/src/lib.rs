//! # calico-dataplane
//!
//! The drivers below Calico's calculation graph: a [`Dataplane`] consumes batches of
//! [`DataplaneUpdate`]s (the IR that [`calico_policy::CalcGraph`] emits) and makes the host
//! enforce them.
//!
//! Backends:
//! - [`RecordingDataplane`] (`none`): keeps the [`DesiredState`] and every batch it was
//!   given, programs nothing. For tests, dry runs and hosts where another component
//!   enforces policy.
//!
//! ```
//! use calico_dataplane::{Dataplane, RecordingDataplane};
//! use calico_policy::DataplaneUpdate;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let mut dp = RecordingDataplane::default();
//! let report = dp.apply(vec![DataplaneUpdate::InSync]).await.unwrap();
//! assert_eq!(report.updates, 1);
//! assert!(dp.state().in_sync);
//! # });
//! ```

pub mod error;
pub mod linux;
pub mod recording;
pub mod routes;
pub mod state;
pub mod status;

pub use calico_policy::DataplaneUpdate;
pub use error::{Error, Result};
pub use linux::LinuxDataplane;
pub use recording::RecordingDataplane;
pub use state::DesiredState;

use async_trait::async_trait;

/// What one [`Dataplane::apply`] or [`Dataplane::resync`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Updates consumed.
    pub updates: usize,
    /// Kernel objects (chains, sets, set elements, routes, …) written or deleted.
    pub objects_changed: usize,
    /// True if the batch made the dataplane fully programmed for the first time
    /// (an `InSync` was applied successfully).
    pub in_sync: bool,
}

/// A dataplane driver.
///
/// `apply` is atomic per batch where the backend allows it (nftables: one transaction) and
/// idempotent: applying the same state again changes nothing. After a failure the driver
/// keeps the desired state it was given; the next `apply` or `resync` retries.
#[async_trait]
pub trait Dataplane: Send {
    /// The backend's name as Felix configuration spells it (`nftables`, `none`).
    fn name(&self) -> &'static str;

    /// Applies one batch of updates, in order.
    async fn apply(&mut self, batch: Vec<DataplaneUpdate>) -> Result<ApplyReport>;

    /// Reads what the kernel has, and repairs any difference from the desired state
    /// (missing or altered objects rewritten, stale ones removed).
    async fn resync(&mut self) -> Result<ApplyReport>;

    /// The desired state the backend was given so far.
    fn state(&self) -> &DesiredState;
}
