//! BGP configuration, peers and filters (`BGPConfiguration`, `BGPPeer`, `BGPFilter`).
//!
//! Field names, omission rules and validation follow Calico's v3 API types
//! (`api/pkg/apis/projectcalico/v3/bgp{config,peer,filter}.go`), the struct-level rules in
//! `libcalico-go/lib/validator/v3`, the CEL rules of the generated CRDs and the checks the
//! v3 client runs before writing (`libcalico-go/lib/clientv3/bgpconfig.go`).

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::de::{Deserializer, value::StringDeserializer};
use serde::{Deserialize, Serialize};

use crate::resource::{BGPConfiguration, BGPFilter, BGPPeer, ResourceKind, validate_common_meta};
use crate::scalar::{AsNumber, Duration};
use crate::util::{is_default, is_false};
use crate::validation::{NetKind, Path, Validate, Validator, check_net, is_dns1123_subdomain};

/// AS number a node uses when neither its Node resource nor the global BGPConfiguration sets one.
pub const DEFAULT_AS_NUMBER: u32 = 64512;
/// TCP port BIRD listens on when `listenPort` is not set.
pub const DEFAULT_BGP_LISTEN_PORT: u16 = 179;
/// Route priority (metric) Felix gives workload routes when nothing else is configured.
pub const DEFAULT_NORMAL_ROUTE_PRIORITY: i64 = 1024;
/// Highest route priority Calico accepts (`ipv4NormalRoutePriority`, BGPFilter `priority`, …).
pub const MAX_ROUTE_PRIORITY: i64 = 2_147_483_646;
/// Graceful-restart time BIRD uses when no restart time is configured.
pub const BIRD_DEFAULT_RESTART_TIME: Duration = Duration::from_secs(120);
/// Name of the cluster-wide BGPConfiguration; other instances are per node (`node.<name>`).
pub const DEFAULT_BGP_CONFIGURATION_NAME: &str = "default";

/// Maximum length of the BGPPeer selector fields (CRD `maxLength`).
const MAX_PEER_SELECTOR_LEN: usize = 1024;
/// Maximum length of `peerIP` and `reachableBy`.
const MAX_PEER_ADDRESS_LEN: usize = 64;
/// Maximum length of an IPv4 BGPFilter rule CIDR.
const MAX_FILTER_CIDR_V4_LEN: usize = 18;
/// Maximum length of an IPv6 BGPFilter rule CIDR.
const MAX_FILTER_CIDR_V6_LEN: usize = 43;
/// Maximum length of a BGP community value in a BGPFilter.
const MAX_COMMUNITY_VALUE_LEN: usize = 32;
/// Maximum number of operations on one BGPFilter rule.
const MAX_FILTER_OPERATIONS: usize = 10;
/// Maximum number of AS numbers a `prependASPath` operation may prepend.
const MAX_PREPEND_AS_PATH: usize = 10;
/// Log levels accepted for `logSeverityScreen`, compared case-insensitively as the current
/// CRD pattern does (the old Go validator's case-sensitive rule is gone).
const BGP_LOG_LEVELS: &[&str] = &["Trace", "Debug", "Info", "Warning", "Error", "Fatal"];

/// Decodes an optional string enum, treating an empty string like an absent field (Go's
/// `omitempty` on a non-pointer string type: `""` means unset).
pub(crate) fn empty_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => T::deserialize(StringDeserializer::<D::Error>::new(s)).map(Some),
    }
}

/// Checks a field carrying the CRD's `format: cidr` plus Calico's `net`/`netv4`/`netv6` tag:
/// CIDR notation (`address/prefix`), strictly masked, of the requested family.
pub(crate) fn check_strict_cidr(
    v: &mut Validator,
    path: &Path,
    s: &str,
    kind: NetKind,
) -> Option<IpNet> {
    if !s.contains('/') {
        v.report(
            path,
            format!("{s:?} is not in CIDR notation (address/prefix length)"),
        );
        return None;
    }
    check_net(v, path, s, kind)
}

// ---------------------------------------------------------------------------------------------
// Shared: BGP passwords
// ---------------------------------------------------------------------------------------------

/// Where a BGP session password comes from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPPassword {
    /// A key of a Secret in calico-node's namespace holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<BGPSecretKeySelector>,
}

/// A reference to one key of a Kubernetes Secret (`SecretKeySelector`). It holds only names,
/// never the secret itself.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPSecretKeySelector {
    /// Name of the Secret.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Key within the Secret whose value is the password.
    #[serde(default)]
    pub key: String,
    /// If true, a missing Secret or key is not an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

impl fmt::Debug for BGPSecretKeySelector {
    /// Prints only where the password lives (Secret name and key), spelled out explicitly so
    /// that adding a field can never leak a value into logs by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BGPSecretKeySelector")
            .field("secret_name", &self.name)
            .field("secret_key", &self.key)
            .field("optional", &self.optional)
            .finish()
    }
}

impl Validate for BGPPassword {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        if let Some(r) = &self.secret_key_ref {
            v.check(
                !r.key.is_empty(),
                &path.field("secretKeyRef").field("key"),
                "key is required",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// BGPConfiguration
// ---------------------------------------------------------------------------------------------

/// How LoadBalancer service IPs are advertised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ServiceLoadBalancerAggregation {
    /// Advertise the whole configured CIDR (the default).
    Enabled,
    /// Advertise one /32 (or /128) route per service, so failed services are withdrawn.
    Disabled,
}

/// Which addresses BIRD listens on for BGP connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPBindMode {
    /// All addresses (the default).
    None,
    /// Only the node's own BGP address (`Node.spec.bgp.ipv4Address`/`ipv6Address`).
    #[serde(rename = "NodeIP")]
    NodeIP,
}

/// Which cluster routes (routes to workloads on other nodes) confd/BIRD programs, as opposed
/// to Felix. Must agree with FelixConfiguration's field of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPProgramClusterRoutes {
    /// BIRD programs routes for both IPIP and unencapsulated pools.
    Enabled,
    /// BIRD programs no cluster routes (Felix does).
    Disabled,
    /// BIRD programs routes only for IPIP pools.
    #[serde(rename = "EnabledIPIPOnly")]
    EnabledIPIPOnly,
    /// BIRD programs routes only for unencapsulated pools (the CRD default).
    EnabledNoEncapOnly,
}

/// A LoadBalancer IP range to advertise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceLoadBalancerIPBlock {
    /// The CIDR (strictly masked).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cidr: String,
}

/// A service external IP range to advertise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceExternalIPBlock {
    /// The CIDR (strictly masked).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cidr: String,
}

/// A service cluster IP range to advertise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceClusterIPBlock {
    /// The CIDR (strictly masked).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cidr: String,
}

/// A named BGP community value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPCommunity {
    /// Name that prefix advertisements use to refer to this value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `aa:nn` (standard, 16-bit parts) or `aa:nn:mm` (large, 32-bit parts).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// Communities attached to routes within one CIDR.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPPrefixAdvertisement {
    /// The CIDR whose routes get the communities.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cidr: String,
    /// Community names defined in `spec.communities`, or literal `aa:nn` / `aa:nn:mm` values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
}

/// BGP settings: cluster-wide (name `default`) or for one node (name `node.<nodename>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPConfigurationSpec {
    /// BIRD log level: Trace, Debug, Info, Warning, Error or Fatal (defaulted to Info).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_severity_screen: String,
    /// Whether every node peers with every other node (runtime default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_to_node_mesh_enabled: Option<bool>,
    /// Default AS number of the nodes (runtime default: 64512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_number: Option<AsNumber>,
    /// LoadBalancer ingress IP ranges to advertise.
    #[serde(
        rename = "serviceLoadBalancerIPs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_load_balancer_ips: Vec<ServiceLoadBalancerIPBlock>,
    /// Service external IP ranges to advertise.
    #[serde(
        rename = "serviceExternalIPs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_external_ips: Vec<ServiceExternalIPBlock>,
    /// Service cluster IP ranges to advertise.
    #[serde(
        rename = "serviceClusterIPs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_cluster_ips: Vec<ServiceClusterIPBlock>,
    /// Whole-CIDR or per-service advertisement of LoadBalancer IPs (defaulted to Enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_load_balancer_aggregation: Option<ServiceLoadBalancerAggregation>,
    /// Named community values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<BGPCommunity>,
    /// Per-prefix community settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix_advertisements: Vec<BGPPrefixAdvertisement>,
    /// BGP listen port, 1–65535 (runtime default: 179).
    #[serde(default, skip_serializing_if = "is_default")]
    pub listen_port: u16,
    /// Password for the node-to-node mesh sessions (`default` only, mesh must be enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_mesh_password: Option<BGPPassword>,
    /// Graceful-restart time for mesh sessions (`default` only; BIRD's default is 120s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_mesh_max_restart_time: Option<Duration>,
    /// Which addresses BIRD listens on (runtime default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_mode: Option<BGPBindMode>,
    /// Interfaces whose routes are ignored when reading device routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_interfaces: Vec<String>,
    /// Virtual IPv4 address local workloads peer with.
    #[serde(
        rename = "localWorkloadPeeringIPV4",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub local_workload_peering_ipv4: String,
    /// Virtual IPv6 address local workloads peer with.
    #[serde(
        rename = "localWorkloadPeeringIPV6",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub local_workload_peering_ipv6: String,
    /// Which cluster routes BIRD programs (defaulted to EnabledNoEncapOnly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_cluster_routes: Option<BGPProgramClusterRoutes>,
    /// Felix's normal IPv4 workload route metric, 1–2147483646 (runtime default: 1024).
    #[serde(
        rename = "ipv4NormalRoutePriority",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_normal_route_priority: Option<i64>,
    /// Felix's normal IPv6 workload route metric, 1–2147483646 (runtime default: 1024).
    #[serde(
        rename = "ipv6NormalRoutePriority",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_normal_route_priority: Option<i64>,
}

impl BGPConfigurationSpec {
    /// The default AS number, or 64512 when unset (what calico-node uses at runtime).
    pub fn as_number_or_default(&self) -> AsNumber {
        self.as_number.unwrap_or(AsNumber(DEFAULT_AS_NUMBER))
    }

    /// Whether the full node-to-node mesh is on; unset means on.
    pub fn node_to_node_mesh_enabled_or_default(&self) -> bool {
        self.node_to_node_mesh_enabled.unwrap_or(true)
    }

    /// The BGP listen port, or 179 when unset.
    pub fn listen_port_or_default(&self) -> u16 {
        if self.listen_port == 0 {
            DEFAULT_BGP_LISTEN_PORT
        } else {
            self.listen_port
        }
    }

    /// The BIRD log level, or `Info` when unset.
    pub fn log_severity_screen_or_default(&self) -> &str {
        if self.log_severity_screen.is_empty() {
            "Info"
        } else {
            &self.log_severity_screen
        }
    }

    /// LoadBalancer IP aggregation, `Enabled` when unset.
    pub fn service_load_balancer_aggregation_or_default(&self) -> ServiceLoadBalancerAggregation {
        self.service_load_balancer_aggregation
            .unwrap_or(ServiceLoadBalancerAggregation::Enabled)
    }

    /// Listen mode, `None` (all addresses) when unset.
    pub fn bind_mode_or_default(&self) -> BGPBindMode {
        self.bind_mode.unwrap_or(BGPBindMode::None)
    }

    /// Which cluster routes BIRD programs, `EnabledNoEncapOnly` when unset.
    pub fn program_cluster_routes_or_default(&self) -> BGPProgramClusterRoutes {
        self.program_cluster_routes
            .unwrap_or(BGPProgramClusterRoutes::EnabledNoEncapOnly)
    }

    /// Mesh graceful-restart time, BIRD's 120s when unset.
    pub fn node_mesh_max_restart_time_or_default(&self) -> Duration {
        self.node_mesh_max_restart_time
            .unwrap_or(BIRD_DEFAULT_RESTART_TIME)
    }

    /// Felix's normal IPv4 route priority, 1024 when unset.
    pub fn ipv4_normal_route_priority_or_default(&self) -> i64 {
        self.ipv4_normal_route_priority
            .unwrap_or(DEFAULT_NORMAL_ROUTE_PRIORITY)
    }

    /// Felix's normal IPv6 route priority, 1024 when unset.
    pub fn ipv6_normal_route_priority_or_default(&self) -> i64 {
        self.ipv6_normal_route_priority
            .unwrap_or(DEFAULT_NORMAL_ROUTE_PRIORITY)
    }

    /// Resolves a prefix advertisement's community entry to a literal value: a defined name
    /// maps to its value, a literal `aa:nn`/`aa:nn:mm` is returned as is.
    pub fn resolve_community<'a>(&'a self, entry: &'a str) -> Option<&'a str> {
        if community_format(entry).is_some() {
            return Some(entry);
        }
        self.communities
            .iter()
            .find(|c| c.name == entry)
            .map(|c| c.value.as_str())
    }

    /// Reports fields only the `default` instance may set (the v3 client's check).
    fn validate_default_only(&self, path: &Path, v: &mut Validator) {
        const REASON: &str = "can only be set on the BGPConfiguration named \"default\"";
        if self.node_to_node_mesh_enabled.is_some() {
            v.report(&path.field("nodeToNodeMeshEnabled"), REASON);
        }
        if self.as_number.is_some() {
            v.report(&path.field("asNumber"), REASON);
        }
        if !self.service_load_balancer_ips.is_empty() {
            v.report(&path.field("serviceLoadBalancerIPs"), REASON);
        }
        if !self.service_external_ips.is_empty() {
            v.report(&path.field("serviceExternalIPs"), REASON);
        }
        if !self.service_cluster_ips.is_empty() {
            v.report(&path.field("serviceClusterIPs"), REASON);
        }
        if self.node_mesh_password.is_some() {
            v.report(&path.field("nodeMeshPassword"), REASON);
        }
        if self.node_mesh_max_restart_time.is_some() {
            v.report(&path.field("nodeMeshMaxRestartTime"), REASON);
        }
    }
}

/// Standard (`aa:nn`) or large (`aa:nn:mm`) community shape, by the number of parts, when
/// `s` is digits separated by colons (values not yet range-checked).
fn community_format(s: &str) -> Option<usize> {
    let parts: Vec<&str> = s.split(':').collect();
    let digits = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if (parts.len() == 2 || parts.len() == 3) && parts.iter().all(digits) {
        Some(parts.len())
    } else {
        None
    }
}

/// Checks a literal community's part sizes (16-bit parts for standard, 32-bit for large).
/// Returns false if `s` is not a community literal at all.
fn check_community_literal(v: &mut Validator, path: &Path, s: &str) -> bool {
    let Some(n) = community_format(s) else {
        return false;
    };
    let (max, bits) = if n == 2 {
        (u64::from(u16::MAX), 16)
    } else {
        (u64::from(u32::MAX), 32)
    };
    let in_range = s
        .split(':')
        .all(|p| p.parse::<u64>().is_ok_and(|x| x <= max));
    v.check(
        in_range,
        path,
        format!("invalid community value {s:?}: expected {bits}-bit parts"),
    );
    true
}

/// Go validator's `ignoredInterface`: `^[a-zA-Z0-9_.*-]{1,15}$` and not `*` alone.
fn is_ignored_interface(s: &str) -> bool {
    s != "*" && is_bgp_interface_pattern(s)
}

/// `^[a-zA-Z0-9_.*-]{1,15}$`.
fn is_bgp_interface_pattern(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'*' | b'-'))
}

impl Validate for BGPConfigurationSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        let sev = &self.log_severity_screen;
        if !sev.is_empty() && !BGP_LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(sev)) {
            v.report(
                &path.field("logSeverityScreen"),
                format!(
                    "unsupported value {sev:?}: must be one of {} (any case)",
                    BGP_LOG_LEVELS.join(", ")
                ),
            );
        }

        let service_blocks: [(&str, Vec<&str>); 3] = [
            (
                "serviceLoadBalancerIPs",
                self.service_load_balancer_ips
                    .iter()
                    .map(|b| b.cidr.as_str())
                    .collect(),
            ),
            (
                "serviceExternalIPs",
                self.service_external_ips
                    .iter()
                    .map(|b| b.cidr.as_str())
                    .collect(),
            ),
            (
                "serviceClusterIPs",
                self.service_cluster_ips
                    .iter()
                    .map(|b| b.cidr.as_str())
                    .collect(),
            ),
        ];
        for (field, cidrs) in &service_blocks {
            let p = path.field(field);
            for (i, cidr) in cidrs.iter().enumerate() {
                if !cidr.is_empty() {
                    check_strict_cidr(v, &p.index(i).field("cidr"), cidr, NetKind::Net);
                }
            }
            v.unique(&p, cidrs);
        }

        let cp = path.field("communities");
        for (i, c) in self.communities.iter().enumerate() {
            let p = cp.index(i);
            if c.name.is_empty() {
                v.report(&p.field("name"), "name is required");
            } else if !is_dns1123_subdomain(&c.name) {
                v.report(
                    &p.field("name"),
                    format!(
                        "{:?} is not a valid name (lower case alphanumerics, '-' and '.')",
                        c.name
                    ),
                );
            }
            if c.value.is_empty() {
                v.report(&p.field("value"), "value is required");
            } else if !check_community_literal(v, &p.field("value"), &c.value) {
                v.report(
                    &p.field("value"),
                    format!(
                        "invalid community value {:?}: expected aa:nn or aa:nn:mm",
                        c.value
                    ),
                );
            }
        }
        v.unique(&cp, &self.communities);
        if !self.communities.is_empty() && self.prefix_advertisements.is_empty() {
            v.report(
                &cp,
                "communities are defined but not used in prefixAdvertisements",
            );
        }

        let pp = path.field("prefixAdvertisements");
        for (i, pa) in self.prefix_advertisements.iter().enumerate() {
            let p = pp.index(i);
            if pa.cidr.is_empty() {
                v.report(&p.field("cidr"), "cidr is required");
            } else {
                check_strict_cidr(v, &p.field("cidr"), &pa.cidr, NetKind::Net);
            }
            if pa.communities.is_empty() {
                v.report(&p.field("communities"), "communities is required");
            }
            for (j, c) in pa.communities.iter().enumerate() {
                let cpath = p.field("communities").index(j);
                if !check_community_literal(v, &cpath, c)
                    && !self.communities.iter().any(|d| &d.name == c)
                {
                    v.report(
                        &cpath,
                        format!("community {c:?} is neither a valid value nor a defined name"),
                    );
                }
            }
        }
        v.unique(&pp, &self.prefix_advertisements);

        if self.node_to_node_mesh_enabled == Some(false) {
            if self.node_mesh_password.is_some() {
                v.report(
                    &path.field("nodeMeshPassword"),
                    "nodeMeshPassword cannot be set when nodeToNodeMeshEnabled is false",
                );
            }
            if self.node_mesh_max_restart_time.is_some() {
                v.report(
                    &path.field("nodeMeshMaxRestartTime"),
                    "nodeMeshMaxRestartTime cannot be set when nodeToNodeMeshEnabled is false",
                );
            }
        }
        self.node_mesh_password
            .validate_into(&path.field("nodeMeshPassword"), v);

        let ip = path.field("ignoredInterfaces");
        for (i, s) in self.ignored_interfaces.iter().enumerate() {
            v.check(
                is_ignored_interface(s),
                &ip.index(i),
                format!("{s:?} is not a valid interface name or pattern (1-15 of [a-zA-Z0-9_.*-], not \"*\" alone)"),
            );
        }
        v.unique(&ip, &self.ignored_interfaces);

        if !self.local_workload_peering_ipv4.is_empty() {
            check_net(
                v,
                &path.field("localWorkloadPeeringIPV4"),
                &self.local_workload_peering_ipv4,
                NetKind::IpV4,
            );
        }
        if !self.local_workload_peering_ipv6.is_empty() {
            check_net(
                v,
                &path.field("localWorkloadPeeringIPV6"),
                &self.local_workload_peering_ipv6,
                NetKind::IpV6,
            );
        }
        if let Some(p) = self.ipv4_normal_route_priority {
            v.range(
                &path.field("ipv4NormalRoutePriority"),
                p,
                1,
                MAX_ROUTE_PRIORITY,
            );
        }
        if let Some(p) = self.ipv6_normal_route_priority {
            v.range(
                &path.field("ipv6NormalRoutePriority"),
                p,
                1,
                MAX_ROUTE_PRIORITY,
            );
        }
    }
}

impl ResourceKind for BGPConfiguration {
    fn apply_defaults(&mut self) {
        let s = &mut self.spec;
        if s.log_severity_screen.is_empty() {
            s.log_severity_screen = "Info".to_owned();
        }
        s.service_load_balancer_aggregation
            .get_or_insert(ServiceLoadBalancerAggregation::Enabled);
        s.program_cluster_routes
            .get_or_insert(BGPProgramClusterRoutes::EnabledNoEncapOnly);
    }

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        let spec = Path::new("spec");
        self.spec.validate_into(&spec, v);
        if self.metadata.name != DEFAULT_BGP_CONFIGURATION_NAME {
            self.spec.validate_default_only(&spec, v);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// BGPPeer
// ---------------------------------------------------------------------------------------------

/// How the next-hop attribute of routes sent to a peer is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPNextHopMode {
    /// BGP's default behaviour.
    Auto,
    /// `next hop self`.
    #[serde(rename = "Self")]
    SelfHop,
    /// `next hop keep`.
    Keep,
}

/// Source address of the sessions a BGPPeer generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPSourceAddress {
    /// Use the node's IP as source address (the default).
    #[serde(rename = "UseNodeIP")]
    UseNodeIP,
    /// Let the kernel pick.
    None,
}

/// Whether the reverse peering from selected Calico nodes is generated automatically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPReversePeering {
    /// Generated automatically (the default).
    Auto,
    /// Needs its own BGPPeer.
    Manual,
}

/// A BGP peering: which nodes peer, with whom, and how.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPPeerSpec {
    /// The one node that has this peering (empty with no `nodeSelector`: every node).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// Selector for the nodes that have this peering.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_selector: String,
    /// Peer address: `IP`, `IPv4:port` or `[IPv6]:port`.
    #[serde(rename = "peerIP", default, skip_serializing_if = "String::is_empty")]
    pub peer_ip: String,
    /// Remote AS number.
    #[serde(default, skip_serializing_if = "is_default")]
    pub as_number: AsNumber,
    /// Local AS number for this peering (else the node's or the global one).
    #[serde(
        rename = "localASNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub local_as_number: Option<AsNumber>,
    /// Selector for remote Calico nodes to peer with.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub peer_selector: String,
    /// Deprecated: `next hop keep` (use `nextHopMode`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_original_next_hop: bool,
    /// Next-hop handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_mode: Option<BGPNextHopMode>,
    /// Session password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<BGPPassword>,
    /// Session source address (runtime default: UseNodeIP).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_address: Option<BGPSourceAddress>,
    /// Graceful-restart time (BIRD's default: 120s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restart_time: Option<Duration>,
    /// Keepalive timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_time: Option<Duration>,
    /// How many times the local AS may appear in received AS paths.
    #[serde(
        rename = "numAllowedLocalASNumbers",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub num_allowed_local_as_numbers: Option<i32>,
    /// GTSM: the number of hops to the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_security: Option<u8>,
    /// Names of BGPFilters applied to this peering, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    /// Gateway through which the peer is reached (adds a /32 or /128 static route).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reachable_by: String,
    /// Selector for local workloads the node peers with.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub local_workload_selector: String,
    /// Automatic reverse peering (runtime default: Auto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_peering: Option<BGPReversePeering>,
}

/// Parses a BGPPeer `peerIP`: a bare address, `IPv4:port` or `[IP]:port` (port 1–65535).
pub fn parse_peer_ip(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, None));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.rsplit_once("]:")?;
        (h, p)
    } else {
        let (h, p) = s.split_once(':')?;
        if !h.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return None;
        }
        (h, p)
    };
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = port.parse::<u16>().ok().filter(|p| *p >= 1)?;
    let ip = host.parse::<IpAddr>().ok()?;
    if s.starts_with('[') || ip.is_ipv4() {
        Some((ip, Some(port)))
    } else {
        None
    }
}

impl BGPPeerSpec {
    /// The peer address and optional port from `peerIP`.
    pub fn peer_ip_and_port(&self) -> Option<(IpAddr, Option<u16>)> {
        parse_peer_ip(&self.peer_ip)
    }

    /// Session source address, `UseNodeIP` when unset.
    pub fn source_address_or_default(&self) -> BGPSourceAddress {
        self.source_address.unwrap_or(BGPSourceAddress::UseNodeIP)
    }

    /// Reverse peering mode, `Auto` when unset.
    pub fn reverse_peering_or_default(&self) -> BGPReversePeering {
        self.reverse_peering.unwrap_or(BGPReversePeering::Auto)
    }

    /// Graceful-restart time, BIRD's 120s when unset.
    pub fn max_restart_time_or_default(&self) -> Duration {
        self.max_restart_time.unwrap_or(BIRD_DEFAULT_RESTART_TIME)
    }
}

impl Validate for BGPPeerSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        let node_p = path.field("node");
        if !self.node.is_empty() {
            // The name check also enforces the CRD's 253-character limit.
            v.resource_name(&node_p, &self.node);
        }
        for (field, sel) in [
            ("nodeSelector", &self.node_selector),
            ("peerSelector", &self.peer_selector),
            ("localWorkloadSelector", &self.local_workload_selector),
        ] {
            if !sel.is_empty() {
                let p = path.field(field);
                v.selector(&p, sel);
                v.max_len(&p, sel, MAX_PEER_SELECTOR_LEN);
            }
        }
        let peer_p = path.field("peerIP");
        let peer = if self.peer_ip.is_empty() {
            None
        } else {
            v.max_len(&peer_p, &self.peer_ip, MAX_PEER_ADDRESS_LEN);
            let parsed = parse_peer_ip(&self.peer_ip);
            if parsed.is_none() {
                v.report(
                    &peer_p,
                    format!(
                        "{:?} is not valid: peerIP must be an IP address, optionally with a port as <IPv4>:<port> or [<IPv6>]:<port> (port 1-65535)",
                        self.peer_ip
                    ),
                );
            }
            parsed
        };
        let fp = path.field("filters");
        for (i, f) in self.filters.iter().enumerate() {
            v.resource_name(&fp.index(i), f);
        }
        self.password.validate_into(&path.field("password"), v);

        let rb_p = path.field("reachableBy");
        if !self.reachable_by.is_empty() {
            v.max_len(&rb_p, &self.reachable_by, MAX_PEER_ADDRESS_LEN);
            match self.reachable_by.parse::<IpAddr>() {
                Err(_) => v.report(
                    &rb_p,
                    format!("{:?} is not a valid IP address", self.reachable_by),
                ),
                Ok(gw) => {
                    if self.peer_ip.is_empty() {
                        v.report(&rb_p, "reachableBy must be empty when peerIP is empty");
                    } else if let Some((ip, _)) = peer
                        && ip.is_ipv4() != gw.is_ipv4()
                    {
                        v.report(&rb_p, "reachableBy and peerIP address families differ");
                    }
                }
            }
        }

        if !self.node.is_empty() && !self.node_selector.is_empty() {
            v.report(&node_p, "node and nodeSelector cannot both be set");
        }
        if !self.peer_ip.is_empty() && !self.peer_selector.is_empty() {
            v.report(&peer_p, "peerIP and peerSelector cannot both be set");
        }
        if self.as_number.0 != 0 && !self.peer_selector.is_empty() {
            v.report(
                &path.field("asNumber"),
                "asNumber must be empty when peerSelector is set",
            );
        }
        if !self.local_workload_selector.is_empty() {
            if self.as_number.0 == 0 {
                v.report(
                    &path.field("asNumber"),
                    "asNumber is required when localWorkloadSelector is set",
                );
            }
            if !self.peer_ip.is_empty() {
                v.report(
                    &peer_p,
                    "peerIP must be empty when localWorkloadSelector is set",
                );
            }
            if !self.peer_selector.is_empty() {
                v.report(
                    &path.field("peerSelector"),
                    "peerSelector must be empty when localWorkloadSelector is set",
                );
            }
        }
        if self.keep_original_next_hop && self.next_hop_mode.is_some() {
            v.report(
                &path.field("keepOriginalNextHop"),
                "keepOriginalNextHop and nextHopMode cannot both be set; keepOriginalNextHop is deprecated, use nextHopMode instead",
            );
        }
    }
}

impl ResourceKind for BGPPeer {
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        self.spec.validate_into(&Path::new("spec"), v);
    }
}

// ---------------------------------------------------------------------------------------------
// BGPFilter
// ---------------------------------------------------------------------------------------------

/// Restricts a BGPFilter rule to routes learned from peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPFilterMatchSource {
    /// Only routes learned from BGP peers (not locally originated).
    RemotePeers,
}

/// How a route's prefix is compared with a rule's CIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPFilterMatchOperator {
    /// Exactly the CIDR.
    Equal,
    /// Anything but exactly the CIDR.
    NotEqual,
    /// Within the CIDR (or equal).
    In,
    /// Not within the CIDR.
    NotIn,
}

/// What a BGPFilter rule does with a matching route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPFilterAction {
    /// Accept the route (after applying the rule's operations).
    Accept,
    /// Reject the route.
    Reject,
}

/// The kind of peer a BGPFilter rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BGPFilterPeerType {
    /// External peers (different AS).
    #[serde(rename = "eBGP")]
    EBgp,
    /// Internal peers (same AS).
    #[serde(rename = "iBGP")]
    IBgp,
}

/// Community match of a BGPFilter rule (exactly one value today).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPFilterCommunityMatch {
    /// Community values (`aa:nn` or `aa:nn:mm`), exactly one.
    #[serde(default)]
    pub values: Vec<String>,
}

/// Adds a community to a route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPFilterAddCommunity {
    /// The community (`aa:nn` or `aa:nn:mm`).
    #[serde(default)]
    pub value: String,
}

/// Prepends AS numbers to a route's AS path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPFilterPrependASPath {
    /// AS numbers to prepend (1–10), in the order they will appear.
    #[serde(default)]
    pub prefix: Vec<AsNumber>,
}

/// Sets a route's priority (metric).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPFilterSetPriority {
    /// The priority, 1–2147483646.
    #[serde(default)]
    pub value: i64,
}

/// One route modification; exactly one field must be set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPFilterOperation {
    /// Add a community.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_community: Option<BGPFilterAddCommunity>,
    /// Prepend to the AS path.
    #[serde(
        rename = "prependASPath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub prepend_as_path: Option<BGPFilterPrependASPath>,
    /// Set the priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_priority: Option<BGPFilterSetPriority>,
}

/// Checks a BGPFilter community value: `aa:nn` with 16-bit parts or `aa:nn:mm` with 32-bit
/// parts, decimal without leading zeros, at most 32 characters.
fn check_filter_community(v: &mut Validator, path: &Path, s: &str) {
    v.max_len(path, s, MAX_COMMUNITY_VALUE_LEN);
    let ok = community_format(s).is_some_and(|n| {
        let max = if n == 2 {
            u64::from(u16::MAX)
        } else {
            u64::from(u32::MAX)
        };
        s.split(':')
            .all(|p| (p == "0" || !p.starts_with('0')) && p.parse::<u64>().is_ok_and(|x| x <= max))
    });
    v.check(
        ok,
        path,
        format!(
            "invalid community {s:?}: expected aa:nn (16-bit parts) or aa:nn:mm (32-bit parts)"
        ),
    );
}

impl Validate for BGPFilterOperation {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        let set = [
            self.add_community.is_some(),
            self.prepend_as_path.is_some(),
            self.set_priority.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        v.check(
            set == 1,
            path,
            "exactly one operation (addCommunity, prependASPath or setPriority) must be set",
        );
        if let Some(a) = &self.add_community {
            check_filter_community(v, &path.field("addCommunity").field("value"), &a.value);
        }
        if let Some(p) = &self.prepend_as_path {
            let pp = path.field("prependASPath").field("prefix");
            if p.prefix.is_empty() {
                v.report(&pp, "prefix must list at least one AS number");
            }
            v.max_items(&pp, &p.prefix, MAX_PREPEND_AS_PATH);
        }
        if let Some(s) = &self.set_priority {
            v.range(
                &path.field("setPriority").field("value"),
                s.value,
                1,
                MAX_ROUTE_PRIORITY,
            );
        }
    }
}

/// Defines the IPv4 and IPv6 BGPFilter rule types, which differ only in address family.
macro_rules! bgp_filter_rule {
    ($(#[$doc:meta])* $rule:ident, $plen:ident, $plen_doc:literal, $bits:literal,
     $net:expr, $max_cidr_len:expr) => {
        #[doc = $plen_doc]
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $plen {
            /// Shortest prefix length matched (default: the CIDR's own length).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub min: Option<i32>,
            /// Longest prefix length matched (default: the address width).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub max: Option<i32>,
        }

        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $rule {
            /// CIDR the route must match (per `matchOperator` and `prefixLength`).
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub cidr: String,
            /// Range of prefix lengths matched within `cidr`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub prefix_length: Option<$plen>,
            /// Restrict to routes learned from peers.
            #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
            pub source: Option<BGPFilterMatchSource>,
            /// Restrict to routes via this interface (`*` wildcards allowed).
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub interface: String,
            /// How the route's prefix is compared with `cidr`; required with `cidr`.
            #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
            pub match_operator: Option<BGPFilterMatchOperator>,
            /// Restrict to eBGP or iBGP peers.
            #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
            pub peer_type: Option<BGPFilterPeerType>,
            /// Restrict to routes carrying a community.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub communities: Option<BGPFilterCommunityMatch>,
            /// Restrict to routes whose AS path starts with these AS numbers.
            #[serde(rename = "asPathPrefix", default, skip_serializing_if = "Vec::is_empty")]
            pub as_path_prefix: Vec<AsNumber>,
            /// Restrict to routes with this priority, 1–2147483646.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub priority: Option<i64>,
            /// Accept or Reject (required).
            #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
            pub action: Option<BGPFilterAction>,
            /// Modifications applied before accepting (Accept only), 1–10 entries.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub operations: Vec<BGPFilterOperation>,
        }

        impl $rule {
            /// The prefix lengths this rule matches within its CIDR: `min` defaults to the
            /// CIDR's own length and `max` to the address width. `None` without a valid CIDR.
            pub fn prefix_length_range(&self) -> Option<(u8, u8)> {
                let net: IpNet = self.cidr.parse().ok()?;
                let pl = self.prefix_length.clone().unwrap_or_default();
                let min = pl
                    .min
                    .and_then(|m| u8::try_from(m).ok())
                    .unwrap_or(net.prefix_len());
                let max = pl.max.and_then(|m| u8::try_from(m).ok()).unwrap_or($bits);
                Some((min, max))
            }
        }

        impl Validate for $rule {
            fn validate_into(&self, path: &Path, v: &mut Validator) {
                let cidr_p = path.field("cidr");
                if !self.cidr.is_empty() {
                    v.max_len(&cidr_p, &self.cidr, $max_cidr_len);
                    check_strict_cidr(v, &cidr_p, &self.cidr, $net);
                }
                if let Some(pl) = &self.prefix_length {
                    let pp = path.field("prefixLength");
                    if let Some(m) = pl.min {
                        v.range(&pp.field("min"), m, 0, $bits);
                    }
                    if let Some(m) = pl.max {
                        v.range(&pp.field("max"), m, 0, $bits);
                    }
                    if self.cidr.is_empty() {
                        v.report(&pp, "cidr is required when prefixLength is set");
                    }
                }
                if !self.interface.is_empty() {
                    v.check(
                        self.interface == "*" || is_bgp_interface_pattern(&self.interface),
                        &path.field("interface"),
                        format!(
                            "{:?} is not a valid interface name or pattern (1-15 of [a-zA-Z0-9_.*-])",
                            self.interface
                        ),
                    );
                }
                if !self.cidr.is_empty() && self.match_operator.is_none() {
                    v.report(&cidr_p, "cidr and matchOperator must both be set or both be empty");
                }
                if self.cidr.is_empty() && self.match_operator.is_some() {
                    v.report(
                        &path.field("matchOperator"),
                        "cidr and matchOperator must both be set or both be empty",
                    );
                }
                if let Some(c) = &self.communities {
                    let cp = path.field("communities").field("values");
                    if c.values.len() != 1 {
                        v.report(&cp, format!("exactly one community value is supported, got {}", c.values.len()));
                    }
                    for (i, s) in c.values.iter().enumerate() {
                        check_filter_community(v, &cp.index(i), s);
                    }
                }
                if let Some(p) = self.priority {
                    v.range(&path.field("priority"), p, 1, MAX_ROUTE_PRIORITY);
                }
                if self.action.is_none() {
                    v.report(&path.field("action"), "action is required (Accept or Reject)");
                }
                let op = path.field("operations");
                v.max_items(&op, &self.operations, MAX_FILTER_OPERATIONS);
                if !self.operations.is_empty() && self.action != Some(BGPFilterAction::Accept) {
                    v.report(&op, "operations may only be used with action Accept");
                }
                self.operations.validate_into(&op, v);
            }
        }
    };
}

bgp_filter_rule!(
    /// An IPv4 BGPFilter rule: match criteria, an action and optional operations.
    BGPFilterRuleV4,
    BGPFilterPrefixLengthV4,
    "Prefix-length range of an IPv4 rule (each 0–32).",
    32,
    NetKind::NetV4,
    MAX_FILTER_CIDR_V4_LEN
);

bgp_filter_rule!(
    /// An IPv6 BGPFilter rule: match criteria, an action and optional operations.
    BGPFilterRuleV6,
    BGPFilterPrefixLengthV6,
    "Prefix-length range of an IPv6 rule (each 0–128).",
    128,
    NetKind::NetV6,
    MAX_FILTER_CIDR_V6_LEN
);

/// Ordered import and export rules per address family, applied to the peers that list the
/// filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPFilterSpec {
    /// Rules for IPv4 routes exported to peers.
    #[serde(rename = "exportV4", default, skip_serializing_if = "Vec::is_empty")]
    pub export_v4: Vec<BGPFilterRuleV4>,
    /// Rules for IPv4 routes imported from peers.
    #[serde(rename = "importV4", default, skip_serializing_if = "Vec::is_empty")]
    pub import_v4: Vec<BGPFilterRuleV4>,
    /// Rules for IPv6 routes exported to peers.
    #[serde(rename = "exportV6", default, skip_serializing_if = "Vec::is_empty")]
    pub export_v6: Vec<BGPFilterRuleV6>,
    /// Rules for IPv6 routes imported from peers.
    #[serde(rename = "importV6", default, skip_serializing_if = "Vec::is_empty")]
    pub import_v6: Vec<BGPFilterRuleV6>,
}

impl Validate for BGPFilterSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        self.export_v4.validate_into(&path.field("exportV4"), v);
        self.import_v4.validate_into(&path.field("importV4"), v);
        self.export_v6.validate_into(&path.field("exportV6"), v);
        self.import_v6.validate_into(&path.field("importV6"), v);
    }
}

impl ResourceKind for BGPFilter {
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        v.resource_name(&Path::new("metadata").field("name"), &self.metadata.name);
        self.spec.validate_into(&Path::new("spec"), v);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testutil::{decode_one as one, doc, exact_round_trip};
    use crate::{Kind, Resource, decode_yaml};

    fn ok(kind: &str, name: &str, spec: &str) -> Resource {
        crate::testutil::expect_valid(&doc(kind, name, spec))
    }

    /// Asserts the document is rejected with a problem at each of `paths`.
    fn bad(kind: &str, name: &str, spec: &str, paths: &[&str]) {
        crate::testutil::expect_invalid(&doc(kind, name, spec), paths);
    }

    // ---- BGPConfiguration ----

    const BGP_CONFIG_FULL: &str = r#"{
      "apiVersion": "projectcalico.org/v3",
      "kind": "BGPConfiguration",
      "metadata": {"name": "default"},
      "spec": {
        "logSeverityScreen": "Info",
        "nodeToNodeMeshEnabled": true,
        "asNumber": 63400,
        "serviceLoadBalancerIPs": [{"cidr": "192.0.2.0/24"}],
        "serviceExternalIPs": [{"cidr": "104.244.42.129/32"}, {"cidr": "172.217.3.0/24"}],
        "serviceClusterIPs": [{"cidr": "10.96.0.0/12"}, {"cidr": "fd00:10:96::/112"}],
        "serviceLoadBalancerAggregation": "Disabled",
        "communities": [{"name": "bgp-large-community", "value": "63400:300:100"}],
        "prefixAdvertisements": [
          {"cidr": "172.218.4.0/26", "communities": ["bgp-large-community", "63400:120"]}
        ],
        "listenPort": 178,
        "nodeMeshPassword": {"secretKeyRef": {"name": "bgp-secrets", "key": "mesh", "optional": false}},
        "nodeMeshMaxRestartTime": "2m0s",
        "bindMode": "NodeIP",
        "ignoredInterfaces": ["iface-1", "vxlan*"],
        "localWorkloadPeeringIPV4": "169.254.0.179",
        "localWorkloadPeeringIPV6": "fd12:3456:789a::1",
        "programClusterRoutes": "EnabledIPIPOnly",
        "ipv4NormalRoutePriority": 1024,
        "ipv6NormalRoutePriority": 2048
      }
    }"#;

    #[test]
    fn bgp_configuration_round_trip() {
        let r = exact_round_trip(Kind::BGPConfiguration, BGP_CONFIG_FULL);
        r.validate().unwrap();
    }

    #[test]
    fn bgp_configuration_defaults_and_accessors() {
        let r = ok("BGPConfiguration", "default", "{}");
        let Resource::BGPConfiguration(c) = r else {
            unreachable!()
        };
        assert_eq!(c.spec.log_severity_screen, "Info");
        assert_eq!(
            c.spec.service_load_balancer_aggregation,
            Some(ServiceLoadBalancerAggregation::Enabled)
        );
        assert_eq!(
            c.spec.program_cluster_routes,
            Some(BGPProgramClusterRoutes::EnabledNoEncapOnly)
        );
        // Runtime-only defaults stay unset but have accessors.
        assert_eq!(c.spec.as_number, None);
        assert_eq!(c.spec.as_number_or_default(), AsNumber(64512));
        assert!(c.spec.node_to_node_mesh_enabled_or_default());
        assert_eq!(c.spec.listen_port_or_default(), 179);
        assert_eq!(c.spec.ipv4_normal_route_priority_or_default(), 1024);
        assert_eq!(
            c.spec.node_mesh_max_restart_time_or_default(),
            Duration::from_secs(120)
        );
        assert_eq!(c.spec.bind_mode_or_default(), BGPBindMode::None);
        // Explicit values are not overwritten.
        let r = ok(
            "BGPConfiguration",
            "default",
            "logSeverityScreen: Debug\nprogramClusterRoutes: Enabled",
        );
        let Resource::BGPConfiguration(c) = r else {
            unreachable!()
        };
        assert_eq!(c.spec.log_severity_screen, "Debug");
        assert_eq!(
            c.spec.program_cluster_routes,
            Some(BGPProgramClusterRoutes::Enabled)
        );
        let Resource::BGPConfiguration(c) =
            one(&doc("BGPConfiguration", "default", BGP_CONFIG_FULL_SPEC))
        else {
            unreachable!()
        };
        assert_eq!(
            c.spec.resolve_community("bgp-large-community"),
            Some("63400:300:100")
        );
        assert_eq!(c.spec.resolve_community("65000:1"), Some("65000:1"));
        assert_eq!(c.spec.resolve_community("nope"), None);
    }

    const BGP_CONFIG_FULL_SPEC: &str = "communities: [{name: bgp-large-community, value: '63400:300:100'}]\nprefixAdvertisements: [{cidr: 10.0.0.0/8, communities: [bgp-large-community]}]";

    #[test]
    fn bgp_configuration_log_level() {
        ok("BGPConfiguration", "default", "logSeverityScreen: Warning");
        ok("BGPConfiguration", "default", "logSeverityScreen: info");
        bad(
            "BGPConfiguration",
            "default",
            "logSeverityScreen: Verbose",
            &["spec.logSeverityScreen"],
        );
    }

    #[test]
    fn bgp_configuration_service_cidrs() {
        ok(
            "BGPConfiguration",
            "default",
            "serviceClusterIPs: [{cidr: 10.96.0.0/12}]\nserviceExternalIPs: [{cidr: 'fd00::/64'}]",
        );
        bad(
            "BGPConfiguration",
            "default",
            "serviceClusterIPs: [{cidr: 10.96.0.1/12}]",
            &["spec.serviceClusterIPs[0].cidr"],
        );
        bad(
            "BGPConfiguration",
            "default",
            "serviceExternalIPs: [{cidr: 'not-a-cidr'}]",
            &["spec.serviceExternalIPs[0].cidr"],
        );
        bad(
            "BGPConfiguration",
            "default",
            "serviceLoadBalancerIPs: [{cidr: 192.0.2.10}]",
            &["spec.serviceLoadBalancerIPs[0].cidr"],
        );
        bad(
            "BGPConfiguration",
            "default",
            "serviceLoadBalancerIPs: [{cidr: 192.0.2.0/24}, {cidr: 192.0.2.0/24}]",
            &["spec.serviceLoadBalancerIPs[1]"],
        );
    }

    #[test]
    fn bgp_configuration_communities() {
        ok(
            "BGPConfiguration",
            "default",
            "communities: [{name: c1, value: '65535:65535'}, {name: big, value: '4294967295:1:2'}]\nprefixAdvertisements: [{cidr: 10.0.0.0/8, communities: [c1, big, '1:2']}]",
        );
        // Defined but unused.
        bad(
            "BGPConfiguration",
            "default",
            "communities: [{name: c1, value: '1:2'}]",
            &["spec.communities"],
        );
        // 16-bit parts for standard communities.
        bad(
            "BGPConfiguration",
            "default",
            "communities: [{name: c1, value: '65536:1'}]\nprefixAdvertisements: [{cidr: 10.0.0.0/8, communities: [c1]}]",
            &["spec.communities[0].value"],
        );
        // 32-bit parts for large communities.
        bad(
            "BGPConfiguration",
            "default",
            "communities: [{name: c1, value: '4294967296:1:1'}]\nprefixAdvertisements: [{cidr: 10.0.0.0/8, communities: [c1]}]",
            &["spec.communities[0].value"],
        );
        bad(
            "BGPConfiguration",
            "default",
            "communities: [{name: c1, value: 'abc'}, {value: '1:1'}, {name: Bad_Name, value: '1:1'}]\nprefixAdvertisements: [{cidr: 10.0.0.0/8, communities: [c1]}]",
            &[
                "spec.communities[0].value",
                "spec.communities[1].name",
                "spec.communities[2].name",
            ],
        );
        bad(
            "BGPConfiguration",
            "default",
            "prefixAdvertisements: [{cidr: 10.0.0.0/8, communities: [undefined-name, '70000:1']}]",
            &[
                "spec.prefixAdvertisements[0].communities[0]",
                "spec.prefixAdvertisements[0].communities[1]",
            ],
        );
        bad(
            "BGPConfiguration",
            "default",
            "prefixAdvertisements: [{communities: ['1:1']}, {cidr: 10.0.0.1/8, communities: ['1:1']}, {cidr: 10.0.0.0/8}]",
            &[
                "spec.prefixAdvertisements[0].cidr",
                "spec.prefixAdvertisements[1].cidr",
                "spec.prefixAdvertisements[2].communities",
            ],
        );
    }

    #[test]
    fn bgp_configuration_mesh_rules() {
        ok(
            "BGPConfiguration",
            "default",
            "nodeToNodeMeshEnabled: true\nnodeMeshPassword: {secretKeyRef: {name: s, key: k}}\nnodeMeshMaxRestartTime: 90s",
        );
        ok(
            "BGPConfiguration",
            "default",
            "nodeMeshPassword: {secretKeyRef: {name: s, key: k}}",
        );
        bad(
            "BGPConfiguration",
            "default",
            "nodeToNodeMeshEnabled: false\nnodeMeshPassword: {secretKeyRef: {name: s, key: k}}\nnodeMeshMaxRestartTime: 90s",
            &["spec.nodeMeshPassword", "spec.nodeMeshMaxRestartTime"],
        );
        bad(
            "BGPConfiguration",
            "default",
            "nodeMeshPassword: {secretKeyRef: {name: s}}",
            &["spec.nodeMeshPassword.secretKeyRef.key"],
        );
    }

    #[test]
    fn bgp_configuration_default_only_fields() {
        ok(
            "BGPConfiguration",
            "node.worker-1",
            "listenPort: 1179\nlogSeverityScreen: Debug\nprefixAdvertisements: [{cidr: 10.0.0.0/8, communities: ['1:1']}]",
        );
        bad(
            "BGPConfiguration",
            "node.worker-1",
            "asNumber: 65001\nnodeToNodeMeshEnabled: true\nserviceClusterIPs: [{cidr: 10.96.0.0/12}]\nserviceExternalIPs: [{cidr: 10.1.0.0/16}]\nserviceLoadBalancerIPs: [{cidr: 10.2.0.0/16}]\nnodeMeshPassword: {secretKeyRef: {name: s, key: k}}\nnodeMeshMaxRestartTime: 1m",
            &[
                "spec.asNumber",
                "spec.nodeToNodeMeshEnabled",
                "spec.serviceClusterIPs",
                "spec.serviceExternalIPs",
                "spec.serviceLoadBalancerIPs",
                "spec.nodeMeshPassword",
                "spec.nodeMeshMaxRestartTime",
            ],
        );
    }

    #[test]
    fn bgp_configuration_misc_fields() {
        ok(
            "BGPConfiguration",
            "default",
            "ignoredInterfaces: ['eth*', 'cali.100']\nlocalWorkloadPeeringIPV4: 169.254.0.1\nlocalWorkloadPeeringIPV6: 'fe80::1'",
        );
        bad(
            "BGPConfiguration",
            "default",
            "ignoredInterfaces: ['*', 'much-too-long-interface', 'a b', 'x', 'x']",
            &[
                "spec.ignoredInterfaces[0]",
                "spec.ignoredInterfaces[1]",
                "spec.ignoredInterfaces[2]",
                "spec.ignoredInterfaces[4]",
            ],
        );
        bad(
            "BGPConfiguration",
            "default",
            "localWorkloadPeeringIPV4: 'fe80::1'\nlocalWorkloadPeeringIPV6: 169.254.0.1",
            &[
                "spec.localWorkloadPeeringIPV4",
                "spec.localWorkloadPeeringIPV6",
            ],
        );
        bad(
            "BGPConfiguration",
            "default",
            "ipv4NormalRoutePriority: 0\nipv6NormalRoutePriority: 2147483647",
            &[
                "spec.ipv4NormalRoutePriority",
                "spec.ipv6NormalRoutePriority",
            ],
        );
        ok(
            "BGPConfiguration",
            "default",
            "ipv4NormalRoutePriority: 1\nipv6NormalRoutePriority: 2147483646",
        );
        // Enum and range errors surface at decode time.
        assert!(decode_yaml(&doc("BGPConfiguration", "default", "bindMode: All")).is_err());
        assert!(
            decode_yaml(&doc(
                "BGPConfiguration",
                "default",
                "programClusterRoutes: enabled"
            ))
            .is_err()
        );
        assert!(decode_yaml(&doc("BGPConfiguration", "default", "listenPort: 65536")).is_err());
        bad("BGPConfiguration", "Default", "{}", &["metadata.name"]);
    }

    // ---- BGPPeer ----

    const BGP_PEER_FULL: &str = r#"{
      "apiVersion": "projectcalico.org/v3",
      "kind": "BGPPeer",
      "metadata": {"name": "rack1-tor", "labels": {"rack": "r1"}},
      "spec": {
        "nodeSelector": "rack == 'r1'",
        "peerIP": "[fd00:1::1]:1179",
        "asNumber": 64567,
        "localASNumber": 64512,
        "nextHopMode": "Self",
        "password": {"secretKeyRef": {"name": "bgp-secrets", "key": "rack1"}},
        "sourceAddress": "None",
        "maxRestartTime": "15m0s",
        "keepaliveTime": "20s",
        "numAllowedLocalASNumbers": 2,
        "ttlSecurity": 1,
        "filters": ["export-pods", "import-default"],
        "reachableBy": "fd00:1::fe",
        "reversePeering": "Manual"
      }
    }"#;

    #[test]
    fn bgp_peer_round_trip_and_accessors() {
        let r = exact_round_trip(Kind::BGPPeer, BGP_PEER_FULL);
        r.validate().unwrap();
        let Resource::BGPPeer(p) = r else {
            unreachable!()
        };
        assert_eq!(
            p.spec.peer_ip_and_port(),
            Some(("fd00:1::1".parse().unwrap(), Some(1179)))
        );
        assert_eq!(p.spec.source_address_or_default(), BGPSourceAddress::None);
        assert_eq!(
            BGPPeerSpec::default().source_address_or_default(),
            BGPSourceAddress::UseNodeIP
        );
        assert_eq!(
            BGPPeerSpec::default().reverse_peering_or_default(),
            BGPReversePeering::Auto
        );
        assert_eq!(
            BGPPeerSpec::default().max_restart_time_or_default(),
            Duration::from_secs(120)
        );
        // The secret reference's Debug output names where the password lives, nothing else.
        let dbg = format!("{:?}", p.spec.password);
        assert!(
            dbg.contains("bgp-secrets") && dbg.contains("rack1"),
            "{dbg}"
        );
    }

    #[test]
    fn bgp_peer_ip_formats() {
        for ip in [
            "10.0.0.1",
            "fd00::1",
            "10.0.0.1:179",
            "[fd00::1]:179",
            "fd00::1:179",
            "[10.0.0.1]:65535",
        ] {
            ok("BGPPeer", "p", &format!("peerIP: '{ip}'\nasNumber: 64512"));
        }
        for ip in [
            "not-an-ip",
            "999.999.999.999",
            "10.0.0.1:0",
            "10.0.0.1:99999",
            "[fd00::1]:0",
            "[fd00::1]",
            "fd00::1]:179",
            "10.0.0.1:",
            "[fd00::1]:179x",
        ] {
            bad(
                "BGPPeer",
                "p",
                &format!("peerIP: '{ip}'\nasNumber: 64512"),
                &["spec.peerIP"],
            );
        }
    }

    #[test]
    fn bgp_peer_exclusive_fields() {
        ok(
            "BGPPeer",
            "p",
            "node: node1\npeerIP: 10.0.0.1\nasNumber: 64512",
        );
        ok(
            "BGPPeer",
            "p",
            "nodeSelector: all()\npeerSelector: route-reflector == 'true'",
        );
        bad(
            "BGPPeer",
            "p",
            "node: node1\nnodeSelector: all()\npeerIP: 10.0.0.1\nasNumber: 1",
            &["spec.node"],
        );
        bad(
            "BGPPeer",
            "p",
            "peerIP: 10.0.0.1\npeerSelector: all()",
            &["spec.peerIP"],
        );
        bad(
            "BGPPeer",
            "p",
            "peerSelector: all()\nasNumber: 64512",
            &["spec.asNumber"],
        );
    }

    #[test]
    fn bgp_peer_local_workload_selector() {
        ok(
            "BGPPeer",
            "p",
            "localWorkloadSelector: color == 'red'\nasNumber: 65401",
        );
        bad(
            "BGPPeer",
            "p",
            "localWorkloadSelector: color == 'red'",
            &["spec.asNumber"],
        );
        bad(
            "BGPPeer",
            "p",
            "localWorkloadSelector: all()\nasNumber: 1\npeerIP: 10.0.0.1",
            &["spec.peerIP"],
        );
        bad(
            "BGPPeer",
            "p",
            "localWorkloadSelector: all()\npeerSelector: all()",
            &["spec.peerSelector", "spec.asNumber"],
        );
    }

    #[test]
    fn bgp_peer_reachable_by_and_next_hop() {
        ok(
            "BGPPeer",
            "p",
            "peerIP: 10.0.0.1\nasNumber: 1\nreachableBy: 10.0.0.254",
        );
        bad(
            "BGPPeer",
            "p",
            "peerSelector: all()\nreachableBy: 10.0.0.254",
            &["spec.reachableBy"],
        );
        bad(
            "BGPPeer",
            "p",
            "peerIP: 10.0.0.1\nasNumber: 1\nreachableBy: 'fd00::1'",
            &["spec.reachableBy"],
        );
        bad(
            "BGPPeer",
            "p",
            "peerIP: 10.0.0.1\nasNumber: 1\nreachableBy: gateway",
            &["spec.reachableBy"],
        );
        ok(
            "BGPPeer",
            "p",
            "peerIP: 10.0.0.1\nasNumber: 1\nkeepOriginalNextHop: true",
        );
        ok(
            "BGPPeer",
            "p",
            "peerIP: 10.0.0.1\nasNumber: 1\nnextHopMode: Keep",
        );
        bad(
            "BGPPeer",
            "p",
            "peerIP: 10.0.0.1\nasNumber: 1\nkeepOriginalNextHop: true\nnextHopMode: Self",
            &["spec.keepOriginalNextHop"],
        );
        assert!(decode_yaml(&doc("BGPPeer", "p", "nextHopMode: Invalid")).is_err());
        assert!(decode_yaml(&doc("BGPPeer", "p", "sourceAddress: NodeIP")).is_err());
    }

    #[test]
    fn bgp_peer_names_selectors_and_password() {
        bad(
            "BGPPeer",
            "p",
            "node: Node_1\npeerIP: 10.0.0.1\nasNumber: 1",
            &["spec.node"],
        );
        bad(
            "BGPPeer",
            "p",
            "nodeSelector: \"a ==\"\npeerSelector: \"has(\"",
            &["spec.nodeSelector", "spec.peerSelector"],
        );
        bad(
            "BGPPeer",
            "p",
            "peerIP: 10.0.0.1\nasNumber: 1\nfilters: [good, Bad_Filter]",
            &["spec.filters[1]"],
        );
        bad(
            "BGPPeer",
            "p",
            "peerIP: 10.0.0.1\nasNumber: 1\npassword: {secretKeyRef: {name: s}}",
            &["spec.password.secretKeyRef.key"],
        );
        bad(
            "BGPPeer",
            "p",
            &format!("node: {}\npeerIP: 10.0.0.1\nasNumber: 1", "n".repeat(254)),
            &["spec.node"],
        );
        // A 4-byte AS number is fine; past 32 bits is a decode error.
        ok("BGPPeer", "p", "peerIP: 10.0.0.1\nasNumber: 4200000001");
        assert!(
            decode_yaml(&doc(
                "BGPPeer",
                "p",
                "peerIP: 10.0.0.1\nasNumber: 4294967296"
            ))
            .is_err()
        );
    }

    // ---- BGPFilter ----

    const BGP_FILTER_FULL: &str = r#"{
      "apiVersion": "projectcalico.org/v3",
      "kind": "BGPFilter",
      "metadata": {"name": "tor-filter"},
      "spec": {
        "exportV4": [
          {"cidr": "10.10.0.0/16", "prefixLength": {"min": 24, "max": 28}, "source": "RemotePeers",
           "matchOperator": "In", "peerType": "eBGP", "action": "Accept",
           "operations": [{"addCommunity": {"value": "65000:100"}}, {"prependASPath": {"prefix": [65000, 65000]}},
                          {"setPriority": {"value": 512}}]},
          {"interface": "vxlan.calico", "action": "Reject"}
        ],
        "importV4": [
          {"communities": {"values": ["65000:100:200"]}, "asPathPrefix": [65001], "priority": 100, "action": "Accept"}
        ],
        "exportV6": [{"cidr": "fd00:10::/64", "matchOperator": "Equal", "action": "Accept"}],
        "importV6": [{"cidr": "fd00::/8", "prefixLength": {"max": 64}, "matchOperator": "NotIn", "peerType": "iBGP", "action": "Reject"}]
      }
    }"#;

    #[test]
    fn bgp_filter_round_trip_and_prefix_lengths() {
        let r = exact_round_trip(Kind::BGPFilter, BGP_FILTER_FULL);
        r.validate().unwrap();
        let Resource::BGPFilter(f) = r else {
            unreachable!()
        };
        assert_eq!(f.spec.export_v4[0].prefix_length_range(), Some((24, 28)));
        assert_eq!(f.spec.export_v4[1].prefix_length_range(), None);
        assert_eq!(f.spec.export_v6[0].prefix_length_range(), Some((64, 128)));
        assert_eq!(f.spec.import_v6[0].prefix_length_range(), Some((8, 64)));
    }

    #[test]
    fn bgp_filter_cidr_and_match_operator() {
        ok(
            "BGPFilter",
            "f",
            "exportV4: [{cidr: 10.0.0.0/8, matchOperator: In, action: Accept}]",
        );
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{cidr: 10.0.0.0/8, action: Accept}]",
            &["spec.exportV4[0].cidr"],
        );
        bad(
            "BGPFilter",
            "f",
            "importV6: [{matchOperator: Equal, action: Accept}]",
            &["spec.importV6[0].matchOperator"],
        );
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{prefixLength: {min: 16}, action: Accept}]",
            &["spec.exportV4[0].prefixLength"],
        );
        // Family, strict masking and CIDR notation.
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{cidr: 'fd00::/8', matchOperator: In, action: Accept}]",
            &["spec.exportV4[0].cidr"],
        );
        bad(
            "BGPFilter",
            "f",
            "exportV6: [{cidr: 10.0.0.0/8, matchOperator: In, action: Accept}]",
            &["spec.exportV6[0].cidr"],
        );
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{cidr: 10.0.0.1/8, matchOperator: In, action: Accept}]",
            &["spec.exportV4[0].cidr"],
        );
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{cidr: 10.0.0.1, matchOperator: In, action: Accept}]",
            &["spec.exportV4[0].cidr"],
        );
        assert!(
            decode_yaml(&doc(
                "BGPFilter",
                "f",
                "exportV4: [{cidr: 10.0.0.0/8, matchOperator: Contains, action: Accept}]"
            ))
            .is_err()
        );
    }

    #[test]
    fn bgp_filter_prefix_length_bounds() {
        ok(
            "BGPFilter",
            "f",
            "exportV4: [{cidr: 10.0.0.0/8, matchOperator: In, prefixLength: {min: 0, max: 32}, action: Accept}]",
        );
        ok(
            "BGPFilter",
            "f",
            "exportV6: [{cidr: 'fd00::/8', matchOperator: In, prefixLength: {min: 0, max: 128}, action: Accept}]",
        );
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{cidr: 10.0.0.0/8, matchOperator: In, prefixLength: {min: -1, max: 33}, action: Accept}]",
            &[
                "spec.exportV4[0].prefixLength.min",
                "spec.exportV4[0].prefixLength.max",
            ],
        );
        bad(
            "BGPFilter",
            "f",
            "importV6: [{cidr: 'fd00::/8', matchOperator: In, prefixLength: {max: 129}, action: Accept}]",
            &["spec.importV6[0].prefixLength.max"],
        );
    }

    #[test]
    fn bgp_filter_operations() {
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{action: Reject, operations: [{setPriority: {value: 10}}]}]",
            &["spec.exportV4[0].operations"],
        );
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{action: Accept, operations: [{}]}]",
            &["spec.exportV4[0].operations[0]"],
        );
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{action: Accept, operations: [{addCommunity: {value: '1:1'}, setPriority: {value: 100}}]}]",
            &["spec.exportV4[0].operations[0]"],
        );
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{action: Accept, operations: [{addCommunity: {value: '65536:1'}}, {prependASPath: {prefix: []}}, {setPriority: {value: 0}}]}]",
            &[
                "spec.exportV4[0].operations[0].addCommunity.value",
                "spec.exportV4[0].operations[1].prependASPath.prefix",
                "spec.exportV4[0].operations[2].setPriority.value",
            ],
        );
        let eleven = ["{setPriority: {value: 1}}"; 11].join(", ");
        bad(
            "BGPFilter",
            "f",
            &format!("exportV4: [{{action: Accept, operations: [{eleven}]}}]"),
            &["spec.exportV4[0].operations"],
        );
        let long = ["1"; 11].join(", ");
        bad(
            "BGPFilter",
            "f",
            &format!(
                "exportV4: [{{action: Accept, operations: [{{prependASPath: {{prefix: [{long}]}}}}]}}]"
            ),
            &["spec.exportV4[0].operations[0].prependASPath.prefix"],
        );
    }

    #[test]
    fn bgp_filter_other_fields() {
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{interface: 'much-too-long-ifname'}]",
            &["spec.exportV4[0].interface", "spec.exportV4[0].action"],
        );
        ok(
            "BGPFilter",
            "f",
            "exportV4: [{interface: '*', action: Reject}, {interface: 'cali*', action: Accept}]",
        );
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{priority: 0, action: Accept}]",
            &["spec.exportV4[0].priority"],
        );
        bad(
            "BGPFilter",
            "f",
            "exportV4: [{communities: {values: ['1:1', '2:2']}, action: Accept}, {communities: {values: ['01:1']}, action: Accept}]",
            &[
                "spec.exportV4[0].communities.values",
                "spec.exportV4[1].communities.values[0]",
            ],
        );
        assert!(
            decode_yaml(&doc(
                "BGPFilter",
                "f",
                "exportV4: [{peerType: ebgp, action: Accept}]"
            ))
            .is_err()
        );
        assert!(
            decode_yaml(&doc(
                "BGPFilter",
                "f",
                "exportV4: [{source: Local, action: Accept}]"
            ))
            .is_err()
        );
    }
}
