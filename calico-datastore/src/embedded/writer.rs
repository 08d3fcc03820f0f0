//! The writer thread: group commit of queued writes, one revision and one log row each.

use std::sync::{Arc, mpsc};

use calico_model::sync::ResourceKey;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use super::schema::{self, Meta};
use super::watch::Notify;
use super::{Core, MAX_BATCH, set_busy_timeout};
use crate::error::{Error, Result};
use crate::kv::{KvEntry, KvOp};

/// One write, as queued for the writer thread.
#[derive(Debug)]
pub(super) enum Op {
    /// [`crate::KvBackend::create`].
    Create { key: ResourceKey, value: String },
    /// [`crate::KvBackend::update`].
    Update {
        key: ResourceKey,
        value: String,
        expected: u64,
    },
    /// [`crate::KvBackend::delete`].
    Delete {
        key: ResourceKey,
        expected: Option<u64>,
    },
    /// [`crate::KvBackend::compact`].
    Compact { revision: u64 },
}

/// The result of an [`Op`].
#[derive(Debug)]
pub(super) enum Reply {
    /// The revision of a create or update.
    Revision(u64),
    /// The value a delete removed.
    Deleted(KvEntry),
    /// A compaction finished.
    Compacted,
}

impl Reply {
    pub fn revision(self) -> Result<u64> {
        match self {
            Reply::Revision(rev) => Ok(rev),
            other => Err(mismatch(&other)),
        }
    }

    pub fn deleted(self) -> Result<KvEntry> {
        match self {
            Reply::Deleted(entry) => Ok(entry),
            other => Err(mismatch(&other)),
        }
    }
}

fn mismatch(reply: &Reply) -> Error {
    Error::unavailable(format!(
        "internal error: the writer thread answered {reply:?}"
    ))
}

/// An [`Op`] and where to send its result.
pub(super) struct Request {
    pub op: Op,
    pub reply: oneshot::Sender<Result<Reply>>,
}

/// The value of `log.op` for each [`KvOp`].
pub(super) const fn op_code(op: KvOp) -> i64 {
    match op {
        KvOp::Create => 1,
        KvOp::Update => 2,
        KvOp::Delete => 3,
    }
}

/// Starts the writer thread on `conn`; it runs until the returned sender is dropped.
pub(super) fn start(
    conn: Connection,
    core: Arc<Core>,
    notify: Arc<Notify>,
) -> Result<mpsc::Sender<Request>> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("calico-db-writer".into())
        .spawn(move || run(conn, &core, &notify, &rx))
        .map_err(|e| {
            Error::unavailable(format!(
                "cannot start the embedded datastore's writer thread: {e}"
            ))
        })?;
    Ok(tx)
}

fn run(mut conn: Connection, core: &Core, notify: &Notify, requests: &mpsc::Receiver<Request>) {
    set_busy_timeout(core.options.busy_timeout);
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let (ops, replies): (Vec<Op>, Vec<_>) = batch.into_iter().map(|r| (r.op, r.reply)).unzip();
        match commit(&mut conn, &ops) {
            Ok((results, revision)) => {
                // Wake this process's watchers before the writers: a watcher then never
                // lags a caller that acts on its own write's return.
                notify.advance(revision);
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::warn!(path = %core.path.display(), error = %e, writes = ops.len(), "embedded datastore write failed");
                for reply in replies {
                    let _ = reply.send(Err(schema::sql_error(
                        &core.path,
                        "writing",
                        clone_error(&e),
                    )));
                }
            }
        }
    }
}

/// A copy of a SQLite error for each write of a failed batch (the error type is not `Clone`).
fn clone_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            rusqlite::Error::SqliteFailure(*code, msg.clone())
        }
        rusqlite::Error::FromSqlConversionFailure(i, ty, cause) => {
            rusqlite::Error::FromSqlConversionFailure(*i, *ty, cause.to_string().into())
        }
        rusqlite::Error::IntegralValueOutOfRange(i, v) => {
            rusqlite::Error::IntegralValueOutOfRange(*i, *v)
        }
        rusqlite::Error::InvalidColumnType(i, name, ty) => {
            rusqlite::Error::InvalidColumnType(*i, name.clone(), *ty)
        }
        rusqlite::Error::Utf8Error(e) => rusqlite::Error::Utf8Error(*e),
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// Applies `ops` in order in one transaction and commits it. Returns each op's result and
/// the store revision after the commit. A SQLite failure rolls back the whole batch.
fn commit(conn: &mut Connection, ops: &[Op]) -> rusqlite::Result<(Vec<Result<Reply>>, u64)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let before = Meta::read(&tx)?;
    let mut meta = before;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(apply(&tx, &mut meta, op)?);
    }
    if meta == before {
        // Every write was refused (conflicts, not found): nothing to commit.
        drop(tx);
        return Ok((results, meta.revision));
    }
    trim(&tx, &mut meta)?;
    meta.write(&tx, &before)?;
    tx.commit()?;
    Ok((results, meta.revision))
}

fn apply(conn: &Connection, meta: &mut Meta, op: &Op) -> rusqlite::Result<Result<Reply>> {
    Ok(match op {
        Op::Create { key, value } => match current(conn, key)? {
            Some(_) => Err(Error::AlreadyExists { key: key.clone() }),
            None => {
                let rev = record(conn, meta, key, KvOp::Create, value)?;
                conn.prepare_cached(
                    "INSERT INTO kv (kind, namespace, name, revision, value) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute((key.kind.kind(), &key.namespace, &key.name, rev, value))?;
                Ok(Reply::Revision(rev))
            }
        },
        Op::Update {
            key,
            value,
            expected,
        } => match current(conn, key)? {
            None => Err(Error::NotFound { key: key.clone() }),
            Some(cur) if cur != *expected => Err(conflict(key, *expected, cur)),
            Some(_) => {
                let rev = record(conn, meta, key, KvOp::Update, value)?;
                conn.prepare_cached(
                    "UPDATE kv SET revision = ?4, value = ?5 WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
                )?
                .execute((key.kind.kind(), &key.namespace, &key.name, rev, value))?;
                Ok(Reply::Revision(rev))
            }
        },
        Op::Delete { key, expected } => {
            let found = conn
                .prepare_cached(
                    "SELECT revision, value FROM kv WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
                )?
                .query_row((key.kind.kind(), &key.namespace, &key.name), |r| {
                    Ok((r.get::<_, u64>(0)?, r.get::<_, String>(1)?))
                })
                .optional()?;
            match (found, *expected) {
                (None, _) => Err(Error::NotFound { key: key.clone() }),
                (Some((cur, _)), Some(expected)) if expected != cur => {
                    Err(conflict(key, expected, cur))
                }
                (Some((cur, value)), _) => {
                    conn.prepare_cached(
                        "DELETE FROM kv WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
                    )?
                    .execute((key.kind.kind(), &key.namespace, &key.name))?;
                    record(conn, meta, key, KvOp::Delete, &value)?;
                    Ok(Reply::Deleted(KvEntry {
                        key: key.clone(),
                        value,
                        revision: cur,
                    }))
                }
            }
        }
        Op::Compact { revision } => {
            let upto = (*revision).min(meta.revision);
            if upto > meta.compacted {
                conn.prepare_cached("DELETE FROM log WHERE revision <= ?1")?
                    .execute([upto])?;
                meta.compacted = upto;
            }
            Ok(Reply::Compacted)
        }
    })
}

/// The revision of a stored key.
fn current(conn: &Connection, key: &ResourceKey) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("SELECT revision FROM kv WHERE kind = ?1 AND namespace = ?2 AND name = ?3")?
        .query_row((key.kind.kind(), &key.namespace, &key.name), |r| r.get(0))
        .optional()
}

/// Takes the next revision and appends the change to the log.
fn record(
    conn: &Connection,
    meta: &mut Meta,
    key: &ResourceKey,
    op: KvOp,
    value: &str,
) -> rusqlite::Result<u64> {
    meta.revision += 1;
    conn.prepare_cached(
        "INSERT INTO log (revision, kind, namespace, name, op, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute((
        meta.revision,
        key.kind.kind(),
        &key.namespace,
        &key.name,
        op_code(op),
        value,
    ))?;
    Ok(meta.revision)
}

/// Rows the log may hold beyond the history length before the oldest are deleted: deleting
/// in chunks costs one range delete per chunk of writes instead of one per write.
pub(super) fn trim_slack(history: u64) -> u64 {
    (history / 16).clamp(1, 256)
}

/// Deletes the log rows beyond the history length, once they exceed it by the slack.
fn trim(conn: &Connection, meta: &mut Meta) -> rusqlite::Result<()> {
    let kept = meta.revision.saturating_sub(meta.compacted);
    if kept >= meta.history + trim_slack(meta.history) {
        let upto = meta.revision - meta.history;
        conn.prepare_cached("DELETE FROM log WHERE revision <= ?1")?
            .execute([upto])?;
        meta.compacted = upto;
    }
    Ok(())
}

fn conflict(key: &ResourceKey, expected: u64, current: u64) -> Error {
    Error::Conflict {
        key: key.clone(),
        expected: expected.to_string(),
        current: current.to_string(),
    }
}
