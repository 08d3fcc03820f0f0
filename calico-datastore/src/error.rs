//! The one error type of this crate.

use calico_model::sync::ResourceKey;
use calico_model::{Problem, ValidationError};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a datastore operation.
///
/// The variants follow Calico's backend errors (`ErrorResourceDoesNotExist`,
/// `ErrorResourceAlreadyExists`, `ErrorResourceUpdateConflict`, …) so that callers can write
/// the same retry logic Calico's clients use: retry on [`Error::Conflict`] after re-reading,
/// back off and retry on [`Error::Unavailable`], relist on [`Error::RevisionTooOld`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The resource does not exist.
    #[error("resource does not exist: {key}")]
    NotFound {
        /// Which resource.
        key: ResourceKey,
    },
    /// A create found the resource already there.
    #[error("resource already exists: {key}")]
    AlreadyExists {
        /// Which resource.
        key: ResourceKey,
    },
    /// A compare-and-swap write carried a stale `resourceVersion`.
    #[error("update conflict: {key}: resourceVersion {expected} is stale (current is {current})")]
    Conflict {
        /// Which resource.
        key: ResourceKey,
        /// The revision the write expected.
        expected: String,
        /// The revision the store holds now.
        current: String,
    },
    /// The store cannot be reached or is busy; retry with backoff.
    #[error("datastore unavailable: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
    /// The resource (or a request argument) is invalid; nothing was written.
    #[error("{key}: {errors}")]
    Invalid {
        /// Which resource (or the request's target).
        key: ResourceKey,
        /// Every problem, with its field path.
        errors: ValidationError,
    },
    /// A watch asked for a revision the store no longer keeps history for; relist.
    #[error("revision {requested} is too old: history before revision {oldest} has been compacted")]
    RevisionTooOld {
        /// The revision asked for.
        requested: String,
        /// The oldest revision still watchable.
        oldest: String,
    },
    /// The backend does not support this operation.
    #[error("the {backend} datastore does not support {operation}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// What was asked.
        operation: &'static str,
    },
    /// Stored data could not be read back (corrupt file, foreign value).
    #[error("corrupt data in the datastore at {location}: {reason}")]
    Corrupt {
        /// Storage key or row.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// Datastore configuration (environment, config file) is unusable.
    #[error("datastore configuration: {field}: {reason}")]
    Config {
        /// The variable or field, e.g. `ETCD_ENDPOINTS` or `spec.etcdEndpoints`.
        field: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// True for errors worth retrying unchanged after a backoff (the store was unavailable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }

    /// An [`Error::Invalid`] with one problem.
    pub fn invalid(key: &ResourceKey, path: &str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            key: key.clone(),
            errors: ValidationError {
                problems: vec![Problem {
                    path: path.to_owned(),
                    reason: reason.into(),
                }],
            },
        }
    }

    /// An [`Error::Unavailable`] from anything printable.
    pub fn unavailable(reason: impl std::fmt::Display) -> Self {
        Error::Unavailable {
            reason: reason.to_string(),
        }
    }

    /// An [`Error::Config`].
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
