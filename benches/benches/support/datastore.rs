//! Shared by `benches/datastore.rs` and `examples/datastore_cross_process.rs`: the resource
//! the datastore benchmarks write, and a raw SQLite peer with the embedded store's settings.

use std::path::Path;

use calico_datastore::embedded::Durability;
use calico_model::{GlobalNetworkSet, GlobalNetworkSetSpec, Kind, ObjectMeta, Resource};
use rusqlite::Connection;

/// The benchmarked resource: a GlobalNetworkSet with two labels and three nets (~300 bytes
/// of JSON).
pub fn resource(name: &str) -> Resource {
    let mut meta = ObjectMeta::named(name);
    meta.labels.insert("role".into(), "bench".into());
    meta.labels.insert("team".into(), "net".into());
    GlobalNetworkSet::new(
        meta,
        GlobalNetworkSetSpec {
            nets: ["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"]
                .iter()
                .map(|n| n.parse().expect("bench CIDR"))
                .collect(),
        },
    )
    .into()
}

/// A plain SQLite table in WAL mode with the same `synchronous` setting as the embedded
/// store: the floor the store's write cost is compared with.
pub struct RawSqlite {
    conn: Connection,
    value: String,
}

impl RawSqlite {
    /// Creates the table in a new file at `path`.
    pub fn open(path: &Path, durability: Durability) -> rusqlite::Result<RawSqlite> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let sync = match durability {
            Durability::Full => "FULL",
            _ => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.execute_batch(
            "CREATE TABLE kv (kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
             revision INTEGER NOT NULL, value TEXT NOT NULL,
             PRIMARY KEY (kind, namespace, name)) WITHOUT ROWID",
        )?;
        let value = calico_datastore::kv::encode(&resource("raw-bench-object"));
        Ok(RawSqlite { conn, value })
    }

    /// One INSERT of a resource-sized value, committed on its own (autocommit).
    pub fn insert(&self, n: u64) -> rusqlite::Result<()> {
        let name = format!("raw-{n}");
        self.conn
            .prepare_cached(
                "INSERT INTO kv (kind, namespace, name, revision, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute((Kind::GlobalNetworkSet.kind(), "", &name, n, &self.value))?;
        Ok(())
    }
}
