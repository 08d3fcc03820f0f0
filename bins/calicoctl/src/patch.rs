//! `calicoctl patch KIND NAME -p PATCH [-t strategic|merge|json]`: change a resource in
//! place (calicoctl's `commands/patch.go` and `resourcemgr.Patch`).
//!
//! The stored resource is read, the patch applied to its JSON, the result decoded strictly
//! (an unknown field or a changed kind fails) and written back with compare-and-swap on the
//! `resourceVersion` read; the datastore applies Calico's defaults and validation, so a
//! patch that makes the resource invalid writes nothing. On a conflict (someone else wrote
//! in between) the resource is read and patched again, as `apply` retries. As in calicoctl
//! the metadata stays the stored one except labels and annotations.
//!
//! Patch types: `strategic` (calicoctl's, the default) merges objects key by key, `null`
//! deletes a key, lists are replaced (Calico's types declare no merge keys) and the
//! directives `$patch: replace|delete|merge`, `$retainKeys` and
//! `$deleteFromPrimitiveList/<field>` are honoured; `merge` is RFC 7386 JSON merge patch;
//! `json` is RFC 6902 JSON patch (calicoctl lists these two but does not implement them).
//! The patch is JSON, or YAML (ours).

use calico_datastore::Error;
use calico_model::sync::ResourceKey;
use calico_model::{Kind, Resource};
use serde_json::{Map, Value};

use crate::commands::{Global, Report, check_version, connect, resources_from_args};
use crate::crud::{self, Flags, UPDATE_ATTEMPTS, UPDATE_RETRY_DELAY};
use crate::errors::ActionError;

/// Key of a strategic-merge-patch directive inside an object.
const PATCH_DIRECTIVE: &str = "$patch";
/// Key listing the only keys an object keeps after a strategic merge.
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
/// Prefix of a directive removing values from a list of scalars.
const DELETE_FROM_LIST_PREFIX: &str = "$deleteFromPrimitiveList/";
/// Prefix of a directive giving list order (informational; ignored).
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder/";

/// How the patch text is interpreted (`--type`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// Strategic merge patch (calicoctl's default).
    Strategic,
    /// JSON merge patch, RFC 7386.
    Merge,
    /// JSON patch, RFC 6902.
    Json,
}

impl PatchType {
    fn describe(self) -> &'static str {
        match self {
            PatchType::Strategic => "strategic merge patch",
            PatchType::Merge => "JSON merge patch",
            PatchType::Json => "JSON patch",
        }
    }
}

/// `calicoctl patch`.
#[derive(clap::Args, Debug)]
pub struct PatchArgs {
    /// The resource type (case-insensitive, may be pluralized or abbreviated).
    #[arg(value_name = "KIND")]
    kind: String,
    /// The name of the resource to patch.
    #[arg(value_name = "NAME")]
    name: String,
    /// Spec to use to patch the resource (JSON or YAML).
    #[arg(short = 'p', long = "patch", value_name = "PATCH")]
    patch: String,
    /// Format of the patch: strategic (default), merge (RFC 7386) or json (RFC 6902).
    #[arg(short = 't', long = "type", value_enum, default_value = "strategic")]
    patch_type: PatchType,
    /// Namespace of the resource (namespaced kinds only; `default` if not given).
    #[arg(short = 'n', long, value_name = "NS")]
    namespace: Option<String>,
}

/// Why a patch could not be applied (worded as calicoctl's `Hit error: …` details).
#[derive(Debug, PartialEq, Eq)]
pub struct PatchError(String);

impl std::fmt::Display for PatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses the patch text: JSON, else YAML.
pub fn parse_patch(text: &str) -> Result<Value, PatchError> {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(json_err) => serde_saphyr::from_str::<Value>(text)
            .map_err(|_| PatchError(format!("the patch is neither JSON nor YAML: {json_err}"))),
    }
}

/// Applies `patch` of `patch_type` to a resource's JSON `doc`.
pub fn apply_patch(
    doc: &mut Value,
    patch: &Value,
    patch_type: PatchType,
) -> Result<(), PatchError> {
    match patch_type {
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(PatchError("a JSON merge patch must be an object".into()));
            }
            json_patch::merge(doc, patch);
            Ok(())
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| PatchError(format!("not a JSON patch (a list of operations): {e}")))?;
            json_patch::patch(doc, &ops).map_err(|e| PatchError(e.to_string()))
        }
        PatchType::Strategic => match (doc, patch) {
            (Value::Object(target), Value::Object(p)) => {
                if strategic_merge(target, p)? == Merged::Delete {
                    return Err(PatchError(
                        "$patch: delete of the whole resource is not allowed".into(),
                    ));
                }
                Ok(())
            }
            _ => Err(PatchError(
                "a strategic merge patch must be a JSON object".into(),
            )),
        },
    }
}

/// What a strategic merge asks of the object it was applied to.
#[derive(Debug, PartialEq, Eq)]
enum Merged {
    /// The object stays (merged or replaced).
    Keep,
    /// `$patch: delete`: the object goes.
    Delete,
}

/// The patch object without its directives (what a replacement or new object holds).
fn without_directives(patch: &Map<String, Value>) -> Result<Map<String, Value>, PatchError> {
    let mut out = Map::new();
    strategic_merge(&mut out, patch)?;
    Ok(out)
}

/// Strategic merge of one object, key by key (Calico's types declare no merge keys, so
/// lists are replaced).
fn strategic_merge(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Merged, PatchError> {
    match patch.get(PATCH_DIRECTIVE) {
        None => {}
        Some(Value::String(d)) if d == "merge" => {}
        Some(Value::String(d)) if d == "delete" => return Ok(Merged::Delete),
        Some(Value::String(d)) if d == "replace" => {
            let mut rest = patch.clone();
            rest.remove(PATCH_DIRECTIVE);
            *target = without_directives(&rest)?;
            return Ok(Merged::Keep);
        }
        Some(other) => {
            return Err(PatchError(format!("unknown patch type: {other}")));
        }
    }
    for (key, value) in patch {
        if key == PATCH_DIRECTIVE || key == RETAIN_KEYS_DIRECTIVE {
            continue;
        }
        if key.starts_with(SET_ELEMENT_ORDER_PREFIX) {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM_LIST_PREFIX) {
            let Value::Array(gone) = value else {
                return Err(PatchError(format!("{key} must be a list")));
            };
            if let Some(Value::Array(items)) = target.get_mut(field) {
                items.retain(|i| !gone.contains(i));
            }
            continue;
        }
        if key.starts_with('$') {
            return Err(PatchError(format!("unknown patch directive {key}")));
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner) => match target.get_mut(key) {
                Some(Value::Object(existing)) => {
                    if strategic_merge(existing, inner)? == Merged::Delete {
                        target.remove(key);
                    }
                }
                _ => {
                    if inner.get(PATCH_DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                        target.remove(key);
                    } else {
                        let mut fresh = Map::new();
                        strategic_merge(&mut fresh, inner)?;
                        target.insert(key.clone(), Value::Object(fresh));
                    }
                }
            },
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
    if let Some(keep) = patch.get(RETAIN_KEYS_DIRECTIVE) {
        let Value::Array(keep) = keep else {
            return Err(PatchError(format!(
                "{RETAIN_KEYS_DIRECTIVE} must be a list"
            )));
        };
        target.retain(|k, _| keep.iter().any(|v| v.as_str() == Some(k)));
    }
    Ok(Merged::Keep)
}

/// The patched resource: `stored` with `patch` applied, decoded strictly, keeping the
/// stored metadata except labels and annotations.
pub fn patched(
    stored: &Resource,
    patch: &Value,
    patch_type: PatchType,
) -> Result<Resource, PatchError> {
    let mut doc = stored.to_value();
    apply_patch(&mut doc, patch, patch_type)
        .map_err(|e| PatchError(format!("performing {}: {e}", patch_type.describe())))?;
    let mut out = Resource::from_value(stored.kind(), &doc).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        PatchError(format!(
            "creating resource from patched data: {path}{}",
            e.inner()
        ))
    })?;
    let (name, namespace) = (out.name().to_owned(), out.namespace().to_owned());
    if name != stored.name() || namespace != stored.namespace() {
        return Err(PatchError(
            "creating resource from patched data: metadata.name and metadata.namespace cannot be patched"
                .into(),
        ));
    }
    let meta = out.metadata_mut();
    let labels = std::mem::take(&mut meta.labels);
    let annotations = std::mem::take(&mut meta.annotations);
    *meta = calico_model::ObjectMeta {
        labels,
        annotations,
        ..stored.metadata().clone()
    };
    Ok(out)
}

/// Reads, patches and writes with compare-and-swap, retrying on conflicts.
async fn read_patch_write(
    store: &dyn calico_datastore::Datastore,
    key: &ResourceKey,
    patch: &Value,
    patch_type: PatchType,
) -> Result<Resource, String> {
    let mut last = None;
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(UPDATE_RETRY_DELAY).await;
        }
        let stored = store
            .get(key)
            .await
            .map_err(|e| ActionError::Store(e).to_string())?;
        let next = patched(&stored, patch, patch_type).map_err(|e| e.to_string())?;
        match store.update(next).await {
            Ok(done) => return Ok(done),
            Err(e @ Error::Conflict { .. }) => last = Some(e),
            Err(e) => {
                return Err(format!(
                    "updating existing resource: {}",
                    ActionError::Store(e)
                ));
            }
        }
    }
    Err(format!(
        "updating existing resource: {}",
        last.map_or_else(String::new, |e| ActionError::Store(e).to_string())
    ))
}

/// `calicoctl patch`.
pub async fn run(global: &Global, args: &PatchArgs) -> Report {
    let namespace = args.namespace.clone().unwrap_or_default();
    let (kind, mut resources) =
        match resources_from_args(&args.kind, std::slice::from_ref(&args.name), &namespace) {
            Ok(found) => found,
            Err(m) => return Report::failure(m),
        };
    let patch = match parse_patch(&args.patch) {
        Ok(p) => p,
        Err(e) => {
            return Report::failure(format!(
                "Hit error: performing {}: {e}",
                args.patch_type.describe()
            ));
        }
    };
    let store = match connect(global).await {
        Ok(s) => s,
        Err(report) => return report,
    };
    if let Err(m) = check_version(store.as_ref(), global).await {
        return Report::failure(m.trim_end());
    }
    let mut resource = resources.remove(0);
    let flags = Flags {
        namespace,
        ..Flags::default()
    };
    if let Err(e) = crud::handle_namespace(&mut resource, &flags)
        .and_then(|()| crud::check_writable(&resource, "patch"))
    {
        return Report::failure(format!("Hit error: {e}"));
    }
    let key = ResourceKey::of(&resource);
    match read_patch_write(store.as_ref(), &key, &patch, args.patch_type).await {
        Ok(_) => {
            let mut r = Report::default();
            r.out(format!(
                "Successfully patched 1 '{}' resource\n",
                kind_name(kind)
            ));
            r
        }
        Err(m) => Report::failure(format!("Hit error: {m}")),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    kind.kind()
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_model::{IPPool, IPPoolSpec, ObjectMeta};
    use serde_json::json;

    fn pool() -> Resource {
        let mut meta = ObjectMeta::named("p");
        meta.resource_version = "7".into();
        meta.uid = "u-1".into();
        meta.labels.insert("a".into(), "1".into());
        IPPool::new(
            meta,
            IPPoolSpec {
                cidr: "10.0.0.0/16".into(),
                node_selector: "all()".into(),
                ..IPPoolSpec::default()
            },
        )
        .into()
    }

    fn spec(r: &Resource) -> Value {
        r.to_value()["spec"].clone()
    }

    #[test]
    fn strategic_merges_maps_deletes_nulls_and_keeps_metadata() {
        let p = json!({"metadata": {"labels": {"b": "2"}, "uid": "x"},
                       "spec": {"disabled": true, "nodeSelector": null}});
        let out = patched(&pool(), &p, PatchType::Strategic).expect("patch");
        assert_eq!(spec(&out)["disabled"], json!(true));
        assert_eq!(spec(&out)["cidr"], json!("10.0.0.0/16"));
        assert!(spec(&out).get("nodeSelector").is_none());
        let meta = out.metadata();
        assert_eq!(meta.uid, "u-1", "stored metadata is kept");
        assert_eq!(
            meta.resource_version, "7",
            "the write is a CAS on the read version"
        );
        assert_eq!(meta.labels.len(), 2);
    }

    #[test]
    fn strategic_directives() {
        let mut doc = json!({"a": {"x": 1, "y": 2}, "l": [1, 2, 3], "k": {"z": 1}});
        let p = json!({"a": {"$patch": "replace", "w": 5}, "$deleteFromPrimitiveList/l": [2],
                       "k": {"$patch": "delete"}});
        apply_patch(&mut doc, &p, PatchType::Strategic).expect("patch");
        assert_eq!(doc, json!({"a": {"w": 5}, "l": [1, 3]}));
        let mut doc = json!({"a": 1, "b": 2});
        apply_patch(
            &mut doc,
            &json!({"$retainKeys": ["a"], "c": 3}),
            PatchType::Strategic,
        )
        .expect("retain");
        assert_eq!(doc, json!({"a": 1}));
        let e = apply_patch(&mut doc, &json!({"$bogus": 1}), PatchType::Strategic)
            .expect_err("unknown directive");
        assert_eq!(e.to_string(), "unknown patch directive $bogus");
        let e = apply_patch(&mut doc, &json!([1]), PatchType::Strategic).expect_err("list");
        assert_eq!(
            e.to_string(),
            "a strategic merge patch must be a JSON object"
        );
    }

    #[test]
    fn merge_and_json_patches() {
        let out = patched(
            &pool(),
            &json!({"spec": {"blockSize": 28}}),
            PatchType::Merge,
        )
        .expect("merge");
        assert_eq!(spec(&out)["blockSize"], json!(28));
        let ops = json!([{"op": "replace", "path": "/spec/cidr", "value": "10.9.0.0/16"},
                         {"op": "test", "path": "/spec/nodeSelector", "value": "all()"}]);
        let out = patched(&pool(), &ops, PatchType::Json).expect("json");
        assert_eq!(spec(&out)["cidr"], json!("10.9.0.0/16"));
        let bad = json!([{"op": "remove", "path": "/spec/nope"}]);
        let e = patched(&pool(), &bad, PatchType::Json).expect_err("missing path");
        assert!(
            e.to_string()
                .starts_with("performing JSON patch: operation '/0' failed"),
            "{e}"
        );
        let e = patched(&pool(), &json!({"op": "add"}), PatchType::Json).expect_err("not a list");
        assert!(
            e.to_string()
                .starts_with("performing JSON patch: not a JSON patch"),
            "{e}"
        );
    }

    #[test]
    fn decoding_errors_and_identity_changes_are_refused() {
        let e = patched(
            &pool(),
            &json!({"spec": {"cidrr": "x"}}),
            PatchType::Strategic,
        )
        .expect_err("unknown field");
        assert!(
            e.to_string()
                .starts_with("creating resource from patched data: spec"),
            "{e}"
        );
        let e = patched(&pool(), &json!({"kind": "Tier"}), PatchType::Merge).expect_err("kind");
        assert!(
            e.to_string()
                .starts_with("creating resource from patched data"),
            "{e}"
        );
        let e = patched(
            &pool(),
            &json!({"metadata": {"name": "q"}}),
            PatchType::Merge,
        )
        .expect_err("rename");
        assert!(e.to_string().contains("cannot be patched"), "{e}");
    }

    #[test]
    fn a_concurrent_write_is_never_lost() {
        crate::test_support::run(async {
            let mut p = pool();
            p.metadata_mut().resource_version.clear();
            p.metadata_mut().uid.clear();
            let store = crate::test_support::Interfering::with(p.clone()).await;
            let key = ResourceKey::of(&p);
            let done = read_patch_write(
                &store,
                &key,
                &json!({"spec": {"disabled": true}}),
                PatchType::Strategic,
            )
            .await
            .expect("patched");
            assert_eq!(spec(&done)["disabled"], json!(true));
            assert_eq!(
                done.metadata().labels.get("racer").map(String::as_str),
                Some("won"),
                "the concurrent writer's change survives"
            );
            assert_eq!(store.conflicts(), 1, "the first write was a stale CAS");
        });
    }

    #[test]
    fn patch_text_may_be_yaml() {
        assert_eq!(
            parse_patch("spec:\n  disabled: true\n"),
            Ok(json!({"spec": {"disabled": true}}))
        );
        assert!(parse_patch("{\"spec\": ").is_err());
    }
}
