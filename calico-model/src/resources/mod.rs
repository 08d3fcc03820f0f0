//! Spec (and status) types of every resource kind, by area.

mod policy;
pub use policy::*;
mod staged_k8s;
pub use staged_k8s::*;
mod endpoint;
pub use endpoint::*;
mod ipam;
pub use ipam::*;
mod bgp;
pub use bgp::*;
mod node;
pub use node::*;
mod felix;
pub use felix::*;
mod cluster;
pub use cluster::*;
