//! The embedded backend (SQLite in WAL mode). Placeholder until the backend lands.

use std::path::Path;

use crate::error::{Error, Result};
use crate::memory::MemoryDatastore;

/// Placeholder: the embedded datastore type.
pub type EmbeddedDatastore = MemoryDatastore;

/// Placeholder constructor.
pub trait OpenEmbedded: Sized {
    /// Opens (creating if needed) the store at `path`.
    fn open(path: impl AsRef<Path>) -> Result<Self>;
}

impl OpenEmbedded for EmbeddedDatastore {
    fn open(_path: impl AsRef<Path>) -> Result<Self> {
        Err(Error::Unsupported {
            backend: "embedded",
            operation: "open (not written yet)",
        })
    }
}
