//! Several real processes sharing one embedded datastore file.
//!
//! Each test starts this test binary again (`std::env::current_exe()`) to run one of the
//! `child_*` tests below, selected with `<name> --exact --ignored` and told what to do
//! through environment variables. The child tests are `#[ignore]`d and return at once
//! unless that environment names them, so a plain `cargo test -- --ignored` is harmless.
//! This works the same under `cargo test` and `cargo nextest` (both run a libtest binary).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a test failure

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use calico_datastore::conformance::net_set;
use calico_datastore::embedded::EmbeddedDatastore;
use calico_datastore::{Datastore, DatastoreExt, WatchEvent, WatchEventType, WatchStream};
use calico_model::sync::ResourceKey;
use calico_model::{Kind, Resource};
use futures::StreamExt;

/// Names the child test a process is started to run.
const ROLE_ENV: &str = "CALICO_EMBEDDED_TEST_ROLE";
/// The database file a child uses.
const DB_ENV: &str = "CALICO_EMBEDDED_TEST_DB";
/// The child's argument (its role-specific parameter).
const ARG_ENV: &str = "CALICO_EMBEDDED_TEST_ARG";

/// How long a watch may take to deliver the next event before the test fails (generous:
/// the machine may be busy; the latency itself is measured by the benchmarks).
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The annotation carrying a test's sequence numbers.
const STEP: &str = "step";

/// A child process, killed and reaped when dropped (even if the test fails).
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn wait_output(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts this binary as a child running the test `role` on `db` with `arg`.
fn spawn_child(role: &str, db: &Path, arg: &str, quiet: bool) -> ChildGuard {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        role,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE_ENV, role)
    .env(DB_ENV, db)
    .env(ARG_ENV, arg)
    .stdin(Stdio::null());
    if quiet {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    } else {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    ChildGuard(Some(cmd.spawn().unwrap()))
}

/// Waits for every child and fails the test with its output if one failed.
fn wait_all(children: Vec<ChildGuard>) {
    for child in children {
        let out = child.wait_output();
        assert!(
            out.status.success(),
            "child failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "the child test did not run:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// In a child: the database and argument, if this process was started to run `role`.
fn child_env(role: &str) -> Option<(PathBuf, String)> {
    if std::env::var(ROLE_ENV).ok()? != role {
        return None;
    }
    let db = PathBuf::from(std::env::var(DB_ENV).unwrap());
    Some((db, std::env::var(ARG_ENV).unwrap_or_default()))
}

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("datastore.db");
    (dir, db)
}

async fn next_event(watch: &mut WatchStream) -> WatchEvent {
    match tokio::time::timeout(EVENT_TIMEOUT, watch.next()).await {
        Ok(Some(Ok(ev))) => ev,
        Ok(Some(Err(e))) => panic!("watch failed: {e}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within {EVENT_TIMEOUT:?}"),
    }
}

fn step_of(r: &Resource) -> Option<usize> {
    r.metadata().annotations.get(STEP)?.parse().ok()
}

fn with_step(mut r: Resource, step: usize) -> Resource {
    r.metadata_mut()
        .annotations
        .insert(STEP.into(), step.to_string());
    r
}

fn gns_key(name: &str) -> ResourceKey {
    ResourceKey::new(Kind::GlobalNetworkSet, "", name)
}

// ----------------------------------------------------------------------------------------
// N processes incrementing one counter with compare-and-swap lose no increment.

/// Processes incrementing the counter.
const COUNTER_PROCS: usize = 4;
/// Concurrent tasks per process (so in-process group commit mixes with cross-process locks).
const COUNTER_TASKS: usize = 2;
/// Increments per task.
const COUNTER_EACH: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_incrementing_one_counter_lose_nothing() {
    let (_dir, db) = temp_db();
    let store = EmbeddedDatastore::open(&db).unwrap();
    let created = store
        .create(with_step(net_set("counter", "10.0.0.0/8"), 0))
        .await
        .unwrap();
    let children: Vec<_> = (0..COUNTER_PROCS)
        .map(|_| spawn_child("child_counter", &db, "", false))
        .collect();
    wait_all(children);

    let total = COUNTER_PROCS * COUNTER_TASKS * COUNTER_EACH;
    let last = store.get(&gns_key("counter")).await.unwrap();
    assert_eq!(step_of(&last), Some(total), "no increment was lost");
    // The history shows every increment once, in order.
    let mut watch = store
        .watch(Kind::GlobalNetworkSet, &created.metadata().resource_version)
        .await
        .unwrap();
    for want in 1..=total {
        let ev = next_event(&mut watch).await;
        assert_eq!(ev.event_type, WatchEventType::Modified);
        assert_eq!(ev.resource.as_ref().and_then(step_of), Some(want));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of processes_incrementing_one_counter_lose_nothing"]
async fn child_counter() {
    let Some((db, _)) = child_env("child_counter") else {
        return;
    };
    let store = EmbeddedDatastore::open(&db).unwrap();
    let key = gns_key("counter");
    let tasks = (0..COUNTER_TASKS).map(|_| async {
        for _ in 0..COUNTER_EACH {
            store
                .modify(&key, |r| {
                    let next = step_of(r).unwrap() + 1;
                    *r = with_step(r.clone(), next);
                })
                .await
                .unwrap();
        }
    });
    futures::future::join_all(tasks).await;
}

// ----------------------------------------------------------------------------------------
// A watcher in one process sees every write of other processes, in order.

/// Objects each writer process creates.
const WRITER_OBJECTS: usize = 60;
/// Writer processes.
const WRITERS: usize = 2;

/// One write of a writer's script: what happens to which object, and the step number the
/// object carries afterwards (for a delete: its last value's).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Step {
    event: WatchEventType,
    name: String,
    step: usize,
}

/// The writes of writer `prefix`: creates, updates of every other object, deletes of every
/// fourth, interleaved.
fn writer_script(prefix: &str) -> Vec<Step> {
    let mut script = Vec::new();
    let mut last_step = BTreeMap::new();
    let name = |i: usize| format!("{prefix}-{i}");
    let mut push = |event, name: String, last: &mut BTreeMap<String, usize>, n: usize| {
        let step = match event {
            WatchEventType::Deleted => last[&name],
            _ => n,
        };
        last.insert(name.clone(), step);
        script.push(Step { event, name, step });
    };
    let mut n = 0;
    for i in 0..WRITER_OBJECTS {
        push(WatchEventType::Added, name(i), &mut last_step, n);
        n += 1;
        if i % 2 == 1 {
            push(WatchEventType::Modified, name(i - 1), &mut last_step, n);
            n += 1;
        }
        if i % 4 == 3 {
            push(WatchEventType::Deleted, name(i - 3), &mut last_step, n);
            n += 1;
        }
    }
    script
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_sees_every_write_of_other_processes_in_order() {
    let (_dir, db) = temp_db();
    let store = EmbeddedDatastore::open(&db).unwrap();
    let mut watch = store.watch(Kind::GlobalNetworkSet, "").await.unwrap();
    let prefixes: Vec<String> = (0..WRITERS).map(|w| format!("w{w}")).collect();
    let children: Vec<_> = prefixes
        .iter()
        .map(|p| spawn_child("child_writer", &db, p, false))
        .collect();

    let scripts: BTreeMap<&str, Vec<Step>> = prefixes
        .iter()
        .map(|p| (p.as_str(), writer_script(p)))
        .collect();
    let total: usize = scripts.values().map(Vec::len).sum();
    let mut seen: BTreeMap<&str, Vec<Step>> = BTreeMap::new();
    let mut last_rev = 0u64;
    for _ in 0..total {
        let ev = next_event(&mut watch).await;
        let rev: u64 = ev.revision.parse().unwrap();
        assert!(rev > last_rev, "revisions increase: {rev} after {last_rev}");
        last_rev = rev;
        let prefix = ev.key.name.split('-').next().unwrap().to_owned();
        let prefix = *scripts.keys().find(|p| **p == prefix).unwrap();
        seen.entry(prefix).or_default().push(Step {
            event: ev.event_type,
            name: ev.key.name.clone(),
            step: ev.resource.as_ref().and_then(step_of).unwrap(),
        });
    }
    wait_all(children);
    assert_eq!(
        seen, scripts,
        "each writer's changes, complete and in order"
    );
    assert_eq!(
        store.backend_ref().revision().await.unwrap(),
        last_rev,
        "nothing else was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of a_watcher_sees_every_write_of_other_processes_in_order"]
async fn child_writer() {
    let Some((db, prefix)) = child_env("child_writer") else {
        return;
    };
    let store = EmbeddedDatastore::open(&db).unwrap();
    for step in writer_script(&prefix) {
        match step.event {
            WatchEventType::Added => {
                store
                    .create(with_step(net_set(&step.name, "10.0.0.0/8"), step.step))
                    .await
                    .unwrap();
            }
            WatchEventType::Modified => {
                store
                    .modify(&gns_key(&step.name), |r| {
                        *r = with_step(r.clone(), step.step);
                    })
                    .await
                    .unwrap();
            }
            WatchEventType::Deleted => {
                store.delete(&gns_key(&step.name), None).await.unwrap();
            }
        }
    }
}

// ----------------------------------------------------------------------------------------
// A writer killed with SIGKILL mid-burst leaves a consistent file.

/// Changes the parent waits to see before killing the burst writer.
const KILL_AFTER: usize = 300;
/// The burst writer gives up after this long (if the parent never kills it).
const BURST_LIMIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_mid_burst_leaves_a_consistent_file() {
    let (_dir, db) = temp_db();
    let store = EmbeddedDatastore::open(&db).unwrap();
    let start = store.backend_ref().revision().await.unwrap();
    let mut watch = store
        .watch(Kind::GlobalNetworkSet, &start.to_string())
        .await
        .unwrap();
    let mut child = spawn_child("child_burst", &db, "", true);
    for _ in 0..KILL_AFTER {
        next_event(&mut watch).await;
    }
    child.kill();
    drop(watch);
    drop(store);

    // A fresh opener finds an intact file.
    let store = EmbeddedDatastore::open(&db).unwrap();
    store.backend_ref().check_integrity().await.unwrap();
    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    assert!(list.undecodable.is_empty(), "{:?}", list.undecodable);
    let head: u64 = list.revision.parse().unwrap();
    assert!(head >= start + KILL_AFTER as u64);
    // The change log holds every committed revision once, and replaying it gives the list.
    let mut watch = store
        .watch(Kind::GlobalNetworkSet, &start.to_string())
        .await
        .unwrap();
    let mut replay = BTreeMap::new();
    for want in start + 1..=head {
        let ev = next_event(&mut watch).await;
        assert_eq!(ev.revision, want.to_string(), "no gap in the change log");
        let resource = ev.resource.expect("every logged value decodes");
        match ev.event_type {
            WatchEventType::Deleted => {
                replay.remove(&ev.key.name);
            }
            _ => {
                replay.insert(ev.key.name.clone(), resource);
            }
        }
    }
    let listed: BTreeMap<String, Resource> = list
        .items
        .into_iter()
        .map(|r| (r.name().to_owned(), r))
        .collect();
    assert_eq!(replay, listed, "the log and the data agree");
    // Revisions continue after the crash.
    let next = store
        .create(net_set("after-crash", "10.0.0.0/8"))
        .await
        .unwrap();
    assert_eq!(next.metadata().resource_version, (head + 1).to_string());
    let ev = next_event(&mut watch).await;
    assert_eq!(ev.key.name, "after-crash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of a_writer_killed_mid_burst_leaves_a_consistent_file"]
async fn child_burst() {
    let Some((db, _)) = child_env("child_burst") else {
        return;
    };
    let store = EmbeddedDatastore::open(&db).unwrap();
    let deadline = Instant::now() + BURST_LIMIT;
    // Eight writers at once, so that batches of several writes are in flight when killed.
    let tasks = (0..8).map(|t| {
        let store = &store;
        async move {
            let mut i = 0usize;
            while Instant::now() < deadline {
                let name = format!("burst-{t}-{i}");
                let created = store
                    .create(with_step(net_set(&name, "10.0.0.0/8"), i))
                    .await
                    .unwrap();
                if i % 3 == 2 {
                    let mut r = with_step(created, i + 1);
                    r.metadata_mut().labels.insert("seen".into(), "yes".into());
                    store.update(r).await.unwrap();
                }
                if i % 5 == 4 {
                    store.delete(&gns_key(&name), None).await.unwrap();
                }
                i += 1;
            }
        }
    });
    futures::future::join_all(tasks).await;
}

// ----------------------------------------------------------------------------------------
// Processes opening a file that does not exist yet agree on one schema.

/// Processes opening the new file at once (parallel CNI plugin invocations on a new node).
const OPENERS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_creating_the_file_at_once_share_one_schema() {
    let (dir, _) = temp_db();
    let db = dir.path().join("new/datastore.db");
    let children: Vec<_> = (0..OPENERS)
        .map(|i| spawn_child("child_open_and_create", &db, &i.to_string(), false))
        .collect();
    wait_all(children);
    let store = EmbeddedDatastore::open(&db).unwrap();
    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    let mut revs: Vec<u64> = list
        .items
        .iter()
        .map(|r| r.metadata().resource_version.parse().unwrap())
        .collect();
    revs.sort_unstable();
    assert_eq!(revs, (1..=OPENERS as u64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of processes_creating_the_file_at_once_share_one_schema"]
async fn child_open_and_create() {
    let Some((db, arg)) = child_env("child_open_and_create") else {
        return;
    };
    let store = EmbeddedDatastore::open(&db).unwrap();
    store
        .create(net_set(&format!("opener-{arg}"), "10.0.0.0/8"))
        .await
        .unwrap();
}
