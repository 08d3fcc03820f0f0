//! Runs every manifest under `tests/fixtures/`:
//! - `valid/*`: must decode, default and validate, and must round-trip through YAML and JSON
//!   (decode → encode → decode gives equal resources).
//! - `invalid/*`: must fail to decode or to validate, reporting every path named on the
//!   file's `# expect: <path>` lines.

use std::fs;
use std::path::{Path, PathBuf};

use calico_model::codec::{decode_each, decode_json, decode_yaml, encode_json, encode_yaml};

fn fixture_files(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn valid_fixtures_validate_and_round_trip() {
    let files = fixture_files("valid");
    assert!(
        files.len() >= 40,
        "expected a real fixture set, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        let decoded = decode_each(&text);
        if decoded.is_empty() {
            failures.push(format!("{}: no resources", f.display()));
        }
        let mut resources = Vec::new();
        for d in decoded {
            match d.result {
                Err(e) => failures.push(format!("{}: decode: {e}", f.display())),
                Ok(r) => resources.push(r),
            }
        }
        // Round trips, before and after defaulting.
        for stage in ["raw", "defaulted"] {
            if stage == "defaulted" {
                for r in &mut resources {
                    r.apply_defaults();
                }
            }
            match decode_yaml(&encode_yaml(&resources)) {
                Ok(back) if back == resources => {}
                Ok(_) => failures.push(format!(
                    "{} ({stage}): YAML round trip changed the resources",
                    f.display()
                )),
                Err(e) => failures.push(format!(
                    "{} ({stage}): YAML round trip failed: {e}",
                    f.display()
                )),
            }
            match decode_json(&encode_json(&resources)) {
                Ok(back) if back == resources => {}
                Ok(_) => failures.push(format!(
                    "{} ({stage}): JSON round trip changed the resources",
                    f.display()
                )),
                Err(e) => failures.push(format!(
                    "{} ({stage}): JSON round trip failed: {e}",
                    f.display()
                )),
            }
        }
        for r in &resources {
            if let Err(e) = r.validate() {
                failures.push(format!("{}: {}: {e}", f.display(), r.display_id()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn invalid_fixtures_are_rejected_with_their_paths() {
    let files = fixture_files("invalid");
    assert!(
        files.len() >= 40,
        "expected a real fixture set, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("# expect:"))
            .map(str::trim)
            .collect();
        if expected.is_empty() {
            failures.push(format!("{}: no `# expect:` line", f.display()));
            continue;
        }
        let mut reported = Vec::new();
        for d in decode_each(&text) {
            match d.result {
                Err(e) => reported.push(e.location.path.clone()),
                Ok(mut r) => {
                    r.apply_defaults();
                    if let Err(e) = r.validate() {
                        reported.extend(e.problems.iter().map(|p| p.path.clone()));
                    }
                }
            }
        }
        if reported.is_empty() {
            failures.push(format!(
                "{}: accepted, but expected problems at {expected:?}",
                f.display()
            ));
            continue;
        }
        for want in &expected {
            if !reported.iter().any(|p| p == want) {
                failures.push(format!(
                    "{}: no problem at {want:?}; reported {reported:?}",
                    f.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_kind_has_valid_and_invalid_fixtures() {
    use std::collections::BTreeSet;
    let mut valid = BTreeSet::new();
    for f in fixture_files("valid") {
        let text = fs::read_to_string(&f).unwrap();
        for d in decode_each(&text) {
            if let Ok(r) = d.result {
                valid.insert(r.kind());
            }
        }
    }
    let mut invalid = BTreeSet::new();
    for f in fixture_files("invalid") {
        let text = fs::read_to_string(&f).unwrap();
        for d in decode_each(&text) {
            if let Some(k) = d.kind.as_deref().and_then(calico_model::Kind::from_kind) {
                invalid.insert(k);
            }
        }
    }
    let missing_valid: Vec<_> = calico_model::Kind::ALL
        .iter()
        .filter(|k| !valid.contains(k))
        .collect();
    assert!(
        missing_valid.is_empty(),
        "kinds without a valid fixture: {missing_valid:?}"
    );
    // The IPAM-internal kinds are written by Calico, not users; every other kind needs
    // rejection cases.
    let internal = [
        calico_model::Kind::IPAMBlock,
        calico_model::Kind::IPAMHandle,
        calico_model::Kind::BlockAffinity,
    ];
    let missing_invalid: Vec<_> = calico_model::Kind::ALL
        .iter()
        .filter(|k| !invalid.contains(k) && !internal.contains(k))
        .collect();
    assert!(
        missing_invalid.is_empty(),
        "kinds without an invalid fixture: {missing_invalid:?}"
    );
}
