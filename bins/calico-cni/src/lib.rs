//! Calico's CNI plugins as a library.
//!
//! - [`skel`]: the CNI protocol (spec 1.1): parameters, version negotiation, results and
//!   error JSON, delegation to IPAM plugins.
//! - [`netconf`]: the network configuration `type: calico` and `calico-ipam` accept.
//! - [`names`]: identifiers derived from a request (node name, WorkloadEndpoint name, host
//!   veth name, IPAM handle).
//! - [`plugin`]: the `calico` network plugin (ADD/DEL/CHECK/GC/STATUS).
//! - [`ipam`]: the `calico-ipam` IPAM plugin.
//!
//! The binaries are thin: `calico` runs [`plugin::main`] (or [`ipam::main`] when invoked as
//! `calico-ipam`, as Calico's single Go binary does), `calico-ipam` runs [`ipam::main`].
//!
//! ```
//! use calico_cni::skel::{self, Command};
//!
//! // The version negotiation every command goes through.
//! assert!(skel::version::check("1.1.0", Command::Gc).is_ok());
//! assert_eq!(skel::version::check("1.0.0", Command::Gc).map_err(|e| e.code()), Err(1));
//!
//! // The host-side veth name of a Kubernetes pod.
//! assert_eq!(calico_cni::names::host_veth_name_k8s("default", "nginx"), "calic440f455693");
//! ```

pub mod ipam;
pub mod names;
pub mod netconf;
pub mod plugin;
pub mod skel;

pub use calico_datastore;
pub use ipnet;
pub use skel::{Error, Result};
