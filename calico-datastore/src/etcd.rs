//! The etcd v3 backend. Not written yet.
