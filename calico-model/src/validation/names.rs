//! Kubernetes name and label syntax checks (`k8s.io/apimachinery/pkg/util/validation`).

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// True for a DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 bytes.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && is_alnum_lower(b[0])
        && is_alnum_lower(b[b.len() - 1])
        && b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
}

/// True for a DNS-1123 subdomain: dot-separated DNS-1123 label syntax (no per-label length
/// limit, as in Calico's name regex), at most 253 bytes.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && !s.is_empty() && s.split('.').all(label_syntax)
}

/// DNS-1123 label syntax without the 63-byte limit.
pub(crate) fn label_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_alnum_lower(b[0])
        && is_alnum_lower(b[b.len() - 1])
        && b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
}

fn qualified_name_part(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err("name part must be non-empty".into());
    }
    if b.len() > 63 {
        return Err("name part must be no more than 63 characters".into());
    }
    let ok = b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if !ok {
        return Err("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into());
    }
    Ok(())
}

/// Checks a Kubernetes qualified name (`[prefix/]name`), as label and annotation keys must be.
pub fn is_qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => {
            if n.contains('/') {
                return Err(format!("{s:?}: a qualified name must have at most one '/'"));
            }
            (Some(p), n)
        }
        None => (None, s),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Err(format!("{s:?}: prefix part must be non-empty"));
        }
        if !is_dns1123_subdomain(p) {
            return Err(format!(
                "{s:?}: prefix part must be a lowercase DNS-1123 subdomain"
            ));
        }
    }
    qualified_name_part(name).map_err(|e| format!("{s:?}: {e}"))
}

/// Checks a label value: empty, or ≤ 63 bytes of alphanumerics, `-`, `_`, `.` starting and
/// ending with an alphanumeric.
pub fn is_valid_label_value(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    qualified_name_part(s).map_err(|_| {
        "a valid label value must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into()
    })
}

/// Checks an IANA service name as Kubernetes accepts for named ports: at most 15
/// characters, lower-case alphanumerics and `-`, at least one letter, no leading, trailing
/// or double `-`.
pub fn is_valid_port_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 15 {
        return Err("must be no more than 15 characters".into());
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        return Err(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into(),
        );
    }
    if s.contains("--") {
        return Err("must not contain consecutive hyphens".into());
    }
    if !s.bytes().any(|c| c.is_ascii_lowercase()) {
        return Err("must contain at least one letter (a-z)".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("must not begin or end with a hyphen".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        assert!(is_dns1123_subdomain("a"));
        assert!(is_dns1123_subdomain("a.b-c.d0"));
        assert!(!is_dns1123_subdomain("A"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(!is_dns1123_subdomain("a-"));
        assert!(!is_dns1123_subdomain(""));
        assert!(is_dns1123_subdomain(&"a".repeat(253)));
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));
    }

    #[test]
    fn labels() {
        assert!(is_dns1123_label("abc-1"));
        assert!(!is_dns1123_label("a.b"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
    }

    #[test]
    fn qualified_names() {
        assert!(is_qualified_name("app").is_ok());
        assert!(is_qualified_name("App_1.x").is_ok());
        assert!(is_qualified_name("projectcalico.org/namespace").is_ok());
        assert!(is_qualified_name("Example.com/x").is_err());
        assert!(is_qualified_name("/x").is_err());
        assert!(is_qualified_name("a/b/c").is_err());
        assert!(is_qualified_name("-x").is_err());
        assert!(is_qualified_name(&"a".repeat(64)).is_err());
        assert!(is_qualified_name("").is_err());
    }

    #[test]
    fn label_values() {
        assert!(is_valid_label_value("").is_ok());
        assert!(is_valid_label_value("Web_1.x").is_ok());
        assert!(is_valid_label_value("a b").is_err());
        assert!(is_valid_label_value("-a").is_err());
        assert!(is_valid_label_value(&"a".repeat(64)).is_err());
    }

    #[test]
    fn port_names() {
        assert!(is_valid_port_name("http").is_ok());
        assert!(is_valid_port_name("http-alt2").is_ok());
        assert!(is_valid_port_name("8080").is_err());
        assert!(is_valid_port_name("Http").is_err());
        assert!(is_valid_port_name("a--b").is_err());
        assert!(is_valid_port_name("-ab").is_err());
        assert!(is_valid_port_name("abcdefghijklmnop").is_err());
    }
}
