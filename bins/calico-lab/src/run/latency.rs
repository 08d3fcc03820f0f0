//! `calico-lab latency`: how long from a policy write in the datastore to the first packet
//! whose verdict changed. Two cases of a scenario, A and B, and one probe whose expected
//! answer differs between them: with A programmed, a prober in the source pod sends the probe
//! back to back (short timeout, a new connection each time) while the lab writes B; the time
//! from the start of the write to the first of three consecutive answers matching B is one
//! sample. Then the same from B back to A.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use calico_model::Resource;

use super::netns::Cleanup;
use super::probe::{self, ProbeKind};
use super::{LabError, RunOptions, kind_of, setup, skip_reason, wants_v6};
use crate::scenario::{Case, Probe, Scenario};

/// Per-attempt timeout of the prober (a veth round trip is tens of microseconds).
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(5);
/// Consecutive flipped answers needed, so one slow attempt is not taken for a deny.
const CONFIRM: usize = 3;
/// Give up on a sample after this long.
const SAMPLE_LIMIT: Duration = Duration::from_secs(20);

/// Measures `rounds` flips each way between cases `a` and `b`; prints p50/p99.
pub fn latency(
    scenario: &Scenario,
    opts: &RunOptions,
    a: &str,
    b: &str,
    rounds: usize,
) -> ExitCode {
    super::with_lab_process(|cleanup| latency_inner(scenario, opts, cleanup, a, b, rounds))
}

fn find<'a>(scenario: &'a Scenario, id: &str) -> Result<&'a Case, LabError> {
    scenario
        .cases
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| LabError::Scenario(format!("no case {id:?}")))
}

fn resources(scenario: &Scenario, case: &Case) -> Result<Vec<Resource>, LabError> {
    crate::simulate::case_resources(&scenario.model, case)
        .map(|(r, _)| r)
        .map_err(|e| LabError::Scenario(e.to_string()))
}

fn same(p: &Probe, q: &Probe) -> bool {
    p.from == q.from
        && p.to == q.to
        && p.port == q.port
        && p.protocol.eq_ignore_ascii_case(&q.protocol)
        && p.family == q.family
        && p.icmp_type == q.icmp_type
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn latency_inner(
    scenario: &Scenario,
    opts: &RunOptions,
    cleanup: &Cleanup,
    a: &str,
    b: &str,
    rounds: usize,
) -> Result<ExitCode, LabError> {
    let (case_a, case_b) = (find(scenario, a)?, find(scenario, b)?);
    let mut lab = setup(scenario, opts, cleanup, &[case_a, case_b])?;
    // The first probe both cases have, that the lab can send, whose answer differs.
    let (probe, want_b) = case_b
        .probes
        .iter()
        .filter(|p| skip_reason(p, &lab.topo, lab.sctp).is_none())
        .find_map(|p| {
            let q = case_a.probes.iter().find(|q| same(p, q))?;
            (q.allowed != p.allowed).then_some((p, p.allowed))
        })
        .ok_or_else(|| {
            LabError::Scenario(format!(
                "cases {a:?} and {b:?} have no probe the lab can send whose answer differs"
            ))
        })?;
    let kind = kind_of(probe).map_err(LabError::Scenario)?;
    let v6 = wants_v6(probe);
    let (src_ns, src_ip) = lab
        .topo
        .endpoint(&probe.from, v6)
        .and_then(|(ns, ip)| Some((ns, ip?)))
        .ok_or_else(|| LabError::Scenario(format!("no address for {}", probe.from)))?;
    let dst = lab
        .topo
        .endpoint(&probe.to, v6)
        .and_then(|(_, ip)| ip)
        .ok_or_else(|| LabError::Scenario(format!("no address for {}", probe.to)))?;
    let (res_a, res_b) = (resources(scenario, case_a)?, resources(scenario, case_b)?);
    let node = lab
        .node
        .as_mut()
        .ok_or_else(|| LabError::Scenario("latency needs calico-node (not --no-policy)".into()))?;
    let port = probe.port.map_or(String::new(), |p| format!(":{p}"));
    println!(
        "probe {} -> {}{port}/{}: {} in {a}, {} in {b}; {rounds} round(s)",
        probe.from,
        probe.to,
        probe.protocol,
        word(!want_b),
        word(want_b)
    );
    node.program(res_a.clone())?;
    let mut to_b = Vec::new();
    let mut to_a = Vec::new();
    for _ in 0..rounds {
        to_b.push(sample(
            node,
            res_b.clone(),
            (&src_ns, src_ip),
            dst,
            kind,
            want_b,
        )?);
        to_a.push(sample(
            node,
            res_a.clone(),
            (&src_ns, src_ip),
            dst,
            kind,
            !want_b,
        )?);
    }
    for (label, mut v) in [(format!("{a} -> {b}"), to_b), (format!("{b} -> {a}"), to_a)] {
        v.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{label}: write -> first changed packet: p50 {:.1} ms, p99 {:.1} ms, min {:.1} ms, max {:.1} ms (n={})",
            ms(percentile(&v, 0.5)),
            ms(percentile(&v, 0.99)),
            ms(v.first().copied().unwrap_or_default()),
            ms(v.last().copied().unwrap_or_default()),
            v.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn word(allowed: bool) -> &'static str {
    if allowed { "allowed" } else { "denied" }
}

/// Writes `resources` while a prober sends the probe; returns the time from the start of the
/// write to the first of [`CONFIRM`] consecutive answers equal to `want`. Returns once the node
/// has applied everything, so the next sample starts from a settled state.
fn sample(
    node: &mut super::node::Node,
    resources: Vec<Resource>,
    (src, src_ip): (&str, IpAddr),
    dst: IpAddr,
    kind: ProbeKind,
    want: bool,
) -> Result<Duration, LabError> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel::<Result<Instant, LabError>>();
    let t0 = Instant::now();
    let prober = {
        let stop = stop.clone();
        let src = src.to_string();
        std::thread::spawn(move || {
            let mut first: Option<Instant> = None;
            let mut streak = 0;
            while !stop.load(Ordering::Relaxed) && t0.elapsed() < SAMPLE_LIMIT {
                let at = Instant::now();
                match probe::send(&src, Some(src_ip), dst, kind, ATTEMPT_TIMEOUT) {
                    Ok(answer) if answer == want => {
                        streak += 1;
                        let at = *first.get_or_insert(at);
                        if streak >= CONFIRM {
                            let _ = tx.send(Ok(at));
                            return;
                        }
                    }
                    Ok(_) => {
                        streak = 0;
                        first = None;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        })
    };
    let programmed = node.program(resources);
    let got = rx.recv_timeout(SAMPLE_LIMIT);
    stop.store(true, Ordering::Relaxed);
    let _ = prober.join();
    programmed?;
    match got {
        Ok(Ok(at)) => Ok(at.saturating_duration_since(t0)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(LabError::Node(format!(
            "the probe's answer did not change within {SAMPLE_LIMIT:?}"
        ))),
    }
}
