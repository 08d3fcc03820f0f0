//! Errors of one resource action, worded as calicoctl (libcalico-go's `errors` package)
//! words them, so that scripts matching calicoctl's output keep working.

use std::fmt;

use calico_datastore::Error;
use calico_model::Kind;
use calico_model::sync::ResourceKey;

/// Why one resource could not be handled.
#[derive(Debug)]
pub enum ActionError {
    /// The datastore refused or failed.
    Store(Error),
    /// calicoctl does not allow this operation on this resource.
    NotSupported {
        /// The operation as calicoctl names it (`create or apply`, `delete`, …).
        operation: &'static str,
        /// The resource, as `Kind(name)` or just the kind.
        identifier: String,
        /// Why, if there is more to say.
        reason: Option<&'static str>,
    },
    /// A replace/apply carried a `resourceVersion` that is not the stored one.
    OutOfDate {
        /// The resource.
        key: ResourceKey,
    },
    /// A problem with the request itself (namespace flags, empty name, …).
    Request(String),
}

impl ActionError {
    /// True if the resource already exists (skipped by `create --skip-exists`).
    pub fn is_already_exists(&self) -> bool {
        matches!(self, ActionError::Store(Error::AlreadyExists { .. }))
    }

    /// True if the resource does not exist (skipped by `delete --skip-not-exists`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ActionError::Store(Error::NotFound { .. }))
    }

    /// True if calicoctl does not support the operation (apply then tries an update).
    pub fn is_not_supported(&self) -> bool {
        matches!(self, ActionError::NotSupported { .. })
    }
}

impl From<Error> for ActionError {
    fn from(e: Error) -> Self {
        ActionError::Store(e)
    }
}

/// A resource as libcalico-go's `ResourceKey` prints: `Kind(name)` or `Kind(ns/name)`.
pub fn identifier(key: &ResourceKey) -> String {
    if key.namespace.is_empty() {
        format!("{}({})", key.kind, key.name)
    } else {
        format!("{}({}/{})", key.kind, key.namespace, key.name)
    }
}

/// The `ClusterInformation` / IPAM identifier calicoctl uses for kind-wide refusals.
pub fn kind_identifier(kind: Kind) -> String {
    kind.kind().to_owned()
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionError::Store(e) => write_store_error(f, e),
            ActionError::NotSupported {
                operation,
                identifier,
                reason: None,
            } => write!(f, "operation {operation} is not supported on {identifier}"),
            ActionError::NotSupported {
                operation,
                identifier,
                reason: Some(reason),
            } => write!(
                f,
                "operation {operation} is not supported on {identifier}: {reason}"
            ),
            ActionError::OutOfDate { key } => write!(f, "update conflict: {}", identifier(key)),
            ActionError::Request(m) => f.write_str(m),
        }
    }
}

fn write_store_error(f: &mut fmt::Formatter<'_>, e: &Error) -> fmt::Result {
    match e {
        // libcalico-go's ErrorResourceDoesNotExist prints its (nil) inner error too.
        Error::NotFound { key } => write!(
            f,
            "resource does not exist: {} with error: <nil>",
            identifier(key)
        ),
        Error::AlreadyExists { key } => write!(f, "resource already exists: {}", identifier(key)),
        Error::Conflict { key, .. } => write!(f, "update conflict: {}", identifier(key)),
        Error::Invalid { errors, .. } => match errors.problems.as_slice() {
            [] => f.write_str("unknown validation error"),
            [one] => write!(f, "error with field {} ({})", one.path, one.reason),
            many => {
                f.write_str("error with the following fields:\n")?;
                for p in many {
                    writeln!(f, "-  {} ({})", p.path, p.reason)?;
                }
                Ok(())
            }
        },
        other => write!(f, "{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_model::{Problem, ValidationError};

    #[test]
    fn texts_match_libcalico() {
        let key = ResourceKey::new(Kind::IPPool, "", "blah");
        assert_eq!(
            ActionError::from(Error::NotFound { key: key.clone() }).to_string(),
            "resource does not exist: IPPool(blah) with error: <nil>"
        );
        let nkey = ResourceKey::new(Kind::NetworkPolicy, "ns1", "p");
        assert_eq!(
            ActionError::from(Error::AlreadyExists { key: nkey.clone() }).to_string(),
            "resource already exists: NetworkPolicy(ns1/p)"
        );
        assert_eq!(
            ActionError::OutOfDate { key: nkey }.to_string(),
            "update conflict: NetworkPolicy(ns1/p)"
        );
        assert_eq!(
            ActionError::NotSupported {
                operation: "apply",
                identifier: "ClusterInformation".into(),
                reason: Some("resource is readonly"),
            }
            .to_string(),
            "operation apply is not supported on ClusterInformation: resource is readonly"
        );
    }

    #[test]
    fn validation_errors_list_every_field() {
        let problem = |path: &str| Problem {
            path: path.into(),
            reason: "bad".into(),
        };
        let key = ResourceKey::new(Kind::IPPool, "", "p");
        let one = Error::Invalid {
            key: key.clone(),
            errors: ValidationError {
                problems: vec![problem("spec.cidr")],
            },
        };
        assert_eq!(
            ActionError::from(one).to_string(),
            "error with field spec.cidr (bad)"
        );
        let two = Error::Invalid {
            key,
            errors: ValidationError {
                problems: vec![problem("spec.cidr"), problem("spec.blockSize")],
            },
        };
        assert_eq!(
            ActionError::from(two).to_string(),
            "error with the following fields:\n-  spec.cidr (bad)\n-  spec.blockSize (bad)\n"
        );
    }
}
