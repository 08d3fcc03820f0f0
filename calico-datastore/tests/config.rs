//! Loading datastore configuration from files and the environment, as calicoctl does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use calico_datastore::config::DEFAULT_EMBEDDED_PATH;
use calico_datastore::{DatastoreConfig, Error, EtcdConfig};

const EMBEDDED_FILE: &str = "apiVersion: projectcalico.org/v3
kind: CalicoAPIConfig
metadata:
  name: local
spec:
  datastoreType: embedded
  datastorePath: /srv/calico/store.db
";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config file");
    path
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn reads_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "calicoctl.cfg", EMBEDDED_FILE);
    assert_eq!(
        DatastoreConfig::from_file(&path).expect("valid"),
        DatastoreConfig::Embedded {
            path: "/srv/calico/store.db".into()
        }
    );
}

#[test]
fn file_errors_name_the_field_and_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "bad.cfg",
        &EMBEDDED_FILE.replace("datastorePath", "datastorePth"),
    );
    match DatastoreConfig::from_file(&path) {
        Err(Error::Config { field, reason }) => {
            assert_eq!(field, "spec.datastorePth");
            assert!(reason.contains(&path.display().to_string()), "{reason}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn unreadable_file_is_a_config_error() {
    let err = DatastoreConfig::from_file("/nonexistent/calicoctl.cfg").expect_err("missing");
    assert!(
        matches!(err, Error::Config { ref field, .. } if field == "/nonexistent/calicoctl.cfg")
    );
}

#[test]
fn syntax_error_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "broken.cfg", "apiVersion: [unclosed\n");
    match DatastoreConfig::from_file(&path) {
        Err(Error::Config { field, reason }) => {
            assert_eq!(field, path.display().to_string());
            assert!(reason.starts_with("not valid YAML or JSON: "), "{reason}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn an_existing_default_file_wins_over_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let default = write(dir.path(), "calicoctl.cfg", EMBEDDED_FILE);
    let c = DatastoreConfig::load_with(None, &default, &env(&[("DATASTORE_TYPE", "memory")]))
        .expect("valid");
    assert_eq!(c.datastore_type(), "embedded");
}

#[test]
fn a_missing_default_file_falls_back_to_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let default = dir.path().join("calicoctl.cfg");
    let c = DatastoreConfig::load_with(None, &default, &env(&[("DATASTORE_TYPE", "memory")]))
        .expect("valid");
    assert_eq!(c, DatastoreConfig::Memory);
    // Naming the default file explicitly behaves the same, as in calicoctl.
    let c = DatastoreConfig::load_with(
        Some(&default),
        &default,
        &env(&[("DATASTORE_TYPE", "memory")]),
    )
    .expect("valid");
    assert_eq!(c, DatastoreConfig::Memory);
}

#[test]
fn an_explicit_file_must_exist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let default = dir.path().join("calicoctl.cfg");
    let missing = dir.path().join("other.cfg");
    match DatastoreConfig::load_with(Some(&missing), &default, &env(&[])) {
        Err(Error::Config { field, reason }) => {
            assert_eq!(field, missing.display().to_string());
            assert!(reason.starts_with("Error reading config file"), "{reason}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn an_explicit_file_wins_over_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let default = dir.path().join("calicoctl.cfg");
    let file = write(
        dir.path(),
        "etcd.cfg",
        "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdEndpoints: http://127.0.0.1:2379\n",
    );
    let c =
        DatastoreConfig::load_with(Some(&file), &default, &env(&[("DATASTORE_TYPE", "memory")]))
            .expect("valid");
    assert_eq!(
        c,
        DatastoreConfig::Etcd(EtcdConfig {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            ..EtcdConfig::default()
        })
    );
}

#[test]
fn the_default_embedded_path() {
    assert_eq!(
        DatastoreConfig::from_env_map(&env(&[("DATASTORE_TYPE", "embedded")])).expect("valid"),
        DatastoreConfig::Embedded {
            path: DEFAULT_EMBEDDED_PATH.into()
        }
    );
}

#[test]
fn passwords_never_reach_debug_or_errors() {
    let c = DatastoreConfig::from_env_map(&env(&[
        ("ETCD_ENDPOINTS", "http://127.0.0.1:2379"),
        ("ETCD_USERNAME", "root"),
        ("ETCD_PASSWORD", "correct-horse"),
    ]))
    .expect("valid");
    assert!(!format!("{c:?}").contains("correct-horse"));
    let err = DatastoreConfig::from_env_map(&env(&[
        ("ETCD_ENDPOINTS", "not a url"),
        ("ETCD_USERNAME", "root"),
        ("ETCD_PASSWORD", "correct-horse"),
    ]))
    .expect_err("bad endpoint");
    assert!(!err.to_string().contains("correct-horse"));
}
