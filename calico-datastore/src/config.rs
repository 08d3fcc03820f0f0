//! Datastore configuration: which backend and how to reach it.
//!
//! The names follow Calico's (`DATASTORE_TYPE`, `ETCD_ENDPOINTS`, `ETCD_CA_CERT_FILE`,
//! `ETCD_CERT_FILE`, `ETCD_KEY_FILE`, and calicoctl's `CalicoAPIConfig` file). The parsing
//! of the environment and of config files is not written yet.

use std::fmt;
use std::path::PathBuf;
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
