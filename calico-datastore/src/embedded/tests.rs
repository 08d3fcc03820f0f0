//! Unit tests of the embedded backend: schema, versions, error paths, history, watches.

use std::time::Duration;

use calico_model::Kind;
use calico_model::sync::ResourceKey;
use futures::StreamExt;
use rusqlite::Connection;

use super::*;
use crate::api::{Datastore, DatastoreExt, WatchEventType};
use crate::conformance::net_set;

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("datastore.db");
    (dir, path)
}

fn raw(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn meta(path: &Path) -> schema::Meta {
    schema::Meta::read(&raw(path)).unwrap()
}

async fn create_n(store: &EmbeddedDatastore, prefix: &str, n: usize) -> Vec<u64> {
    let mut revs = Vec::new();
    for i in 0..n {
        let r = store
            .create(net_set(&format!("{prefix}{i}"), "10.0.0.0/8"))
            .await
            .unwrap();
        revs.push(r.metadata().resource_version.parse().unwrap());
    }
    revs
}

#[tokio::test]
async fn a_new_file_gets_the_schema_in_wal_mode() {
    let (dir, _) = temp();
    let path = dir.path().join("nested/dirs/datastore.db");
    let store = EmbeddedDatastore::open(&path).unwrap();
    assert_eq!(store.backend_ref().path(), path);
    let conn = raw(&path);
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let app: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(
        (version, app, mode.as_str()),
        (SCHEMA_VERSION, APPLICATION_ID, "wal")
    );
    assert_eq!(
        meta(&path),
        schema::Meta {
            revision: 0,
            compacted: 0,
            history: DEFAULT_HISTORY as u64
        }
    );
    store.backend_ref().check_integrity().await.unwrap();
}

#[tokio::test]
async fn reopening_keeps_data_and_revisions_continue() {
    let (_dir, path) = temp();
    let store = EmbeddedDatastore::open(&path).unwrap();
    let revs = create_n(&store, "a", 3).await;
    assert_eq!(revs, [1, 2, 3]);
    drop(store);
    let store = EmbeddedDatastore::open(&path).unwrap();
    assert_eq!(store.backend_ref().revision().await.unwrap(), 3);
    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    assert_eq!(list.items.len(), 3);
    assert_eq!(list.revision, "3");
    assert_eq!(create_n(&store, "b", 1).await, [4]);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let (_dir, path) = temp();
    drop(EmbeddedDatastore::open(&path).unwrap());
    raw(&path)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    match EmbeddedDatastore::open(&path) {
        Err(Error::Config { field, reason }) => {
            assert!(field.contains("datastore.db"), "{field}");
            assert!(reason.contains("newer"), "{reason}");
        }
        other => panic!("newer schema opened: {:?}", other.err()),
    }
}

#[test]
fn a_file_that_is_not_a_database_is_corrupt() {
    let (_dir, path) = temp();
    std::fs::write(&path, "apiVersion: projectcalico.org/v3\n".repeat(200)).unwrap();
    match EmbeddedDatastore::open(&path) {
        Err(e @ Error::Corrupt { .. }) => {
            assert!(e.to_string().contains("not a database"), "{e}");
            assert!(!e.is_retryable());
        }
        other => panic!("text file opened: {:?}", other.err()),
    }
}

#[test]
fn another_applications_database_is_refused_and_left_alone() {
    let (_dir, path) = temp();
    raw(&path)
        .execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('x');")
        .unwrap();
    match EmbeddedDatastore::open(&path) {
        Err(Error::Config { reason, .. }) => {
            assert!(reason.contains("not a Calico datastore"), "{reason}")
        }
        other => panic!("foreign database opened: {:?}", other.err()),
    }
    let mode: String = raw(&path)
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "the foreign file was not switched to WAL");
}

#[test]
fn unusable_paths_are_config_errors() {
    let (dir, _) = temp();
    // A directory where the file should be.
    let as_dir = dir.path().join("is-a-dir");
    std::fs::create_dir(&as_dir).unwrap();
    match EmbeddedDatastore::open(&as_dir) {
        Err(Error::Config { field, reason }) => {
            assert!(field.contains("is-a-dir"), "{field}");
            assert!(reason.contains("cannot open"), "{reason}");
        }
        other => panic!("directory opened: {:?}", other.err()),
    }
    // A file where a parent directory should be.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    match EmbeddedDatastore::open(blocker.join("datastore.db")) {
        Err(Error::Config { reason, .. }) => assert!(reason.contains("cannot create"), "{reason}"),
        other => panic!("path under a file opened: {:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_beyond_the_busy_timeout_is_unavailable() {
    let (_dir, path) = temp();
    let options = EmbeddedOptions::default().busy_timeout(Duration::from_millis(200));
    let store = EmbeddedDatastore::open_with(&path, options).unwrap();
    let created = store.create(net_set("locked", "10.0.0.0/8")).await.unwrap();
    let holder = raw(&path);
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    match store.create(net_set("blocked", "10.0.0.0/8")).await {
        Err(e @ Error::Unavailable { .. }) => {
            assert!(e.is_retryable());
            assert!(e.to_string().contains("busy timeout"), "{e}");
        }
        other => panic!("write under a held lock: {other:?}"),
    }
    // Readers are not blocked by a writer in WAL mode.
    assert_eq!(
        store.get(&ResourceKey::of(&created)).await.unwrap(),
        created
    );
    holder.execute_batch("COMMIT").unwrap();
    store
        .create(net_set("blocked", "10.0.0.0/8"))
        .await
        .unwrap();
}

#[tokio::test]
async fn history_is_trimmed_in_chunks_and_stored_in_the_file() {
    let (_dir, path) = temp();
    let store =
        EmbeddedDatastore::open_with(&path, EmbeddedOptions::default().history(32)).unwrap();
    let revs = create_n(&store, "h", 100).await;
    let m = meta(&path);
    assert_eq!(m.history, 32);
    let kept = m.revision - m.compacted;
    assert!(
        (32..32 + writer::trim_slack(32)).contains(&kept),
        "log keeps {kept} changes"
    );
    let rows: u64 = raw(&path)
        .query_row("SELECT count(*) FROM log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, kept);
    // Too old: an error, here or as the first item.
    match store.watch(Kind::GlobalNetworkSet, "1").await {
        Err(Error::RevisionTooOld { requested, oldest }) => {
            assert_eq!((requested.as_str(), oldest), ("1", m.compacted.to_string()))
        }
        other => panic!("watch from a trimmed revision: {:?}", other.err()),
    }
    // Within the history: every later change.
    let from = revs[100 - 32];
    let mut w = store
        .watch(Kind::GlobalNetworkSet, &from.to_string())
        .await
        .unwrap();
    for want in &revs[100 - 31..] {
        let ev = w.next().await.unwrap().unwrap();
        assert_eq!(ev.revision, want.to_string());
    }
    // Another opener without a history option keeps the file's.
    drop(store);
    drop(EmbeddedDatastore::open(&path).unwrap());
    assert_eq!(meta(&path).history, 32);
}

#[tokio::test]
async fn compaction_deletes_the_log_and_is_clamped_to_the_revision() {
    let (_dir, path) = temp();
    let store = EmbeddedDatastore::open(&path).unwrap();
    create_n(&store, "c", 5).await;
    store.compact("3").await.unwrap();
    assert_eq!(meta(&path).compacted, 3);
    store.compact("1").await.unwrap();
    assert_eq!(meta(&path).compacted, 3, "compaction never goes back");
    store.compact("1000").await.unwrap();
    assert_eq!(meta(&path).compacted, 5, "clamped to the store revision");
    let rows: u64 = raw(&path)
        .query_row("SELECT count(*) FROM log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
    assert_eq!(create_n(&store, "d", 1).await, [6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_handle_sees_writes_through_the_poller() {
    let (_dir, path) = temp();
    let options = EmbeddedOptions::default().poll_interval(Duration::from_millis(2));
    let writer = EmbeddedDatastore::open(&path).unwrap();
    let watcher = EmbeddedDatastore::open_with(&path, options).unwrap();
    let mut w = watcher.watch(Kind::GlobalNetworkSet, "").await.unwrap();
    let revs = create_n(&writer, "p", 20).await;
    for want in revs {
        let ev = tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .expect("event within 10 s")
            .unwrap()
            .unwrap();
        assert_eq!(ev.event_type, WatchEventType::Added);
        assert_eq!(ev.revision, want.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_end_when_the_store_is_dropped() {
    let (_dir, path) = temp();
    let store = EmbeddedDatastore::open(&path).unwrap();
    let mut w = store.watch(Kind::GlobalNetworkSet, "").await.unwrap();
    drop(store);
    let end = tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("the stream ends");
    assert!(end.is_none(), "{end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_compare_and_swap_in_one_batch_lets_one_win() {
    let (_dir, path) = temp();
    let store = EmbeddedDatastore::open(&path).unwrap();
    let v1 = store.create(net_set("cas", "10.0.0.0/8")).await.unwrap();
    let attempts = (0..16).map(|i| {
        let mut r = v1.clone();
        r.metadata_mut()
            .labels
            .insert("writer".into(), i.to_string());
        store.update(r)
    });
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(Error::Conflict { .. })))
        .count();
    assert_eq!((won, conflicts), (1, 15), "{results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_gives_each_write_its_own_revision() {
    let (_dir, path) = temp();
    let store = EmbeddedDatastore::open(&path).unwrap();
    let writes = (0..200).map(|i| store.create(net_set(&format!("g{i}"), "10.0.0.0/8")));
    let mut revs: Vec<u64> = futures::future::join_all(writes)
        .await
        .into_iter()
        .map(|r| r.unwrap().metadata().resource_version.parse().unwrap())
        .collect();
    revs.sort_unstable();
    assert_eq!(revs, (1..=200).collect::<Vec<u64>>());
    let rows: u64 = raw(&path)
        .query_row("SELECT count(*) FROM log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 200);
}

#[test]
fn works_outside_a_tokio_runtime() {
    let (_dir, path) = temp();
    let store = EmbeddedDatastore::open(&path).unwrap();
    futures::executor::block_on(async {
        let k = ResourceKey::new(Kind::GlobalNetworkSet, "", "counter");
        store
            .create(net_set("counter", "10.0.0.0/8"))
            .await
            .unwrap();
        for _ in 0..3 {
            store
                .modify(&k, |r| {
                    r.metadata_mut().labels.insert("x".into(), "y".into());
                })
                .await
                .unwrap();
        }
        assert_eq!(
            store.get(&k).await.unwrap().metadata().resource_version,
            "4"
        );
    });
}

#[tokio::test]
async fn damaged_metadata_is_reported_as_corrupt() {
    let (_dir, path) = temp();
    let store = EmbeddedDatastore::open(&path).unwrap();
    raw(&path)
        .execute("DELETE FROM meta WHERE key = 'revision'", [])
        .unwrap();
    match store.list(Kind::GlobalNetworkSet, None).await {
        Err(Error::Corrupt { reason, .. }) => assert!(reason.contains("revision"), "{reason}"),
        other => panic!("list without a revision: {other:?}"),
    }
    match store.create(net_set("x", "10.0.0.0/8")).await {
        Err(Error::Corrupt { .. }) => {}
        other => panic!("write without a revision: {other:?}"),
    }
}

#[test]
fn busy_backoff_gives_up_after_the_timeout() {
    set_busy_timeout(Duration::from_millis(20));
    let start = Instant::now();
    let mut attempt = 0;
    while busy_wait(attempt) {
        attempt += 1;
    }
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(20), "{waited:?}");
    assert!(attempt >= 1, "it waited at least once");
    // A new wait (attempt 0) starts a new timeout.
    set_busy_timeout(Duration::from_secs(60));
    assert!(busy_wait(0));
}
