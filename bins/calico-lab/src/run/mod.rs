//! `calico-lab run`: a scenario on the real kernel. One network namespace for the node and
//! one per pod, wired as Calico wires pods ([`topology`]); calico-node in the node namespace
//! on a fresh embedded datastore holding each case's resources ([`node`]); real packets for
//! every probe ([`probe`]); the report exactly as `simulate` prints it. Everything is removed
//! on exit, on failure and on SIGINT/SIGTERM ([`netns::Cleanup`]).

pub mod cni;
pub mod latency;
pub mod netns;
pub mod node;
pub mod probe;
pub mod topology;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use netns::Cleanup;
use probe::{Listeners, ProbeKind, Proto};
use topology::{PodSpec, Topology};

use crate::report::{Outcome, Reporter};
use crate::scenario::{Case, Probe, Scenario};

/// The default name prefix of every namespace the lab creates (`calico-lab cleanup` removes
/// namespaces with it).
pub const PREFIX: &str = "clab-";

/// What can go wrong in the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Entering a namespace (or another kernel call) failed.
    #[error("network namespace {ns}: {source}")]
    Netns {
        /// The namespace.
        ns: String,
        /// The error.
        #[source]
        source: nix::Error,
    },
    /// An `ip` command failed.
    #[error("{cmd} failed: {stderr}")]
    Command {
        /// The command.
        cmd: String,
        /// Its error output.
        stderr: String,
    },
    /// The datastore or calico-node.
    #[error("{0}")]
    Node(String),
    /// Something the lab made could not be removed, or a helper thread died.
    #[error("{0}")]
    Cleanup(String),
    /// The scenario does not fit the lab.
    #[error("{0}")]
    Scenario(String),
}

/// Options of `calico-lab run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// JSON lines.
    pub json: bool,
    /// Only this case.
    pub case: Option<String>,
    /// Probe timeout.
    pub timeout: Duration,
    /// The calico-node binary.
    pub node_bin: PathBuf,
    /// calico-node's dataplane (`CALICO_DATAPLANE`): `nftables` or `none`.
    pub dataplane: String,
    /// Print a reachability matrix per case.
    pub matrix: bool,
    /// Every probe with the reference evaluator's trace (what should have decided).
    pub explain: bool,
    /// Program no policy at all (no datastore, no calico-node): the bare network.
    pub no_policy: bool,
    /// Namespace name prefix of this run.
    pub prefix: String,
    /// Shell command run inside the node namespace after each case is programmed, before
    /// its probes.
    pub node_hook: Option<String>,
    /// Wire each pod by executing the `calico` CNI plugin (ADD/DEL) instead of directly.
    pub via_cni: bool,
    /// Where `calico` and `calico-ipam` are (`CNI_PATH`).
    pub cni_path: PathBuf,
}

/// The default CNI plugin directory: the one holding this executable.
pub fn default_cni_path() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The default calico-node: next to this executable.
pub fn default_node_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("calico-node")))
        .unwrap_or_else(|| PathBuf::from("calico-node"))
}

/// A fresh prefix for one run: `clab-` and six random hex digits.
pub fn fresh_prefix() -> String {
    format!("{PREFIX}{:06x}", fastrand::u32(..0x100_0000))
}

/// Runs the scenario; the exit status is the report's (2 when the lab itself failed).
pub fn run(scenario: &Scenario, opts: &RunOptions) -> ExitCode {
    with_lab_process(|cleanup| run_inner(scenario, opts, cleanup))
}

/// Checks for root, installs the signal handler, runs `work` and removes everything it
/// registered with the clean-up, whatever happened. Exit status 2 when the lab failed.
fn with_lab_process(work: impl FnOnce(&Cleanup) -> Result<ExitCode, LabError>) -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("calico-lab: needs root (network namespaces, veths, raw sockets)");
        return ExitCode::from(2);
    }
    let cleanup = Cleanup::default();
    if let Err(e) = netns::handle_signals(cleanup.clone()) {
        eprintln!("calico-lab: {e}");
        return ExitCode::from(2);
    }
    let result = work(&cleanup);
    let removed = cleanup.run();
    match (result, removed) {
        (Ok(code), Ok(())) => code,
        (Ok(_), Err(e)) => {
            eprintln!("calico-lab: {e}");
            ExitCode::from(2)
        }
        (Err(e), r) => {
            eprintln!("calico-lab: {e}");
            if let Err(e) = r {
                eprintln!("calico-lab: {e}");
            }
            ExitCode::from(2)
        }
    }
}

/// Why a probe is not sent, if it is not.
fn skip_reason(p: &Probe, topo: &Topology, sctp: bool) -> Option<&'static str> {
    if p.loopback || p.from == p.to {
        return Some("loopback");
    }
    let v6 = wants_v6(p);
    let (Some((from_ns, from)), Some((to_ns, to))) =
        (topo.endpoint(&p.from, v6), topo.endpoint(&p.to, v6))
    else {
        return Some("not a lab pod or external address (host endpoints are not in the lab)");
    };
    if from_ns == to_ns {
        return Some("both ends in the same namespace");
    }
    if topo.has_host_endpoints && (from_ns == topo.ext_ns || to_ns == topo.ext_ns) {
        return Some("external traffic would cross host endpoints, which are not in the lab");
    }
    if from.is_none() || to.is_none() {
        return Some("no address of the probe's family on both ends");
    }
    if p.protocol.eq_ignore_ascii_case("SCTP") && !sctp {
        return Some("this kernel has no SCTP");
    }
    if p.protocol.eq_ignore_ascii_case("ICMP") && !matches!(p.icmp_type.unwrap_or(8), 8 | 13) {
        return Some("ICMP type without a reply");
    }
    if p.protocol.eq_ignore_ascii_case("ICMPv6") && p.icmp_type.unwrap_or(128) != 128 {
        return Some("ICMPv6 type without a reply");
    }
    None
}

/// Whether a probe is over IPv6 (`family: 6`, or an ICMPv6 probe).
fn wants_v6(p: &Probe) -> bool {
    match p.family {
        Some(f) => f == 6,
        None => p.protocol.eq_ignore_ascii_case("ICMPv6"),
    }
}

fn kind_of(p: &Probe) -> Result<ProbeKind, String> {
    if p.protocol.eq_ignore_ascii_case("ICMPv6") {
        return Ok(ProbeKind::Icmp6(p.icmp_code.unwrap_or(0)));
    }
    if p.protocol.eq_ignore_ascii_case("ICMP") {
        return Ok(ProbeKind::Icmp(
            p.icmp_type.unwrap_or(8),
            p.icmp_code.unwrap_or(0),
        ));
    }
    let proto =
        Proto::parse(&p.protocol).ok_or_else(|| format!("unknown protocol {:?}", p.protocol))?;
    let port = p.port.ok_or("missing port")?;
    Ok(ProbeKind::Port(proto, port))
}

/// A built lab: calico-node (if any), the listeners and the topology, dropped in that order.
pub struct Lab {
    /// The pods the CNI plugin set up (`--via-cni`), DEL'd before the datastore goes.
    pub cni: Option<cni::CniPods>,
    /// calico-node on its datastore (`None` with `--no-policy`).
    pub node: Option<node::Node>,
    /// The listeners in the destination pods (kept alive until the lab goes).
    _listeners: Listeners,
    /// The namespaces and links.
    pub topo: Topology,
    /// Whether the kernel has SCTP.
    pub sctp: bool,
}

/// Builds the lab for `cases`: the topology, listeners for every probe they send and (unless
/// `--no-policy`) an unstarted calico-node on a fresh datastore.
pub fn setup(
    scenario: &Scenario,
    opts: &RunOptions,
    cleanup: &Cleanup,
    cases: &[&Case],
) -> Result<Lab, LabError> {
    let mut pods = Vec::new();
    for (key, ns, pod, ips) in scenario.model.pod_instances() {
        let Some(ip) = ips.iter().find_map(|s| s.parse::<Ipv4Addr>().ok()) else {
            eprintln!("calico-lab run: pod {key} has no IPv4 address; left out of the lab");
            continue;
        };
        pods.push(PodSpec {
            namespace: ns.to_string(),
            name: pod.to_string(),
            ip,
            ip6: ips.iter().find_map(|s| s.parse::<Ipv6Addr>().ok()),
        });
    }
    if !opts.no_policy && !opts.node_bin.is_file() {
        return Err(LabError::Node(format!(
            "calico-node not found at {} (build it with `cargo build -p calico-node`, pass \
             --node-bin PATH, or use --no-policy to probe the bare network)",
            opts.node_bin.display()
        )));
    }
    // Literal addresses in probes are external endpoints, behind the node's uplink.
    let mut externals: Vec<IpAddr> = Vec::new();
    for case in cases {
        for p in &case.probes {
            for who in [&p.from, &p.to] {
                if let Ok(ip) = who.parse::<IpAddr>()
                    && !externals.contains(&ip)
                {
                    externals.push(ip);
                }
            }
        }
    }
    if opts.via_cni && opts.no_policy {
        return Err(LabError::Scenario(
            "--via-cni needs the datastore: it cannot be combined with --no-policy".into(),
        ));
    }
    let mut node = if opts.no_policy {
        None
    } else {
        Some(node::Node::new(
            &format!("{}-node", opts.prefix),
            &opts.node_bin,
            &opts.dataplane,
            cleanup,
        )?)
    };
    let mut topo = Topology::build(&opts.prefix, &pods, &externals, !opts.via_cni, cleanup)?;
    topo.has_host_endpoints = !scenario.model.host_endpoints.is_empty();
    let mut cni_pods = None;
    let mut cni_time = None;
    if let (true, Some(node)) = (opts.via_cni, node.as_mut()) {
        let (pods_added, took) = setup_via_cni(opts, node, &mut topo, &pods)?;
        cni_pods = Some(pods_added);
        cni_time = Some(took);
        topo.build_time += took;
    }
    if !opts.json {
        println!(
            "lab {}: node namespace {}, {} pod namespace(s) built in {:.0} ms{}",
            topo.prefix,
            topo.node_ns,
            topo.pods.len(),
            topo.build_time.as_secs_f64() * 1000.0,
            cni_time
                .map(|t| format!(
                    " (pods wired by the CNI plugin in {:.0} ms)",
                    t.as_secs_f64() * 1000.0
                ))
                .unwrap_or_default()
        );
    }
    let sctp = topo
        .pods
        .first()
        .is_some_and(|p| probe::sctp_supported(&p.netns));
    // One listener per destination pod, protocol and port probed in any selected case.
    let mut wanted = BTreeSet::new();
    for case in cases {
        for p in &case.probes {
            if skip_reason(p, &topo, sctp).is_some() {
                continue;
            }
            if let (Ok(ProbeKind::Port(proto, port)), Some((ns, _))) =
                (kind_of(p), topo.endpoint(&p.to, wants_v6(p)))
            {
                wanted.insert((ns, proto, port));
            }
        }
    }
    let specs: Vec<_> = wanted.into_iter().collect();
    let listeners = Listeners::start(&specs)?;
    Ok(Lab {
        cni: cni_pods,
        node,
        _listeners: listeners,
        topo,
        sctp,
    })
}

/// `--via-cni`: pools covering the pods' fixed addresses, an ADD per pod, and each pod's
/// host interface as its WorkloadEndpoint names it (checked to hold the pod's addresses).
fn setup_via_cni(
    opts: &RunOptions,
    node: &mut node::Node,
    topo: &mut Topology,
    pods: &[PodSpec],
) -> Result<(cni::CniPods, Duration), LabError> {
    node.set_via_cni();
    let addresses: Vec<IpAddr> = pods
        .iter()
        .flat_map(|p| std::iter::once(IpAddr::V4(p.ip)).chain(p.ip6.map(IpAddr::V6)))
        .collect();
    node.ensure_pools(&addresses)?;
    let store = node.store_path();
    let work_dir = store.parent().unwrap_or(Path::new("/tmp")).to_path_buf();
    let mut added = cni::CniPods::new(
        &opts.cni_path,
        &topo.node_ns,
        crate::simulate::NODE,
        &store,
        &node.status_dir(),
        &work_dir,
    )?;
    let names: Vec<(String, String)> = pods
        .iter()
        .map(|p| (p.namespace.clone(), p.name.clone()))
        .collect();
    let took = added.add_all(topo, &names)?;
    let weps = node.endpoints()?;
    for p in pods {
        let key = format!("{}/{}", p.namespace, p.name);
        let Some(wep) = weps
            .iter()
            .find(|w| w.metadata.namespace == p.namespace && w.spec.pod == p.name)
        else {
            return Err(LabError::Node(format!(
                "the CNI plugin wrote no WorkloadEndpoint for pod {key}"
            )));
        };
        let want: Vec<String> = std::iter::once(format!("{}/32", p.ip))
            .chain(p.ip6.map(|a| format!("{a}/128")))
            .collect();
        if want.iter().any(|w| !wep.spec.ip_networks.contains(w)) {
            return Err(LabError::Node(format!(
                "pod {key}: the CNI plugin assigned {:?}, the scenario says {want:?}",
                wep.spec.ip_networks
            )));
        }
        topo.set_host_if(&key, &wep.spec.interface_name);
    }
    Ok((added, took))
}

fn run_inner(
    scenario: &Scenario,
    opts: &RunOptions,
    cleanup: &Cleanup,
) -> Result<ExitCode, LabError> {
    let cases: Vec<&Case> = scenario
        .cases
        .iter()
        .filter(|c| opts.case.as_ref().is_none_or(|id| &c.id == id))
        .collect();
    let mut lab = setup(scenario, opts, cleanup, &cases)?;
    let topo = &lab.topo;
    let sctp = lab.sctp;
    let mut out = Reporter::new(opts.json, opts.explain).with_matrix(opts.matrix);
    for case in cases {
        let start = Instant::now();
        out.case_started();
        if let Some(node) = lab.node.as_mut() {
            match crate::simulate::case_resources(&scenario.model, case) {
                Ok((resources, _)) => {
                    // calico-node's datastore has this profile built in (and refuses writes).
                    let resources = resources
                        .into_iter()
                        .filter(|r| {
                            !(r.kind() == calico_model::Kind::Profile
                                && r.name() == "projectcalico-default-allow")
                        })
                        .collect();
                    if let Err(e) = node.program(resources) {
                        if cleanup.exited("calico-node").is_some() {
                            // Nothing more can be programmed: stop the run.
                            return Err(e);
                        }
                        out.error(case, &format!("case {}: {e}", case.id));
                        continue;
                    }
                }
                Err(e) => {
                    out.error(case, &e);
                    continue;
                }
            }
        }
        if let Some(hook) = &opts.node_hook {
            let status = run_hook(&topo.node_ns, hook, cleanup)?;
            if !status.success() {
                return Err(LabError::Scenario(format!(
                    "node hook {hook:?} failed: {status}"
                )));
            }
        }
        let programmed = start.elapsed();
        let probes_start = Instant::now();
        let mut todo: Vec<(&Probe, ProbeKind)> = Vec::new();
        for p in &case.probes {
            if let Some(why) = skip_reason(p, topo, sctp) {
                out.skipped(case, p, why);
                continue;
            }
            match kind_of(p) {
                Ok(kind) => todo.push((p, kind)),
                Err(why) => out.error(
                    case,
                    &format!("case {}: probe {} -> {}: {why}", case.id, p.from, p.to),
                ),
            }
        }
        let results: Vec<Result<bool, LabError>> = std::thread::scope(|s| {
            let handles: Vec<_> = todo
                .iter()
                .map(|(p, kind)| {
                    let v6 = wants_v6(p);
                    let src = topo.endpoint(&p.from, v6);
                    let dst = topo.endpoint(&p.to, v6).and_then(|(_, ip)| ip);
                    let kind = *kind;
                    let timeout = opts.timeout;
                    s.spawn(move || match (src, dst) {
                        (Some((ns, Some(src))), Some(dst)) => {
                            probe::send(&ns, Some(src), dst, kind, timeout)
                        }
                        _ => Err(LabError::Scenario("probe endpoint vanished".into())),
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LabError::Cleanup("a probe thread panicked".into()))
                    })
                })
                .collect()
        });
        // With --explain: what the reference evaluator says decided, next to the kernel's answer.
        let sim = if opts.explain {
            crate::simulate::simulate_case(&scenario.model, case).ok()
        } else {
            None
        };
        for ((p, _), r) in todo.iter().zip(results) {
            let trace = sim.as_ref().and_then(|sim| {
                let r = sim.probe(case, p).ok()?;
                let (mut json, lines) = crate::simulate::trace(&r.verdict);
                json["evaluator_allowed"] = serde_json::json!(r.verdict.allowed);
                let mut text = vec![format!(
                    "evaluator says {}:",
                    if r.verdict.allowed { "allow" } else { "deny" }
                )];
                text.extend(lines.into_iter().map(|l| format!("  {l}")));
                Some((json, text))
            });
            match r {
                Ok(allowed) => out.probe(
                    case,
                    &Outcome {
                        probe: p,
                        allowed,
                        trace,
                    },
                ),
                Err(e) => out.error(case, &e),
            }
        }
        if !opts.json {
            eprintln!(
                "case {}: programmed in {:.0} ms, {} probe(s) in {:.0} ms",
                case.id,
                programmed.as_secs_f64() * 1000.0,
                todo.len(),
                probes_start.elapsed().as_secs_f64() * 1000.0
            );
        }
        out.case_time(case, start.elapsed());
        out.case_done(case);
    }
    // CNI DEL while calico-node still runs (as a kubelet does), then stop it.
    let deleted = lab.cni.take().map_or(Ok(()), |mut c| c.teardown());
    if let Some(node) = lab.node.take() {
        node.stop();
    }
    let code = out.finish();
    deleted.map(|()| code)
}

/// Runs the node hook in its own process group (killed whole on SIGINT/SIGTERM).
fn run_hook(
    node_ns: &str,
    hook: &str,
    cleanup: &Cleanup,
) -> Result<std::process::ExitStatus, LabError> {
    use std::os::unix::process::CommandExt;
    let io = |e| LabError::Io {
        what: format!("run the node hook {hook:?}"),
        source: e,
    };
    let mut child = Command::new("ip")
        .args(["netns", "exec", node_ns, "sh", "-c", hook])
        .process_group(0)
        .spawn()
        .map_err(io)?;
    let pgid = i32::try_from(child.id()).unwrap_or(0);
    if pgid > 0 {
        cleanup.group(pgid);
    }
    let status = child.wait().map_err(io);
    cleanup.forget_group(pgid);
    status
}

/// `calico-lab cleanup`: removes every namespace whose name starts with `prefix`.
pub fn cleanup(prefix: &str) -> ExitCode {
    let names = netns::list_with_prefix(prefix);
    if names.is_empty() {
        println!("nothing to remove");
        return ExitCode::SUCCESS;
    }
    match netns::delete(&names) {
        Ok(()) => {
            println!("removed {} namespace(s): {}", names.len(), names.join(", "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("calico-lab cleanup: {e}");
            ExitCode::FAILURE
        }
    }
}
