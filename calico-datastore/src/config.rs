//! Datastore configuration: which backend and how to reach it.
//!
//! The names follow Calico's: the environment variables `DATASTORE_TYPE`, `ETCD_ENDPOINTS`,
//! `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`, `ETCD_USERNAME`, `ETCD_PASSWORD`
//! and `KUBECONFIG` (each also accepted with a `CALICO_` prefix, which wins), and
//! calicoctl's `CalicoAPIConfig` file (`/etc/calico/calicoctl.cfg`). Ours adds the
//! `embedded` (the default) and `memory` datastore types and `CALICO_DATASTORE_PATH` /
//! `spec.datastorePath` for the embedded file.
//!
//! ```
//! use std::collections::HashMap;
//! use calico_datastore::DatastoreConfig;
//!
//! let env = HashMap::from([
//!     ("DATASTORE_TYPE".to_owned(), "etcdv3".to_owned()),
//!     ("ETCD_ENDPOINTS".to_owned(), "https://10.0.0.1:2379,https://10.0.0.2:2379".to_owned()),
//! ]);
//! let DatastoreConfig::Etcd(etcd) = DatastoreConfig::from_env_map(&env)? else { panic!() };
//! assert_eq!(etcd.endpoints.len(), 2);
//!
//! let file = "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  datastoreType: memory\n";
//! assert_eq!(DatastoreConfig::from_yaml(file)?, DatastoreConfig::Memory);
//! # Ok::<(), calico_datastore::Error>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::api::Datastore;
use crate::error::{Error, Result};

/// Default location of the embedded datastore file.
pub const DEFAULT_EMBEDDED_PATH: &str = "/var/lib/calico/datastore.db";

/// Which datastore to use, with its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatastoreConfig {
    /// The embedded store in one file shared by every process on this machine.
    Embedded {
        /// The database file.
        path: PathBuf,
    },
    /// An in-process store (lost when the process exits; for tests and embedding).
    Memory,
    /// etcd v3.
    Etcd(EtcdConfig),
    /// The Kubernetes API (not supported yet).
    Kubernetes {
        /// The kubeconfig file, if not in-cluster.
        kubeconfig: Option<PathBuf>,
        /// The kubeconfig context to use (`k8sCurrentContext`, `K8S_CURRENT_CONTEXT`,
        /// calicoctl's `--context`); the kubeconfig's current context if `None`.
        context: Option<String>,
    },
}

impl Default for DatastoreConfig {
    fn default() -> Self {
        DatastoreConfig::Embedded {
            path: PathBuf::from(DEFAULT_EMBEDDED_PATH),
        }
    }
}

/// How to reach etcd.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Client URLs, e.g. `https://10.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// CA certificate (PEM) to verify the servers with.
    pub ca_cert_file: Option<PathBuf>,
    /// Client certificate (PEM).
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM).
    pub key_file: Option<PathBuf>,
    /// User name for etcd authentication.
    pub username: Option<String>,
    /// Password for etcd authentication. Never printed.
    pub password: Option<String>,
}

impl fmt::Debug for EtcdConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdConfig")
            .field("endpoints", &self.endpoints)
            .field("ca_cert_file", &self.ca_cert_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Opens the configured datastore.
pub async fn connect(config: &DatastoreConfig) -> Result<Arc<dyn Datastore>> {
    match config {
        #[cfg(feature = "embedded")]
        DatastoreConfig::Embedded { path } => {
            Ok(Arc::new(crate::embedded::EmbeddedDatastore::open(path)?))
        }
        #[cfg(not(feature = "embedded"))]
        DatastoreConfig::Embedded { .. } => Err(Error::config(
            "DATASTORE_TYPE",
            "this build has no embedded datastore (cargo feature `embedded`)",
        )),
        DatastoreConfig::Memory => Ok(Arc::new(crate::memory::MemoryDatastore::new())),
        #[cfg(feature = "etcd")]
        DatastoreConfig::Etcd(etcd) => Ok(Arc::new(crate::etcd::connect(etcd).await?)),
        #[cfg(not(feature = "etcd"))]
        DatastoreConfig::Etcd(_) => Err(Error::config(
            "DATASTORE_TYPE",
            "this build has no etcd support (cargo feature `etcd`)",
        )),
        DatastoreConfig::Kubernetes { .. } => Err(Error::config(
            "DATASTORE_TYPE",
            "the kubernetes datastore is not supported yet; use embedded or etcdv3",
        )),
    }
}

/// calicoctl's default configuration file.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/calico/calicoctl.cfg";

/// The `apiVersion` a configuration file must have.
pub const CONFIG_API_VERSION: &str = "projectcalico.org/v3";

/// The `kind` a configuration file must have.
pub const CONFIG_KIND: &str = "CalicoAPIConfig";

/// The prefix calicoctl also accepts on every environment variable (and prefers).
pub const ENV_PREFIX: &str = "CALICO_";

/// The field name [`DatastoreConfig::from_yaml`] reports problems of the whole document
/// under ([`DatastoreConfig::from_file`] replaces it with the file's path).
pub const FILE_FIELD: &str = "<file>";

/// The datastore types [`DatastoreConfig`] understands, as written in `DATASTORE_TYPE`.
pub const DATASTORE_TYPES: &[&str] = &["etcdv3", "kubernetes", "embedded", "memory"];

/// How a configuration value is typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldType {
    Text,
    Bool,
    Float,
}

/// One field of `CalicoAPIConfigSpec`: its JSON name, its environment variable (without
/// the `CALICO_` prefix; `None` for fields calicoctl reads only from files) and its type.
struct FieldSpec {
    json: &'static str,
    env: Option<&'static str>,
    ty: FieldType,
}

const fn text(json: &'static str, env: Option<&'static str>) -> FieldSpec {
    FieldSpec {
        json,
        env,
        ty: FieldType::Text,
    }
}

/// Every field calicoctl's `CalicoAPIConfigSpec` accepts (libcalico-go `apiconfig`), plus
/// our `datastorePath`.
const FIELDS: &[FieldSpec] = &[
    text("datastoreType", Some("DATASTORE_TYPE")),
    text("etcdEndpoints", Some("ETCD_ENDPOINTS")),
    text("etcdDiscoverySrv", Some("ETCD_DISCOVERY_SRV")),
    text("etcdUsername", Some("ETCD_USERNAME")),
    text("etcdPassword", Some("ETCD_PASSWORD")),
    text("etcdKeyFile", Some("ETCD_KEY_FILE")),
    text("etcdCertFile", Some("ETCD_CERT_FILE")),
    text("etcdCACertFile", Some("ETCD_CA_CERT_FILE")),
    text("etcdKey", None),
    text("etcdCert", None),
    text("etcdCACert", None),
    text("kubeconfig", Some("KUBECONFIG")),
    text("k8sAPIEndpoint", Some("K8S_API_ENDPOINT")),
    text("k8sKeyFile", Some("K8S_KEY_FILE")),
    text("k8sCertFile", Some("K8S_CERT_FILE")),
    text("k8sCAFile", Some("K8S_CA_FILE")),
    text("k8sAPIToken", None),
    FieldSpec {
        json: "k8sInsecureSkipTLSVerify",
        env: Some("K8S_INSECURE_SKIP_TLS_VERIFY"),
        ty: FieldType::Bool,
    },
    FieldSpec {
        json: "k8sDisableNodePoll",
        env: Some("K8S_DISABLE_NODE_POLL"),
        ty: FieldType::Bool,
    },
    FieldSpec {
        json: "usePodCIDR",
        env: Some("USE_POD_CIDR"),
        ty: FieldType::Bool,
    },
    text("kubeconfigInline", None),
    FieldSpec {
        json: "k8sClientQPS",
        env: Some("K8S_CLIENT_QPS"),
        ty: FieldType::Float,
    },
    text("k8sCurrentContext", Some("K8S_CURRENT_CONTEXT")),
    text("calicoAPIGroup", Some("CALICO_API_GROUP")),
    text("datastorePath", Some("DATASTORE_PATH")),
];

/// The settings found in one source, each with the name it was found under (the
/// environment variable or the file's field path) for error messages.
#[derive(Default)]
struct RawSettings {
    values: HashMap<&'static str, (String, String)>,
}

impl RawSettings {
    /// The value of a field, empty if not set.
    fn get(&self, json: &str) -> &str {
        self.values.get(json).map_or("", |(v, _)| v.as_str())
    }

    /// The name to report a problem with a field under.
    fn origin(&self, json: &'static str, fallback: impl FnOnce() -> String) -> String {
        self.values
            .get(json)
            .map_or_else(fallback, |(_, origin)| origin.clone())
    }

    fn set(&mut self, json: &'static str, value: String, origin: String) {
        self.values.insert(json, (value, origin));
    }
}

/// The `spec` of a configuration file with every scalar read as written.
#[derive(serde::Deserialize)]
struct VerbatimSpec {
    #[serde(default)]
    spec: Option<std::collections::BTreeMap<String, Option<String>>>,
}

/// Reads a boolean as Go's `strconv.ParseBool` does (calicoctl's environment parser).
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl DatastoreConfig {
    /// Reads the configuration from this process's environment (see
    /// [`DatastoreConfig::from_env_map`]).
    pub fn from_env() -> Result<Self> {
        let env: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::from_env_map(&env)
    }

    /// Reads the configuration from environment variables, as calicoctl does: each
    /// variable (`DATASTORE_TYPE`, `ETCD_ENDPOINTS`, …) is looked up first with the
    /// `CALICO_` prefix and then without it; a variable that is set but empty counts as
    /// set. `CALICO_DATASTORE_PATH` names the embedded store's file.
    ///
    /// With no datastore type, `etcdv3` is chosen when etcd endpoints are given (as
    /// calicoctl does) and `embedded` otherwise (calicoctl would choose `kubernetes`).
    pub fn from_env_map(env: &HashMap<String, String>) -> Result<Self> {
        let mut raw = RawSettings::default();
        for field in FIELDS {
            let Some(name) = field.env else { continue };
            let prefixed = format!("{ENV_PREFIX}{name}");
            let found = env
                .get(&prefixed)
                .map(|v| (v, prefixed.clone()))
                .or_else(|| env.get(name).map(|v| (v, name.to_owned())));
            let Some((value, origin)) = found else {
                continue;
            };
            match field.ty {
                FieldType::Text => {}
                FieldType::Bool if value.is_empty() || parse_go_bool(value).is_some() => {}
                FieldType::Bool => {
                    return Err(Error::config(
                        origin,
                        format!("{value:?} is not a boolean (use true or false)"),
                    ));
                }
                FieldType::Float if value.is_empty() || value.parse::<f32>().is_ok() => {}
                FieldType::Float => {
                    return Err(Error::config(origin, format!("{value:?} is not a number")));
                }
            }
            raw.set(field.json, value.clone(), origin);
        }
        let home = env.get("HOME").map(String::as_str);
        resolve(&raw, &|field| env_names(field), home)
    }

    /// Reads a calicoctl configuration file (`CalicoAPIConfig`, YAML or JSON). Errors name
    /// the offending field (`spec.etcdEndpoints`) and the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(
                path.display().to_string(),
                format!("cannot read the config file: {e}"),
            )
        })?;
        Self::from_yaml(&text).map_err(|e| match e {
            Error::Config { field, reason } if field == FILE_FIELD => Error::Config {
                field: path.display().to_string(),
                reason,
            },
            Error::Config { field, reason } => Error::Config {
                field,
                reason: format!("{reason} (in {})", path.display()),
            },
            other => other,
        })
    }

    /// Parses the text of a calicoctl configuration file (`CalicoAPIConfig`, YAML or
    /// JSON). Unknown fields are rejected, as calicoctl's strict parser does.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let doc: serde_json::Value = if text.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_saphyr::from_str(text).map_err(|e| {
                // Only the first line: the rest quotes the input, which may hold a password.
                let message = e.to_string();
                let first = message.lines().next().unwrap_or_default();
                let first = first.strip_prefix("error: ").unwrap_or(first);
                Error::config(FILE_FIELD, format!("not valid YAML or JSON: {first}"))
            })?
        };
        let doc = match doc {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => serde_json::Map::new(),
            _ => {
                return Err(Error::config(
                    FILE_FIELD,
                    "expected a CalicoAPIConfig mapping (apiVersion, kind, metadata, spec)",
                ));
            }
        };
        for key in doc.keys() {
            if !matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "spec") {
                return Err(Error::config(key.clone(), "unknown field"));
            }
        }
        let top_string = |key: &str| match doc.get(key) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(Error::config(
                key,
                format!("expected a string, found {other}"),
            )),
        };
        let api_version = top_string("apiVersion")?;
        if api_version != CONFIG_API_VERSION {
            return Err(Error::config(
                "apiVersion",
                format!("unknown APIVersion '{api_version}': expected '{CONFIG_API_VERSION}'"),
            ));
        }
        let kind = top_string("kind")?;
        if kind != CONFIG_KIND {
            return Err(Error::config(
                "kind",
                format!("expected kind '{CONFIG_KIND}', got '{kind}'"),
            ));
        }
        match doc.get("metadata") {
            None | Some(serde_json::Value::Null | serde_json::Value::Object(_)) => {}
            Some(_) => return Err(Error::config("metadata", "expected a mapping")),
        }
        let spec = match doc.get("spec") {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(map)) => map.clone(),
            Some(_) => return Err(Error::config("spec", "expected a mapping")),
        };
        // Text fields keep their exact spelling (`0123`, `1.50`), which a typed YAML reader
        // would turn into numbers.
        let verbatim: std::collections::BTreeMap<String, Option<String>> =
            serde_saphyr::from_str::<VerbatimSpec>(text)
                .ok()
                .and_then(|v| v.spec)
                .unwrap_or_default();
        let mut raw = RawSettings::default();
        for (key, value) in &spec {
            let origin = format!("spec.{key}");
            let Some(field) = FIELDS.iter().find(|f| f.json == key) else {
                return Err(Error::config(
                    origin,
                    "unknown field (field in document is not recognized or is in the wrong location)",
                ));
            };
            let value = match (field.ty, value) {
                (_, serde_json::Value::Null) => continue,
                (FieldType::Text, serde_json::Value::String(s)) => s.clone(),
                // Unquoted numbers and booleans are text for text fields, as in calicoctl.
                (FieldType::Text, serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => {
                    match verbatim.get(key) {
                        Some(Some(text)) => text.clone(),
                        _ => value.to_string(),
                    }
                }
                (FieldType::Bool, serde_json::Value::Bool(b)) => b.to_string(),
                (FieldType::Float, serde_json::Value::Number(n)) => n.to_string(),
                (ty, other) => {
                    let expected = match ty {
                        FieldType::Text => "a string",
                        FieldType::Bool => "a boolean",
                        FieldType::Float => "a number",
                    };
                    return Err(Error::config(
                        origin,
                        format!("expected {expected}, found {other}"),
                    ));
                }
            };
            raw.set(field.json, value, origin);
        }
        let home = std::env::var("HOME").ok();
        resolve(
            &raw,
            &|field| format!("spec.{}", field.json),
            home.as_deref(),
        )
    }

    /// Loads the configuration the way calicoctl does: from `config_file` if given (it
    /// must exist), else from [`DEFAULT_CONFIG_FILE`] if that exists, else from the
    /// environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self> {
        let env: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::load_with(config_file, Path::new(DEFAULT_CONFIG_FILE), &env)
    }

    /// [`DatastoreConfig::load`] with the default file and the environment given
    /// explicitly. A `config_file` equal to `default_file` behaves like no file given, as
    /// in calicoctl.
    pub fn load_with(
        config_file: Option<&Path>,
        default_file: &Path,
        env: &HashMap<String, String>,
    ) -> Result<Self> {
        match config_file {
            Some(file) if file != default_file => {
                if std::fs::metadata(file).is_err() {
                    return Err(Error::config(
                        file.display().to_string(),
                        "Error reading config file: no such file",
                    ));
                }
                Self::from_file(file)
            }
            _ if std::fs::metadata(default_file).is_ok() => Self::from_file(default_file),
            _ => Self::from_env_map(env),
        }
    }

    /// The `DATASTORE_TYPE` value naming this configuration's backend.
    pub fn datastore_type(&self) -> &'static str {
        match self {
            DatastoreConfig::Embedded { .. } => "embedded",
            DatastoreConfig::Memory => "memory",
            DatastoreConfig::Etcd(_) => "etcdv3",
            DatastoreConfig::Kubernetes { .. } => "kubernetes",
        }
    }
}

/// The environment variable names a field is read from, for messages.
fn env_names(field: &FieldSpec) -> String {
    match field.env {
        Some(name) => name.to_owned(),
        None => field.json.to_owned(),
    }
}

/// Turns raw settings into a configuration, applying calicoctl's defaults.
fn resolve(
    raw: &RawSettings,
    name_of: &dyn Fn(&FieldSpec) -> String,
    home: Option<&str>,
) -> Result<DatastoreConfig> {
    let origin = |json: &'static str| {
        raw.origin(json, || {
            FIELDS
                .iter()
                .find(|f| f.json == json)
                .map_or_else(|| json.to_owned(), name_of)
        })
    };
    let datastore_type = match raw.get("datastoreType") {
        "" if !raw.get("etcdEndpoints").is_empty() => "etcdv3",
        "" => "embedded",
        t => t,
    };
    match datastore_type {
        "embedded" => {
            let path = match raw.get("datastorePath") {
                "" => PathBuf::from(DEFAULT_EMBEDDED_PATH),
                p => PathBuf::from(p),
            };
            Ok(DatastoreConfig::Embedded { path })
        }
        "memory" => Ok(DatastoreConfig::Memory),
        "etcdv3" => resolve_etcd(raw, &origin).map(DatastoreConfig::Etcd),
        "kubernetes" => {
            let kubeconfig = match raw.get("kubeconfig") {
                "" if raw.get("k8sAPIEndpoint").is_empty() => home
                    .filter(|h| !h.is_empty())
                    .map(|h| Path::new(h).join(".kube").join("config"))
                    .filter(|p| p.is_file()),
                "" => None,
                path => Some(PathBuf::from(path)),
            };
            let context = Some(raw.get("k8sCurrentContext"))
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            Ok(DatastoreConfig::Kubernetes {
                kubeconfig,
                context,
            })
        }
        other => Err(Error::config(
            origin("datastoreType"),
            format!(
                "unknown datastore type {other:?}; expected one of {}",
                DATASTORE_TYPES.join(", ")
            ),
        )),
    }
}

fn resolve_etcd(raw: &RawSettings, origin: &dyn Fn(&'static str) -> String) -> Result<EtcdConfig> {
    let endpoints_text = raw.get("etcdEndpoints");
    if !raw.get("etcdDiscoverySrv").is_empty() {
        let reason = if endpoints_text.is_empty() {
            "etcd SRV discovery is not supported; list the endpoints in etcdEndpoints"
        } else {
            "multiple discovery or bootstrap options specified, use either \"etcdEndpoints\" or \"etcdDiscoverySrv\""
        };
        return Err(Error::config(origin("etcdDiscoverySrv"), reason));
    }
    if endpoints_text.trim().is_empty() {
        return Err(Error::config(
            origin("etcdEndpoints"),
            "no etcd endpoints specified",
        ));
    }
    let mut endpoints = Vec::new();
    for (i, endpoint) in endpoints_text.split(',').enumerate() {
        let endpoint = endpoint.trim();
        validate_endpoint(endpoint).map_err(|reason| {
            Error::config(
                origin("etcdEndpoints"),
                format!("endpoint {} ({endpoint:?}): {reason}", i + 1),
            )
        })?;
        endpoints.push(endpoint.to_owned());
    }

    let inline = ["etcdKey", "etcdCert", "etcdCACert"]
        .into_iter()
        .find(|f| !raw.get(f).is_empty());
    let files = ["etcdKeyFile", "etcdCertFile", "etcdCACertFile"]
        .into_iter()
        .any(|f| !raw.get(f).is_empty());
    if let Some(field) = inline {
        let reason = if files {
            "Cannot mix inline certificate-key and certificate / key files"
        } else {
            "inline certificates are not supported; give etcdCertFile, etcdKeyFile and etcdCACertFile"
        };
        return Err(Error::config(origin(field), reason));
    }
    let file = |json: &'static str| match raw.get(json) {
        "" => None,
        p => Some(PathBuf::from(p)),
    };
    let (cert_file, key_file) = (file("etcdCertFile"), file("etcdKeyFile"));
    match (&cert_file, &key_file) {
        (Some(_), None) => {
            return Err(Error::config(
                origin("etcdKeyFile"),
                "the client certificate needs its key: KeyFile and CertFile must both be present",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::config(
                origin("etcdCertFile"),
                "the client key needs its certificate: KeyFile and CertFile must both be present",
            ));
        }
        _ => {}
    }
    let secret = |json: &'static str| match raw.get(json) {
        "" => None,
        s => Some(s.to_owned()),
    };
    let (username, password) = (secret("etcdUsername"), secret("etcdPassword"));
    match (&username, &password) {
        (Some(_), None) => {
            return Err(Error::config(
                origin("etcdPassword"),
                "a user name is set but the password is empty",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::config(
                origin("etcdUsername"),
                "a password is set but the user name is empty",
            ));
        }
        _ => {}
    }
    Ok(EtcdConfig {
        endpoints,
        ca_cert_file: file("etcdCACertFile"),
        cert_file,
        key_file,
        username,
        password,
    })
}

/// Checks one etcd endpoint: `http://host[:port]`, `https://host[:port]` or `host:port`,
/// where host is a DNS name, an IPv4 address or a bracketed IPv6 address.
fn validate_endpoint(endpoint: &str) -> std::result::Result<(), String> {
    if endpoint.is_empty() {
        return Err("empty endpoint".into());
    }
    if let Some(c) = endpoint
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("contains {c:?}"));
    }
    let (authority, needs_port) = match endpoint.split_once("://") {
        Some((scheme, rest)) => {
            if !matches!(scheme, "http" | "https") {
                return Err(format!("unsupported scheme {scheme:?} (use http or https)"));
            }
            (rest.strip_suffix('/').unwrap_or(rest), false)
        }
        None => (endpoint, true),
    };
    if let Some(c) = authority
        .chars()
        .find(|c| matches!(c, '/' | '?' | '#' | '@'))
    {
        return Err(format!(
            "unexpected {c:?}: an endpoint is a scheme, a host and a port only"
        ));
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or("unterminated '[' in an IPv6 address")?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
        match after {
            "" => (addr, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (addr, Some(port)),
                None => return Err(format!("unexpected {after:?} after the IPv6 address")),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(
                    "an IPv6 address must be written in brackets, e.g. [fd00::1]:2379".into(),
                );
            }
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(format!("{host:?} is not a host name or address"));
    }
    match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
            _ => Err(format!("{p:?} is not a port number (1-65535)")),
        },
        None if needs_port => {
            Err("missing port: write host:port or a URL like https://host:2379".into())
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn config_error(r: Result<DatastoreConfig>) -> (String, String) {
        match r {
            Err(Error::Config { field, reason }) => (field, reason),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn empty_environment_is_the_embedded_default() {
        assert_eq!(
            DatastoreConfig::from_env_map(&env(&[])).unwrap(),
            DatastoreConfig::default()
        );
    }

    #[test]
    fn embedded_path_comes_from_calico_datastore_path() {
        let c = DatastoreConfig::from_env_map(&env(&[
            ("DATASTORE_TYPE", "embedded"),
            ("CALICO_DATASTORE_PATH", "/tmp/x.db"),
        ]))
        .unwrap();
        assert_eq!(
            c,
            DatastoreConfig::Embedded {
                path: "/tmp/x.db".into()
            }
        );
    }

    #[test]
    fn prefixed_variable_wins_even_when_empty() {
        let c = DatastoreConfig::from_env_map(&env(&[
            ("CALICO_DATASTORE_TYPE", "memory"),
            ("DATASTORE_TYPE", "etcdv3"),
        ]))
        .unwrap();
        assert_eq!(c, DatastoreConfig::Memory);
        // Set-but-empty counts as set (Go's LookupEnv), so detection runs.
        let c = DatastoreConfig::from_env_map(&env(&[
            ("CALICO_DATASTORE_TYPE", ""),
            ("DATASTORE_TYPE", "memory"),
        ]))
        .unwrap();
        assert_eq!(c, DatastoreConfig::default());
    }

    #[test]
    fn endpoints_alone_select_etcd() {
        let c = DatastoreConfig::from_env_map(&env(&[(
            "ETCD_ENDPOINTS",
            "http://127.0.0.1:2379, http://[fd00::1]:2379",
        )]))
        .unwrap();
        let DatastoreConfig::Etcd(e) = c else {
            panic!("not etcd: {c:?}")
        };
        assert_eq!(
            e.endpoints,
            ["http://127.0.0.1:2379", "http://[fd00::1]:2379"]
        );
    }

    #[test]
    fn full_etcd_settings_from_prefixed_variables() {
        let c = DatastoreConfig::from_env_map(&env(&[
            ("CALICO_DATASTORE_TYPE", "etcdv3"),
            ("CALICO_ETCD_ENDPOINTS", "https://etcd:2379"),
            ("CALICO_ETCD_CA_CERT_FILE", "/ca.pem"),
            ("CALICO_ETCD_CERT_FILE", "/cert.pem"),
            ("CALICO_ETCD_KEY_FILE", "/key.pem"),
            ("CALICO_ETCD_USERNAME", "root"),
            ("CALICO_ETCD_PASSWORD", "s3cret"),
        ]))
        .unwrap();
        assert_eq!(
            c,
            DatastoreConfig::Etcd(EtcdConfig {
                endpoints: vec!["https://etcd:2379".into()],
                ca_cert_file: Some("/ca.pem".into()),
                cert_file: Some("/cert.pem".into()),
                key_file: Some("/key.pem".into()),
                username: Some("root".into()),
                password: Some("s3cret".into()),
            })
        );
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn unknown_type_names_the_variable_it_came_from() {
        let (field, reason) = config_error(DatastoreConfig::from_env_map(&env(&[(
            "CALICO_DATASTORE_TYPE",
            "etcd",
        )])));
        assert_eq!(field, "CALICO_DATASTORE_TYPE");
        assert!(
            reason.contains("\"etcd\"") && reason.contains("etcdv3"),
            "{reason}"
        );
    }

    #[test]
    fn etcd_without_endpoints_is_refused() {
        let (field, reason) = config_error(DatastoreConfig::from_env_map(&env(&[(
            "DATASTORE_TYPE",
            "etcdv3",
        )])));
        assert_eq!(field, "ETCD_ENDPOINTS");
        assert_eq!(reason, "no etcd endpoints specified");
    }

    #[test]
    fn endpoint_syntax() {
        for good in [
            "http://127.0.0.1:2379",
            "https://etcd.example.com:2379/",
            "https://etcd.example.com",
            "127.0.0.1:2379",
            "[::1]:2379",
            "http://[fd00::1]",
        ] {
            assert_eq!(validate_endpoint(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "ftp://x:1",
            "http://:2379",
            "http://host:99999",
            "http://host:0",
            "http://host:+1",
            "host",
            "http://a b:1",
            "http://host:2379/path",
            "http://user@host:2379",
            "fd00::1:2379",
            "[fd00::zz]:1",
            "[::1",
        ] {
            assert!(validate_endpoint(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn malformed_endpoint_names_its_position() {
        let (field, reason) = config_error(DatastoreConfig::from_env_map(&env(&[(
            "ETCD_ENDPOINTS",
            "http://a:1,,http://b:2",
        )])));
        assert_eq!(field, "ETCD_ENDPOINTS");
        assert!(reason.starts_with("endpoint 2 "), "{reason}");
    }

    #[test]
    fn half_a_client_certificate_is_refused() {
        let (field, _) = config_error(DatastoreConfig::from_env_map(&env(&[
            ("ETCD_ENDPOINTS", "http://a:1"),
            ("ETCD_CERT_FILE", "/c.pem"),
        ])));
        assert_eq!(field, "ETCD_KEY_FILE");
    }

    #[test]
    fn user_without_password_is_refused_without_echoing_secrets() {
        let (field, reason) = config_error(DatastoreConfig::from_env_map(&env(&[
            ("ETCD_ENDPOINTS", "http://a:1"),
            ("ETCD_PASSWORD", "hunter2"),
        ])));
        assert_eq!(field, "ETCD_USERNAME");
        assert!(!reason.contains("hunter2"));
    }

    #[test]
    fn booleans_are_parsed_like_go() {
        assert!(
            DatastoreConfig::from_env_map(&env(&[("K8S_INSECURE_SKIP_TLS_VERIFY", "T")])).is_ok()
        );
        let (field, _) = config_error(DatastoreConfig::from_env_map(&env(&[(
            "CALICO_USE_POD_CIDR",
            "yes",
        )])));
        assert_eq!(field, "CALICO_USE_POD_CIDR");
    }

    #[test]
    fn kubernetes_takes_kubeconfig() {
        let c = DatastoreConfig::from_env_map(&env(&[
            ("DATASTORE_TYPE", "kubernetes"),
            ("KUBECONFIG", "/kc"),
        ]))
        .unwrap();
        assert_eq!(
            c,
            DatastoreConfig::Kubernetes {
                kubeconfig: Some("/kc".into()),
                context: None,
            }
        );
    }

    const ETCD_FILE: &str = "apiVersion: projectcalico.org/v3
kind: CalicoAPIConfig
metadata: {}
spec:
  datastoreType: etcdv3
  etcdEndpoints: https://10.0.0.1:2379,https://10.0.0.2:2379
  etcdKeyFile: /etc/calico/key.pem
  etcdCertFile: /etc/calico/cert.pem
  etcdCACertFile: /etc/calico/ca.pem
";

    #[test]
    fn etcd_file() {
        let DatastoreConfig::Etcd(e) = DatastoreConfig::from_yaml(ETCD_FILE).unwrap() else {
            panic!("not etcd")
        };
        assert_eq!(e.endpoints.len(), 2);
        assert_eq!(e.ca_cert_file, Some(PathBuf::from("/etc/calico/ca.pem")));
        assert_eq!(e.username, None);
    }

    #[test]
    fn json_file() {
        let c = DatastoreConfig::from_yaml(
            r#"{"apiVersion": "projectcalico.org/v3", "kind": "CalicoAPIConfig",
                "spec": {"datastoreType": "embedded", "datastorePath": "/srv/calico.db"}}"#,
        )
        .unwrap();
        assert_eq!(
            c,
            DatastoreConfig::Embedded {
                path: "/srv/calico.db".into()
            }
        );
    }

    #[test]
    fn unknown_spec_field_is_named() {
        let text = ETCD_FILE.replace("etcdKeyFile", "etcdKeyfile");
        let (field, reason) = config_error(DatastoreConfig::from_yaml(&text));
        assert_eq!(field, "spec.etcdKeyfile");
        assert!(reason.contains("unknown field"), "{reason}");
    }

    #[test]
    fn unknown_top_level_field_is_named() {
        let (field, _) = config_error(DatastoreConfig::from_yaml(&format!(
            "{ETCD_FILE}extra: 1\n"
        )));
        assert_eq!(field, "extra");
    }

    #[test]
    fn every_calico_field_is_accepted() {
        let text = "apiVersion: projectcalico.org/v3
kind: CalicoAPIConfig
spec:
  datastoreType: kubernetes
  kubeconfig: /root/.kube/config
  k8sAPIEndpoint: https://k8s:6443
  k8sKeyFile: /k
  k8sCertFile: /c
  k8sCAFile: /ca
  k8sAPIToken: abc
  k8sInsecureSkipTLSVerify: false
  k8sDisableNodePoll: true
  usePodCIDR: false
  kubeconfigInline: ''
  k8sClientQPS: 50
  k8sCurrentContext: ctx
  calicoAPIGroup: crd.projectcalico.org/v1
  etcdUsername: ''
";
        assert_eq!(
            DatastoreConfig::from_yaml(text).unwrap(),
            DatastoreConfig::Kubernetes {
                kubeconfig: Some("/root/.kube/config".into()),
                context: Some("ctx".into()),
            }
        );
    }

    #[test]
    fn unquoted_numbers_in_text_fields_keep_their_spelling() {
        let text = "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdEndpoints: http://a:1\n  etcdUsername: 007\n  etcdPassword: 0123\n";
        let DatastoreConfig::Etcd(e) = DatastoreConfig::from_yaml(text).unwrap() else {
            panic!("not etcd")
        };
        assert_eq!(e.username.as_deref(), Some("007"));
        assert_eq!(e.password.as_deref(), Some("0123"));
    }

    #[test]
    fn wrongly_typed_field_is_named() {
        let text = "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  k8sDisableNodePoll: maybe\n";
        let (field, reason) = config_error(DatastoreConfig::from_yaml(text));
        assert_eq!(field, "spec.k8sDisableNodePoll");
        assert!(reason.contains("boolean"), "{reason}");
    }

    #[test]
    fn api_version_and_kind_are_checked() {
        let (field, _) = config_error(DatastoreConfig::from_yaml(
            &ETCD_FILE.replace("projectcalico.org/v3", "v1"),
        ));
        assert_eq!(field, "apiVersion");
        let (field, _) = config_error(DatastoreConfig::from_yaml(
            &ETCD_FILE.replace("CalicoAPIConfig", "IPPool"),
        ));
        assert_eq!(field, "kind");
        let (field, _) = config_error(DatastoreConfig::from_yaml(""));
        assert_eq!(field, "apiVersion");
    }

    #[test]
    fn bad_endpoint_in_file_names_the_spec_field() {
        let text = ETCD_FILE.replace("https://10.0.0.2:2379", "https//10.0.0.2:2379");
        let (field, reason) = config_error(DatastoreConfig::from_yaml(&text));
        assert_eq!(field, "spec.etcdEndpoints");
        assert!(reason.starts_with("endpoint 2 "), "{reason}");
    }

    #[test]
    fn missing_endpoints_in_file_names_the_spec_field() {
        let text = "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  datastoreType: etcdv3\n";
        let (field, _) = config_error(DatastoreConfig::from_yaml(text));
        assert_eq!(field, "spec.etcdEndpoints");
    }

    #[test]
    fn syntax_errors_do_not_quote_the_input() {
        let text = "apiVersion: projectcalico.org/v3\nspec:\n  etcdPassword: \"secretpw\n";
        let (field, reason) = config_error(DatastoreConfig::from_yaml(text));
        assert_eq!(field, FILE_FIELD);
        assert!(reason.contains("line 3"), "{reason}");
        assert!(!reason.contains("secretpw"), "{reason}");
    }

    #[test]
    fn inline_certificates_are_refused_clearly() {
        let text = format!("{ETCD_FILE}  etcdCert: '-----BEGIN CERTIFICATE-----'\n");
        let (field, reason) = config_error(DatastoreConfig::from_yaml(&text));
        assert_eq!(field, "spec.etcdCert");
        assert!(reason.contains("Cannot mix"), "{reason}");
    }

    #[test]
    fn discovery_srv_is_refused_clearly() {
        let text = "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  datastoreType: etcdv3\n  etcdDiscoverySrv: example.com\n";
        let (field, reason) = config_error(DatastoreConfig::from_yaml(text));
        assert_eq!(field, "spec.etcdDiscoverySrv");
        assert!(reason.contains("not supported"), "{reason}");
    }
}
