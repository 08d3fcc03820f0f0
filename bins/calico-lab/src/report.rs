//! Printing probe results, shared by `simulate` and `run`: one line per probe (JSON with
//! `--json`), a summary, and the exit status (0 only when every non-loopback probe matched).

use std::fmt::Display;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use crate::scenario::{Case, Probe};

/// Totals over a run.
#[derive(Debug, Default)]
pub struct Summary {
    /// Cases run.
    pub cases: usize,
    /// Case or probe set-up errors.
    pub case_errors: usize,
    /// Probes answered.
    pub probes: usize,
    /// Probes whose answer matched the expectation.
    pub matched: usize,
    /// Non-loopback probes whose answer differed.
    pub mismatched: usize,
    /// Loopback probes whose answer differed.
    pub mismatched_loopback: usize,
    /// Probes not sent (loopback, unsupported protocol or family), `run` only.
    pub skipped: usize,
    /// Wall time per case (`run` only).
    pub case_times: Vec<(String, Duration)>,
}

/// One answered probe.
pub struct Outcome<'a> {
    /// The probe.
    pub probe: &'a Probe,
    /// The answer.
    pub allowed: bool,
    /// With `--explain`: what decided (JSON), and the same as text lines.
    pub trace: Option<(Value, Vec<String>)>,
}

/// One answered probe, kept for the matrix.
struct MatrixCell {
    from: String,
    to: String,
    service: String,
    allowed: bool,
    expected: bool,
}

/// Prints results as they come and keeps the [`Summary`].
pub struct Reporter {
    json: bool,
    explain: bool,
    matrix: Option<Vec<MatrixCell>>,
    last_case: String,
    /// The totals so far.
    pub summary: Summary,
}

fn allow_word(b: bool) -> &'static str {
    if b { "allow" } else { "deny" }
}

impl Reporter {
    /// A reporter printing JSON lines (`json`) or text, with traces when `explain`.
    pub fn new(json: bool, explain: bool) -> Self {
        Reporter {
            json,
            explain,
            matrix: None,
            last_case: String::new(),
            summary: Summary::default(),
        }
    }

    /// Also prints a reachability matrix after each case (text mode only).
    pub fn with_matrix(mut self, on: bool) -> Self {
        if on && !self.json {
            self.matrix = Some(Vec::new());
        }
        self
    }

    /// Counts a case as started.
    pub fn case_started(&mut self) {
        self.summary.cases += 1;
    }

    /// Ends a case: prints its matrix when asked for.
    pub fn case_done(&mut self, case: &Case) {
        let Some(cells) = self.matrix.as_mut() else {
            return;
        };
        let cells = std::mem::take(cells);
        if cells.is_empty() {
            return;
        }
        let mut froms: Vec<&str> = Vec::new();
        let mut columns: Vec<(&str, &str)> = Vec::new();
        for c in &cells {
            if !froms.contains(&c.from.as_str()) {
                froms.push(&c.from);
            }
            let col = (c.to.as_str(), c.service.as_str());
            if !columns.contains(&col) {
                columns.push(col);
            }
        }
        println!("# {} - {}", case.id, case.name);
        let legend: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (to, svc))| format!("{:>2} {:<24}", i + 1, format!("{to} {svc}")))
            .collect();
        println!("  to:");
        for chunk in legend.chunks(3) {
            println!("   {}", chunk.join(" ").trim_end());
        }
        let width = froms.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut head = format!("  {:width$} ", "from");
        for i in 1..=columns.len() {
            head.push_str(&format!("{i:>4}"));
        }
        println!("{head}");
        for f in &froms {
            let mut line = format!("  {f:width$} ");
            for (to, svc) in &columns {
                let mark = cells
                    .iter()
                    .find(|c| c.from == *f && c.to == *to && c.service == *svc)
                    .map_or("", |c| match (c.allowed, c.allowed == c.expected) {
                        (true, true) => "ok",
                        (false, true) => "--",
                        (true, false) => "!ok",
                        (false, false) => "!--",
                    });
                line.push_str(&format!("{mark:>4}"));
            }
            println!("{}", line.trim_end());
        }
        println!("  ok: connected, --: blocked, !: not what the scenario expects, blank: no probe");
    }

    /// Records the wall time of a case.
    pub fn case_time(&mut self, case: &Case, took: Duration) {
        self.summary.case_times.push((case.id.clone(), took));
    }

    /// A case (or one of its probes) could not be set up.
    pub fn error(&mut self, case: &Case, e: &dyn Display) {
        self.summary.case_errors += 1;
        if self.json {
            println!("{}", json!({"case": case.id, "error": e.to_string()}));
        } else {
            println!("ERROR {e}");
        }
    }

    /// A probe that was not sent, with why.
    pub fn skipped(&mut self, case: &Case, probe: &Probe, why: &str) {
        self.summary.skipped += 1;
        if self.json {
            let mut line = probe_json(case, probe);
            line["skipped"] = json!(why);
            println!("{line}");
        } else if self.explain {
            self.header(case);
            println!("skip {}: {} ({why})", case.id, probe_text(probe));
        }
    }

    fn header(&mut self, case: &Case) {
        if self.last_case != case.id {
            println!(
                "# {} - {}{}",
                case.id,
                case.name,
                if case.uncertain { " (uncertain)" } else { "" }
            );
            self.last_case.clone_from(&case.id);
        }
    }

    /// An answered probe.
    pub fn probe(&mut self, case: &Case, o: &Outcome<'_>) {
        let p = o.probe;
        let s = &mut self.summary;
        s.probes += 1;
        if o.allowed == p.allowed {
            s.matched += 1;
        } else if p.loopback {
            s.mismatched_loopback += 1;
        } else {
            s.mismatched += 1;
        }
        if let Some(cells) = self.matrix.as_mut() {
            cells.push(MatrixCell {
                from: p.from.clone(),
                to: p.to.clone(),
                service: match p.port {
                    Some(port) => format!("{port}/{}", p.protocol),
                    None => p.protocol.clone(),
                },
                allowed: o.allowed,
                expected: p.allowed,
            });
        }
        if self.json {
            let mut line = probe_json(case, p);
            line["allowed"] = json!(o.allowed);
            if self.explain
                && let Some((trace, _)) = &o.trace
            {
                line["trace"] = trace.clone();
            }
            println!("{line}");
        } else if self.explain || o.allowed != p.allowed {
            let mark = if o.allowed == p.allowed {
                self.header(case);
                "ok  "
            } else {
                "FAIL"
            };
            println!(
                "{mark} {}: {} expected {} got {}{}",
                case.id,
                probe_text(p),
                allow_word(p.allowed),
                allow_word(o.allowed),
                if p.loopback { " (loopback)" } else { "" },
            );
            for l in o.trace.iter().flat_map(|(_, lines)| lines) {
                println!("       {l}");
            }
        }
    }

    /// Prints the summary and returns the exit status.
    pub fn finish(self) -> ExitCode {
        let s = &self.summary;
        let times: serde_json::Map<String, Value> = s
            .case_times
            .iter()
            .map(|(id, d)| (id.clone(), json!(d.as_secs_f64())))
            .collect();
        if self.json {
            let mut summary = json!({
                "cases": s.cases, "probes": s.probes, "matched": s.matched,
                "mismatched": s.mismatched, "mismatched_loopback": s.mismatched_loopback,
                "errors": s.case_errors,
            });
            if s.skipped > 0 {
                summary["skipped"] = json!(s.skipped);
            }
            if !times.is_empty() {
                summary["case_seconds"] = Value::Object(times);
            }
            println!("{}", json!({ "summary": summary }));
        } else {
            if !s.case_times.is_empty() {
                let list: Vec<String> = s
                    .case_times
                    .iter()
                    .map(|(id, d)| format!("{id} {:.2}s", d.as_secs_f64()))
                    .collect();
                println!("time per case: {}", list.join(", "));
            }
            println!(
                "{} case(s), {} probe(s): {} matched, {} mismatched, {} loopback mismatched, {} error(s){}",
                s.cases,
                s.probes,
                s.matched,
                s.mismatched,
                s.mismatched_loopback,
                s.case_errors,
                if s.skipped > 0 {
                    format!(", {} skipped", s.skipped)
                } else {
                    String::new()
                }
            );
        }
        if s.mismatched == 0 && s.case_errors == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

fn probe_json(case: &Case, p: &Probe) -> Value {
    let mut line = json!({
        "case": case.id, "from": p.from, "to": p.to, "port": p.port,
        "protocol": p.protocol, "expected": p.allowed,
    });
    if p.loopback {
        line["loopback"] = json!(true);
    }
    // What tells apart probes that share the endpoints, port and protocol.
    if let Some(t) = p.icmp_type {
        line["icmp_type"] = json!(t);
    }
    if let Some(c) = p.icmp_code {
        line["icmp_code"] = json!(c);
    }
    if let Some(f) = p.family {
        line["family"] = json!(f);
    }
    if case.uncertain {
        line["uncertain"] = json!(true);
    }
    line
}

fn probe_text(p: &Probe) -> String {
    let port = p.port.map_or(String::new(), |x| format!(":{x}"));
    format!("{} -> {}{port}/{}", p.from, p.to, p.protocol)
}
