//! Datastore configuration (environment and `CalicoAPIConfig` files). Not written yet.
