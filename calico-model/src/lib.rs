//! # calico-model
//!
//! Calico's `projectcalico.org/v3` data model in Rust: every resource kind with Calico's exact
//! JSON field names, the selector language, defaulting, validation, and a YAML/JSON codec
//! that accepts a user's existing Calico manifests unchanged.
//!
//! This crate has no I/O and no async runtime.
//!
//! ```
//! use calico_model::{decode_yaml, Resource};
//!
//! let yaml = r#"
//! apiVersion: projectcalico.org/v3
//! kind: GlobalNetworkPolicy
//! metadata:
//!   name: allow-dns
//! spec:
//!   selector: all()
//!   egress:
//!     - action: Allow
//!       protocol: UDP
//!       destination:
//!         ports: [53]
//! "#;
//! let mut docs = decode_yaml(yaml).unwrap();
//! let policy = &mut docs[0];
//! policy.apply_defaults();
//! policy.validate().unwrap();
//! assert_eq!(policy.kind().plural(), "globalnetworkpolicies");
//! ```

pub mod k8s;
pub mod meta;
pub mod resource;
pub mod resources;
pub mod scalar;
pub mod selector;
pub mod sync;
pub mod validation;

pub mod codec;
#[cfg(feature = "kube")]
pub mod crd;
#[cfg(test)]
mod testutil;
mod util;

pub use codec::{DecodeError, decode, decode_json, decode_yaml, encode_json, encode_yaml};
pub use ipnet;
pub use meta::ObjectMeta;
pub use resource::*;
pub use resources::*;
pub use validation::{Problem, ValidationError};
