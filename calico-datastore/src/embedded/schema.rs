//! Opening connections, the schema and its version, and SQLite errors as [`Error`]s.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::{APPLICATION_ID, EmbeddedOptions, SCHEMA_VERSION, busy_wait};
use crate::error::{Error, Result};
use crate::memory::DEFAULT_HISTORY;

/// The tables of schema version 1 (see the module documentation of `embedded`).
const SCHEMA_V1: &str = "
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE kv (
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    revision INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (kind, namespace, name)
) WITHOUT ROWID;
CREATE TABLE log (
    revision INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    op INTEGER NOT NULL,
    value TEXT
);
";

/// `meta` key of the store revision (the revision of the last write).
pub(super) const META_REVISION: &str = "revision";
/// `meta` key of the compaction point: every change after it is still in `log`.
pub(super) const META_COMPACTED: &str = "compacted";
/// `meta` key of the history length.
pub(super) const META_HISTORY: &str = "history";

/// The WAL file is truncated to this size after a checkpoint if it grew beyond it.
const JOURNAL_SIZE_LIMIT: i64 = 16 * 1024 * 1024;

/// What a connection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// The writer thread's connection; creates the file if missing.
    Writer,
    /// A read connection (also the poller's); `query_only`, never creates the file.
    Reader,
}

/// Opens and configures one connection.
pub(super) fn open_connection(
    path: &Path,
    options: &EmbeddedOptions,
    role: Role,
) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if role == Role::Writer {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| match e.sqlite_error_code() {
            Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
                unusable(path, format!("cannot open: {e}"))
            }
            _ => sql_error(path, "opening", e),
        })?;
    let configure = || -> rusqlite::Result<()> {
        conn.busy_handler(Some(busy_wait))?;
        conn.pragma_update(None, "synchronous", options.durability.pragma())?;
        conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
        if role == Role::Reader {
            conn.pragma_update(None, "query_only", true)?;
        }
        Ok(())
    };
    configure().map_err(|e| sql_error(path, "configuring the connection", e))?;
    Ok(conn)
}

/// Checks that the file is a Calico datastore of a schema this build understands, creates
/// the schema in a new file, switches to WAL mode and applies `history`. Returns the
/// store's revision.
pub(super) fn prepare(conn: &mut Connection, path: &Path, history: Option<usize>) -> Result<u64> {
    let header = |conn: &Connection| -> rusqlite::Result<(i64, i64, i64)> {
        let version = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let app = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
        let tables = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        Ok((version, app, tables))
    };
    // One read transaction, so that the three values are from one snapshot even while
    // another process creates the schema.
    let first_look = |conn: &mut Connection| -> rusqlite::Result<(i64, i64, i64)> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let found = header(&tx)?;
        tx.commit()?;
        Ok(found)
    };
    let (version, app, tables) =
        first_look(conn).map_err(|e| sql_error(path, "reading the file header", e))?;
    check_header(path, version, app, tables)?;
    // WAL mode is persistent, but can only be switched outside a transaction; it must be
    // on before the first write so that the new file is never used in rollback mode.
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .map_err(|e| sql_error(path, "reading the journal mode", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| sql_error(path, "switching to WAL mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(unusable(
                path,
                format!("SQLite cannot use WAL mode for this file (journal mode stays {mode:?})"),
            ));
        }
    }
    let init = |conn: &mut Connection| -> rusqlite::Result<Result<u64>> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have created the schema since the first look.
        let (version, app, tables) = header(&tx)?;
        if let Err(e) = check_header(path, version, app, tables) {
            return Ok(Err(e));
        }
        if version == 0 {
            tx.execute_batch(SCHEMA_V1)?;
            let history = history.unwrap_or(DEFAULT_HISTORY).max(1);
            let mut insert = tx.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
            insert.execute((META_REVISION, 0u64))?;
            insert.execute((META_COMPACTED, 0u64))?;
            insert.execute((META_HISTORY, history))?;
            drop(insert);
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        } else if let Some(history) = history {
            tx.execute(
                "UPDATE meta SET value = ?2 WHERE key = ?1 AND value != ?2",
                (META_HISTORY, history.max(1)),
            )?;
        }
        let revision = Meta::read(&tx)?.revision;
        tx.commit()?;
        Ok(Ok(revision))
    };
    if version == 0 || history.is_some() {
        init(conn).map_err(|e| sql_error(path, "creating the schema", e))?
    } else {
        Meta::read(conn)
            .map(|m| m.revision)
            .map_err(|e| sql_error(path, "reading the revision", e))
    }
}

/// Refuses files that are not (or not yet understood as) Calico datastores.
fn check_header(path: &Path, version: i64, app: i64, tables: i64) -> Result<()> {
    if app == APPLICATION_ID {
        if version > SCHEMA_VERSION {
            return Err(unusable(
                path,
                format!(
                    "written by a newer version of Calico (schema version {version}; this build understands up to {SCHEMA_VERSION}); upgrade this program"
                ),
            ));
        }
        if version < 1 {
            return Err(Error::Corrupt {
                location: path.display().to_string(),
                reason: format!("a Calico datastore with an invalid schema version {version}"),
            });
        }
        return Ok(());
    }
    if app == 0 && version == 0 && tables == 0 {
        // A new (empty) file.
        return Ok(());
    }
    Err(unusable(
        path,
        format!(
            "not a Calico datastore: another application's SQLite database (application_id {app:#x}, user_version {version}, {tables} schema objects)"
        ),
    ))
}

/// The `meta` row values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Meta {
    /// The revision of the last write.
    pub revision: u64,
    /// Every change after this revision is in `log`.
    pub compacted: u64,
    /// Changes to keep in `log`.
    pub history: u64,
}

impl Meta {
    /// Reads the `meta` rows.
    pub fn read(conn: &Connection) -> rusqlite::Result<Meta> {
        let mut stmt = conn.prepare_cached("SELECT key, value FROM meta")?;
        let mut rows = stmt.query([])?;
        let (mut revision, mut compacted, mut history) = (None, None, None);
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            let slot = match key.as_str() {
                META_REVISION => &mut revision,
                META_COMPACTED => &mut compacted,
                META_HISTORY => &mut history,
                _ => continue,
            };
            *slot = Some(row.get::<_, u64>(1)?);
        }
        let missing = |key: &str| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Null,
                format!("the meta row {key:?} is missing").into(),
            )
        };
        Ok(Meta {
            revision: revision.ok_or_else(|| missing(META_REVISION))?,
            compacted: compacted.ok_or_else(|| missing(META_COMPACTED))?,
            history: history.ok_or_else(|| missing(META_HISTORY))?.max(1),
        })
    }

    /// Writes the `meta` rows that differ from `before`.
    pub fn write(&self, conn: &Connection, before: &Meta) -> rusqlite::Result<()> {
        let mut stmt = conn.prepare_cached("UPDATE meta SET value = ?2 WHERE key = ?1")?;
        if self.revision != before.revision {
            stmt.execute((META_REVISION, self.revision))?;
        }
        if self.compacted != before.compacted {
            stmt.execute((META_COMPACTED, self.compacted))?;
        }
        Ok(())
    }
}

/// An [`Error::Config`] naming the file: it cannot be used as configured.
pub(super) fn unusable(path: &Path, reason: impl Into<String>) -> Error {
    Error::config(
        format!("embedded datastore {}", path.display()),
        reason.into(),
    )
}

/// The [`Error`] for a failed SQLite call while doing `action`.
pub(super) fn sql_error(path: &Path, action: &str, e: rusqlite::Error) -> Error {
    let location = path.display();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::unavailable(format!(
            "{location}: {action}: another process held the database lock beyond the busy timeout ({e})"
        )),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Error::Corrupt {
            location: location.to_string(),
            reason: format!("{action}: {e}"),
        },
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::AuthorizationForStatementDenied,
        ) => unusable(path, format!("{action}: {e}")),
        Some(_) => Error::unavailable(format!("{location}: {action}: {e}")),
        None => match e {
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::Utf8Error(..) => Error::Corrupt {
                location: location.to_string(),
                reason: format!("{action}: unexpected stored value: {e}"),
            },
            e => Error::unavailable(format!("{location}: {action}: {e}")),
        },
    }
}
