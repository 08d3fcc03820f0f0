//! Property tests: the CNI parameter, request and network-config parsers return errors,
//! never panic, on arbitrary input.
#![allow(clippy::unwrap_used, missing_docs)]

use calico_cni::netconf::NetConf;
use calico_cni::skel::{self, CniArgs, CniResult};
use proptest::prelude::*;

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("10.0.0.0/33")),
        Just(serde_json::Value::from("true")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let keys = prop_oneof![
            Just("cniVersion".to_owned()),
            Just("name".to_owned()),
            Just("ipam".to_owned()),
            Just("ipv4_pools".to_owned()),
            Just("assign_ipv4".to_owned()),
            Just("mtu".to_owned()),
            Just("datastore_type".to_owned()),
            Just("prevResult".to_owned()),
            Just("ips".to_owned()),
            Just("address".to_owned()),
            Just("cni.dev/valid-attachments".to_owned()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn cni_args_never_panic(s in ".{0,64}") {
        let _ = CniArgs::parse(&s, None);
        let _ = CniArgs::parse(&s, Some(skel::args::KNOWN_KEYS));
    }

    #[test]
    fn env_never_panics(
        cmd in prop_oneof![Just("ADD".to_owned()), Just("DEL".to_owned()), Just("GC".to_owned()), ".{0,6}"],
        id in ".{0,20}", netns in ".{0,20}", ifname in ".{0,20}", args in ".{0,40}", path in ".{0,40}",
    ) {
        let vars = move |k: &str| -> Option<String> {
            Some(match k {
                "CNI_COMMAND" => cmd.clone(),
                "CNI_CONTAINERID" => id.clone(),
                "CNI_NETNS" => netns.clone(),
                "CNI_IFNAME" => ifname.clone(),
                "CNI_ARGS" => args.clone(),
                "CNI_PATH" => path.clone(),
                _ => return None,
            })
        };
        let _ = skel::Env::from_vars(&vars, Some(skel::args::KNOWN_KEYS));
        let _ = skel::parse_request(&vars, b"{\"cniVersion\":\"1.0.0\"}".to_vec(), None);
    }

    #[test]
    fn request_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        let vars = |k: &str| -> Option<String> {
            Some(match k {
                "CNI_COMMAND" => "ADD", "CNI_CONTAINERID" => "c1",
                "CNI_NETNS" => "/x", "CNI_IFNAME" => "eth0",
                _ => return None,
            }.to_owned())
        };
        let _ = skel::parse_request(vars, bytes, None);
    }

    #[test]
    fn netconf_and_results_never_panic(v in json_value()) {
        if let Ok(c) = NetConf::from_value(&v) {
            let _ = c.datastore();
            let _ = c.resolved_mtu();
        }
        if let Ok(r) = CniResult::from_json("x", &v) {
            for version in skel::version::SUPPORTED_VERSIONS {
                let _ = r.to_json(version);
            }
        }
    }
}
