//! The conformance suite against the in-memory backend.
use calico_datastore::conformance::Fixture;
use calico_datastore::memory::MemoryDatastore;

calico_datastore::conformance_tests!(async { Fixture::new(MemoryDatastore::new()) });
