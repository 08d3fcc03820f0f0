//! The one error type of the CNI plugins, with the CNI spec's error codes.

use serde::Serialize;

/// CNI error code: incompatible CNI version.
pub const CODE_INCOMPATIBLE_VERSION: u32 = 1;
/// CNI error code: unsupported field in the network configuration.
pub const CODE_UNSUPPORTED_FIELD: u32 = 2;
/// CNI error code: container unknown or does not exist.
pub const CODE_UNKNOWN_CONTAINER: u32 = 3;
/// CNI error code: invalid necessary environment variables.
pub const CODE_INVALID_ENV: u32 = 4;
/// CNI error code: I/O failure.
pub const CODE_IO: u32 = 5;
/// CNI error code: failed to decode content.
pub const CODE_DECODE: u32 = 6;
/// CNI error code: invalid network config.
pub const CODE_INVALID_CONFIG: u32 = 7;
/// CNI error code: try again later.
pub const CODE_TRY_AGAIN: u32 = 11;
/// CNI STATUS error code: the plugin is not available.
pub const CODE_NOT_AVAILABLE: u32 = 50;
/// CNI STATUS error code: not available, and existing containers may have limited connectivity.
pub const CODE_LIMITED_CONNECTIVITY: u32 = 51;
/// Plugin-specific code: the Calico datastore failed.
pub const CODE_DATASTORE: u32 = 100;
/// Plugin-specific code: programming the network (links, addresses, routes, sysctls) failed.
pub const CODE_DATAPLANE: u32 = 101;
/// Plugin-specific code: Calico IPAM failed.
pub const CODE_IPAM: u32 = 102;
/// Plugin-specific code: Felix did not report the endpoint's policy in time.
pub const CODE_POLICY_TIMEOUT: u32 = 103;
/// Internal or unclassified error (libcni's convention).
pub const CODE_INTERNAL: u32 = 999;

/// Everything that can go wrong in a CNI plugin invocation. Each variant maps to one CNI
/// error code ([`Error::code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested CNI version (or the version needed by the command) is not supported.
    #[error("incompatible CNI versions: {reason}")]
    IncompatibleVersion {
        /// The version asked for.
        version: String,
        /// Why it is not acceptable.
        reason: String,
    },
    /// A field of the configuration is not supported.
    #[error("unsupported field {field}: {reason}")]
    UnsupportedField {
        /// The field path.
        field: String,
        /// Why.
        reason: String,
    },
    /// The container does not exist.
    #[error("unknown container: {0}")]
    UnknownContainer(String),
    /// Required environment variables are missing.
    #[error("required env variables [{}] missing", .0.join(","))]
    MissingEnv(Vec<String>),
    /// An environment variable has an unusable value.
    #[error("invalid {var}: {reason}")]
    InvalidEnv {
        /// The variable.
        var: String,
        /// Why.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The failure.
        source: std::io::Error,
    },
    /// Input could not be decoded (stdin is not JSON, a plugin's output is not a result).
    #[error("decoding {what}: {reason}")]
    Decode {
        /// What was decoded.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The network configuration is invalid.
    #[error("invalid network config: {field}: {reason}")]
    InvalidConfig {
        /// The field path, e.g. `ipam.ipv4_pools[0]`.
        field: String,
        /// Why.
        reason: String,
    },
    /// A transient condition; the runtime should retry later.
    #[error("try again later: {0}")]
    TryAgain(String),
    /// STATUS: the plugin cannot serve ADD now.
    #[error("plugin not available: {0}")]
    NotAvailable(String),
    /// A delegated plugin (IPAM) failed; its code, message and details are passed through.
    #[error("{plugin}: {msg}")]
    Delegate {
        /// The delegate's type.
        plugin: String,
        /// Its error code.
        code: u32,
        /// Its message.
        msg: String,
        /// Its details.
        details: String,
    },
    /// The Calico datastore failed.
    #[error("datastore: {what}: {source}")]
    Datastore {
        /// What was being done.
        what: String,
        /// The failure.
        source: Box<calico_datastore::Error>,
    },
    /// Calico IPAM failed.
    #[error("IPAM: {0}")]
    Ipam(Box<calico_datastore::ipam::IpamError>),
    /// Programming the network failed.
    #[error("{what}: {reason}")]
    Dataplane {
        /// What was being done (naming the interface, address or route).
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// Felix did not write the endpoint status file in time.
    #[error("timed out after {seconds}s waiting for policy to be programmed for {endpoint}")]
    PolicyTimeout {
        /// The WorkloadEndpoint.
        endpoint: String,
        /// The timeout.
        seconds: u64,
    },
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl From<calico_datastore::ipam::IpamError> for Error {
    fn from(e: calico_datastore::ipam::IpamError) -> Self {
        Error::Ipam(Box::new(e))
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The CNI error code.
    pub fn code(&self) -> u32 {
        match self {
            Error::IncompatibleVersion { .. } => CODE_INCOMPATIBLE_VERSION,
            Error::UnsupportedField { .. } => CODE_UNSUPPORTED_FIELD,
            Error::UnknownContainer(_) => CODE_UNKNOWN_CONTAINER,
            Error::MissingEnv(_) | Error::InvalidEnv { .. } => CODE_INVALID_ENV,
            Error::Io { .. } => CODE_IO,
            Error::Decode { .. } => CODE_DECODE,
            Error::InvalidConfig { .. } => CODE_INVALID_CONFIG,
            Error::TryAgain(_) => CODE_TRY_AGAIN,
            Error::NotAvailable(_) => CODE_NOT_AVAILABLE,
            Error::Delegate { code, .. } => *code,
            Error::Datastore { .. } => CODE_DATASTORE,
            Error::Ipam(_) => CODE_IPAM,
            Error::Dataplane { .. } => CODE_DATAPLANE,
            Error::PolicyTimeout { .. } => CODE_POLICY_TIMEOUT,
            Error::Internal(_) => CODE_INTERNAL,
        }
    }

    /// The `details` of the error JSON.
    pub fn details(&self) -> String {
        match self {
            Error::IncompatibleVersion { .. } => format!(
                "supported versions: {}",
                super::version::SUPPORTED_VERSIONS.join(", ")
            ),
            Error::Delegate { details, .. } => details.clone(),
            Error::Datastore { source, .. } => format!("{source:?}"),
            _ => String::new(),
        }
    }

    /// True if retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::TryAgain(_) | Error::NotAvailable(_))
            || matches!(self, Error::Datastore { source, .. } if matches!(**source, calico_datastore::Error::Unavailable { .. } | calico_datastore::Error::Conflict { .. }))
    }

    /// A shorthand for [`Error::InvalidConfig`].
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A shorthand for [`Error::Dataplane`].
    pub fn dataplane(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Dataplane {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// A shorthand for [`Error::Datastore`].
    pub fn datastore(what: impl Into<String>, source: calico_datastore::Error) -> Self {
        Error::Datastore {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// The error as the CNI error JSON object for `cni_version`.
    pub fn to_json(&self, cni_version: &str) -> ErrorJson {
        let msg = match self {
            Error::Delegate { msg, .. } => msg.clone(),
            other => other.to_string(),
        };
        ErrorJson {
            cni_version: cni_version.to_owned(),
            code: self.code(),
            msg,
            details: self.details(),
        }
    }
}

/// The CNI error object printed on stdout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErrorJson {
    /// The CNI version of the request.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// The error code.
    #[serde(default)]
    pub code: u32,
    /// A short message.
    #[serde(default)]
    pub msg: String,
    /// Longer details (left out when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}
