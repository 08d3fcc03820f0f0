//! IP pools, reservations and the IPAM kinds: `IPPool`, `IPReservation`,
//! `IPAMConfiguration`, and the IPAM-internal `IPAMBlock`, `BlockAffinity` and `IPAMHandle`
//! (written by Calico IPAM, rarely by users), plus the Kubernetes-datastore name helpers for
//! the internal kinds.

use std::collections::BTreeMap;
use std::str::FromStr;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use crate::meta::Condition;
use crate::resource::{
    BlockAffinity, IPAMBlock, IPAMConfiguration, IPAMHandle, IPPool, IPReservation,
};
use crate::resource::{ResourceKind, validate_common_meta};
use crate::validation::{NetKind, Path, Validate, Validator, check_net};

/// Accepts JSON `null` (which Go writes for nil slices and maps) as the empty value.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reports `s` unless it is in CIDR notation (`addr/len`, host bits allowed), as the CRD
/// `format: cidr` requires.
fn check_cidr_notation(v: &mut Validator, path: &Path, s: &str) -> Option<IpNet> {
    if s.is_empty() {
        v.report(path, "CIDR must be specified");
        return None;
    }
    check_net(v, path, s, NetKind::CidrNotation)
}

// ------------------------------------------------------------------------------------------
// IPPool
// ------------------------------------------------------------------------------------------

/// Default block size (prefix length) of IPv4 pools.
pub const DEFAULT_IPV4_BLOCK_SIZE: i64 = 26;
/// Default block size (prefix length) of IPv6 pools.
pub const DEFAULT_IPV6_BLOCK_SIZE: i64 = 122;

/// VXLAN encapsulation mode of an IP pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum VXLANMode {
    /// No VXLAN encapsulation (the default).
    #[default]
    Never,
    /// Encapsulate all traffic to workloads in the pool.
    Always,
    /// Encapsulate only traffic that crosses a subnet boundary.
    CrossSubnet,
}

/// IP-in-IP encapsulation mode of an IP pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum IPIPMode {
    /// No IP-in-IP encapsulation (the default).
    #[default]
    Never,
    /// Encapsulate all traffic to workloads in the pool.
    Always,
    /// Encapsulate only traffic that crosses a subnet boundary.
    CrossSubnet,
}

/// What addresses from an IP pool may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum IPPoolAllowedUse {
    /// Pod / VM addresses.
    Workload,
    /// Tunnel (IPIP, VXLAN, WireGuard) device addresses of nodes.
    Tunnel,
    /// Service `LoadBalancer` addresses (assigned by kube-controllers).
    LoadBalancer,
}

/// How addresses are handed out from an IP pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AssignmentMode {
    /// The pool is used by automatic assignment (the default).
    #[default]
    Automatic,
    /// The pool is used only when explicitly requested (by name or CIDR).
    Manual,
}

/// Desired state of an `IPPool`: a CIDR that Calico IPAM hands addresses out of, in blocks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPPoolSpec {
    /// The pool CIDR, strictly masked (`10.0.0.0/16`, not `10.0.0.1/16`). Required.
    #[serde(default)]
    pub cidr: String,
    /// VXLAN mode. Defaulted to `Never`.
    #[serde(rename = "vxlanMode", default, skip_serializing_if = "Option::is_none")]
    pub vxlan_mode: Option<VXLANMode>,
    /// IP-in-IP mode (must be `Never` for IPv6 pools). Defaulted to `Never`.
    #[serde(rename = "ipipMode", default, skip_serializing_if = "Option::is_none")]
    pub ipip_mode: Option<IPIPMode>,
    /// Masquerade traffic from the pool to destinations outside all pools.
    #[serde(default, skip_serializing_if = "crate::util::is_false")]
    pub nat_outgoing: bool,
    /// No new allocations from the pool.
    #[serde(default, skip_serializing_if = "crate::util::is_false")]
    pub disabled: bool,
    /// Do not advertise the pool CIDR over BGP.
    #[serde(
        rename = "disableBGPExport",
        default,
        skip_serializing_if = "crate::util::is_false"
    )]
    pub disable_bgp_export: bool,
    /// Block prefix length: IPv4 20–32 (default 26), IPv6 116–128 (default 122).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub block_size: i64,
    /// Selects the nodes that may use the pool. Defaulted to `all()`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_selector: String,
    /// Selects the namespaces whose pods may use the pool (both selectors must match).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace_selector: String,
    /// What the pool may be used for (a set). Defaulted to `[Workload, Tunnel]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_uses: Vec<IPPoolAllowedUse>,
    /// Automatic or manual assignment. Defaulted to `Automatic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_mode: Option<AssignmentMode>,
}

/// Observed state of an `IPPool`, written by Calico.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPPoolStatus {
    /// Conditions; type `Allocatable` with reason `OK`, `CIDROverlap`, `Terminating` or
    /// `PoolDisabled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Condition type Calico sets on IP pools.
pub const IPPOOL_CONDITION_ALLOCATABLE: &str = "Allocatable";

impl IPPoolSpec {
    /// The pool CIDR parsed (CIDR notation required, as Calico's client requires); `None` if
    /// it does not parse. Host bits are kept as written.
    pub fn cidr_net(&self) -> Option<IpNet> {
        IpNet::from_str(&self.cidr).ok()
    }

    /// `blockSize`, or the family default (26 for IPv4, 122 for IPv6) when it is 0. A pool
    /// whose CIDR does not parse is treated as IPv4.
    pub fn block_size_or_default(&self) -> i64 {
        if self.block_size != 0 {
            self.block_size
        } else if matches!(self.cidr_net(), Some(IpNet::V6(_))) {
            DEFAULT_IPV6_BLOCK_SIZE
        } else {
            DEFAULT_IPV4_BLOCK_SIZE
        }
    }

    /// True if the pool may be used for `use_`; an empty `allowedUses` means
    /// `[Workload, Tunnel]`.
    pub fn allows(&self, use_: IPPoolAllowedUse) -> bool {
        if self.allowed_uses.is_empty() {
            matches!(use_, IPPoolAllowedUse::Workload | IPPoolAllowedUse::Tunnel)
        } else {
            self.allowed_uses.contains(&use_)
        }
    }

    fn ipip_enabled(&self) -> bool {
        matches!(
            self.ipip_mode,
            Some(IPIPMode::Always | IPIPMode::CrossSubnet)
        )
    }

    fn vxlan_enabled(&self) -> bool {
        matches!(
            self.vxlan_mode,
            Some(VXLANMode::Always | VXLANMode::CrossSubnet)
        )
    }
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Validate for IPPoolSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        let cidr_path = path.field("cidr");
        let bs_path = path.field("blockSize");
        let mut net = None;
        if self.cidr.is_empty() {
            v.report(&cidr_path, "IPPool CIDR must be specified");
        } else {
            v.max_len(&cidr_path, &self.cidr, 48);
            match IpNet::from_str(&self.cidr) {
                Err(_) => v.report(
                    &cidr_path,
                    format!(
                        "IPPool CIDR must be a valid subnet in CIDR notation (e.g. 10.0.0.0/16), got {:?}",
                        self.cidr
                    ),
                ),
                Ok(n) => net = Some(n),
            }
        }
        if let Some(n) = net {
            if n.trunc() != n {
                v.report(
                    &cidr_path,
                    format!(
                        "IP pool CIDR is not strictly masked (did you mean {}?)",
                        n.trunc()
                    ),
                );
            }
            let link_local = match n {
                IpNet::V4(_) => ("169.254.0.0/16", "IPv4"),
                IpNet::V6(_) => ("fe80::/10", "IPv6"),
            };
            if let Ok(ll) = IpNet::from_str(link_local.0)
                && overlaps(&n, &ll)
            {
                v.report(
                    &cidr_path,
                    format!(
                        "IP pool range overlaps with {} Link Local range {}",
                        link_local.1, link_local.0
                    ),
                );
            }
            let bs = self.block_size_or_default();
            let block_ok = match n {
                IpNet::V4(_) => (20..=32).contains(&bs),
                IpNet::V6(_) => (116..=128).contains(&bs),
            };
            if !block_ok {
                let reason = match n {
                    IpNet::V4(_) => "IPv4 block size must be between 20 and 32",
                    IpNet::V6(_) => "IPv6 block size must be between 116 and 128",
                };
                v.report(&bs_path, format!("{reason}, got {bs}"));
            } else if !self.disabled && i64::from(n.prefix_len()) > bs {
                v.report(
                    &cidr_path,
                    format!(
                        "IP pool size is too small for use with Calico IPAM: the pool prefix length (/{}) must be equal to or less than the block size ({bs}), unless the pool is disabled",
                        n.prefix_len()
                    ),
                );
            }
            if matches!(n, IpNet::V6(_)) && self.ipip_enabled() {
                v.report(
                    &path.field("ipipMode"),
                    "IPIP is not supported on an IPv6 IP pool: ipipMode must be Never",
                );
            }
        } else if self.block_size < 0 || self.block_size > 128 {
            v.range(&bs_path, self.block_size, 0, 128);
        }

        if self.ipip_enabled() && self.vxlan_enabled() {
            v.report(
                &path.field("vxlanMode"),
                "cannot enable both VXLAN and IPIP on the same IP pool",
            );
        }

        let uses_path = path.field("allowedUses");
        v.unique(&uses_path, &self.allowed_uses);
        let load_balancer = self.allowed_uses.contains(&IPPoolAllowedUse::LoadBalancer);
        if load_balancer {
            for u in &self.allowed_uses {
                if *u != IPPoolAllowedUse::LoadBalancer {
                    v.report(
                        &uses_path,
                        format!("LoadBalancer cannot be used at the same time as: {u:?}"),
                    );
                }
            }
            if self.ipip_enabled() {
                v.report(
                    &path.field("ipipMode"),
                    "neither IPIP nor VXLAN can be enabled on an IP pool with allowedUses LoadBalancer",
                );
            }
            if self.vxlan_enabled() {
                v.report(
                    &path.field("vxlanMode"),
                    "neither IPIP nor VXLAN can be enabled on an IP pool with allowedUses LoadBalancer",
                );
            }
            if self.disable_bgp_export {
                v.report(
                    &path.field("disableBGPExport"),
                    "an IP pool with allowedUses LoadBalancer must not set disableBGPExport",
                );
            }
            if !(self.node_selector.is_empty() || self.node_selector == "all()") {
                v.report(
                    &path.field("nodeSelector"),
                    "an IP pool with allowedUses LoadBalancer must have nodeSelector all()",
                );
            }
        }
        if !self.namespace_selector.is_empty()
            && self.allowed_uses.contains(&IPPoolAllowedUse::Tunnel)
        {
            v.report(
                &path.field("namespaceSelector"),
                "namespaceSelector cannot be used on an IP pool whose allowedUses include Tunnel",
            );
        }
        v.selector_no_global(&path.field("nodeSelector"), &self.node_selector);
        v.selector_no_global(&path.field("namespaceSelector"), &self.namespace_selector);
    }
}

impl ResourceKind for IPPool {
    /// Calico's client defaults (`validateAndSetDefaults`; the same defaults are applied when
    /// reading a pool back) plus the CRD default:
    /// - `cidr` is rewritten to its canonical text (`fd00:0::0/48` → `fd00::/48`) when it
    ///   parses and is strictly masked. Calico normalises the text before validating but
    ///   still rejects a CIDR with host bits set, so a non-strict CIDR is left as written
    ///   for validation to report;
    /// - `nodeSelector` empty → `all()`;
    /// - `blockSize` 0 → 26 for an IPv4 CIDR, 122 for an IPv6 CIDR;
    /// - `allowedUses` empty → `[Workload, Tunnel]`;
    /// - `assignmentMode` unset → `Automatic` (also the CRD default);
    /// - `ipipMode` and `vxlanMode` unset → `Never`.
    fn apply_defaults(&mut self) {
        let s = &mut self.spec;
        if let Some(n) = s.cidr_net()
            && n.trunc() == n
        {
            s.cidr = n.to_string();
        }
        if s.node_selector.is_empty() {
            s.node_selector = "all()".to_owned();
        }
        if s.block_size == 0
            && let Some(n) = s.cidr_net()
        {
            s.block_size = match n {
                IpNet::V4(_) => DEFAULT_IPV4_BLOCK_SIZE,
                IpNet::V6(_) => DEFAULT_IPV6_BLOCK_SIZE,
            };
        }
        if s.allowed_uses.is_empty() {
            s.allowed_uses = vec![IPPoolAllowedUse::Workload, IPPoolAllowedUse::Tunnel];
        }
        s.assignment_mode.get_or_insert(AssignmentMode::Automatic);
        s.ipip_mode.get_or_insert(IPIPMode::Never);
        s.vxlan_mode.get_or_insert(VXLANMode::Never);
    }

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        self.spec.validate_into(&Path::new("spec"), v);
    }
}

// ------------------------------------------------------------------------------------------
// IPReservation
// ------------------------------------------------------------------------------------------

/// Desired state of an `IPReservation`: addresses Calico IPAM must not hand out (existing
/// allocations are not released).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPReservationSpec {
    /// Reserved CIDRs (host bits allowed) and/or bare addresses. A set.
    #[serde(
        rename = "reservedCIDRs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub reserved_cidrs: Vec<String>,
}

impl IPReservationSpec {
    /// The reserved networks parsed (bare addresses become `/32` or `/128`), skipping
    /// entries that do not parse.
    pub fn reserved_nets(&self) -> Vec<IpNet> {
        self.reserved_cidrs
            .iter()
            .filter_map(|s| crate::scalar::parse_cidr_or_ip(s).ok())
            .collect()
    }
}

impl Validate for IPReservationSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        let p = path.field("reservedCIDRs");
        for (i, c) in self.reserved_cidrs.iter().enumerate() {
            check_net(v, &p.index(i), c, NetKind::Cidr);
        }
        v.unique(&p, &self.reserved_cidrs);
    }
}

impl ResourceKind for IPReservation {
    /// Calico defines no defaults for IP reservations.
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        self.spec.validate_into(&Path::new("spec"), v);
    }
}

// ------------------------------------------------------------------------------------------
// IPAMConfiguration
// ------------------------------------------------------------------------------------------

/// Whether KubeVirt VMs keep their addresses across pod re-creation and live migration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum VMAddressPersistence {
    /// Addresses follow the VM (Calico's behaviour when unset).
    #[default]
    Enabled,
    /// VMs get new addresses like ordinary pods; live migration is refused.
    Disabled,
}

/// The name the single `IPAMConfiguration` must have.
pub const IPAM_CONFIGURATION_NAME: &str = "default";

/// Desired state of the cluster's `IPAMConfiguration` (a single instance named `default`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPAMConfigurationSpec {
    /// Never borrow addresses from blocks affine to other hosts. Default false.
    #[serde(default)]
    pub strict_affinity: bool,
    /// Maximum number of blocks affine to one host, 0–1000000 (0 = Calico's built-in limit).
    #[serde(default, skip_serializing_if = "crate::util::is_default")]
    pub max_blocks_per_host: i32,
    /// Claim new blocks for hosts automatically. Defaulted to true. (Calico's Go type is a
    /// plain bool that it always writes; the field is optional here so that an omitted value
    /// can be defaulted to true as the CRD does.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_allocate_blocks: Option<bool>,
    /// KubeVirt VM address persistence; unset means `Enabled`.
    #[serde(
        rename = "kubeVirtVMAddressPersistence",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kube_virt_vm_address_persistence: Option<VMAddressPersistence>,
    /// Seconds a released address stays unusable before reuse, 0–1200 (unset = 0).
    #[serde(
        rename = "ipCooldownSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_cooldown_seconds: Option<i32>,
}

impl IPAMConfigurationSpec {
    /// `autoAllocateBlocks`, true when unset.
    pub fn auto_allocate_blocks_or_default(&self) -> bool {
        self.auto_allocate_blocks.unwrap_or(true)
    }

    /// The effective KubeVirt address persistence (`Enabled` when unset).
    pub fn vm_address_persistence(&self) -> VMAddressPersistence {
        self.kube_virt_vm_address_persistence.unwrap_or_default()
    }
}

impl Validate for IPAMConfigurationSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        let p = path.field("maxBlocksPerHost");
        if self.max_blocks_per_host < 0 {
            v.report(&p, "must be greater than or equal to 0");
        } else {
            v.range(&p, self.max_blocks_per_host, 0, 1_000_000);
        }
        if let Some(s) = self.ip_cooldown_seconds {
            v.range(&path.field("ipCooldownSeconds"), s, 0, 1200);
        }
    }
}

impl ResourceKind for IPAMConfiguration {
    /// CRD defaults: `autoAllocateBlocks` → true when unset (`strictAffinity` false and
    /// `maxBlocksPerHost` 0 are the zero values already). `kubeVirtVMAddressPersistence` is
    /// left unset: Calico treats unset as `Enabled` when it uses the value but does not write
    /// it.
    fn apply_defaults(&mut self) {
        self.spec.auto_allocate_blocks.get_or_insert(true);
    }

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        let name = &self.metadata.name;
        if !name.is_empty() && name != IPAM_CONFIGURATION_NAME {
            v.report(
                &Path::new("metadata").field("name"),
                format!("IPAMConfiguration must be named \"default\", got {name:?}"),
            );
        }
        self.spec.validate_into(&Path::new("spec"), v);
    }
}

// ------------------------------------------------------------------------------------------
// IPAMBlock
// ------------------------------------------------------------------------------------------

/// Metadata shared by one or more allocations of an IPAM block.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationAttribute {
    /// The handle that owns the allocations.
    #[serde(rename = "handle_id", default, skip_serializing_if = "Option::is_none")]
    pub handle_id: Option<String>,
    /// Attributes of the active owner (e.g. `namespace`, `node`, `pod`, `timestamp`).
    #[serde(
        rename = "secondary",
        default,
        skip_serializing_if = "crate::util::is_empty_map"
    )]
    pub active_owner_attrs: BTreeMap<String, String>,
    /// Attributes of the alternate owner (the other pod during a live migration).
    #[serde(
        rename = "alternateOwnerAttrs",
        default,
        skip_serializing_if = "crate::util::is_empty_map"
    )]
    pub alternate_owner_attrs: BTreeMap<String, String>,
    /// When the address was released (it is in cooldown until reused); RFC 3339.
    #[serde(
        rename = "releasedAt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub released_at: Option<String>,
}

/// Desired state of an `IPAMBlock`: one block-sized slice of a pool and every allocation in
/// it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPAMBlockSpec {
    /// The block CIDR.
    #[serde(default)]
    pub cidr: String,
    /// `host:<node>` or `virtual:<name>`; unset when the block has no affinity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<String>,
    /// When the affinity was claimed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity_claim_time: Option<String>,
    /// One entry per address of the block: `null` if free, else an index into `attributes`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub allocations: Vec<Option<i64>>,
    /// Free ordinals, in the order they will be handed out.
    #[serde(default, deserialize_with = "null_as_default")]
    pub unallocated: Vec<i64>,
    /// Attribute records referenced by `allocations`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: Vec<AllocationAttribute>,
    /// Bumped on every write of the block.
    #[serde(default)]
    pub sequence_number: u64,
    /// Ordinal (as a decimal string) → block sequence number when it was allocated.
    #[serde(default, deserialize_with = "null_as_default")]
    pub sequence_number_for_allocation: BTreeMap<String, u64>,
    /// Soft-delete marker used by the Kubernetes datastore; not to be set by hand.
    #[serde(default)]
    pub deleted: bool,
    /// Deprecated and unused (see `IPAMConfiguration.strictAffinity`).
    #[serde(rename = "strictAffinity", default)]
    pub deprecated_strict_affinity: bool,
}

/// True for `host:<name>` / `virtual:<name>` with `<name>` of `[a-zA-Z0-9._-]+`.
fn is_valid_block_affinity(s: &str) -> bool {
    let rest = s
        .strip_prefix("host:")
        .or_else(|| s.strip_prefix("virtual:"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && r.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
    })
}

impl Validate for IPAMBlockSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        check_cidr_notation(v, &path.field("cidr"), &self.cidr);
        if let Some(a) = &self.affinity
            && !is_valid_block_affinity(a)
        {
            v.report(
                &path.field("affinity"),
                format!("invalid affinity {a:?}: must match ^(host|virtual):[a-zA-Z0-9\\.\\-_]+$"),
            );
        }
    }
}

impl ResourceKind for IPAMBlock {
    /// No defaults beyond the zero values (`sequenceNumber` 0).
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        self.spec.validate_into(&Path::new("spec"), v);
    }
}

// ------------------------------------------------------------------------------------------
// BlockAffinity
// ------------------------------------------------------------------------------------------

/// State of a block affinity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BlockAffinityState {
    /// Unset (very old data); treated as confirmed.
    #[default]
    #[serde(rename = "")]
    Unset,
    /// The host owns the block.
    #[serde(rename = "confirmed")]
    Confirmed,
    /// A claim is in progress; treat as absent.
    #[serde(rename = "pending")]
    Pending,
    /// The affinity is being released.
    #[serde(rename = "pendingDeletion")]
    PendingDeletion,
}

/// Desired state of a `BlockAffinity`: "host (or virtual owner) X owns block B".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlockAffinitySpec {
    /// Claim state.
    #[serde(default)]
    pub state: BlockAffinityState,
    /// The node (or virtual owner) the block is affine to.
    #[serde(default)]
    pub node: String,
    /// Affinity type: `host` (the default when empty) or `virtual`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// The block CIDR.
    #[serde(default)]
    pub cidr: String,
    /// Soft-delete marker used by the Kubernetes datastore; must not be set through the API.
    #[serde(default)]
    pub deleted: bool,
}

impl Validate for BlockAffinitySpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        v.one_of(&path.field("type"), &self.type_, &["host", "virtual"], true);
        check_cidr_notation(v, &path.field("cidr"), &self.cidr);
        if self.deleted {
            v.report(
                &path.field("deleted"),
                "spec.deleted cannot be set to \"true\"",
            );
        }
    }
}

impl ResourceKind for BlockAffinity {
    /// CRD default `deleted: false` is the zero value; nothing else is defaulted.
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        self.spec.validate_into(&Path::new("spec"), v);
    }
}

// ------------------------------------------------------------------------------------------
// IPAMHandle
// ------------------------------------------------------------------------------------------

/// Desired state of an `IPAMHandle`: which blocks hold addresses for one handle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPAMHandleSpec {
    /// The handle ID (e.g. `k8s-pod-network.<container id>`), in its original case.
    #[serde(rename = "handleID", default)]
    pub handle_id: String,
    /// Block CIDR → number of addresses the handle holds in it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub block: BTreeMap<String, i64>,
    /// Soft-delete marker used by the Kubernetes datastore.
    #[serde(default)]
    pub deleted: bool,
}

impl ResourceKind for IPAMHandle {
    /// Calico defines no defaults for IPAM handles.
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
    }
}

// ------------------------------------------------------------------------------------------
// Kubernetes-datastore names of the IPAM objects
// ------------------------------------------------------------------------------------------

/// A CIDR as a resource name: its canonical text with `.`, `:` and `/` replaced by `-`
/// (`10.244.1.0/26` → `10-244-1-0-26`, `fd00:10::/122` → `fd00-10---122`).
fn cidr_to_name(cidr: &IpNet) -> String {
    cidr.to_string().replace(['.', ':', '/'], "-")
}

/// The `IPAMBlock` name Calico's Kubernetes datastore uses for a block CIDR.
///
/// ```
/// use calico_model::ipam_block_name;
/// assert_eq!(ipam_block_name(&"10.244.1.0/26".parse().unwrap()), "10-244-1-0-26");
/// ```
pub fn ipam_block_name(cidr: &IpNet) -> String {
    cidr_to_name(cidr)
}

/// The `BlockAffinity` name Calico's Kubernetes datastore uses: `<host>-<cidr name>`. When
/// that would be 253 characters or more, the host part is cut so that, followed by `-`, the
/// CIDR name, `-` and the first 11 hex digits of SHA-256(`<host>+<cidr name>`), the name is
/// 252 characters long.
pub fn block_affinity_name(host: &str, cidr: &IpNet) -> String {
    let cidr_name = cidr_to_name(cidr);
    let name = format!("{host}-{cidr_name}");
    if name.len() < 253 {
        return name;
    }
    let mut keep = 252usize
        .saturating_sub(cidr_name.len() + 13)
        .min(host.len());
    while !host.is_char_boundary(keep) {
        keep -= 1;
    }
    let digest = Sha256::digest(format!("{host}+{cidr_name}").as_bytes());
    let hash: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{cidr_name}-{}", &host[..keep], &hash[..11])
}

/// The `IPAMHandle` name Calico's Kubernetes datastore uses: the handle ID lower-cased.
pub fn ipam_handle_name(handle_id: &str) -> String {
    handle_id.to_lowercase()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::resource::Resource;

    use crate::testutil::{run, yaml_round_trip as assert_round_trip};

    fn assert_ok(yaml: &str) {
        let (_, res) = run(yaml);
        assert!(res.is_ok(), "expected valid, got {res:?}");
    }

    fn assert_err(yaml: &str, path: &str) {
        let (_, res) = run(yaml);
        let err = res.expect_err("expected a validation error");
        assert!(
            err.has_path(path),
            "expected a problem at {path}, got: {err}"
        );
    }

    fn pool(spec: &str) -> String {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: pool1\nspec:\n{spec}"
        )
    }

    fn pool_spec(yaml: &str) -> IPPoolSpec {
        let (r, _) = run(yaml);
        let Resource::IPPool(p) = r else {
            panic!("kind")
        };
        p.spec
    }

    const POOL_FULL: &str = r#"apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv4-ippool
  labels:
    tier: production
spec:
  cidr: 10.244.0.0/16
  vxlanMode: CrossSubnet
  ipipMode: Never
  natOutgoing: true
  disableBGPExport: true
  blockSize: 24
  nodeSelector: kubernetes.io/os == 'linux'
  namespaceSelector: team == 'blue'
  allowedUses:
    - Workload
  assignmentMode: Manual
status:
  conditions:
    - type: Allocatable
      status: "True"
      reason: OK
      message: IPPool is available for IP allocation.
      lastTransitionTime: "2026-01-02T03:04:05Z"
"#;

    #[test]
    fn ippool_full_manifest() {
        assert_ok(POOL_FULL);
        assert_round_trip(POOL_FULL);
        let s = pool_spec(POOL_FULL);
        assert_eq!(s.block_size, 24);
        assert_eq!(s.assignment_mode, Some(AssignmentMode::Manual));
    }

    #[test]
    fn ippool_defaults() {
        let s = pool_spec(&pool("  cidr: 192.168.0.0/16\n"));
        assert_eq!(s.block_size, 26);
        assert_eq!(s.node_selector, "all()");
        assert_eq!(
            s.allowed_uses,
            vec![IPPoolAllowedUse::Workload, IPPoolAllowedUse::Tunnel]
        );
        assert_eq!(s.assignment_mode, Some(AssignmentMode::Automatic));
        assert_eq!(s.ipip_mode, Some(IPIPMode::Never));
        assert_eq!(s.vxlan_mode, Some(VXLANMode::Never));
        let s6 = pool_spec(&pool("  cidr: 'fd00:0:0::/48'\n"));
        assert_eq!(s6.block_size, 122);
        assert_eq!(s6.cidr, "fd00::/48");
        // Explicit values are kept.
        let k = pool_spec(&pool(
            "  cidr: 10.0.0.0/8\n  blockSize: 28\n  ipipMode: Always\n  nodeSelector: a == 'b'\n",
        ));
        assert_eq!(
            (k.block_size, k.ipip_mode, k.node_selector.as_str()),
            (28, Some(IPIPMode::Always), "a == 'b'")
        );
    }

    #[test]
    fn ippool_cidr_rules() {
        assert_err(&pool("  natOutgoing: true\n"), "spec.cidr");
        assert_err(&pool("  cidr: 10.0.0.1\n"), "spec.cidr");
        assert_err(&pool("  cidr: 10.0.0.0/33\n"), "spec.cidr");
        // Non-strict CIDRs are not normalised away; they are rejected.
        let (r, res) = run(&pool("  cidr: 10.0.0.1/16\n"));
        assert!(
            res.unwrap_err()
                .problems
                .iter()
                .any(|p| p.path == "spec.cidr" && p.reason.contains("not strictly masked"))
        );
        let Resource::IPPool(p) = r else {
            panic!("kind")
        };
        assert_eq!(p.spec.cidr, "10.0.0.1/16");
        assert_err(&pool("  cidr: 169.254.0.0/24\n"), "spec.cidr");
        assert_err(&pool("  cidr: 169.0.0.0/8\n"), "spec.cidr");
        assert_err(&pool("  cidr: 'fe80::/64'\n"), "spec.cidr");
        assert_err(
            &pool("  cidr: '0000:0000:0000:0000:0000:0000:0000:0000/0'\n  blockSize: 122\n"),
            "spec.cidr",
        );
    }

    #[test]
    fn ippool_block_size_rules() {
        assert_err(
            &pool("  cidr: 10.0.0.0/8\n  blockSize: 19\n"),
            "spec.blockSize",
        );
        assert_err(
            &pool("  cidr: 10.0.0.0/8\n  blockSize: 33\n"),
            "spec.blockSize",
        );
        assert_ok(&pool("  cidr: 10.0.0.0/8\n  blockSize: 20\n"));
        assert_ok(&pool("  cidr: 10.0.0.0/8\n  blockSize: 32\n"));
        assert_err(
            &pool("  cidr: 'fd00::/48'\n  blockSize: 115\n"),
            "spec.blockSize",
        );
        assert_ok(&pool("  cidr: 'fd00::/48'\n  blockSize: 128\n"));
        // Pool smaller than a block: rejected unless the pool is disabled.
        assert_err(&pool("  cidr: 10.0.0.0/28\n"), "spec.cidr");
        assert_ok(&pool("  cidr: 10.0.0.0/28\n  disabled: true\n"));
        assert_ok(&pool("  cidr: 10.0.0.0/26\n"));
    }

    #[test]
    fn ippool_encapsulation_rules() {
        assert_err(
            &pool("  cidr: 'fd00::/48'\n  ipipMode: Always\n"),
            "spec.ipipMode",
        );
        assert_ok(&pool("  cidr: 'fd00::/48'\n  vxlanMode: Always\n"));
        assert_err(
            &pool("  cidr: 10.0.0.0/8\n  ipipMode: CrossSubnet\n  vxlanMode: Always\n"),
            "spec.vxlanMode",
        );
        assert!(crate::decode_yaml(&pool("  cidr: 10.0.0.0/8\n  ipipMode: always\n")).is_err());
        assert!(crate::decode_yaml(&pool("  cidr: 10.0.0.0/8\n  assignmentMode: Auto\n")).is_err());
        assert!(crate::decode_yaml(&pool("  cidr: 10.0.0.0/8\n  allowedUses: [Pods]\n")).is_err());
    }

    #[test]
    fn ippool_allowed_uses_rules() {
        let lb = |extra: &str| {
            pool(&format!(
                "  cidr: 10.0.0.0/8\n  allowedUses: [LoadBalancer]\n{extra}"
            ))
        };
        assert_ok(&lb(""));
        assert_err(
            &pool("  cidr: 10.0.0.0/8\n  allowedUses: [LoadBalancer, Workload]\n"),
            "spec.allowedUses",
        );
        assert_err(
            &pool("  cidr: 10.0.0.0/8\n  allowedUses: [Workload, Workload]\n"),
            "spec.allowedUses[1]",
        );
        assert_err(&lb("  ipipMode: Always\n"), "spec.ipipMode");
        assert_err(&lb("  vxlanMode: CrossSubnet\n"), "spec.vxlanMode");
        assert_err(&lb("  disableBGPExport: true\n"), "spec.disableBGPExport");
        assert_err(&lb("  nodeSelector: zone == 'a'\n"), "spec.nodeSelector");
        assert_err(
            &pool("  cidr: 10.0.0.0/8\n  namespaceSelector: all()\n"),
            "spec.namespaceSelector",
        );
        assert_ok(&pool(
            "  cidr: 10.0.0.0/8\n  namespaceSelector: all()\n  allowedUses: [Workload]\n",
        ));
    }

    #[test]
    fn ippool_selector_rules() {
        assert_err(
            &pool("  cidr: 10.0.0.0/8\n  nodeSelector: 'a ==='\n"),
            "spec.nodeSelector",
        );
        assert_err(
            &pool("  cidr: 10.0.0.0/8\n  nodeSelector: global()\n"),
            "spec.nodeSelector",
        );
        assert_err(
            &pool("  cidr: 10.0.0.0/8\n  allowedUses: [Workload]\n  namespaceSelector: 'has('\n"),
            "spec.namespaceSelector",
        );
    }

    #[test]
    fn ippool_helpers() {
        let mut s = IPPoolSpec {
            cidr: "fd00:1::/64".into(),
            ..Default::default()
        };
        assert_eq!(s.cidr_net(), Some("fd00:1::/64".parse().unwrap()));
        assert_eq!(s.block_size_or_default(), 122);
        s.block_size = 120;
        assert_eq!(s.block_size_or_default(), 120);
        s.cidr = "10.0.0.0/8".into();
        s.block_size = 0;
        assert_eq!(s.block_size_or_default(), 26);
        s.cidr = "10.0.0.1".into();
        assert_eq!(s.cidr_net(), None);
        assert!(s.allows(IPPoolAllowedUse::Workload) && s.allows(IPPoolAllowedUse::Tunnel));
        assert!(!s.allows(IPPoolAllowedUse::LoadBalancer));
        s.allowed_uses = vec![IPPoolAllowedUse::LoadBalancer];
        assert!(s.allows(IPPoolAllowedUse::LoadBalancer) && !s.allows(IPPoolAllowedUse::Workload));
    }

    fn reservation(cidrs: &str) -> String {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: IPReservation\nmetadata:\n  name: reserved\nspec:\n  reservedCIDRs: {cidrs}\n"
        )
    }

    #[test]
    fn ipreservation_rules() {
        let ok = reservation("[10.0.0.0/30, 10.0.1.7, 10.0.2.1/24, 'fd00::/120']");
        assert_ok(&ok);
        assert_round_trip(&ok);
        let (r, _) = run(&ok);
        let Resource::IPReservation(res) = r else {
            panic!("kind")
        };
        assert_eq!(res.spec.reserved_nets().len(), 4);
        assert_err(
            &reservation("[10.0.0.0/30, 300.0.0.0/8]"),
            "spec.reservedCIDRs[1]",
        );
        assert_err(
            &reservation("[10.0.0.0/30, 10.0.0.0/30]"),
            "spec.reservedCIDRs[1]",
        );
    }

    fn ipam_config(name: &str, spec: &str) -> String {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata:\n  name: {name}\nspec:\n{spec}"
        )
    }

    #[test]
    fn ipam_configuration_rules() {
        let full = ipam_config(
            "default",
            "  strictAffinity: true\n  maxBlocksPerHost: 16\n  autoAllocateBlocks: false\n  kubeVirtVMAddressPersistence: Disabled\n  ipCooldownSeconds: 300\n",
        );
        assert_ok(&full);
        assert_round_trip(&full);
        assert_err(
            &ipam_config("cluster", "  strictAffinity: false\n"),
            "metadata.name",
        );
        assert_err(
            &ipam_config("default", "  maxBlocksPerHost: -1\n"),
            "spec.maxBlocksPerHost",
        );
        assert_err(
            &ipam_config("default", "  maxBlocksPerHost: 1000001\n"),
            "spec.maxBlocksPerHost",
        );
        assert_ok(&ipam_config("default", "  maxBlocksPerHost: 1000000\n"));
        assert_err(
            &ipam_config("default", "  ipCooldownSeconds: 1201\n"),
            "spec.ipCooldownSeconds",
        );
        assert_err(
            &ipam_config("default", "  ipCooldownSeconds: -1\n"),
            "spec.ipCooldownSeconds",
        );
        assert!(
            crate::decode_yaml(&ipam_config(
                "default",
                "  kubeVirtVMAddressPersistence: enabled\n"
            ))
            .is_err()
        );
    }

    #[test]
    fn ipam_configuration_defaults() {
        let (r, _) = run(&ipam_config("default", "  strictAffinity: false\n"));
        let Resource::IPAMConfiguration(c) = r else {
            panic!("kind")
        };
        assert_eq!(c.spec.auto_allocate_blocks, Some(true));
        assert_eq!(c.spec.max_blocks_per_host, 0);
        assert_eq!(c.spec.kube_virt_vm_address_persistence, None);
        assert_eq!(
            c.spec.vm_address_persistence(),
            VMAddressPersistence::Enabled
        );
        let (r, _) = run(&ipam_config("default", "  autoAllocateBlocks: false\n"));
        let Resource::IPAMConfiguration(c) = r else {
            panic!("kind")
        };
        assert_eq!(c.spec.auto_allocate_blocks, Some(false));
        assert!(!c.spec.auto_allocate_blocks_or_default());
    }

    const BLOCK: &str = r#"apiVersion: projectcalico.org/v3
kind: IPAMBlock
metadata:
  name: 10-244-1-0-30
spec:
  cidr: 10.244.1.0/30
  affinity: host:node-1
  affinityClaimTime: "2026-08-01T10:00:00Z"
  allocations:
    - 0
    - null
    - 1
    - null
  unallocated:
    - 3
    - 1
  attributes:
    - handle_id: k8s-pod-network.4f1c0a
      secondary:
        namespace: default
        node: node-1
        pod: web-0
        timestamp: 2026-08-01 10:00:02 +0000 UTC
    - releasedAt: "2026-08-01T10:05:00Z"
  sequenceNumber: 1785578400000000007
  sequenceNumberForAllocation:
    "0": 1785578400000000001
    "2": 1785578400000000006
  deleted: false
  strictAffinity: false
"#;

    #[test]
    fn ipam_block_round_trip() {
        assert_ok(BLOCK);
        assert_round_trip(BLOCK);
        let (r, _) = run(BLOCK);
        let Resource::IPAMBlock(b) = r else {
            panic!("kind")
        };
        assert_eq!(b.spec.allocations, vec![Some(0), None, Some(1), None]);
        assert_eq!(
            b.spec.attributes[0].handle_id.as_deref(),
            Some("k8s-pod-network.4f1c0a")
        );
        let json = serde_json::to_string(&b.spec).unwrap();
        assert!(json.contains("\"allocations\":[0,null,1,null]"), "{json}");
        assert!(json.contains("\"handle_id\""));
        // Go writes nil slices and maps as null; they decode as empty.
        let nulls = BLOCK
            .replace("  allocations:\n    - 0\n    - null\n    - 1\n    - null\n", "  allocations: null\n")
            .replace("  sequenceNumberForAllocation:\n    \"0\": 1785578400000000001\n    \"2\": 1785578400000000006\n", "  sequenceNumberForAllocation: null\n");
        let (r, _) = run(&nulls);
        let Resource::IPAMBlock(b) = r else {
            panic!("kind")
        };
        assert!(b.spec.allocations.is_empty() && b.spec.sequence_number_for_allocation.is_empty());
    }

    #[test]
    fn ipam_block_rules() {
        assert_err(&BLOCK.replace("host:node-1", "node-1"), "spec.affinity");
        assert_err(
            &BLOCK.replace("host:node-1", "host:node 1"),
            "spec.affinity",
        );
        assert_ok(&BLOCK.replace("host:node-1", "virtual:load-balancer"));
        assert_err(
            &BLOCK.replace("cidr: 10.244.1.0/30", "cidr: 10.244.1.0"),
            "spec.cidr",
        );
    }

    fn affinity(spec: &str) -> String {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: BlockAffinity\nmetadata:\n  name: node-1-10-244-1-0-26\nspec:\n{spec}"
        )
    }

    #[test]
    fn block_affinity_rules() {
        let ok = affinity(
            "  state: confirmed\n  node: node-1\n  type: host\n  cidr: 10.244.1.0/26\n  deleted: false\n",
        );
        assert_ok(&ok);
        assert_round_trip(&ok);
        assert_ok(&affinity(
            "  state: ''\n  node: node-1\n  cidr: 10.244.1.0/26\n  deleted: false\n",
        ));
        assert_err(
            &affinity(
                "  state: confirmed\n  node: node-1\n  cidr: 10.244.1.0/26\n  deleted: true\n",
            ),
            "spec.deleted",
        );
        assert_err(
            &affinity(
                "  state: pending\n  node: node-1\n  type: hosted\n  cidr: 10.244.1.0/26\n  deleted: false\n",
            ),
            "spec.type",
        );
        assert_err(
            &affinity("  state: pending\n  node: node-1\n  cidr: bogus\n  deleted: false\n"),
            "spec.cidr",
        );
        assert!(
            crate::decode_yaml(&affinity(
                "  state: Confirmed\n  node: n\n  cidr: 10.0.0.0/26\n"
            ))
            .is_err()
        );
    }

    #[test]
    fn ipam_handle_round_trip() {
        let h = "apiVersion: projectcalico.org/v3\nkind: IPAMHandle\nmetadata:\n  name: k8s-pod-network.4f1c0a\nspec:\n  handleID: k8s-pod-network.4F1C0A\n  block:\n    10.244.1.0/26: 1\n    fd00:10::/122: 2\n  deleted: false\n";
        assert_ok(h);
        assert_round_trip(h);
    }

    #[test]
    fn kdd_names() {
        assert_eq!(
            ipam_block_name(&"10.244.1.0/26".parse().unwrap()),
            "10-244-1-0-26"
        );
        assert_eq!(
            ipam_block_name(&"fd00:10::/122".parse().unwrap()),
            "fd00-10---122"
        );
        let cidr: IpNet = "10.244.1.0/26".parse().unwrap();
        assert_eq!(block_affinity_name("node-1", &cidr), "node-1-10-244-1-0-26");
        let long_host = "h".repeat(250);
        let name = block_affinity_name(&long_host, &cidr);
        assert_eq!(name.len(), 252);
        assert!(name.starts_with(&"h".repeat(252 - 13 - 13)));
        assert!(name.contains("-10-244-1-0-26-"));
        let hash = name.rsplit('-').next().unwrap();
        assert_eq!(hash.len(), 11);
        assert!(hash.bytes().all(|c| c.is_ascii_hexdigit()));
        // The hash depends on the full host name.
        assert_ne!(name, block_affinity_name(&format!("{long_host}x"), &cidr));
        // Just below the limit no hash is added.
        let host = "h".repeat(252 - 1 - 13);
        assert_eq!(block_affinity_name(&host, &cidr).len(), 252);
        assert_eq!(
            ipam_handle_name("k8s-pod-network.ABCdef"),
            "k8s-pod-network.abcdef"
        );
    }
}
