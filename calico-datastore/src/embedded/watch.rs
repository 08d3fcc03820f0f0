//! Watches: the revision tip, the poller that notices other processes' writes, and the
//! cursor that reads the change log.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calico_model::Kind;
use calico_model::sync::ResourceKey;
use futures::StreamExt;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::watch;

use super::schema::{self, Meta, Role};
use super::writer::op_code;
use super::{Core, blocking, lock, set_busy_timeout};
use crate::error::Result;
use crate::kv::{KvEvent, KvOp, KvWatch};
use crate::memory::too_old;

/// Log rows a cursor reads at a time.
const WATCH_BATCH: u64 = 1024;

/// The poll interval is never shorter than this.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(1);

/// The latest revision known to this process, for watchers to wait on.
///
/// Held by the backend, its writer thread and its poller, never by cursors: once the store
/// is dropped and both threads have ended, the sender goes and every watch stream ends.
pub(super) struct Notify {
    tip: watch::Sender<u64>,
    /// Whether the poller thread runs; taken while subscribing so that the poller never
    /// stops for lack of watchers while one is being added.
    poller: Mutex<bool>,
    closed: AtomicBool,
}

impl Notify {
    pub fn new(revision: u64) -> Self {
        Notify {
            tip: watch::Sender::new(revision),
            poller: Mutex::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// Records that `revision` is committed, waking watchers if it is new.
    pub fn advance(&self, revision: u64) {
        self.tip.send_if_modified(|tip| {
            let newer = revision > *tip;
            if newer {
                *tip = revision;
            }
            newer
        });
    }

    /// The store is dropped: the poller stops.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// A receiver of the tip, with the poller running while it lives. Blocking (it may open
    /// the poller's connection).
    fn subscribe(self: &Arc<Self>, core: &Arc<Core>) -> Result<watch::Receiver<u64>> {
        let mut running = lock(&self.poller);
        let receiver = self.tip.subscribe();
        if !*running {
            let conn = schema::open_connection(&core.path, &core.options, Role::Reader)?;
            let (core, notify) = (core.clone(), self.clone());
            std::thread::Builder::new()
                .name("calico-db-poller".into())
                .spawn(move || poll(&conn, &core, &notify))
                .map_err(|e| {
                    crate::error::Error::unavailable(format!(
                        "cannot start the embedded datastore's poller thread: {e}"
                    ))
                })?;
            *running = true;
        }
        Ok(receiver)
    }
}

/// The poller thread: while anyone watches, checks every poll interval whether any other
/// connection (of any process) committed, and if so advances the tip to the stored revision.
fn poll(conn: &Connection, core: &Core, notify: &Notify) {
    set_busy_timeout(core.options.busy_timeout);
    let interval = core.options.poll_interval.max(MIN_POLL_INTERVAL);
    let mut seen = None;
    let mut failing = false;
    loop {
        {
            let mut running = lock(&notify.poller);
            if notify.is_closed() || notify.tip.receiver_count() == 0 {
                *running = false;
                return;
            }
        }
        match changed_revision(conn, &mut seen) {
            Ok(revision) => {
                failing = false;
                if let Some(revision) = revision {
                    notify.advance(revision);
                }
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(path = %core.path.display(), error = %e, "embedded datastore: cannot check for other processes' writes; retrying");
            }
            Err(_) => {}
        }
        std::thread::sleep(interval);
    }
}

/// The stored revision, if anything was committed since the last call (by a connection
/// other than `conn`).
fn changed_revision(conn: &Connection, seen: &mut Option<i64>) -> rusqlite::Result<Option<u64>> {
    let version: i64 = conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?;
    if *seen == Some(version) {
        return Ok(None);
    }
    // Read after the version: this sees at least everything the version reflects.
    let revision = Meta::read(conn)?.revision;
    *seen = Some(version);
    Ok(Some(revision))
}

/// Starts a watch of `kind` from `from` (`None`: from the current revision).
pub(super) async fn start(
    core: &Arc<Core>,
    notify: &Arc<Notify>,
    kind: Kind,
    from: Option<u64>,
) -> Result<KvWatch> {
    let (core2, notify) = (core.clone(), notify.clone());
    let (tip, last) = blocking(&core.path, "starting a watch", move || {
        // Subscribe before reading, so that a write after the read wakes the cursor.
        let tip = notify.subscribe(&core2)?;
        let meta = core2.with_reader("starting a watch", |conn| Meta::read(conn))?;
        let from = from.unwrap_or(meta.revision);
        if from < meta.compacted {
            return Err(too_old(from, meta.compacted));
        }
        Ok((tip, from))
    })
    .await?;
    let cursor = Cursor {
        core: core.clone(),
        tip,
        kind,
        last,
        pending: VecDeque::new(),
        failed: false,
    };
    Ok(futures::stream::unfold(cursor, Cursor::next).boxed())
}

/// A watch's position in the log.
struct Cursor {
    core: Arc<Core>,
    tip: watch::Receiver<u64>,
    kind: Kind,
    /// Every change up to this revision has been read.
    last: u64,
    pending: VecDeque<KvEvent>,
    failed: bool,
}

/// One read of the log.
struct LogRead {
    compacted: u64,
    head: u64,
    events: Vec<KvEvent>,
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
            // Mark the tip seen before reading the log, so a later commit wakes us.
            self.tip.borrow_and_update();
            if let Err(e) = self.read_log().await {
                self.failed = true;
                return Some((Err(e), self));
            }
            if !self.pending.is_empty() {
                continue;
            }
            // Wait for a revision newer than what the log read covered.
            loop {
                if self.tip.changed().await.is_err() {
                    // The store is gone: end the stream.
                    return None;
                }
                if *self.tip.borrow_and_update() > self.last {
                    break;
                }
            }
        }
    }

    async fn read_log(&mut self) -> Result<()> {
        let (kind, last) = (self.kind, self.last);
        let read = self
            .core
            .read("reading the change log", move |conn| {
                read_log(conn, kind, last)
            })
            .await?;
        if last < read.compacted {
            return Err(too_old(last, read.compacted));
        }
        self.last = match read.events.last() {
            Some(ev) if read.events.len() as u64 == WATCH_BATCH => ev.revision,
            _ => self.last.max(read.head),
        };
        self.pending.extend(read.events);
        Ok(())
    }
}

/// Reads up to [`WATCH_BATCH`] changes of `kind` after `last`, with the snapshot's
/// compaction point and head revision.
fn read_log(conn: &mut Connection, kind: Kind, last: u64) -> rusqlite::Result<LogRead> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let meta = Meta::read(&tx)?;
    let mut events = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT revision, namespace, name, op, value FROM log
             WHERE revision > ?1 AND kind = ?2 ORDER BY revision LIMIT ?3",
        )?;
        let mut rows = stmt.query((last, kind.kind(), WATCH_BATCH))?;
        while let Some(r) = rows.next()? {
            let code: i64 = r.get(3)?;
            let op = [KvOp::Create, KvOp::Update, KvOp::Delete]
                .into_iter()
                .find(|op| op_code(*op) == code)
                .ok_or_else(|| {
                    rusqlite::Error::FromSqlConversionFailure(
                        3,
                        rusqlite::types::Type::Integer,
                        format!("unknown change log operation {code}").into(),
                    )
                })?;
            events.push(KvEvent {
                key: ResourceKey::new(kind, r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                revision: r.get(0)?,
                op,
                value: r.get(4)?,
            });
        }
    }
    tx.commit()?;
    Ok(LogRead {
        compacted: meta.compacted,
        head: meta.revision,
        events,
    })
}
