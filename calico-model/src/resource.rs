//! The `Resource` enum over every `projectcalico.org/v3` kind, the `Kind` table, and
//! the generic `…List` wrapper.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::meta::{ListMeta, ObjectMeta};
use crate::resources::*;
use crate::validation::{Path, ValidationError, Validator};

/// The API group and version of every resource here.
pub const API_VERSION: &str = "projectcalico.org/v3";
/// The CRD group/version Calico's Kubernetes datastore stores the same kinds under (used for
/// CRD generation; documents must use [`API_VERSION`], as calicoctl requires).
pub const CRD_API_VERSION: &str = "crd.projectcalico.org/v1";

/// Static facts about one resource kind.
pub trait KindInfo {
    /// The kind's entry in the [`Kind`] table.
    const KIND: Kind;
}

/// Behaviour every resource kind implements: defaulting and validation of the whole object.
pub trait ResourceKind: KindInfo {
    /// Applies Calico's defaults (what its client and admission do before validation).
    fn apply_defaults(&mut self);
    /// Reports every problem into `v` (metadata and spec).
    fn validate_into(&self, v: &mut Validator);
}

fn check_api_version<E: de::Error>(api_version: Option<&str>) -> Result<(), E> {
    match api_version {
        None | Some(API_VERSION) => Ok(()),
        Some(other) => Err(E::custom(format!(
            "unsupported apiVersion {other:?}: expected \"{API_VERSION}\""
        ))),
    }
}

fn check_kind<E: de::Error>(kind: Option<&str>, expected: Kind) -> Result<(), E> {
    match kind {
        None => Ok(()),
        Some(k) if k == expected.kind() || k == expected.crd_kind() => Ok(()),
        Some(other) => Err(E::custom(format!(
            "kind {other:?} does not match the expected kind {:?}",
            expected.kind()
        ))),
    }
}

macro_rules! define_kinds {
    ($(
        $(#[$doc:meta])*
        $name:ident {
            kind: $kind:literal,
            crd_kind: $crd_kind:literal,
            plural: $plural:literal,
            crd_plural: $crd_plural:literal,
            namespaced: $ns:literal,
            aliases: [$($alias:literal),* $(,)?],
            short_names: [$($short:literal),* $(,)?],
            spec: $spec:ty
            $(, status: $status:ty)?
            $(,)?
        }
    ),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Debug, Default, PartialEq)]
            pub struct $name {
                /// Standard object metadata.
                pub metadata: ObjectMeta,
                /// Desired state.
                pub spec: $spec,
                $(
                    /// Observed state, written by Calico.
                    pub status: Option<$status>,
                )?
            }

            impl KindInfo for $name {
                const KIND: Kind = Kind::$name;
            }

            impl $name {
                /// A resource with the given metadata and spec.
                #[allow(clippy::needless_update)]
                pub fn new(metadata: ObjectMeta, spec: $spec) -> Self {
                    Self { metadata, spec, ..Default::default() }
                }
            }

            impl From<$name> for Resource {
                fn from(r: $name) -> Resource {
                    Resource::$name(Box::new(r))
                }
            }

            impl Serialize for $name {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    let mut m = s.serialize_map(None)?;
                    m.serialize_entry("apiVersion", API_VERSION)?;
                    m.serialize_entry("kind", $kind)?;
                    m.serialize_entry("metadata", &self.metadata)?;
                    m.serialize_entry("spec", &self.spec)?;
                    $(
                        let _: Option<&$status> = None;
                        if let Some(st) = &self.status {
                            m.serialize_entry("status", st)?;
                        }
                    )?
                    m.end()
                }
            }

            impl<'de> Deserialize<'de> for $name {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    #[derive(Deserialize)]
                    #[serde(deny_unknown_fields)]
                    struct Shadow {
                        #[serde(rename = "apiVersion", default)]
                        api_version: Option<String>,
                        #[serde(default)]
                        kind: Option<String>,
                        #[serde(default)]
                        metadata: ObjectMeta,
                        #[serde(default)]
                        spec: Option<$spec>,
                        $(
                            #[serde(default)]
                            status: Option<$status>,
                        )?
                    }
                    let sh = Shadow::deserialize(d)?;
                    check_api_version::<D::Error>(sh.api_version.as_deref())?;
                    check_kind::<D::Error>(sh.kind.as_deref(), Kind::$name)?;
                    Ok($name {
                        metadata: sh.metadata,
                        spec: sh.spec.unwrap_or_default(),
                        $( status: { let s: Option<$status> = sh.status; s }, )?
                    })
                }
            }
        )*

        /// Every resource kind, with the names Calico uses for it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $(
                $(#[$doc])*
                $name,
            )*
        }

        impl Kind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [Kind] = &[$(Kind::$name),*];

            /// The `kind:` string, e.g. `GlobalNetworkPolicy`.
            pub const fn kind(self) -> &'static str {
                match self { $(Kind::$name => $kind,)* }
            }

            /// The kind name in the `crd.projectcalico.org/v1` group (differs only for
            /// `IPAMConfiguration`, stored as `IPAMConfig`).
            pub const fn crd_kind(self) -> &'static str {
                match self { $(Kind::$name => $crd_kind,)* }
            }

            /// The list kind, e.g. `GlobalNetworkPolicyList`.
            pub fn list_kind(self) -> String {
                format!("{}List", self.kind())
            }

            /// Lower-case plural used in etcd keys and REST paths, e.g. `globalnetworkpolicies`.
            pub const fn plural(self) -> &'static str {
                match self { $(Kind::$name => $plural,)* }
            }

            /// Plural of the backing `crd.projectcalico.org/v1` CRD (differs for IPAM kinds).
            pub const fn crd_plural(self) -> &'static str {
                match self { $(Kind::$name => $crd_plural,)* }
            }

            /// True for namespaced kinds.
            pub const fn namespaced(self) -> bool {
                match self { $(Kind::$name => $ns,)* }
            }

            /// The names calicoctl accepts on its command line for this kind (singular,
            /// plural and short forms), lower case.
            pub const fn aliases(self) -> &'static [&'static str] {
                match self { $(Kind::$name => &[$($alias),*],)* }
            }

            /// Extra short names (the CRDs' `shortNames` for kubectl, and the IPAM kinds'
            /// names, which calicoctl does not register); accepted by [`Kind::from_alias`].
            pub const fn short_names(self) -> &'static [&'static str] {
                match self { $(Kind::$name => &[$($short),*],)* }
            }

            /// The API version (`projectcalico.org/v3`).
            pub const fn api_version(self) -> &'static str {
                API_VERSION
            }

            /// Looks a kind up by its exact `kind:` string (or its CRD kind name).
            pub fn from_kind(kind: &str) -> Option<Kind> {
                Kind::ALL.iter().copied().find(|k| k.kind() == kind || k.crd_kind() == kind)
            }

            /// Looks a kind up by a `…List` kind string.
            pub fn from_list_kind(kind: &str) -> Option<Kind> {
                kind.strip_suffix("List").and_then(Kind::from_kind)
            }

            /// Resolves a name typed on calicoctl's command line: lower-cased, then an exact
            /// match against the aliases calicoctl registers (which include the kind name and
            /// plural) or the extra short names.
            pub fn from_alias(name: &str) -> Option<Kind> {
                let lower = name.to_ascii_lowercase();
                Kind::ALL.iter().copied().find(|k| {
                    k.aliases().contains(&lower.as_str())
                        || k.short_names().contains(&lower.as_str())
                        || (k.aliases().is_empty() && k.kind().eq_ignore_ascii_case(&lower))
                })
            }
        }

        impl std::fmt::Display for Kind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.kind())
            }
        }

        /// Any `projectcalico.org/v3` resource.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Resource {
            $(
                $(#[$doc])*
                $name(Box<$name>),
            )*
        }

        impl Resource {
            /// The resource's kind.
            pub fn kind(&self) -> Kind {
                match self { $(Resource::$name(_) => Kind::$name,)* }
            }

            /// The resource's metadata.
            pub fn metadata(&self) -> &ObjectMeta {
                match self { $(Resource::$name(r) => &r.metadata,)* }
            }

            /// The resource's metadata, mutably.
            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self { $(Resource::$name(r) => &mut r.metadata,)* }
            }

            /// Applies Calico's defaults as an explicit step (decoding never defaults).
            pub fn apply_defaults(&mut self) {
                match self { $(Resource::$name(r) => r.apply_defaults(),)* }
            }

            /// Validates the whole resource, reporting every problem.
            pub fn validate(&self) -> Result<(), ValidationError> {
                let mut v = Validator::new();
                match self { $(Resource::$name(r) => r.validate_into(&mut v),)* }
                v.finish()
            }

            /// Decodes one resource of a known kind from a JSON value, reporting the path
            /// of the first offending field.
            pub fn from_value(kind: Kind, value: &serde_json::Value)
                -> Result<Resource, serde_path_to_error::Error<serde_json::Error>>
            {
                match kind {
                    $(Kind::$name => serde_path_to_error::deserialize::<_, $name>(value)
                        .map(|r| Resource::$name(Box::new(r))),)*
                }
            }

            /// Like [`Resource::from_value`], but reads numbers and booleans into string
            /// fields as text, as Calico's YAML reader does.
            pub fn from_yaml_value(kind: Kind, value: &serde_json::Value)
                -> Result<Resource, serde_path_to_error::Error<serde_json::Error>>
            {
                let d = crate::codec::lenient::Lenient(value);
                match kind {
                    $(Kind::$name => serde_path_to_error::deserialize::<_, $name>(d)
                        .map(|r| Resource::$name(Box::new(r))),)*
                }
            }

            /// Encodes to a JSON value (with `apiVersion` and `kind`).
            pub fn to_value(&self) -> serde_json::Value {
                // Serialising these types cannot fail: every map key is a string.
                serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
            }
        }

        impl Serialize for Resource {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $(Resource::$name(r) => r.serialize(s),)* }
            }
        }

        $(
            impl TryFrom<Resource> for $name {
                type Error = Resource;
                fn try_from(r: Resource) -> Result<Self, Resource> {
                    match r {
                        Resource::$name(b) => Ok(*b),
                        other => Err(other),
                    }
                }
            }
        )*
    };
}

define_kinds! {
    /// A namespaced network policy (`NetworkPolicy`).
    NetworkPolicy {
        kind: "NetworkPolicy", crd_kind: "NetworkPolicy",
        plural: "networkpolicies", crd_plural: "networkpolicies", namespaced: true,
        aliases: ["networkpolicy", "networkpolicies", "policy", "np", "policies", "pol", "pols"],
        short_names: ["cnp", "caliconetworkpolicy", "caliconetworkpolicies"],
        spec: NetworkPolicySpec,
        status: PolicyStatus,
    },
    /// A cluster-wide network policy (`GlobalNetworkPolicy`).
    GlobalNetworkPolicy {
        kind: "GlobalNetworkPolicy", crd_kind: "GlobalNetworkPolicy",
        plural: "globalnetworkpolicies", crd_plural: "globalnetworkpolicies", namespaced: false,
        aliases: ["globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps"],
        short_names: ["cgnp", "calicoglobalnetworkpolicy", "calicoglobalnetworkpolicies"],
        spec: GlobalNetworkPolicySpec,
        status: PolicyStatus,
    },
    /// A staged (not enforced) namespaced policy.
    StagedNetworkPolicy {
        kind: "StagedNetworkPolicy", crd_kind: "StagedNetworkPolicy",
        plural: "stagednetworkpolicies", crd_plural: "stagednetworkpolicies", namespaced: true,
        aliases: ["stagednetworkpolicy", "stagednetworkpolicies", "stagedpolicy", "snp", "stagedpolicies", "spol", "spols"],
        short_names: ["scnp"],
        spec: StagedNetworkPolicySpec,
        status: PolicyStatus,
    },
    /// A staged (not enforced) global policy.
    StagedGlobalNetworkPolicy {
        kind: "StagedGlobalNetworkPolicy", crd_kind: "StagedGlobalNetworkPolicy",
        plural: "stagedglobalnetworkpolicies", crd_plural: "stagedglobalnetworkpolicies", namespaced: false,
        aliases: ["stagedglobalnetworkpolicy", "stagedglobalnetworkpolicies", "sgnp", "sgnps"],
        short_names: [],
        spec: StagedGlobalNetworkPolicySpec,
        status: PolicyStatus,
    },
    /// A staged Kubernetes NetworkPolicy.
    StagedKubernetesNetworkPolicy {
        kind: "StagedKubernetesNetworkPolicy", crd_kind: "StagedKubernetesNetworkPolicy",
        plural: "stagedkubernetesnetworkpolicies", crd_plural: "stagedkubernetesnetworkpolicies", namespaced: true,
        aliases: ["stagedkubernetesnetworkpolicy", "stagedkubernetesnetworkpolicies", "stagedkubernetespolicy", "sknp", "stagedkubernetespolicies", "skpol", "skpols"],
        short_names: [],
        spec: StagedKubernetesNetworkPolicySpec,
        status: PolicyStatus,
    },
    /// A policy tier.
    Tier {
        kind: "Tier", crd_kind: "Tier",
        plural: "tiers", crd_plural: "tiers", namespaced: false,
        aliases: ["tier", "tiers"],
        short_names: [],
        spec: TierSpec,
        status: TierStatus,
    },
    /// A profile: rules and labels inherited by the endpoints that list it.
    Profile {
        kind: "Profile", crd_kind: "Profile",
        plural: "profiles", crd_plural: "profiles", namespaced: false,
        aliases: ["profile", "profiles", "pro", "pros"],
        short_names: [],
        spec: ProfileSpec,
    },
    /// A host interface (or all of a host's interfaces) under policy.
    HostEndpoint {
        kind: "HostEndpoint", crd_kind: "HostEndpoint",
        plural: "hostendpoints", crd_plural: "hostendpoints", namespaced: false,
        aliases: ["hostendpoint", "hostendpoints", "hep", "heps"],
        short_names: [],
        spec: HostEndpointSpec,
    },
    /// A workload's (pod's) network interface.
    WorkloadEndpoint {
        kind: "WorkloadEndpoint", crd_kind: "WorkloadEndpoint",
        plural: "workloadendpoints", crd_plural: "workloadendpoints", namespaced: true,
        aliases: ["workloadendpoint", "workloadendpoints", "wep", "weps"],
        short_names: [],
        spec: WorkloadEndpointSpec,
    },
    /// A namespaced set of networks that rules can select by label.
    NetworkSet {
        kind: "NetworkSet", crd_kind: "NetworkSet",
        plural: "networksets", crd_plural: "networksets", namespaced: true,
        aliases: ["networkset", "networksets", "netsets"],
        short_names: ["netset"],
        spec: NetworkSetSpec,
    },
    /// A cluster-wide set of networks that rules can select by label.
    GlobalNetworkSet {
        kind: "GlobalNetworkSet", crd_kind: "GlobalNetworkSet",
        plural: "globalnetworksets", crd_plural: "globalnetworksets", namespaced: false,
        aliases: ["globalnetworkset", "globalnetworksets", "gnetsets"],
        short_names: ["gns"],
        spec: GlobalNetworkSetSpec,
    },
    /// A pool of addresses Calico IPAM allocates from.
    IPPool {
        kind: "IPPool", crd_kind: "IPPool",
        plural: "ippools", crd_plural: "ippools", namespaced: false,
        aliases: ["ippool", "ippools", "ipp", "ipps", "pool", "pools"],
        short_names: [],
        spec: IPPoolSpec,
        status: IPPoolStatus,
    },
    /// Addresses Calico IPAM must not hand out.
    IPReservation {
        kind: "IPReservation", crd_kind: "IPReservation",
        plural: "ipreservations", crd_plural: "ipreservations", namespaced: false,
        aliases: ["ipreservation", "ipreservations", "reservation", "reservations"],
        short_names: [],
        spec: IPReservationSpec,
    },
    /// Global IPAM settings (single instance named `default`).
    IPAMConfiguration {
        kind: "IPAMConfiguration", crd_kind: "IPAMConfig",
        plural: "ipamconfigurations", crd_plural: "ipamconfigs", namespaced: false,
        aliases: ["ipamconfiguration", "ipamconfigurations", "ipamconfig", "ipamconfigs"],
        short_names: [],
        spec: IPAMConfigurationSpec,
    },
    /// An IPAM block (internal to Calico IPAM).
    IPAMBlock {
        kind: "IPAMBlock", crd_kind: "IPAMBlock",
        plural: "ipamblocks", crd_plural: "ipamblocks", namespaced: false,
        aliases: [],
        short_names: ["ipamblock", "ipamblocks"],
        spec: IPAMBlockSpec,
    },
    /// A block's affinity to a host (internal to Calico IPAM).
    BlockAffinity {
        kind: "BlockAffinity", crd_kind: "BlockAffinity",
        plural: "blockaffinities", crd_plural: "blockaffinities", namespaced: false,
        aliases: [],
        short_names: ["blockaffinity", "blockaffinities"],
        spec: BlockAffinitySpec,
    },
    /// An allocation handle (internal to Calico IPAM).
    IPAMHandle {
        kind: "IPAMHandle", crd_kind: "IPAMHandle",
        plural: "ipamhandles", crd_plural: "ipamhandles", namespaced: false,
        aliases: [],
        short_names: ["ipamhandle", "ipamhandles"],
        spec: IPAMHandleSpec,
    },
    /// BGP settings, global (`default`) or per node (`node.<name>`).
    BGPConfiguration {
        kind: "BGPConfiguration", crd_kind: "BGPConfiguration",
        plural: "bgpconfigurations", crd_plural: "bgpconfigurations", namespaced: false,
        aliases: ["bgpconfiguration", "bgpconfigurations", "bgpconfig", "bgpconfigs"],
        short_names: [],
        spec: BGPConfigurationSpec,
    },
    /// A BGP peering.
    BGPPeer {
        kind: "BGPPeer", crd_kind: "BGPPeer",
        plural: "bgppeers", crd_plural: "bgppeers", namespaced: false,
        aliases: ["bgppeer", "bgppeers", "bgpp", "bgpps", "bp", "bps"],
        short_names: [],
        spec: BGPPeerSpec,
    },
    /// BGP import/export filter rules.
    BGPFilter {
        kind: "BGPFilter", crd_kind: "BGPFilter",
        plural: "bgpfilters", crd_plural: "bgpfilters", namespaced: false,
        aliases: ["bgpfilter", "bgpfilters", "bgpf", "bgpfs", "bf", "bfs"],
        short_names: [],
        spec: BGPFilterSpec,
    },
    /// A Calico node (host).
    Node {
        kind: "Node", crd_kind: "Node",
        plural: "nodes", crd_plural: "nodes", namespaced: false,
        aliases: ["node", "nodes", "no", "nos"],
        short_names: [],
        spec: NodeSpec,
        status: NodeStatus,
    },
    /// Felix (node agent) settings.
    FelixConfiguration {
        kind: "FelixConfiguration", crd_kind: "FelixConfiguration",
        plural: "felixconfigurations", crd_plural: "felixconfigurations", namespaced: false,
        aliases: ["felixconfiguration", "felixconfigurations", "felixconfig", "felixconfigs"],
        short_names: [],
        spec: FelixConfigurationSpec,
    },
    /// kube-controllers settings (single instance named `default`).
    KubeControllersConfiguration {
        kind: "KubeControllersConfiguration", crd_kind: "KubeControllersConfiguration",
        plural: "kubecontrollersconfigurations", crd_plural: "kubecontrollersconfigurations", namespaced: false,
        aliases: ["kubecontrollersconfiguration", "kubecontrollersconfigurations", "kubecontrollersconfig", "kubecontrollersconfigs"],
        short_names: ["kcc", "kccs"],
        spec: KubeControllersConfigurationSpec,
        status: KubeControllersConfigurationStatus,
    },
    /// Cluster-wide information (single instance named `default`).
    ClusterInformation {
        kind: "ClusterInformation", crd_kind: "ClusterInformation",
        plural: "clusterinformations", crd_plural: "clusterinformations", namespaced: false,
        aliases: ["clusterinformation", "clusterinformations", "clusterinfo", "clusterinfos"],
        short_names: [],
        spec: ClusterInformationSpec,
    },
    /// A request for, and the report of, a node's agent, BGP and route status.
    CalicoNodeStatus {
        kind: "CalicoNodeStatus", crd_kind: "CalicoNodeStatus",
        plural: "caliconodestatuses", crd_plural: "caliconodestatuses", namespaced: false,
        aliases: ["caliconodestatus", "caliconodestatuses", "nodestatus", "nodestatuses"],
        short_names: ["cns"],
        spec: CalicoNodeStatusSpec,
        status: CalicoNodeStatusStatus,
    },
}

impl Resource {
    /// The resource's name.
    pub fn name(&self) -> &str {
        &self.metadata().name
    }

    /// The resource's namespace (empty for cluster-scoped kinds).
    pub fn namespace(&self) -> &str {
        &self.metadata().namespace
    }

    /// `<kind>/<name>` or `<kind>/<namespace>/<name>`, for messages.
    pub fn display_id(&self) -> String {
        let m = self.metadata();
        if m.namespace.is_empty() {
            format!("{}/{}", self.kind(), m.name)
        } else {
            format!("{}/{}/{}", self.kind(), m.namespace, m.name)
        }
    }
}

/// Validation of the metadata every kind shares: the name syntax is kind-specific and checked
/// by the kind; labels and annotations are checked here.
pub(crate) fn validate_common_meta(meta: &ObjectMeta, v: &mut Validator, namespaced: bool) {
    let p = Path::new("metadata");
    if meta.name.is_empty() && meta.generate_name.is_empty() {
        v.report(&p.field("name"), "name is required");
    }
    if namespaced {
        if !meta.namespace.is_empty() && !crate::validation::is_dns1123_label(&meta.namespace) {
            v.report(
                &p.field("namespace"),
                format!(
                    "{:?} is not a valid namespace name (DNS-1123 label)",
                    meta.namespace
                ),
            );
        }
    } else if !meta.namespace.is_empty() {
        v.report(
            &p.field("namespace"),
            "namespace must be empty for a cluster-scoped kind",
        );
    }
    v.labels(&p.field("labels"), &meta.labels);
    v.annotations(&p.field("annotations"), &meta.annotations);
}

/// A list document (`<Kind>List`) of one kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceList<T> {
    /// List metadata (the revision the list was read at).
    pub metadata: ListMeta,
    /// The items.
    pub items: Vec<T>,
}

impl<T: KindInfo + Serialize> Serialize for ResourceList<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("apiVersion", API_VERSION)?;
        m.serialize_entry("kind", &T::KIND.list_kind())?;
        m.serialize_entry("metadata", &self.metadata)?;
        m.serialize_entry("items", &self.items)?;
        m.end()
    }
}

impl<'de, T: KindInfo + Deserialize<'de>> Deserialize<'de> for ResourceList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Shadow<T> {
            #[serde(rename = "apiVersion", default)]
            api_version: Option<String>,
            #[serde(default)]
            kind: Option<String>,
            #[serde(default)]
            metadata: ListMeta,
            #[serde(default = "Vec::new")]
            items: Vec<T>,
        }
        let sh = Shadow::<T>::deserialize(d)?;
        check_api_version::<D::Error>(sh.api_version.as_deref())?;
        if let Some(k) = sh.kind.as_deref()
            && k != T::KIND.list_kind()
        {
            return Err(de::Error::custom(format!(
                "kind {k:?} does not match the expected kind {:?}",
                T::KIND.list_kind()
            )));
        }
        Ok(ResourceList {
            metadata: sh.metadata,
            items: sh.items,
        })
    }
}

macro_rules! list_aliases {
    ($($list:ident => $t:ident),* $(,)?) => {
        $(
            #[doc = concat!("A `", stringify!($list), "` document.")]
            pub type $list = ResourceList<$t>;
        )*
    };
}

list_aliases! {
    NetworkPolicyList => NetworkPolicy,
    GlobalNetworkPolicyList => GlobalNetworkPolicy,
    StagedNetworkPolicyList => StagedNetworkPolicy,
    StagedGlobalNetworkPolicyList => StagedGlobalNetworkPolicy,
    StagedKubernetesNetworkPolicyList => StagedKubernetesNetworkPolicy,
    TierList => Tier,
    ProfileList => Profile,
    HostEndpointList => HostEndpoint,
    WorkloadEndpointList => WorkloadEndpoint,
    NetworkSetList => NetworkSet,
    GlobalNetworkSetList => GlobalNetworkSet,
    IPPoolList => IPPool,
    IPReservationList => IPReservation,
    IPAMConfigurationList => IPAMConfiguration,
    IPAMBlockList => IPAMBlock,
    BlockAffinityList => BlockAffinity,
    IPAMHandleList => IPAMHandle,
    BGPConfigurationList => BGPConfiguration,
    BGPPeerList => BGPPeer,
    BGPFilterList => BGPFilter,
    NodeList => Node,
    FelixConfigurationList => FelixConfiguration,
    KubeControllersConfigurationList => KubeControllersConfiguration,
    ClusterInformationList => ClusterInformation,
    CalicoNodeStatusList => CalicoNodeStatus,
}
