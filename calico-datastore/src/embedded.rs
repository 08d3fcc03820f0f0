//! The embedded backend: one SQLite file in WAL mode, shared by every process on the host
//! (node agent, CNI plugin, IPAM plugin, calicoctl) with no daemon.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use calico_datastore::{Datastore, embedded::EmbeddedDatastore};
//! use calico_model::{GlobalNetworkSet, GlobalNetworkSetSpec, Kind, ObjectMeta};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = EmbeddedDatastore::open(dir.path().join("datastore.db")).unwrap();
//! let set = GlobalNetworkSet::new(ObjectMeta::named("office"), GlobalNetworkSetSpec {
//!     nets: vec!["192.0.2.0/24".parse().unwrap()],
//! });
//! store.create(set.into()).await.unwrap();
//!
//! // Another process (here: another handle) sees the same data.
//! let other = EmbeddedDatastore::open(dir.path().join("datastore.db")).unwrap();
//! assert_eq!(other.list(Kind::GlobalNetworkSet, None).await.unwrap().items.len(), 1);
//! # });
//! ```
//!
//! # How it works
//! - **Storage**: three tables. `kv` holds each resource's JSON and the revision of its last
//!   write, keyed by (kind, namespace, name); `log` holds one row per write (the change log
//!   that watches read); `meta` holds the store revision, the compaction point and the
//!   history length. Every write updates all three in one transaction, so a crash leaves
//!   either all or none of a write. `PRAGMA user_version` is the schema version and
//!   `PRAGMA application_id` marks the file as a Calico datastore.
//! - **Writes** go to one writer thread per open store. It takes every write queued at that
//!   moment (up to [`MAX_BATCH`]), applies them in order inside one `BEGIN IMMEDIATE`
//!   transaction and commits once (group commit): concurrent writers of one process share an
//!   fsync. Each write still gets its own revision and its own compare-and-swap check.
//!   Other processes' writers wait for SQLite's write lock with a short jittered backoff up
//!   to the busy timeout, after which the write fails with [`Error::Unavailable`].
//! - **Reads** run on tokio's blocking pool with a small pool of read connections; in WAL
//!   mode they never wait for writers.
//! - **Watches** read the change log. Writes of this process wake watchers at once through
//!   a `tokio::sync::watch` channel carrying the latest revision. Writes of other processes
//!   are noticed by one poller thread per open store (started by the first watch, stopped
//!   when the last one ends) that checks `PRAGMA data_version` every
//!   [`EmbeddedOptions::poll_interval`] (5 ms), or every
//!   [`EmbeddedOptions::idle_poll_interval`] (20 ms) once the store was quiet for
//!   [`IDLE_AFTER`]: a read of the shared-memory WAL index, no disk I/O.
//! - **History** is bounded: after each write batch, once the log holds more than the
//!   history length plus a small slack, the oldest rows are deleted in one range delete
//!   (amortised: one delete per slack's worth of writes). [`KvBackend::compact`] deletes
//!   explicitly. Watches from before the kept history fail with [`Error::RevisionTooOld`].
//!
//! See `docs/DATASTORE.md` for the design rationale and `docs/PERFORMANCE.md` for measurements.

mod schema;
#[cfg(test)]
mod tests;
mod watch;
mod writer;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use calico_model::Kind;
use calico_model::sync::ResourceKey;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::kv::{KvBackend, KvEntry, KvStore, KvWatch};

pub use crate::config::DEFAULT_EMBEDDED_PATH;
pub use crate::memory::DEFAULT_HISTORY;

/// A [`crate::Datastore`] in a SQLite file shared by every process on this host.
pub type EmbeddedDatastore = KvStore<EmbeddedBackend>;

impl EmbeddedDatastore {
    /// Opens the store at `path` with the default [`EmbeddedOptions`], creating the file
    /// (and its parent directories) if needed. The usual path is [`DEFAULT_EMBEDDED_PATH`].
    ///
    /// Opening does file I/O and may wait (up to the busy timeout) while another process
    /// creates the schema; call it from `spawn_blocking` where that matters.
    ///
    /// Errors: [`Error::Config`] if the file cannot be created or opened (permissions, a
    /// directory in the way), is another application's SQLite database, or was written by a
    /// newer schema; [`Error::Corrupt`] if it is not a database at all or is damaged;
    /// [`Error::Unavailable`] if another process keeps it locked beyond the busy timeout.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, EmbeddedOptions::default())
    }

    /// Opens the store at `path` with `options` (see [`EmbeddedDatastore::open`]).
    pub fn open_with(path: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self> {
        Ok(KvStore::with_backend(EmbeddedBackend::open(
            path.as_ref(),
            options,
        )?))
    }
}

/// The schema version this build writes (`PRAGMA user_version`). Files with a newer one are
/// refused rather than misread.
pub const SCHEMA_VERSION: i64 = 1;

/// `PRAGMA application_id` of a Calico datastore file ("CALI" in ASCII).
pub const APPLICATION_ID: i64 = 0x4341_4C49;

/// How long an operation waits for another process's lock before failing with
/// [`Error::Unavailable`], by default.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often, by default, a store with active watches checks for other processes' writes
/// while the store is busy (it changed within [`IDLE_AFTER`]).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How often, by default, a store with active watches checks for other processes' writes
/// once nothing changed for [`IDLE_AFTER`]: the worst-case added latency of the first
/// write after a quiet period.
pub const DEFAULT_IDLE_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A store that did not change for this long is polled at the idle interval.
pub const IDLE_AFTER: Duration = Duration::from_secs(1);

/// Most writes committed in one transaction by the writer thread.
pub const MAX_BATCH: usize = 256;

/// Read connections kept open per store for reuse (more are opened under load, then closed).
const READER_POOL: usize = 8;

/// How a commit reaches the disk (SQLite's `PRAGMA synchronous` in WAL mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is fsynced before the write returns (`synchronous = FULL`): a write that
    /// returned survives a power loss. Group commit shares the fsync among concurrent
    /// writers of one process.
    #[default]
    Full,
    /// Commits are fsynced only at WAL checkpoints (`synchronous = NORMAL`): the file stays
    /// consistent on power loss but the last writes before it may be lost. A killed process
    /// loses nothing either way.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// Settings of an [`EmbeddedDatastore`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EmbeddedOptions {
    /// Changes kept for watches. `None` keeps the file's setting ([`DEFAULT_HISTORY`] for a
    /// new file); `Some(n)` stores `n` in the file, for every process using it.
    pub history: Option<usize>,
    /// How commits reach the disk.
    pub durability: Durability,
    /// How long to wait for another process's lock before [`Error::Unavailable`].
    pub busy_timeout: Duration,
    /// How often a store with active watches checks for other processes' writes while it
    /// is busy.
    pub poll_interval: Duration,
    /// How often it checks once nothing changed for [`IDLE_AFTER`] (never more often than
    /// `poll_interval`).
    pub idle_poll_interval: Duration,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            history: None,
            durability: Durability::default(),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
            idle_poll_interval: DEFAULT_IDLE_POLL_INTERVAL,
        }
    }
}

impl EmbeddedOptions {
    /// Sets [`EmbeddedOptions::history`] (stored in the file).
    pub fn history(mut self, changes: usize) -> Self {
        self.history = Some(changes);
        self
    }

    /// Sets [`EmbeddedOptions::durability`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets [`EmbeddedOptions::busy_timeout`].
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets [`EmbeddedOptions::poll_interval`] (at least 1 ms is used).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets [`EmbeddedOptions::idle_poll_interval`].
    pub fn idle_poll_interval(mut self, interval: Duration) -> Self {
        self.idle_poll_interval = interval;
        self
    }
}

/// The [`KvBackend`] of [`EmbeddedDatastore`].
pub struct EmbeddedBackend {
    core: Arc<Core>,
    notify: Arc<watch::Notify>,
    writes: mpsc::Sender<writer::Request>,
}

/// What readers, the writer thread and watch cursors share.
struct Core {
    path: PathBuf,
    options: EmbeddedOptions,
    readers: Mutex<Vec<Connection>>,
}

impl EmbeddedBackend {
    fn open(path: &Path, options: EmbeddedOptions) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                schema::unusable(path, format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        set_busy_timeout(options.busy_timeout);
        let mut conn = schema::open_connection(path, &options, schema::Role::Writer)?;
        let revision = schema::prepare(&mut conn, path, options.history)?;
        let core = Arc::new(Core {
            path: path.to_owned(),
            options,
            readers: Mutex::new(Vec::new()),
        });
        let notify = Arc::new(watch::Notify::new(revision));
        let writes = writer::start(conn, core.clone(), notify.clone())?;
        Ok(EmbeddedBackend {
            core,
            notify,
            writes,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.core.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &EmbeddedOptions {
        &self.core.options
    }

    /// The store's current revision (as committed by any process).
    pub async fn revision(&self) -> Result<u64> {
        self.core
            .read("reading the revision", |conn| {
                Ok(schema::Meta::read(conn)?.revision)
            })
            .await
    }

    /// Runs SQLite's full consistency check of the file; [`Error::Corrupt`] with its
    /// findings if it is damaged.
    pub async fn check_integrity(&self) -> Result<()> {
        let problems = self
            .core
            .read("checking integrity", |conn| {
                let mut stmt = conn.prepare("PRAGMA integrity_check")?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            })
            .await?;
        if problems.len() == 1 && problems[0] == "ok" {
            Ok(())
        } else {
            Err(Error::Corrupt {
                location: self.core.path.display().to_string(),
                reason: problems.join("; "),
            })
        }
    }

    async fn write(&self, op: writer::Op) -> Result<writer::Reply> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(writer::Request { op, reply })
            .map_err(|_| self.writer_gone())?;
        answer.await.map_err(|_| self.writer_gone())?
    }

    fn writer_gone(&self) -> Error {
        Error::unavailable(format!(
            "{}: the writer thread of the embedded datastore has stopped",
            self.core.path.display()
        ))
    }
}

impl Drop for EmbeddedBackend {
    fn drop(&mut self) {
        // The writer thread ends when `writes` is dropped; the poller on its next tick.
        self.notify.close();
    }
}

impl Core {
    /// Runs `f` on a read connection off the async runtime.
    async fn read<T, F>(self: &Arc<Self>, action: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let core = self.clone();
        blocking(&self.path, action, move || core.with_reader(action, f)).await
    }

    fn with_reader<T>(
        &self,
        action: &'static str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        set_busy_timeout(self.options.busy_timeout);
        let pooled = lock(&self.readers).pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => schema::open_connection(&self.path, &self.options, schema::Role::Reader)?,
        };
        let out = f(&mut conn).map_err(|e| schema::sql_error(&self.path, action, e));
        // A connection left inside a transaction by a failed read is not reused.
        if conn.is_autocommit() {
            let mut pool = lock(&self.readers);
            if pool.len() < READER_POOL {
                pool.push(conn);
            }
        }
        out
    }
}

/// Runs blocking work off the async runtime: on tokio's blocking pool when called inside a
/// runtime, inline otherwise (another executor).
async fn blocking<T, F>(path: &Path, action: &'static str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(f).await.map_err(|e| {
            Error::unavailable(format!(
                "{}: {action}: the blocking task failed: {e}",
                path.display()
            ))
        })?,
        Err(_) => f(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Holders only push or pop whole values, so a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl KvBackend for EmbeddedBackend {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn get(&self, key: &ResourceKey) -> Result<Option<KvEntry>> {
        let key = key.clone();
        self.core
            .read("reading", move |conn| {
                let found = conn
                    .prepare_cached(
                        "SELECT value, revision FROM kv WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
                    )?
                    .query_row(
                        (key.kind.kind(), key.namespace.as_str(), key.name.as_str()),
                        |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)),
                    )
                    .optional()?;
                Ok(found.map(|(value, revision)| KvEntry {
                    key,
                    value,
                    revision,
                }))
            })
            .await
    }

    async fn list(&self, kind: Kind, namespace: Option<&str>) -> Result<(Vec<KvEntry>, u64)> {
        let namespace = namespace.map(str::to_owned);
        self.core
            .read("listing", move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
                let revision = schema::Meta::read(&tx)?.revision;
                let mut items = Vec::new();
                {
                    let mut stmt = tx.prepare_cached(
                        "SELECT namespace, name, value, revision FROM kv
                         WHERE kind = ?1 AND (?2 IS NULL OR namespace = ?2)
                         ORDER BY namespace, name",
                    )?;
                    let mut rows = stmt.query((kind.kind(), namespace.as_deref()))?;
                    while let Some(r) = rows.next()? {
                        items.push(KvEntry {
                            key: ResourceKey::new(
                                kind,
                                r.get::<_, String>(0)?,
                                r.get::<_, String>(1)?,
                            ),
                            value: r.get(2)?,
                            revision: r.get(3)?,
                        });
                    }
                }
                tx.commit()?;
                Ok((items, revision))
            })
            .await
    }

    async fn create(&self, key: &ResourceKey, value: String) -> Result<u64> {
        self.write(writer::Op::Create {
            key: key.clone(),
            value,
        })
        .await?
        .revision()
    }

    async fn update(&self, key: &ResourceKey, value: String, expected: u64) -> Result<u64> {
        self.write(writer::Op::Update {
            key: key.clone(),
            value,
            expected,
        })
        .await?
        .revision()
    }

    async fn delete(&self, key: &ResourceKey, expected: Option<u64>) -> Result<KvEntry> {
        self.write(writer::Op::Delete {
            key: key.clone(),
            expected,
        })
        .await?
        .deleted()
    }

    async fn watch(&self, kind: Kind, from: Option<u64>) -> Result<KvWatch> {
        watch::start(&self.core, &self.notify, kind, from).await
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        self.write(writer::Op::Compact { revision }).await?;
        Ok(())
    }
}

thread_local! {
    /// The busy timeout of the connection this thread is using, and when its current wait
    /// for a lock started (SQLite's busy handler is a plain function, called on the thread
    /// that runs the statement).
    static BUSY: Cell<(Duration, Option<Instant>)> = const { Cell::new((DEFAULT_BUSY_TIMEOUT, None)) };
}

/// Shortest sleep between two attempts to take a lock another process holds.
const BUSY_MIN_SLEEP: Duration = Duration::from_micros(100);
/// Longest sleep between two attempts (lock holders keep it for about one fsync).
const BUSY_MAX_SLEEP: Duration = Duration::from_millis(2);

/// Sets the busy timeout for the connections this thread is about to use.
fn set_busy_timeout(timeout: Duration) {
    BUSY.with(|b| b.set((timeout, None)));
}

/// SQLite's busy handler: sleep with jittered exponential backoff (100 µs to 2 ms) until the
/// thread's busy timeout has passed since the first attempt, then give up (`SQLITE_BUSY`).
/// SQLite's own handler sleeps 1, 2, 5, 10, … 100 ms, far longer than a lock is held here.
fn busy_wait(attempt: i32) -> bool {
    BUSY.with(|b| {
        let (timeout, since) = b.get();
        let now = Instant::now();
        let start = match since {
            Some(start) if attempt > 0 => start,
            _ => {
                b.set((timeout, Some(now)));
                now
            }
        };
        let waited = now.saturating_duration_since(start);
        if waited >= timeout {
            return false;
        }
        let exp = u32::try_from(attempt.clamp(0, 5)).unwrap_or(5);
        let ceiling = (BUSY_MIN_SLEEP * 2u32.pow(exp)).min(BUSY_MAX_SLEEP);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let sleep = Duration::from_nanos(fastrand::u64(nanos / 2..=nanos));
        std::thread::sleep(sleep.min(timeout - waited));
        true
    })
}
