//! `crd.projectcalico.org/v1` CustomResourceDefinitions generated from the model types
//! (feature `kube`).
//!
//! The schemas are derived with `schemars` and rewritten into Kubernetes *structural*
//! schemas: every node has a `type` (or is an int-or-string / preserve-unknown-fields
//! node), no `$ref`, no `additionalProperties: false`, enums as `type: string` + `enum`, and
//! optional values without `null` branches.
//!
//! ```
//! use calico_model::{Kind, crd};
//! let c = crd::crd_json(Kind::IPPool);
//! assert_eq!(c["metadata"]["name"], "ippools.crd.projectcalico.org");
//! assert_eq!(c["spec"]["scope"], "Cluster");
//! ```

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::resource::Kind;
use crate::resources::*;

/// The CRD API group Calico's Kubernetes datastore uses.
pub const CRD_GROUP: &str = "crd.projectcalico.org";
/// The CRD version.
pub const CRD_VERSION: &str = "v1";

/// The kinds Calico installs as CRDs for its Kubernetes datastore (Node, WorkloadEndpoint
/// and Profile are derived from Kubernetes objects instead).
pub const KDD_KINDS: &[Kind] = &[
    Kind::BGPConfiguration,
    Kind::BGPFilter,
    Kind::BGPPeer,
    Kind::BlockAffinity,
    Kind::CalicoNodeStatus,
    Kind::ClusterInformation,
    Kind::FelixConfiguration,
    Kind::GlobalNetworkPolicy,
    Kind::GlobalNetworkSet,
    Kind::HostEndpoint,
    Kind::IPAMBlock,
    Kind::IPAMConfiguration,
    Kind::IPAMHandle,
    Kind::IPPool,
    Kind::IPReservation,
    Kind::KubeControllersConfiguration,
    Kind::NetworkPolicy,
    Kind::NetworkSet,
    Kind::StagedGlobalNetworkPolicy,
    Kind::StagedKubernetesNetworkPolicy,
    Kind::StagedNetworkPolicy,
    Kind::Tier,
];

fn schema_of<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::openapi3();
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut v = schema.to_value();
    structural(&mut v);
    if let Value::Object(m) = &mut v {
        m.remove("title");
        m.remove("description");
    }
    v
}

/// Spec and status schemas of a kind.
fn spec_and_status(kind: Kind) -> (Value, Option<Value>) {
    macro_rules! pick {
        ($($k:ident => $spec:ty $(, $status:ty)?);* $(;)?) => {
            match kind {
                $(Kind::$k => (schema_of::<$spec>(), pick!(@status $($status)?)),)*
            }
        };
        (@status) => { None };
        (@status $status:ty) => { Some(schema_of::<$status>()) };
    }
    pick! {
        NetworkPolicy => NetworkPolicySpec, PolicyStatus;
        GlobalNetworkPolicy => GlobalNetworkPolicySpec, PolicyStatus;
        StagedNetworkPolicy => StagedNetworkPolicySpec, PolicyStatus;
        StagedGlobalNetworkPolicy => StagedGlobalNetworkPolicySpec, PolicyStatus;
        StagedKubernetesNetworkPolicy => StagedKubernetesNetworkPolicySpec, PolicyStatus;
        Tier => TierSpec, TierStatus;
        Profile => ProfileSpec;
        HostEndpoint => HostEndpointSpec;
        WorkloadEndpoint => WorkloadEndpointSpec;
        NetworkSet => NetworkSetSpec;
        GlobalNetworkSet => GlobalNetworkSetSpec;
        IPPool => IPPoolSpec, IPPoolStatus;
        IPReservation => IPReservationSpec;
        IPAMConfiguration => IPAMConfigurationSpec;
        IPAMBlock => IPAMBlockSpec;
        BlockAffinity => BlockAffinitySpec;
        IPAMHandle => IPAMHandleSpec;
        BGPConfiguration => BGPConfigurationSpec;
        BGPPeer => BGPPeerSpec;
        BGPFilter => BGPFilterSpec;
        Node => NodeSpec, NodeStatus;
        FelixConfiguration => FelixConfigurationSpec;
        KubeControllersConfiguration => KubeControllersConfigurationSpec, KubeControllersConfigurationStatus;
        ClusterInformation => ClusterInformationSpec;
        CalicoNodeStatus => CalicoNodeStatusSpec, CalicoNodeStatusStatus;
    }
}

/// The CRD of one kind as JSON (`apiextensions.k8s.io/v1` `CustomResourceDefinition`).
pub fn crd_json(kind: Kind) -> Value {
    let (spec, status) = spec_and_status(kind);
    let mut props = Map::new();
    props.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion of this representation of the object."}));
    props.insert(
        "kind".into(),
        json!({"type": "string", "description": "Kind of the object."}),
    );
    props.insert("metadata".into(), json!({"type": "object"}));
    props.insert("spec".into(), spec);
    if let Some(st) = &status {
        props.insert("status".into(), st.clone());
    }
    let mut version = json!({
        "name": CRD_VERSION,
        "served": true,
        "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": props}},
    });
    if status.is_some() {
        version["subresources"] = json!({"status": {}});
    }
    let mut names = json!({
        "kind": kind.crd_kind(),
        "listKind": format!("{}List", kind.crd_kind()),
        "plural": kind.crd_plural(),
        "singular": kind.crd_kind().to_ascii_lowercase(),
    });
    if !kind.short_names().is_empty() {
        names["shortNames"] = json!(kind.short_names());
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{}.{CRD_GROUP}", kind.crd_plural())},
        "spec": {
            "group": CRD_GROUP,
            "names": names,
            "scope": if kind.namespaced() { "Namespaced" } else { "Cluster" },
            "versions": [version],
        }
    })
}

/// Every CRD Calico installs for its Kubernetes datastore, as one YAML stream.
pub fn kdd_crds_yaml() -> String {
    let docs: Vec<Value> = KDD_KINDS.iter().map(|k| crd_json(*k)).collect();
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&crate::codec::value_to_yaml(d));
    }
    out
}

/// The CRD of one kind as the typed Kubernetes object.
pub fn custom_resource_definition(
    kind: Kind,
) -> Result<
    k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    serde_json::Error,
> {
    serde_json::from_value(crd_json(kind))
}

/// Rewrites a schemars schema into a Kubernetes structural schema, in place.
fn structural(v: &mut Value) {
    let Value::Object(m) = v else {
        // `true` (any value) becomes a preserve-unknown-fields node.
        *v = json!({"x-kubernetes-preserve-unknown-fields": true});
        return;
    };
    m.remove("$schema");
    m.remove("default");
    m.remove("title");
    m.remove("examples");
    m.remove("$defs");
    m.remove("definitions");

    // `type: [T, "null"]` → `type: T, nullable: true`.
    if let Some(Value::Array(types)) = m.get("type").cloned() {
        let non_null: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
        if non_null.len() == 1 {
            m.insert("type".into(), non_null[0].clone());
            m.insert("nullable".into(), Value::Bool(true));
        }
    }

    // Optional values: `anyOf: [X, {null}]` → X (+nullable).
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = m.get(key).cloned() {
            let is_null = |b: &Value| {
                b.get("type") == Some(&json!("null"))
                    || b.get("enum") == Some(&json!([null]))
                    || b.get("const") == Some(&Value::Null)
            };
            let rest: Vec<Value> = branches.iter().filter(|b| !is_null(b)).cloned().collect();
            if rest.len() < branches.len() {
                m.remove(key);
                m.insert("nullable".into(), Value::Bool(true));
                if rest.len() == 1 {
                    if let Value::Object(inner) = &rest[0] {
                        for (k, val) in inner {
                            m.entry(k.clone()).or_insert_with(|| val.clone());
                        }
                    }
                } else {
                    m.insert(key.into(), Value::Array(rest));
                }
            }
        }
    }

    // String enums written as `oneOf` of documented constants → `type: string, enum`.
    if let Some(Value::Array(branches)) = m.get("oneOf").cloned() {
        let consts: Option<Vec<Value>> = branches
            .iter()
            .map(|b| {
                b.get("const")
                    .cloned()
                    .filter(Value::is_string)
                    .map(|c| vec![c])
                    .or_else(|| b.get("enum").and_then(Value::as_array).cloned())
            })
            .collect::<Option<Vec<Vec<Value>>>>()
            .map(|v| v.into_iter().flatten().collect());
        if let Some(values) = consts {
            m.remove("oneOf");
            m.insert("type".into(), json!("string"));
            m.insert("enum".into(), Value::Array(values));
        }
    }
    if let Some(c) = m.remove("const") {
        m.insert("enum".into(), json!([c]));
    }

    // Unsigned and small integer formats are not OpenAPI formats.
    if let Some(Value::String(f)) = m.get("format").cloned() {
        match f.as_str() {
            "uint" | "uint8" | "uint16" | "uint32" | "uint64" => {
                m.insert(
                    "format".into(),
                    json!(if f == "uint64" { "int64" } else { "int32" }),
                );
                m.entry("minimum").or_insert(json!(0));
            }
            "int8" | "int16" => {
                m.insert("format".into(), json!("int32"));
            }
            "int" => {
                m.insert("format".into(), json!("int64"));
            }
            _ => {}
        }
        if f == "uint32" || f == "uint64" {
            m.insert("format".into(), json!("int64"));
        }
    }

    // `uniqueItems` is not allowed; deny_unknown_fields' `additionalProperties: false` neither.
    m.remove("uniqueItems");
    if m.get("additionalProperties") == Some(&Value::Bool(false)) {
        m.remove("additionalProperties");
    }

    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(props)) = m.get_mut(key) {
            for p in props.values_mut() {
                structural(p);
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = m.get_mut(key)
            && !child.is_boolean()
        {
            structural(child);
        }
    }
    if m.get("additionalProperties") == Some(&Value::Bool(true)) {
        m.remove("additionalProperties");
        m.insert(
            "x-kubernetes-preserve-unknown-fields".into(),
            Value::Bool(true),
        );
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(bs)) = m.get_mut(key) {
            for b in bs.iter_mut() {
                structural(b);
            }
        }
    }
    if m.contains_key("properties") && !m.contains_key("type") {
        m.insert("type".into(), json!("object"));
    }
    // A node that admits anything.
    let has_type = m.contains_key("type")
        || m.contains_key("x-kubernetes-int-or-string")
        || m.contains_key("x-kubernetes-preserve-unknown-fields")
        || m.contains_key("anyOf")
        || m.contains_key("oneOf");
    if !has_type {
        m.insert(
            "x-kubernetes-preserve-unknown-fields".into(),
            Value::Bool(true),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the structural-schema rules Kubernetes enforces on CRDs.
    fn check_structural(path: &str, v: &Value, problems: &mut Vec<String>) {
        let Some(m) = v.as_object() else {
            problems.push(format!("{path}: schema is not an object"));
            return;
        };
        let int_or_string = m.get("x-kubernetes-int-or-string") == Some(&json!(true));
        let preserve = m.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
        if !m.contains_key("type") && !int_or_string && !preserve {
            problems.push(format!("{path}: no type"));
        }
        for bad in [
            "$ref",
            "$schema",
            "definitions",
            "$defs",
            "uniqueItems",
            "const",
        ] {
            if m.contains_key(bad) {
                problems.push(format!("{path}: has {bad}"));
            }
        }
        if (m.contains_key("anyOf") || m.contains_key("oneOf")) && !int_or_string {
            problems.push(format!("{path}: anyOf/oneOf outside int-or-string"));
        }
        if m.contains_key("properties") && m.contains_key("additionalProperties") {
            problems.push(format!("{path}: properties with additionalProperties"));
        }
        if let Some(Value::Object(props)) = m.get("properties") {
            if m.get("type") != Some(&json!("object")) {
                problems.push(format!("{path}: properties without type object"));
            }
            for (k, p) in props {
                check_structural(&format!("{path}.{k}"), p, problems);
            }
        }
        if let Some(items) = m.get("items") {
            check_structural(&format!("{path}[]"), items, problems);
        }
        if let Some(ap) = m.get("additionalProperties").filter(|a| a.is_object()) {
            check_structural(&format!("{path}{{}}"), ap, problems);
        }
    }

    #[test]
    fn every_kind_has_a_structural_crd() {
        let mut problems = Vec::new();
        for kind in Kind::ALL {
            let c = crd_json(*kind);
            let schema = &c["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
            check_structural(kind.kind(), schema, &mut problems);
            assert!(custom_resource_definition(*kind).is_ok(), "{kind}");
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn names_and_scopes() {
        let c = crd_json(Kind::IPAMConfiguration);
        assert_eq!(c["metadata"]["name"], "ipamconfigs.crd.projectcalico.org");
        assert_eq!(c["spec"]["names"]["kind"], "IPAMConfig");
        let c = crd_json(Kind::NetworkPolicy);
        assert_eq!(c["spec"]["scope"], "Namespaced");
        assert_eq!(
            c["spec"]["versions"][0]["subresources"],
            json!({"status": {}})
        );
        let spec = &c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(
            spec["properties"]["ingress"]["items"]["properties"]["action"]["type"],
            "string"
        );
        assert_eq!(
            spec["properties"]["ingress"]["items"]["properties"]["action"]["enum"],
            json!(["Allow", "Deny", "Log", "Pass"])
        );
        let ports = &spec["properties"]["ingress"]["items"]["properties"]["destination"]["properties"]
            ["ports"]["items"];
        assert_eq!(ports["x-kubernetes-int-or-string"], json!(true));
        assert_eq!(KDD_KINDS.len(), 22);
    }

    #[test]
    fn snapshot() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/crds.yaml");
        let now = kdd_crds_yaml();
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new("."))).ok();
            std::fs::write(&path, &now)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            return;
        }
        let saved = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)",
                path.display()
            )
        });
        if saved != now {
            let first = saved
                .lines()
                .zip(now.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "CRD schemas changed (first difference at line {}); review and re-bless with UPDATE_SNAPSHOTS=1\nsaved: {:?}\nnow:   {:?}",
                first + 1,
                saved.lines().nth(first),
                now.lines().nth(first)
            );
        }
    }
}
