//! The etcd v3 backend. Placeholder until the backend lands.

use crate::config::EtcdConfig;
use crate::error::{Error, Result};
use crate::memory::MemoryDatastore;

/// Placeholder: the etcd datastore type.
pub type EtcdDatastore = MemoryDatastore;

/// Placeholder constructor.
pub async fn connect(_config: &EtcdConfig) -> Result<EtcdDatastore> {
    Err(Error::Unsupported {
        backend: "etcdv3",
        operation: "connect (not written yet)",
    })
}
