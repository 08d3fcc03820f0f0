//! The syncer: lists then watches every kind a consumer needs, and streams
//! [`SyncEvent`]s — the contract of Felix's syncer callbacks — to it.
//!
//! - Status goes `WaitForDatastore` (at start) → `ResyncInProgress` (the first list
//!   succeeded) → `InSync` (every kind has been listed and its items delivered). After that it
//!   stays `InSync`: later relists only send what changed.
//! - Each kind keeps `key → revision` of what it delivered. After a broken watch or a
//!   compaction it relists, sends what changed meanwhile, and sends deletions for keys that
//!   vanished (mark and sweep), so the consumer always converges to the store's state.
//!   Unchanged resources are not re-sent.
//! - Values that do not decode are delivered as absent, as Felix treats parse failures.
//! - Errors back off exponentially with jitter; nothing spins.
//! - Up to [`SyncerOptions::batch_size`] events travel in one batch.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use calico_datastore::memory::MemoryDatastore;
//! use calico_datastore::syncer::{Mirror, Syncer};
//! use calico_model::Kind;
//! use calico_model::sync::SyncStatus;
//!
//! let store = Arc::new(MemoryDatastore::new());
//! let (tx, mut rx) = tokio::sync::mpsc::channel(16);
//! let _syncer = Syncer::start(store, &[Kind::Tier, Kind::Profile], tx);
//! let mut mirror = Mirror::default();
//! while mirror.status != Some(SyncStatus::InSync) {
//!     mirror.apply(rx.recv().await.unwrap());
//! }
//! assert_eq!(mirror.items.len(), 1); // the built-in default-allow profile
//! # });
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use calico_model::sync::{ResourceKey, SyncEvent, SyncStatus};
use calico_model::{Kind, Resource};
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::api::{Datastore, ListResult, WatchEvent, WatchEventType};
use crate::error::Error;

/// The kinds Felix's syncer watches (its "leader" set; see Felix's `felixsyncerv1`), minus
/// the internal ones that have no v3 kind here.
pub const FELIX_KINDS: &[Kind] = &[
    Kind::ClusterInformation,
    Kind::FelixConfiguration,
    Kind::GlobalNetworkPolicy,
    Kind::StagedGlobalNetworkPolicy,
    Kind::GlobalNetworkSet,
    Kind::IPPool,
    Kind::Node,
    Kind::Profile,
    Kind::WorkloadEndpoint,
    Kind::NetworkPolicy,
    Kind::StagedNetworkPolicy,
    Kind::StagedKubernetesNetworkPolicy,
    Kind::NetworkSet,
    Kind::Tier,
    Kind::HostEndpoint,
    Kind::BGPConfiguration,
    Kind::BGPPeer,
];

/// Tuning of a [`Syncer`].
#[derive(Clone, Debug)]
pub struct SyncerOptions {
    /// Most events in one batch (Felix consolidates up to 1000).
    pub batch_size: usize,
    /// First retry delay after an error.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
}

impl Default for SyncerOptions {
    fn default() -> Self {
        SyncerOptions {
            batch_size: 1000,
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl SyncerOptions {
    /// The delay before retry number `failures` (0-based): exponential, capped, with
    /// jitter in [50%, 100%] so that many agents do not retry in step.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = self.min_backoff.saturating_mul(1u32 << failures.min(16));
        exp.min(self.max_backoff)
            .mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// What a syncer has done so far, for metrics and tests (see [`Syncer::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncerStats {
    /// Complete lists of a kind (the first one of each kind included).
    pub lists: u64,
    /// Watches that ended because the history they resumed from was compacted.
    pub compactions: u64,
    /// Watches that broke or ended for any other reason (connection lost, server gone).
    pub watch_breaks: u64,
    /// Lists or watch starts that failed and were retried after a backoff.
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    lists: AtomicU64,
    compactions: AtomicU64,
    watch_breaks: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A running syncer. Dropping it (or [`Syncer::stop`]) stops every task.
pub struct Syncer {
    tasks: JoinSet<()>,
    counters: Arc<Counters>,
}

impl Syncer {
    /// Starts syncing `kinds` from `store` into `sink`, with default options.
    pub fn start(
        store: Arc<dyn Datastore>,
        kinds: &[Kind],
        sink: mpsc::Sender<Vec<SyncEvent>>,
    ) -> Syncer {
        Self::start_with(store, kinds, sink, SyncerOptions::default())
    }

    /// Starts syncing with explicit options. Needs a tokio runtime.
    pub fn start_with(
        store: Arc<dyn Datastore>,
        kinds: &[Kind],
        sink: mpsc::Sender<Vec<SyncEvent>>,
        options: SyncerOptions,
    ) -> Syncer {
        let mut kinds = kinds.to_vec();
        kinds.sort();
        kinds.dedup();
        let options = Arc::new(options);
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel(64);
        let mut tasks = JoinSet::new();
        tasks.spawn(aggregate(rx, sink, kinds.len(), options.batch_size));
        for (index, kind) in kinds.into_iter().enumerate() {
            tasks.spawn(
                KindWatcher {
                    store: store.clone(),
                    kind,
                    index,
                    tx: tx.clone(),
                    options: options.clone(),
                    delivered: HashMap::new(),
                    counters: counters.clone(),
                }
                .run(),
            );
        }
        Syncer { tasks, counters }
    }

    /// Counts of lists, compactions, broken watches and errors so far.
    pub fn stats(&self) -> SyncerStats {
        let c = &self.counters;
        SyncerStats {
            lists: c.lists.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            watch_breaks: c.watch_breaks.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        }
    }

    /// Stops every task and waits for them to end.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}

/// A batch from one kind's watcher.
struct Batch {
    index: usize,
    events: Vec<SyncEvent>,
    /// This batch completes a (re)list of the kind.
    synced: bool,
}

/// Merges the kinds' batches, tracks status and forwards to the sink.
async fn aggregate(
    mut rx: mpsc::Receiver<Batch>,
    sink: mpsc::Sender<Vec<SyncEvent>>,
    kinds: usize,
    batch_size: usize,
) {
    let mut synced = vec![false; kinds];
    let mut status = SyncStatus::WaitForDatastore;
    if sink.send(vec![SyncEvent::Status(status)]).await.is_err() {
        return;
    }
    if kinds == 0 {
        let _ = sink.send(vec![SyncEvent::Status(SyncStatus::InSync)]).await;
        return;
    }
    while let Some(first) = rx.recv().await {
        let mut out = Vec::new();
        if status == SyncStatus::WaitForDatastore {
            status = SyncStatus::ResyncInProgress;
            out.push(SyncEvent::Status(status));
        }
        let mut next = Some(first);
        // Consolidate whatever else is ready, up to the batch size.
        while let Some(batch) = next.take() {
            out.extend(batch.events);
            if let Some(s) = synced.get_mut(batch.index).filter(|_| batch.synced) {
                *s = true;
            }
            if status == SyncStatus::ResyncInProgress && synced.iter().all(|s| *s) {
                // Everything listed has been queued: announce after it.
                status = SyncStatus::InSync;
                out.push(SyncEvent::Status(status));
                break;
            }
            if out.len() < batch_size {
                next = rx.try_recv().ok();
            }
        }
        if sink.send(out).await.is_err() {
            return;
        }
    }
}

/// Lists and watches one kind, forever.
struct KindWatcher {
    store: Arc<dyn Datastore>,
    kind: Kind,
    index: usize,
    tx: mpsc::Sender<Batch>,
    options: Arc<SyncerOptions>,
    /// What the consumer has been sent: key → revision.
    delivered: HashMap<ResourceKey, String>,
    counters: Arc<Counters>,
}

impl KindWatcher {
    async fn run(mut self) {
        let mut failures = 0u32;
        loop {
            let list = match self.store.list(self.kind, None).await {
                Ok(list) => list,
                Err(e) => {
                    tracing::warn!(kind = %self.kind, error = %e, "list failed; retrying");
                    Counters::bump(&self.counters.errors);
                    self.pause(&mut failures).await;
                    continue;
                }
            };
            let revision = list.revision.clone();
            Counters::bump(&self.counters.lists);
            if !self.resync(list).await {
                return;
            }
            let mut stream = match self.store.watch(self.kind, &revision).await {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(kind = %self.kind, error = %e, "watch failed; relisting");
                    Counters::bump(&self.counters.errors);
                    self.pause(&mut failures).await;
                    continue;
                }
            };
            loop {
                let Some(item) = stream.next().await else {
                    tracing::warn!(kind = %self.kind, "watch ended; relisting");
                    Counters::bump(&self.counters.watch_breaks);
                    break;
                };
                let mut events = Vec::new();
                let mut broken = None;
                match item {
                    Ok(ev) => self.apply(ev, &mut events),
                    Err(e) => broken = Some(e),
                }
                // Take whatever else is ready without waiting.
                while broken.is_none() && events.len() < self.options.batch_size {
                    match stream.next().now_or_never() {
                        Some(Some(Ok(ev))) => self.apply(ev, &mut events),
                        Some(Some(Err(e))) => broken = Some(e),
                        Some(None) | None => break,
                    }
                }
                if !events.is_empty() {
                    failures = 0;
                    if !self.send(events, false).await {
                        return;
                    }
                }
                if let Some(e) = broken {
                    match e {
                        Error::RevisionTooOld { .. } => {
                            tracing::info!(kind = %self.kind, error = %e, "history compacted; relisting");
                            Counters::bump(&self.counters.compactions);
                        }
                        e => {
                            tracing::warn!(kind = %self.kind, error = %e, "watch broke; relisting");
                            Counters::bump(&self.counters.watch_breaks);
                        }
                    }
                    break;
                }
            }
            self.pause(&mut failures).await;
        }
    }

    async fn pause(&self, failures: &mut u32) {
        tokio::time::sleep(self.options.backoff(*failures)).await;
        *failures = failures.saturating_add(1);
    }

    /// Sends what a fresh list changed relative to what was delivered; false if the
    /// consumer is gone.
    async fn resync(&mut self, list: ListResult) -> bool {
        let mut events = Vec::new();
        let mut seen = HashSet::with_capacity(list.items.len());
        for item in list.items {
            let key = ResourceKey::of(&item);
            seen.insert(key.clone());
            self.deliver(key, Some(item), &mut events);
        }
        for bad in list.undecodable {
            tracing::warn!(key = %bad.key, reason = %bad.reason, "stored value does not decode; treating it as absent");
        }
        let vanished: Vec<ResourceKey> = self
            .delivered
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in vanished {
            self.deliver(key, None, &mut events);
        }
        // Send in batches; the last one marks the kind synced.
        while events.len() > self.options.batch_size {
            let rest = events.split_off(self.options.batch_size);
            if !self.send(std::mem::replace(&mut events, rest), false).await {
                return false;
            }
        }
        self.send(events, true).await
    }

    fn apply(&mut self, ev: WatchEvent, events: &mut Vec<SyncEvent>) {
        let value = match ev.event_type {
            WatchEventType::Deleted => None,
            WatchEventType::Added | WatchEventType::Modified => {
                if let Some(problem) = &ev.problem {
                    tracing::warn!(key = %ev.key, %problem, "stored value does not decode; treating it as absent");
                }
                ev.resource
            }
        };
        self.deliver(ev.key, value, events);
    }

    /// Queues an event if it changes what the consumer has.
    fn deliver(&mut self, key: ResourceKey, value: Option<Resource>, events: &mut Vec<SyncEvent>) {
        match value {
            Some(resource) => {
                let rv = &resource.metadata().resource_version;
                if self.delivered.get(&key) != Some(rv) {
                    self.delivered.insert(key, rv.clone());
                    events.push(SyncEvent::set(resource));
                }
            }
            None => {
                if self.delivered.remove(&key).is_some() {
                    events.push(SyncEvent::deleted(key));
                }
            }
        }
    }

    async fn send(&self, events: Vec<SyncEvent>, synced: bool) -> bool {
        self.tx
            .send(Batch {
                index: self.index,
                events,
                synced,
            })
            .await
            .is_ok()
    }
}

/// A consumer-side replica built from sync events: what a syncer's consumer knows.
/// Useful in tests and for programs that only need a current view of the store.
#[derive(Clone, Debug, Default)]
pub struct Mirror {
    /// Every resource currently set.
    pub items: BTreeMap<ResourceKey, Resource>,
    /// The last status received.
    pub status: Option<SyncStatus>,
    /// Every status received, in order.
    pub statuses: Vec<SyncStatus>,
    /// Events applied so far.
    pub events: usize,
}

impl Mirror {
    /// Applies a batch of events.
    pub fn apply(&mut self, events: impl IntoIterator<Item = SyncEvent>) {
        for ev in events {
            self.events += 1;
            match ev {
                SyncEvent::Status(s) => {
                    self.status = Some(s);
                    self.statuses.push(s);
                }
                SyncEvent::Update {
                    key,
                    value: Some(v),
                    ..
                } => {
                    self.items.insert(key, v);
                }
                SyncEvent::Update {
                    key, value: None, ..
                } => {
                    self.items.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let o = SyncerOptions::default();
        for failures in 0..40 {
            let d = o.backoff(failures);
            let ceiling = o
                .min_backoff
                .saturating_mul(1 << failures.min(16))
                .min(o.max_backoff);
            assert!(
                d <= ceiling && d >= ceiling / 2,
                "{failures}: {d:?} vs {ceiling:?}"
            );
        }
        assert!(o.backoff(30) <= o.max_backoff);
    }

    #[test]
    fn mirror_follows_sets_and_deletes() {
        let mut m = Mirror::default();
        let key = ResourceKey::new(Kind::Tier, "", "t");
        m.apply([
            SyncEvent::Status(SyncStatus::InSync),
            SyncEvent::deleted(key.clone()),
        ]);
        assert!(m.items.is_empty());
        assert_eq!(m.statuses, [SyncStatus::InSync]);
    }
}
