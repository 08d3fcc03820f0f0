//! `calico-lab`: policy scenarios on one machine.
//!
//! `calico-lab simulate SCENARIO.json [--json] [--explain] [--case ID]` feeds each case
//! through the real calculation graph and answers every probe with the reference evaluator.
//! The exit status is 0 only when every non-loopback probe matched its expectation.

mod scenario;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

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
        /// Only this case.
        #[arg(long = "case", value_name = "ID")]
        case: Option<String>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Simulate {
            scenario,
            json,
            explain,
            case,
        } => simulate_cmd(&scenario, json, explain, case.as_deref()),
    }
}

fn simulate_cmd(
    path: &std::path::Path,
    json_out: bool,
    explain: bool,
    only: Option<&str>,
) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("calico-lab: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let scenario: scenario::Scenario = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("calico-lab: {}: not a scenario file: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    if let Some(id) = only
        && !scenario.cases.iter().any(|c| c.id == id)
    {
        eprintln!("calico-lab: no case {id:?} in {}", path.display());
        return ExitCode::from(2);
    }
    let mut last_case_id = String::new();
    let last_case = &mut last_case_id;
    let summary = simulate::run(&scenario, only, |case, result| match result {
        Err(e) => {
            if json_out {
                println!("{}", json!({"case": case.id, "error": e.to_string()}));
            } else {
                println!("ERROR {e}");
            }
        }
        Ok(r) => {
            let p = &r.probe;
            if json_out {
                let mut line = json!({
                    "case": case.id, "from": p.from, "to": p.to, "port": p.port,
                    "protocol": p.protocol, "expected": p.allowed, "allowed": r.verdict.allowed,
                });
                if p.loopback {
                    line["loopback"] = json!(true);
                }
                if case.uncertain {
                    line["uncertain"] = json!(true);
                }
                if explain {
                    line["trace"] =
                        json!({"egress": r.verdict.egress, "ingress": r.verdict.ingress});
                }
                println!("{line}");
            } else if explain || r.verdict.allowed != p.allowed {
                let mark = if r.verdict.allowed == p.allowed {
                    if *last_case != case.id {
                        println!(
                            "# {} - {}{}",
                            case.id,
                            case.name,
                            if case.uncertain { " (uncertain)" } else { "" }
                        );
                        last_case.clone_from(&case.id);
                    }
                    "ok  "
                } else {
                    "FAIL"
                };
                let port = p.port.map_or(String::new(), |x| format!(":{x}"));
                println!(
                    "{mark} {}: {} -> {}{port}/{} expected {} got {}{}",
                    case.id,
                    p.from,
                    p.to,
                    p.protocol,
                    allow_word(p.allowed),
                    allow_word(r.verdict.allowed),
                    if p.loopback { " (loopback)" } else { "" },
                );
                for v in [&r.verdict.egress, &r.verdict.ingress]
                    .into_iter()
                    .flatten()
                {
                    println!("       {:?} {}: {}", v.direction, v.endpoint, v.decision);
                }
            }
        }
    });
    if json_out {
        println!(
            "{}",
            json!({"summary": {
                "cases": summary.cases, "probes": summary.probes, "matched": summary.matched,
                "mismatched": summary.mismatched, "mismatched_loopback": summary.mismatched_loopback,
                "errors": summary.case_errors,
            }})
        );
    } else {
        println!(
            "{} case(s), {} probe(s): {} matched, {} mismatched, {} loopback mismatched, {} error(s)",
            summary.cases,
            summary.probes,
            summary.matched,
            summary.mismatched,
            summary.mismatched_loopback,
            summary.case_errors
        );
    }
    if summary.mismatched == 0 && summary.case_errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn allow_word(b: bool) -> &'static str {
    if b { "allow" } else { "deny" }
}
