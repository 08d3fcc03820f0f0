//! Cross-process watch latency and write cost of the embedded datastore.
//!
//! Usage: `cargo run --release -p calico-benches --example datastore_cross_process [WRITES] [POLL_MS]`
//! (default 1000 writes, the store's default poll interval).
//!
//! 1. **Watch latency across processes**: this process watches; a child process (this
//!    program again) updates one object `WRITES` times with a random 0–4 ms pause between
//!    writes and prints when each write was called and when it returned. Latency is the
//!    time from the writer's return (the commit) to this process receiving the event, on
//!    the same host clock; printed as p50/p99/max, also from the writer's call.
//! 2. **Idle cost**: CPU time this process uses over 3 s of an idle watch (the poller).
//! 3. **Write cost**: sequential creates through the store against a raw rusqlite INSERT
//!    (autocommit, same WAL mode and `synchronous` setting), for both durabilities; and 32
//!    concurrent creates (group commit). Prints per-write times and the ratios.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use calico_datastore::embedded::{Durability, EmbeddedDatastore, EmbeddedOptions};
use calico_datastore::{Datastore, DatastoreExt};
use calico_model::Kind;
use calico_model::sync::ResourceKey;
use futures::StreamExt;

#[path = "../benches/support/datastore.rs"]
mod support;

use support::{RawSqlite, resource};

/// Writes measured for the write-cost comparison.
const COST_WRITES: u64 = 1000;
/// Concurrent writers in the group-commit measurement.
const CONCURRENCY: usize = 32;
/// The object the latency writer updates.
const PROBE: &str = "latency-probe";

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if args.get(1).map(String::as_str) == Some("--writer") {
        let db = args.get(2).ok_or("--writer needs the database path")?;
        let writes: usize = args.get(3).ok_or("--writer needs a count")?.parse()?;
        return rt.block_on(writer(Path::new(db), writes));
    }
    let writes: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let poll = args
        .get(2)
        .map(|a| a.parse::<u64>().map(Duration::from_millis))
        .transpose()?;
    rt.block_on(async {
        latency(writes, poll).await?;
        idle_cost(poll).await?;
        write_cost().await
    })
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// The child: updates the probe `writes` times, printing `revision called returned`.
async fn writer(db: &Path, writes: usize) -> AnyResult<()> {
    let store = EmbeddedDatastore::open(db)?;
    let key = ResourceKey::new(Kind::GlobalNetworkSet, "", PROBE);
    let mut current = store.get(&key).await?;
    for i in 0..writes {
        tokio::time::sleep(Duration::from_micros(fastrand::u64(0..4000))).await;
        let mut next = current.clone();
        next.metadata_mut()
            .annotations
            .insert("n".into(), i.to_string());
        let called = now_nanos();
        current = store.update(next).await?;
        let returned = now_nanos();
        println!(
            "{} {called} {returned}",
            current.metadata().resource_version
        );
    }
    Ok(())
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "  {label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
        samples.len()
    );
}

async fn latency(writes: usize, poll: Option<Duration>) -> AnyResult<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("datastore.db");
    let mut options = EmbeddedOptions::default();
    if let Some(poll) = poll {
        options = options.poll_interval(poll);
    }
    let store = EmbeddedDatastore::open_with(&db, options.clone())?;
    store.create(resource(PROBE)).await?;
    let mut watch = store.watch(Kind::GlobalNetworkSet, "").await?;
    let receiver = tokio::spawn(async move {
        let mut received = HashMap::new();
        while received.len() < writes {
            match watch.next().await {
                Some(Ok(ev)) => {
                    received.insert(ev.revision, now_nanos());
                }
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        Ok(received)
    });
    let child = Command::new(std::env::current_exe()?)
        .arg("--writer")
        .arg(&db)
        .arg(writes.to_string())
        .stdout(Stdio::piped())
        .spawn()?;
    let lines: Vec<String> = tokio::task::spawn_blocking(move || {
        let mut child = child;
        let out = child.stdout.take().map(BufReader::new);
        let lines = out.map(|o| o.lines().map_while(Result::ok).collect());
        let _ = child.wait();
        lines.unwrap_or_default()
    })
    .await?;
    let received = tokio::time::timeout(Duration::from_secs(60), receiver).await???;
    let (mut from_commit, mut from_call) = (Vec::new(), Vec::new());
    let mut early = 0;
    for line in &lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [rev, called, returned] = f[..] else {
            continue;
        };
        let (called, returned): (u128, u128) = (called.parse()?, returned.parse()?);
        let Some(&got) = received.get(rev) else {
            return Err(format!("revision {rev} was written but never seen").into());
        };
        if got < returned {
            early += 1;
        }
        let nanos = |d: u128| Duration::from_nanos(u64::try_from(d).unwrap_or(u64::MAX));
        from_commit.push(nanos(got.saturating_sub(returned)));
        from_call.push(nanos(got.saturating_sub(called)));
    }
    println!(
        "cross-process watch latency, {} writes by another process (poll interval {:?}, durability {:?}):",
        lines.len(),
        options.poll_interval,
        options.durability
    );
    percentiles("commit (writer's update returned) -> event", from_commit);
    percentiles("writer's update called -> event", from_call);
    println!("  events seen before the writer's call returned: {early}");
    Ok(())
}

/// CPU time (user + system) of this process so far, from /proc (Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

async fn idle_cost(poll: Option<Duration>) -> AnyResult<()> {
    let dir = tempfile::tempdir()?;
    let mut options = EmbeddedOptions::default();
    if let Some(poll) = poll {
        options = options.poll_interval(poll);
    }
    let store = EmbeddedDatastore::open_with(dir.path().join("datastore.db"), options.clone())?;
    let watch = store.watch(Kind::GlobalNetworkSet, "").await?;
    let span = Duration::from_secs(3);
    let before = cpu_time();
    tokio::time::sleep(span).await;
    let after = cpu_time();
    drop(watch);
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "idle watch (poll interval {:?}): {:.1} ms CPU per second ({:.2} % of a core)",
            options.poll_interval,
            (a - b).as_secs_f64() * 1e3 / span.as_secs_f64(),
            (a - b).as_secs_f64() / span.as_secs_f64() * 100.0
        );
    }
    Ok(())
}

async fn write_cost() -> AnyResult<()> {
    println!("write cost, {COST_WRITES} sequential writes each:");
    for durability in [Durability::Full, Durability::Normal] {
        let dir = tempfile::tempdir()?;
        let raw = RawSqlite::open(&dir.path().join("raw.db"), durability)?;
        let start = Instant::now();
        for n in 0..COST_WRITES {
            raw.insert(n)?;
        }
        let raw_each = start.elapsed() / COST_WRITES as u32;

        let options = EmbeddedOptions::default().durability(durability);
        let store = EmbeddedDatastore::open_with(dir.path().join("datastore.db"), options)?;
        let start = Instant::now();
        for n in 0..COST_WRITES {
            store.create(resource(&format!("seq-{n}"))).await?;
        }
        let store_each = start.elapsed() / COST_WRITES as u32;

        let start = Instant::now();
        futures::stream::iter(0..COST_WRITES)
            .map(|n| {
                let store = &store;
                async move { store.create(resource(&format!("conc-{n}"))).await }
            })
            .buffer_unordered(CONCURRENCY)
            .for_each(|r| {
                if let Err(e) = r {
                    eprintln!("concurrent create failed: {e}");
                }
                futures::future::ready(())
            })
            .await;
        let concurrent_each = start.elapsed() / COST_WRITES as u32;

        let start = Instant::now();
        let key = ResourceKey::new(Kind::GlobalNetworkSet, "", "seq-0");
        for n in 0..COST_WRITES {
            store
                .modify(&key, |r| {
                    r.metadata_mut()
                        .annotations
                        .insert("n".into(), n.to_string());
                })
                .await?;
        }
        let modify_each = start.elapsed() / COST_WRITES as u32;

        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "  {durability:?}: raw INSERT {:.1} µs; store create {:.1} µs ({:.2}x raw); \
             {CONCURRENCY} concurrent creates {:.1} µs per write ({:.2}x raw); modify (get + CAS update) {:.1} µs",
            us(raw_each),
            us(store_each),
            us(store_each) / us(raw_each),
            us(concurrent_each),
            us(concurrent_each) / us(raw_each),
            us(modify_each),
        );
    }
    Ok(())
}
