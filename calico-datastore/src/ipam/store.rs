//! Reading and writing the IPAM objects through the [`Datastore`] trait: typed wrappers
//! that keep each object's metadata (its `resourceVersion`) for compare-and-swap.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use calico_model::sync::ResourceKey;
use calico_model::{
    BlockAffinity, BlockAffinitySpec, BlockAffinityState, IPAMBlock, IPAMConfiguration,
    IPAMConfigurationSpec, IPAMHandle, IPAMHandleSpec, IPPoolSpec, Kind, ObjectMeta, Resource,
    block_affinity_name, ipam_block_name, ipam_handle_name,
};
use ipnet::IpNet;

use super::block::Block;
use super::{Ipam, IpamError, IpamResult, MAX_RETRIES};
use crate::Error;

/// A block as stored, with its metadata.
#[derive(Clone, Debug)]
pub(crate) struct StoredBlock {
    pub meta: ObjectMeta,
    pub block: Block,
}

/// A block affinity as stored.
#[derive(Clone, Debug)]
pub(crate) struct StoredAffinity {
    pub meta: ObjectMeta,
    pub spec: BlockAffinitySpec,
    pub cidr: IpNet,
}

impl StoredAffinity {
    /// Pending affinities are claims in progress: treat them as absent for ownership.
    pub fn confirmed(&self) -> bool {
        matches!(
            self.spec.state,
            BlockAffinityState::Confirmed | BlockAffinityState::Unset
        )
    }
}

/// Nanoseconds since the epoch (seed for a new block's sequence number).
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub(crate) fn block_key(cidr: &IpNet) -> ResourceKey {
    ResourceKey::new(Kind::IPAMBlock, "", ipam_block_name(cidr))
}

pub(crate) fn affinity_key(host: &str, cidr: &IpNet) -> ResourceKey {
    ResourceKey::new(Kind::BlockAffinity, "", block_affinity_name(host, cidr))
}

pub(crate) fn handle_key(handle_id: &str) -> ResourceKey {
    ResourceKey::new(Kind::IPAMHandle, "", ipam_handle_name(handle_id))
}

fn meta_named(name: String) -> ObjectMeta {
    ObjectMeta {
        name,
        ..Default::default()
    }
}

/// True for the errors a compare-and-swap loop re-reads and retries on.
pub(crate) fn is_race(e: &Error) -> bool {
    matches!(
        e,
        Error::Conflict { .. } | Error::AlreadyExists { .. } | Error::NotFound { .. }
    )
}

/// Removes what Calico strips from handles read back from host-local migrations: anything
/// from the first `\r`.
pub fn sanitize_handle(handle: &str) -> &str {
    handle.split('\r').next().unwrap_or(handle)
}

impl Ipam {
    // ---------------------------------------------------------------- blocks

    pub(crate) async fn get_block(&self, cidr: &IpNet) -> IpamResult<Option<StoredBlock>> {
        match self.ds.get(&block_key(cidr)).await {
            Ok(Resource::IPAMBlock(b)) if !b.spec.deleted => Ok(Self::wrap_block(*b)),
            Ok(_) | Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn wrap_block(b: IPAMBlock) -> Option<StoredBlock> {
        Block::from_spec(b.spec).map(|block| StoredBlock {
            meta: b.metadata,
            block,
        })
    }

    /// Every block (all pools, both families), skipping soft-deleted and unparsable ones.
    pub(crate) async fn list_blocks(&self) -> IpamResult<Vec<StoredBlock>> {
        let list = self.ds.list(Kind::IPAMBlock, None).await?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|r| match r {
                Resource::IPAMBlock(b) if !b.spec.deleted => Self::wrap_block(*b),
                _ => None,
            })
            .collect())
    }

    /// Compare-and-swap write of an edited block; returns it with its new metadata.
    pub(crate) async fn write_block(&self, sb: &StoredBlock) -> Result<StoredBlock, Error> {
        let res = IPAMBlock::new(sb.meta.clone(), sb.block.spec.clone());
        match self.ds.update(res.into()).await? {
            Resource::IPAMBlock(b) => Ok(StoredBlock {
                meta: b.metadata,
                block: sb.block.clone(),
            }),
            other => Err(Error::unavailable(format!(
                "datastore returned a {} for a block write",
                other.kind()
            ))),
        }
    }

    pub(crate) async fn create_block(&self, block: &Block) -> Result<StoredBlock, Error> {
        let res = IPAMBlock::new(meta_named(ipam_block_name(&block.cidr)), block.spec.clone());
        match self.ds.create(res.into()).await? {
            Resource::IPAMBlock(b) => Ok(StoredBlock {
                meta: b.metadata,
                block: block.clone(),
            }),
            other => Err(Error::unavailable(format!(
                "datastore returned a {} for a block create",
                other.kind()
            ))),
        }
    }

    pub(crate) async fn delete_block(&self, sb: &StoredBlock) -> Result<(), Error> {
        self.ds
            .delete(&block_key(&sb.block.cidr), Some(&sb.meta.resource_version))
            .await
            .map(drop)
    }

    // ---------------------------------------------------------------- affinities

    fn wrap_affinity(a: BlockAffinity) -> Option<StoredAffinity> {
        if a.spec.deleted {
            return None;
        }
        let cidr: IpNet = a.spec.cidr.parse().ok()?;
        Some(StoredAffinity {
            meta: a.metadata,
            spec: a.spec,
            cidr: cidr.trunc(),
        })
    }

    /// Every host-type affinity, optionally only those of one host.
    pub(crate) async fn list_affinities(
        &self,
        host: Option<&str>,
    ) -> IpamResult<Vec<StoredAffinity>> {
        let list = self.ds.list(Kind::BlockAffinity, None).await?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|r| match r {
                Resource::BlockAffinity(a) => Self::wrap_affinity(*a),
                _ => None,
            })
            .filter(|a| a.spec.type_.is_empty() || a.spec.type_ == "host")
            .filter(|a| host.is_none_or(|h| a.spec.node == h))
            .collect())
    }

    pub(crate) async fn get_affinity(
        &self,
        host: &str,
        cidr: &IpNet,
    ) -> IpamResult<Option<StoredAffinity>> {
        match self.ds.get(&affinity_key(host, cidr)).await {
            Ok(Resource::BlockAffinity(a)) => Ok(Self::wrap_affinity(*a)),
            Ok(_) | Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn affinity_resource(
        meta: ObjectMeta,
        host: &str,
        cidr: &IpNet,
        state: BlockAffinityState,
    ) -> Resource {
        BlockAffinity::new(
            meta,
            BlockAffinitySpec {
                state,
                node: host.to_owned(),
                type_: "host".to_owned(),
                cidr: cidr.to_string(),
                deleted: false,
            },
        )
        .into()
    }

    /// Sets an affinity's state, creating the affinity if it is missing.
    pub(crate) async fn set_affinity_state(
        &self,
        host: &str,
        cidr: &IpNet,
        state: BlockAffinityState,
    ) -> IpamResult<StoredAffinity> {
        for _ in 0..MAX_RETRIES {
            let result = match self.get_affinity(host, cidr).await? {
                Some(a) if a.spec.state == state => return Ok(a),
                Some(a) => {
                    self.ds
                        .update(Self::affinity_resource(a.meta, host, cidr, state))
                        .await
                }
                None => {
                    let meta = meta_named(block_affinity_name(host, cidr));
                    self.ds
                        .create(Self::affinity_resource(meta, host, cidr, state))
                        .await
                }
            };
            match result {
                Ok(Resource::BlockAffinity(a)) => {
                    if let Some(a) = Self::wrap_affinity(*a) {
                        return Ok(a);
                    }
                }
                Ok(_) => {}
                Err(e) if is_race(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(IpamError::MaxRetries(format!(
            "setting the affinity of {cidr} for {host}"
        )))
    }

    pub(crate) async fn delete_affinity(&self, a: &StoredAffinity) -> IpamResult<()> {
        match self
            .ds
            .delete(
                &affinity_key(&a.spec.node, &a.cidr),
                Some(&a.meta.resource_version),
            )
            .await
        {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e @ Error::Conflict { .. }) => Err(e.into()),
            Err(e) => Err(e.into()),
        }
    }

    // ---------------------------------------------------------------- handles

    pub(crate) async fn get_handle(&self, handle_id: &str) -> IpamResult<Option<IPAMHandle>> {
        match self.ds.get(&handle_key(handle_id)).await {
            Ok(Resource::IPAMHandle(h)) if !h.spec.deleted => Ok(Some(*h)),
            Ok(_) | Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Adds `delta` (may be negative) to the handle's count for `block`; creates the handle
    /// when adding, deletes it when every count reaches zero.
    pub(crate) async fn adjust_handle(
        &self,
        handle_id: &str,
        block: &IpNet,
        delta: i64,
    ) -> IpamResult<()> {
        let block_str = block.to_string();
        // A new handle (the common case of an allocation) is created without a read first.
        let mut try_create = delta > 0;
        for _ in 0..MAX_RETRIES {
            let current = if try_create {
                try_create = false;
                None
            } else {
                self.get_handle(handle_id).await?
            };
            let result = match current {
                None if delta <= 0 => return Ok(()),
                None => {
                    let spec = IPAMHandleSpec {
                        handle_id: handle_id.to_owned(),
                        block: BTreeMap::from([(block_str.clone(), delta)]),
                        deleted: false,
                    };
                    self.ds
                        .create(
                            IPAMHandle::new(meta_named(ipam_handle_name(handle_id)), spec).into(),
                        )
                        .await
                        .map(drop)
                }
                Some(mut h) => {
                    let n = h.spec.block.entry(block_str.clone()).or_insert(0);
                    *n += delta;
                    if *n <= 0 {
                        h.spec.block.remove(&block_str);
                    }
                    if h.spec.block.is_empty() {
                        self.ds
                            .delete(&handle_key(handle_id), Some(&h.metadata.resource_version))
                            .await
                            .map(drop)
                    } else {
                        self.ds.update(h.into()).await.map(drop)
                    }
                }
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) if is_race(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(IpamError::MaxRetries(format!(
            "updating handle {handle_id}"
        )))
    }

    // ---------------------------------------------------------------- config, pools

    /// The IPAM configuration (`IPAMConfiguration/default`), or Calico's defaults when none
    /// is stored (strictAffinity false, autoAllocateBlocks true, maxBlocksPerHost 0 = 20).
    pub async fn config(&self) -> IpamResult<IPAMConfigurationSpec> {
        let key = ResourceKey::new(
            Kind::IPAMConfiguration,
            "",
            calico_model::IPAM_CONFIGURATION_NAME,
        );
        match self.ds.get(&key).await {
            Ok(Resource::IPAMConfiguration(c)) => Ok(c.spec),
            Ok(_) | Err(Error::NotFound { .. }) => Ok(IPAMConfigurationSpec {
                auto_allocate_blocks: Some(true),
                ..Default::default()
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores the IPAM configuration, enforcing Calico's cross-field rules: strict affinity
    /// must be on when automatic block allocation is off, and `maxBlocksPerHost` needs strict
    /// affinity.
    pub async fn set_config(
        &self,
        spec: IPAMConfigurationSpec,
    ) -> IpamResult<IPAMConfigurationSpec> {
        if !spec.strict_affinity && !spec.auto_allocate_blocks_or_default() {
            return Err(IpamError::Invalid(
                "autoAllocateBlocks false requires strictAffinity true".into(),
            ));
        }
        if spec.max_blocks_per_host > 0 && !spec.strict_affinity {
            return Err(IpamError::Invalid(
                "maxBlocksPerHost requires strictAffinity true".into(),
            ));
        }
        use crate::DatastoreExt;
        let res = IPAMConfiguration::new(
            meta_named(calico_model::IPAM_CONFIGURATION_NAME.into()),
            spec,
        );
        match self.ds.apply(res.into()).await? {
            Resource::IPAMConfiguration(c) => Ok(c.spec),
            _ => Err(IpamError::Invalid("unexpected kind stored".into())),
        }
    }

    /// Every IP pool, by name, with its parsed CIDR (pools whose CIDR does not parse are
    /// skipped).
    pub(crate) async fn pools(&self) -> IpamResult<Vec<Pool>> {
        let list = self.ds.list(Kind::IPPool, None).await?;
        let mut pools: Vec<Pool> = list
            .items
            .into_iter()
            .filter_map(|r| match r {
                Resource::IPPool(p) => {
                    let cidr = p.spec.cidr_net()?.trunc();
                    let block_prefix = u8::try_from(p.spec.block_size_or_default()).ok()?;
                    (block_prefix >= cidr.prefix_len() && block_prefix <= cidr.max_prefix_len())
                        .then(|| Pool {
                            name: p.metadata.name.clone(),
                            cidr,
                            block_prefix,
                            spec: p.spec,
                        })
                }
                _ => None,
            })
            .collect();
        pools.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(pools)
    }

    /// Every reserved network (IPReservation `reservedCIDRs`).
    pub(crate) async fn reservations(&self) -> IpamResult<Vec<IpNet>> {
        let list = self.ds.list(Kind::IPReservation, None).await?;
        Ok(list
            .items
            .iter()
            .flat_map(|r| match r {
                Resource::IPReservation(r) => r.spec.reserved_nets(),
                _ => Vec::new(),
            })
            .collect())
    }

    /// The labels of the Node resource named `host` (empty when there is none: a
    /// single-machine setup without Node resources still gets pools selecting `all()`).
    pub(crate) async fn node_labels(&self, host: &str) -> IpamResult<BTreeMap<String, String>> {
        match self.ds.get(&ResourceKey::new(Kind::Node, "", host)).await {
            Ok(r) => Ok(r.metadata().labels.clone()),
            Err(Error::NotFound { .. } | Error::Invalid { .. }) => Ok(BTreeMap::new()),
            Err(e) => Err(e.into()),
        }
    }
}

/// An IP pool, parsed.
#[derive(Clone, Debug)]
pub(crate) struct Pool {
    pub name: String,
    pub cidr: IpNet,
    pub block_prefix: u8,
    pub spec: IPPoolSpec,
}
