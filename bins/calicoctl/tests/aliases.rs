//! Every resource-type name calicoctl accepts on its command line resolves to its kind.
//!
//! The table is calicoctl's own (`resourcemgr/*.go`, each `registerResource(…, names, …)`),
//! written out here independently of calico-model's alias table so that a missing alias
//! fails; then the extra short names this calicoctl also accepts.

mod common;

/// calicoctl's registered names, per kind.
const CALICOCTL: &[(&str, &[&str])] = &[
    (
        "NetworkPolicy",
        &[
            "networkpolicy",
            "networkpolicies",
            "policy",
            "np",
            "policies",
            "pol",
            "pols",
        ],
    ),
    (
        "GlobalNetworkPolicy",
        &[
            "globalnetworkpolicy",
            "globalnetworkpolicies",
            "gnp",
            "gnps",
        ],
    ),
    (
        "StagedNetworkPolicy",
        &[
            "stagednetworkpolicy",
            "stagednetworkpolicies",
            "stagedpolicy",
            "snp",
            "stagedpolicies",
            "spol",
            "spols",
        ],
    ),
    (
        "StagedGlobalNetworkPolicy",
        &[
            "stagedglobalnetworkpolicy",
            "stagedglobalnetworkpolicies",
            "sgnp",
            "sgnps",
        ],
    ),
    (
        "StagedKubernetesNetworkPolicy",
        &[
            "stagedkubernetesnetworkpolicy",
            "stagedkubernetesnetworkpolicies",
            "stagedkubernetespolicy",
            "sknp",
            "stagedkubernetespolicies",
            "skpol",
            "skpols",
        ],
    ),
    ("Tier", &["tier", "tiers"]),
    ("Profile", &["profile", "profiles", "pro", "pros"]),
    (
        "HostEndpoint",
        &["hostendpoint", "hostendpoints", "hep", "heps"],
    ),
    (
        "WorkloadEndpoint",
        &["workloadendpoint", "workloadendpoints", "wep", "weps"],
    ),
    ("NetworkSet", &["networkset", "networksets", "netsets"]),
    (
        "GlobalNetworkSet",
        &["globalnetworkset", "globalnetworksets", "gnetsets"],
    ),
    (
        "IPPool",
        &["ippool", "ippools", "ipp", "ipps", "pool", "pools"],
    ),
    (
        "IPReservation",
        &[
            "ipreservation",
            "ipreservations",
            "reservation",
            "reservations",
        ],
    ),
    (
        "IPAMConfiguration",
        &[
            "ipamconfiguration",
            "ipamconfigurations",
            "ipamconfig",
            "ipamconfigs",
        ],
    ),
    (
        "BGPConfiguration",
        &[
            "bgpconfiguration",
            "bgpconfigurations",
            "bgpconfig",
            "bgpconfigs",
        ],
    ),
    (
        "BGPPeer",
        &["bgppeer", "bgppeers", "bgpp", "bgpps", "bp", "bps"],
    ),
    (
        "BGPFilter",
        &["bgpfilter", "bgpfilters", "bgpf", "bgpfs", "bf", "bfs"],
    ),
    ("Node", &["node", "nodes", "no", "nos"]),
    (
        "FelixConfiguration",
        &[
            "felixconfiguration",
            "felixconfigurations",
            "felixconfig",
            "felixconfigs",
        ],
    ),
    (
        "KubeControllersConfiguration",
        &[
            "kubecontrollersconfiguration",
            "kubecontrollersconfigurations",
            "kubecontrollersconfig",
            "kubecontrollersconfigs",
        ],
    ),
    (
        "ClusterInformation",
        &[
            "clusterinformation",
            "clusterinformations",
            "clusterinfo",
            "clusterinfos",
        ],
    ),
    (
        "CalicoNodeStatus",
        &[
            "caliconodestatus",
            "caliconodestatuses",
            "nodestatus",
            "nodestatuses",
        ],
    ),
];

/// Names this calicoctl accepts beyond calicoctl's (kubectl's CRD short names, the IPAM
/// kinds), and mixed-case spellings.
const OURS: &[(&str, &[&str])] = &[
    ("NetworkPolicy", &["cnp", "NetworkPolicy"]),
    (
        "GlobalNetworkPolicy",
        &["cgnp", "GNP", "GlobalNetworkPolicies"],
    ),
    ("StagedNetworkPolicy", &["scnp"]),
    ("NetworkSet", &["netset"]),
    ("GlobalNetworkSet", &["gns"]),
    ("KubeControllersConfiguration", &["kcc", "kccs"]),
    ("CalicoNodeStatus", &["cns"]),
    ("IPPool", &["IPPool", "IpPools"]),
    ("IPAMBlock", &["ipamblock", "ipamblocks"]),
    ("BlockAffinity", &["blockaffinity", "blockaffinities"]),
    ("IPAMHandle", &["ipamhandle", "ipamhandles"]),
];

#[test]
fn every_alias_resolves_to_its_kind_on_the_command_line() {
    let dir = common::scratch_dir();
    let db = dir.path().join("datastore.db").display().to_string();
    let env = [
        ("DATASTORE_TYPE", "embedded"),
        ("CALICO_DATASTORE_PATH", db.as_str()),
    ];
    let mut wrong = Vec::new();
    for (kind, aliases) in CALICOCTL.iter().chain(OURS) {
        for alias in *aliases {
            let out = common::calicoctl(
                &env,
                &[
                    "get",
                    alias,
                    "-o",
                    "go-template={{range .}}{{.kind}}{{end}}",
                ],
                None,
            );
            let want = format!("{kind}List");
            if out.code != Some(0) || out.stdout != want {
                wrong.push(format!("{alias}: {out:?} (want {want})"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn names_calicoctl_does_not_register_are_refused() {
    let dir = common::scratch_dir();
    let db = dir.path().join("datastore.db").display().to_string();
    let env = [
        ("DATASTORE_TYPE", "embedded"),
        ("CALICO_DATASTORE_PATH", db.as_str()),
    ];
    // `ns` is kubectl's namespace, not a Calico kind; `ippol` is a typo.
    for name in ["ns", "ippol", "networkpolicys"] {
        let out = common::calicoctl(&env, &["get", name], None).fails();
        assert_eq!(
            out.stderr,
            format!("Failed to get resources: resource type '{name}' is not supported\n")
        );
    }
}
