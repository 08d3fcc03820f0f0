//! The embedded backend (SQLite in WAL mode). Not written yet.
