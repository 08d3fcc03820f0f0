//! The in-process backend: for tests and for programs that embed the SDK without storage.
//!
//! ```
//! # tokio_test_block_on(async {
//! use calico_datastore::{Datastore, memory::MemoryDatastore};
//! use calico_model::{GlobalNetworkSet, GlobalNetworkSetSpec, Kind, ObjectMeta};
//!
//! let store = MemoryDatastore::new();
//! let set = GlobalNetworkSet::new(ObjectMeta::named("office"), GlobalNetworkSetSpec {
//!     nets: vec!["192.0.2.0/24".parse().unwrap()],
//!     ..Default::default()
//! });
//! let created = store.create(set.into()).await.unwrap();
//! assert_eq!(created.metadata().generation, 1);
//! let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
//! assert_eq!(list.items.len(), 1);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use calico_model::Kind;
use calico_model::sync::ResourceKey;
use futures::StreamExt;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::kv::{KvBackend, KvEntry, KvEvent, KvOp, KvStore, KvWatch};

/// A [`crate::Datastore`] held in memory.
pub type MemoryDatastore = KvStore<MemoryBackend>;

impl MemoryDatastore {
    /// An empty in-memory datastore keeping the default history for watches.
    pub fn new() -> Self {
        KvStore::with_backend(MemoryBackend::new(DEFAULT_HISTORY))
    }

    /// An empty in-memory datastore keeping `history` changes for watches to resume from.
    pub fn with_history(history: usize) -> Self {
        KvStore::with_backend(MemoryBackend::new(history))
    }
}

impl Default for MemoryDatastore {
    fn default() -> Self {
        Self::new()
    }
}

/// Changes kept for watches by default; older watch revisions get [`Error::RevisionTooOld`].
pub const DEFAULT_HISTORY: usize = 100_000;

#[derive(Debug)]
struct LogEntry {
    revision: u64,
    key: ResourceKey,
    op: KvOp,
    value: Option<Arc<str>>,
}

#[derive(Debug, Default)]
struct State {
    data: BTreeMap<ResourceKey, (Arc<str>, u64)>,
    log: VecDeque<LogEntry>,
    revision: u64,
    /// Every change after this revision is still in `log`.
    compacted: u64,
    history: usize,
}

impl State {
    fn record(&mut self, key: &ResourceKey, op: KvOp, value: Option<Arc<str>>) -> u64 {
        self.revision += 1;
        self.log.push_back(LogEntry {
            revision: self.revision,
            key: key.clone(),
            op,
            value,
        });
        while self.log.len() > self.history {
            if let Some(e) = self.log.pop_front() {
                self.compacted = e.revision;
            }
        }
        self.revision
    }

    fn entry(key: &ResourceKey, value: &Arc<str>, revision: u64) -> KvEntry {
        KvEntry {
            key: key.clone(),
            value: value.to_string(),
            revision,
        }
    }
}

/// The [`KvBackend`] of [`MemoryDatastore`].
pub struct MemoryBackend {
    state: Arc<Mutex<State>>,
    /// Carries the latest revision to watchers.
    tip: watch::Sender<u64>,
}

impl MemoryBackend {
    /// An empty backend keeping `history` changes.
    pub fn new(history: usize) -> Self {
        MemoryBackend {
            state: Arc::new(Mutex::new(State {
                history: history.max(1),
                ..State::default()
            })),
            tip: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn committed(&self, revision: u64) -> u64 {
        self.tip.send_replace(revision);
        revision
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // Every mutation completes before the guard drops, so a poisoned lock is consistent.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl KvBackend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &ResourceKey) -> Result<Option<KvEntry>> {
        Ok(self
            .lock()
            .data
            .get(key)
            .map(|(v, rev)| State::entry(key, v, *rev)))
    }

    async fn list(&self, kind: Kind, namespace: Option<&str>) -> Result<(Vec<KvEntry>, u64)> {
        let state = self.lock();
        let start = ResourceKey::new(kind, namespace.unwrap_or(""), "");
        let items = state
            .data
            .range(start..)
            .take_while(|(k, _)| k.kind == kind && namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(k, (v, rev))| State::entry(k, v, *rev))
            .collect();
        Ok((items, state.revision))
    }

    async fn create(&self, key: &ResourceKey, value: String) -> Result<u64> {
        let rev = {
            let mut state = self.lock();
            if state.data.contains_key(key) {
                return Err(Error::AlreadyExists { key: key.clone() });
            }
            let value: Arc<str> = value.into();
            let rev = state.record(key, KvOp::Create, Some(value.clone()));
            state.data.insert(key.clone(), (value, rev));
            rev
        };
        Ok(self.committed(rev))
    }

    async fn update(&self, key: &ResourceKey, value: String, expected: u64) -> Result<u64> {
        let rev = {
            let mut state = self.lock();
            match state.data.get(key) {
                None => return Err(Error::NotFound { key: key.clone() }),
                Some((_, current)) if *current != expected => {
                    return Err(Error::Conflict {
                        key: key.clone(),
                        expected: expected.to_string(),
                        current: current.to_string(),
                    });
                }
                Some(_) => {}
            }
            let value: Arc<str> = value.into();
            let rev = state.record(key, KvOp::Update, Some(value.clone()));
            state.data.insert(key.clone(), (value, rev));
            rev
        };
        Ok(self.committed(rev))
    }

    async fn delete(&self, key: &ResourceKey, expected: Option<u64>) -> Result<KvEntry> {
        let (entry, rev) = {
            let mut state = self.lock();
            let (value, current) = match state.data.get(key) {
                None => return Err(Error::NotFound { key: key.clone() }),
                Some((v, current)) => (v.clone(), *current),
            };
            if let Some(expected) = expected.filter(|e| *e != current) {
                return Err(Error::Conflict {
                    key: key.clone(),
                    expected: expected.to_string(),
                    current: current.to_string(),
                });
            }
            state.data.remove(key);
            let rev = state.record(key, KvOp::Delete, Some(value.clone()));
            (State::entry(key, &value, current), rev)
        };
        self.committed(rev);
        Ok(entry)
    }

    async fn watch(&self, kind: Kind, from: Option<u64>) -> Result<KvWatch> {
        let mut tip = self.tip.subscribe();
        tip.borrow_and_update();
        let last = {
            let s = self.lock();
            let from = from.unwrap_or(s.revision);
            if from < s.compacted {
                return Err(too_old(from, s.compacted));
            }
            from
        };
        let cursor = Cursor {
            state: self.state.clone(),
            tip,
            kind,
            last,
            pending: VecDeque::new(),
            failed: false,
        };
        Ok(futures::stream::unfold(cursor, Cursor::next).boxed())
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        let mut state = self.lock();
        let revision = revision.min(state.revision);
        while state.log.front().is_some_and(|e| e.revision <= revision) {
            state.log.pop_front();
        }
        state.compacted = state.compacted.max(revision);
        Ok(())
    }
}

/// A watch's position in the log.
struct Cursor {
    state: Arc<Mutex<State>>,
    tip: watch::Receiver<u64>,
    kind: Kind,
    last: u64,
    pending: VecDeque<KvEvent>,
    failed: bool,
}

impl Cursor {
    async fn next(mut self) -> Option<(Result<KvEvent>, Cursor)> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some((Ok(ev), self));
            }
            // Mark the tip seen before reading the log, so a write after the read wakes us.
            self.tip.borrow_and_update();
            if let Err(e) = self.read_log() {
                self.failed = true;
                return Some((Err(e), self));
            }
            if self.pending.is_empty() && self.tip.changed().await.is_err() {
                // The store is gone: end the stream.
                return None;
            }
        }
    }

    fn read_log(&mut self) -> Result<()> {
        let s = lock(&self.state);
        if self.last < s.compacted {
            return Err(too_old(self.last, s.compacted));
        }
        let start = s.log.partition_point(|e| e.revision <= self.last);
        for e in s.log.range(start..) {
            self.last = e.revision;
            if e.key.kind == self.kind {
                self.pending.push_back(KvEvent {
                    key: e.key.clone(),
                    revision: e.revision,
                    op: e.op,
                    value: e.value.as_ref().map(|v| v.to_string()),
                });
            }
        }
        Ok(())
    }
}

/// The error for a watch from before the kept history.
pub(crate) fn too_old(requested: u64, oldest: u64) -> Error {
    Error::RevisionTooOld {
        requested: requested.to_string(),
        oldest: oldest.to_string(),
    }
}
