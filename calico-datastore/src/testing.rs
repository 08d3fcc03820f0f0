//! Test support: real servers for integration tests. Not written yet.
