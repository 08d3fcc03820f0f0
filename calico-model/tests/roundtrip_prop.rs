//! Property tests: random resources (with awkward strings, numbers-as-strings, ports,
//! protocols and rules) survive encode → decode through YAML and JSON unchanged.

use std::collections::BTreeMap;

use calico_model::scalar::{Port, Protocol};
use calico_model::*;
use proptest::prelude::*;

/// Strings that stress YAML quoting: numbers, booleans, nulls, punctuation, whitespace.
fn tricky() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}",
        Just(String::new()),
        prop::sample::select(vec![
            "80",
            "1.5",
            "0x1F",
            "1e3",
            "007",
            "-1",
            "+1",
            ".5",
            "true",
            "false",
            "yes",
            "no",
            "on",
            "off",
            "null",
            "~",
            "Null",
            "y",
            "n",
            ".inf",
            "-.nan",
            "a: b",
            "#x",
            "- x",
            "x #y",
            "'q'",
            "\"dq\"",
            "{a}",
            "[1]",
            "*alias",
            "&anchor",
            "!tag",
            "%pct",
            "@at",
            "`bt`",
            " lead",
            "trail ",
            "a\nb",
            "tab\there",
            "ünïcödé",
            "🚀",
            ":",
            "?",
            "-",
            "--- x",
            "...",
            "a,b",
            "|",
            ">",
            "=",
            "\\",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,12}",
    ]
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-z]([a-z0-9./-]{0,8}[a-z0-9])?", tricky(), 0..4)
}

fn port() -> impl Strategy<Value = Port> {
    prop_oneof![
        any::<u16>().prop_map(Port::Number),
        (any::<u16>(), any::<u16>())
            .prop_filter_map("ordered", |(a, b)| (a < b).then_some(Port::Range(a, b))),
        "[a-z][a-z0-9-]{0,10}".prop_map(Port::Named),
    ]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        any::<u8>().prop_map(Protocol::Number),
        prop::sample::select(vec![
            "TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite", "tcp", "weird"
        ])
        .prop_map(|s| Protocol::Name(s.to_owned())),
    ]
}

fn entity() -> impl Strategy<Value = EntityRule> {
    (
        prop::collection::vec(tricky(), 0..3),
        tricky(),
        tricky(),
        prop::collection::vec(port(), 0..3),
        prop::collection::vec(tricky(), 0..2),
        prop::collection::vec(port(), 0..2),
        prop::option::of((prop::collection::vec(tricky(), 0..2), tricky())),
    )
        .prop_map(
            |(nets, selector, ns, ports, not_nets, not_ports, sa)| EntityRule {
                nets,
                selector,
                namespace_selector: ns,
                ports,
                not_nets,
                not_ports,
                service_accounts: sa
                    .map(|(names, selector)| ServiceAccountMatch { names, selector }),
                ..EntityRule::default()
            },
        )
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        prop::sample::select(vec![Action::Allow, Action::Deny, Action::Log, Action::Pass]),
        prop::option::of(prop::sample::select(vec![4i64, 6])),
        prop::option::of(protocol()),
        prop::option::of((prop::option::of(0i64..255), prop::option::of(0i64..256))),
        entity(),
        entity(),
        prop::option::of(labels()),
    )
        .prop_map(
            |(action, ip_version, protocol, icmp, source, destination, ann)| Rule {
                action,
                ip_version,
                protocol,
                icmp: icmp.map(|(t, c)| IcmpFields { type_: t, code: c }),
                source,
                destination,
                metadata: ann.map(|annotations| RuleMetadata { annotations }),
                ..Rule::default()
            },
        )
}

fn meta(namespaced: bool) -> impl Strategy<Value = ObjectMeta> {
    (
        "[a-z][a-z0-9-]{0,12}",
        "[a-z][a-z0-9-]{0,8}",
        labels(),
        labels(),
        "[0-9]{0,6}",
    )
        .prop_map(move |(name, ns, labels, annotations, rv)| ObjectMeta {
            name,
            namespace: if namespaced { ns } else { String::new() },
            labels,
            annotations,
            resource_version: rv,
            ..ObjectMeta::default()
        })
}

fn order() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(prop_oneof![
        (-1000i32..100_000).prop_map(f64::from),
        Just(0.5),
        Just(1e6),
        Just(-2.25)
    ])
}

fn resource() -> impl Strategy<Value = Resource> {
    prop_oneof![
        (
            meta(true),
            tricky(),
            order(),
            prop::collection::vec(rule(), 0..3),
            prop::collection::vec(rule(), 0..3),
            tricky()
        )
            .prop_map(|(metadata, selector, order, ingress, egress, tier)| {
                Resource::from(NetworkPolicy::new(
                    metadata,
                    NetworkPolicySpec {
                        tier,
                        order,
                        ingress,
                        egress,
                        selector,
                        ..Default::default()
                    },
                ))
            }),
        (
            meta(false),
            tricky(),
            order(),
            prop::collection::vec(rule(), 0..3),
            any::<(bool, bool, bool)>(),
            tricky()
        )
            .prop_map(|(metadata, selector, order, egress, (dnt, pre, fwd), ns)| {
                Resource::from(GlobalNetworkPolicy::new(
                    metadata,
                    GlobalNetworkPolicySpec {
                        order,
                        egress,
                        selector,
                        do_not_track: dnt,
                        pre_dnat: pre,
                        apply_on_forward: fwd,
                        namespace_selector: ns,
                        types: vec![PolicyType::Egress],
                        ..Default::default()
                    },
                ))
            }),
        (meta(false), prop::collection::vec(rule(), 0..2), labels()).prop_map(
            |(metadata, ingress, labels_to_apply)| {
                Resource::from(Profile::new(
                    metadata,
                    ProfileSpec {
                        ingress,
                        labels_to_apply,
                        ..Default::default()
                    },
                ))
            }
        ),
        (meta(false), order()).prop_map(|(metadata, order)| Resource::from(Tier::new(
            metadata,
            TierSpec {
                order,
                ..Default::default()
            }
        ))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn yaml_round_trip(rs in prop::collection::vec(resource(), 1..4)) {
        let yaml = encode_yaml(&rs);
        let back = decode_yaml(&yaml).map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;
        prop_assert_eq!(back, rs, "{}", yaml);
    }

    #[test]
    fn json_round_trip(rs in prop::collection::vec(resource(), 1..4)) {
        let json = encode_json(&rs);
        let back = decode_json(&json).map_err(|e| TestCaseError::fail(format!("{e}\n{json}")))?;
        prop_assert_eq!(back, rs);
    }

    #[test]
    fn validation_never_panics(rs in prop::collection::vec(resource(), 1..3)) {
        for mut r in rs {
            let _ = r.validate();
            r.apply_defaults();
            let _ = r.validate();
        }
    }

    #[test]
    fn decoder_never_panics(s in "\\PC{0,200}") {
        let _ = decode_yaml(&s);
        let _ = decode_json(&s);
    }
}
