//! The syncer. Not written yet.
