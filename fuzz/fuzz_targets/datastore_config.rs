//! calicoctl's CalicoAPIConfig parser: never panics on any input; an accepted document
//! yields a configuration whose datastore type is one of the known ones.
#![no_main]

use calico_datastore::config::DatastoreConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(config) = DatastoreConfig::from_yaml(s) {
        assert!(matches!(
            config.datastore_type(),
            "embedded" | "memory" | "etcdv3" | "kubernetes"
        ));
        // Debug output never shows a password.
        let _ = format!("{config:?}");
    }
});
