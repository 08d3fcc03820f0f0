//! Calico IPAM over any [`Datastore`]: pools cut into blocks, block affinity to hosts,
//! handles, reservations, release with sequence-number guards, and a leak check.
//!
//! API CONTRACT (implementation in progress on main).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use calico_model::IPPoolAllowedUse;
use ipnet::IpNet;

use crate::Datastore;

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
    #[error("failed to request {requested} IPv{family} addresses: assigned {assigned} out of {requested} requested; {reason}")]
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

/// Calico IPAM on a datastore.
#[derive(Clone)]
pub struct Ipam {
    ds: Arc<dyn Datastore>,
}

impl Ipam {
    /// IPAM on `ds`.
    pub fn new(ds: Arc<dyn Datastore>) -> Self {
        Ipam { ds }
    }

    /// The datastore.
    pub fn datastore(&self) -> &Arc<dyn Datastore> {
        &self.ds
    }

    /// Assigns `num_ipv4` + `num_ipv6` addresses to a handle, from the host's affine blocks
    /// first, claiming new blocks, then (without strict affinity) borrowing. All or nothing:
    /// on [`IpamError::Exhausted`] nothing stays allocated.
    pub async fn auto_assign(&self, args: &AutoAssignArgs) -> IpamResult<Assignments> {
        let _ = (&self.ds, args);
        todo!()
    }

    /// Assigns one specific address. Returns it with its block's prefix length.
    pub async fn assign_ip(&self, args: &AssignIpArgs) -> IpamResult<IpNet> {
        let _ = args;
        todo!()
    }

    /// Releases every address of a handle and deletes the handle. A missing handle is not
    /// an error (returns an empty list), so CNI DEL stays idempotent.
    pub async fn release_by_handle(&self, handle_id: &str) -> IpamResult<Vec<IpAddr>> {
        let _ = handle_id;
        todo!()
    }

    /// Releases addresses; returns those that were not allocated (or whose guard did not match).
    pub async fn release_ips(&self, ips: &[ReleaseOptions]) -> IpamResult<Vec<IpAddr>> {
        let _ = ips;
        todo!()
    }

    /// The addresses a handle holds.
    pub async fn ips_by_handle(&self, handle_id: &str) -> IpamResult<Vec<IpAddr>> {
        let _ = handle_id;
        todo!()
    }
}
