//! The network configuration of `type: calico` (and `calico-ipam`, which reads the same
//! object): Calico's fields, their defaults, and validation whose errors name the field.
//! Unknown keys are tolerated: runtimes add their own.

use std::path::{Path, PathBuf};

use calico_datastore::{DatastoreConfig, EtcdConfig};
use ipnet::IpNet;
use serde::Deserialize;

use crate::skel::{self, Error, Result};

/// Default embedded datastore file.
pub const DEFAULT_DATASTORE_PATH: &str = "/var/lib/calico/datastore.db";
/// Default node name file (written by calico-node).
pub const DEFAULT_NODENAME_FILE: &str = "/var/lib/calico/nodename";
/// MTU file written by calico-node, read when `mtu` is 0.
pub const DEFAULT_MTU_FILE: &str = "/var/lib/calico/mtu";
/// MTU when neither the config nor the MTU file gives one.
pub const FALLBACK_MTU: u32 = 1500;
/// Default directory of Felix's endpoint status files.
pub const DEFAULT_ENDPOINT_STATUS_DIR: &str = "/var/run/calico/endpoint-status";
/// Default host-wide IPAM lock file.
pub const DEFAULT_IPAM_LOCK_FILE: &str = "/var/run/calico/ipam.lock";
/// The key of GC's list of attachments still in use.
pub const VALID_ATTACHMENTS: &str = "cni.dev/valid-attachments";

/// The IPAM section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct IpamConf {
    /// The IPAM plugin (`calico-ipam`, `host-local`, …).
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `"true"`/`"false"`: assign an IPv4 address (default true).
    #[serde(default)]
    pub assign_ipv4: Option<String>,
    /// `"true"`/`"false"`: assign an IPv6 address (default false).
    #[serde(default)]
    pub assign_ipv6: Option<String>,
    /// IPv4 pools to use (names or CIDRs).
    #[serde(default)]
    pub ipv4_pools: Vec<String>,
    /// IPv6 pools to use (names or CIDRs).
    #[serde(default)]
    pub ipv6_pools: Vec<String>,
}

impl IpamConf {
    /// Whether to assign IPv4 (`assign_ipv4` is not `"false"`).
    pub fn want_ipv4(&self) -> bool {
        self.assign_ipv4.as_deref() != Some("false")
    }
    /// Whether to assign IPv6 (`assign_ipv6` is `"true"`).
    pub fn want_ipv6(&self) -> bool {
        self.assign_ipv6.as_deref() == Some("true")
    }
}

/// The `policy` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct PolicyConf {
    /// `k8s` or empty.
    #[serde(rename = "type", default)]
    pub type_: String,
}

/// The `kubernetes` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct KubernetesConf {
    /// Kubeconfig path.
    #[serde(default)]
    pub kubeconfig: String,
    /// Node name override.
    #[serde(default)]
    pub node_name: String,
}

/// The `container_settings` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ContainerSettings {
    /// Enable IP forwarding inside the pod (default off: set to 0 explicitly).
    #[serde(default)]
    pub allow_ip_forwarding: bool,
}

/// The `feature_control` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct FeatureControl {
    /// Allow the `ipAddrsNoIpam` annotation.
    #[serde(default)]
    pub ip_addrs_no_ipam: bool,
    /// Allow the `floatingIPs` annotation.
    #[serde(default)]
    pub floating_ips: bool,
}

/// One entry of `cni.dev/valid-attachments`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Attachment {
    /// Container ID.
    #[serde(rename = "containerID", default)]
    pub container_id: String,
    /// Interface name.
    #[serde(default)]
    pub ifname: String,
}

/// Which datastore the plugins use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DatastoreType {
    /// The embedded store file (default).
    #[default]
    Embedded,
    /// etcd v3.
    Etcdv3,
    /// An in-process store (tests only: every invocation starts empty).
    Memory,
}

/// The `type: calico` network configuration.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct NetConf {
    /// CNI version.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// Network name (profile name and IPAM handle prefix).
    #[serde(default)]
    pub name: String,
    /// Plugin type.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `embedded` (default), `etcdv3` or `memory`.
    #[serde(default)]
    pub datastore_type: String,
    /// Comma-separated etcd URLs.
    #[serde(default)]
    pub etcd_endpoints: String,
    /// etcd client key.
    #[serde(default)]
    pub etcd_key_file: String,
    /// etcd client certificate.
    #[serde(default)]
    pub etcd_cert_file: String,
    /// etcd CA certificate.
    #[serde(default)]
    pub etcd_ca_cert_file: String,
    /// The embedded datastore file.
    #[serde(default)]
    pub datastore_path: Option<PathBuf>,
    /// Node name (highest precedence).
    #[serde(default)]
    pub nodename: String,
    /// File holding the node name.
    #[serde(default)]
    pub nodename_file: Option<PathBuf>,
    /// Do not require the node name file.
    #[serde(default)]
    pub nodename_file_optional: bool,
    /// Veth MTU (0: the MTU file, else 1500).
    #[serde(default)]
    pub mtu: u32,
    /// IPAM.
    #[serde(default)]
    pub ipam: IpamConf,
    /// Policy.
    #[serde(default)]
    pub policy: PolicyConf,
    /// Kubernetes.
    #[serde(default)]
    pub kubernetes: KubernetesConf,
    /// Log level (`debug`, `info`, `warning`, `error`).
    #[serde(default)]
    pub log_level: String,
    /// Log file.
    #[serde(default)]
    pub log_file_path: String,
    /// Container settings.
    #[serde(default)]
    pub container_settings: ContainerSettings,
    /// Feature gates.
    #[serde(default)]
    pub feature_control: FeatureControl,
    /// Wait this long for Felix's endpoint status file (0: don't wait).
    #[serde(default)]
    pub policy_setup_timeout_seconds: u64,
    /// Directory of Felix's endpoint status files.
    #[serde(default)]
    pub endpoint_status_dir: Option<PathBuf>,
    /// Host-wide IPAM lock file.
    #[serde(default)]
    pub ipam_lock_file: Option<PathBuf>,
    /// Veth queues (0/1: one).
    #[serde(default)]
    pub num_queues: u32,
    /// With custom IPAM routes, also add default routes.
    #[serde(default)]
    pub include_default_routes: bool,
    /// The previous plugin's (ADD) or the final (CHECK/DEL) result.
    #[serde(rename = "prevResult", default)]
    pub prev_result: Option<serde_json::Value>,
    /// GC: attachments still in use.
    #[serde(rename = "cni.dev/valid-attachments", default)]
    pub valid_attachments: Option<Vec<Attachment>>,
}

impl NetConf {
    /// Parses and validates a configuration.
    pub fn from_value(value: &serde_json::Value) -> Result<Self> {
        let conf: NetConf = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            Error::config(
                if path == "." { "(config)".into() } else { path },
                e.into_inner().to_string(),
            )
        })?;
        conf.validate()?;
        Ok(conf)
    }

    /// Checks the values; the error names the field.
    pub fn validate(&self) -> Result<()> {
        skel::validate_network_name(&self.name)?;
        self.datastore()?;
        for (field, v) in [
            ("ipam.assign_ipv4", &self.ipam.assign_ipv4),
            ("ipam.assign_ipv6", &self.ipam.assign_ipv6),
        ] {
            if let Some(v) = v
                && v != "true"
                && v != "false"
            {
                return Err(Error::config(
                    field,
                    format!("must be \"true\" or \"false\", not {v:?}"),
                ));
            }
        }
        for (field, pools, v4) in [
            ("ipam.ipv4_pools", &self.ipam.ipv4_pools, true),
            ("ipam.ipv6_pools", &self.ipam.ipv6_pools, false),
        ] {
            for (i, p) in pools.iter().enumerate() {
                if p.contains('/') {
                    match p.parse::<IpNet>() {
                        Ok(net) if net.addr().is_ipv4() == v4 => {}
                        Ok(_) => {
                            return Err(Error::config(
                                format!("{field}[{i}]"),
                                format!("{p} is not an IPv{} CIDR", if v4 { 4 } else { 6 }),
                            ));
                        }
                        Err(e) => {
                            return Err(Error::config(
                                format!("{field}[{i}]"),
                                format!("invalid CIDR {p:?}: {e}"),
                            ));
                        }
                    }
                } else if p.is_empty() {
                    return Err(Error::config(format!("{field}[{i}]"), "empty pool name"));
                }
            }
        }
        if self.mtu != 0 && !(68..=65535).contains(&self.mtu) {
            return Err(Error::config(
                "mtu",
                format!("{} is outside 68–65535", self.mtu),
            ));
        }
        if self.num_queues > 256 {
            return Err(Error::config("num_queues", "at most 256"));
        }
        if !matches!(self.policy.type_.as_str(), "" | "k8s") {
            return Err(Error::config(
                "policy.type",
                format!(
                    "unknown policy type {:?} (want \"k8s\" or none)",
                    self.policy.type_
                ),
            ));
        }
        Ok(())
    }

    /// The datastore type.
    pub fn datastore_type(&self) -> Result<DatastoreType> {
        match self.datastore_type.as_str() {
            "" | "embedded" => Ok(DatastoreType::Embedded),
            "etcdv3" => Ok(DatastoreType::Etcdv3),
            "memory" => Ok(DatastoreType::Memory),
            "kubernetes" => Err(Error::config(
                "datastore_type",
                "the Kubernetes datastore is not supported yet (use embedded or etcdv3)",
            )),
            other => Err(Error::config(
                "datastore_type",
                format!("unknown datastore type {other:?} (want embedded, etcdv3 or memory)"),
            )),
        }
    }

    /// How to connect to the datastore.
    pub fn datastore(&self) -> Result<DatastoreConfig> {
        let file = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
        Ok(match self.datastore_type()? {
            DatastoreType::Embedded => DatastoreConfig::Embedded {
                path: self
                    .datastore_path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATASTORE_PATH)),
            },
            DatastoreType::Memory => DatastoreConfig::Memory,
            DatastoreType::Etcdv3 => {
                let endpoints: Vec<String> = self
                    .etcd_endpoints
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if endpoints.is_empty() {
                    return Err(Error::config(
                        "etcd_endpoints",
                        "required with datastore_type etcdv3",
                    ));
                }
                DatastoreConfig::Etcd(EtcdConfig {
                    endpoints,
                    ca_cert_file: file(&self.etcd_ca_cert_file),
                    cert_file: file(&self.etcd_cert_file),
                    key_file: file(&self.etcd_key_file),
                    username: None,
                    password: None,
                })
            }
        })
    }

    /// The node name: `nodename`, else the node name file, else `kubernetes.node_name`,
    /// else the host name. Unless `nodename_file_optional`, the file must exist (as
    /// Calico requires: it proves calico-node has run on this host).
    pub fn node_name(&self) -> Result<String> {
        let path = self
            .nodename_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_NODENAME_FILE));
        let from_file = match std::fs::read_to_string(&path) {
            Ok(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.nodename_file_optional => {
                None
            }
            Err(e) => {
                return Err(Error::config(
                    "nodename_file",
                    format!(
                        "{}: {e}: check that the calico/node container is running and has mounted /var/lib/calico/",
                        path.display()
                    ),
                ));
            }
        };
        if !self.nodename.is_empty() {
            return Ok(self.nodename.clone());
        }
        if let Some(n) = from_file {
            return Ok(n);
        }
        if !self.kubernetes.node_name.is_empty() {
            return Ok(self.kubernetes.node_name.clone());
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_lowercase())
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::config("nodename", "no node name configured and no host name"))
    }

    /// The veth MTU: `mtu`, else the MTU file calico-node writes, else 1500.
    pub fn resolved_mtu(&self) -> u32 {
        if self.mtu != 0 {
            return self.mtu;
        }
        read_mtu_file(Path::new(DEFAULT_MTU_FILE)).unwrap_or(FALLBACK_MTU)
    }

    /// GC's `cni.dev/valid-attachments`; required (an absent list must not read as "none
    /// valid", which would remove every attachment of the node).
    pub fn valid_attachments(&self) -> Result<&[Attachment]> {
        self.valid_attachments
            .as_deref()
            .ok_or_else(|| Error::config(VALID_ATTACHMENTS, "required for GC"))
    }

    /// The endpoint status directory.
    pub fn endpoint_status_dir(&self) -> PathBuf {
        self.endpoint_status_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ENDPOINT_STATUS_DIR))
    }

    /// The IPAM lock file.
    pub fn ipam_lock_file(&self) -> PathBuf {
        self.ipam_lock_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_IPAM_LOCK_FILE))
    }
}

fn read_mtu_file(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|m| (68..=65535).contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: serde_json::Value) -> (u32, String) {
        match NetConf::from_value(&v) {
            Ok(_) => (0, String::new()),
            Err(e) => (e.code(), e.to_string()),
        }
    }

    #[test]
    fn minimal_config_defaults() {
        let c = NetConf::from_value(
            &json!({"cniVersion":"1.0.0","name":"net","type":"calico","extra":{"x":1}}),
        );
        let c = c.unwrap_or_default();
        assert_eq!(c.name, "net");
        assert_eq!(c.datastore_type().ok(), Some(DatastoreType::Embedded));
        assert!(
            matches!(c.datastore(), Ok(DatastoreConfig::Embedded { path }) if path == Path::new(DEFAULT_DATASTORE_PATH))
        );
        assert!(c.ipam.want_ipv4() && !c.ipam.want_ipv6());
        assert_eq!(
            c.endpoint_status_dir(),
            PathBuf::from(DEFAULT_ENDPOINT_STATUS_DIR)
        );
        assert_eq!(c.ipam_lock_file(), PathBuf::from(DEFAULT_IPAM_LOCK_FILE));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({"name":"bad name"}), "name"),
            (
                json!({"name":"n","datastore_type":"zookeeper"}),
                "datastore_type",
            ),
            (
                json!({"name":"n","datastore_type":"etcdv3"}),
                "etcd_endpoints",
            ),
            (
                json!({"name":"n","ipam":{"assign_ipv4":"yes"}}),
                "ipam.assign_ipv4",
            ),
            (
                json!({"name":"n","ipam":{"ipv4_pools":["10.0.0.0/33"]}}),
                "ipam.ipv4_pools[0]",
            ),
            (
                json!({"name":"n","ipam":{"ipv6_pools":["10.0.0.0/8"]}}),
                "ipam.ipv6_pools[0]",
            ),
            (json!({"name":"n","mtu":"big"}), "mtu"),
            (json!({"name":"n","mtu":20}), "mtu"),
            (
                json!({"name":"n","ipam":{"assign_ipv4":true}}),
                "ipam.assign_ipv4",
            ),
            (json!({"name":"n","policy":{"type":"x"}}), "policy.type"),
            (
                json!({"name":"n","container_settings":{"allow_ip_forwarding":"x"}}),
                "container_settings.allow_ip_forwarding",
            ),
        ];
        for (conf, field) in cases {
            let (code, msg) = err(conf.clone());
            assert_eq!(code, 7, "{conf} → {msg}");
            assert!(msg.contains(field), "{conf}: {msg} should name {field}");
        }
    }

    #[test]
    fn etcd_and_node_name() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("nodename");
        let c = NetConf::from_value(&json!({"name":"n","datastore_type":"etcdv3","etcd_endpoints":"http://a:2379, http://b:2379",
            "nodename_file": file})).unwrap_or_default();
        assert!(matches!(c.datastore(), Ok(DatastoreConfig::Etcd(e)) if e.endpoints.len() == 2));
        assert_eq!(c.node_name().map_err(|e| e.code()), Err(7));
        std::fs::write(&file, "node-1\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.node_name().ok().as_deref(), Some("node-1"));
        let mut c2 = c.clone();
        c2.nodename = "explicit".into();
        assert_eq!(c2.node_name().ok().as_deref(), Some("explicit"));
        let mut c3 = c.clone();
        c3.nodename_file = Some(dir.path().join("absent"));
        c3.nodename_file_optional = true;
        c3.kubernetes.node_name = "k".into();
        assert_eq!(c3.node_name().ok().as_deref(), Some("k"));
    }
}
