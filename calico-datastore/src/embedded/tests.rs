//! Unit tests of the embedded backend: schema, versions and error paths.
