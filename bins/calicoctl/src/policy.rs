//! `calicoctl policy explain | diff | lint`: policy analysis over the live datastore, with
//! the logic in `calico_policy::{explain, diff, lint}`.
//!
//! Each command lists every kind the calculation graph reads ([`GRAPH_KINDS`]) from the
//! datastore `commands::connect` opens, and hands the resources to the library.
//!
//! Exit status:
//! - `explain`: 0 when it could answer (allowed or denied alike); 1 when an endpoint is
//!   unknown or ambiguous, the flags are wrong, or the datastore fails.
//! - `diff`: 0 whether or not anything changes (it is a report, not a test); 1 only when it
//!   cannot run (bad file, datastore error).
//! - `lint`: 1 when any finding is an error (or, with `--strict`, any warning too); 0
//!   otherwise — so CI fails on certain mistakes and warnings stay advisory unless asked.

use calico_datastore::Datastore;
use calico_model::{Kind, Resource};
use calico_policy::diff::{self, PolicyDiff};
use calico_policy::eval::{Decision, DirectionVerdict};
use calico_policy::explain::{self, Explanation, Probe};
use calico_policy::lint::{self, Finding, Severity};

use crate::commands::{self, FileArgs, Global, Report};
use crate::manifest::{self, LoadError};
use crate::table::tabwrite;

/// Every kind the calculation graph reads.
pub const GRAPH_KINDS: [Kind; 9] = [
    Kind::Tier,
    Kind::NetworkPolicy,
    Kind::GlobalNetworkPolicy,
    Kind::Profile,
    Kind::WorkloadEndpoint,
    Kind::HostEndpoint,
    Kind::NetworkSet,
    Kind::GlobalNetworkSet,
    Kind::FelixConfiguration,
];

/// The namespace given to namespaced resources of a file that name none.
const DEFAULT_NAMESPACE: &str = "default";

/// `calicoctl policy …`.
#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Explain whether traffic from one endpoint (or IP) to another is allowed, and which
    /// tier, policy and rule decide each direction.
    Explain(ExplainArgs),
    /// Show which endpoint pairs would change between allowed and denied if a file were
    /// applied.
    Diff(DiffArgs),
    /// Find likely mistakes in the policies of the datastore (or of the datastore with a
    /// file applied).
    Lint(LintArgs),
}

/// `calicoctl policy explain`.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// Source: `<namespace>/<workload>` (WorkloadEndpoint or pod name), `hep:<name>`, or an IP.
    #[arg(long, value_name = "ENDPOINT")]
    from: String,
    /// Destination: `<namespace>/<workload>`, `hep:<name>`, or an IP.
    #[arg(long, value_name = "ENDPOINT")]
    to: String,
    /// tcp, udp, sctp, icmp or a protocol number.
    #[arg(long, default_value = "tcp", value_name = "PROTOCOL")]
    protocol: String,
    /// Destination port (required for tcp, udp and sctp).
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// ICMP type (icmp only; default: echo request).
    #[arg(long, value_name = "TYPE")]
    icmp_type: Option<u8>,
    /// ICMP code (icmp only; default 0).
    #[arg(long, value_name = "CODE", requires = "icmp_type")]
    icmp_code: Option<u8>,
    /// Output format: table or json.
    #[arg(short = 'o', long, default_value = "table", value_name = "OUTPUT")]
    output: String,
}

/// `calicoctl policy diff`.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["files"]))]
pub struct DiffArgs {
    #[command(flatten)]
    input: FileArgs,
    /// Output format: table or json.
    #[arg(short = 'o', long, default_value = "table", value_name = "OUTPUT")]
    output: String,
}

/// `calicoctl policy lint`.
#[derive(clap::Args, Debug)]
pub struct LintArgs {
    #[command(flatten)]
    input: FileArgs,
    /// Output format: table or json.
    #[arg(short = 'o', long, default_value = "table", value_name = "OUTPUT")]
    output: String,
    /// Exit 1 on warnings too, not only on errors.
    #[arg(long)]
    strict: bool,
}

/// table or json.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Table,
    Json,
}

fn output(s: &str) -> Result<Output, Report> {
    match s {
        "table" => Ok(Output::Table),
        "json" => Ok(Output::Json),
        other => Err(Report::failure(format!(
            "unrecognized output format '{other}': use table or json"
        ))),
    }
}

/// Runs one `policy` subcommand.
pub async fn run(global: &Global, command: &PolicyCommand) -> Report {
    let result = match command {
        PolicyCommand::Explain(a) => explain_cmd(global, a).await,
        PolicyCommand::Diff(a) => diff_cmd(global, a).await,
        PolicyCommand::Lint(a) => lint_cmd(global, a).await,
    };
    result.unwrap_or_else(|r| r)
}

/// Every resource of the kinds the calculation graph reads.
async fn load_cluster(global: &Global) -> Result<Vec<Resource>, Report> {
    let store = commands::connect(global).await?;
    commands::check_version(store.as_ref(), global)
        .await
        .map_err(Report::failure)?;
    list_all(store.as_ref()).await
}

async fn list_all(store: &dyn Datastore) -> Result<Vec<Resource>, Report> {
    let mut out = Vec::new();
    for kind in GRAPH_KINDS {
        let listed = store.list(kind, None).await.map_err(|e| {
            Report::failure(format!("Failed to list {} resources: {e}", kind.kind()))
        })?;
        out.extend(listed.items);
    }
    Ok(out)
}

/// The resources of `-f`, with the `-n` (or `default`) namespace on namespaced ones.
fn load_files(input: &FileArgs) -> Result<Vec<Resource>, Report> {
    let mut resources =
        manifest::load(&input.files, input.recursive, input.skip_empty).map_err(|e| match e {
            LoadError::FileInvalid(m) => Report::failure(format!("Failed to execute command: {m}")),
            LoadError::Plain(m) => Report::failure(m),
        })?;
    let ns = input.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    for r in &mut resources {
        if r.kind().namespaced() && r.metadata().namespace.is_empty() {
            r.metadata_mut().namespace = ns.to_owned();
        }
    }
    Ok(resources)
}

fn json_out(value: &impl serde::Serialize) -> Result<String, Report> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| Report::failure(format!("cannot encode JSON: {e}")))
}

// ------------------------------------------------------------------------------------------
// explain
// ------------------------------------------------------------------------------------------

async fn explain_cmd(global: &Global, args: &ExplainArgs) -> Result<Report, Report> {
    let format = output(&args.output)?;
    let mut probe =
        Probe::parse(&args.protocol, args.port).map_err(|e| Report::failure(e.to_string()))?;
    if let Some(t) = args.icmp_type {
        probe = probe
            .with_icmp(t, args.icmp_code.unwrap_or(0))
            .map_err(|e| Report::failure(e.to_string()))?;
    }
    let resources = load_cluster(global).await?;
    let e = explain::explain_resources(&resources, &args.from, &args.to, &probe)
        .map_err(|e| Report::failure(e.to_string()))?;
    let mut r = Report::default();
    r.out(match format {
        Output::Json => json_out(&e)?,
        Output::Table => explain_table(&e, &probe),
    });
    Ok(r)
}

fn verdict_word(allowed: bool) -> &'static str {
    if allowed { "allowed" } else { "denied" }
}

/// TIER, POLICY, RULE and ACTION of a decision (`-` where it has none).
fn decision_cells(d: &Decision) -> [String; 4] {
    let dash = || "-".to_owned();
    match d {
        Decision::PolicyRule {
            tier,
            policy,
            rule,
            action,
        } => [
            tier.clone(),
            policy.clone(),
            rule.to_string(),
            action.clone(),
        ],
        Decision::AcceptedEarly { tier, policy, rule } => [
            tier.clone(),
            policy.clone(),
            rule.to_string(),
            "Allow".into(),
        ],
        Decision::EndOfTier { tier } => [tier.clone(), dash(), dash(), "Deny (end of tier)".into()],
        Decision::ProfileRule {
            profile,
            rule,
            action,
        } => [
            dash(),
            format!("profile {profile}"),
            rule.to_string(),
            action.clone(),
        ],
        other => [dash(), dash(), dash(), other.to_string()],
    }
}

fn explain_table(e: &Explanation, probe: &Probe) -> String {
    let mut out = format!(
        "{} -> {} {}: {}\n",
        e.from.spec,
        e.to.spec,
        probe.label(),
        verdict_word(e.allowed).to_ascii_uppercase()
    );
    let mut grid = vec![
        [
            "NODE",
            "DIRECTION",
            "ENDPOINT",
            "VERDICT",
            "TIER",
            "POLICY",
            "RULE",
            "ACTION",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let mut row = |node: &str, v: &DirectionVerdict| {
        let mut cells = vec![
            node.to_owned(),
            format!("{:?}", v.direction).to_ascii_lowercase(),
            v.endpoint.clone(),
            verdict_word(v.allowed).to_owned(),
        ];
        cells.extend(decision_cells(&v.decision));
        grid.push(cells);
    };
    for c in &e.checks {
        for v in [&c.verdict.egress, &c.verdict.ingress]
            .into_iter()
            .flatten()
        {
            row(&c.node, v);
        }
    }
    if e.checks.is_empty() {
        out.push_str("Neither end is a Calico endpoint: no policy applies.\n");
        return out;
    }
    out.push_str(&tabwrite(&grid));
    for (what, peer) in [("source", &e.from), ("destination", &e.to)] {
        if peer.endpoint.is_none() {
            out.push_str(&format!(
                "The {what} {} is not a Calico endpoint (external): nothing polices it.\n",
                peer.spec
            ));
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// diff
// ------------------------------------------------------------------------------------------

async fn diff_cmd(global: &Global, args: &DiffArgs) -> Result<Report, Report> {
    let format = output(&args.output)?;
    let changes = load_files(&args.input)?;
    let before = load_cluster(global).await?;
    let after = diff::apply_changes(&before, &changes);
    let d = diff::diff(&before, &after).map_err(|e| Report::failure(e.to_string()))?;
    let mut r = Report::default();
    r.out(match format {
        Output::Json => json_out(&d)?,
        Output::Table => diff_table(&d),
    });
    Ok(r)
}

fn diff_table(d: &PolicyDiff) -> String {
    let mut out = String::new();
    if !d.changes.is_empty() {
        let mut grid = vec![
            [
                "FROM",
                "TO",
                "PROTOCOL/PORT",
                "BEFORE",
                "AFTER",
                "DECIDED BY",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for c in &d.changes {
            grid.push(vec![
                c.from.clone(),
                c.to.clone(),
                c.probe.clone(),
                verdict_word(c.before).to_owned(),
                verdict_word(c.after).to_owned(),
                c.decided_by.clone(),
            ]);
        }
        out.push_str(&tabwrite(&grid));
    }
    let opened = d.changes.iter().filter(|c| c.after).count();
    out.push_str(&format!(
        "{} change(s): {} newly denied, {opened} newly allowed ({} endpoints, {} of {} pairs evaluated on {}).\n",
        d.changes.len(),
        d.changes.len() - opened,
        d.endpoints,
        d.pairs_evaluated,
        d.pairs,
        d.probes.join(", ")
    ));
    out
}

// ------------------------------------------------------------------------------------------
// lint
// ------------------------------------------------------------------------------------------

async fn lint_cmd(global: &Global, args: &LintArgs) -> Result<Report, Report> {
    let format = output(&args.output)?;
    let changes = if args.input.files.is_empty() {
        Vec::new()
    } else {
        load_files(&args.input)?
    };
    let current = load_cluster(global).await?;
    let resources = diff::apply_changes(&current, &changes);
    let findings = lint::lint(&resources);
    let failing = findings
        .iter()
        .any(|f| f.severity == Severity::Error || (args.strict && f.severity == Severity::Warning));
    let mut r = Report::default();
    r.out(match format {
        Output::Json => json_out(&findings)?,
        Output::Table => lint_table(&findings),
    });
    r.failed = failing;
    Ok(r)
}

fn lint_table(findings: &[Finding]) -> String {
    let mut out = String::new();
    if !findings.is_empty() {
        let mut grid = vec![
            ["SEVERITY", "CHECK", "RESOURCE", "FIELD", "REASON"]
                .map(String::from)
                .to_vec(),
        ];
        for f in findings {
            grid.push(vec![
                f.severity.to_string(),
                f.check.to_string(),
                f.resource.clone(),
                f.field.clone(),
                f.reason.clone(),
            ]);
        }
        out.push_str(&tabwrite(&grid));
    }
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    out.push_str(&format!(
        "{} finding(s): {} error(s), {} warning(s), {} info.\n",
        findings.len(),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    ));
    out
}
