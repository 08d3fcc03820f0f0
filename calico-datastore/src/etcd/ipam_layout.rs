//! Calico's IPAM "model" layout in etcd: `IPAMBlock`, `BlockAffinity`, `IPAMHandle` and
//! `IPAMConfiguration` are not stored as v3 objects but as libcalico-go's bare model values
//! under `/calico/ipam/v2/…`, so that Go Calico and this crate share one etcd.
//!
//! | Kind | Key | Value |
//! |---|---|---|
//! | `IPAMBlock` | `/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26` | the block (`affinity_claim_time`, `affinity: null` when unset) |
//! | `BlockAffinity` | `/calico/ipam/v2/<host\|virtual>/<node>/ipv4/block/10.244.1.0-26` | `{"state":"confirmed","deleted":false}` |
//! | `IPAMHandle` | `/calico/ipam/v2/handle/<handleID>` | `{"block":{"10.244.1.0/26":1},"deleted":false}` |
//! | `IPAMConfiguration` | `/calico/ipam/v2/config` | `{"strict_affinity":…,"auto_allocate_blocks":…,…}` |
//!
//! The backend moves v3 JSON to and from [`crate::KvStore`]: [`write_target`] turns the v3
//! object of a write into its key and model value, [`decode`] turns a stored model value back
//! into a v3 object. Model values carry no metadata: on read, the name comes from the key,
//! `uid` is derived from the key and its create revision, and there is no
//! `creationTimestamp`; labels and annotations cannot be stored (writes carrying them are
//! [`Error::Invalid`]).

use std::collections::BTreeMap;
use std::str::FromStr;

use calico_model::sync::ResourceKey;
use calico_model::{
    AllocationAttribute, BlockAffinity, BlockAffinitySpec, BlockAffinityState,
    IPAM_CONFIGURATION_NAME, IPAMBlock, IPAMBlockSpec, IPAMConfiguration, IPAMConfigurationSpec,
    IPAMHandle, IPAMHandleSpec, Kind, ObjectMeta, Resource, VMAddressPersistence,
    block_affinity_name, ipam_block_name, ipam_handle_name,
};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

/// Every IPAM model key starts with this.
pub const IPAM_PREFIX: &str = "/calico/ipam/v2/";
const BLOCK_PREFIX: &str = "/calico/ipam/v2/assignment/";
const HANDLE_PREFIX: &str = "/calico/ipam/v2/handle/";
const CONFIG_KEY: &str = "/calico/ipam/v2/config";
const HOST_PREFIX: &str = "/calico/ipam/v2/host/";
const VIRTUAL_PREFIX: &str = "/calico/ipam/v2/virtual/";

/// How a kind is stored in etcd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtcdLayout {
    /// The whole v3 object under `/calico/resources/v3/projectcalico.org/…`.
    Resource,
    /// An `IPAMBlock` as libcalico-go's `AllocationBlock`.
    Block,
    /// A `BlockAffinity` as libcalico-go's `BlockAffinity`.
    Affinity,
    /// An `IPAMHandle` as libcalico-go's `IPAMHandle`.
    Handle,
    /// The `IPAMConfiguration` as libcalico-go's `IPAMConfig`.
    Config,
}

impl EtcdLayout {
    /// The layout of `kind`.
    pub fn of(kind: Kind) -> Self {
        match kind {
            Kind::IPAMBlock => EtcdLayout::Block,
            Kind::BlockAffinity => EtcdLayout::Affinity,
            Kind::IPAMHandle => EtcdLayout::Handle,
            Kind::IPAMConfiguration => EtcdLayout::Config,
            _ => EtcdLayout::Resource,
        }
    }

    /// The key range `[start, end)` holding every key of the layout, or `None` for
    /// [`EtcdLayout::Resource`] (whose range depends on the kind). The range may hold other
    /// keys too; [`ModelKey::parse`] tells them apart.
    pub fn range(self) -> Option<(String, Vec<u8>)> {
        let prefix = |p: &str| (p.to_owned(), super::prefix_end(p));
        match self {
            EtcdLayout::Resource => None,
            EtcdLayout::Block => Some(prefix(BLOCK_PREFIX)),
            // `host/` and `virtual/` with nothing of Calico's in between (`handle/`,
            // `config` and `assignment/` sort before `host/`).
            EtcdLayout::Affinity => {
                Some((HOST_PREFIX.to_owned(), super::prefix_end(VIRTUAL_PREFIX)))
            }
            EtcdLayout::Handle => Some(prefix(HANDLE_PREFIX)),
            EtcdLayout::Config => {
                let mut end = CONFIG_KEY.as_bytes().to_vec();
                end.push(0);
                Some((CONFIG_KEY.to_owned(), end))
            }
        }
    }
}

/// The owner type of a block affinity: the first segment after `/calico/ipam/v2/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AffinityType {
    /// A node (`host`, also what an empty `spec.type` means).
    Host,
    /// A virtual owner such as the LoadBalancer controller (`virtual`).
    Virtual,
}

impl AffinityType {
    fn as_str(self) -> &'static str {
        match self {
            AffinityType::Host => "host",
            AffinityType::Virtual => "virtual",
        }
    }
}

/// One key of the IPAM model layout, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ModelKey {
    /// An allocation block.
    Block(IpNet),
    /// A block affinity.
    Affinity {
        /// Host or virtual owner.
        affinity_type: AffinityType,
        /// The node (or virtual owner) name.
        node: String,
        /// The block.
        cidr: IpNet,
    },
    /// A handle, by its handle ID (case preserved).
    Handle(String),
    /// The IPAM configuration.
    Config,
}

impl ModelKey {
    /// The kind stored at this key.
    pub fn kind(&self) -> Kind {
        match self {
            ModelKey::Block(_) => Kind::IPAMBlock,
            ModelKey::Affinity { .. } => Kind::BlockAffinity,
            ModelKey::Handle(_) => Kind::IPAMHandle,
            ModelKey::Config => Kind::IPAMConfiguration,
        }
    }

    /// The resource name of what is stored here.
    pub fn name(&self) -> String {
        match self {
            ModelKey::Block(cidr) => ipam_block_name(cidr),
            ModelKey::Affinity { node, cidr, .. } => block_affinity_name(node, cidr),
            ModelKey::Handle(id) => ipam_handle_name(id),
            ModelKey::Config => IPAM_CONFIGURATION_NAME.to_owned(),
        }
    }

    /// The resource key of what is stored here.
    pub fn resource_key(&self) -> ResourceKey {
        ResourceKey::new(self.kind(), "", self.name())
    }

    /// The etcd key.
    pub fn path(&self) -> String {
        match self {
            ModelKey::Block(cidr) => format!(
                "{BLOCK_PREFIX}{}/block/{}",
                family(cidr),
                cidr_segment(cidr)
            ),
            ModelKey::Affinity {
                affinity_type,
                node,
                cidr,
            } => format!(
                "{IPAM_PREFIX}{}/{node}/{}/block/{}",
                affinity_type.as_str(),
                family(cidr),
                cidr_segment(cidr)
            ),
            ModelKey::Handle(id) => format!("{HANDLE_PREFIX}{id}"),
            ModelKey::Config => CONFIG_KEY.to_owned(),
        }
    }

    /// Parses an etcd key; `None` for keys outside the four layouts (the legacy host
    /// directory `/calico/ipam/v2/host/<node>`, unparsable CIDRs, extra segments, …).
    pub fn parse(path: &str) -> Option<ModelKey> {
        let rest = path.strip_prefix(IPAM_PREFIX)?;
        if rest == "config" {
            return Some(ModelKey::Config);
        }
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return None;
        }
        match segments.as_slice() {
            ["assignment", fam, "block", cidr] => {
                let cidr = parse_cidr_segment(cidr)?;
                (*fam == family(&cidr)).then_some(ModelKey::Block(cidr))
            }
            [kind @ ("host" | "virtual"), node, fam, "block", cidr] => {
                let cidr = parse_cidr_segment(cidr)?;
                let affinity_type = if *kind == "host" {
                    AffinityType::Host
                } else {
                    AffinityType::Virtual
                };
                (*fam == family(&cidr)).then(|| ModelKey::Affinity {
                    affinity_type,
                    node: (*node).to_owned(),
                    cidr,
                })
            }
            ["handle", id] => Some(ModelKey::Handle((*id).to_owned())),
            _ => None,
        }
    }
}

fn family(cidr: &IpNet) -> &'static str {
    match cidr {
        IpNet::V4(_) => "ipv4",
        IpNet::V6(_) => "ipv6",
    }
}

/// The CIDR as a key segment: canonical text with its `/` replaced by `-`.
fn cidr_segment(cidr: &IpNet) -> String {
    cidr.to_string().replacen('/', "-", 1)
}

/// Parses a key segment back (`10.0.0.0-26`, `fd00:10::-122`): the last `-` is the `/`.
/// Only canonical, strictly masked CIDRs are accepted (what Calico writes).
fn parse_cidr_segment(segment: &str) -> Option<IpNet> {
    let (addr, len) = segment.rsplit_once('-')?;
    let cidr = IpNet::from_str(&format!("{addr}/{len}")).ok()?;
    (cidr.trunc() == cidr).then_some(cidr)
}

/// Parses an `IPAMBlock` resource name (`10-244-1-0-26`, `fd00-10---122`) back into its
/// CIDR: five decimal parts make an IPv4 CIDR, anything else is read as IPv6 (last `-` is
/// the `/`, the others `:`). The CIDR must give the same name back.
pub fn parse_block_name(name: &str) -> Option<IpNet> {
    let parts: Vec<&str> = name.split('-').collect();
    let text = if parts.len() == 5
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        format!(
            "{}.{}.{}.{}/{}",
            parts[0], parts[1], parts[2], parts[3], parts[4]
        )
    } else {
        let (addr, len) = name.rsplit_once('-')?;
        format!("{}/{len}", addr.replace('-', ":"))
    };
    let cidr = IpNet::from_str(&text).ok()?;
    (cidr.trunc() == cidr && ipam_block_name(&cidr) == name).then_some(cidr)
}

/// Every key a resource of a model kind named `key.name` could be stored at, most likely
/// first. One key for blocks, handles and the configuration; for affinities every split of
/// the name into `<node>-<block name>` (longest node name first), each as a host and as a
/// virtual affinity. Empty if no key can hold the name.
pub fn candidates(key: &ResourceKey) -> Vec<ModelKey> {
    let name = key.name.as_str();
    match EtcdLayout::of(key.kind) {
        EtcdLayout::Resource => Vec::new(),
        EtcdLayout::Block => parse_block_name(name)
            .map(ModelKey::Block)
            .into_iter()
            .collect(),
        EtcdLayout::Handle => {
            let ok = !name.is_empty() && !name.contains('/') && ipam_handle_name(name) == name;
            if ok {
                vec![ModelKey::Handle(name.to_owned())]
            } else {
                Vec::new()
            }
        }
        EtcdLayout::Config => {
            if name == IPAM_CONFIGURATION_NAME {
                vec![ModelKey::Config]
            } else {
                Vec::new()
            }
        }
        EtcdLayout::Affinity => {
            let mut out = Vec::new();
            for (i, _) in name.match_indices('-').rev() {
                let node = &name[..i];
                if node.is_empty() || node.contains('/') {
                    continue;
                }
                let Some(cidr) = parse_block_name(&name[i + 1..]) else {
                    continue;
                };
                for affinity_type in [AffinityType::Host, AffinityType::Virtual] {
                    out.push(ModelKey::Affinity {
                        affinity_type,
                        node: node.to_owned(),
                        cidr,
                    });
                }
            }
            out
        }
    }
}

// ------------------------------------------------------------------------------------------
// Values
// ------------------------------------------------------------------------------------------

/// Accepts JSON `null` (Go's nil slices and maps) as the empty value.
fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// libcalico-go's `AllocationBlock`.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct BlockValue {
    cidr: String,
    /// Go `*string` without `omitempty`: `null` when unset.
    #[serde(default)]
    affinity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    affinity_claim_time: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    allocations: Vec<Option<i64>>,
    #[serde(default, deserialize_with = "null_as_default")]
    unallocated: Vec<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    attributes: Vec<AttributeValue>,
    #[serde(rename = "sequenceNumber", default)]
    sequence_number: u64,
    #[serde(
        rename = "sequenceNumberForAllocation",
        default,
        deserialize_with = "null_as_default"
    )]
    sequence_number_for_allocation: BTreeMap<String, u64>,
    #[serde(default)]
    deleted: bool,
    /// Deprecated predecessor of `affinity` (a bare host name); read only.
    #[serde(
        rename = "hostAffinity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    host_affinity: Option<String>,
    /// Not in Calico's model: the CRD's deprecated field, written only when set so that it
    /// round-trips (Go ignores it).
    #[serde(rename = "strictAffinity", default, skip_serializing_if = "is_false")]
    strict_affinity: bool,
}

/// libcalico-go's `AllocationAttribute`.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct AttributeValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    handle_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    secondary: BTreeMap<String, String>,
    #[serde(
        rename = "alternateOwnerAttrs",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    alternate_owner_attrs: BTreeMap<String, String>,
    #[serde(
        rename = "releasedAt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    released_at: Option<String>,
}

/// libcalico-go's `BlockAffinity`.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct AffinityValue {
    #[serde(default)]
    state: BlockAffinityState,
    #[serde(default)]
    deleted: bool,
}

/// libcalico-go's `IPAMHandle`.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct HandleValue {
    #[serde(default, deserialize_with = "null_as_default")]
    block: BTreeMap<String, i64>,
    #[serde(default)]
    deleted: bool,
}

/// libcalico-go's `IPAMConfig`.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct ConfigValue {
    #[serde(default)]
    strict_affinity: bool,
    #[serde(default)]
    auto_allocate_blocks: bool,
    #[serde(rename = "maxBlocksPerHost", default, skip_serializing_if = "is_zero")]
    max_blocks_per_host: i32,
    #[serde(rename = "ipCooldownSeconds", default, skip_serializing_if = "is_zero")]
    ip_cooldown_seconds: i32,
    #[serde(
        rename = "kubeVirtVMAddressPersistence",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kube_virt_vm_address_persistence: Option<VMAddressPersistence>,
}

fn to_json<T: Serialize>(v: &T) -> String {
    // These values have string map keys only: serialising cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

fn block_value(spec: &IPAMBlockSpec, cidr: &IpNet) -> BlockValue {
    BlockValue {
        cidr: cidr.to_string(),
        affinity: spec.affinity.clone(),
        affinity_claim_time: spec.affinity_claim_time.clone(),
        allocations: spec.allocations.clone(),
        unallocated: spec.unallocated.clone(),
        attributes: spec
            .attributes
            .iter()
            .map(|a| AttributeValue {
                handle_id: a.handle_id.clone(),
                secondary: a.active_owner_attrs.clone(),
                alternate_owner_attrs: a.alternate_owner_attrs.clone(),
                released_at: a.released_at.clone(),
            })
            .collect(),
        sequence_number: spec.sequence_number,
        sequence_number_for_allocation: spec.sequence_number_for_allocation.clone(),
        deleted: spec.deleted,
        host_affinity: None,
        strict_affinity: spec.deprecated_strict_affinity,
    }
}

fn block_spec(v: BlockValue) -> IPAMBlockSpec {
    let affinity = v
        .affinity
        .or_else(|| v.host_affinity.map(|h| format!("host:{h}")));
    IPAMBlockSpec {
        cidr: v.cidr,
        affinity,
        affinity_claim_time: v.affinity_claim_time,
        allocations: v.allocations,
        unallocated: v.unallocated,
        attributes: v
            .attributes
            .into_iter()
            .map(|a| AllocationAttribute {
                handle_id: a.handle_id,
                active_owner_attrs: a.secondary,
                alternate_owner_attrs: a.alternate_owner_attrs,
                released_at: a.released_at,
            })
            .collect(),
        sequence_number: v.sequence_number,
        sequence_number_for_allocation: v.sequence_number_for_allocation,
        deleted: v.deleted,
        deprecated_strict_affinity: v.strict_affinity,
    }
}

fn config_value(spec: &IPAMConfigurationSpec) -> ConfigValue {
    ConfigValue {
        strict_affinity: spec.strict_affinity,
        auto_allocate_blocks: spec.auto_allocate_blocks_or_default(),
        max_blocks_per_host: spec.max_blocks_per_host,
        ip_cooldown_seconds: spec.ip_cooldown_seconds.unwrap_or(0),
        kube_virt_vm_address_persistence: spec.kube_virt_vm_address_persistence,
    }
}

fn config_spec(v: ConfigValue) -> IPAMConfigurationSpec {
    IPAMConfigurationSpec {
        strict_affinity: v.strict_affinity,
        max_blocks_per_host: v.max_blocks_per_host,
        // Absent in Calico's JSON means false (the bools are `omitempty` in Go).
        auto_allocate_blocks: Some(v.auto_allocate_blocks),
        kube_virt_vm_address_persistence: v.kube_virt_vm_address_persistence,
        ip_cooldown_seconds: (v.ip_cooldown_seconds != 0).then_some(v.ip_cooldown_seconds),
    }
}

/// Parses a CIDR that must be written canonically (as Calico writes keys and values).
fn canonical_cidr(key: &ResourceKey, field: &str, text: &str) -> Result<IpNet> {
    match IpNet::from_str(text) {
        Ok(cidr) if cidr.trunc() == cidr && cidr.to_string() == text => Ok(cidr),
        Ok(cidr) => Err(Error::invalid(
            key,
            field,
            format!(
                "{text:?} must be written as the canonical, strictly masked CIDR {:?} to be stored in etcd",
                cidr.trunc().to_string()
            ),
        )),
        Err(_) => Err(Error::invalid(
            key,
            field,
            format!("{text:?} is not a CIDR"),
        )),
    }
}

/// Where and what to write for a model kind: the etcd key and the model value, from the
/// v3 JSON [`crate::KvStore`] encoded. [`Error::Invalid`] if the object cannot be stored in
/// Calico's layout (labels or annotations, a name that is not the one its spec implies).
pub fn write_target(key: &ResourceKey, v3_json: &str) -> Result<(ModelKey, String)> {
    let value: serde_json::Value = serde_json::from_str(v3_json)
        .map_err(|e| Error::invalid(key, "", format!("not JSON: {e}")))?;
    let resource = Resource::from_value(key.kind, &value)
        .map_err(|e| Error::invalid(key, &e.path().to_string(), e.inner().to_string()))?;
    let meta = resource.metadata();
    let unstorable = "Calico's etcd layout for IPAM objects stores no metadata; remove them";
    if !meta.labels.is_empty() {
        return Err(Error::invalid(key, "metadata.labels", unstorable));
    }
    if !meta.annotations.is_empty() {
        return Err(Error::invalid(key, "metadata.annotations", unstorable));
    }
    let (model_key, value) = match &resource {
        Resource::IPAMBlock(b) => {
            let cidr = canonical_cidr(key, "spec.cidr", &b.spec.cidr)?;
            (ModelKey::Block(cidr), to_json(&block_value(&b.spec, &cidr)))
        }
        Resource::BlockAffinity(a) => {
            let cidr = canonical_cidr(key, "spec.cidr", &a.spec.cidr)?;
            let affinity_type = match a.spec.type_.as_str() {
                "" | "host" => AffinityType::Host,
                "virtual" => AffinityType::Virtual,
                other => {
                    return Err(Error::invalid(
                        key,
                        "spec.type",
                        format!("{other:?} is neither host nor virtual"),
                    ));
                }
            };
            if a.spec.node.is_empty() || a.spec.node.contains('/') {
                return Err(Error::invalid(
                    key,
                    "spec.node",
                    "must be non-empty and free of '/' to form an etcd key",
                ));
            }
            let value = AffinityValue {
                state: a.spec.state,
                deleted: a.spec.deleted,
            };
            let model_key = ModelKey::Affinity {
                affinity_type,
                node: a.spec.node.clone(),
                cidr,
            };
            (model_key, to_json(&value))
        }
        Resource::IPAMHandle(h) => {
            let id = &h.spec.handle_id;
            if id.is_empty() || id.contains('/') {
                return Err(Error::invalid(
                    key,
                    "spec.handleID",
                    "must be non-empty and free of '/' to form an etcd key",
                ));
            }
            let value = HandleValue {
                block: h.spec.block.clone(),
                deleted: h.spec.deleted,
            };
            (ModelKey::Handle(id.clone()), to_json(&value))
        }
        Resource::IPAMConfiguration(c) => (ModelKey::Config, to_json(&config_value(&c.spec))),
        _ => {
            return Err(Error::invalid(
                key,
                "kind",
                "not stored in Calico's IPAM layout",
            ));
        }
    };
    let implied = model_key.name();
    if implied != key.name {
        return Err(Error::invalid(
            key,
            "metadata.name",
            format!("Calico's etcd layout names this object {implied:?} (from its spec)"),
        ));
    }
    Ok((model_key, value))
}

/// The v3 object stored at `model_key` with model value `value` (an empty value reads as
/// `{}`), as the JSON [`crate::KvStore`] decodes. `create_revision` makes the `uid`.
pub fn decode(
    model_key: &ModelKey,
    value: &[u8],
    create_revision: i64,
) -> std::result::Result<String, String> {
    let value: &[u8] = if value.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        value
    };
    let path = model_key.path();
    let meta = ObjectMeta {
        uid: derived_uid(&path, create_revision),
        ..ObjectMeta::named(model_key.name())
    };
    let parse_err = |e: serde_json::Error| format!("not a Calico {} value: {e}", model_key.kind());
    let resource: Resource = match model_key {
        ModelKey::Block(_) => {
            let v: BlockValue = serde_json::from_slice(value).map_err(parse_err)?;
            IPAMBlock::new(meta, block_spec(v)).into()
        }
        ModelKey::Affinity {
            affinity_type,
            node,
            cidr,
        } => {
            let v: AffinityValue = serde_json::from_slice(value).map_err(parse_err)?;
            let spec = BlockAffinitySpec {
                state: v.state,
                node: node.clone(),
                type_: affinity_type.as_str().to_owned(),
                cidr: cidr.to_string(),
                deleted: v.deleted,
            };
            BlockAffinity::new(meta, spec).into()
        }
        ModelKey::Handle(id) => {
            let v: HandleValue = serde_json::from_slice(value).map_err(parse_err)?;
            let spec = IPAMHandleSpec {
                handle_id: id.clone(),
                block: v.block,
                deleted: v.deleted,
            };
            IPAMHandle::new(meta, spec).into()
        }
        ModelKey::Config => {
            let v: ConfigValue = serde_json::from_slice(value).map_err(parse_err)?;
            IPAMConfiguration::new(meta, config_spec(v)).into()
        }
    };
    Ok(to_json(&resource))
}

/// A stable UUID-shaped identifier of one incarnation of a key (FNV-1a, 128 bits): the same
/// key re-created gets another.
fn derived_uid(path: &str, create_revision: i64) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut h = OFFSET;
    for b in path.bytes().chain([0]).chain(create_revision.to_be_bytes()) {
        h ^= u128::from(b);
        h = h.wrapping_mul(PRIME);
    }
    let hex = format!("{h:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests;
