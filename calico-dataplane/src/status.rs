//! Endpoint status files: the "policy is programmed" signal the CNI plugin waits on.
//!
//! As Felix's endpoint status file reporter does, the [`StatusWriter`] keeps one file per
//! local workload endpoint in `<prefix>/endpoint-status/` (prefix: Felix's
//! `EndpointStatusPathPrefix`, default `/var/run/calico`). A file appears once the
//! endpoint's policy has been applied and disappears when the endpoint goes.
//!
//! - **Name**: `<orchestrator> <workload> <endpoint>`, each part percent-escaped as a URL
//!   path segment (so `/` in the workload becomes `%2F` and the space separator never occurs
//!   inside a part). For Kubernetes the workload is `<namespace>/<pod>`, e.g.
//!   `k8s default%2Fweb eth0`.
//! - **Content**: JSON `{"ifaceName", "mac", "ipv4Nets", "ipv6Nets"}` (empty fields left out;
//!   Felix's `bgpPeerName` is never set here).
//!
//! Files are written atomically (a hidden temporary file renamed into place), so a reader
//! never sees a partial file. Nothing is written before the dataplane is in sync.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use calico_policy::ir::{WorkloadEndpoint, WorkloadEndpointId};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::state::DesiredState;

/// Felix's default `EndpointStatusPathPrefix`.
pub const DEFAULT_STATUS_PREFIX: &str = "/var/run/calico";

/// The directory under the prefix that holds the files.
pub const STATUS_DIR: &str = "endpoint-status";

/// The content of one status file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStatus {
    /// Host-side interface.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iface_name: String,
    /// MAC address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// IPv4 addresses (CIDR).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv4_nets: Vec<String>,
    /// IPv6 addresses (CIDR).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6_nets: Vec<String>,
    /// Local BGP peer name (unused here).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bgp_peer_name: String,
}

impl EndpointStatus {
    /// The status of an endpoint.
    pub fn of(wep: &WorkloadEndpoint) -> Self {
        EndpointStatus {
            iface_name: wep.interface_name.clone(),
            mac: wep.mac.clone(),
            ipv4_nets: wep.ipv4_nets.iter().map(ToString::to_string).collect(),
            ipv6_nets: wep.ipv6_nets.iter().map(ToString::to_string).collect(),
            bgp_peer_name: String::new(),
        }
    }
}

/// Splits a WorkloadEndpoint v3 name (`<node>-<orchestrator>-<workload>-<endpoint>`, with
/// `-` inside a part doubled) into its four parts.
fn split_wep_name(name: &str) -> Option<[String; 4]> {
    let mut parts = vec![String::new()];
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '-' {
            if chars.peek() == Some(&'-') {
                chars.next();
                parts.last_mut()?.push('-');
            } else {
                parts.push(String::new());
            }
        } else {
            parts.last_mut()?.push(c);
        }
    }
    <[String; 4]>::try_from(parts).ok()
}

/// Escapes a string as Go's `url.PathEscape` does: everything but unreserved characters and
/// the sub-delimiters allowed in a path segment becomes `%XX`.
fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'~'
                    | b'$'
                    | b'&'
                    | b'+'
                    | b','
                    | b':'
                    | b';'
                    | b'='
                    | b'@'
                    | b'!'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
            );
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The status file name of an endpoint (see the [module docs](self)). A name that does not
/// follow Calico's `<node>-<orchestrator>-<workload>-<endpoint>` pattern is treated as a
/// Kubernetes pod named after the whole WorkloadEndpoint on `eth0`.
pub fn status_filename(id: &WorkloadEndpointId) -> String {
    let (orchestrator, workload, endpoint) = match split_wep_name(&id.name) {
        Some([_node, orch, workload, endpoint]) if orch == "k8s" => {
            (orch, format!("{}/{workload}", id.namespace), endpoint)
        }
        Some([_node, orch, workload, endpoint]) => (orch, workload, endpoint),
        None => (
            "k8s".to_owned(),
            format!("{}/{}", id.namespace, id.name),
            "eth0".to_owned(),
        ),
    };
    format!(
        "{} {} {}",
        path_escape(&orchestrator),
        path_escape(&workload),
        path_escape(&endpoint)
    )
}

/// Writes and removes endpoint status files. See the [module docs](self).
#[derive(Debug)]
pub struct StatusWriter {
    dir: PathBuf,
    /// File name → content, as written.
    written: BTreeMap<String, String>,
}

impl StatusWriter {
    /// A writer under `prefix` (files go to `<prefix>/endpoint-status/`).
    pub fn new(prefix: impl AsRef<Path>) -> Self {
        StatusWriter {
            dir: prefix.as_ref().join(STATUS_DIR),
            written: BTreeMap::new(),
        }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of files written.
    pub fn len(&self) -> usize {
        self.written.len()
    }

    /// True if no file is written.
    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    fn desired(state: &DesiredState) -> Result<BTreeMap<String, String>> {
        state
            .workload_endpoints
            .values()
            .map(|wep| {
                let content =
                    serde_json::to_string(&EndpointStatus::of(wep)).map_err(|e| Error::Config {
                        field: format!("endpoint status of {}", wep.id),
                        reason: e.to_string(),
                    })?;
                Ok((status_filename(&wep.id), content))
            })
            .collect()
    }

    fn ensure_dir(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("creating {}", self.dir.display()), e))
    }

    fn write(&self, name: &str, content: &str) -> Result<()> {
        let tmp = self.dir.join(format!(".tmp-{name}"));
        let path = self.dir.join(name);
        std::fs::write(&tmp, content)
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| Error::io(format!("renaming to {}", path.display()), e))
    }

    fn remove(&self, name: &str) -> Result<()> {
        let path = self.dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
        }
    }

    /// Writes files for new or changed endpoints and removes those of endpoints that are
    /// gone. Returns the number of files written or removed. Nothing before in sync.
    pub fn apply(&mut self, state: &DesiredState) -> Result<usize> {
        if !state.in_sync {
            return Ok(0);
        }
        let desired = Self::desired(state)?;
        self.ensure_dir()?;
        let mut changed = 0;
        let gone: Vec<String> = self
            .written
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .cloned()
            .collect();
        for name in gone {
            self.remove(&name)?;
            self.written.remove(&name);
            changed += 1;
        }
        for (name, content) in desired {
            if self.written.get(&name) == Some(&content) {
                continue;
            }
            self.write(&name, &content)?;
            self.written.insert(name, content);
            changed += 1;
        }
        Ok(changed)
    }

    /// Reads the directory, removes files of endpoints that are not desired (left by an
    /// earlier run, or stray) and rewrites missing or altered ones.
    pub fn resync(&mut self, state: &DesiredState) -> Result<usize> {
        if !state.in_sync {
            return Ok(0);
        }
        self.ensure_dir()?;
        let desired = Self::desired(state)?;
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io(format!("listing {}", self.dir.display()), e))?;
        let mut changed = 0;
        self.written.clear();
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::io(format!("listing {}", self.dir.display()), e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            match desired.get(&name) {
                Some(content) => {
                    if std::fs::read_to_string(entry.path()).ok().as_ref() == Some(content) {
                        self.written.insert(name, content.clone());
                    }
                }
                None => {
                    self.remove(&name)?;
                    changed += 1;
                }
            }
        }
        for (name, content) in desired {
            if self.written.contains_key(&name) {
                continue;
            }
            self.write(&name, &content)?;
            self.written.insert(name, content);
            changed += 1;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ns: &str, name: &str) -> WorkloadEndpointId {
        WorkloadEndpointId {
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn file_names_follow_felix() {
        assert_eq!(
            status_filename(&id("default", "node--1-k8s-web-eth0")),
            "k8s default%2Fweb eth0"
        );
        assert_eq!(
            status_filename(&id("prod", "n1-k8s-my--pod-eth0")),
            "k8s prod%2Fmy-pod eth0"
        );
        assert_eq!(
            status_filename(&id("default", "n1-cni-abc123-eth0")),
            "cni abc123 eth0"
        );
        assert_eq!(
            status_filename(&id("ns", "odd name")),
            "k8s ns%2Fodd%20name eth0"
        );
    }
}
