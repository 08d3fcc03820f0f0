//! Moving a whole datastore to another backend, as `calicoctl datastore migrate` does:
//! [`lock`] the source, [`export`] every resource as one YAML stream, [`import`] the stream
//! into an empty target, [`unlock`] the target.
//!
//! - **Lock** sets `ClusterInformation/default` `spec.datastoreReady` to false (creating the
//!   ClusterInformation first if there is none, as Calico's `EnsureInitialized` does), so
//!   Calico components stop acting on the datastore; **unlock** sets it back to true.
//! - **Export** reads every kind, IPAM included (IPAMConfiguration, IPAMBlock,
//!   BlockAffinity, IPAMHandle), in a fixed order ([`EXPORT_ORDER`]: ClusterInformation,
//!   then cluster-scoped kinds with what others refer to first, then the IPAM kinds, then
//!   namespaced kinds), each kind sorted by namespace and name. The metadata the target
//!   datastore assigns itself is removed ([`strip_metadata`]: `uid`, `resourceVersion`,
//!   `creationTimestamp`, `generation`, `deletionTimestamp`, `deletionGracePeriodSeconds`);
//!   everything else (labels, annotations, owner references, spec, status) is kept. The
//!   built-in `projectcalico-default-allow` profile is not exported (every datastore serves
//!   it). Encoding is deterministic, so exporting an imported stream gives the same bytes.
//! - **Import** decodes and checks the whole stream before writing anything (every
//!   problem is reported), refuses a target that already holds resources, writes
//!   ClusterInformation first (locked, so the target's components wait), then every other
//!   kind in [`EXPORT_ORDER`] with `create`. If a write fails, what was written is deleted
//!   again, so a failed import leaves the target as it was.
//!
//! Long operations report to a [`Progress`] (a no-op for `()`), so a command-line tool can
//! draw a progress bar without this crate depending on a terminal library.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use calico_datastore::{Datastore, memory::MemoryDatastore};
//! use calico_datastore::migrate::{self, ExportOptions, ImportOptions};
//! use calico_model::{IPPool, IPPoolSpec, ObjectMeta};
//!
//! let source = MemoryDatastore::new();
//! let pool = IPPool::new(ObjectMeta::named("pool-a"), IPPoolSpec { cidr: "10.244.0.0/16".into(), ..Default::default() });
//! source.create(pool.into()).await?;
//!
//! migrate::lock(&source, "v3.30.0").await?;
//! let stream = migrate::to_stream(&migrate::export(&source, &ExportOptions::default(), &()).await?);
//!
//! let target = MemoryDatastore::new();
//! let resources = migrate::decode_stream(&stream)?;
//! let summary = migrate::import(&target, resources, &ImportOptions::default(), &()).await?;
//! assert_eq!(summary.resources, 1);
//! assert!(migrate::is_locked(&target).await?); // imported locked: unlock when ready
//!
//! let again = migrate::to_stream(&migrate::export(&target, &ExportOptions::default(), &()).await?);
//! assert_eq!(again, stream);
//! migrate::unlock(&target).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use calico_model::codec::decode_each;
use calico_model::sync::ResourceKey;
use calico_model::{DEFAULT_ALLOW_PROFILE, Kind, Resource};
use futures::StreamExt;

use crate::{Datastore, Error};

/// The name of the one ClusterInformation Calico uses.
pub const CLUSTER_INFORMATION_NAME: &str = crate::cluster::NAME;

/// Concurrent writes of one kind during an import (the embedded store commits concurrent
/// writes together; etcd pipelines them).
pub const DEFAULT_IMPORT_CONCURRENCY: usize = 32;

/// Compare-and-swap attempts of [`lock`] and [`unlock`] before a conflict is reported.
const LOCK_ATTEMPTS: usize = 5;

/// The order in which kinds are exported and imported: ClusterInformation (so an import
/// locks the target before anything else appears), cluster-scoped kinds with the ones that
/// others refer to first (pools before IPAM, BGP filters before peers, tiers before
/// policies, nodes before host endpoints), the IPAM kinds, then namespaced kinds.
pub const EXPORT_ORDER: &[Kind] = &[
    Kind::ClusterInformation,
    Kind::IPPool,
    Kind::IPReservation,
    Kind::BGPFilter,
    Kind::BGPPeer,
    Kind::BGPConfiguration,
    Kind::FelixConfiguration,
    Kind::KubeControllersConfiguration,
    Kind::Tier,
    Kind::GlobalNetworkPolicy,
    Kind::StagedGlobalNetworkPolicy,
    Kind::GlobalNetworkSet,
    Kind::Profile,
    Kind::Node,
    Kind::HostEndpoint,
    Kind::CalicoNodeStatus,
    Kind::IPAMConfiguration,
    Kind::IPAMBlock,
    Kind::BlockAffinity,
    Kind::IPAMHandle,
    Kind::NetworkPolicy,
    Kind::StagedNetworkPolicy,
    Kind::StagedKubernetesNetworkPolicy,
    Kind::NetworkSet,
    Kind::WorkloadEndpoint,
];

/// True for the kinds that belong to Calico IPAM (counted apart in an import's summary).
pub fn is_ipam_kind(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::IPAMConfiguration | Kind::IPAMBlock | Kind::BlockAffinity | Kind::IPAMHandle
    )
}

/// A step of a long operation, as reported to a [`Progress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Export: listing the kinds of the source (one unit per kind).
    Read,
    /// Import: checking that the target is empty (one unit per kind).
    CheckTarget,
    /// Import: writing resources (one unit per resource).
    Write,
    /// Import: deleting what a failed import wrote (one unit per resource).
    Rollback,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Read => "Reading",
            Stage::CheckTarget => "Checking the target",
            Stage::Write => "Writing",
            Stage::Rollback => "Rolling back",
        })
    }
}

/// Where long operations report how far they are. Every method has a no-op default; `()`
/// reports nothing.
pub trait Progress: Sync {
    /// A stage starts with `total` units of work.
    fn start(&self, stage: Stage, total: u64) {
        let _ = (stage, total);
    }
    /// `done` more units of the stage are finished.
    fn advance(&self, stage: Stage, done: u64) {
        let _ = (stage, done);
    }
    /// The stage is over (finished or abandoned).
    fn finish(&self, stage: Stage) {
        let _ = stage;
    }
}

impl Progress for () {}

/// One problem of an import stream, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamProblem {
    /// 1-based document number in the stream.
    pub document: usize,
    /// `Kind/name` or `Kind/namespace/name`, as far as known.
    pub resource: String,
    /// Field path inside the resource (empty for the whole resource).
    pub path: String,
    /// What is wrong.
    pub reason: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
}

impl fmt::Display for StreamProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}: {}: ", self.document, self.resource)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.reason)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// Lines of problems, for error messages.
fn problem_lines(problems: &[StreamProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which step of [`lock`] / [`unlock`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockStep {
    /// Creating the missing ClusterInformation (lock only).
    Initialize,
    /// Reading ClusterInformation.
    Read,
    /// Writing ClusterInformation.
    Update,
}

impl LockStep {
    /// calicoctl's words for a failure of this step of locking (`locking`) or unlocking,
    /// without the cause: `Error retrieving ClusterInformation for locking`.
    pub fn context(self, locking: bool) -> String {
        let purpose = if locking { "locking" } else { "unlocking" };
        match self {
            LockStep::Initialize => {
                "Unable to initialize cluster information for the datastore migration".into()
            }
            LockStep::Read => format!("Error retrieving ClusterInformation for {purpose}"),
            LockStep::Update => format!("Error updating ClusterInformation for {purpose}"),
        }
    }
}

/// What went wrong in a migration step. The texts are calicoctl's where it has one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// Export needs the source locked ([`lock`]) so that nothing changes while it is read.
    #[error(
        "datastore is not locked. Run the `calicoctl datastore migrate lock` command in order to begin migration"
    )]
    NotLocked,
    /// Reading ClusterInformation to see whether the datastore is locked failed.
    #[error("error while checking if datastore was locked: {0}")]
    CheckLocked(#[source] Error),
    /// Locking or unlocking failed.
    #[error("{}: {source}", step.context(*.locking))]
    Lock {
        /// True for [`lock`], false for [`unlock`].
        locking: bool,
        /// Which step.
        step: LockStep,
        /// The datastore's error.
        #[source]
        source: Error,
    },
    /// Listing a kind of the source failed.
    #[error("cannot read {kind} resources: {source}")]
    Read {
        /// The kind.
        kind: Kind,
        /// The datastore's error.
        #[source]
        source: Error,
    },
    /// Stored values do not decode; an export would silently lose them.
    #[error(
        "{count} stored {kind} value(s) cannot be decoded, so an export would lose them; first: {key}: {reason}"
    )]
    Undecodable {
        /// The kind.
        kind: Kind,
        /// How many values.
        count: usize,
        /// The first one.
        key: ResourceKey,
        /// Why it does not decode.
        reason: String,
    },
    /// The stream is Go calicoctl's export file (v3 YAML, `===`, ClusterInformation JSON,
    /// `===`, IPAM JSON), which this import does not read.
    #[error(
        "the file is a Go calicoctl export (sections separated by \"===\" lines); this import reads the single YAML stream of `calicoctl datastore migrate export`"
    )]
    GoExportFormat,
    /// The stream does not decode, or a resource in it is invalid or repeated. Nothing was
    /// written.
    #[error("{}", problem_lines(.problems))]
    Invalid {
        /// Every problem found.
        problems: Vec<StreamProblem>,
    },
    /// The target already holds resources (the first one found is named). Nothing was
    /// written.
    #[error(
        "Datastore already has Calico resources: Found existing Calico {} resource ({}). Import into an empty datastore",
        key.kind,
        short_id(key)
    )]
    NotEmpty {
        /// A resource found in the target.
        key: ResourceKey,
    },
    /// Checking the target for resources failed. Nothing was written.
    #[error("Failed to retrieve {kind} resources during datastore check: {source}")]
    CheckTarget {
        /// The kind being listed.
        kind: Kind,
        /// The datastore's error.
        #[source]
        source: Error,
    },
    /// A write failed; what had been written was deleted again (see `rollback_failures`).
    #[error("{}", write_message(.key, .source, *.rolled_back, .rollback_failures))]
    Write {
        /// The resource whose write failed.
        key: ResourceKey,
        /// The datastore's error.
        #[source]
        source: Box<Error>,
        /// How many written resources were deleted (or restored) again.
        rolled_back: usize,
        /// Resources that could not be rolled back, with why.
        rollback_failures: Vec<(ResourceKey, Error)>,
    },
}

/// `name` or `namespace/name`.
fn short_id(key: &ResourceKey) -> String {
    if key.namespace.is_empty() {
        key.name.clone()
    } else {
        format!("{}/{}", key.namespace, key.name)
    }
}

fn write_message(
    key: &ResourceKey,
    source: &Error,
    rolled_back: usize,
    failures: &[(ResourceKey, Error)],
) -> String {
    let mut m = format!(
        "Failed to import {key}: {source}; removed the {rolled_back} resource(s) already written"
    );
    for (k, e) in failures {
        m.push_str(&format!("\ncould not remove {k}: {e}"));
    }
    m
}

/// Result with [`MigrateError`].
pub type MigrateResult<T> = std::result::Result<T, MigrateError>;

/// Options of [`export`].
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Refuse to export unless the datastore is locked (calicoctl always requires it).
    pub require_locked: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            require_locked: true,
        }
    }
}

/// Options of [`import`].
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Concurrent writes of one kind (at least 1).
    pub concurrency: usize,
    /// `calicoVersion` of the ClusterInformation created when the stream has none.
    pub calico_version: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            concurrency: DEFAULT_IMPORT_CONCURRENCY,
            calico_version: String::new(),
        }
    }
}

/// What [`import`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Resources written, other than ClusterInformation and the IPAM kinds.
    pub resources: usize,
    /// IPAM objects written (IPAMConfiguration, IPAMBlock, BlockAffinity, IPAMHandle).
    pub ipam: usize,
}

fn cluster_information_key() -> ResourceKey {
    crate::cluster::key()
}

/// True if `ClusterInformation/default` says `datastoreReady: false`. A datastore without
/// ClusterInformation is not locked.
pub async fn is_locked(ds: &dyn Datastore) -> crate::Result<bool> {
    Ok(crate::cluster::get(ds)
        .await?
        .is_some_and(|ci| ci.spec.datastore_ready == Some(false)))
}

/// A new ClusterInformation as Calico's `EnsureInitialized` writes it (see
/// [`crate::cluster::initial`]).
fn new_cluster_information(calico_version: &str) -> Resource {
    crate::cluster::initial(calico_version, "").into()
}

/// Sets `datastoreReady` of `ClusterInformation/default`, re-reading on a conflict.
async fn set_ready(ds: &dyn Datastore, ready: bool) -> MigrateResult<()> {
    let fail = |step, source| MigrateError::Lock {
        locking: !ready,
        step,
        source,
    };
    let key = cluster_information_key();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut ci = match ds.get(&key).await {
            Ok(Resource::ClusterInformation(ci)) => ci,
            Ok(other) => {
                return Err(fail(
                    LockStep::Read,
                    Error::Corrupt {
                        location: key.to_string(),
                        reason: format!("the store returned a {}", other.kind()),
                    },
                ));
            }
            Err(e) => return Err(fail(LockStep::Read, e)),
        };
        ci.spec.datastore_ready = Some(ready);
        match ds.update(Resource::ClusterInformation(ci)).await {
            Ok(_) => return Ok(()),
            Err(Error::Conflict { .. }) if attempt < LOCK_ATTEMPTS => {}
            Err(e) => return Err(fail(LockStep::Update, e)),
        }
    }
}

/// Locks the datastore for migration: creates `ClusterInformation/default` if there is
/// none (with a new cluster GUID and `calico_version`), then sets `datastoreReady: false`.
/// Locking a locked datastore succeeds.
pub async fn lock(ds: &dyn Datastore, calico_version: &str) -> MigrateResult<()> {
    match ds.get(&cluster_information_key()).await {
        Ok(_) => {}
        Err(Error::NotFound { .. }) => {
            match ds.create(new_cluster_information(calico_version)).await {
                Ok(_) | Err(Error::AlreadyExists { .. }) => {}
                Err(source) => {
                    return Err(MigrateError::Lock {
                        locking: true,
                        step: LockStep::Initialize,
                        source,
                    });
                }
            }
        }
        Err(source) => {
            return Err(MigrateError::Lock {
                locking: true,
                step: LockStep::Initialize,
                source,
            });
        }
    }
    set_ready(ds, false).await
}

/// Unlocks the datastore after migration: sets `datastoreReady: true` on
/// `ClusterInformation/default` (which must exist, as in calicoctl).
pub async fn unlock(ds: &dyn Datastore) -> MigrateResult<()> {
    set_ready(ds, true).await
}

/// Removes the metadata a datastore assigns itself on create, which an import cannot carry
/// over: `uid`, `resourceVersion`, `creationTimestamp`, `generation`, `deletionTimestamp`,
/// `deletionGracePeriodSeconds` (Calico's export strips the same, except `generation`, which
/// our stores set to 1 on create).
pub fn strip_metadata(resource: &mut Resource) {
    let m = resource.metadata_mut();
    m.uid.clear();
    m.resource_version.clear();
    m.creation_timestamp = None;
    m.generation = 0;
    m.deletion_timestamp = None;
    m.deletion_grace_period_seconds = None;
}

/// The position of a kind in [`EXPORT_ORDER`].
fn order_of(kind: Kind) -> usize {
    EXPORT_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(EXPORT_ORDER.len())
}

/// True for the profile every datastore serves by itself.
fn is_built_in(resource: &Resource) -> bool {
    resource.kind() == Kind::Profile && resource.name() == DEFAULT_ALLOW_PROFILE
}

/// Reads every resource of the datastore in export order, metadata stripped (see the
/// module documentation). With [`ExportOptions::require_locked`] the datastore must be
/// locked.
pub async fn export(
    ds: &dyn Datastore,
    options: &ExportOptions,
    progress: &dyn Progress,
) -> MigrateResult<Vec<Resource>> {
    if options.require_locked && !is_locked(ds).await.map_err(MigrateError::CheckLocked)? {
        return Err(MigrateError::NotLocked);
    }
    progress.start(Stage::Read, EXPORT_ORDER.len() as u64);
    let mut out = Vec::new();
    for &kind in EXPORT_ORDER {
        let listed = ds.list(kind, None).await;
        let list = match listed {
            Ok(list) => list,
            Err(source) => {
                progress.finish(Stage::Read);
                return Err(MigrateError::Read { kind, source });
            }
        };
        if let Some(first) = list.undecodable.first() {
            progress.finish(Stage::Read);
            return Err(MigrateError::Undecodable {
                kind,
                count: list.undecodable.len(),
                key: first.key.clone(),
                reason: first.reason.clone(),
            });
        }
        let mut items: Vec<Resource> = list
            .items
            .into_iter()
            .filter(|r| !is_built_in(r))
            .map(|mut r| {
                strip_metadata(&mut r);
                r
            })
            .collect();
        items.sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
        out.extend(items);
        progress.advance(Stage::Read, 1);
    }
    progress.finish(Stage::Read);
    Ok(out)
}

/// Encodes resources as one YAML stream (documents separated by `---`, keys sorted).
pub fn to_stream(resources: &[Resource]) -> String {
    calico_model::encode_yaml(resources)
}

/// Decodes an export stream (YAML or JSON), reporting every problem. Go calicoctl's
/// export format is recognised and refused with [`MigrateError::GoExportFormat`].
pub fn decode_stream(text: &str) -> MigrateResult<Vec<Resource>> {
    if text.lines().any(|l| l.trim_end() == "===") {
        return Err(MigrateError::GoExportFormat);
    }
    let mut resources = Vec::new();
    let mut problems = Vec::new();
    for d in decode_each(text) {
        match d.result {
            Ok(r) => resources.push(r),
            Err(e) => problems.push(StreamProblem {
                document: d.document,
                resource: format!(
                    "{}/{}",
                    d.kind.as_deref().unwrap_or("<unknown kind>"),
                    d.name.as_deref().unwrap_or("<no name>")
                ),
                path: e.location.path.clone(),
                reason: e.kind.to_string(),
                line: e.location.line,
            }),
        }
    }
    if problems.is_empty() {
        Ok(resources)
    } else {
        Err(MigrateError::Invalid { problems })
    }
}

/// The writes of an import, checked: ClusterInformation apart, the rest grouped by kind in
/// [`EXPORT_ORDER`].
#[derive(Debug, Default)]
struct Plan {
    cluster_information: Option<Resource>,
    phases: Vec<Vec<Resource>>,
}

/// Checks every resource of an import before anything is written: names, scope, Calico's
/// defaults and validation, no resource twice. Server-assigned metadata is stripped; the
/// built-in default-allow profile is dropped.
fn plan(resources: Vec<Resource>) -> MigrateResult<Plan> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<ResourceKey, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<usize, Vec<Resource>> = BTreeMap::new();
    let mut plan = Plan::default();
    for (i, mut r) in resources.into_iter().enumerate() {
        let document = i + 1;
        let key = ResourceKey::of(&r);
        let mut problem = |path: &str, reason: String| {
            problems.push(StreamProblem {
                document,
                resource: key.to_string(),
                path: path.to_owned(),
                reason,
                line: None,
            });
        };
        if is_built_in(&r) {
            continue;
        }
        strip_metadata(&mut r);
        let kind = r.kind();
        if r.name().is_empty() {
            problem("metadata.name", "name is required".into());
            continue;
        }
        if kind.namespaced() && r.namespace().is_empty() {
            problem(
                "metadata.namespace",
                format!("a {kind} must have a namespace"),
            );
        }
        if !kind.namespaced() && !r.namespace().is_empty() {
            problem(
                "metadata.namespace",
                format!("a {kind} is not namespaced; remove the namespace"),
            );
        }
        let mut defaulted = r.clone();
        defaulted.apply_defaults();
        if let Err(errors) = defaulted.validate() {
            for p in errors.problems {
                problem(&p.path, p.reason);
            }
        }
        if let Some(first) = seen.insert(key.clone(), document) {
            problem("", format!("also in document {first}"));
            continue;
        }
        if kind == Kind::ClusterInformation {
            plan.cluster_information = Some(r);
        } else {
            by_kind.entry(order_of(kind)).or_default().push(r);
        }
    }
    if !problems.is_empty() {
        return Err(MigrateError::Invalid { problems });
    }
    plan.phases = by_kind.into_values().collect();
    Ok(plan)
}

/// Fails with [`MigrateError::NotEmpty`] if the target holds any resource other than
/// ClusterInformation and the built-in profile.
async fn ensure_empty(ds: &dyn Datastore, progress: &dyn Progress) -> MigrateResult<()> {
    let kinds: Vec<Kind> = EXPORT_ORDER
        .iter()
        .copied()
        .filter(|k| *k != Kind::ClusterInformation)
        .collect();
    progress.start(Stage::CheckTarget, kinds.len() as u64);
    let result = async {
        for kind in kinds {
            let list = ds
                .list(kind, None)
                .await
                .map_err(|source| MigrateError::CheckTarget { kind, source })?;
            if let Some(r) = list.items.iter().find(|r| !is_built_in(r)) {
                return Err(MigrateError::NotEmpty {
                    key: ResourceKey::of(r),
                });
            }
            if let Some(u) = list.undecodable.first() {
                return Err(MigrateError::NotEmpty { key: u.key.clone() });
            }
            progress.advance(Stage::CheckTarget, 1);
        }
        Ok(())
    }
    .await;
    progress.finish(Stage::CheckTarget);
    result
}

/// What an import changed, for a rollback.
#[derive(Default)]
struct Written {
    /// ClusterInformation as it was before the import (`None`: there was none).
    previous_cluster_information: Option<Option<Resource>>,
    /// Resources created, in order.
    created: Vec<ResourceKey>,
}

/// Undoes an import's writes, newest first; returns how many were undone and what failed.
async fn roll_back(
    ds: &dyn Datastore,
    written: Written,
    progress: &dyn Progress,
) -> (usize, Vec<(ResourceKey, Error)>) {
    let total = written.created.len() + usize::from(written.previous_cluster_information.is_some());
    progress.start(Stage::Rollback, total as u64);
    let mut undone = 0;
    let mut failures = Vec::new();
    for key in written.created.iter().rev() {
        match ds.delete(key, None).await {
            Ok(_) | Err(Error::NotFound { .. }) => undone += 1,
            Err(e) => failures.push((key.clone(), e)),
        }
        progress.advance(Stage::Rollback, 1);
    }
    let key = cluster_information_key();
    match written.previous_cluster_information {
        None => {}
        Some(None) => match ds.delete(&key, None).await {
            Ok(_) | Err(Error::NotFound { .. }) => undone += 1,
            Err(e) => failures.push((key, e)),
        },
        Some(Some(mut previous)) => {
            // Unconditional: put back exactly what was there.
            previous.metadata_mut().resource_version.clear();
            match ds.update(previous).await {
                Ok(_) => undone += 1,
                Err(e) => failures.push((key, e)),
            }
        }
    }
    progress.finish(Stage::Rollback);
    (undone, failures)
}

/// Writes ClusterInformation (locked): the stream's, or a new one; over the target's own
/// if it has one.
async fn write_cluster_information(
    ds: &dyn Datastore,
    from_stream: Option<Resource>,
    calico_version: &str,
    written: &mut Written,
) -> Result<(), (ResourceKey, Error)> {
    let key = cluster_information_key();
    let existing = match ds.get(&key).await {
        Ok(r) => Some(r),
        Err(Error::NotFound { .. }) => None,
        Err(e) => return Err((key, e)),
    };
    let mut ci = from_stream.unwrap_or_else(|| new_cluster_information(calico_version));
    if let Resource::ClusterInformation(c) = &mut ci {
        c.spec.datastore_ready = Some(false);
    }
    let result = match &existing {
        Some(current) => {
            ci.metadata_mut().resource_version = current.metadata().resource_version.clone();
            ds.update(ci).await
        }
        None => ds.create(ci).await,
    };
    match result {
        Ok(_) => {
            written.previous_cluster_information = Some(existing);
            Ok(())
        }
        Err(e) => Err((key, e)),
    }
}

/// Imports resources (usually from [`decode_stream`]) into an empty datastore; see the
/// module documentation. Nothing is written if a resource is invalid or the target is not
/// empty; if a write fails, what was written is removed again.
pub async fn import(
    ds: &dyn Datastore,
    resources: Vec<Resource>,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> MigrateResult<ImportSummary> {
    let plan = plan(resources)?;
    ensure_empty(ds, progress).await?;

    let mut written = Written::default();
    let total: usize = plan.phases.iter().map(Vec::len).sum();
    let mut summary = ImportSummary::default();
    let mut failure: Option<(ResourceKey, Error)> = None;
    if let Err(f) = write_cluster_information(
        ds,
        plan.cluster_information,
        &options.calico_version,
        &mut written,
    )
    .await
    {
        failure = Some(f);
    }

    if failure.is_none() {
        progress.start(Stage::Write, total as u64);
        let stop = AtomicBool::new(false);
        for phase in plan.phases {
            let stop = &stop;
            let mut writes = futures::stream::iter(phase.into_iter().map(|r| async move {
                let key = ResourceKey::of(&r);
                if stop.load(Ordering::Relaxed) {
                    return (key, None);
                }
                let result = ds.create(r).await;
                if result.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                (key, Some(result))
            }))
            .buffer_unordered(options.concurrency.max(1));
            while let Some((key, result)) = writes.next().await {
                match result {
                    Some(Ok(_)) => {
                        if is_ipam_kind(key.kind) {
                            summary.ipam += 1;
                        } else {
                            summary.resources += 1;
                        }
                        written.created.push(key);
                        progress.advance(Stage::Write, 1);
                    }
                    Some(Err(e)) if failure.is_none() => failure = Some((key, e)),
                    Some(Err(_)) => {}
                    None => {}
                }
            }
            if failure.is_some() {
                break;
            }
        }
        progress.finish(Stage::Write);
    }

    match failure {
        None => Ok(summary),
        Some((key, source)) => {
            let (rolled_back, rollback_failures) = roll_back(ds, written, progress).await;
            Err(MigrateError::Write {
                key,
                source: Box::new(source),
                rolled_back,
                rollback_failures,
            })
        }
    }
}
