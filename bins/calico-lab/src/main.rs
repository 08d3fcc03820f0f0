//! `calico-lab`: policy scenarios on one machine.
//!
//! `calico-lab simulate SCENARIO.json [--json] [--explain] [--case ID]` feeds each case
//! through the real calculation graph and answers every probe with the reference evaluator.
//! The exit status is 0 only when every non-loopback probe matched its expectation.
//!
//! `calico-lab run SCENARIO.json` does the same on the real kernel (root): namespaces and
//! veths as Calico wires pods, calico-node programming the node, real packets (see
//! `docs/LAB.md`). `calico-lab cleanup` removes what a killed run left behind.

mod report;
mod run;
mod scenario;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "calico-lab",
    version,
    about = "Calico policy scenarios on one machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer every probe of a scenario file with the reference evaluator (no root needed).
    Simulate {
        /// The scenario file (see shared/scenarios/FORMAT.md).
        scenario: std::path::PathBuf,
        /// One JSON object per probe, then a summary object.
        #[arg(long)]
        json: bool,
        /// Include the trace: per direction, the tier, policy and rule (or default) that decided.
        #[arg(long)]
        explain: bool,
        /// After each case, print its reachability matrix (text output only).
        #[arg(long)]
        matrix: bool,
        /// Only this case.
        #[arg(long = "case", value_name = "ID")]
        case: Option<String>,
    },
    /// Run a scenario on the real kernel: network namespaces, veths, calico-node and real
    /// packets (needs root).
    Run {
        /// The scenario file (see shared/scenarios/FORMAT.md).
        scenario: std::path::PathBuf,
        /// One JSON object per probe, then a summary object.
        #[arg(long)]
        json: bool,
        /// Only this case.
        #[arg(long = "case", value_name = "ID")]
        case: Option<String>,
        /// After each case, print its reachability matrix (text output only).
        #[arg(long)]
        matrix: bool,
        /// Every probe, with the reference evaluator's trace (the tier, policy and rule that
        /// should have decided) next to the kernel's answer.
        #[arg(long)]
        explain: bool,
        /// Probe timeout in milliseconds (a denied probe takes this long).
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        /// The calico-node binary (default: `calico-node` next to this executable).
        #[arg(long, value_name = "PATH")]
        node_bin: Option<std::path::PathBuf>,
        /// calico-node's dataplane (`CALICO_DATAPLANE`): `nftables` enforces, `none` only
        /// records (then every probe is allowed).
        #[arg(long, default_value = "nftables")]
        dataplane: String,
        /// Program no policy: no datastore, no calico-node; probes the bare network.
        #[arg(long)]
        no_policy: bool,
        /// Name prefix of this run's namespaces (default: `clab-` and six random hex digits).
        #[arg(long)]
        prefix: Option<String>,
        /// Shell command run inside the node namespace after each case is programmed and
        /// before its probes (e.g. extra nft rules); its failure stops the run.
        #[arg(long, value_name = "CMD")]
        node_hook: Option<String>,
        /// Wire each pod by executing the real `calico` CNI plugin (ADD, and DEL at the end)
        /// with `calico-ipam` on the lab's datastore, instead of directly (see docs/LAB.md).
        #[arg(long)]
        via_cni: bool,
        /// Directory holding `calico` and `calico-ipam` (default: this executable's).
        #[arg(long, value_name = "DIR")]
        cni_path: Option<std::path::PathBuf>,
    },
    /// Measure a policy write in the datastore -> the first packet whose verdict changed,
    /// between two cases of a scenario (needs root and calico-node).
    Latency {
        /// The scenario file.
        scenario: std::path::PathBuf,
        /// The case programmed first.
        #[arg(long = "from-case", value_name = "ID")]
        from_case: String,
        /// The case written while the probe runs (must answer one probe differently).
        #[arg(long = "to-case", value_name = "ID")]
        to_case: String,
        /// Samples each way.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// The calico-node binary (default: `calico-node` next to this executable).
        #[arg(long, value_name = "PATH")]
        node_bin: Option<std::path::PathBuf>,
        /// calico-node's dataplane (`CALICO_DATAPLANE`).
        #[arg(long, default_value = "nftables")]
        dataplane: String,
    },
    /// Remove network namespaces left behind by runs that were killed (name prefix `clab-`).
    Cleanup {
        /// Remove namespaces starting with this prefix.
        #[arg(long, default_value = run::PREFIX)]
        prefix: String,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Simulate {
            scenario,
            json,
            explain,
            matrix,
            case,
        } => simulate_cmd(&scenario, json, explain, matrix, case.as_deref()),
        Command::Run {
            scenario,
            json,
            matrix,
            explain,
            case,
            timeout_ms,
            node_bin,
            dataplane,
            no_policy,
            prefix,
            node_hook,
            via_cni,
            cni_path,
        } => {
            let loaded = match load(&scenario, case.as_deref()) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let opts = run::RunOptions {
                json,
                case,
                timeout: std::time::Duration::from_millis(timeout_ms),
                node_bin: node_bin.unwrap_or_else(run::default_node_bin),
                dataplane,
                matrix,
                explain,
                no_policy,
                prefix: prefix.unwrap_or_else(run::fresh_prefix),
                node_hook,
                via_cni,
                cni_path: cni_path.unwrap_or_else(run::default_cni_path),
            };
            run::run(&loaded, &opts)
        }
        Command::Latency {
            scenario,
            from_case,
            to_case,
            rounds,
            node_bin,
            dataplane,
        } => {
            let loaded = match load(&scenario, None) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let opts = run::RunOptions {
                json: false,
                case: None,
                timeout: std::time::Duration::from_millis(1000),
                node_bin: node_bin.unwrap_or_else(run::default_node_bin),
                dataplane,
                matrix: false,
                explain: false,
                no_policy: false,
                prefix: run::fresh_prefix(),
                node_hook: None,
                via_cni: false,
                cni_path: run::default_cni_path(),
            };
            run::latency::latency(&loaded, &opts, &from_case, &to_case, rounds)
        }
        Command::Cleanup { prefix } => run::cleanup(&prefix),
    }
}

/// Reads and parses a scenario file, or says why not (exit status 2).
fn load(path: &std::path::Path, only: Option<&str>) -> Result<scenario::Scenario, ExitCode> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("calico-lab: cannot read {}: {e}", path.display());
        ExitCode::from(2)
    })?;
    let scenario: scenario::Scenario = serde_json::from_str(&text).map_err(|e| {
        eprintln!("calico-lab: {}: not a scenario file: {e}", path.display());
        ExitCode::from(2)
    })?;
    if let Some(id) = only
        && !scenario.cases.iter().any(|c| c.id == id)
    {
        eprintln!("calico-lab: no case {id:?} in {}", path.display());
        return Err(ExitCode::from(2));
    }
    Ok(scenario)
}

fn simulate_cmd(
    path: &std::path::Path,
    json_out: bool,
    explain: bool,
    matrix: bool,
    only: Option<&str>,
) -> ExitCode {
    let scenario = match load(path, only) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut out = report::Reporter::new(json_out, explain).with_matrix(matrix);
    simulate::run(&scenario, only, &mut out);
    out.finish()
}
