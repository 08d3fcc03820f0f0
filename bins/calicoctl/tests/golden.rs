//! Golden tests of every `get` output format for every kind calicoctl can create.
//!
//! For each kind, `tests/golden/<kind>/input.yaml` holds a minimal resource and one with
//! many fields set (singletons: one). All are created in one embedded store with the built
//! binary; then `get <kind>` (every namespace for namespaced kinds) runs once per format
//! (ps, wide, yaml, json, name, custom-columns, go-template), and `get <kind> <name>` of the
//! resource with many fields in yaml and go-template (a resource prints as itself, not as a
//! list). Each output is compared with `tests/golden/<kind>/<format>.txt`, after masking
//! what changes from run to run (`uid`, `creationTimestamp`, `resourceVersion`).
//!
//! `UPDATE_GOLDEN=1 cargo test -p calicoctl --test golden` rewrites the files; review the
//! diff before committing.

use std::path::{Path, PathBuf};

mod common;

/// Kinds calicoctl can create (ClusterInformation is read-only; the IPAM kinds belong to
/// `calicoctl ipam`), as their golden directory names.
const KINDS: &[&str] = &[
    "bgpconfiguration",
    "bgpfilter",
    "bgppeer",
    "caliconodestatus",
    "felixconfiguration",
    "globalnetworkpolicy",
    "globalnetworkset",
    "hostendpoint",
    "ipamconfiguration",
    "ippool",
    "ipreservation",
    "kubecontrollersconfiguration",
    "networkpolicy",
    "networkset",
    "node",
    "profile",
    "stagedglobalnetworkpolicy",
    "stagedkubernetesnetworkpolicy",
    "stagednetworkpolicy",
    "tier",
    "workloadendpoint",
];

/// Namespaced kinds are listed with `-A` (a NAMESPACE column, every namespace).
const NAMESPACED: &[&str] = &[
    "networkpolicy",
    "networkset",
    "stagedkubernetesnetworkpolicy",
    "stagednetworkpolicy",
    "workloadendpoint",
];

/// The template every kind is printed with: calicoctl's documented form (Go field names)
/// mixed with JSON names.
const TEMPLATE: &str = r#"go-template={{range .}}{{.Kind}}:{{range .Items}} {{.ObjectMeta.Name}}({{.kind}}, labels [{{join .Labels ","}}]){{end}}{{"\n"}}{{end}}"#;

/// The template for one resource asked for by name (the results are resources, not lists).
const NAMED_TEMPLATE: &str = r#"go-template={{range .}}{{.TypeMeta.Kind}} {{.Name}} {{.metadata.namespace}} generation={{.ObjectMeta.Generation}}{{"\n"}}{{end}}"#;

/// Metadata fields whose values differ from run to run.
const VOLATILE: &[&str] = &["uid", "creationTimestamp", "resourceVersion"];

/// The custom columns shown for a kind: every column its wide table has, reversed (so the
/// order differs from the default), or NAME only.
fn custom_columns(kind: &str) -> &'static str {
    match kind {
        "ippool" => "custom-columns=SELECTOR,DISABLED,NAT,CIDR,NAME",
        "hostendpoint" => "custom-columns=PROFILES,IPS,INTERFACE,NODE,NAME",
        "workloadendpoint" => "custom-columns=ORCHESTRATOR,NAME,WORKLOAD",
        "globalnetworkpolicy" | "stagedglobalnetworkpolicy" => {
            "custom-columns=SELECTOR,ORDER,TIER,NAME"
        }
        "networkpolicy" | "stagednetworkpolicy" => "custom-columns=SELECTOR,ORDER,TIER,NAME",
        "bgppeer" => "custom-columns=ASN,NODE,PEERIP,NAME",
        "node" => "custom-columns=IPV6,IPV4,ASN,NAME",
        "tier" => "custom-columns=ORDER,NAME",
        _ => "custom-columns=NAME",
    }
}

/// The formats, as (golden file stem, `-o` value).
fn formats(kind: &str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("ps", "ps"),
        ("wide", "wide"),
        ("yaml", "yaml"),
        ("json", "json"),
        ("name", "name"),
        ("custom-columns", custom_columns(kind)),
        ("go-template", TEMPLATE),
    ]
}

/// Replaces the values of volatile fields (YAML `key: value` and JSON `"key": "value",`).
fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let masked = VOLATILE.iter().find_map(|key| {
            let json_key = format!("\"{key}\": ");
            let yaml_key = format!("{key}: ");
            if let Some(rest) = trimmed.strip_prefix(&json_key) {
                let comma = if rest.ends_with(',') { "," } else { "" };
                Some(format!("{indent}{json_key}\"<masked>\"{comma}"))
            } else if trimmed.starts_with(&yaml_key) {
                Some(format!("{indent}{yaml_key}<masked>"))
            } else {
                None
            }
        });
        out.push_str(masked.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn every_output_format_of_every_kind_matches_its_golden_file() {
    let dir = common::scratch_dir();
    let db = dir.path().join("datastore.db").display().to_string();
    let env = [
        ("DATASTORE_TYPE", "embedded"),
        ("CALICO_DATASTORE_PATH", db.as_str()),
    ];
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for kind in KINDS {
        let kind_dir = golden_dir().join(kind);
        let input = kind_dir.join("input.yaml");
        let input = input.display().to_string();
        common::calicoctl(&env, &["create", "-f", &input], None).ok();
        let mut runs: Vec<(String, Vec<String>)> = Vec::new();
        for (stem, format) in formats(kind) {
            let mut args = vec!["get", kind, "-o", format];
            if NAMESPACED.contains(kind) {
                args.push("-A");
            }
            runs.push((
                stem.to_owned(),
                args.iter().map(|a| (*a).to_owned()).collect(),
            ));
        }
        // The resource with many fields, asked for by name: printed as itself.
        let text = std::fs::read_to_string(kind_dir.join("input.yaml")).expect("input");
        let resources = calico_model::codec::decode(&text).expect("input decodes");
        let full = resources.last().expect("a resource");
        for (stem, format) in [
            ("yaml-by-name", "yaml"),
            ("go-template-by-name", NAMED_TEMPLATE),
        ] {
            let mut args = vec!["get".to_owned(), kind.to_string(), full.name().to_owned()];
            args.extend(["-o".to_owned(), format.to_owned()]);
            if !full.namespace().is_empty() {
                args.extend(["-n".to_owned(), full.namespace().to_owned()]);
            }
            runs.push((stem.to_owned(), args));
        }
        for (stem, args) in runs {
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = common::calicoctl(&env, &argv, None).ok();
            assert!(out.stderr.is_empty(), "{argv:?}: {}", out.stderr);
            let got = mask(&out.stdout);
            let file = kind_dir.join(format!("{stem}.txt"));
            if update {
                std::fs::write(&file, &got).expect("write golden file");
                continue;
            }
            let want = std::fs::read_to_string(&file).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                    file.display()
                )
            });
            if got != want {
                mismatches.push(format!(
                    "{}:\n--- want\n{want}--- got\n{got}",
                    file.display()
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} golden file(s) differ (UPDATE_GOLDEN=1 rewrites them):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn masking_is_deterministic_and_keeps_structure() {
    let yaml = "metadata:\n  creationTimestamp: \"2026-01-01T00:00:00Z\"\n  name: a\n  resourceVersion: \"17\"\n";
    assert_eq!(
        mask(yaml),
        "metadata:\n  creationTimestamp: <masked>\n  name: a\n  resourceVersion: <masked>\n"
    );
    let json = "{\n  \"uid\": \"x-y\",\n  \"name\": \"a\"\n}\n";
    assert_eq!(
        mask(json),
        "{\n  \"uid\": \"<masked>\",\n  \"name\": \"a\"\n}\n"
    );
}
