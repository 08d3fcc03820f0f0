//! FelixConfiguration: the settings of Felix, Calico's per-node agent.
//!
//! A FelixConfiguration named `default` applies to every node, one named `node.<nodename>`
//! applies to that node only, and any other name is scoped by its `spec.nodeSelector`.
//! Every field is optional: an unset field means "use Felix's built-in default". Those
//! defaults are *not* written into the resource (Calico does not default them either); the
//! accessor methods on [`FelixConfigurationSpec`] (for example
//! [`FelixConfigurationSpec::interface_prefix`]) return the value Felix would use.
//!
//! Field names, types and omission rules follow Calico's `projectcalico.org/v3`
//! `FelixConfigurationSpec`, including the fields added by recent releases (nftables, BPF
//! conntrack timers, Istio ambient mode, KubeVirt live migration, local-subnet L2
//! reachability, selector-scoped configurations). A few fields that recent releases dropped
//! from the schema (`iptablesLockFilePath`, `iptablesLockTimeout`,
//! `bpfKubeProxyEndpointSlicesEnabled`) are still accepted so that older manifests decode.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::resource::{FelixConfiguration, ResourceKind, validate_common_meta};
use crate::scalar::{Dscp, Duration, Port};
use crate::validation::{NetKind, Path, Validate, Validator, check_net, is_dns1123_label};

// ---------------------------------------------------------------------------------------------
// Closed string enums
// ---------------------------------------------------------------------------------------------

/// Defines a closed, case-sensitive string enum with exact serde names, `as_str`, a
/// case-insensitive parser and `Display`.
macro_rules! felix_enum {
    (
        $(#[$doc:meta])*
        $name:ident {
            $( $(#[$vdoc:meta])* $var:ident = $s:literal ),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            $(
                $(#[$vdoc])*
                #[serde(rename = $s)]
                $var,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The value exactly as Calico spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $s,)+
                }
            }

            /// Parses a value ignoring ASCII case (Felix itself is lenient about case).
            pub fn parse_ignore_case(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

felix_enum! {
    /// Which iptables backend Felix drives (`iptablesBackend`).
    FelixIptablesBackend {
        /// The legacy (x_tables) backend.
        Legacy = "Legacy",
        /// The nf_tables-based iptables backend.
        Nft = "NFT",
        /// Detect the backend in use on the host.
        Auto = "Auto",
    }
}

felix_enum! {
    /// Whether Felix programs nftables instead of iptables (`nftablesMode`).
    FelixNftablesMode {
        /// Use native nftables.
        Enabled = "Enabled",
        /// Use iptables.
        Disabled = "Disabled",
        /// Detect from the host (the CRD default).
        Auto = "Auto",
    }
}

felix_enum! {
    /// What Felix does to the AWS EC2 source/destination check (`awsSrcDstCheck`).
    FelixAwsSrcDstCheck {
        /// Leave the setting alone.
        DoNothing = "DoNothing",
        /// Turn the check on.
        Enable = "Enable",
        /// Turn the check off (allows unencapsulated pod traffic within a subnet).
        Disable = "Disable",
    }
}

felix_enum! {
    /// A plain on/off switch, used by several settings (`floatingIPs`, `ipForwarding`,
    /// `programClusterRoutes`, `bpfHostNetworkedNATWithoutCTLB`, `bpfProfiling`,
    /// `windowsManageFirewallRules`, `flowLogsLocalReporter`, `istioAmbientMode`).
    FelixEnabledDisabled {
        /// On.
        Enabled = "Enabled",
        /// Off.
        Disabled = "Disabled",
    }
}

felix_enum! {
    /// How the BPF connect-time load balancer is used (`bpfConnectTimeLoadBalancing`).
    FelixBpfConnectTimeLb {
        /// Only for TCP services.
        Tcp = "TCP",
        /// For all services.
        Enabled = "Enabled",
        /// Not at all.
        Disabled = "Disabled",
    }
}

felix_enum! {
    /// How BPF conntrack entries are cleaned up (`bpfConntrackMode`).
    FelixBpfConntrackMode {
        /// Use the BPF cleanup program where supported.
        Auto = "Auto",
        /// Always clean up from user space.
        Userspace = "Userspace",
        /// Always use the BPF cleanup program.
        BpfProgram = "BPFProgram",
    }
}

felix_enum! {
    /// Log level of the BPF conntrack cleanup program (`bpfConntrackLogLevel`).
    FelixBpfConntrackLogLevel {
        /// No logs.
        Off = "Off",
        /// Debug logs.
        Debug = "Debug",
    }
}

felix_enum! {
    /// Whether flow logs re-evaluate pending policy traces (`flowLogsPolicyEvaluationMode`).
    FelixFlowLogsPolicyEvaluationMode {
        /// Do not evaluate pending traces.
        None = "None",
        /// Evaluate active flows continuously.
        Continuous = "Continuous",
    }
}

felix_enum! {
    /// Which destinations are exempt from outgoing NAT (`natOutgoingExclusions`).
    FelixNatOutgoingExclusions {
        /// Only destinations inside IP pools are exempt.
        IpPoolsOnly = "IPPoolsOnly",
        /// Destinations inside IP pools and host IPs are exempt.
        IpPoolsAndHostIps = "IPPoolsAndHostIPs",
    }
}

felix_enum! {
    /// Whether BPF may redirect straight to a workload's peer device (`bpfRedirectToPeer`).
    FelixBpfRedirectToPeer {
        /// Allowed (also from L3 devices).
        Enabled = "Enabled",
        /// Not allowed.
        Disabled = "Disabled",
        /// Deprecated legacy value, treated by Felix like `Enabled`; accepted so that older
        /// manifests still decode.
        L2Only = "L2Only",
    }
}

felix_enum! {
    /// How BPF programs are attached to interfaces (`bpfAttachType`).
    FelixBpfAttachType {
        /// Legacy qdisc attachment.
        Tc = "TC",
        /// TCX attachment (falls back to TC when unavailable).
        Tcx = "TCX",
    }
}

felix_enum! {
    /// BPF JIT hardening handling (`bpfJITHardening`).
    FelixBpfJitHardening {
        /// Relax strict hardening (2) to 1.
        Auto = "Auto",
        /// Leave the kernel setting alone.
        Strict = "Strict",
    }
}

felix_enum! {
    /// Source address for host traffic over IPIP/VXLAN in BPF mode (`bpfOverlayHostSourceIP`).
    FelixBpfOverlayHostSourceIp {
        /// Give the tunnel device an address and use it.
        TunnelAddress = "TunnelAddress",
        /// Use the node's own address.
        HostAddress = "HostAddress",
    }
}

felix_enum! {
    /// Proxy ARP/NDP for local pods and LoadBalancer VIPs (`localSubnetL2Reachability`).
    FelixLocalSubnetL2Reachability {
        /// Off.
        Disabled = "Disabled",
        /// Answer for pods and selected LoadBalancer VIPs on the host subnet.
        PodsAndLoadBalancers = "PodsAndLoadBalancers",
    }
}

felix_enum! {
    /// A normalised log severity, as returned by the log accessors (the resource itself keeps
    /// the user's spelling, which Calico accepts in any case).
    FelixLogSeverity {
        /// Trace.
        Trace = "Trace",
        /// Debug.
        Debug = "Debug",
        /// Info.
        Info = "Info",
        /// Warning.
        Warning = "Warning",
        /// Error.
        Error = "Error",
        /// Fatal.
        Fatal = "Fatal",
    }
}

felix_enum! {
    /// A normalised packet verdict, as returned by the action accessors
    /// ([`FelixConfigurationSpec::default_endpoint_to_host_action`] and friends).
    FelixVerdict {
        /// Accept the packet.
        Accept = "Accept",
        /// Drop the packet.
        Drop = "Drop",
        /// Reject the packet.
        Reject = "Reject",
        /// Return to the calling chain.
        Return = "Return",
    }
}

// ---------------------------------------------------------------------------------------------
// Nested types
// ---------------------------------------------------------------------------------------------

/// A protocol, port and optional CIDR that a failsafe rule always allows (`ProtoPort`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FelixProtoPort {
    /// `TCP`, `UDP` or `SCTP`; empty means TCP.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// The port, 1–65535.
    #[serde(default)]
    pub port: u16,
    /// Optional CIDR restricting the remote side; empty means anywhere.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub net: String,
}

impl FelixProtoPort {
    /// A rule for `protocol`/`port` from anywhere.
    pub fn new(protocol: &str, port: u16) -> Self {
        FelixProtoPort {
            protocol: protocol.to_owned(),
            port,
            net: String::new(),
        }
    }
}

/// An override of one health reporter's liveness timeout (`HealthTimeoutOverride`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FelixHealthTimeoutOverride {
    /// Reporter name, e.g. `InternalDataplaneMainLoop` (letters, digits, `_`, `-`, space).
    #[serde(default)]
    pub name: String,
    /// The new timeout (not negative).
    #[serde(default)]
    pub timeout: Duration,
}

/// The legacy single route-table index range (`RouteTableRange`), within 1–250.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FelixRouteTableRange {
    /// First table index.
    #[serde(default)]
    pub min: i64,
    /// Last table index (inclusive).
    #[serde(default)]
    pub max: i64,
}

/// One range of route-table indices (`RouteTableIDRange`, an item of `routeTableRanges`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FelixRouteTableIdRange {
    /// First table index (≥ 1).
    #[serde(default)]
    pub min: i64,
    /// Last table index (inclusive, ≥ `min`, ≤ 0xffffffff).
    #[serde(default)]
    pub max: i64,
}

/// Overrides of BPF conntrack timers (`BPFConntrackTimeouts`). Each value is a duration
/// (`ms`, `s`, `m`, `h`, `us` units) or `Auto` (take the Linux conntrack value).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FelixBpfConntrackTimeouts {
    /// Grace period before a new connection may be cleaned up (Felix default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_grace_period: Option<String>,
    /// Idle time after an unanswered SYN (default 20s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_syn_sent: Option<String>,
    /// Idle time of an established TCP connection (default 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_established: Option<String>,
    /// Time after a graceful close (default Auto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_fins_seen: Option<String>,
    /// Time after a reset (default 40s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_reset_seen: Option<String>,
    /// Idle time of a UDP flow (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_timeout: Option<String>,
    /// Idle time of other flows (default 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic_timeout: Option<String>,
    /// Idle time of an ICMP flow (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_timeout: Option<String>,
}

impl FelixBpfConntrackTimeouts {
    fn entries(&self) -> [(&'static str, &Option<String>); 8] {
        [
            ("creationGracePeriod", &self.creation_grace_period),
            ("tcpSynSent", &self.tcp_syn_sent),
            ("tcpEstablished", &self.tcp_established),
            ("tcpFinsSeen", &self.tcp_fins_seen),
            ("tcpResetSeen", &self.tcp_reset_seen),
            ("udpTimeout", &self.udp_timeout),
            ("genericTimeout", &self.generic_timeout),
            ("icmpTimeout", &self.icmp_timeout),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// The spec
// ---------------------------------------------------------------------------------------------

/// The settings of a FelixConfiguration (`FelixConfigurationSpec`). Every field is optional;
/// see the accessor methods for the value Felix uses when a field is unset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FelixConfigurationSpec {
    /// Use Felix's built-in dataplane (true) or an external driver (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_internal_dataplane_driver: Option<bool>,
    /// Path of the external dataplane driver binary.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dataplane_driver: String,
    /// Deprecated liveness timeout of the dataplane driver (use `healthTimeoutOverrides`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataplane_watchdog_timeout: Option<Duration>,
    /// Enable IPv6 support. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_support: Option<bool>,
    /// Period of the route re-check; 0 disables. Default 90s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_refresh_interval: Option<Duration>,
    /// Period of the interface rescan; 0 disables. Default 90s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_refresh_interval: Option<Duration>,
    /// Period of the iptables re-check; 0 disables. Default (code) 180s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_refresh_interval: Option<Duration>,
    /// Delay of the read-back after an iptables write. Default 1s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_post_write_check_interval: Option<Duration>,
    /// Legacy: location of the xtables lock file (dropped from recent schemas; accepted).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iptables_lock_file_path: String,
    /// Legacy: how long Felix itself waits for the xtables lock (dropped from recent schemas;
    /// accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_lock_timeout: Option<Duration>,
    /// Interval between attempts to take the xtables lock. Default 50ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_lock_probe_interval: Option<Duration>,
    /// Overrides of feature detection, `Name=true|false|` comma-separated.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub feature_detect_override: String,
    /// Tech-preview feature switches, `Name=value` comma-separated.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub feature_gates: String,
    /// Period of the IP set re-check; 0 disables. Default 90s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipsets_refresh_interval: Option<Duration>,
    /// Maximum number of entries in an IP set. Default 1048576.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ipset_size: Option<i64>,
    /// iptables backend. Default Auto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_backend: Option<FelixIptablesBackend>,
    /// Period of the XDP state re-check; 0 disables. Default 90s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xdp_refresh_interval: Option<Duration>,
    /// Timeout of netlink calls. Default 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netlink_timeout: Option<Duration>,
    /// OpenStack metadata server address or name (`none` disables the NAT). Default 127.0.0.1.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub metadata_addr: String,
    /// OpenStack metadata server port. Default 8775.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_port: Option<i64>,
    /// OpenStack region of this Felix (a DNS label of at most 46 characters).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub openstack_region: String,
    /// Workload interface name prefix(es), comma-separated. Default `cali`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_prefix: String,
    /// Interfaces ignored for host endpoints, comma-separated, `/regex/` allowed.
    /// Default `kube-ipvs0`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_exclude: String,
    /// `Insert` or `Append` the hooks into the kernel chains (any case). Default Insert.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chain_insert_mode: String,
    /// `Drop`, `Accept` or `Return` for workload-to-host traffic (any case). Default Drop.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_endpoint_to_host_action: String,
    /// `Accept` or `Return` for allowed traffic in the filter table (any case). Default Accept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iptables_filter_allow_action: String,
    /// `Accept` or `Return` for allowed traffic in the mangle table (any case). Default Accept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iptables_mangle_allow_action: String,
    /// `Drop` or `Reject` for denied traffic (any case). Default Drop.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iptables_filter_deny_action: String,
    /// Prefix of LOG rules (`%t`, `%k`, `%n`, `%p` expand). Default `calico-packet`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_prefix: String,
    /// Rate limit of Log actions, `N/second|minute|hour|day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_action_rate_limit: Option<String>,
    /// Burst of the Log action rate limit (0–9999).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_action_rate_limit_burst: Option<i64>,
    /// Felix log file (`none` disables). Default `/var/log/calico/felix.log`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_file_path: String,
    /// Minimum severity logged to the file (any case). Default Info.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_severity_file: String,
    /// Minimum severity logged to stdout (any case). Default Info.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_severity_screen: String,
    /// Minimum severity logged to syslog (any case). Default Info.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_severity_sys: String,
    /// Regular expression selecting the source files whose debug logs are kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_debug_filename_regex: String,
    /// Force the IPIP device on or off (unset: derived from the IP pools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipip_enabled: Option<bool>,
    /// MTU of the IPIP device (0: auto-detect).
    #[serde(default, rename = "ipipMTU", skip_serializing_if = "Option::is_none")]
    pub ipip_mtu: Option<i64>,
    /// Force the IPv4 VXLAN device on or off (unset: derived from the IP pools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan_enabled: Option<bool>,
    /// MTU of the IPv4 VXLAN device (0: auto-detect).
    #[serde(default, rename = "vxlanMTU", skip_serializing_if = "Option::is_none")]
    pub vxlan_mtu: Option<i64>,
    /// MTU of the IPv6 VXLAN device (0: auto-detect).
    #[serde(
        default,
        rename = "vxlanMTUV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub vxlan_mtu_v6: Option<i64>,
    /// UDP port of VXLAN. Default 4789.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan_port: Option<i64>,
    /// VXLAN network identifier. Default 4096.
    #[serde(default, rename = "vxlanVNI", skip_serializing_if = "Option::is_none")]
    pub vxlan_vni: Option<i64>,
    /// Allow VXLAN-encapsulated packets from workloads. Default false.
    #[serde(
        default,
        rename = "allowVXLANPacketsFromWorkloads",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_vxlan_packets_from_workloads: Option<bool>,
    /// Allow IPIP-encapsulated packets from workloads. Default false.
    #[serde(
        default,
        rename = "allowIPIPPacketsFromWorkloads",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_ipip_packets_from_workloads: Option<bool>,
    /// Interval of status reports to the datastore; 0 disables. Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_interval: Option<Duration>,
    /// Time-to-live of status reports. Default 90s.
    #[serde(
        default,
        rename = "reportingTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub reporting_ttl: Option<Duration>,
    /// Report endpoint status to the datastore (OpenStack). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_reporting_enabled: Option<bool>,
    /// Delay of endpoint status reports. Default 1s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_reporting_delay: Option<Duration>,
    /// Directory for per-endpoint status files (empty disables). Default `/var/run/calico`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint_status_path_prefix: String,
    /// Mark bits Felix may use with iptables. Default 0xffff0000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_mark_mask: Option<u32>,
    /// Skip dropping conntrack-INVALID packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_conntrack_invalid_check: Option<bool>,
    /// Serve the health endpoints. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_enabled: Option<bool>,
    /// Address the health server binds to. Default `localhost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_host: Option<String>,
    /// Port of the health server. Default 9099.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_port: Option<i64>,
    /// Per-reporter liveness timeout overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_timeout_overrides: Vec<FelixHealthTimeoutOverride>,
    /// Serve Prometheus metrics. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_metrics_enabled: Option<bool>,
    /// Address the metrics server binds to (empty: all).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prometheus_metrics_host: String,
    /// Port of the metrics server. Default 9091.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_metrics_port: Option<i64>,
    /// Export Go runtime metrics. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_go_metrics_enabled: Option<bool>,
    /// Export process metrics. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_process_metrics_enabled: Option<bool>,
    /// Export WireGuard metrics. Default true.
    #[serde(
        default,
        rename = "prometheusWireGuardMetricsEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub prometheus_wireguard_metrics_enabled: Option<bool>,
    /// TLS certificate of the metrics endpoint.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prometheus_metrics_cert_file: String,
    /// TLS private key of the metrics endpoint.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prometheus_metrics_key_file: String,
    /// CA certificate used to verify metrics clients.
    #[serde(
        default,
        rename = "prometheusMetricsCAFile",
        skip_serializing_if = "String::is_empty"
    )]
    pub prometheus_metrics_ca_file: String,
    /// Client authentication mode of the metrics endpoint
    /// (Felix default `RequireAndVerifyClientCert`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prometheus_metrics_client_auth: String,
    /// Inbound traffic to host endpoints always allowed; `[]` allows none. See
    /// [`DEFAULT_FAILSAFE_INBOUND_HOST_PORTS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failsafe_inbound_host_ports: Option<Vec<FelixProtoPort>>,
    /// Outbound traffic from host endpoints always allowed; `[]` allows none. See
    /// [`DEFAULT_FAILSAFE_OUTBOUND_HOST_PORTS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failsafe_outbound_host_ports: Option<Vec<FelixProtoPort>>,
    /// Service node-port ranges (numeric, at most 7). Default 30000:32767.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_node_port_ranges: Option<Vec<Port>>,
    /// Directory of the per-pod policy sync sockets (empty disables).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy_sync_path_prefix: String,
    /// Send anonymous usage reports. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_reporting_enabled: Option<bool>,
    /// Delay before the first usage report. Default 300s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_reporting_initial_delay: Option<Duration>,
    /// Interval of usage reports. Default 86400s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_reporting_interval: Option<Duration>,
    /// Source port range used by outgoing NAT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_port_range: Option<Port>,
    /// IPv4 address used as the source of outgoing NAT (default: MASQUERADE).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nat_outgoing_address: String,
    /// Destinations exempt from outgoing NAT. Default IPPoolsOnly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_outgoing_exclusions: Option<FelixNatOutgoingExclusions>,
    /// IPv4 source hint on routes Felix programs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device_route_source_address: String,
    /// IPv6 source hint on routes Felix programs.
    #[serde(
        default,
        rename = "deviceRouteSourceAddressIPv6",
        skip_serializing_if = "String::is_empty"
    )]
    pub device_route_source_address_ipv6: String,
    /// Route protocol number of routes Felix programs. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_route_protocol: Option<i64>,
    /// Remove unexpected routes to workload interfaces. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_external_routes: Option<bool>,
    /// Have Felix (rather than BIRD) program routes for non-VXLAN pools. Default Disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_cluster_routes: Option<FelixEnabledDisabled>,
    /// Enable IP forwarding sysctls. Default Enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_forwarding: Option<FelixEnabledDisabled>,
    /// IPv4 CIDRs of non-Calico nodes allowed to send IPIP/VXLAN traffic.
    #[serde(
        default,
        rename = "externalNodesList",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_nodes_cidr_list: Option<Vec<String>>,
    /// File the memory profile is written to on signal.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub debug_memory_profile_path: String,
    /// Never drop log messages when the log buffer is full. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_disable_log_dropping: Option<bool>,
    /// Test only: simulate a calculation graph hang after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_simulate_calc_graph_hang_after: Option<Duration>,
    /// Test only: simulate a dataplane hang after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_simulate_dataplane_hang_after: Option<Duration>,
    /// Test only: delay every dataplane operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_simulate_dataplane_apply_delay: Option<Duration>,
    /// Address of the debug HTTP port. Default `localhost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_host: Option<String>,
    /// Debug HTTP port (0–65535); unset disables it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_port: Option<i64>,
    /// Interfaces (iptables syntax, `+` wildcard) on which outgoing NAT applies.
    #[serde(
        default,
        rename = "iptablesNATOutgoingInterfaceFilter",
        skip_serializing_if = "String::is_empty"
    )]
    pub iptables_nat_outgoing_interface_filter: String,
    /// Experimental sidecar acceleration. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecar_acceleration_enabled: Option<bool>,
    /// Accelerate untracked deny rules with XDP. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xdp_enabled: Option<bool>,
    /// Allow generic (driverless) XDP. Default false.
    #[serde(
        default,
        rename = "genericXDPEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub generic_xdp_enabled: Option<bool>,
    /// nftables mode (the CRD defaults it to Auto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nftables_mode: Option<FelixNftablesMode>,
    /// Period of the nftables re-check. Default (code) 180s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nftables_refresh_interval: Option<Duration>,
    /// `Accept` or `Return` for allowed traffic in the nftables filter table (any case).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nftables_filter_allow_action: String,
    /// `Accept` or `Return` for allowed traffic in the nftables mangle table (any case).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nftables_mangle_allow_action: String,
    /// `Drop` or `Reject` for denied traffic in nftables mode (any case).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nftables_filter_deny_action: String,
    /// Mark bits Felix may use with nftables. Default 0xffff0000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nftables_mark_mask: Option<u32>,
    /// nftables flowtable offload of established flows (very recent; its value set is
    /// still changing upstream, so any string is kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nftables_flow_table_offload: Option<String>,
    /// Use the eBPF dataplane. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_enabled: Option<bool>,
    /// Disable unprivileged BPF via sysctl. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_disable_unprivileged: Option<bool>,
    /// Log level of the BPF programs: `Off`, `Info` or `Debug` (any case). Default Off.
    /// Always serialised (Calico has no `omitempty` on this field).
    #[serde(default)]
    pub bpf_log_level: String,
    /// Log level of the BPF conntrack cleanup program. Default Off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_conntrack_log_level: Option<FelixBpfConntrackLogLevel>,
    /// How BPF conntrack entries are cleaned up.
    #[serde(
        default,
        rename = "bpfConntrackMode",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_conntrack_cleanup_mode: Option<FelixBpfConntrackMode>,
    /// Overrides of BPF conntrack timers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_conntrack_timeouts: Option<FelixBpfConntrackTimeouts>,
    /// pcap filters for BPF debug logs, by interface name (`all`, `weps`, `heps` special).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_log_filters: Option<BTreeMap<String, String>>,
    /// What the connect-time load balancer logs at debug level (`all`).
    #[serde(
        default,
        rename = "bpfCTLBLogFilter",
        skip_serializing_if = "String::is_empty"
    )]
    pub bpf_ctlb_log_filter: String,
    /// Regular expression of the data interfaces BPF programs attach to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bpf_data_iface_pattern: String,
    /// Regular expression of extra L3 (tunnel) interfaces BPF programs attach to.
    #[serde(
        default,
        rename = "bpfL3IfacePattern",
        skip_serializing_if = "String::is_empty"
    )]
    pub bpf_l3_iface_pattern: String,
    /// Deprecated switch of the connect-time load balancer. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_connect_time_load_balancing_enabled: Option<bool>,
    /// Connect-time load balancing. Default TCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_connect_time_load_balancing: Option<FelixBpfConnectTimeLb>,
    /// NAT host-networked traffic without CTLB. Default Enabled.
    #[serde(
        default,
        rename = "bpfHostNetworkedNATWithoutCTLB",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_host_networked_nat_without_ctlb: Option<FelixEnabledDisabled>,
    /// `Tunnel` or `DSR` for external service traffic (any case). Default Tunnel.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bpf_external_service_mode: String,
    /// Client CIDRs excluded from DSR.
    #[serde(
        default,
        rename = "bpfDSROptoutCIDRs",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_dsr_optout_cidrs: Option<Vec<String>>,
    /// Connection mark for external-client-to-local-service connections (0–4294967295).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_ext_to_service_connmark: Option<i64>,
    /// Clean up kube-proxy's iptables chains in BPF mode. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_kube_proxy_iptables_cleanup_enabled: Option<bool>,
    /// Minimum interval between BPF kube-proxy updates. Default 1s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_kube_proxy_min_sync_period: Option<Duration>,
    /// Legacy no-op (dropped from recent schemas; accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_kube_proxy_endpoint_slices_enabled: Option<bool>,
    /// Port of the BPF kube-proxy health check server (0 disables). Default 10256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_kube_proxy_healthz_port: Option<i64>,
    /// Source ports used on SNAT collisions. Default 20000:29999.
    #[serde(
        default,
        rename = "bpfPSNATPorts",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_psnat_ports: Option<Port>,
    /// Size of the NAT frontend map.
    #[serde(
        default,
        rename = "bpfMapSizeNATFrontend",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_nat_frontend: Option<i64>,
    /// Size of the NAT backend map.
    #[serde(
        default,
        rename = "bpfMapSizeNATBackend",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_nat_backend: Option<i64>,
    /// Size of the NAT affinity map.
    #[serde(
        default,
        rename = "bpfMapSizeNATAffinity",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_nat_affinity: Option<i64>,
    /// Size of the routes map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_map_size_route: Option<i64>,
    /// Size of the conntrack map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_map_size_conntrack: Option<i64>,
    /// Conntrack map size per CPU (overrides `bpfMapSizeConntrack` when non-zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_map_size_per_cpu_conntrack: Option<i64>,
    /// `Disabled` or `DoubleIfFull` conntrack map scaling (any case). Default DoubleIfFull.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bpf_map_size_conntrack_scaling: String,
    /// Size of the conntrack cleanup queue map (≥ 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_map_size_conntrack_cleanup_queue: Option<i64>,
    /// Size of the IP sets map.
    #[serde(
        default,
        rename = "bpfMapSizeIPSets",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_ip_sets: Option<i64>,
    /// Size of the interface state map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_map_size_if_state: Option<i64>,
    /// Bypass Linux conntrack for workloads and services in BPF mode. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_host_conntrack_bypass: Option<bool>,
    /// `Disabled`, `Strict` or `Loose` RPF in BPF mode (any case). Default Loose.
    #[serde(
        default,
        rename = "bpfEnforceRPF",
        skip_serializing_if = "String::is_empty"
    )]
    pub bpf_enforce_rpf: String,
    /// Record BPF policy debug information. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_policy_debug_enabled: Option<bool>,
    /// Interfaces (iptables syntax) whose traffic is tracked by Linux conntrack. Default
    /// `docker+`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_force_track_packets_from_ifaces: Option<Vec<String>>,
    /// Regular expression of interfaces with GRO disabled.
    #[serde(
        default,
        rename = "bpfDisableGROForIfaces",
        skip_serializing_if = "String::is_empty"
    )]
    pub bpf_disable_gro_for_ifaces: String,
    /// CIDRs excluded from BPF NAT resolution.
    #[serde(
        default,
        rename = "bpfExcludeCIDRsFromNAT",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_exclude_cidrs_from_nat: Option<Vec<String>>,
    /// Buffer size (MB) for BPF events. Default 1.
    #[serde(
        default,
        rename = "bpfExportBufferSizeMB",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_export_buffer_size_mb: Option<i64>,
    /// How BPF programs attach. Default TCX.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_attach_type: Option<FelixBpfAttachType>,
    /// IP fragment reassembly timeout in BPF mode (unset: kernel's `ipfrag_time`).
    #[serde(
        default,
        rename = "bpfIPFragTimeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_ip_frag_timeout: Option<Duration>,
    /// Load the BPF fragment reassembly program. Default true.
    #[serde(
        default,
        rename = "bpfIPFragmentReassemblyEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_ip_fragment_reassembly_enabled: Option<bool>,
    /// BPF JIT hardening handling. Default Auto.
    #[serde(
        default,
        rename = "bpfJITHardening",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_jit_hardening: Option<FelixBpfJitHardening>,
    /// Expected maximum endpoints of one Maglev service. Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_maglev_max_endpoints_per_service: Option<i64>,
    /// Expected maximum number of Maglev services. Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_maglev_max_services: Option<i64>,
    /// Source IP of host traffic over IPIP/VXLAN in BPF mode. Default TunnelAddress.
    #[serde(
        default,
        rename = "bpfOverlayHostSourceIP",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_overlay_host_source_ip: Option<FelixBpfOverlayHostSourceIp>,
    /// Flow log pending-policy evaluation. Default Continuous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_logs_policy_evaluation_mode: Option<FelixFlowLogsPolicyEvaluationMode>,
    /// Redirect straight to workload peer devices in BPF mode. Default Enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_redirect_to_peer: Option<FelixBpfRedirectToPeer>,
    /// Interval at which flow logs are exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_logs_flush_interval: Option<Duration>,
    /// Log the flow collector's state in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_logs_collector_debug_trace: Option<bool>,
    /// Goldmane flow server endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_logs_goldmane_server: Option<String>,
    /// Local unix-socket flow reporter. Default Disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_logs_local_reporter: Option<FelixEnabledDisabled>,
    /// Profiling of BPF programs. Default Disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_profiling: Option<FelixEnabledDisabled>,
    /// `WorkloadIPs` or `CalicoIPAM` as the source of routes (any case). Default CalicoIPAM.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub route_source: String,
    /// Route table index ranges Felix may use (excludes `routeTableRange`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table_ranges: Option<Vec<FelixRouteTableIdRange>>,
    /// Deprecated single route table range within 1–250.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table_range: Option<FelixRouteTableRange>,
    /// Do not program routes at all (policy-only mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_sync_disabled: Option<bool>,
    /// IPv4 WireGuard encryption. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_enabled: Option<bool>,
    /// IPv6 WireGuard encryption. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_enabled_v6: Option<bool>,
    /// Threaded NAPI on WireGuard devices. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_threading_enabled: Option<bool>,
    /// IPv4 WireGuard listening port (1–65535). Default 51820.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_listening_port: Option<i64>,
    /// IPv6 WireGuard listening port (1–65535). Default 51821.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_listening_port_v6: Option<i64>,
    /// Priority of the WireGuard routing rule (1–32765). Default 99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_routing_rule_priority: Option<i64>,
    /// IPv4 WireGuard device name. Default `wireguard.cali`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wireguard_interface_name: String,
    /// IPv6 WireGuard device name. Default `wg-v6.cali`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wireguard_interface_name_v6: String,
    /// MTU of the IPv4 WireGuard device (0: auto-detect).
    #[serde(
        default,
        rename = "wireguardMTU",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_mtu: Option<i64>,
    /// MTU of the IPv6 WireGuard device (0: auto-detect).
    #[serde(
        default,
        rename = "wireguardMTUV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_mtu_v6: Option<i64>,
    /// Encrypt host-to-host traffic with WireGuard. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_host_encryption_enabled: Option<bool>,
    /// WireGuard persistent keepalive (0 disables).
    #[serde(
        default,
        rename = "wireguardKeepAlive",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_persistent_keep_alive: Option<Duration>,
    /// AWS source/destination check handling. Default DoNothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_src_dst_check: Option<FelixAwsSrcDstCheck>,
    /// `Drop`, `Reject` or `Disabled` for service routing loops. Default Drop.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_loop_prevention: String,
    /// `Disabled` or `Any`: may pods request spoofed source prefixes. Default Disabled.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workload_source_spoofing: String,
    /// Regular expression of the interfaces scanned for the host MTU.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mtu_iface_pattern: String,
    /// Program non-OpenStack floating IPs. Default Disabled.
    #[serde(
        default,
        rename = "floatingIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub floating_ips: Option<FelixEnabledDisabled>,
    /// Manage Windows Firewall rules for Felix's ports. Default Disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_manage_firewall_rules: Option<FelixEnabledDisabled>,
    /// Go GC threshold (≥ -1). Default 40.
    #[serde(
        default,
        rename = "goGCThreshold",
        skip_serializing_if = "Option::is_none"
    )]
    pub go_gc_threshold: Option<i64>,
    /// Go soft memory limit in MB (≥ -1). Default -1.
    #[serde(
        default,
        rename = "goMemoryLimitMB",
        skip_serializing_if = "Option::is_none"
    )]
    pub go_memory_limit_mb: Option<i64>,
    /// Go GOMAXPROCS (≥ -1). Default -1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_max_procs: Option<i64>,
    /// Require the MTU file before starting. Default false.
    #[serde(
        default,
        rename = "requireMTUFile",
        skip_serializing_if = "Option::is_none"
    )]
    pub require_mtu_file: Option<bool>,
    /// Location of the cgroup v2 hierarchy.
    #[serde(
        default,
        rename = "cgroupV2Path",
        skip_serializing_if = "String::is_empty"
    )]
    pub cgroup_v2_path: String,
    /// Metric of normal IPv4 routes. Default 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_normal_route_priority: Option<i64>,
    /// Metric of elevated IPv4 routes (VM live migration). Default 512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_elevated_route_priority: Option<i64>,
    /// Metric of normal IPv6 routes. Default 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_normal_route_priority: Option<i64>,
    /// Metric of elevated IPv6 routes (VM live migration). Default 512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_elevated_route_priority: Option<i64>,
    /// How long elevated route priority is kept after a live migration. Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_migration_route_convergence_time: Option<Duration>,
    /// Istio ambient mode integration. Default Disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub istio_ambient_mode: Option<FelixEnabledDisabled>,
    /// DSCP mark steering traffic to the Istio ztunnel. Default 23.
    #[serde(
        default,
        rename = "istioDSCPMark",
        skip_serializing_if = "Option::is_none"
    )]
    pub istio_dscp_mark: Option<Dscp>,
    /// Proxy ARP/NDP for local pods and LB VIPs. Default Disabled.
    #[serde(
        default,
        rename = "localSubnetL2Reachability",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_subnet_l2_reachability: Option<FelixLocalSubnetL2Reachability>,
    /// Interval of gratuitous ARP / unsolicited NA re-announcements (0 disables).
    /// Default 120s.
    #[serde(
        default,
        rename = "localSubnetL2ReachabilityRefreshInterval",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_subnet_l2_reachability_refresh_interval: Option<Duration>,
    /// Selector of the nodes this configuration applies to; only for names other than
    /// `default` and `node.<nodename>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_selector: String,
}

// ---------------------------------------------------------------------------------------------
// Felix's built-in defaults and accessors
// ---------------------------------------------------------------------------------------------

/// Felix's default inbound failsafe ports (protocol, port): SSH, DHCP, BGP, etcd, Typha and
/// the Kubernetes API.
pub const DEFAULT_FAILSAFE_INBOUND_HOST_PORTS: &[(&str, u16)] = &[
    ("TCP", 22),
    ("UDP", 68),
    ("TCP", 179),
    ("TCP", 2379),
    ("TCP", 2380),
    ("TCP", 5473),
    ("TCP", 6443),
    ("TCP", 6666),
    ("TCP", 6667),
];

/// Felix's default outbound failsafe ports (protocol, port): DNS, DHCP, BGP, etcd, Typha and
/// the Kubernetes API.
pub const DEFAULT_FAILSAFE_OUTBOUND_HOST_PORTS: &[(&str, u16)] = &[
    ("UDP", 53),
    ("UDP", 67),
    ("TCP", 179),
    ("TCP", 2379),
    ("TCP", 2380),
    ("TCP", 5473),
    ("TCP", 6443),
    ("TCP", 6666),
    ("TCP", 6667),
];

/// Felix's default workload interface prefix.
pub const DEFAULT_INTERFACE_PREFIX: &str = "cali";
/// Felix's default excluded interface list.
pub const DEFAULT_INTERFACE_EXCLUDE: &str = "kube-ipvs0";
/// Felix's default mark mask (iptables and nftables).
pub const DEFAULT_MARK_MASK: u32 = 0xffff_0000;

fn port_or(v: Option<i64>, default: u16) -> u16 {
    v.and_then(|p| u16::try_from(p).ok()).unwrap_or(default)
}

fn str_or<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() { default } else { s }
}

fn verdict_or(s: &str, allowed: &[FelixVerdict], default: FelixVerdict) -> FelixVerdict {
    FelixVerdict::parse_ignore_case(s)
        .filter(|v| allowed.contains(v))
        .unwrap_or(default)
}

fn severity_or_info(s: &str) -> FelixLogSeverity {
    FelixLogSeverity::parse_ignore_case(s).unwrap_or(FelixLogSeverity::Info)
}

fn proto_ports(list: &[(&str, u16)]) -> Vec<FelixProtoPort> {
    list.iter()
        .map(|(p, n)| FelixProtoPort::new(p, *n))
        .collect()
}

/// Accessors returning the value Felix uses: the field when it is set, otherwise Felix's
/// built-in default. Invalid or out-of-range values (which validation rejects) also fall back
/// to the default. Case-insensitive string settings are normalised.
impl FelixConfigurationSpec {
    /// The first workload interface prefix (default `cali`).
    pub fn interface_prefix(&self) -> &str {
        self.interface_prefixes()
            .into_iter()
            .next()
            .unwrap_or(DEFAULT_INTERFACE_PREFIX)
    }

    /// Every workload interface prefix (the field is a comma-separated list; default
    /// `["cali"]`).
    pub fn interface_prefixes(&self) -> Vec<&str> {
        let v: Vec<&str> = self
            .interface_prefix
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if v.is_empty() {
            vec![DEFAULT_INTERFACE_PREFIX]
        } else {
            v
        }
    }

    /// Interfaces excluded from host endpoint resolution (default `kube-ipvs0`).
    pub fn interface_exclude(&self) -> &str {
        str_or(&self.interface_exclude, DEFAULT_INTERFACE_EXCLUDE)
    }

    /// Inbound failsafe rules; an explicit empty list means none.
    pub fn failsafe_inbound_host_ports(&self) -> Vec<FelixProtoPort> {
        match &self.failsafe_inbound_host_ports {
            Some(v) => v.clone(),
            None => proto_ports(DEFAULT_FAILSAFE_INBOUND_HOST_PORTS),
        }
    }

    /// Outbound failsafe rules; an explicit empty list means none.
    pub fn failsafe_outbound_host_ports(&self) -> Vec<FelixProtoPort> {
        match &self.failsafe_outbound_host_ports {
            Some(v) => v.clone(),
            None => proto_ports(DEFAULT_FAILSAFE_OUTBOUND_HOST_PORTS),
        }
    }

    /// Verdict for workload-to-host traffic after workload egress policy (default Drop).
    pub fn default_endpoint_to_host_action(&self) -> FelixVerdict {
        use FelixVerdict::{Accept, Drop, Return};
        verdict_or(
            &self.default_endpoint_to_host_action,
            &[Drop, Accept, Return],
            Drop,
        )
    }

    /// iptables filter-table allow verdict (default Accept).
    pub fn iptables_filter_allow_action(&self) -> FelixVerdict {
        use FelixVerdict::{Accept, Return};
        verdict_or(
            &self.iptables_filter_allow_action,
            &[Accept, Return],
            Accept,
        )
    }

    /// iptables mangle-table allow verdict (default Accept).
    pub fn iptables_mangle_allow_action(&self) -> FelixVerdict {
        use FelixVerdict::{Accept, Return};
        verdict_or(
            &self.iptables_mangle_allow_action,
            &[Accept, Return],
            Accept,
        )
    }

    /// iptables deny verdict (default Drop).
    pub fn iptables_filter_deny_action(&self) -> FelixVerdict {
        use FelixVerdict::{Drop, Reject};
        verdict_or(&self.iptables_filter_deny_action, &[Drop, Reject], Drop)
    }

    /// nftables filter-table allow verdict (default Accept).
    pub fn nftables_filter_allow_action(&self) -> FelixVerdict {
        use FelixVerdict::{Accept, Return};
        verdict_or(
            &self.nftables_filter_allow_action,
            &[Accept, Return],
            Accept,
        )
    }

    /// nftables mangle-table allow verdict (default Accept).
    pub fn nftables_mangle_allow_action(&self) -> FelixVerdict {
        use FelixVerdict::{Accept, Return};
        verdict_or(
            &self.nftables_mangle_allow_action,
            &[Accept, Return],
            Accept,
        )
    }

    /// nftables deny verdict (default Drop).
    pub fn nftables_filter_deny_action(&self) -> FelixVerdict {
        use FelixVerdict::{Drop, Reject};
        verdict_or(&self.nftables_filter_deny_action, &[Drop, Reject], Drop)
    }

    /// True when Felix appends (rather than inserts) its hooks into the kernel chains.
    pub fn chain_insert_append(&self) -> bool {
        self.chain_insert_mode.eq_ignore_ascii_case("append")
    }

    /// Health endpoints enabled (default false).
    pub fn health_enabled(&self) -> bool {
        self.health_enabled.unwrap_or(false)
    }

    /// Health server bind address (default `localhost`).
    pub fn health_host(&self) -> &str {
        self.health_host.as_deref().unwrap_or("localhost")
    }

    /// Health server port (default 9099).
    pub fn health_port(&self) -> u16 {
        port_or(self.health_port, 9099)
    }

    /// Prometheus metrics enabled (default false).
    pub fn prometheus_metrics_enabled(&self) -> bool {
        self.prometheus_metrics_enabled.unwrap_or(false)
    }

    /// Prometheus metrics bind address (default empty: all addresses).
    pub fn prometheus_metrics_host(&self) -> &str {
        &self.prometheus_metrics_host
    }

    /// Prometheus metrics port (default 9091).
    pub fn prometheus_metrics_port(&self) -> u16 {
        port_or(self.prometheus_metrics_port, 9091)
    }

    /// Route re-check period (default 90s; zero disables).
    pub fn route_refresh_interval(&self) -> Duration {
        self.route_refresh_interval
            .unwrap_or(Duration::from_secs(90))
    }

    /// Interface rescan period (default 90s; zero disables).
    pub fn interface_refresh_interval(&self) -> Duration {
        self.interface_refresh_interval
            .unwrap_or(Duration::from_secs(90))
    }

    /// IP set re-check period (default 90s; zero disables).
    pub fn ipsets_refresh_interval(&self) -> Duration {
        self.ipsets_refresh_interval
            .unwrap_or(Duration::from_secs(90))
    }

    /// iptables re-check period (default 180s in Felix's code, although the field's
    /// documentation says 10s; zero disables).
    pub fn iptables_refresh_interval(&self) -> Duration {
        self.iptables_refresh_interval
            .unwrap_or(Duration::from_secs(180))
    }

    /// nftables re-check period (default 180s in Felix's code).
    pub fn nftables_refresh_interval(&self) -> Duration {
        self.nftables_refresh_interval
            .unwrap_or(Duration::from_secs(180))
    }

    /// XDP re-check period (default 90s).
    pub fn xdp_refresh_interval(&self) -> Duration {
        self.xdp_refresh_interval.unwrap_or(Duration::from_secs(90))
    }

    /// Netlink call timeout (default 10s).
    pub fn netlink_timeout(&self) -> Duration {
        self.netlink_timeout.unwrap_or(Duration::from_secs(10))
    }

    /// Status report interval (default 30s; zero disables).
    pub fn reporting_interval(&self) -> Duration {
        self.reporting_interval.unwrap_or(Duration::from_secs(30))
    }

    /// Status report TTL (default 90s).
    pub fn reporting_ttl(&self) -> Duration {
        self.reporting_ttl.unwrap_or(Duration::from_secs(90))
    }

    /// Endpoint status reporting enabled (default false).
    pub fn endpoint_reporting_enabled(&self) -> bool {
        self.endpoint_reporting_enabled.unwrap_or(false)
    }

    /// Endpoint status reporting delay (default 1s).
    pub fn endpoint_reporting_delay(&self) -> Duration {
        self.endpoint_reporting_delay
            .unwrap_or(Duration::from_secs(1))
    }

    /// Directory of endpoint status files (default `/var/run/calico`).
    pub fn endpoint_status_path_prefix(&self) -> &str {
        str_or(&self.endpoint_status_path_prefix, "/var/run/calico")
    }

    /// Minimum severity logged to stdout (default Info).
    pub fn log_severity_screen(&self) -> FelixLogSeverity {
        severity_or_info(&self.log_severity_screen)
    }

    /// Minimum severity logged to the log file (default Info).
    pub fn log_severity_file(&self) -> FelixLogSeverity {
        severity_or_info(&self.log_severity_file)
    }

    /// Minimum severity logged to syslog (default Info).
    pub fn log_severity_sys(&self) -> FelixLogSeverity {
        severity_or_info(&self.log_severity_sys)
    }

    /// Log file path (default `/var/log/calico/felix.log`; `none` disables file logging).
    pub fn log_file_path(&self) -> &str {
        str_or(&self.log_file_path, "/var/log/calico/felix.log")
    }

    /// LOG rule prefix (default `calico-packet`).
    pub fn log_prefix(&self) -> &str {
        str_or(&self.log_prefix, "calico-packet")
    }

    /// IPv6 support (default true).
    pub fn ipv6_support(&self) -> bool {
        self.ipv6_support.unwrap_or(true)
    }

    /// VXLAN UDP port (default 4789).
    pub fn vxlan_port(&self) -> u16 {
        port_or(self.vxlan_port, 4789)
    }

    /// VXLAN network identifier (default 4096).
    pub fn vxlan_vni(&self) -> u32 {
        self.vxlan_vni
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(4096)
    }

    /// iptables mark bits (default 0xffff0000).
    pub fn iptables_mark_mask(&self) -> u32 {
        self.iptables_mark_mask.unwrap_or(DEFAULT_MARK_MASK)
    }

    /// nftables mark bits (default 0xffff0000).
    pub fn nftables_mark_mask(&self) -> u32 {
        self.nftables_mark_mask.unwrap_or(DEFAULT_MARK_MASK)
    }

    /// iptables backend (default Auto).
    pub fn iptables_backend(&self) -> FelixIptablesBackend {
        self.iptables_backend.unwrap_or(FelixIptablesBackend::Auto)
    }

    /// nftables mode (default Auto, the CRD default).
    pub fn nftables_mode(&self) -> FelixNftablesMode {
        self.nftables_mode.unwrap_or(FelixNftablesMode::Auto)
    }

    /// eBPF dataplane enabled (default false).
    pub fn bpf_enabled(&self) -> bool {
        self.bpf_enabled.unwrap_or(false)
    }

    /// XDP acceleration enabled (default true).
    pub fn xdp_enabled(&self) -> bool {
        self.xdp_enabled.unwrap_or(true)
    }

    /// Maximum IP set size (default 1048576).
    pub fn max_ipset_size(&self) -> i64 {
        self.max_ipset_size.unwrap_or(1_048_576)
    }

    /// Route protocol of Felix's routes (default 3, RTPROT_BOOT).
    pub fn device_route_protocol(&self) -> i64 {
        self.device_route_protocol.unwrap_or(3)
    }

    /// Remove unexpected routes to workload interfaces (default true).
    pub fn remove_external_routes(&self) -> bool {
        self.remove_external_routes.unwrap_or(true)
    }

    /// IP forwarding sysctls enabled (default true).
    pub fn ip_forwarding(&self) -> bool {
        self.ip_forwarding != Some(FelixEnabledDisabled::Disabled)
    }

    /// Service node-port ranges (default `30000:32767`).
    pub fn kube_node_port_ranges(&self) -> Vec<Port> {
        match &self.kube_node_port_ranges {
            Some(v) => v.clone(),
            None => vec![Port::Range(30000, 32767)],
        }
    }

    /// Metadata server address (default `127.0.0.1`).
    pub fn metadata_addr(&self) -> &str {
        str_or(&self.metadata_addr, "127.0.0.1")
    }

    /// Metadata server port (default 8775).
    pub fn metadata_port(&self) -> u16 {
        port_or(self.metadata_port, 8775)
    }

    /// Usage reporting enabled (default true).
    pub fn usage_reporting_enabled(&self) -> bool {
        self.usage_reporting_enabled.unwrap_or(true)
    }

    /// Routes are built from workload IPs rather than IPAM blocks (default false).
    pub fn route_source_workload_ips(&self) -> bool {
        self.route_source.eq_ignore_ascii_case("WorkloadIPs")
    }

    /// IPv4 WireGuard enabled (default false).
    pub fn wireguard_enabled(&self) -> bool {
        self.wireguard_enabled.unwrap_or(false)
    }

    /// IPv6 WireGuard enabled (default false).
    pub fn wireguard_enabled_v6(&self) -> bool {
        self.wireguard_enabled_v6.unwrap_or(false)
    }

    /// IPv4 WireGuard listening port (default 51820).
    pub fn wireguard_listening_port(&self) -> u16 {
        port_or(self.wireguard_listening_port, 51820)
    }

    /// IPv6 WireGuard listening port (default 51821).
    pub fn wireguard_listening_port_v6(&self) -> u16 {
        port_or(self.wireguard_listening_port_v6, 51821)
    }

    /// IPv4 WireGuard device name (default `wireguard.cali`).
    pub fn wireguard_interface_name(&self) -> &str {
        str_or(&self.wireguard_interface_name, "wireguard.cali")
    }

    /// IPv6 WireGuard device name (default `wg-v6.cali`).
    pub fn wireguard_interface_name_v6(&self) -> &str {
        str_or(&self.wireguard_interface_name_v6, "wg-v6.cali")
    }

    /// WireGuard routing rule priority (default 99).
    pub fn wireguard_routing_rule_priority(&self) -> i64 {
        self.wireguard_routing_rule_priority.unwrap_or(99)
    }

    /// WireGuard host-to-host encryption (default false).
    pub fn wireguard_host_encryption_enabled(&self) -> bool {
        self.wireguard_host_encryption_enabled.unwrap_or(false)
    }

    /// WireGuard persistent keepalive (default 0: disabled).
    pub fn wireguard_persistent_keep_alive(&self) -> Duration {
        self.wireguard_persistent_keep_alive.unwrap_or_default()
    }

    /// Overlays configuration layers, **lowest priority first**: a field set in a later layer
    /// replaces the same field of every earlier layer, e.g.
    /// `merge(&[&default_spec, &selector_scoped_spec, &node_spec])`.
    ///
    /// A field counts as set when it appears in the layer's serialised form and is not the
    /// empty string; lists, maps and nested objects are replaced as a whole (as Felix treats
    /// each setting as one value). Merge specs as stored, before [`ResourceKind::apply_defaults`],
    /// otherwise a CRD default (`nftablesMode: Auto`) in a higher layer hides a lower layer's
    /// explicit value.
    pub fn merge(layers: &[&FelixConfigurationSpec]) -> FelixConfigurationSpec {
        let mut out = serde_json::Map::new();
        for layer in layers {
            if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(layer) {
                for (k, v) in fields {
                    if v.as_str() == Some("") {
                        continue;
                    }
                    out.insert(k, v);
                }
            }
        }
        // Every value came from serialising this very type, so decoding cannot fail; fall back
        // to an empty spec rather than panic.
        serde_json::from_value(serde_json::Value::Object(out)).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------------------------

/// Checks a string against a set of values ignoring ASCII case (Calico's `^(?i)(A|B)?$` CRD
/// patterns). Empty is accepted (unset).
fn ci_one_of(v: &mut Validator, path: &Path, value: &str, allowed: &[&str]) {
    if value.is_empty() || allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
        return;
    }
    v.report(
        path,
        format!(
            "unsupported value {value:?}: must be one of {} (case-insensitive)",
            allowed.join(", ")
        ),
    );
}

fn opt_range(v: &mut Validator, path: &Path, value: Option<i64>, min: i64, max: i64) {
    if let Some(x) = value {
        v.range(path, x, min, max);
    }
}

/// Calico's `interface` rule: `*` or 1–15 of `[a-zA-Z0-9_.-]`.
fn is_interface_name(s: &str) -> bool {
    s == "*"
        || ((1..=15).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')))
}

/// Calico's `interface` regex without the `*` wildcard (used for `bpfLogFilters` keys).
fn is_interface_regex(s: &str) -> bool {
    s != "*" && is_interface_name(s)
}

/// Calico's `ifaceFilter` rule: 1–15 of `[a-zA-Z0-9:._+-]` (iptables `+` wildcard allowed).
fn is_iface_filter(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'+' | b'-'))
}

fn check_regex(v: &mut Validator, path: &Path, s: &str) {
    if let Err(e) = crate::validation::check_regex(s) {
        v.report(path, format!("invalid regular expression {s:?}: {e}"));
    }
}

/// `^(([0-9]*(\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$`, the pattern of a BPF conntrack timer.
fn is_conntrack_timeout(s: &str) -> bool {
    if s == "Auto" {
        return true;
    }
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        // One or more units; any run of `m`, `s`, `h` and `us` splits into valid units.
        let start = i;
        while i < b.len() {
            match b[i] {
                b'm' | b's' | b'h' => i += 1,
                b'u' if b.get(i + 1) == Some(&b's') => i += 2,
                _ => break,
            }
        }
        if i == start {
            return false;
        }
    }
    true
}

fn is_kv_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `^([a-zA-Z0-9-_]+=(true|false|),)*([a-zA-Z0-9-_]+=(true|false|))?$`.
fn feature_detect_override_ok(s: &str) -> bool {
    let items: Vec<&str> = s.split(',').collect();
    let last = items.len().saturating_sub(1);
    items.iter().enumerate().all(|(i, item)| {
        if item.is_empty() {
            // Only the final item may be empty (empty string, or a trailing comma).
            return i == last;
        }
        match item.split_once('=') {
            Some((k, val)) => {
                !k.is_empty()
                    && k.bytes().all(is_kv_key_char)
                    && matches!(val, "true" | "false" | "")
            }
            None => false,
        }
    })
}

/// `^([a-zA-Z0-9-_]+=([^=]+),)*([a-zA-Z0-9-_]+=([^=]+))?$` (values may contain commas).
fn feature_gates_ok(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let parts: Vec<&str> = s.split('=').collect();
    let n = parts.len();
    if n < 2 {
        return false;
    }
    let key_ok = |k: &str| !k.is_empty() && k.bytes().all(is_kv_key_char);
    if !key_ok(parts[0]) {
        return false;
    }
    for (i, part) in parts.iter().enumerate().skip(1) {
        if i == n - 1 {
            // The last value: non-empty, anything but '='.
            if part.is_empty() {
                return false;
            }
        } else {
            // "value,nextkey": the key follows the last comma.
            match part.rsplit_once(',') {
                Some((val, key)) if !val.is_empty() && key_ok(key) => {}
                _ => return false,
            }
        }
    }
    true
}

/// Calico's `keyValueList` rule: every non-empty comma-separated item is `\s*\w+=.*`.
fn key_value_list_ok(s: &str) -> bool {
    if s.trim().is_empty() {
        return true;
    }
    s.split(',').filter(|i| !i.is_empty()).all(|item| {
        let t = item.trim_start_matches(|c: char| c.is_whitespace());
        match t.split_once('=') {
            Some((k, _)) => {
                !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }
            None => false,
        }
    })
}

/// `^([a-zA-Z0-9%: /_-])*$`, the `logPrefix` pattern.
fn log_prefix_ok(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b':' | b' ' | b'/' | b'_' | b'-'))
}

/// `^[1-9]\d{0,3}/(?:second|minute|hour|day)$`, the `logActionRateLimit` pattern.
fn rate_limit_ok(s: &str) -> bool {
    let Some((n, unit)) = s.split_once('/') else {
        return false;
    };
    let nb = n.as_bytes();
    (1..=4).contains(&nb.len())
        && nb.iter().all(u8::is_ascii_digit)
        && nb.first() != Some(&b'0')
        && matches!(unit, "second" | "minute" | "hour" | "day")
}

/// `^[a-zA-Z0-9:._+-]{1,64}$`, Calico's `prometheusHost` rule.
fn prometheus_host_ok(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'+' | b'-'))
}

/// `^[a-zA-Z0-9_ -]+$`, the health timeout override name rule.
fn hto_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b' ' | b'-'))
}

/// Calico caps the total number of tables designated by `routeTableRanges`.
const ROUTE_TABLE_RANGES_MAX_TABLES: i64 = 0xffff;

fn check_numeric_port(v: &mut Validator, path: &Path, p: &Port) {
    if let (Some(min), Some(max)) = (p.min(), p.max())
        && (min < 1 || max < 1)
    {
        v.report(
            path,
            "port range invalid, port number must be between 1 and 65535",
        );
    }
}

fn check_cidr_list(v: &mut Validator, path: &Path, list: Option<&Vec<String>>, kind: NetKind) {
    for (i, c) in list.into_iter().flatten().enumerate() {
        check_net(v, &path.index(i), c, kind);
    }
}

impl Validate for FelixProtoPort {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        if !self.protocol.is_empty() && !matches!(self.protocol.as_str(), "TCP" | "UDP" | "SCTP") {
            v.report(
                &path.field("protocol"),
                format!(
                    "unsupported protocol {:?}: must be TCP, UDP or SCTP",
                    self.protocol
                ),
            );
        }
        if self.port == 0 {
            v.report(&path.field("port"), "port must be between 1 and 65535");
        }
        if !self.net.is_empty() {
            check_net(v, &path.field("net"), &self.net, NetKind::Cidr);
        }
    }
}

impl Validate for FelixHealthTimeoutOverride {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        v.check(
            hto_name_ok(&self.name),
            &path.field("name"),
            format!("invalid name {:?}: must match ^[a-zA-Z0-9_ -]+$", self.name),
        );
        v.check(
            self.timeout.as_nanos() >= 0,
            &path.field("timeout"),
            "timeout must not be negative",
        );
    }
}

impl Validate for FelixRouteTableRange {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        v.check(
            self.min >= 1 && self.max >= self.min && self.max <= 250,
            path,
            format!(
                "must be a range of route table indices within 1..250 (got {}..{})",
                self.min, self.max
            ),
        );
    }
}

impl Validate for FelixRouteTableIdRange {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        v.check(self.min >= 1, &path.field("min"), "min must be >= 1");
        v.check(
            self.min <= self.max,
            path,
            "min must not be greater than max",
        );
        v.check(
            self.max <= i64::from(u32::MAX),
            &path.field("max"),
            "max must be at most 4294967295",
        );
    }
}

impl Validate for FelixBpfConntrackTimeouts {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        for (name, value) in self.entries() {
            if let Some(s) = value {
                v.check(
                    is_conntrack_timeout(s),
                    &path.field(name),
                    format!("invalid timeout {s:?}: must be a duration (e.g. 30s, 1h) or Auto"),
                );
            }
        }
    }
}

impl FelixConfigurationSpec {
    /// The duration fields whose CRD pattern forbids negative values.
    fn patterned_durations(&self) -> [(&'static str, Option<Duration>); 22] {
        [
            ("routeRefreshInterval", self.route_refresh_interval),
            ("interfaceRefreshInterval", self.interface_refresh_interval),
            ("iptablesRefreshInterval", self.iptables_refresh_interval),
            (
                "iptablesPostWriteCheckInterval",
                self.iptables_post_write_check_interval,
            ),
            ("iptablesLockTimeout", self.iptables_lock_timeout),
            (
                "iptablesLockProbeInterval",
                self.iptables_lock_probe_interval,
            ),
            ("ipsetsRefreshInterval", self.ipsets_refresh_interval),
            ("xdpRefreshInterval", self.xdp_refresh_interval),
            ("netlinkTimeout", self.netlink_timeout),
            ("reportingInterval", self.reporting_interval),
            ("reportingTTL", self.reporting_ttl),
            ("endpointReportingDelay", self.endpoint_reporting_delay),
            (
                "usageReportingInitialDelay",
                self.usage_reporting_initial_delay,
            ),
            ("usageReportingInterval", self.usage_reporting_interval),
            (
                "debugSimulateCalcGraphHangAfter",
                self.debug_simulate_calc_graph_hang_after,
            ),
            (
                "debugSimulateDataplaneHangAfter",
                self.debug_simulate_dataplane_hang_after,
            ),
            (
                "debugSimulateDataplaneApplyDelay",
                self.debug_simulate_dataplane_apply_delay,
            ),
            (
                "bpfKubeProxyMinSyncPeriod",
                self.bpf_kube_proxy_min_sync_period,
            ),
            ("bpfIPFragTimeout", self.bpf_ip_frag_timeout),
            ("flowLogsFlushInterval", self.flow_logs_flush_interval),
            ("wireguardKeepAlive", self.wireguard_persistent_keep_alive),
            (
                "liveMigrationRouteConvergenceTime",
                self.live_migration_route_convergence_time,
            ),
        ]
    }

    /// The regular-expression fields.
    fn regex_fields(&self) -> [(&'static str, &str); 5] {
        [
            ("logDebugFilenameRegex", &self.log_debug_filename_regex),
            ("bpfDataIfacePattern", &self.bpf_data_iface_pattern),
            ("bpfL3IfacePattern", &self.bpf_l3_iface_pattern),
            ("bpfDisableGROForIfaces", &self.bpf_disable_gro_for_ifaces),
            ("mtuIfacePattern", &self.mtu_iface_pattern),
        ]
    }
}

const LOG_LEVELS: &[&str] = &["Trace", "Debug", "Info", "Warning", "Error", "Fatal"];

impl Validate for FelixConfigurationSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        let f = |name: &str| path.field(name);

        // Durations written with the CRD's duration pattern cannot be negative.
        for (name, d) in self.patterned_durations() {
            if let Some(d) = d {
                v.check(d.as_nanos() >= 0, &f(name), "duration must not be negative");
            }
        }

        // Key/value lists.
        if !self.feature_detect_override.is_empty() {
            let ok = feature_detect_override_ok(&self.feature_detect_override)
                && key_value_list_ok(&self.feature_detect_override);
            v.check(
                ok,
                &f("featureDetectOverride"),
                "must be a comma-separated list of Name=true|false| entries",
            );
        }
        if !self.feature_gates.is_empty() {
            let ok =
                feature_gates_ok(&self.feature_gates) && key_value_list_ok(&self.feature_gates);
            v.check(
                ok,
                &f("featureGates"),
                "must be a comma-separated list of Name=value entries",
            );
        }

        // Case-insensitive enumerations (CRD patterns).
        ci_one_of(
            v,
            &f("chainInsertMode"),
            &self.chain_insert_mode,
            &["Insert", "Append"],
        );
        ci_one_of(
            v,
            &f("defaultEndpointToHostAction"),
            &self.default_endpoint_to_host_action,
            &["Drop", "Accept", "Return"],
        );
        for (name, value) in [
            (
                "iptablesFilterAllowAction",
                &self.iptables_filter_allow_action,
            ),
            (
                "iptablesMangleAllowAction",
                &self.iptables_mangle_allow_action,
            ),
            (
                "nftablesFilterAllowAction",
                &self.nftables_filter_allow_action,
            ),
            (
                "nftablesMangleAllowAction",
                &self.nftables_mangle_allow_action,
            ),
        ] {
            ci_one_of(v, &f(name), value, &["Accept", "Return"]);
        }
        for (name, value) in [
            (
                "iptablesFilterDenyAction",
                &self.iptables_filter_deny_action,
            ),
            (
                "nftablesFilterDenyAction",
                &self.nftables_filter_deny_action,
            ),
        ] {
            ci_one_of(v, &f(name), value, &["Drop", "Reject"]);
        }
        for (name, value) in [
            ("logSeverityFile", &self.log_severity_file),
            ("logSeverityScreen", &self.log_severity_screen),
            ("logSeveritySys", &self.log_severity_sys),
        ] {
            ci_one_of(v, &f(name), value, LOG_LEVELS);
        }
        ci_one_of(
            v,
            &f("bpfLogLevel"),
            &self.bpf_log_level,
            &["Off", "Info", "Debug"],
        );
        ci_one_of(
            v,
            &f("bpfExternalServiceMode"),
            &self.bpf_external_service_mode,
            &["Tunnel", "DSR"],
        );
        ci_one_of(
            v,
            &f("bpfMapSizeConntrackScaling"),
            &self.bpf_map_size_conntrack_scaling,
            &["Disabled", "DoubleIfFull"],
        );
        ci_one_of(
            v,
            &f("bpfEnforceRPF"),
            &self.bpf_enforce_rpf,
            &["Disabled", "Strict", "Loose"],
        );
        ci_one_of(
            v,
            &f("routeSource"),
            &self.route_source,
            &["WorkloadIPs", "CalicoIPAM"],
        );
        // These two also carry an exact-case `oneof` rule, so only the exact spelling passes.
        v.one_of(
            &f("serviceLoopPrevention"),
            &self.service_loop_prevention,
            &["Drop", "Reject", "Disabled"],
            true,
        );
        v.one_of(
            &f("workloadSourceSpoofing"),
            &self.workload_source_spoofing,
            &["Disabled", "Any"],
            true,
        );

        // Logging.
        v.check(
            log_prefix_ok(&self.log_prefix),
            &f("logPrefix"),
            "may contain only letters, digits and the characters % : / _ - and space",
        );
        if let Some(r) = &self.log_action_rate_limit {
            v.check(
                rate_limit_ok(r),
                &f("logActionRateLimit"),
                format!("invalid rate {r:?}: must be N/second, N/minute, N/hour or N/day with N in 1..9999"),
            );
        }
        opt_range(
            v,
            &f("logActionRateLimitBurst"),
            self.log_action_rate_limit_burst,
            0,
            9999,
        );

        // Regular expressions.
        for (name, re) in self.regex_fields() {
            if !re.is_empty() {
                check_regex(v, &f(name), re);
            }
        }

        // OpenStack region: usable in a namespace name "openstack-region-<region>".
        if !self.openstack_region.is_empty() {
            if self.openstack_region.len() > 46 {
                v.report(&f("openstackRegion"), "is too long (at most 46 characters)");
            } else if !is_dns1123_label(&self.openstack_region) {
                v.report(&f("openstackRegion"), "must be a valid DNS label");
            }
        }

        // Health and metrics.
        for (i, h) in self.health_timeout_overrides.iter().enumerate() {
            h.validate_into(&f("healthTimeoutOverrides").index(i), v);
        }
        if !self.prometheus_metrics_host.is_empty() {
            v.check(
                prometheus_host_ok(&self.prometheus_metrics_host),
                &f("prometheusMetricsHost"),
                "must be 1-64 characters from [a-zA-Z0-9:._+-]",
            );
        }

        // Failsafe ports.
        for name in ["failsafeInboundHostPorts", "failsafeOutboundHostPorts"] {
            let list = if name == "failsafeInboundHostPorts" {
                &self.failsafe_inbound_host_ports
            } else {
                &self.failsafe_outbound_host_ports
            };
            for (i, pp) in list.iter().flatten().enumerate() {
                pp.validate_into(&f(name).index(i), v);
            }
        }

        // Ports.
        if let Some(ranges) = &self.kube_node_port_ranges {
            v.max_items(&f("kubeNodePortRanges"), ranges, 7);
            for (i, p) in ranges.iter().enumerate() {
                let ip = f("kubeNodePortRanges").index(i);
                if p.is_named() {
                    v.report(&ip, "node port ranges should not contain named ports");
                } else {
                    check_numeric_port(v, &ip, p);
                }
            }
        }
        if let Some(p) = &self.nat_port_range {
            check_numeric_port(v, &f("natPortRange"), p);
        }
        if let Some(p) = &self.bpf_psnat_ports {
            check_numeric_port(v, &f("bpfPSNATPorts"), p);
        }
        opt_range(v, &f("debugPort"), self.debug_port, 0, 65535);
        opt_range(
            v,
            &f("wireguardListeningPort"),
            self.wireguard_listening_port,
            1,
            65535,
        );
        opt_range(
            v,
            &f("wireguardListeningPortV6"),
            self.wireguard_listening_port_v6,
            1,
            65535,
        );
        opt_range(
            v,
            &f("wireguardRoutingRulePriority"),
            self.wireguard_routing_rule_priority,
            1,
            32765,
        );
        opt_range(
            v,
            &f("bpfExtToServiceConnmark"),
            self.bpf_ext_to_service_connmark,
            0,
            i64::from(u32::MAX),
        );
        if let Some(q) = self.bpf_map_size_conntrack_cleanup_queue {
            v.check(
                q >= 1,
                &f("bpfMapSizeConntrackCleanupQueue"),
                "must be at least 1",
            );
        }
        for (name, value) in [
            ("goGCThreshold", self.go_gc_threshold),
            ("goMemoryLimitMB", self.go_memory_limit_mb),
            ("goMaxProcs", self.go_max_procs),
        ] {
            if let Some(x) = value {
                v.check(x >= -1, &f(name), "must be at least -1");
            }
        }

        // Addresses.
        check_cidr_list(
            v,
            &f("externalNodesList"),
            self.external_nodes_cidr_list.as_ref(),
            NetKind::CidrV4,
        );
        check_cidr_list(
            v,
            &f("bpfDSROptoutCIDRs"),
            self.bpf_dsr_optout_cidrs.as_ref(),
            NetKind::Cidr,
        );
        check_cidr_list(
            v,
            &f("bpfExcludeCIDRsFromNAT"),
            self.bpf_exclude_cidrs_from_nat.as_ref(),
            NetKind::Cidr,
        );
        for (name, value, kind) in [
            (
                "natOutgoingAddress",
                &self.nat_outgoing_address,
                NetKind::IpV4,
            ),
            (
                "deviceRouteSourceAddress",
                &self.device_route_source_address,
                NetKind::IpV4,
            ),
            (
                "deviceRouteSourceAddressIPv6",
                &self.device_route_source_address_ipv6,
                NetKind::IpV6,
            ),
        ] {
            if !value.is_empty() {
                v.max_len(&f(name), value, 45);
                check_net(v, &f(name), value, kind);
            }
        }

        // Interfaces.
        for (name, value) in [
            ("wireguardInterfaceName", &self.wireguard_interface_name),
            (
                "wireguardInterfaceNameV6",
                &self.wireguard_interface_name_v6,
            ),
        ] {
            if !value.is_empty() {
                v.check(
                    is_interface_name(value),
                    &f(name),
                    format!("invalid interface name {value:?}: must be 1-15 characters from [a-zA-Z0-9_.-]"),
                );
            }
        }
        if !self.iptables_nat_outgoing_interface_filter.is_empty() {
            v.check(
                is_iface_filter(&self.iptables_nat_outgoing_interface_filter),
                &f("iptablesNATOutgoingInterfaceFilter"),
                "must be 1-15 characters from [a-zA-Z0-9:._+-]",
            );
        }
        for (i, iface) in self
            .bpf_force_track_packets_from_ifaces
            .iter()
            .flatten()
            .enumerate()
        {
            v.check(
                is_iface_filter(iface),
                &f("bpfForceTrackPacketsFromIfaces").index(i),
                format!(
                    "invalid interface {iface:?}: must be 1-15 characters from [a-zA-Z0-9:._+-]"
                ),
            );
        }
        for key in self.bpf_log_filters.iter().flat_map(BTreeMap::keys) {
            v.check(
                is_interface_regex(key),
                &f("bpfLogFilters").key(key),
                "key must be an interface name (or all, weps, heps)",
            );
        }

        // BPF conntrack timers.
        if let Some(t) = &self.bpf_conntrack_timeouts {
            t.validate_into(&f("bpfConntrackTimeouts"), v);
        }

        // Route tables.
        if let Some(r) = &self.route_table_range {
            r.validate_into(&f("routeTableRange"), v);
        }
        if let Some(ranges) = &self.route_table_ranges {
            for (i, r) in ranges.iter().enumerate() {
                r.validate_into(&f("routeTableRanges").index(i), v);
            }
            let total = ranges.iter().fold(0i64, |acc, r| {
                acc.saturating_add(r.max.saturating_sub(r.min).saturating_add(1))
            });
            v.check(
                total <= ROUTE_TABLE_RANGES_MAX_TABLES,
                &f("routeTableRanges"),
                format!(
                    "targets too many tables ({total}, at most {ROUTE_TABLE_RANGES_MAX_TABLES})"
                ),
            );
        }
        if self.route_table_range.is_some() && self.route_table_ranges.is_some() {
            v.report(
                &f("routeTableRange"),
                "routeTableRange and routeTableRanges cannot both be set",
            );
        }

        // Node selector syntax (the name-dependent rule is checked on the resource).
        if !self.node_selector.is_empty() {
            v.max_len(&f("nodeSelector"), &self.node_selector, 1024);
            v.selector(&f("nodeSelector"), &self.node_selector);
        }
    }
}

/// True for the names whose scope is fixed by the name itself: `default` and
/// `node.<nodename>`.
pub fn felix_configuration_name_is_fixed_scope(name: &str) -> bool {
    name == "default" || name.starts_with("node.")
}

impl ResourceKind for FelixConfiguration {
    /// Applies the CRD default `nftablesMode: Auto`; Calico defaults nothing else (Felix's
    /// runtime defaults are available from the spec's accessor methods).
    fn apply_defaults(&mut self) {
        if self.spec.nftables_mode.is_none() {
            self.spec.nftables_mode = Some(FelixNftablesMode::Auto);
        }
    }

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        let name = &self.metadata.name;
        if !name.is_empty() {
            v.resource_name(&Path::new("metadata").field("name"), name);
        }
        let spec = Path::new("spec");
        if felix_configuration_name_is_fixed_scope(name) && !self.spec.node_selector.is_empty() {
            v.report(
                &spec.field("nodeSelector"),
                "nodeSelector must not be set on the 'default' or per-node ('node.*') FelixConfiguration",
            );
        }
        self.spec.validate_into(&spec, v);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::validation::ValidationError;

    const FULL: &str =
        include_str!("../../tests/fixtures/valid/felixconfiguration-default-full.yaml");
    const NODE_AND_SELECTOR: &str =
        include_str!("../../tests/fixtures/valid/felixconfiguration-node-and-selector.yaml");

    fn decode_all(yaml: &str) -> Vec<FelixConfiguration> {
        crate::decode_yaml(yaml)
            .unwrap()
            .into_iter()
            .map(|r| FelixConfiguration::try_from(r).unwrap())
            .collect()
    }

    fn decode_one(yaml: &str) -> FelixConfiguration {
        decode_all(yaml).remove(0)
    }

    /// A FelixConfiguration document with the given name and (unindented) spec lines.
    fn doc(name: &str, spec: &str) -> String {
        let mut s = format!(
            "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata:\n  name: {name}\nspec:\n"
        );
        if spec.trim().is_empty() {
            s.push_str("  {}\n");
        }
        for line in spec.lines() {
            s.push_str("  ");
            s.push_str(line);
            s.push('\n');
        }
        s
    }

    fn validate(fc: &FelixConfiguration) -> Result<(), ValidationError> {
        let mut fc = fc.clone();
        fc.apply_defaults();
        let mut v = Validator::new();
        fc.validate_into(&mut v);
        v.finish()
    }

    fn check(name: &str, spec: &str) -> Result<(), ValidationError> {
        validate(&decode_one(&doc(name, spec)))
    }

    #[track_caller]
    fn assert_ok(spec: &str) {
        if let Err(e) = check("default", spec) {
            panic!("expected {spec:?} to be valid, got {e}");
        }
    }

    #[track_caller]
    fn assert_err_at(spec: &str, path: &str) {
        match check("default", spec) {
            Ok(()) => panic!("expected {spec:?} to be rejected at {path}"),
            Err(e) => assert!(e.has_path(path), "expected a problem at {path}, got {e}"),
        }
    }

    #[track_caller]
    fn assert_decode_err_at(spec: &str, path: &str) {
        let e = crate::decode_yaml(&doc("default", spec)).unwrap_err();
        assert_eq!(e.location.path, path, "{e}");
    }

    #[test]
    fn full_manifest_decodes_validates_and_round_trips() {
        let fc = decode_one(FULL);
        assert_eq!(fc.metadata.name, "default");
        let s = &fc.spec;
        assert_eq!(s.route_refresh_interval, Some(Duration::from_secs(90)));
        assert_eq!(
            s.iptables_lock_probe_interval,
            Some(Duration::from_nanos(50_000_000))
        );
        assert_eq!(
            s.usage_reporting_interval,
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(s.iptables_backend, Some(FelixIptablesBackend::Auto));
        assert_eq!(s.vxlan_vni, Some(4096));
        assert_eq!(s.iptables_mark_mask, Some(0xffff_0000));
        assert_eq!(s.health_timeout_overrides.len(), 2);
        assert_eq!(
            s.health_timeout_overrides[0].timeout,
            Duration::from_secs(120)
        );
        let inbound = s.failsafe_inbound_host_ports.as_ref().unwrap();
        assert_eq!(
            inbound[2],
            FelixProtoPort {
                protocol: "TCP".into(),
                port: 179,
                net: "10.0.0.0/8".into()
            }
        );
        assert_eq!(
            s.kube_node_port_ranges,
            Some(vec![Port::Range(30000, 32767), Port::Number(40000)])
        );
        assert_eq!(s.nat_port_range, Some(Port::Range(32768, 65535)));
        assert_eq!(s.bpf_psnat_ports, Some(Port::Range(20000, 29999)));
        assert_eq!(
            s.bpf_conntrack_cleanup_mode,
            Some(FelixBpfConntrackMode::Auto)
        );
        assert_eq!(
            s.bpf_conntrack_timeouts
                .as_ref()
                .unwrap()
                .tcp_fins_seen
                .as_deref(),
            Some("Auto")
        );
        assert_eq!(s.bpf_log_filters.as_ref().unwrap()["eth0"], "host 10.0.0.1");
        assert_eq!(s.bpf_attach_type, Some(FelixBpfAttachType::Tcx));
        assert_eq!(s.bpf_jit_hardening, Some(FelixBpfJitHardening::Auto));
        assert_eq!(
            s.route_table_ranges,
            Some(vec![
                FelixRouteTableIdRange { min: 1, max: 250 },
                FelixRouteTableIdRange {
                    min: 1000,
                    max: 1999
                },
            ])
        );
        assert_eq!(
            s.wireguard_persistent_keep_alive,
            Some(Duration::from_secs(25))
        );
        assert_eq!(s.aws_src_dst_check, Some(FelixAwsSrcDstCheck::Disable));
        assert_eq!(s.istio_dscp_mark, Some(Dscp::Number(23)));
        assert_eq!(s.external_nodes_cidr_list.as_ref().unwrap().len(), 2);
        assert_eq!(s.go_memory_limit_mb, Some(-1));
        validate(&fc).unwrap();

        // decode → JSON value → decode gives an equal value.
        let value = serde_json::to_value(&fc).unwrap();
        assert_eq!(value["spec"]["routeRefreshInterval"], "1m30s");
        assert_eq!(value["spec"]["externalNodesList"][1], "203.0.113.7");
        assert_eq!(value["spec"]["bpfPSNATPorts"], "20000:29999");
        let back: FelixConfiguration = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(back, fc);
        // And the value itself is stable.
        assert_eq!(serde_json::to_value(&back).unwrap(), value);

        // Through the YAML codec too.
        let res = crate::decode_yaml(FULL).unwrap();
        assert_eq!(crate::decode_yaml(&crate::encode_yaml(&res)).unwrap(), res);
    }

    #[test]
    fn node_and_selector_manifests_are_valid() {
        let all = decode_all(NODE_AND_SELECTOR);
        assert_eq!(all.len(), 2);
        for fc in &all {
            validate(fc).unwrap();
        }
        assert_eq!(all[0].spec.failsafe_inbound_host_ports, Some(vec![]));
        assert!(all[0].spec.failsafe_inbound_host_ports().is_empty());
        assert_eq!(
            all[0].spec.bpf_redirect_to_peer,
            Some(FelixBpfRedirectToPeer::L2Only)
        );
        assert_eq!(all[0].spec.log_severity_screen(), FelixLogSeverity::Debug);
        assert_eq!(
            all[1].spec.iptables_backend,
            Some(FelixIptablesBackend::Nft)
        );
        assert!(all[1].spec.chain_insert_append());
    }

    /// Every JSON field name, checked against Calico's CRD property list (plus the legacy and
    /// very recent fields this crate also accepts).
    #[test]
    fn json_field_names_match_calico() {
        let crd: &[&str] = &[
            "allowIPIPPacketsFromWorkloads",
            "allowVXLANPacketsFromWorkloads",
            "awsSrcDstCheck",
            "bpfAttachType",
            "bpfCTLBLogFilter",
            "bpfConnectTimeLoadBalancing",
            "bpfConnectTimeLoadBalancingEnabled",
            "bpfConntrackLogLevel",
            "bpfConntrackMode",
            "bpfConntrackTimeouts",
            "bpfDSROptoutCIDRs",
            "bpfDataIfacePattern",
            "bpfDisableGROForIfaces",
            "bpfDisableUnprivileged",
            "bpfEnabled",
            "bpfEnforceRPF",
            "bpfExcludeCIDRsFromNAT",
            "bpfExportBufferSizeMB",
            "bpfExtToServiceConnmark",
            "bpfExternalServiceMode",
            "bpfForceTrackPacketsFromIfaces",
            "bpfHostConntrackBypass",
            "bpfHostNetworkedNATWithoutCTLB",
            "bpfIPFragTimeout",
            "bpfIPFragmentReassemblyEnabled",
            "bpfJITHardening",
            "bpfKubeProxyHealthzPort",
            "bpfKubeProxyIptablesCleanupEnabled",
            "bpfKubeProxyMinSyncPeriod",
            "bpfL3IfacePattern",
            "bpfLogFilters",
            "bpfLogLevel",
            "bpfMaglevMaxEndpointsPerService",
            "bpfMaglevMaxServices",
            "bpfMapSizeConntrack",
            "bpfMapSizeConntrackCleanupQueue",
            "bpfMapSizeConntrackScaling",
            "bpfMapSizeIPSets",
            "bpfMapSizeIfState",
            "bpfMapSizeNATAffinity",
            "bpfMapSizeNATBackend",
            "bpfMapSizeNATFrontend",
            "bpfMapSizePerCpuConntrack",
            "bpfMapSizeRoute",
            "bpfOverlayHostSourceIP",
            "bpfPSNATPorts",
            "bpfPolicyDebugEnabled",
            "bpfProfiling",
            "bpfRedirectToPeer",
            "cgroupV2Path",
            "chainInsertMode",
            "dataplaneDriver",
            "dataplaneWatchdogTimeout",
            "debugDisableLogDropping",
            "debugHost",
            "debugMemoryProfilePath",
            "debugPort",
            "debugSimulateCalcGraphHangAfter",
            "debugSimulateDataplaneApplyDelay",
            "debugSimulateDataplaneHangAfter",
            "defaultEndpointToHostAction",
            "deviceRouteProtocol",
            "deviceRouteSourceAddress",
            "deviceRouteSourceAddressIPv6",
            "disableConntrackInvalidCheck",
            "endpointReportingDelay",
            "endpointReportingEnabled",
            "endpointStatusPathPrefix",
            "externalNodesList",
            "failsafeInboundHostPorts",
            "failsafeOutboundHostPorts",
            "featureDetectOverride",
            "featureGates",
            "floatingIPs",
            "flowLogsCollectorDebugTrace",
            "flowLogsFlushInterval",
            "flowLogsGoldmaneServer",
            "flowLogsLocalReporter",
            "flowLogsPolicyEvaluationMode",
            "genericXDPEnabled",
            "goGCThreshold",
            "goMaxProcs",
            "goMemoryLimitMB",
            "healthEnabled",
            "healthHost",
            "healthPort",
            "healthTimeoutOverrides",
            "interfaceExclude",
            "interfacePrefix",
            "interfaceRefreshInterval",
            "ipForwarding",
            "ipipEnabled",
            "ipipMTU",
            "ipsetsRefreshInterval",
            "iptablesBackend",
            "iptablesFilterAllowAction",
            "iptablesFilterDenyAction",
            "iptablesLockProbeInterval",
            "iptablesMangleAllowAction",
            "iptablesMarkMask",
            "iptablesNATOutgoingInterfaceFilter",
            "iptablesPostWriteCheckInterval",
            "iptablesRefreshInterval",
            "ipv4ElevatedRoutePriority",
            "ipv4NormalRoutePriority",
            "ipv6ElevatedRoutePriority",
            "ipv6NormalRoutePriority",
            "ipv6Support",
            "istioAmbientMode",
            "istioDSCPMark",
            "kubeNodePortRanges",
            "liveMigrationRouteConvergenceTime",
            "localSubnetL2Reachability",
            "localSubnetL2ReachabilityRefreshInterval",
            "logActionRateLimit",
            "logActionRateLimitBurst",
            "logDebugFilenameRegex",
            "logFilePath",
            "logPrefix",
            "logSeverityFile",
            "logSeverityScreen",
            "logSeveritySys",
            "maxIpsetSize",
            "metadataAddr",
            "metadataPort",
            "mtuIfacePattern",
            "natOutgoingAddress",
            "natOutgoingExclusions",
            "natPortRange",
            "netlinkTimeout",
            "nftablesFilterAllowAction",
            "nftablesFilterDenyAction",
            "nftablesMangleAllowAction",
            "nftablesMarkMask",
            "nftablesMode",
            "nftablesRefreshInterval",
            "nodeSelector",
            "openstackRegion",
            "policySyncPathPrefix",
            "programClusterRoutes",
            "prometheusGoMetricsEnabled",
            "prometheusMetricsCAFile",
            "prometheusMetricsCertFile",
            "prometheusMetricsClientAuth",
            "prometheusMetricsEnabled",
            "prometheusMetricsHost",
            "prometheusMetricsKeyFile",
            "prometheusMetricsPort",
            "prometheusProcessMetricsEnabled",
            "prometheusWireGuardMetricsEnabled",
            "removeExternalRoutes",
            "reportingInterval",
            "reportingTTL",
            "requireMTUFile",
            "routeRefreshInterval",
            "routeSource",
            "routeSyncDisabled",
            "routeTableRange",
            "routeTableRanges",
            "serviceLoopPrevention",
            "sidecarAccelerationEnabled",
            "usageReportingEnabled",
            "usageReportingInitialDelay",
            "usageReportingInterval",
            "useInternalDataplaneDriver",
            "vxlanEnabled",
            "vxlanMTU",
            "vxlanMTUV6",
            "vxlanPort",
            "vxlanVNI",
            "windowsManageFirewallRules",
            "wireguardEnabled",
            "wireguardEnabledV6",
            "wireguardHostEncryptionEnabled",
            "wireguardInterfaceName",
            "wireguardInterfaceNameV6",
            "wireguardKeepAlive",
            "wireguardListeningPort",
            "wireguardListeningPortV6",
            "wireguardMTU",
            "wireguardMTUV6",
            "wireguardRoutingRulePriority",
            "wireguardThreadingEnabled",
            "workloadSourceSpoofing",
            "xdpEnabled",
            "xdpRefreshInterval",
        ];
        let extra: &[&str] = &[
            "iptablesLockFilePath",
            "iptablesLockTimeout",
            "bpfKubeProxyEndpointSlicesEnabled",
            "nftablesFlowTableOffload",
        ];
        let mut want: Vec<&str> = crd.iter().chain(extra).copied().collect();
        want.sort_unstable();
        let schema = serde_json::to_value(schemars::schema_for!(FelixConfigurationSpec)).unwrap();
        let mut got: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        got.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(crd.len(), 186);
        assert_eq!(got.len(), 190);
    }

    #[test]
    fn unknown_fields_and_bad_enums_fail_decoding_with_paths() {
        assert_decode_err_at("iptablesLockFile: /run/x", "spec.iptablesLockFile");
        assert_decode_err_at("iptablesBackend: nft", "spec.iptablesBackend");
        assert_decode_err_at("nftablesMode: on", "spec.nftablesMode");
        assert_decode_err_at("bpfAttachType: XDP", "spec.bpfAttachType");
        assert_decode_err_at("floatingIPs: enabled", "spec.floatingIPs");
        assert_decode_err_at("iptablesMarkMask: 4294967296", "spec.iptablesMarkMask");
        assert_decode_err_at("routeRefreshInterval: 90", "spec.routeRefreshInterval");
        assert_decode_err_at(
            "failsafeInboundHostPorts:\n  - {protocol: TCP, port: 22, cidr: 10.0.0.0/8}",
            "spec.failsafeInboundHostPorts[0].cidr",
        );
        assert_decode_err_at(
            "bpfConntrackTimeouts: {tcpSyn: 1s}",
            "spec.bpfConntrackTimeouts.tcpSyn",
        );
    }

    #[test]
    fn omission_rules_follow_go() {
        // bpfLogLevel has no omitempty: always present; everything else is omitted when unset.
        let empty = serde_json::to_value(FelixConfigurationSpec::default()).unwrap();
        assert_eq!(empty, serde_json::json!({"bpfLogLevel": ""}));
        // Pointers keep explicit zero values and empty lists.
        let fc = decode_one(&doc(
            "default",
            "vxlanPort: 0\nfailsafeOutboundHostPorts: []\nipipEnabled: false\nhealthHost: \"\"",
        ));
        let v = serde_json::to_value(&fc.spec).unwrap();
        assert_eq!(v["vxlanPort"], 0);
        assert_eq!(v["failsafeOutboundHostPorts"], serde_json::json!([]));
        assert_eq!(v["ipipEnabled"], false);
        assert_eq!(v["healthHost"], "");
        // Plain strings drop the empty value; proto ports omit empty protocol/net.
        let fc = decode_one(&doc(
            "default",
            "interfacePrefix: \"\"\nfailsafeInboundHostPorts:\n  - port: 22",
        ));
        let v = serde_json::to_value(&fc.spec).unwrap();
        assert!(v.get("interfacePrefix").is_none());
        assert_eq!(
            v["failsafeInboundHostPorts"],
            serde_json::json!([{"port": 22}])
        );
        // Health timeout overrides always carry both fields.
        let fc = decode_one(&doc("default", "healthTimeoutOverrides:\n  - name: Foo"));
        let v = serde_json::to_value(&fc.spec).unwrap();
        assert_eq!(
            v["healthTimeoutOverrides"],
            serde_json::json!([{"name": "Foo", "timeout": "0s"}])
        );
    }

    #[test]
    fn defaults_only_nftables_mode() {
        let mut fc = decode_one(&doc("default", "logSeverityScreen: Info"));
        fc.apply_defaults();
        assert_eq!(fc.spec.nftables_mode, Some(FelixNftablesMode::Auto));
        let mut expected = FelixConfigurationSpec {
            log_severity_screen: "Info".into(),
            ..Default::default()
        };
        expected.nftables_mode = Some(FelixNftablesMode::Auto);
        assert_eq!(fc.spec, expected);
        let mut fc = decode_one(&doc("default", "nftablesMode: Enabled"));
        fc.apply_defaults();
        assert_eq!(fc.spec.nftables_mode, Some(FelixNftablesMode::Enabled));
    }

    #[test]
    fn names_and_node_selector() {
        // The special names may not carry a nodeSelector.
        for name in ["default", "node.worker-1", "node.a.b.example.com"] {
            let e = check(name, "nodeSelector: all()").unwrap_err();
            assert!(e.has_path("spec.nodeSelector"), "{name}: {e}");
            assert!(check(name, "").is_ok(), "{name}");
        }
        // Any other name may, and it must parse.
        assert!(check("gpu-nodes", "nodeSelector: gpu == 'true'").is_ok());
        assert!(check("gpu-nodes", "").is_ok());
        let e = check("gpu-nodes", "nodeSelector: gpu == ").unwrap_err();
        assert!(e.has_path("spec.nodeSelector"), "{e}");
        let long = format!("nodeSelector: \"a == '{}'\"", "x".repeat(1100));
        assert!(
            check("gpu-nodes", &long)
                .unwrap_err()
                .has_path("spec.nodeSelector")
        );
        // Names are DNS-1123 subdomains.
        for bad in ["Default", "node_1", "-x", "a..b"] {
            let e = check(bad, "").unwrap_err();
            assert!(e.has_path("metadata.name"), "{bad}: {e}");
        }
        // Cluster-scoped.
        let mut fc = decode_one(&doc("default", ""));
        fc.metadata.namespace = "kube-system".into();
        assert!(validate(&fc).unwrap_err().has_path("metadata.namespace"));
    }

    #[test]
    fn case_insensitive_patterns() {
        assert_ok("logSeverityScreen: debug\nlogSeverityFile: WARNING\nlogSeveritySys: Trace");
        assert_err_at("logSeverityScreen: Verbose", "spec.logSeverityScreen");
        assert_err_at("logSeveritySys: None", "spec.logSeveritySys");
        assert_ok("chainInsertMode: APPEND\ndefaultEndpointToHostAction: accept");
        assert_err_at("chainInsertMode: Prepend", "spec.chainInsertMode");
        assert_err_at(
            "defaultEndpointToHostAction: Reject",
            "spec.defaultEndpointToHostAction",
        );
        assert_ok("iptablesFilterAllowAction: return\nnftablesMangleAllowAction: ACCEPT");
        assert_err_at(
            "iptablesMangleAllowAction: Drop",
            "spec.iptablesMangleAllowAction",
        );
        assert_err_at(
            "nftablesFilterAllowAction: Drop",
            "spec.nftablesFilterAllowAction",
        );
        assert_ok("iptablesFilterDenyAction: reject\nnftablesFilterDenyAction: DROP");
        assert_err_at(
            "iptablesFilterDenyAction: Accept",
            "spec.iptablesFilterDenyAction",
        );
        assert_err_at(
            "nftablesFilterDenyAction: Return",
            "spec.nftablesFilterDenyAction",
        );
        assert_ok("bpfLogLevel: debug\nbpfExternalServiceMode: dsr\nbpfEnforceRPF: strict");
        assert_err_at("bpfLogLevel: Trace", "spec.bpfLogLevel");
        assert_err_at(
            "bpfExternalServiceMode: Direct",
            "spec.bpfExternalServiceMode",
        );
        assert_err_at("bpfEnforceRPF: On", "spec.bpfEnforceRPF");
        assert_ok("bpfMapSizeConntrackScaling: disabled\nrouteSource: workloadips");
        assert_err_at(
            "bpfMapSizeConntrackScaling: Triple",
            "spec.bpfMapSizeConntrackScaling",
        );
        assert_err_at("routeSource: BGP", "spec.routeSource");
        // These two also have an exact-case rule.
        assert_ok("serviceLoopPrevention: Reject\nworkloadSourceSpoofing: Any");
        assert_err_at("serviceLoopPrevention: drop", "spec.serviceLoopPrevention");
        assert_err_at("workloadSourceSpoofing: any", "spec.workloadSourceSpoofing");
    }

    #[test]
    fn kube_node_port_ranges() {
        assert_ok("kubeNodePortRanges: [30000:32767, 8080, \"9000:9100\"]");
        assert_err_at(
            "kubeNodePortRanges: [1, 2, 3, 4, 5, 6, 7, 8]",
            "spec.kubeNodePortRanges",
        );
        assert_ok("kubeNodePortRanges: [1, 2, 3, 4, 5, 6, 7]");
        assert_err_at(
            "kubeNodePortRanges: [80, http]",
            "spec.kubeNodePortRanges[1]",
        );
        assert_err_at(
            "kubeNodePortRanges: [\"0:100\"]",
            "spec.kubeNodePortRanges[0]",
        );
        assert_err_at("natPortRange: 0", "spec.natPortRange");
        assert_err_at("bpfPSNATPorts: \"0:10\"", "spec.bpfPSNATPorts");
        assert_ok("natPortRange: 1024:65535\nbpfPSNATPorts: 20000:29999");
    }

    #[test]
    fn addresses() {
        assert_ok("externalNodesList: [10.0.0.0/8, 192.0.2.1, 10.1.2.3/16]");
        assert_err_at(
            "externalNodesList: [10.0.0.0/8, \"2001:db8::/64\"]",
            "spec.externalNodesList[1]",
        );
        assert_err_at(
            "externalNodesList: [not-a-cidr]",
            "spec.externalNodesList[0]",
        );
        assert_ok("natOutgoingAddress: 192.0.2.1");
        assert_err_at(
            "natOutgoingAddress: \"2001:db8::1\"",
            "spec.natOutgoingAddress",
        );
        assert_err_at(
            "natOutgoingAddress: 192.0.2.0/24",
            "spec.natOutgoingAddress",
        );
        assert_ok("deviceRouteSourceAddress: 10.0.0.1\ndeviceRouteSourceAddressIPv6: \"fd00::1\"");
        assert_err_at(
            "deviceRouteSourceAddress: \"fd00::1\"",
            "spec.deviceRouteSourceAddress",
        );
        assert_err_at(
            "deviceRouteSourceAddressIPv6: 10.0.0.1",
            "spec.deviceRouteSourceAddressIPv6",
        );
        assert_ok(
            "bpfDSROptoutCIDRs: [10.0.0.0/8, \"fd00::/8\"]\nbpfExcludeCIDRsFromNAT: [169.254.20.10]",
        );
        assert_err_at(
            "bpfDSROptoutCIDRs: [10.0.0.0/33]",
            "spec.bpfDSROptoutCIDRs[0]",
        );
        assert_err_at(
            "bpfExcludeCIDRsFromNAT: [x]",
            "spec.bpfExcludeCIDRsFromNAT[0]",
        );
    }

    #[test]
    fn openstack_region() {
        assert_ok("openstackRegion: region-one");
        assert_ok(&format!("openstackRegion: {}", "a".repeat(46)));
        assert_err_at(
            &format!("openstackRegion: {}", "a".repeat(47)),
            "spec.openstackRegion",
        );
        assert_err_at("openstackRegion: Region_One", "spec.openstackRegion");
    }

    #[test]
    fn route_tables() {
        assert_ok("routeTableRange: {min: 1, max: 250}");
        assert_err_at("routeTableRange: {min: 0, max: 10}", "spec.routeTableRange");
        assert_err_at(
            "routeTableRange: {min: 1, max: 251}",
            "spec.routeTableRange",
        );
        assert_err_at(
            "routeTableRange: {min: 20, max: 10}",
            "spec.routeTableRange",
        );
        assert_err_at(
            "routeTableRange: {min: 1, max: 2}\nrouteTableRanges: [{min: 3, max: 4}]",
            "spec.routeTableRange",
        );
        // Even an empty list counts as set.
        assert_err_at(
            "routeTableRange: {min: 1, max: 2}\nrouteTableRanges: []",
            "spec.routeTableRange",
        );
        assert_ok("routeTableRanges: [{min: 1, max: 250}, {min: 4294967000, max: 4294967295}]");
        assert_err_at(
            "routeTableRanges: [{min: 0, max: 10}]",
            "spec.routeTableRanges[0].min",
        );
        assert_err_at(
            "routeTableRanges: [{min: 1, max: 2}, {min: 9, max: 3}]",
            "spec.routeTableRanges[1]",
        );
        assert_err_at(
            "routeTableRanges: [{min: 4294967290, max: 4294967296}]",
            "spec.routeTableRanges[0].max",
        );
        assert_ok("routeTableRanges: [{min: 1, max: 65535}]");
        assert_err_at(
            "routeTableRanges: [{min: 1, max: 65536}]",
            "spec.routeTableRanges",
        );
        assert_err_at(
            "routeTableRanges: [{min: 1, max: 40000}, {min: 50000, max: 80000}]",
            "spec.routeTableRanges",
        );
    }

    #[test]
    fn health_timeout_overrides() {
        assert_ok("healthTimeoutOverrides: [{name: Internal Dataplane_Main-Loop, timeout: 0s}]");
        assert_err_at(
            "healthTimeoutOverrides: [{name: ok, timeout: 1s}, {name: \"bad/name\", timeout: 1s}]",
            "spec.healthTimeoutOverrides[1].name",
        );
        assert_err_at(
            "healthTimeoutOverrides: [{timeout: 1s}]",
            "spec.healthTimeoutOverrides[0].name",
        );
        assert_err_at(
            "healthTimeoutOverrides: [{name: x, timeout: -1s}]",
            "spec.healthTimeoutOverrides[0].timeout",
        );
    }

    #[test]
    fn failsafe_ports() {
        assert_ok(
            "failsafeInboundHostPorts: [{protocol: SCTP, port: 9}, {port: 22}, {protocol: UDP, port: 68, net: \"fd00::/8\"}]",
        );
        assert_err_at(
            "failsafeInboundHostPorts: [{protocol: ICMP, port: 8}]",
            "spec.failsafeInboundHostPorts[0].protocol",
        );
        assert_err_at(
            "failsafeOutboundHostPorts: [{protocol: UDP, port: 53}, {protocol: tcp, port: 22}]",
            "spec.failsafeOutboundHostPorts[1].protocol",
        );
        assert_err_at(
            "failsafeOutboundHostPorts: [{protocol: TCP}]",
            "spec.failsafeOutboundHostPorts[0].port",
        );
        assert_err_at(
            "failsafeInboundHostPorts: [{protocol: TCP, port: 22, net: 10.0.0.0/40}]",
            "spec.failsafeInboundHostPorts[0].net",
        );
        assert_decode_err_at(
            "failsafeInboundHostPorts: [{port: 65536}]",
            "spec.failsafeInboundHostPorts[0].port",
        );
    }

    #[test]
    fn interfaces_and_regexes() {
        assert_ok("wireguardInterfaceName: wg0\nwireguardInterfaceNameV6: wg-v6.cali");
        assert_err_at(
            "wireguardInterfaceName: wireguard-calico-tunnel0",
            "spec.wireguardInterfaceName",
        );
        assert_err_at(
            "wireguardInterfaceNameV6: \"wg v6\"",
            "spec.wireguardInterfaceNameV6",
        );
        assert_ok("iptablesNATOutgoingInterfaceFilter: eth+");
        assert_err_at(
            "iptablesNATOutgoingInterfaceFilter: \"eth*\"",
            "spec.iptablesNATOutgoingInterfaceFilter",
        );
        assert_ok("bpfForceTrackPacketsFromIfaces: [docker+, br-1234]");
        assert_err_at(
            "bpfForceTrackPacketsFromIfaces: [docker+, averyveryverylongname]",
            "spec.bpfForceTrackPacketsFromIfaces[1]",
        );
        assert_ok("bpfLogFilters: {all: \"\", weps: tcp, heps: udp, eth0: \"host 1.2.3.4\"}");
        assert_err_at("bpfLogFilters: {\"*\": tcp}", "spec.bpfLogFilters[*]");
        assert_ok(
            "bpfDataIfacePattern: \"^(eth|ens)[0-9]+$\"\nmtuIfacePattern: \"[]a]\"\nbpfL3IfacePattern: \"\\\\(x\"",
        );
        assert_err_at("bpfDataIfacePattern: \"^(eth\"", "spec.bpfDataIfacePattern");
        assert_err_at("mtuIfacePattern: \"[eth\"", "spec.mtuIfacePattern");
        assert_err_at(
            "logDebugFilenameRegex: \"a)\"",
            "spec.logDebugFilenameRegex",
        );
        assert_err_at(
            "bpfDisableGROForIfaces: \"eth\\\\\"",
            "spec.bpfDisableGROForIfaces",
        );
        assert_err_at("bpfL3IfacePattern: \"(a\"", "spec.bpfL3IfacePattern");
        assert_ok(
            "prometheusMetricsHost: \"[::1]\""
                .replace("[::1]", "::1")
                .as_str(),
        );
        assert_err_at(
            "prometheusMetricsHost: \"my host\"",
            "spec.prometheusMetricsHost",
        );
    }

    #[test]
    fn numeric_ranges() {
        assert_ok("debugPort: 0\nwireguardListeningPort: 1\nwireguardListeningPortV6: 65535");
        assert_err_at("debugPort: 65536", "spec.debugPort");
        assert_err_at("wireguardListeningPort: 0", "spec.wireguardListeningPort");
        assert_err_at(
            "wireguardListeningPortV6: 70000",
            "spec.wireguardListeningPortV6",
        );
        assert_ok("wireguardRoutingRulePriority: 32765");
        assert_err_at(
            "wireguardRoutingRulePriority: 32766",
            "spec.wireguardRoutingRulePriority",
        );
        assert_err_at(
            "wireguardRoutingRulePriority: 0",
            "spec.wireguardRoutingRulePriority",
        );
        assert_ok("bpfExtToServiceConnmark: 4294967295");
        assert_err_at(
            "bpfExtToServiceConnmark: 4294967296",
            "spec.bpfExtToServiceConnmark",
        );
        assert_err_at(
            "bpfExtToServiceConnmark: -1",
            "spec.bpfExtToServiceConnmark",
        );
        assert_ok("goGCThreshold: -1\ngoMemoryLimitMB: 512\ngoMaxProcs: -1");
        assert_err_at("goGCThreshold: -2", "spec.goGCThreshold");
        assert_err_at("goMemoryLimitMB: -5", "spec.goMemoryLimitMB");
        assert_err_at("goMaxProcs: -3", "spec.goMaxProcs");
        assert_ok("bpfMapSizeConntrackCleanupQueue: 1");
        assert_err_at(
            "bpfMapSizeConntrackCleanupQueue: 0",
            "spec.bpfMapSizeConntrackCleanupQueue",
        );
        assert_ok("logActionRateLimitBurst: 9999");
        assert_err_at(
            "logActionRateLimitBurst: 10000",
            "spec.logActionRateLimitBurst",
        );
    }

    #[test]
    fn string_patterns() {
        assert_ok(
            "featureDetectOverride: \"SNATFullyRandom=true,MASQFullyRandom=false,RestoreSupportsLock=,\"",
        );
        assert_err_at(
            "featureDetectOverride: SNATFullyRandom=yes",
            "spec.featureDetectOverride",
        );
        assert_err_at(
            "featureDetectOverride: \"a=true,,b=false\"",
            "spec.featureDetectOverride",
        );
        assert_err_at(
            "featureDetectOverride: Some-Feature=true",
            "spec.featureDetectOverride",
        );
        assert_ok("featureGates: \"BPFConnectTimeLoadBalancingWorkaround=enabled,XyZ=false\"");
        assert_err_at("featureGates: \"a=b=c\"", "spec.featureGates");
        assert_err_at("featureGates: \"novalue\"", "spec.featureGates");
        assert_ok("logPrefix: \"calico %t/%k: %n_%p-x\"");
        assert_err_at("logPrefix: \"calico[drop]\"", "spec.logPrefix");
        assert_ok("logActionRateLimit: 9999/day");
        for bad in ["0/second", "10000/second", "10/week", "ten/second", "\"\""] {
            assert_err_at(
                &format!("logActionRateLimit: {bad}"),
                "spec.logActionRateLimit",
            );
        }
        assert_ok(
            "bpfConntrackTimeouts: {creationGracePeriod: 1m30s, tcpSynSent: 500ms, tcpEstablished: 1.5h, udpTimeout: 100us, icmpTimeout: Auto}",
        );
        assert_err_at(
            "bpfConntrackTimeouts: {tcpResetSeen: \"40\"}",
            "spec.bpfConntrackTimeouts.tcpResetSeen",
        );
        // A bare number reads as the string "40" (as Calico's YAML reader does), which
        // then fails the pattern.
        assert_err_at(
            "bpfConntrackTimeouts: {tcpResetSeen: 40}",
            "spec.bpfConntrackTimeouts.tcpResetSeen",
        );
        assert_err_at(
            "bpfConntrackTimeouts: {genericTimeout: auto}",
            "spec.bpfConntrackTimeouts.genericTimeout",
        );
        assert_err_at(
            "bpfConntrackTimeouts: {tcpFinsSeen: 10d}",
            "spec.bpfConntrackTimeouts.tcpFinsSeen",
        );
    }

    #[test]
    fn durations_must_not_be_negative() {
        assert_ok("routeRefreshInterval: 0s\nreportingInterval: \"0\"");
        assert_err_at("routeRefreshInterval: -5s", "spec.routeRefreshInterval");
        assert_err_at("wireguardKeepAlive: -1s", "spec.wireguardKeepAlive");
        assert_err_at("reportingTTL: -1m", "spec.reportingTTL");
    }

    #[test]
    fn every_problem_is_reported() {
        let e = check(
            "default",
            "logSeverityScreen: loud\nnatOutgoingAddress: x\nwireguardListeningPort: 0\nnodeSelector: all()",
        )
        .unwrap_err();
        for p in [
            "spec.logSeverityScreen",
            "spec.natOutgoingAddress",
            "spec.wireguardListeningPort",
            "spec.nodeSelector",
        ] {
            assert!(e.has_path(p), "{p}: {e}");
        }
    }

    #[test]
    fn accessors_return_felix_defaults() {
        let s = FelixConfigurationSpec::default();
        assert_eq!(s.interface_prefix(), "cali");
        assert_eq!(s.interface_prefixes(), vec!["cali"]);
        assert_eq!(s.interface_exclude(), "kube-ipvs0");
        let inbound: Vec<String> = s
            .failsafe_inbound_host_ports()
            .iter()
            .map(|p| format!("{}:{}", p.protocol.to_lowercase(), p.port))
            .collect();
        assert_eq!(
            inbound,
            [
                "tcp:22", "udp:68", "tcp:179", "tcp:2379", "tcp:2380", "tcp:5473", "tcp:6443",
                "tcp:6666", "tcp:6667"
            ]
        );
        let outbound: Vec<String> = s
            .failsafe_outbound_host_ports()
            .iter()
            .map(|p| format!("{}:{}", p.protocol.to_lowercase(), p.port))
            .collect();
        assert_eq!(
            outbound,
            [
                "udp:53", "udp:67", "tcp:179", "tcp:2379", "tcp:2380", "tcp:5473", "tcp:6443",
                "tcp:6666", "tcp:6667"
            ]
        );
        assert_eq!(s.default_endpoint_to_host_action(), FelixVerdict::Drop);
        assert_eq!(s.iptables_filter_allow_action(), FelixVerdict::Accept);
        assert_eq!(s.iptables_mangle_allow_action(), FelixVerdict::Accept);
        assert_eq!(s.iptables_filter_deny_action(), FelixVerdict::Drop);
        assert_eq!(s.nftables_filter_allow_action(), FelixVerdict::Accept);
        assert_eq!(s.nftables_mangle_allow_action(), FelixVerdict::Accept);
        assert_eq!(s.nftables_filter_deny_action(), FelixVerdict::Drop);
        assert!(!s.chain_insert_append());
        assert!(!s.health_enabled());
        assert_eq!(s.health_host(), "localhost");
        assert_eq!(s.health_port(), 9099);
        assert!(!s.prometheus_metrics_enabled());
        assert_eq!(s.prometheus_metrics_port(), 9091);
        assert_eq!(s.route_refresh_interval(), Duration::from_secs(90));
        assert_eq!(s.interface_refresh_interval(), Duration::from_secs(90));
        assert_eq!(s.ipsets_refresh_interval(), Duration::from_secs(90));
        assert_eq!(s.iptables_refresh_interval(), Duration::from_secs(180));
        assert_eq!(s.reporting_interval(), Duration::from_secs(30));
        assert_eq!(s.reporting_ttl(), Duration::from_secs(90));
        assert_eq!(s.log_severity_screen(), FelixLogSeverity::Info);
        assert_eq!(s.log_file_path(), "/var/log/calico/felix.log");
        assert!(s.ipv6_support());
        assert_eq!(s.vxlan_port(), 4789);
        assert_eq!(s.vxlan_vni(), 4096);
        assert_eq!(s.iptables_mark_mask(), 0xffff_0000);
        assert_eq!(s.nftables_mark_mask(), 0xffff_0000);
        assert!(!s.endpoint_reporting_enabled());
        assert_eq!(s.endpoint_reporting_delay(), Duration::from_secs(1));
        assert!(!s.wireguard_enabled());
        assert_eq!(s.wireguard_listening_port(), 51820);
        assert_eq!(s.wireguard_listening_port_v6(), 51821);
        assert_eq!(s.wireguard_interface_name(), "wireguard.cali");
        assert_eq!(s.wireguard_interface_name_v6(), "wg-v6.cali");
        assert_eq!(s.wireguard_routing_rule_priority(), 99);
        assert_eq!(s.iptables_backend(), FelixIptablesBackend::Auto);
        assert_eq!(s.nftables_mode(), FelixNftablesMode::Auto);
        assert!(s.xdp_enabled());
        assert!(s.ip_forwarding());
        assert_eq!(s.kube_node_port_ranges(), vec![Port::Range(30000, 32767)]);
        assert_eq!(s.max_ipset_size(), 1_048_576);
        assert_eq!(s.device_route_protocol(), 3);
    }

    #[test]
    fn accessors_return_set_values() {
        let s = decode_one(&doc(
            "default",
            "interfacePrefix: \"tap, cali\"\nfailsafeInboundHostPorts: []\ndefaultEndpointToHostAction: ACCEPT\n\
             iptablesFilterDenyAction: reject\nhealthEnabled: true\nhealthHost: 0.0.0.0\nhealthPort: 9199\n\
             prometheusMetricsPort: 70000\nlogSeverityScreen: warning\nipv6Support: false\n\
             iptablesRefreshInterval: 10s\nvxlanVNI: 4097\nwireguardEnabled: true\nipForwarding: Disabled",
        ))
        .spec;
        assert_eq!(s.interface_prefix(), "tap");
        assert_eq!(s.interface_prefixes(), vec!["tap", "cali"]);
        assert!(s.failsafe_inbound_host_ports().is_empty());
        assert_eq!(s.failsafe_outbound_host_ports().len(), 9);
        assert_eq!(s.default_endpoint_to_host_action(), FelixVerdict::Accept);
        assert_eq!(s.iptables_filter_deny_action(), FelixVerdict::Reject);
        assert!(s.health_enabled());
        assert_eq!(s.health_host(), "0.0.0.0");
        assert_eq!(s.health_port(), 9199);
        // Out of range: Felix's default.
        assert_eq!(s.prometheus_metrics_port(), 9091);
        assert_eq!(s.log_severity_screen(), FelixLogSeverity::Warning);
        assert!(!s.ipv6_support());
        assert_eq!(s.iptables_refresh_interval(), Duration::from_secs(10));
        assert_eq!(s.vxlan_vni(), 4097);
        assert!(s.wireguard_enabled());
        assert!(!s.ip_forwarding());
    }

    #[test]
    fn merge_overlays_later_layers() {
        let global = decode_one(&doc(
            "default",
            "logSeverityScreen: Info\nvxlanPort: 4789\nhealthEnabled: true\n\
             failsafeInboundHostPorts: [{protocol: TCP, port: 22}]\nbpfLogLevel: Debug\n\
             bpfConntrackTimeouts: {tcpSynSent: 20s}",
        ))
        .spec;
        let node = decode_one(&doc(
            "node.n1",
            "logSeverityScreen: Debug\nhealthEnabled: false\nfailsafeInboundHostPorts: []\n\
             bpfConntrackTimeouts: {udpTimeout: 30s}\nwireguardEnabled: true",
        ))
        .spec;
        let merged = FelixConfigurationSpec::merge(&[&global, &node]);
        assert_eq!(merged.log_severity_screen, "Debug");
        assert_eq!(merged.vxlan_port, Some(4789));
        assert_eq!(merged.health_enabled, Some(false));
        assert_eq!(merged.failsafe_inbound_host_ports, Some(vec![]));
        // bpfLogLevel is always serialised; the node's empty value must not hide the global one.
        assert_eq!(merged.bpf_log_level, "Debug");
        // Nested objects are replaced whole.
        assert_eq!(
            merged.bpf_conntrack_timeouts,
            Some(FelixBpfConntrackTimeouts {
                udp_timeout: Some("30s".into()),
                ..Default::default()
            })
        );
        assert_eq!(merged.wireguard_enabled, Some(true));
        // Order matters: the last layer wins.
        let reversed = FelixConfigurationSpec::merge(&[&node, &global]);
        assert_eq!(reversed.log_severity_screen, "Info");
        assert_eq!(reversed.health_enabled, Some(true));
        assert_eq!(reversed.wireguard_enabled, Some(true));
        // Identity cases.
        assert_eq!(
            FelixConfigurationSpec::merge(&[]),
            FelixConfigurationSpec::default()
        );
        assert_eq!(FelixConfigurationSpec::merge(&[&global]), global);
    }

    #[test]
    fn helper_matchers() {
        for ok in [
            "Auto", "10s", "1.5h", "500ms", "100us", ".5s", "1m30s", "ms", "1hms",
        ] {
            assert!(is_conntrack_timeout(ok), "{ok}");
        }
        for bad in ["", "auto", "10", "10 s", "1d", "1.5", "-1s", "1u"] {
            assert!(!is_conntrack_timeout(bad), "{bad}");
        }
        assert!(feature_gates_ok("a=b,c=d"));
        assert!(feature_gates_ok("a=b,c"));
        assert!(feature_gates_ok("a=,"));
        assert!(!feature_gates_ok("a="));
        assert!(!feature_gates_ok("=b"));
        assert!(!feature_gates_ok("a=,=c"));
        assert!(feature_detect_override_ok(""));
        assert!(feature_detect_override_ok("a=,b-c_d=true"));
        assert!(!feature_detect_override_ok(",a=true"));
        assert!(key_value_list_ok("a=1, b=2,"));
        assert!(!key_value_list_ok("a-b=1"));
        let re = crate::validation::check_regex;
        assert!(re("^[)(]+$").is_ok());
        assert!(re("(?i)a|b").is_ok());
        assert!(re("((a)").is_err());
        assert!(re("[^]").is_err());
        assert!(re("a{2,1}").is_err());
        assert!(rate_limit_ok("1/second"));
        assert!(!rate_limit_ok("01/second"));
    }
}
