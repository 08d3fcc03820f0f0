//! `CNI_ARGS`: `K=V;K=V`, with libcni's `IgnoreUnknown` convention.

use super::error::{Error, Result};

/// The key that makes unknown keys acceptable.
pub const IGNORE_UNKNOWN: &str = "IgnoreUnknown";
/// Kubernetes pod namespace (set by kubelet/CRI).
pub const K8S_POD_NAMESPACE: &str = "K8S_POD_NAMESPACE";
/// Kubernetes pod name.
pub const K8S_POD_NAME: &str = "K8S_POD_NAME";
/// Kubernetes sandbox container ID.
pub const K8S_POD_INFRA_CONTAINER_ID: &str = "K8S_POD_INFRA_CONTAINER_ID";
/// Kubernetes pod UID.
pub const K8S_POD_UID: &str = "K8S_POD_UID";
/// A specific address to assign (calico-ipam).
pub const IP: &str = "IP";
/// Test override of the `cni` orchestrator's namespace (Calico's).
pub const CNI_TEST_NAMESPACE: &str = "CNI_TEST_NAMESPACE";

/// The keys our plugins understand.
pub const KNOWN_KEYS: &[&str] = &[
    IGNORE_UNKNOWN,
    K8S_POD_NAMESPACE,
    K8S_POD_NAME,
    K8S_POD_INFRA_CONTAINER_ID,
    K8S_POD_UID,
    IP,
    CNI_TEST_NAMESPACE,
];

/// Parsed `CNI_ARGS`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CniArgs {
    /// Every pair, in order (later duplicates win in [`CniArgs::get`]).
    pub pairs: Vec<(String, String)>,
}

impl CniArgs {
    /// Parses `K=V;K=V`. Empty segments are skipped; a segment without `=` is an error.
    /// Keys outside `known` are an error unless `IgnoreUnknown` is `1`/`true`
    /// (case-insensitive); pass `None` to accept any key.
    pub fn parse(text: &str, known: Option<&[&str]>) -> Result<Self> {
        let mut pairs = Vec::new();
        for segment in text.split(';') {
            if segment.is_empty() {
                continue;
            }
            let Some((k, v)) = segment.split_once('=') else {
                return Err(Error::InvalidEnv {
                    var: "CNI_ARGS".into(),
                    reason: format!("invalid pair {segment:?} (want KEY=VALUE)"),
                });
            };
            if k.is_empty() {
                return Err(Error::InvalidEnv {
                    var: "CNI_ARGS".into(),
                    reason: format!("empty key in {segment:?}"),
                });
            }
            pairs.push((k.to_owned(), v.to_owned()));
        }
        let args = CniArgs { pairs };
        if let Some(known) = known
            && !args.ignore_unknown()
        {
            let unknown: Vec<String> = args
                .pairs
                .iter()
                .filter(|(k, _)| !known.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if !unknown.is_empty() {
                return Err(Error::InvalidEnv {
                    var: "CNI_ARGS".into(),
                    reason: format!("unknown args {unknown:?} (add IgnoreUnknown=1)"),
                });
            }
        }
        Ok(args)
    }

    /// The value of `key` (the last one if repeated).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// True if `IgnoreUnknown` is `1` or `true`.
    pub fn ignore_unknown(&self) -> bool {
        self.get(IGNORE_UNKNOWN)
            .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
    }

    /// `IgnoreUnknown=1;` prepended to `raw` (what `calico` passes to its IPAM delegate).
    pub fn with_ignore_unknown(raw: &str) -> String {
        if raw.is_empty() {
            format!("{IGNORE_UNKNOWN}=1")
        } else {
            format!("{IGNORE_UNKNOWN}=1;{raw}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs() {
        let a = CniArgs::parse("K8S_POD_NAMESPACE=default;K8S_POD_NAME=nginx;;", None)
            .unwrap_or_default();
        assert_eq!(a.get(K8S_POD_NAME), Some("nginx"));
        assert_eq!(a.get(K8S_POD_NAMESPACE), Some("default"));
        assert_eq!(a.get("nope"), None);
        let v = CniArgs::parse("IP=10.0.0.1;IP=10.0.0.2", Some(KNOWN_KEYS)).unwrap_or_default();
        assert_eq!(v.get(IP), Some("10.0.0.2"));
        assert_eq!(
            CniArgs::parse("X=a=b", None).unwrap_or_default().get("X"),
            Some("a=b")
        );
    }

    #[test]
    fn errors_name_cni_args() {
        let e = CniArgs::parse("novalue", None)
            .err()
            .map(|e| (e.code(), e.to_string()));
        assert!(
            matches!(e, Some((4, ref m)) if m.contains("CNI_ARGS")),
            "{e:?}"
        );
        assert!(CniArgs::parse("=v", None).is_err());
        let e = CniArgs::parse("FOO=1", Some(KNOWN_KEYS))
            .err()
            .map(|e| e.code());
        assert_eq!(e, Some(4));
        assert!(CniArgs::parse("IgnoreUnknown=1;FOO=1", Some(KNOWN_KEYS)).is_ok());
        assert!(CniArgs::parse("FOO=1;IgnoreUnknown=true", Some(KNOWN_KEYS)).is_ok());
        assert!(CniArgs::parse("FOO=1;IgnoreUnknown=0", Some(KNOWN_KEYS)).is_err());
    }

    #[test]
    fn prepends_ignore_unknown() {
        assert_eq!(CniArgs::with_ignore_unknown(""), "IgnoreUnknown=1");
        assert_eq!(CniArgs::with_ignore_unknown("A=b"), "IgnoreUnknown=1;A=b");
    }
}
