//! Profiles Calico derives from Namespaces (`kns.<ns>`) and ServiceAccounts (`ksa.<ns>.<sa>`).

use std::collections::BTreeMap;

use super::{
    ConversionError, DEFAULT_NAMESPACE, NAME_LABEL, NAMESPACE_LABEL_PREFIX,
    NAMESPACE_PROFILE_PREFIX, SERVICE_ACCOUNT_LABEL_PREFIX, SERVICE_ACCOUNT_PROFILE_PREFIX,
    convert_uid,
};
use crate::meta::ObjectMeta;
use crate::resource::Profile;
use crate::resources::{Action, ProfileSpec, Rule};

/// The Namespace fields Calico uses to build the namespace's profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// Namespace name.
    pub name: String,
    /// Namespace labels.
    pub labels: BTreeMap<String, String>,
    /// Namespace UID (the profile's UID is derived from it); empty = none.
    pub uid: String,
    /// Namespace resource version; empty = none.
    pub resource_version: String,
    /// Namespace creation time (RFC 3339), kept verbatim.
    pub creation_timestamp: Option<String>,
}

/// The ServiceAccount fields Calico uses to build the service account's profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceAccountInfo {
    /// Namespace of the service account (`default` when empty).
    pub namespace: String,
    /// Service account name.
    pub name: String,
    /// Service account labels.
    pub labels: BTreeMap<String, String>,
    /// Service account UID (the profile's UID is derived from it); empty = none.
    pub uid: String,
    /// Service account resource version; empty = none.
    pub resource_version: String,
    /// Service account creation time (RFC 3339), kept verbatim.
    pub creation_timestamp: Option<String>,
}

/// Name of the profile of a namespace: `kns.<namespace>`.
pub fn namespace_profile_name(namespace: &str) -> String {
    format!("{NAMESPACE_PROFILE_PREFIX}{namespace}")
}

/// Name of the profile of a service account: `ksa.<namespace>.<name>` (namespace `default`
/// when empty).
pub fn service_account_profile_name(namespace: &str, name: &str) -> String {
    let ns = if namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        namespace
    };
    format!("{SERVICE_ACCOUNT_PROFILE_PREFIX}{ns}.{name}")
}

/// The namespace a `kns.<namespace>` profile name stands for; `None` for other names.
pub fn namespace_from_profile_name(profile: &str) -> Option<&str> {
    profile.strip_prefix(NAMESPACE_PROFILE_PREFIX)
}

/// The `(namespace, service account)` a `ksa.<namespace>.<name>` profile name stands for (the
/// name may itself contain dots); `None` for other names.
pub fn service_account_from_profile_name(profile: &str) -> Option<(&str, &str)> {
    profile
        .strip_prefix(SERVICE_ACCOUNT_PROFILE_PREFIX)?
        .split_once('.')
}

fn prefixed_labels(
    prefix: &str,
    labels: &BTreeMap<String, String>,
    name: &str,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (format!("{prefix}{k}"), v.clone()))
        .collect();
    out.insert(format!("{prefix}{NAME_LABEL}"), name.to_owned());
    out
}

/// The profile Calico derives from a namespace: named `kns.<namespace>`, with one `Allow` rule
/// in each direction, and `labelsToApply` holding every namespace label as `pcns.<key>` plus
/// `pcns.projectcalico.org/name: <namespace>`.
///
/// ```
/// use std::collections::BTreeMap;
/// let labels = BTreeMap::from([("team".to_string(), "a".to_string())]);
/// let p = calico_model::k8s::namespace_to_profile("shop", &labels);
/// assert_eq!(p.metadata.name, "kns.shop");
/// assert_eq!(p.spec.labels_to_apply["pcns.team"], "a");
/// assert_eq!(p.spec.labels_to_apply["pcns.projectcalico.org/name"], "shop");
/// ```
pub fn namespace_to_profile(name: &str, labels: &BTreeMap<String, String>) -> Profile {
    Profile::new(
        ObjectMeta::named(namespace_profile_name(name)),
        ProfileSpec {
            ingress: vec![Rule::new(Action::Allow)],
            egress: vec![Rule::new(Action::Allow)],
            labels_to_apply: prefixed_labels(NAMESPACE_LABEL_PREFIX, labels, name),
        },
    )
}

/// The profile Calico derives from a service account: named `ksa.<namespace>.<name>`, no
/// rules, and `labelsToApply` holding every service account label as `pcsa.<key>` plus
/// `pcsa.projectcalico.org/name: <name>`.
pub fn service_account_to_profile(
    namespace: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Profile {
    Profile::new(
        ObjectMeta::named(service_account_profile_name(namespace, name)),
        ProfileSpec {
            labels_to_apply: prefixed_labels(SERVICE_ACCOUNT_LABEL_PREFIX, labels, name),
            ..ProfileSpec::default()
        },
    )
}

/// Fills in the metadata Calico copies from the source object: the derived UID, the
/// creation time, and the resource version as Calico reports it for profiles
/// (`<namespace revision>/<service account revision>`, with the other half empty).
fn source_meta(
    meta: &mut ObjectMeta,
    uid: &str,
    creation_timestamp: &Option<String>,
    resource_version: String,
) -> Result<(), ConversionError> {
    if !uid.is_empty() {
        meta.uid = convert_uid(uid)?;
    }
    meta.creation_timestamp.clone_from(creation_timestamp);
    meta.resource_version = resource_version;
    Ok(())
}

/// [`namespace_to_profile`] plus the metadata Calico copies from the Namespace: UID (converted
/// with [`convert_uid`]), creation time, and resource version `<rv>/`.
///
/// Errors when the UID is not a UUID. (Calico also errors for an empty UID; here an empty UID
/// simply leaves the profile without one.)
pub fn namespace_info_to_profile(ns: &NamespaceInfo) -> Result<Profile, ConversionError> {
    let mut p = namespace_to_profile(&ns.name, &ns.labels);
    let rv = if ns.resource_version.is_empty() {
        String::new()
    } else {
        format!("{}/", ns.resource_version)
    };
    source_meta(&mut p.metadata, &ns.uid, &ns.creation_timestamp, rv)?;
    Ok(p)
}

/// [`service_account_to_profile`] plus the metadata Calico copies from the ServiceAccount: UID
/// (converted with [`convert_uid`]), creation time, and resource version `/<rv>`.
///
/// Errors when the UID is not a UUID (an empty UID leaves the profile without one).
pub fn service_account_info_to_profile(
    sa: &ServiceAccountInfo,
) -> Result<Profile, ConversionError> {
    let mut p = service_account_to_profile(&sa.namespace, &sa.name, &sa.labels);
    let rv = if sa.resource_version.is_empty() {
        String::new()
    } else {
        format!("/{}", sa.resource_version)
    };
    source_meta(&mut p.metadata, &sa.uid, &sa.creation_timestamp, rv)?;
    Ok(p)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::resource::ResourceKind;
    use crate::validation::Validator;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn namespace_profile_shape() {
        let p = namespace_to_profile("default", &labels(&[("foo", "bar"), ("roger", "rabbit")]));
        assert_eq!(p.metadata.name, "kns.default");
        assert_eq!(p.spec.ingress, vec![Rule::new(Action::Allow)]);
        assert_eq!(p.spec.egress, vec![Rule::new(Action::Allow)]);
        assert_eq!(
            p.spec.labels_to_apply,
            labels(&[
                ("pcns.foo", "bar"),
                ("pcns.roger", "rabbit"),
                ("pcns.projectcalico.org/name", "default")
            ])
        );
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({
                "apiVersion": "projectcalico.org/v3",
                "kind": "Profile",
                "metadata": {"name": "kns.default"},
                "spec": {
                    "ingress": [{"action": "Allow"}],
                    "egress": [{"action": "Allow"}],
                    "labelsToApply": {
                        "pcns.foo": "bar",
                        "pcns.projectcalico.org/name": "default",
                        "pcns.roger": "rabbit"
                    }
                }
            })
        );
        // No labels: only the name label.
        let p = namespace_to_profile("default", &BTreeMap::new());
        assert_eq!(
            p.spec.labels_to_apply,
            labels(&[("pcns.projectcalico.org/name", "default")])
        );
        let mut v = Validator::new();
        p.validate_into(&mut v);
        assert!(v.is_ok(), "{:?}", v.finish());
    }

    #[test]
    fn service_account_profile_shape() {
        let p = service_account_to_profile("", "sa-test", &labels(&[("foo", "bar")]));
        assert_eq!(p.metadata.name, "ksa.default.sa-test");
        assert!(p.spec.ingress.is_empty() && p.spec.egress.is_empty());
        assert_eq!(
            p.spec.labels_to_apply,
            labels(&[
                ("pcsa.foo", "bar"),
                ("pcsa.projectcalico.org/name", "sa-test")
            ])
        );
        assert_eq!(
            service_account_to_profile("test", "sa-test", &BTreeMap::new())
                .metadata
                .name,
            "ksa.test.sa-test"
        );
        let mut v = Validator::new();
        p.validate_into(&mut v);
        assert!(v.is_ok(), "{:?}", v.finish());
    }

    #[test]
    fn profile_names_parse_back() {
        assert_eq!(namespace_from_profile_name("kns.default"), Some("default"));
        assert_eq!(
            namespace_from_profile_name("ns.projectcalico.org/default"),
            None
        );
        assert_eq!(
            service_account_from_profile_name("ksa.default.test"),
            Some(("default", "test"))
        );
        assert_eq!(
            service_account_from_profile_name("ksa.default.test.foo"),
            Some(("default", "test.foo"))
        );
        assert_eq!(service_account_from_profile_name("ksa.nodot"), None);
        assert_eq!(service_account_from_profile_name("kns.default.x"), None);
    }

    #[test]
    fn metadata_from_source_objects() {
        let ns = NamespaceInfo {
            name: "default".into(),
            uid: "30316465-6365-4463-ad63-3564622d3638".into(),
            resource_version: "1234".into(),
            creation_timestamp: Some("2024-01-02T03:04:05Z".into()),
            ..Default::default()
        };
        let p = namespace_info_to_profile(&ns).unwrap();
        assert_eq!(p.metadata.uid, "0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c");
        assert_eq!(p.metadata.resource_version, "1234/");
        assert_eq!(
            p.metadata.creation_timestamp.as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(namespace_info_to_profile(&ns).unwrap(), p, "deterministic");

        let sa = ServiceAccountInfo {
            namespace: "test".into(),
            name: "sa-test".into(),
            uid: "30316465-6365-4463-ad63-3564622d3638".into(),
            resource_version: "5678".into(),
            ..Default::default()
        };
        let p = service_account_info_to_profile(&sa).unwrap();
        assert_eq!(p.metadata.name, "ksa.test.sa-test");
        assert_eq!(p.metadata.uid, "0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c");
        assert_eq!(p.metadata.resource_version, "/5678");

        let bad = NamespaceInfo {
            name: "x".into(),
            uid: "not-a-uid".into(),
            ..Default::default()
        };
        assert!(matches!(
            namespace_info_to_profile(&bad),
            Err(ConversionError::InvalidUid(_))
        ));
        let bad = ServiceAccountInfo {
            name: "x".into(),
            uid: "nope".into(),
            ..Default::default()
        };
        assert!(service_account_info_to_profile(&bad).is_err());
    }
}
