//! # calico-policy
//!
//! Calico's calculation graph (Felix's "calc graph") in Rust: from the resources a syncer
//! delivers, compute for one host the ordered tiers and policies of each local endpoint, the
//! policies and profiles compiled into a dataplane-neutral IR, and the IP sets they use —
//! as a stream of [`DataplaneUpdate`](ir::DataplaneUpdate)s — plus the reference
//! [`Evaluator`](eval::Evaluator) that executes that IR on packets.
//!
//! No I/O, no async runtime; deterministic.

pub mod cluster;
pub mod compile;
pub mod diff;
pub mod eval;
pub mod explain;
pub mod graph;
pub mod index;
pub mod ir;
pub mod lint;

pub use eval::{Evaluator, Packet, Verdict};
pub use graph::CalcGraph;
pub use ir::DataplaneUpdate;
