//! Calico IPAM over any [`Datastore`]: pools cut into blocks, block affinity to hosts,
//! handles, reservations, release with sequence-number guards, and a leak check.
//!
//!
//! The design is Calico's (`libcalico-go/lib/ipam`), over the [`Datastore`] trait so that it
//! runs unchanged on the embedded store, memory and etcd (where the IPAM kinds use Calico's
//! own `/calico/ipam/v2/...` keys and JSON):
//! - every mutation is a compare-and-swap write of one object, re-read and retried on a
//!   conflict (at most 100 times per step); a block is edited in memory and written back;
//! - a host claims a block in two phases: a `pending` BlockAffinity, then create-if-absent
//!   of the block (the linearisation point: one host's create wins), then `confirmed`;
//! - a handle (`IPAMHandle`) counts its addresses per block; it is incremented before the
//!   block write and decremented if that write fails, so it may over-count for a moment but
//!   never under-counts;
//! - releases can be guarded by the handle and the allocation's sequence number, so a
//!   release based on an old observation never frees an address that was reallocated.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use calico_datastore::{Datastore, memory::MemoryDatastore};
//! use calico_datastore::ipam::{AutoAssignArgs, Ipam};
//! use calico_model::{IPPool, IPPoolSpec, ObjectMeta};
//!
//! let store: Arc<dyn Datastore> = Arc::new(MemoryDatastore::new());
//! let pool = IPPool::new(ObjectMeta::named("pool-a"), IPPoolSpec { cidr: "10.244.0.0/16".into(), ..Default::default() });
//! store.create(pool.into()).await?;
//!
//! let ipam = Ipam::new(store);
//! let got = ipam.auto_assign(&AutoAssignArgs::new("k8s-pod-network.abc", "node-1", 1, 0)).await?;
//! assert_eq!(got.ipv4.len(), 1);
//! assert_eq!(got.ipv4[0].prefix_len(), 26); // the address with its block's mask, as Calico reports it
//! assert_eq!(ipam.release_by_handle("k8s-pod-network.abc").await?.len(), 1);
//! # Ok::<(), calico_datastore::ipam::IpamError>(())
//! # }).unwrap();
//! ```

mod block;
mod check;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use calico_model::selector::Selector;
use calico_model::{IPAMConfigurationSpec, IPPoolAllowedUse};
use ipnet::IpNet;

use crate::{Datastore, Error};
pub use block::{Block, BlockProblem, ReleaseSkip, WINDOWS_RESERVED_HANDLE, block_of, net_size};
pub use check::{
    AllocationInfo, BlockUsage, CheckReport, LeakedAllocation, LeakedHandle, PoolUsage,
};
use store::{StoredAffinity, StoredBlock};

/// What went wrong in an IPAM operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpamError {
    /// The datastore failed (after retries where retrying makes sense).
    #[error(transparent)]
    Datastore(#[from] crate::Error),
    /// No enabled pool of this family selects the host (and namespace).
    #[error("no configured Calico pools for node {host} (IPv{family})")]
    NoQualifiedPool {
        /// The host.
        host: String,
        /// 4 or 6.
        family: u8,
    },
    /// A requested pool does not exist or is disabled.
    #[error("the given pool ({0}) does not exist, or is not enabled")]
    PoolNotFound(String),
    /// A requested address is in no configured pool.
    #[error("the provided IP address {0} is not in a configured pool")]
    NotInPool(IpAddr),
    /// A requested address is already allocated (or reserved).
    #[error("address {ip} is already allocated{}", handle.as_ref().map(|h| format!(" to handle {h}")).unwrap_or_default())]
    AlreadyAllocated {
        /// The address.
        ip: IpAddr,
        /// Its current handle, if any.
        handle: Option<String>,
    },
    /// Fewer addresses than requested could be assigned; none are kept.
    #[error(
        "failed to request {requested} IPv{family} addresses: assigned {assigned} out of {requested} requested; {reason}"
    )]
    Exhausted {
        /// 4 or 6.
        family: u8,
        /// How many were asked for.
        requested: usize,
        /// How many could be found.
        assigned: usize,
        /// Why no more (pool full, block limit, strict affinity).
        reason: String,
    },
    /// Compare-and-swap conflicts exhausted the retry budget.
    #[error("max retries hit - excessive concurrent IPAM requests ({0})")]
    MaxRetries(String),
    /// A request argument is unusable (bad handle, bad CIDR, bad config combination).
    #[error("invalid IPAM request: {0}")]
    Invalid(String),
}

/// Result with [`IpamError`].
pub type IpamResult<T> = std::result::Result<T, IpamError>;

/// Arguments of [`Ipam::auto_assign`] (Calico's `AutoAssignArgs`).
#[derive(Clone, Debug)]
pub struct AutoAssignArgs {
    /// IPv4 addresses wanted.
    pub num_ipv4: usize,
    /// IPv6 addresses wanted.
    pub num_ipv6: usize,
    /// The handle that will own the addresses (e.g. `k8s-pod-network.<container id>`).
    pub handle_id: String,
    /// Attributes stored with each allocation (`node`, `pod`, `namespace`, `timestamp`, …).
    pub attrs: BTreeMap<String, String>,
    /// The host whose affine blocks are used (and claimed).
    pub hostname: String,
    /// Requested IPv4 pools (names or CIDRs); empty: every enabled pool selecting the host.
    pub ipv4_pools: Vec<String>,
    /// Requested IPv6 pools (names or CIDRs).
    pub ipv6_pools: Vec<String>,
    /// Per-request cap on blocks affine to the host (0: the IPAMConfiguration's, default 20).
    pub max_blocks_per_host: u32,
    /// What the addresses are for; pools whose `allowedUses` lack it are skipped.
    pub intended_use: IPPoolAllowedUse,
    /// Labels of the workload's namespace, for pools with a `namespaceSelector`.
    pub namespace_labels: Option<BTreeMap<String, String>>,
}

impl AutoAssignArgs {
    /// A request for `num_ipv4` + `num_ipv6` workload addresses for `handle_id` on `hostname`,
    /// from any pool that selects the host.
    pub fn new(handle_id: &str, hostname: &str, num_ipv4: usize, num_ipv6: usize) -> Self {
        AutoAssignArgs {
            num_ipv4,
            num_ipv6,
            handle_id: handle_id.to_owned(),
            attrs: BTreeMap::new(),
            hostname: hostname.to_owned(),
            ipv4_pools: Vec::new(),
            ipv6_pools: Vec::new(),
            max_blocks_per_host: 0,
            intended_use: IPPoolAllowedUse::Workload,
            namespace_labels: None,
        }
    }
}

/// What [`Ipam::auto_assign`] assigned: each address with its block's prefix length
/// (`10.244.1.5/26`), as Calico's IPAM plugin reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignments {
    /// IPv4 addresses.
    pub ipv4: Vec<IpNet>,
    /// IPv6 addresses.
    pub ipv6: Vec<IpNet>,
}

/// Arguments of [`Ipam::assign_ip`]: one specific address.
#[derive(Clone, Debug)]
pub struct AssignIpArgs {
    /// The address.
    pub ip: IpAddr,
    /// Owner handle.
    pub handle_id: String,
    /// Allocation attributes.
    pub attrs: BTreeMap<String, String>,
    /// The host (a missing block is claimed for it).
    pub hostname: String,
    /// What the address is for.
    pub intended_use: IPPoolAllowedUse,
}

/// One address to release, optionally guarded by the handle and allocation sequence number
/// the caller observed (a mismatch means it was reallocated meanwhile: not released).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseOptions {
    /// The address.
    pub address: IpAddr,
    /// Only release if it still belongs to this handle.
    pub handle_id: Option<String>,
    /// Only release if it still has this allocation sequence number.
    pub sequence_number: Option<u64>,
}

/// Compare-and-swap retries per step, as Calico's `datastoreRetries`.
pub(crate) const MAX_RETRIES: usize = 100;

/// Blocks per host when neither the request nor the configuration sets a limit.
pub const DEFAULT_MAX_BLOCKS_PER_HOST: usize = 20;

/// An empty block affine to another host may be reclaimed after this long (Calico's
/// `EmptyBlockMinReclaimAge`).
pub const EMPTY_BLOCK_MIN_RECLAIM_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Calico IPAM on a datastore. Cheap to clone (clones share the datastore and the
/// counters).
#[derive(Clone)]
pub struct Ipam {
    ds: Arc<dyn Datastore>,
    stats: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    cas_retries: std::sync::atomic::AtomicU64,
    blocks_claimed: std::sync::atomic::AtomicU64,
    claim_conflicts: std::sync::atomic::AtomicU64,
}

/// What an [`Ipam`] (and its clones) did so far: how contended the store was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpamStats {
    /// Writes that lost a compare-and-swap race and were retried after a re-read.
    pub cas_retries: u64,
    /// Blocks this IPAM claimed for a host.
    pub blocks_claimed: u64,
    /// Block claims lost to another host (another block was then chosen).
    pub claim_conflicts: u64,
}

/// What one allocation request needs to know about the cluster, read once.
struct Context {
    config: IPAMConfigurationSpec,
    reserved: Vec<IpNet>,
    pools: Vec<store::Pool>,
}

impl Context {
    fn is_reserved(&self, ip: IpAddr) -> bool {
        self.reserved.iter().any(|n| n.contains(&ip))
    }

    /// True if every address of `block` is reserved.
    fn fully_reserved(&self, block: &IpNet) -> bool {
        self.reserved
            .iter()
            .any(|n| n.prefix_len() <= block.prefix_len() && n.contains(&block.network()))
    }
}

fn family_of(net: &IpNet) -> u8 {
    match net {
        IpNet::V4(_) => 4,
        IpNet::V6(_) => 6,
    }
}

/// FNV-1a of the host name: where a host starts walking a pool's blocks, so that hosts
/// spread out instead of racing for the same block.
fn host_seed(host: &str) -> u128 {
    let mut h: u32 = 0x811c_9dc5;
    for b in host.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    u128::from(h)
}

/// The `i`-th block of prefix `block_prefix` in `pool`.
fn nth_block(pool: &IpNet, block_prefix: u8, i: u128) -> Option<IpNet> {
    let shift = u32::from(pool.max_prefix_len() - block_prefix);
    let offset = i.checked_shl(shift)?;
    IpNet::new(block::add_offset(pool.network(), offset), block_prefix).ok()
}

fn selector_matches(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    let s = selector.trim();
    if s.is_empty() {
        return true;
    }
    match Selector::parse(s) {
        Ok(sel) => sel.matches(labels),
        Err(e) => {
            tracing::warn!(selector = s, error = %e, "IP pool selector does not parse; pool not used");
            false
        }
    }
}

impl Ipam {
    /// IPAM on `ds`.
    pub fn new(ds: Arc<dyn Datastore>) -> Self {
        Ipam {
            ds,
            stats: Arc::default(),
        }
    }

    /// Counters of contention seen so far.
    pub fn stats(&self) -> IpamStats {
        use std::sync::atomic::Ordering::Relaxed;
        IpamStats {
            cas_retries: self.stats.cas_retries.load(Relaxed),
            blocks_claimed: self.stats.blocks_claimed.load(Relaxed),
            claim_conflicts: self.stats.claim_conflicts.load(Relaxed),
        }
    }

    /// True (and counted) for a lost compare-and-swap race, which the caller retries.
    pub(crate) fn raced(&self, e: &Error) -> bool {
        let race = store::is_race(e);
        if race {
            self.stats
                .cas_retries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        race
    }

    /// The datastore.
    pub fn datastore(&self) -> &Arc<dyn Datastore> {
        &self.ds
    }

    async fn context(&self) -> IpamResult<Context> {
        let (config, reserved, pools) =
            tokio::join!(self.config(), self.reservations(), self.pools());
        Ok(Context {
            config: config?,
            reserved: reserved?,
            pools: pools?,
        })
    }

    /// The pools a request may use (Calico's `determinePools`).
    fn select_pools(
        ctx: &Context,
        family: u8,
        requested: &[String],
        node_labels: &BTreeMap<String, String>,
        args: &AutoAssignArgs,
    ) -> IpamResult<Vec<store::Pool>> {
        let enabled: Vec<&store::Pool> = ctx
            .pools
            .iter()
            .filter(|p| !p.spec.disabled && family_of(&p.cidr) == family)
            .collect();
        let chosen: Vec<store::Pool> = if requested.is_empty() {
            enabled
                .into_iter()
                .filter(|p| p.spec.assignment_mode != Some(calico_model::AssignmentMode::Manual))
                .filter(|p| selector_matches(&p.spec.node_selector, node_labels))
                .filter(|p| match &args.namespace_labels {
                    Some(ns) => selector_matches(&p.spec.namespace_selector, ns),
                    None => true,
                })
                .cloned()
                .collect()
        } else {
            // Explicitly requested pools are used as they are, ignoring selectors (as Calico).
            let mut out = Vec::new();
            for r in requested {
                let by_cidr = r.parse::<IpNet>().ok().map(|n| n.trunc());
                let found = enabled
                    .iter()
                    .find(|p| p.name == *r || Some(p.cidr) == by_cidr)
                    .ok_or_else(|| IpamError::PoolNotFound(r.clone()))?;
                out.push((*found).clone());
            }
            out
        };
        let chosen: Vec<store::Pool> = chosen
            .into_iter()
            .filter(|p| p.spec.allows(args.intended_use))
            .collect();
        if chosen.is_empty() {
            return Err(IpamError::NoQualifiedPool {
                host: args.hostname.clone(),
                family,
            });
        }
        Ok(chosen)
    }

    /// Assigns `num_ipv4` + `num_ipv6` addresses to a handle, from the host's affine blocks
    /// first, claiming new blocks, then (without strict affinity) borrowing from other
    /// hosts' blocks. All or nothing: on an error nothing stays allocated.
    pub async fn auto_assign(&self, args: &AutoAssignArgs) -> IpamResult<Assignments> {
        if args.handle_id.is_empty() || args.hostname.is_empty() {
            return Err(IpamError::Invalid(
                "a handle ID and a host name are required".into(),
            ));
        }
        let ctx = self.context().await?;
        // The Node's labels matter only to pools with a real node selector.
        let needs_node = ctx.pools.iter().any(|p| {
            let s = p.spec.node_selector.trim();
            !s.is_empty() && s != "all()"
        });
        let node_labels = if needs_node {
            self.node_labels(&args.hostname).await?
        } else {
            BTreeMap::new()
        };
        let mut out = Assignments::default();
        for (family, n, requested) in [
            (4u8, args.num_ipv4, &args.ipv4_pools),
            (6u8, args.num_ipv6, &args.ipv6_pools),
        ] {
            if n == 0 {
                continue;
            }
            let result = match Self::select_pools(&ctx, family, requested, &node_labels, args) {
                Ok(pools) => self.assign_family(&ctx, &pools, args, family, n).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(got) if family == 4 => out.ipv4 = got,
                Ok(got) => out.ipv6 = got,
                Err(e) => {
                    self.release_assigned(&args.handle_id, out.ipv4.iter().chain(&out.ipv6))
                        .await;
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Best-effort release of addresses this request got before it failed.
    async fn release_assigned<'a>(&self, handle: &str, ips: impl Iterator<Item = &'a IpNet>) {
        let opts: Vec<ReleaseOptions> = ips
            .map(|n| ReleaseOptions {
                address: n.addr(),
                handle_id: Some(handle.to_owned()),
                sequence_number: None,
            })
            .collect();
        if !opts.is_empty()
            && let Err(e) = self.release_ips(&opts).await
        {
            tracing::warn!(handle, error = %e, "could not release the addresses of a failed request");
        }
    }

    async fn assign_family(
        &self,
        ctx: &Context,
        pools: &[store::Pool],
        args: &AutoAssignArgs,
        family: u8,
        n: usize,
    ) -> IpamResult<Vec<IpNet>> {
        let host = args.hostname.as_str();
        let in_pools = |cidr: &IpNet| {
            pools
                .iter()
                .find(|p| p.cidr.contains(cidr) && p.block_prefix == cidr.prefix_len())
        };
        let reserved = |ip: IpAddr| ctx.is_reserved(ip);
        let cap = match (
            args.max_blocks_per_host as usize,
            ctx.config.max_blocks_per_host.max(0) as usize,
        ) {
            (0, 0) => DEFAULT_MAX_BLOCKS_PER_HOST,
            (0, g) => g,
            (r, 0) => r,
            (r, g) => r.min(g),
        };
        let mut got: Vec<IpNet> = Vec::new();
        let mut reason = String::from("no free addresses in the host's blocks");
        let mut tried_full: BTreeSet<IpNet> = BTreeSet::new();
        for _round in 0..MAX_RETRIES {
            // 1. The host's own blocks.
            let affinities = self.list_affinities(Some(host)).await?;
            let mine: Vec<&StoredAffinity> = affinities
                .iter()
                .filter(|a| family_of(&a.cidr) == family)
                .collect();
            let mut usable: Vec<&StoredAffinity> = mine
                .iter()
                .copied()
                .filter(|a| {
                    in_pools(&a.cidr).is_some()
                        && !tried_full.contains(&a.cidr)
                        && !ctx.fully_reserved(&a.cidr)
                })
                .collect();
            // Newest claim first: blocks fill in the order they were claimed, so the most
            // recently claimed one is the likeliest to have room (one read, not one per
            // full block).
            usable.sort_by_key(|a| {
                std::cmp::Reverse(a.meta.resource_version.parse::<u64>().unwrap_or(0))
            });
            for aff in usable {
                if got.len() == n {
                    break;
                }
                let read = self.get_block(&aff.cidr).await?;
                let Some(first) = self.ensure_affine_block(host, aff, read).await? else {
                    continue;
                };
                if first.block.num_free_unreserved(&reserved) == 0 {
                    tried_full.insert(aff.cidr);
                    continue;
                }
                let ips = self
                    .assign_from_block(
                        &aff.cidr,
                        n - got.len(),
                        args,
                        &reserved,
                        Some(host),
                        Some(first),
                    )
                    .await?;
                if ips.is_empty() {
                    tried_full.insert(aff.cidr);
                }
                got.extend(ips);
            }
            if got.len() == n {
                break;
            }
            // 2. Claim a new block.
            if !ctx.config.auto_allocate_blocks_or_default() {
                reason =
                    "automatic block allocation is disabled (autoAllocateBlocks: false)".into();
                break;
            }
            if mine.len() >= cap {
                reason = format!("cannot allocate new block due to per host block limit ({cap})");
                break;
            }
            match self.find_and_claim(ctx, pools, host, family).await? {
                Some(cidr) => {
                    let ips = self
                        .assign_from_block(&cidr, n - got.len(), args, &reserved, Some(host), None)
                        .await?;
                    if ips.is_empty() {
                        tried_full.insert(cidr);
                    }
                    got.extend(ips);
                }
                None => {
                    reason = "no free blocks in the IP pools".into();
                    break;
                }
            }
            if got.len() == n {
                break;
            }
        }
        // 3. Borrow from other hosts' blocks.
        if got.len() < n && !ctx.config.strict_affinity {
            let mut candidates: Vec<StoredBlock> = self
                .list_blocks()
                .await?
                .into_iter()
                .filter(|b| family_of(&b.block.cidr) == family && in_pools(&b.block.cidr).is_some())
                .filter(|b| b.block.host_affinity() != Some(host))
                .filter(|b| b.block.num_free_unreserved(&reserved) > 0)
                .collect();
            if !candidates.is_empty() {
                let start = (host_seed(host) % candidates.len() as u128) as usize;
                candidates.rotate_left(start);
            }
            for c in candidates {
                if got.len() == n {
                    break;
                }
                let cidr = c.block.cidr;
                let ips = self
                    .assign_from_block(&cidr, n - got.len(), args, &reserved, None, Some(c))
                    .await?;
                got.extend(ips);
            }
        } else if got.len() < n {
            reason.push_str(" (strictAffinity: no borrowing from other hosts' blocks)");
        }
        if got.len() < n {
            self.release_assigned(&args.handle_id, got.iter()).await;
            return Err(IpamError::Exhausted {
                family,
                requested: n,
                assigned: got.len(),
                reason,
            });
        }
        Ok(got)
    }

    /// Allocates up to `n` addresses in one block with compare-and-swap (Calico's
    /// `assignFromExistingBlock`). With `host`, only while the block is affine to it.
    async fn assign_from_block(
        &self,
        cidr: &IpNet,
        n: usize,
        args: &AutoAssignArgs,
        reserved: &(dyn Fn(IpAddr) -> bool + Sync),
        host: Option<&str>,
        mut first: Option<StoredBlock>,
    ) -> IpamResult<Vec<IpNet>> {
        for _ in 0..MAX_RETRIES {
            // The caller's fresh read saves one round trip on the first attempt.
            let current = match first.take() {
                Some(b) => Some(b),
                None => self.get_block(cidr).await?,
            };
            let Some(mut sb) = current else {
                return Ok(Vec::new());
            };
            if host.is_some() && sb.block.host_affinity() != host {
                return Ok(Vec::new());
            }
            let ips = sb.block.assign(n, &args.handle_id, &args.attrs, reserved);
            if ips.is_empty() {
                return Ok(Vec::new());
            }
            let count = ips.len() as i64;
            self.adjust_handle(&args.handle_id, cidr, count).await?;
            match self.write_block(&sb).await {
                Ok(_) => {
                    let prefix = cidr.prefix_len();
                    return Ok(ips
                        .into_iter()
                        .filter_map(|ip| IpNet::new(ip, prefix).ok())
                        .collect());
                }
                Err(e) => {
                    self.adjust_handle(&args.handle_id, cidr, -count).await?;
                    if !self.raced(&e) {
                        return Err(e.into());
                    }
                }
            }
        }
        Err(IpamError::MaxRetries(format!(
            "assigning from block {cidr}"
        )))
    }

    /// Makes sure the block behind one of the host's affinities exists and is the host's
    /// (Calico's `getBlockFromAffinity`): re-creates a missing block (a claim that crashed
    /// between its two writes), deletes an affinity whose block belongs to another host, and
    /// confirms a pending affinity whose block is ours. Returns the block if it is usable.
    async fn ensure_affine_block(
        &self,
        host: &str,
        aff: &StoredAffinity,
        current: Option<StoredBlock>,
    ) -> IpamResult<Option<StoredBlock>> {
        if aff.spec.state == calico_model::BlockAffinityState::PendingDeletion {
            return Ok(None);
        }
        match current {
            None => {
                if self.claim_block(host, &aff.cidr).await? {
                    self.get_block(&aff.cidr).await
                } else {
                    Ok(None)
                }
            }
            Some(sb) if sb.block.host_affinity() != Some(host) => {
                // Stale: the block belongs to someone else (or to nobody).
                let _ = self.delete_affinity(aff).await;
                Ok(None)
            }
            Some(sb) => {
                if !aff.confirmed() {
                    self.set_affinity_state(
                        host,
                        &aff.cidr,
                        calico_model::BlockAffinityState::Confirmed,
                    )
                    .await?;
                }
                Ok(Some(sb))
            }
        }
    }

    /// Finds a block CIDR with no block yet (or an empty block of another host idle for a
    /// minute) in the pools and claims it (Calico's `findUsableBlock` + `claimAffineBlock`).
    async fn find_and_claim(
        &self,
        ctx: &Context,
        pools: &[store::Pool],
        host: &str,
        family: u8,
    ) -> IpamResult<Option<IpNet>> {
        for _ in 0..MAX_RETRIES {
            let existing: HashMap<IpNet, StoredBlock> = self
                .list_blocks()
                .await?
                .into_iter()
                .filter(|b| family_of(&b.block.cidr) == family)
                .map(|b| (b.block.cidr, b))
                .collect();
            let mut free = None;
            let mut reclaimable: Option<StoredBlock> = None;
            'pools: for pool in pools {
                let count = 1u128
                    .checked_shl(u32::from(pool.block_prefix - pool.cidr.prefix_len()))
                    .unwrap_or(u128::MAX);
                let start = host_seed(host) % count;
                let mut i = 0u128;
                while i < count {
                    let idx = (start + i) % count;
                    i += 1;
                    let Some(cidr) = nth_block(&pool.cidr, pool.block_prefix, idx) else {
                        break;
                    };
                    if ctx.fully_reserved(&cidr) {
                        continue;
                    }
                    match existing.get(&cidr) {
                        None => {
                            free = Some(cidr);
                            break 'pools;
                        }
                        Some(b)
                            if b.block.host_affinity() == Some(host) && b.block.num_free() > 0 =>
                        {
                            // A concurrent claim on this host won; use it.
                            return Ok(Some(cidr));
                        }
                        Some(b)
                            if reclaimable.is_none()
                                && b.block.host_affinity().is_some()
                                && b.block.is_empty() =>
                        {
                            let old = b
                                .block
                                .spec
                                .affinity_claim_time
                                .as_deref()
                                .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
                                .and_then(|t| t.elapsed().ok())
                                .is_some_and(|age| age >= EMPTY_BLOCK_MIN_RECLAIM_AGE);
                            if old {
                                reclaimable = Some(b.clone());
                            }
                        }
                        Some(_) => {}
                    }
                    // Walking a huge IPv6 pool: the first free block is at most
                    // `existing.len()` steps away.
                    if i > existing.len() as u128 + ctx.reserved.len() as u128 + 1
                        && count > 1 << 20
                    {
                        break;
                    }
                }
            }
            let cidr = match (free, reclaimable) {
                (Some(c), _) => c,
                (None, Some(b)) => {
                    let owner = b.block.host_affinity().unwrap_or_default().to_owned();
                    if self
                        .release_affinity_of(
                            &owner,
                            &b.block.cidr,
                            true,
                            Some(b.block.spec.sequence_number),
                        )
                        .await
                        .is_err()
                    {
                        continue;
                    }
                    b.block.cidr
                }
                (None, None) => return Ok(None),
            };
            if self.claim_block(host, &cidr).await? {
                return Ok(Some(cidr));
            }
            // Another host won the race for this block: look again.
        }
        Err(IpamError::MaxRetries(format!(
            "claiming a block for {host}"
        )))
    }

    /// Claims `cidr` for `host` in two phases. True if the block is now the host's.
    async fn claim_block(&self, host: &str, cidr: &IpNet) -> IpamResult<bool> {
        use calico_model::BlockAffinityState as S;
        let pending = match self.get_affinity(host, cidr).await? {
            Some(a) if a.confirmed() => a,
            _ => self.set_affinity_state(host, cidr, S::Pending).await?,
        };
        let block = Block::new(
            *cidr,
            Some(format!("host:{host}")),
            Some(crate::kv::now_rfc3339()),
            store::now_ns(),
        );
        match self.create_block(&block).await {
            Ok(_) => {
                self.stats
                    .blocks_claimed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.set_affinity_state(host, cidr, S::Confirmed).await?;
                Ok(true)
            }
            Err(Error::AlreadyExists { .. }) => match self.get_block(cidr).await? {
                Some(b) if b.block.host_affinity() == Some(host) => {
                    self.set_affinity_state(host, cidr, S::Confirmed).await?;
                    Ok(true)
                }
                _ => {
                    self.stats
                        .claim_conflicts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if let Some(a) = self.get_affinity(host, cidr).await?
                        && !a.confirmed()
                    {
                        let _ = self.delete_affinity(&a).await;
                    } else {
                        let _ = self.delete_affinity(&pending).await;
                    }
                    Ok(false)
                }
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Gives up `host`'s affinity to `cidr` (Calico's `releaseBlockAffinity`): the block is
    /// deleted if empty, else it stays (its addresses allocated) without an affinity. With
    /// `require_empty` a non-empty block is an error; with `sequence`, the block must not have
    /// changed since the caller looked.
    pub(crate) async fn release_affinity_of(
        &self,
        host: &str,
        cidr: &IpNet,
        require_empty: bool,
        sequence: Option<u64>,
    ) -> IpamResult<()> {
        for _ in 0..MAX_RETRIES {
            let aff = self.get_affinity(host, cidr).await?;
            let Some(sb) = self.get_block(cidr).await? else {
                if let Some(a) = aff {
                    self.delete_affinity(&a).await?;
                }
                return Ok(());
            };
            if sequence.is_some_and(|s| s != sb.block.spec.sequence_number) {
                return Err(IpamError::Invalid(format!(
                    "block {cidr} changed meanwhile"
                )));
            }
            if sb.block.host_affinity() != Some(host) {
                if let Some(a) = aff {
                    self.delete_affinity(&a).await?;
                }
                return Ok(());
            }
            if require_empty && !sb.block.is_empty() {
                return Err(IpamError::Invalid(format!("block {cidr} is not empty")));
            }
            if aff.is_some() {
                self.set_affinity_state(
                    host,
                    cidr,
                    calico_model::BlockAffinityState::PendingDeletion,
                )
                .await?;
            }
            let result = if sb.block.is_empty() {
                self.delete_block(&sb).await
            } else {
                let mut sb = sb;
                sb.block.spec.affinity = None;
                sb.block.spec.affinity_claim_time = None;
                sb.block.spec.sequence_number = sb.block.spec.sequence_number.wrapping_add(1);
                self.write_block(&sb).await.map(drop)
            };
            match result {
                Ok(()) => {
                    if let Some(a) = self.get_affinity(host, cidr).await? {
                        self.delete_affinity(&a).await?;
                    }
                    return Ok(());
                }
                Err(e) if self.raced(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(IpamError::MaxRetries(format!(
            "releasing the affinity of {cidr}"
        )))
    }

    /// Releases every block affinity of `host` (e.g. when the node is removed). Empty blocks
    /// are deleted; blocks still holding addresses stay, unaffine. Returns the CIDRs released.
    pub async fn release_host_affinities(&self, host: &str) -> IpamResult<Vec<IpNet>> {
        let mut out = Vec::new();
        for a in self.list_affinities(Some(host)).await? {
            self.release_affinity_of(host, &a.cidr, false, None).await?;
            out.push(a.cidr);
        }
        Ok(out)
    }

    /// Assigns one specific address (CNI `IP=` / the `ipAddrs` annotation). Returns it with
    /// its block's prefix length. Assigning an address the same handle already holds
    /// succeeds (idempotent).
    pub async fn assign_ip(&self, args: &AssignIpArgs) -> IpamResult<IpNet> {
        if args.handle_id.is_empty() || args.hostname.is_empty() {
            return Err(IpamError::Invalid(
                "a handle ID and a host name are required".into(),
            ));
        }
        let ctx = self.context().await?;
        let pool = ctx
            .pools
            .iter()
            .find(|p| !p.spec.disabled && p.cidr.contains(&args.ip))
            .ok_or(IpamError::NotInPool(args.ip))?;
        if !pool.spec.allows(args.intended_use) {
            return Err(IpamError::Invalid(format!(
                "pool {} does not allow {:?} addresses",
                pool.name, args.intended_use
            )));
        }
        if ctx.is_reserved(args.ip) {
            return Err(IpamError::Invalid(format!(
                "address {} is reserved by an IPReservation",
                args.ip
            )));
        }
        let cidr = block_of(args.ip, pool.block_prefix)
            .ok_or_else(|| IpamError::Invalid(format!("bad address {}", args.ip)))?;
        for _ in 0..MAX_RETRIES {
            let Some(mut sb) = self.get_block(&cidr).await? else {
                // Claim it for this host; if another host wins, its block is re-read.
                self.claim_block(&args.hostname, &cidr).await?;
                continue;
            };
            if ctx.config.strict_affinity
                && sb.block.host_affinity() != Some(args.hostname.as_str())
            {
                return Err(IpamError::Invalid(format!(
                    "block host affinity does not match: {cidr} is not affine to {}",
                    args.hostname
                )));
            }
            match sb.block.assign_ip(args.ip, &args.handle_id, &args.attrs) {
                Ok(()) => {}
                Err(Some(h)) if h == args.handle_id => {
                    return Ok(IpNet::new(args.ip, cidr.prefix_len()).unwrap_or(cidr));
                }
                Err(handle) => {
                    return Err(IpamError::AlreadyAllocated {
                        ip: args.ip,
                        handle,
                    });
                }
            }
            self.adjust_handle(&args.handle_id, &cidr, 1).await?;
            match self.write_block(&sb).await {
                Ok(_) => return Ok(IpNet::new(args.ip, cidr.prefix_len()).unwrap_or(cidr)),
                Err(e) => {
                    self.adjust_handle(&args.handle_id, &cidr, -1).await?;
                    if !self.raced(&e) {
                        return Err(e.into());
                    }
                }
            }
        }
        Err(IpamError::MaxRetries(format!("assigning {}", args.ip)))
    }

    /// Releases every address of a handle and deletes the handle. A missing handle is not
    /// an error (returns an empty list), so CNI DEL stays idempotent.
    pub async fn release_by_handle(&self, handle_id: &str) -> IpamResult<Vec<IpAddr>> {
        let mut released = Vec::new();
        for _ in 0..MAX_RETRIES {
            let Some(handle) = self.get_handle(handle_id).await? else {
                return Ok(released);
            };
            for cidr in handle.spec.block.keys() {
                let Ok(cidr) = cidr.parse::<IpNet>() else {
                    continue;
                };
                released.extend(self.release_handle_in_block(handle_id, &cidr).await?);
            }
            match self
                .ds
                .delete(
                    &store::handle_key(handle_id),
                    Some(&handle.metadata.resource_version),
                )
                .await
            {
                Ok(_) | Err(Error::NotFound { .. }) => return Ok(released),
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(IpamError::MaxRetries(format!(
            "releasing handle {handle_id}"
        )))
    }

    async fn release_handle_in_block(
        &self,
        handle_id: &str,
        cidr: &IpNet,
    ) -> IpamResult<Vec<IpAddr>> {
        for _ in 0..MAX_RETRIES {
            let Some(mut sb) = self.get_block(cidr).await? else {
                return Ok(Vec::new());
            };
            let ips = sb.block.release_handle(handle_id);
            if ips.is_empty() {
                return Ok(ips);
            }
            match self.write_or_delete_block(&sb).await {
                Ok(()) => return Ok(ips),
                Err(e) if self.raced(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(IpamError::MaxRetries(format!(
            "releasing handle {handle_id} in {cidr}"
        )))
    }

    /// Writes a block back after a release: an empty block without affinity is deleted
    /// (an affine empty block stays with its host).
    async fn write_or_delete_block(&self, sb: &StoredBlock) -> Result<(), Error> {
        if sb.block.is_empty() && sb.block.spec.affinity.is_none() {
            self.delete_block(sb).await
        } else {
            self.write_block(sb).await.map(drop)
        }
    }

    /// Releases addresses; returns those that were not released because they were not
    /// allocated or their handle / sequence-number guard did not match.
    pub async fn release_ips(&self, ips: &[ReleaseOptions]) -> IpamResult<Vec<IpAddr>> {
        let pools = self.pools().await?;
        let mut by_block: BTreeMap<IpNet, Vec<&ReleaseOptions>> = BTreeMap::new();
        let mut unallocated = Vec::new();
        let mut all_blocks: Option<Vec<IpNet>> = None;
        for opt in ips {
            let cidr = match pools.iter().find(|p| p.cidr.contains(&opt.address)) {
                Some(p) => block_of(opt.address, p.block_prefix),
                None => {
                    if all_blocks.is_none() {
                        all_blocks = Some(
                            self.list_blocks()
                                .await?
                                .into_iter()
                                .map(|b| b.block.cidr)
                                .collect(),
                        );
                    }
                    all_blocks
                        .as_ref()
                        .and_then(|bs| bs.iter().find(|b| b.contains(&opt.address)).copied())
                }
            };
            match cidr {
                Some(c) => by_block.entry(c).or_default().push(opt),
                None => unallocated.push(opt.address),
            }
        }
        for (cidr, opts) in by_block {
            let mut done = false;
            for _ in 0..MAX_RETRIES {
                let Some(mut sb) = self.get_block(&cidr).await? else {
                    unallocated.extend(opts.iter().map(|o| o.address));
                    done = true;
                    break;
                };
                let mut freed: BTreeMap<String, i64> = BTreeMap::new();
                let mut skipped = Vec::new();
                for o in &opts {
                    match sb
                        .block
                        .release(o.address, o.handle_id.as_deref(), o.sequence_number)
                    {
                        Ok(Some(h)) => *freed.entry(h).or_insert(0) += 1,
                        Ok(None) => {}
                        Err(_) => skipped.push(o.address),
                    }
                }
                if freed.is_empty() && skipped.len() == opts.len() {
                    unallocated.extend(skipped);
                    done = true;
                    break;
                }
                match self.write_or_delete_block(&sb).await {
                    Ok(()) => {
                        for (h, n) in freed {
                            self.adjust_handle(&h, &cidr, -n).await?;
                        }
                        unallocated.extend(skipped);
                        done = true;
                        break;
                    }
                    Err(e) if self.raced(&e) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            if !done {
                return Err(IpamError::MaxRetries(format!(
                    "releasing addresses in {cidr}"
                )));
            }
        }
        Ok(unallocated)
    }

    /// The addresses a handle holds.
    pub async fn ips_by_handle(&self, handle_id: &str) -> IpamResult<Vec<IpAddr>> {
        Ok(self
            .nets_by_handle(handle_id)
            .await?
            .iter()
            .map(IpNet::addr)
            .collect())
    }

    /// Like [`Ipam::ips_by_handle`], each address with its block's prefix length.
    pub async fn nets_by_handle(&self, handle_id: &str) -> IpamResult<Vec<IpNet>> {
        let Some(handle) = self.get_handle(handle_id).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for cidr in handle.spec.block.keys() {
            let Ok(cidr) = cidr.parse::<IpNet>() else {
                continue;
            };
            if let Some(sb) = self.get_block(&cidr).await? {
                out.extend(
                    sb.block
                        .ips_of_handle(handle_id)
                        .into_iter()
                        .filter_map(|ip| IpNet::new(ip, cidr.prefix_len()).ok()),
                );
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
