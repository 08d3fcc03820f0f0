//! Reading IPAM state back: utilisation per pool and block, one address's owner, and the
//! leak check behind `calicoctl ipam check`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use calico_model::{Kind, Resource};
use ipnet::IpNet;
use serde::Serialize;

use super::block::{WINDOWS_RESERVED_HANDLE, net_size};
use super::{Ipam, IpamResult};

/// Usage of one pool (`calicoctl ipam show`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolUsage {
    /// Pool name.
    pub name: String,
    /// Pool CIDR.
    pub cidr: IpNet,
    /// Addresses in the pool (saturating for huge IPv6 pools).
    pub total: u128,
    /// Allocated addresses.
    pub in_use: u128,
    /// Addresses covered by IPReservations.
    pub reserved: u128,
    /// Blocks of the pool.
    pub blocks: Vec<BlockUsage>,
}

impl PoolUsage {
    /// Addresses neither allocated nor reserved.
    pub fn free(&self) -> u128 {
        self.total
            .saturating_sub(self.in_use)
            .saturating_sub(self.reserved)
    }
}

/// Usage of one block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockUsage {
    /// Block CIDR.
    pub cidr: IpNet,
    /// `host:<node>` or none.
    pub affinity: Option<String>,
    /// Addresses in the block.
    pub total: u128,
    /// Allocated addresses.
    pub in_use: u128,
    /// Addresses allocated here to workloads of other hosts (borrowed).
    pub borrowed: u128,
}

/// Who holds one address (`calicoctl ipam show --ip`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocationInfo {
    /// The address.
    pub ip: IpAddr,
    /// Its block.
    pub block: IpNet,
    /// The block's affinity.
    pub block_affinity: Option<String>,
    /// The owning handle.
    pub handle: Option<String>,
    /// Allocation attributes (`node`, `pod`, `namespace`, `timestamp`, …).
    pub attributes: BTreeMap<String, String>,
    /// The allocation's sequence number.
    pub sequence_number: Option<u64>,
}

impl AllocationInfo {
    /// The allocation of ordinal `ord` of `block`.
    fn of(block: &super::Block, ord: usize) -> Self {
        let attr = block.attribute_of(ord);
        AllocationInfo {
            ip: block.ip_of(ord),
            block: block.cidr,
            block_affinity: block.spec.affinity.clone(),
            handle: attr.and_then(|a| a.handle_id.clone()),
            attributes: attr
                .map(|a| a.active_owner_attrs.clone())
                .unwrap_or_default(),
            sequence_number: block.sequence_of(ord),
        }
    }
}

/// An allocation nothing uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeakedAllocation {
    /// The allocation.
    #[serde(flatten)]
    pub allocation: AllocationInfo,
    /// Why it counts as leaked.
    pub reason: String,
}

/// A handle record without allocations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeakedHandle {
    /// The handle ID.
    pub id: String,
    /// Its revision (release only if unchanged).
    pub revision: String,
    /// Its UID.
    pub uid: String,
}

/// The result of [`Ipam::check`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    /// Allocated addresses in total.
    pub allocations: usize,
    /// Allocations with no live WorkloadEndpoint (or Node, for tunnel addresses).
    pub leaked_allocations: Vec<LeakedAllocation>,
    /// Addresses WorkloadEndpoints use that IPAM has not allocated (inside a pool).
    pub in_use_not_allocated: Vec<String>,
    /// Handles whose blocks hold no address for them.
    pub leaked_handles: Vec<LeakedHandle>,
    /// Allocations whose handle record is missing.
    pub allocations_without_handle: Vec<AllocationInfo>,
    /// Block affinities whose block does not exist (`host/cidr`).
    pub affinities_without_block: Vec<String>,
    /// Blocks that break Calico's structural invariants (`cidr: problem`).
    pub block_problems: Vec<String>,
    /// Addresses that appear in two blocks (overlapping blocks of different sizes).
    pub duplicate_addresses: Vec<IpAddr>,
}

impl CheckReport {
    /// True when nothing was found.
    pub fn is_clean(&self) -> bool {
        self.leaked_allocations.is_empty()
            && self.in_use_not_allocated.is_empty()
            && self.leaked_handles.is_empty()
            && self.allocations_without_handle.is_empty()
            && self.affinities_without_block.is_empty()
            && self.block_problems.is_empty()
            && self.duplicate_addresses.is_empty()
    }
}

/// Allocation `type` attributes of node tunnel addresses (valid while the node exists).
const TUNNEL_TYPES: &[&str] = &[
    "ipipTunnelAddress",
    "vxlanTunnelAddress",
    "vxlanV6TunnelAddress",
    "wireguardTunnelAddress",
    "wireguardV6TunnelAddress",
];

fn strip_prefix_len(s: &str) -> Option<IpAddr> {
    s.split('/').next()?.parse().ok()
}

impl Ipam {
    /// Utilisation per pool (and per block), counted from the blocks and reservations.
    pub async fn utilization(&self) -> IpamResult<Vec<PoolUsage>> {
        let pools = self.pools().await?;
        let blocks = self.list_blocks().await?;
        let reserved = self.reservations().await?;
        let mut out = Vec::new();
        for p in pools {
            let mut usage = PoolUsage {
                name: p.name.clone(),
                cidr: p.cidr,
                total: net_size(&p.cidr),
                in_use: 0,
                reserved: 0,
                blocks: Vec::new(),
            };
            // Reserved addresses inside the pool (overlapping reservations counted once
            // per reservation; reservations are expected to be disjoint).
            for r in &reserved {
                if p.cidr.contains(r) {
                    usage.reserved += net_size(r);
                } else if r.contains(&p.cidr) {
                    usage.reserved = usage.total;
                }
            }
            usage.reserved = usage.reserved.min(usage.total);
            for b in blocks.iter().filter(|b| p.cidr.contains(&b.block.cidr)) {
                let in_use = b.block.allocated().count() as u128;
                let host = b.block.host_affinity();
                let borrowed = b
                    .block
                    .allocated()
                    .filter(|(_, a)| {
                        let node = a.and_then(|a| a.active_owner_attrs.get("node"));
                        matches!((node, host), (Some(n), Some(h)) if n != h)
                    })
                    .count() as u128;
                usage.in_use += in_use;
                usage.blocks.push(BlockUsage {
                    cidr: b.block.cidr,
                    affinity: b.block.spec.affinity.clone(),
                    total: b.block.size() as u128,
                    in_use,
                    borrowed,
                });
            }
            out.push(usage);
        }
        Ok(out)
    }

    /// Who holds `ip`, if anyone.
    pub async fn allocation_of(&self, ip: IpAddr) -> IpamResult<Option<AllocationInfo>> {
        let pool = self
            .pools()
            .await?
            .into_iter()
            .find(|p| p.cidr.contains(&ip));
        let candidates = match pool {
            Some(p) => match super::block_of(ip, p.block_prefix) {
                Some(c) => self.get_block(&c).await?.into_iter().collect(),
                None => Vec::new(),
            },
            None => self
                .list_blocks()
                .await?
                .into_iter()
                .filter(|b| b.block.cidr.contains(&ip))
                .collect::<Vec<_>>(),
        };
        for sb in candidates {
            if let Some(ord) = sb.block.ordinal_of(ip)
                && sb.block.spec.allocations[ord].is_some()
            {
                return Ok(Some(AllocationInfo::of(&sb.block, ord)));
            }
        }
        Ok(None)
    }

    /// Every allocation, in block order.
    pub async fn allocations(&self) -> IpamResult<Vec<AllocationInfo>> {
        let mut out = Vec::new();
        for sb in self.list_blocks().await? {
            for (ord, _) in sb.block.allocated() {
                out.push(AllocationInfo::of(&sb.block, ord));
            }
        }
        Ok(out)
    }

    /// The leak check (`calicoctl ipam check`): allocations without a live
    /// WorkloadEndpoint, endpoint addresses without an allocation, handles without
    /// allocations, allocations without a handle, affinities without a block, broken blocks
    /// and addresses in two blocks.
    pub async fn check(&self) -> IpamResult<CheckReport> {
        let ds = self.datastore();
        let blocks = self.list_blocks().await?;
        let pools = self.pools().await?;
        let weps = ds.list(Kind::WorkloadEndpoint, None).await?;
        let nodes: BTreeSet<String> = ds
            .list(Kind::Node, None)
            .await?
            .items
            .iter()
            .map(|n| n.metadata().name.clone())
            .collect();
        let handles = ds.list(Kind::IPAMHandle, None).await?;
        let affinities = self.list_affinities(None).await?;

        let mut in_use: BTreeSet<IpAddr> = BTreeSet::new();
        for w in &weps.items {
            if let Resource::WorkloadEndpoint(w) = w {
                in_use.extend(
                    w.spec
                        .ip_networks
                        .iter()
                        .filter_map(|n| strip_prefix_len(n)),
                );
            }
        }
        let handle_ids: BTreeSet<String> = handles
            .items
            .iter()
            .filter_map(|h| match h {
                Resource::IPAMHandle(h) if !h.spec.deleted => {
                    Some(super::store::sanitize_handle(&h.spec.handle_id).to_owned())
                }
                _ => None,
            })
            .collect();

        let mut report = CheckReport::default();
        let mut allocated: BTreeSet<IpAddr> = BTreeSet::new();
        let mut used_handles: BTreeSet<String> = BTreeSet::new();
        let block_cidrs: BTreeSet<IpNet> = blocks.iter().map(|b| b.block.cidr).collect();
        for sb in &blocks {
            for p in sb.block.problems() {
                report
                    .block_problems
                    .push(format!("{}: {p}", sb.block.cidr));
            }
            for (ord, attr) in sb.block.allocated() {
                let ip = sb.block.ip_of(ord);
                report.allocations += 1;
                if !allocated.insert(ip) {
                    report.duplicate_addresses.push(ip);
                }
                let handle = attr
                    .and_then(|a| a.handle_id.as_deref())
                    .map(|h| super::store::sanitize_handle(h).to_owned());
                let attrs = attr
                    .map(|a| a.active_owner_attrs.clone())
                    .unwrap_or_default();
                let info = AllocationInfo {
                    ip,
                    block: sb.block.cidr,
                    block_affinity: sb.block.spec.affinity.clone(),
                    handle: handle.clone(),
                    attributes: attrs.clone(),
                    sequence_number: sb.block.sequence_of(ord),
                };
                if let Some(h) = &handle {
                    used_handles.insert(h.clone());
                    if h != WINDOWS_RESERVED_HANDLE && !handle_ids.contains(h) {
                        report.allocations_without_handle.push(info.clone());
                    }
                }
                if handle.as_deref() == Some(WINDOWS_RESERVED_HANDLE)
                    || attr.is_some_and(|a| a.released_at.is_some())
                {
                    continue;
                }
                let leak = match attrs.get("type").map(String::as_str) {
                    Some(t) if TUNNEL_TYPES.contains(&t) => {
                        let node = attrs.get("node").cloned().unwrap_or_default();
                        (!nodes.contains(&node)).then(|| {
                            format!("tunnel address of node {node:?}, which does not exist")
                        })
                    }
                    Some(_) => None, // LoadBalancer and other owners are not ours to judge.
                    None => (!in_use.contains(&ip))
                        .then(|| "no WorkloadEndpoint uses this address".to_owned()),
                };
                if let Some(reason) = leak {
                    report.leaked_allocations.push(LeakedAllocation {
                        allocation: info,
                        reason,
                    });
                }
            }
        }
        for ip in &in_use {
            if !allocated.contains(ip) && pools.iter().any(|p| p.cidr.contains(ip)) {
                report.in_use_not_allocated.push(ip.to_string());
            }
        }
        for h in &handles.items {
            if let Resource::IPAMHandle(h) = h
                && !h.spec.deleted
                && !used_handles.contains(super::store::sanitize_handle(&h.spec.handle_id))
            {
                report.leaked_handles.push(LeakedHandle {
                    id: h.spec.handle_id.clone(),
                    revision: h.metadata.resource_version.clone(),
                    uid: h.metadata.uid.clone(),
                });
            }
        }
        for a in &affinities {
            if a.confirmed() && !block_cidrs.contains(&a.cidr) {
                report
                    .affinities_without_block
                    .push(format!("{}/{}", a.spec.node, a.cidr));
            }
        }
        Ok(report)
    }

    /// Deletes a leaked handle if it is still at `revision` (from a [`CheckReport`]).
    pub async fn delete_handle(&self, handle_id: &str, revision: Option<&str>) -> IpamResult<()> {
        match self
            .datastore()
            .delete(&super::store::handle_key(handle_id), revision)
            .await
        {
            Ok(_) | Err(crate::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
