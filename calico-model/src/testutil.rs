//! Helpers shared by the unit tests of the resource modules.

use crate::resource::{Kind, Resource};
use crate::validation::ValidationError;

/// Decodes exactly one resource from YAML (or JSON) text.
pub(crate) fn decode_one(yaml: &str) -> Resource {
    let mut docs =
        crate::decode_yaml(yaml).unwrap_or_else(|e| panic!("decode failed: {e}\n{yaml}"));
    assert_eq!(docs.len(), 1, "expected one document");
    docs.remove(0)
}

/// Decodes one resource, applies defaults and validates it.
pub(crate) fn check(yaml: &str) -> Result<Resource, ValidationError> {
    let mut r = decode_one(yaml);
    r.apply_defaults();
    r.validate().map(|()| r)
}

/// Like [`check`], returning the defaulted resource whether or not it is valid.
pub(crate) fn run(yaml: &str) -> (Resource, Result<(), ValidationError>) {
    let mut r = decode_one(yaml);
    r.apply_defaults();
    let res = r.validate();
    (r, res)
}

/// A cluster-scoped document of `kind` named `name` whose spec is the YAML block `spec`.
pub(crate) fn doc(kind: &str, name: &str, spec: &str) -> String {
    let indented: String = spec.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "apiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{indented}"
    )
}

/// Asserts the document decodes, defaults and validates; returns the defaulted resource.
pub(crate) fn expect_valid(yaml: &str) -> Resource {
    check(yaml).unwrap_or_else(|e| panic!("unexpectedly invalid: {e}\n{yaml}"))
}

/// Asserts the document is rejected with a problem at each of `paths`.
pub(crate) fn expect_invalid(yaml: &str, paths: &[&str]) {
    match check(yaml) {
        Ok(_) => panic!("unexpectedly valid:\n{yaml}"),
        Err(e) => {
            for p in paths {
                assert!(e.has_path(p), "no problem at {p}; got: {e}\n{yaml}");
            }
        }
    }
}

/// Decodes `json`, checks it re-encodes to exactly the same JSON, and that decoding that again
/// gives an equal resource.
pub(crate) fn exact_round_trip(kind: Kind, json: &str) -> Resource {
    let r = decode_one(json);
    assert_eq!(r.kind(), kind);
    let want: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
    let got = serde_json::to_value(&r).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, want, "re-encoding changed the document");
    let back = Resource::from_value(kind, &got).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, r);
    r
}

/// Decoding then encoding gives back exactly the input YAML document (as JSON values), and a
/// YAML round trip gives equal resources.
pub(crate) fn yaml_round_trip(yaml: &str) {
    let original: serde_json::Value =
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("plain YAML: {e}"));
    let docs = crate::decode_yaml(yaml).unwrap_or_else(|e| panic!("decodes: {e}"));
    assert_eq!(docs[0].to_value(), original);
    let again = crate::decode_yaml(&crate::encode_yaml(&docs))
        .unwrap_or_else(|e| panic!("re-decodes: {e}"));
    assert_eq!(again, docs);
}
