//! The conformance suite against the embedded (SQLite) backend, each check on a new file.
use calico_datastore::conformance::Fixture;
use calico_datastore::embedded::EmbeddedDatastore;

calico_datastore::conformance_tests!(async {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedDatastore::open(dir.path().join("datastore.db")).unwrap();
    Fixture::new(store).with_guard(dir)
});
