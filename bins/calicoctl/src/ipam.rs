//! `calicoctl ipam`: `show`, `check`, `release` and `configure`, on
//! [`calico_datastore::ipam`], with calicoctl's flags, tables and messages
//! (`calicoctl/commands/ipam/{show,check,release,configure}.go`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use calico_datastore::ipam::{AllocationInfo, Ipam, IpamError, ReleaseOptions};
use calico_datastore::{Datastore, Error};
use calico_model::sync::ResourceKey;
use calico_model::{IPAMConfigurationSpec, Kind, Resource, ipam_handle_name};
use serde::{Deserialize, Serialize};

use crate::commands::{Global, Report, check_version, connect};
use crate::errors::ActionError;

/// The `calicoctl ipam` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum IpamCommand {
    /// Show details of a Calico assigned IP address, or of overall IP usage.
    Show(ShowArgs),
    /// Check the integrity of the IPAM data structures (leaked addresses and handles, …).
    Check(CheckArgs),
    /// Release a Calico assigned IP address, or the leaked addresses of `check` reports.
    Release(ReleaseArgs),
    /// Modify configuration for Calico IP address management.
    Configure(ConfigureArgs),
}

/// `calicoctl ipam show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// Report whether this specific IP address is in use.
    #[arg(long, value_name = "IP", conflicts_with_all = ["show_blocks", "show_borrowed", "show_configuration"])]
    ip: Option<IpAddr>,
    /// Show detailed information for IP blocks as well as pools.
    #[arg(long)]
    show_blocks: bool,
    /// Show detailed information for "borrowed" IP addresses.
    #[arg(long, conflicts_with_all = ["show_blocks", "show_configuration"])]
    show_borrowed: bool,
    /// Show current Calico IPAM configuration.
    #[arg(long, conflicts_with = "show_blocks")]
    show_configuration: bool,
}

/// `calicoctl ipam check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Print all IPs that are checked.
    #[arg(long)]
    show_all_ips: bool,
    /// Print all IPs that are leaked or not allocated properly.
    #[arg(long)]
    show_problem_ips: bool,
    /// Path to output report file.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `calicoctl ipam release`.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["ip", "from_report"]))]
pub struct ReleaseArgs {
    /// IP address to release.
    #[arg(long, value_name = "IP")]
    ip: Option<IpAddr>,
    /// Release all leaked addresses from the report. If several reports are given, only
    /// the leaks common to all of them are released.
    #[arg(long = "from-report", value_name = "REPORT")]
    from_report: Vec<PathBuf>,
    /// Release even if a report comes from another cluster, another calicoctl version, or
    /// no report is current.
    #[arg(long, conflicts_with = "ip")]
    force: bool,
}

/// `calicoctl ipam configure`.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("setting").required(true).multiple(true)
    .args(["strictaffinity", "max_blocks_per_host"]))]
pub struct ConfigureArgs {
    /// Set StrictAffinity to true/false. When StrictAffinity is true, borrowing IP
    /// addresses is not allowed.
    #[arg(long = "strictaffinity", value_name = "true/false", value_parser = parse_go_bool)]
    strictaffinity: Option<bool>,
    /// Set the maximum number of blocks that can be affine to a host (0: the default
    /// limit). Needs StrictAffinity.
    #[arg(long, value_name = "NUMBER",
          value_parser = clap::value_parser!(i32).range(0..=1_000_000))]
    max_blocks_per_host: Option<i32>,
}

/// Go's `strconv.ParseBool`, with calicoctl's message.
fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("invalid value. Use true or false to set strictaffinity".into()),
    }
}

/// Runs one `calicoctl ipam` subcommand.
pub async fn run(global: &Global, command: &IpamCommand) -> Report {
    let store = match connect(global).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(m) = check_version(store.as_ref(), global).await {
        return Report::failure(m);
    }
    let ipam = Ipam::new(Arc::clone(&store));
    let result = match command {
        IpamCommand::Show(args) => show(&ipam, args).await,
        IpamCommand::Check(args) => check(&ipam, args).await,
        IpamCommand::Release(args) => release(&ipam, args).await,
        IpamCommand::Configure(args) => configure(&ipam, args).await,
    };
    result.unwrap_or_else(Report::failure)
}

/// An IPAM error as one line.
fn ipam_error(e: IpamError) -> String {
    match e {
        IpamError::Datastore(e) => ActionError::Store(e).to_string(),
        other => other.to_string(),
    }
}

// ------------------------------------------------------------------------------ tables

/// A table as calicoctl's `go-pretty` default style draws it: `+---+` rules around the
/// header and the rows, `| ` cell padding; `right[i]` right-aligns column `i`'s cells.
fn boxed(headers: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let rule: String = widths.iter().fold("+".to_owned(), |mut s, w| {
        s.push_str(&"-".repeat(w + 2));
        s.push('+');
        s
    });
    let line = |cells: &[String], align: &dyn Fn(usize) -> bool| {
        let mut s = String::from("|");
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = " ".repeat(w - cell.chars().count());
            if align(i) {
                s.push_str(&format!(" {pad}{cell} |"));
            } else {
                s.push_str(&format!(" {cell}{pad} |"));
            }
        }
        s
    };
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let mut out = format!("{rule}\n{}\n{rule}\n", line(&header, &|_| false));
    for row in rows {
        out.push_str(&line(row, &|i| right.get(i).copied().unwrap_or(false)));
        out.push('\n');
    }
    out.push_str(&rule);
    out.push('\n');
    out
}

/// Go's `%.5g` of a count: plain up to 99999, else `1.6777e+07`.
fn go_g5(n: u128) -> String {
    if n < 100_000 {
        return n.to_string();
    }
    let sci = format!("{:.4e}", n as f64);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Go's `%.5g (%.f%%)` of `n` out of `capacity`.
fn with_percentage(n: u128, capacity: u128) -> String {
    let pct = if capacity == 0 {
        0.0
    } else {
        100.0 * n as f64 / capacity as f64
    };
    format!("{} ({pct:.0}%)", go_g5(n))
}

// ------------------------------------------------------------------------------- show

async fn show(ipam: &Ipam, args: &ShowArgs) -> Result<Report, String> {
    let mut r = Report::default();
    if let Some(ip) = args.ip {
        r.out(show_ip(
            ip,
            ipam.allocation_of(ip).await.map_err(ipam_error)?,
        ));
    } else if args.show_borrowed {
        r.out(show_borrowed(
            &ipam.allocations().await.map_err(ipam_error)?,
        ));
    } else if args.show_configuration {
        r.out(show_configuration(
            &ipam.config().await.map_err(ipam_error)?,
        ));
    } else {
        let usage = ipam.utilization().await.map_err(ipam_error)?;
        let mut rows = Vec::new();
        for pool in &usage {
            rows.push(vec![
                "IP Pool".to_owned(),
                pool.cidr.to_string(),
                go_g5(pool.total),
                with_percentage(pool.in_use, pool.total),
                with_percentage(pool.free(), pool.total),
            ]);
            if args.show_blocks {
                for b in &pool.blocks {
                    rows.push(vec![
                        "Block".to_owned(),
                        b.cidr.to_string(),
                        go_g5(b.total),
                        with_percentage(b.in_use, b.total),
                        with_percentage(b.total.saturating_sub(b.in_use), b.total),
                    ]);
                }
            }
        }
        r.out(boxed(
            &["GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"],
            &rows,
            &[false, false, true, true, true],
        ));
    }
    Ok(r)
}

fn show_ip(ip: IpAddr, info: Option<AllocationInfo>) -> String {
    let Some(info) = info else {
        return format!("IP {ip} is not assigned\n");
    };
    let mut s = format!("IP {ip} is in use\n");
    s.push_str(&format!(
        "Handle ID: {}\n",
        info.handle.as_deref().unwrap_or("<none>")
    ));
    if info.attributes.is_empty() {
        s.push_str("No Active Owner attributes defined\n");
    } else {
        s.push_str("Active Owner Attributes:\n");
        for (k, v) in &info.attributes {
            s.push_str(&format!("  {k}: {v}\n"));
        }
    }
    s
}

/// The node of a block affinity (`host:<node>` → `<node>`).
fn affinity_node(affinity: Option<&str>) -> &str {
    match affinity {
        Some(a) => a.strip_prefix("host:").unwrap_or(a),
        None => "",
    }
}

fn show_borrowed(allocations: &[AllocationInfo]) -> String {
    let mut rows = Vec::new();
    let mut unclassified = 0usize;
    for a in allocations {
        let owner = affinity_node(a.block_affinity.as_deref());
        let Some(node) = a.attributes.get("node") else {
            unclassified += 1;
            continue;
        };
        if node == owner {
            continue;
        }
        let ns = a.attributes.get("namespace").map_or("", String::as_str);
        let (kind, to) = if let Some(pod) = a.attributes.get("pod") {
            ("pod".to_owned(), format!("{ns}/{pod}"))
        } else {
            (
                a.attributes.get("type").cloned().unwrap_or_default(),
                String::new(),
            )
        };
        rows.push(vec![
            a.ip.to_string(),
            node.clone(),
            a.block.to_string(),
            owner.to_owned(),
            kind,
            to,
        ]);
    }
    let mut s = boxed(
        &[
            "IP",
            "BORROWING-NODE",
            "BLOCK",
            "BLOCK OWNER",
            "TYPE",
            "ALLOCATED-TO",
        ],
        &rows,
        &[],
    );
    if unclassified != 0 {
        s.push_str(&format!(
            "\nNote: found {unclassified} IP allocations without an explicit node association. Unable to determine if they are borrowed.\n"
        ));
    }
    s
}

fn show_configuration(config: &IPAMConfigurationSpec) -> String {
    let rows = vec![
        vec![
            "StrictAffinity".to_owned(),
            config.strict_affinity.to_string(),
        ],
        vec![
            "AutoAllocateBlocks".to_owned(),
            config.auto_allocate_blocks_or_default().to_string(),
        ],
        vec![
            "MaxBlocksPerHost".to_owned(),
            config.max_blocks_per_host.to_string(),
        ],
    ];
    boxed(&["PROPERTY", "VALUE"], &rows, &[])
}

// ------------------------------------------------------------------------------ check

/// The `-o` report of `ipam check`, the input of `ipam release --from-report`: calicoctl's
/// `Report` (fields it writes that we do not know, such as `owners`, are ignored on read).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckFile {
    /// calicoctl version that wrote the report.
    #[serde(default)]
    pub version: String,
    /// `ClusterInformation/default`'s `clusterGUID` (empty if there is none).
    #[serde(rename = "clusterGUID", default)]
    pub cluster_guid: String,
    /// `ClusterInformation/default`'s `datastoreReady` is false.
    #[serde(default)]
    pub datastore_locked: bool,
    /// `ClusterInformation/default`'s resource version when the report was made.
    #[serde(rename = "clusterInformationRevision", default)]
    pub cluster_information_revision: String,
    /// `ClusterInformation/default`'s `clusterType`.
    #[serde(default)]
    pub cluster_type: String,
    /// Every allocation, by address.
    #[serde(default)]
    pub allocations: Option<BTreeMap<String, Vec<ReportAllocation>>>,
    /// Handles without allocations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaked_handles: Option<Vec<ReportHandle>>,
}

/// One allocation in a [`CheckFile`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReportAllocation {
    /// The address.
    pub ip: String,
    /// The owning handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// The allocation's sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
    /// Pod name attribute.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod: String,
    /// Namespace attribute.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The node the address was allocated for (else the block's host).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// `type` attribute (tunnel addresses, load balancers).
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `timestamp` attribute.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub creation_timestamp: String,
    /// False when the allocation is leaked (nothing uses it). Required: a report without it
    /// must not make anything look leaked.
    pub in_use: bool,
    /// The address is in a block affine to another node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub borrowed: bool,
    /// Why the allocation counts as leaked (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak_reason: Option<String>,
}

/// One leaked handle in a [`CheckFile`] (calicoctl writes `ID`/`Revision`/`UID`; both
/// spellings are read).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReportHandle {
    /// The handle ID.
    #[serde(alias = "ID")]
    pub id: String,
    /// Its resource version.
    #[serde(alias = "Revision", default)]
    pub revision: String,
    /// Its UID.
    #[serde(alias = "UID", default)]
    pub uid: Option<String>,
}

/// What the report records of `ClusterInformation/default`.
#[derive(Default)]
struct ClusterMeta {
    guid: String,
    revision: String,
    cluster_type: String,
    locked: bool,
}

async fn cluster_meta(store: &dyn Datastore) -> Result<ClusterMeta, String> {
    let key = ResourceKey::new(Kind::ClusterInformation, "", "default");
    match store.get(&key).await {
        Ok(Resource::ClusterInformation(ci)) => Ok(ClusterMeta {
            guid: ci.spec.cluster_guid.clone(),
            revision: ci.metadata.resource_version.clone(),
            cluster_type: ci.spec.cluster_type.clone(),
            locked: ci.spec.datastore_ready == Some(false),
        }),
        Ok(_) | Err(Error::NotFound { .. }) => Ok(ClusterMeta::default()),
        Err(e) => Err(ActionError::Store(e).to_string()),
    }
}

fn attr_string(a: &AllocationInfo) -> String {
    let kvs: Vec<String> = a
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "Main:{} Extra:{}",
        a.handle.as_deref().unwrap_or("<none>"),
        kvs.join(",")
    )
}

/// The identity of one allocation: address, handle and sequence number.
type AllocKey = (IpAddr, Option<String>, Option<u64>);

fn alloc_key(a: &AllocationInfo) -> AllocKey {
    (a.ip, a.handle.clone(), a.sequence_number)
}

async fn check(ipam: &Ipam, args: &CheckArgs) -> Result<Report, String> {
    let show_problems = args.show_all_ips || args.show_problem_ips;
    let store = ipam.datastore();
    let spinner = crate::progress::Spinner::start("Reading IPAM blocks");
    let meta = cluster_meta(store.as_ref()).await?;
    let blocks = store
        .list(Kind::IPAMBlock, None)
        .await
        .map_err(|e| ActionError::Store(e).to_string())?
        .items
        .iter()
        .filter(|b| matches!(b, Resource::IPAMBlock(b) if !b.spec.deleted))
        .count();
    spinner.say("Reading IP allocations");
    let allocations = ipam.allocations().await.map_err(ipam_error)?;
    spinner.say("Checking allocations, handles and affinities");
    let report = ipam.check().await.map_err(ipam_error)?;
    drop(spinner);

    let mut r = Report::default();
    r.out("Checking IPAM for inconsistencies...\n\n");
    r.out(format!("Found {blocks} IPAM blocks.\n"));
    r.out(format!("Found {} IP allocations.\n", report.allocations));
    if args.show_all_ips {
        for a in &allocations {
            r.out(format!("  {} allocated; attrs {}\n", a.ip, attr_string(a)));
        }
    }
    r.out(format!(
        "Found {} leaked IP allocations.\n",
        report.leaked_allocations.len()
    ));
    if show_problems {
        for l in &report.leaked_allocations {
            r.out(format!(
                "  {} leaked ({}); attrs {}\n",
                l.allocation.ip,
                l.reason,
                attr_string(&l.allocation)
            ));
        }
    }
    r.out(format!(
        "Found {} in-use IPs that are in active IP pools but have no corresponding IPAM allocation.\n",
        report.in_use_not_allocated.len()
    ));
    if show_problems {
        for ip in &report.in_use_not_allocated {
            r.out(format!(
                "  {ip} in use and in an IP pool but has no IPAM allocation.\n"
            ));
        }
    }
    r.out(format!(
        "Found {} leaked IPAM handles.\n",
        report.leaked_handles.len()
    ));
    if show_problems {
        for h in &report.leaked_handles {
            r.out(format!("  {} doesn't have any active IPs.\n", h.id));
        }
    }
    r.out(format!(
        "Found {} IP allocations whose handle does not exist.\n",
        report.allocations_without_handle.len()
    ));
    if show_problems {
        for a in &report.allocations_without_handle {
            r.out(format!(
                "  {} is allocated to handle {}, which doesn't exist.\n",
                a.ip,
                a.handle.as_deref().unwrap_or("<none>")
            ));
        }
    }
    r.out(format!(
        "Found {} block affinities without a block.\n",
        report.affinities_without_block.len()
    ));
    if show_problems {
        for a in &report.affinities_without_block {
            r.out(format!("  {a}\n"));
        }
    }
    r.out(format!(
        "Found {} problems in the structure of IPAM blocks.\n",
        report.block_problems.len()
    ));
    if show_problems {
        for p in &report.block_problems {
            r.out(format!("  {p}\n"));
        }
    }
    r.out(format!(
        "Found {} IPs allocated in more than one block.\n",
        report.duplicate_addresses.len()
    ));
    if show_problems {
        for ip in &report.duplicate_addresses {
            r.out(format!("  {ip}\n"));
        }
    }
    let problems = report.leaked_allocations.len()
        + report.in_use_not_allocated.len()
        + report.leaked_handles.len()
        + report.allocations_without_handle.len()
        + report.affinities_without_block.len()
        + report.block_problems.len()
        + report.duplicate_addresses.len();
    r.out(format!("Check complete; found {problems} problems.\n"));

    if let Some(path) = &args.output {
        let leaked: BTreeMap<AllocKey, &str> = report
            .leaked_allocations
            .iter()
            .map(|l| (alloc_key(&l.allocation), l.reason.as_str()))
            .collect();
        let file = CheckFile {
            version: crate::CLIENT_VERSION.to_owned(),
            cluster_guid: meta.guid,
            datastore_locked: meta.locked,
            cluster_information_revision: meta.revision,
            cluster_type: meta.cluster_type,
            allocations: Some(report_allocations(&allocations, &leaked)),
            leaked_handles: (!report.leaked_handles.is_empty()).then(|| {
                report
                    .leaked_handles
                    .iter()
                    .map(|h| ReportHandle {
                        id: h.id.clone(),
                        revision: h.revision.clone(),
                        uid: (!h.uid.is_empty()).then(|| h.uid.clone()),
                    })
                    .collect()
            }),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("cannot write the report to {}: {e}", path.display()))?;
    }
    Ok(r)
}

/// The report's allocations: leaked (not in use) exactly when the check found this
/// address, handle and sequence number leaked.
fn report_allocations(
    allocations: &[AllocationInfo],
    leaked: &BTreeMap<AllocKey, &str>,
) -> BTreeMap<String, Vec<ReportAllocation>> {
    let mut out: BTreeMap<String, Vec<ReportAllocation>> = BTreeMap::new();
    for a in allocations {
        let host = affinity_node(a.block_affinity.as_deref());
        let attr = |k: &str| a.attributes.get(k).cloned().unwrap_or_default();
        let node = a
            .attributes
            .get("node")
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| host.to_owned());
        let reason = leaked.get(&alloc_key(a)).map(|r| (*r).to_owned());
        out.entry(a.ip.to_string())
            .or_default()
            .push(ReportAllocation {
                ip: a.ip.to_string(),
                handle: a.handle.clone(),
                sequence_number: a.sequence_number,
                pod: attr("pod"),
                namespace: attr("namespace"),
                borrowed: node != host,
                node,
                kind: attr("type"),
                creation_timestamp: attr("timestamp"),
                in_use: reason.is_none(),
                leak_reason: reason,
            });
    }
    out
}

// ---------------------------------------------------------------------------- release

async fn release(ipam: &Ipam, args: &ReleaseArgs) -> Result<Report, String> {
    if !args.from_report.is_empty() {
        return release_from_reports(ipam, &args.from_report, args.force).await;
    }
    let Some(ip) = args.ip else {
        return Err("either --ip or --from-report is required".into());
    };
    let not_released = ipam
        .release_ips(&[ReleaseOptions {
            address: ip,
            handle_id: None,
            sequence_number: None,
        }])
        .await
        .map_err(|e| format!("error: {}", ipam_error(e)))?;
    if !not_released.is_empty() {
        return Err(format!("IP address {ip} is not assigned"));
    }
    let mut r = Report::default();
    r.out(format!("Successfully released IP address {ip}\n"));
    Ok(r)
}

/// Leaked allocations and handles common to every report: an allocation must be leaked in
/// all of them with the same handle and sequence number, a handle with the same revision.
fn merge_reports(
    reports: &[CheckFile],
) -> Result<(BTreeSet<AllocKey>, BTreeMap<String, ReportHandle>), String> {
    let mut ips: Option<BTreeSet<AllocKey>> = None;
    let mut handles: Option<BTreeMap<String, ReportHandle>> = None;
    for report in reports {
        let mut leaked = BTreeSet::new();
        for a in report
            .allocations
            .iter()
            .flat_map(BTreeMap::values)
            .flatten()
        {
            if a.in_use {
                continue;
            }
            let ip: IpAddr =
                a.ip.parse()
                    .map_err(|_| format!("the report lists an invalid IP address {:?}", a.ip))?;
            let handle = a.handle.clone().filter(|h| !h.is_empty());
            leaked.insert((ip, handle, a.sequence_number));
        }
        ips = Some(match ips {
            None => leaked,
            Some(prev) => prev.intersection(&leaked).cloned().collect(),
        });
        let these: BTreeMap<String, ReportHandle> = report
            .leaked_handles
            .iter()
            .flatten()
            .map(|h| (h.id.clone(), h.clone()))
            .collect();
        handles = Some(match handles {
            None => these,
            Some(prev) => these
                .into_iter()
                .filter(|(id, h)| prev.get(id) == Some(h))
                .collect(),
        });
    }
    Ok((ips.unwrap_or_default(), handles.unwrap_or_default()))
}

async fn release_from_reports(
    ipam: &Ipam,
    files: &[PathBuf],
    force: bool,
) -> Result<Report, String> {
    let store = ipam.datastore();
    let meta = cluster_meta(store.as_ref()).await?;
    let mut r = Report::default();
    let mut reports = Vec::new();
    let mut found_current = false;
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the report {}: {e}", file.display()))?;
        let report: CheckFile = serde_json::from_str(&text)
            .map_err(|e| format!("cannot parse the report {}: {e}", file.display()))?;
        if report.cluster_guid != meta.guid {
            if !force {
                return Err(format!(
                    "cluster does not match the provided report ({}): mismatched cluster GUID. Refusing to release",
                    file.display()
                ));
            }
            r.out("WARNING: Report was produced for a different cluster (mismatched cluster GUID). Ignoring due to --force option\n");
        }
        if report.version != crate::CLIENT_VERSION {
            if !force {
                return Err(format!(
                    "the provided report ({}) was produced using a different version ({}) of calicoctl. Refusing to release",
                    file.display(),
                    report.version
                ));
            }
            r.out("WARNING: Report was produced using a different version of calicoctl. Ignoring due to --force option\n");
        }
        found_current |= report.cluster_information_revision == meta.revision;
        reports.push(report);
    }
    // As calicoctl: releasing from a report needs a quiet cluster (no CNI ADDs racing the
    // release): `calicoctl datastore migrate lock` first, then `check`, then `release`.
    if !meta.locked {
        if !force {
            return Err("the datastore is not locked. Run the `calicoctl datastore migrate lock` command in order to release unused IPs".into());
        }
        r.out("WARNING: The datastore is not locked. Ignoring due to --force option\n");
    }
    if !found_current {
        if !force {
            return Err("the provided reports are all stale - at least one should be up-to-date. Please generate a new report and try again".into());
        }
        r.out("WARNING: The provided reports are all stale. Ignoring due to --force option\n");
    }
    let (ips, handles) = merge_reports(&reports)?;

    if ips.is_empty() {
        r.out("Report didn't contain any leaked IPs to clean up.\n");
    } else {
        r.out(format!("Releasing {} old IPs...\n", ips.len()));
        let opts: Vec<ReleaseOptions> = ips
            .iter()
            .map(|(ip, handle, seq)| ReleaseOptions {
                address: *ip,
                handle_id: handle.clone(),
                sequence_number: *seq,
            })
            .collect();
        match ipam.release_ips(&opts).await {
            Ok(not_released) => {
                r.out(format!(
                    "Released {} IPs successfully\n",
                    opts.len() - not_released.len()
                ));
                if !not_released.is_empty() {
                    r.out(format!(
                        "{} addresses marked as leaked in the report had already been cleaned up.\n",
                        not_released.len()
                    ));
                }
            }
            Err(e) => {
                return Ok(r.fail(format!(
                    "An error occurred while releasing some IPs: {}.  Problems are often caused by an out-of-date IPAM report.  Try regenerating the IPAM report and retry.",
                    ipam_error(e)
                )));
            }
        }
    }

    if handles.is_empty() {
        r.out("Report didn't contain any handles to clean up.\n");
        return Ok(r);
    }
    r.out(format!("Deleting {} handles...\n", handles.len()));
    let (mut deleted, mut skipped) = (0usize, 0usize);
    let mut errors = Vec::new();
    for h in handles.values() {
        match delete_handle(ipam, h).await {
            Ok(true) => deleted += 1,
            Ok(false) => skipped += 1,
            Err(e) => errors.push(format!("Deleting handle {} failed: {e}.", h.id)),
        }
    }
    r.out(format!(
        "Released {deleted} handles; {skipped} skipped; {} errors.\n",
        errors.len()
    ));
    if errors.is_empty() {
        Ok(r)
    } else {
        Ok(r.fail(errors.join("\n")))
    }
}

/// Deletes a leaked handle if its revision (and UID, if the report has one) is still the
/// reported one. False if it is gone or changed.
async fn delete_handle(ipam: &Ipam, h: &ReportHandle) -> Result<bool, String> {
    let key = ResourceKey::new(Kind::IPAMHandle, "", ipam_handle_name(&h.id));
    let current = match ipam.datastore().get(&key).await {
        Ok(res) => res,
        Err(Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(ActionError::Store(e).to_string()),
    };
    let meta = current.metadata();
    if meta.resource_version != h.revision
        || h.uid
            .as_deref()
            .is_some_and(|u| !u.is_empty() && u != meta.uid)
    {
        return Ok(false);
    }
    match ipam.delete_handle(&h.id, Some(&h.revision)).await {
        Ok(()) => Ok(true),
        Err(IpamError::Datastore(Error::Conflict { .. })) => Ok(false),
        Err(e) => Err(ipam_error(e)),
    }
}

// -------------------------------------------------------------------------- configure

async fn configure(ipam: &Ipam, args: &ConfigureArgs) -> Result<Report, String> {
    let mut config = ipam.config().await.map_err(ipam_error)?;
    if let Some(strict) = args.strictaffinity {
        config.strict_affinity = strict;
    }
    if let Some(max) = args.max_blocks_per_host {
        config.max_blocks_per_host = max;
    }
    match ipam.set_config(config).await {
        Ok(_) => Ok(Report::default()),
        Err(IpamError::Invalid(m)) => Err(format!("invalid IPAM configuration: {m}")),
        Err(e) => Err(ipam_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_print_as_go_percent_5g() {
        assert_eq!(go_g5(0), "0");
        assert_eq!(go_g5(65536), "65536");
        assert_eq!(go_g5(99_999), "99999");
        assert_eq!(go_g5(100_000), "1e+05");
        assert_eq!(go_g5(16_777_216), "1.6777e+07");
        assert_eq!(go_g5(1 << 64), "1.8447e+19");
        assert_eq!(with_percentage(3, 64), "3 (5%)");
        assert_eq!(with_percentage(61, 64), "61 (95%)");
        assert_eq!(with_percentage(0, 0), "0 (0%)");
    }

    #[test]
    fn boxed_tables_look_like_go_pretty() {
        let t = boxed(
            &["A", "NUM"],
            &[vec!["long cell".into(), "7".into()]],
            &[false, true],
        );
        assert_eq!(
            t,
            "+-----------+-----+\n\
             | A         | NUM |\n\
             +-----------+-----+\n\
             | long cell |   7 |\n\
             +-----------+-----+\n"
        );
    }

    #[test]
    fn go_bools() {
        assert_eq!(parse_go_bool("True"), Ok(true));
        assert_eq!(parse_go_bool("0"), Ok(false));
        assert!(parse_go_bool("yes").is_err());
    }

    fn alloc(ip: &str, handle: &str, seq: u64, in_use: bool) -> ReportAllocation {
        ReportAllocation {
            ip: ip.into(),
            handle: Some(handle.into()),
            sequence_number: Some(seq),
            in_use,
            ..Default::default()
        }
    }

    fn report(allocs: Vec<ReportAllocation>, handles: Vec<ReportHandle>) -> CheckFile {
        let mut map: BTreeMap<String, Vec<ReportAllocation>> = BTreeMap::new();
        for a in allocs {
            map.entry(a.ip.clone()).or_default().push(a);
        }
        CheckFile {
            allocations: Some(map),
            leaked_handles: Some(handles),
            ..Default::default()
        }
    }

    #[test]
    fn merging_keeps_only_leaks_common_to_every_report() {
        let h = |id: &str, rev: &str| ReportHandle {
            id: id.into(),
            revision: rev.into(),
            uid: None,
        };
        let a = report(
            vec![
                alloc("10.0.0.1", "h1", 1, false),
                alloc("10.0.0.2", "h2", 2, false),
                alloc("10.0.0.3", "h3", 3, false),
            ],
            vec![h("x", "1"), h("y", "1")],
        );
        let b = report(
            vec![
                alloc("10.0.0.1", "h1", 1, false),
                alloc("10.0.0.2", "h2", 9, false), // reallocated between the reports
                alloc("10.0.0.3", "h3", 3, true),  // now in use
            ],
            vec![h("x", "1"), h("y", "2")],
        );
        let (ips, handles) = merge_reports(&[a, b]).expect("merge");
        let ips: Vec<String> = ips.iter().map(|k| k.0.to_string()).collect();
        assert_eq!(ips, ["10.0.0.1"]);
        assert_eq!(handles.keys().collect::<Vec<_>>(), ["x"]);
    }

    #[test]
    fn reads_calicoctl_reports() {
        let text = r#"{"version":"v3.30.0","clusterGUID":"g","datastoreLocked":true,
            "clusterInformationRevision":"5","clusterType":"k8s",
            "allocations":{"10.0.0.1":[{"ip":"10.0.0.1","handle":"h","sequenceNumber":4,
              "node":"n","inUse":false,"owners":null}]},
            "leakedHandles":[{"ID":"h2","UID":null,"Revision":"7"}]}"#;
        let r: CheckFile = serde_json::from_str(text).expect("parse");
        let (ips, handles) = merge_reports(&[r]).expect("merge");
        assert_eq!(ips.len(), 1);
        assert_eq!(handles["h2"].revision, "7");
    }
}
