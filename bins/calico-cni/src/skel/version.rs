//! CNI spec versions: what we support and which commands each version allows.

use super::error::{Error, Result};

/// The CNI spec versions both plugins accept (exact match, as libcni negotiates).
pub const SUPPORTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The newest supported version (used when a VERSION request names none).
pub const LATEST: &str = "1.1.0";

/// The version assumed when a configuration has no `cniVersion` (Calico's default; it is
/// not supported, so such a configuration is refused with code 1).
pub const DEFAULT_WHEN_MISSING: &str = "0.2.0";

/// A version as `(major, minor, patch)`, or `None` if it does not parse.
pub fn parse(version: &str) -> Option<(u32, u32, u32)> {
    let mut it = version.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    let patch = it.next().map_or(Some(0), |p| p.parse().ok())?;
    if it.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// True if `version` is at least `min` (unparsable versions are never).
pub fn at_least(version: &str, min: (u32, u32, u32)) -> bool {
    parse(version).is_some_and(|v| v >= min)
}

/// Checks that `version` is supported and allows `command` (CHECK needs 0.4.0, GC and
/// STATUS need 1.1.0).
pub fn check(version: &str, command: super::Command) -> Result<()> {
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(Error::IncompatibleVersion {
            version: version.to_owned(),
            reason: format!("config is \"{version}\", plugin supports {SUPPORTED_VERSIONS:?}"),
        });
    }
    let min = match command {
        super::Command::Check => Some(((0, 4, 0), "CHECK", "0.4.0")),
        super::Command::Gc => Some(((1, 1, 0), "GC", "1.1.0")),
        super::Command::Status => Some(((1, 1, 0), "STATUS", "1.1.0")),
        _ => None,
    };
    if let Some((min, name, text)) = min
        && !at_least(version, min)
    {
        return Err(Error::IncompatibleVersion {
            version: version.to_owned(),
            reason: format!(
                "config version \"{version}\" does not allow {name} (needs {text} or later)"
            ),
        });
    }
    Ok(())
}

/// The output of VERSION: `{"cniVersion": <request's>, "supportedVersions": [...]}`.
pub fn version_json(request_version: &str) -> serde_json::Value {
    serde_json::json!({
        "cniVersion": request_version,
        "supportedVersions": SUPPORTED_VERSIONS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skel::Command;

    #[test]
    fn versions() {
        assert!(check("1.0.0", Command::Add).is_ok());
        assert_eq!(check("0.2.0", Command::Add).map_err(|e| e.code()), Err(1));
        assert_eq!(check("2.0.0", Command::Add).map_err(|e| e.code()), Err(1));
        assert_eq!(check("0.3.1", Command::Check).map_err(|e| e.code()), Err(1));
        assert!(check("0.4.0", Command::Check).is_ok());
        assert_eq!(check("1.0.0", Command::Gc).map_err(|e| e.code()), Err(1));
        assert!(check("1.1.0", Command::Status).is_ok());
        assert!(at_least("1.0.0", (0, 4, 0)));
        assert!(!at_least("garbage", (0, 0, 0)));
        let e = check("9.9.9", Command::Add)
            .err()
            .map(|e| e.details())
            .unwrap_or_default();
        assert!(e.contains("1.1.0") && e.contains("0.3.0"), "{e}");
    }
}
