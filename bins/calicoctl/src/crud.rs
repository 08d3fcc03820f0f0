//! The resource actions behind `create`, `apply`, `replace`, `delete` and `get`, with
//! calicoctl's semantics (`resourcemgr.go`, `commands/common/resources.go`):
//!
//! - namespaces: namespaced kinds take `-n`, else the resource's own namespace, else
//!   `default`; `-A` lists every namespace; cluster-scoped kinds refuse both;
//! - create keeps only the name, namespace, resourceVersion, labels and annotations of the
//!   given metadata;
//! - replace (and apply of an existing resource) keeps the stored metadata except labels
//!   and annotations; with a `resourceVersion` it is a compare-and-swap that fails with
//!   `update conflict` when stale, without one it retries on conflicts;
//! - apply creates, and replaces when the resource exists;
//! - delete with a `resourceVersion` (from a file) deletes only that revision.

use std::time::Duration;

use calico_datastore::{Datastore, Error};
use calico_model::sync::ResourceKey;
use calico_model::{Kind, ObjectMeta, Resource};

use crate::errors::{ActionError, identifier, kind_identifier};

/// Name prefix of the NetworkPolicies Calico derives from Kubernetes NetworkPolicies.
const K8S_NETWORK_POLICY_PREFIX: &str = "knp.default.";
/// Namespace calicoctl uses when none is given for a namespaced kind.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Attempts of an unconditional update before giving up (calicoctl: 5).
pub(crate) const UPDATE_ATTEMPTS: usize = 5;
/// Pause between those attempts (calicoctl: one second).
pub(crate) const UPDATE_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The resource action a command performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `calicoctl create`.
    Create,
    /// `calicoctl apply`.
    Apply,
    /// `calicoctl replace`.
    Replace,
    /// `calicoctl delete`.
    Delete,
    /// `calicoctl get`.
    Get,
}

/// Command-line flags that change how each resource is handled.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// `-n/--namespace` (empty: not given).
    pub namespace: String,
    /// `-A/--all-namespaces`.
    pub all_namespaces: bool,
    /// `--skip-exists` (create).
    pub skip_exists: bool,
    /// `--skip-not-exists` (delete).
    pub skip_not_exists: bool,
    /// `--export` (get by name): strip cluster-specific metadata.
    pub export: bool,
}

/// What `get` found for one request.
#[derive(Debug)]
pub enum Output {
    /// One resource, asked for by name.
    One(Resource),
    /// Every resource of a kind (in a namespace or all), asked for without a name.
    List {
        /// The kind listed.
        kind: Kind,
        /// The resources.
        items: Vec<Resource>,
        /// The datastore revision of the list.
        revision: String,
    },
}

impl Output {
    /// The kind of the resources.
    pub fn kind(&self) -> Kind {
        match self {
            Output::One(r) => r.kind(),
            Output::List { kind, .. } => *kind,
        }
    }
}

/// The outcome of a command over its resources (calicoctl's `CommandResults`).
#[derive(Debug, Default)]
pub struct Results {
    /// How many resources the command was given.
    pub num_resources: usize,
    /// How many were handled (skipped ones count).
    pub num_handled: usize,
    /// The one kind involved, if there is one (or the kind named on the command line).
    pub single_kind: Option<Kind>,
    /// What `get` found.
    pub outputs: Vec<Output>,
    /// Errors of individual resources (create, apply, delete, get go on after them).
    pub res_errs: Vec<ActionError>,
    /// The error that stopped the command (replace stops at the first one).
    pub err: Option<ActionError>,
}

/// calicoctl's `handleNamespace`: fills in or checks the resource's namespace.
pub fn handle_namespace(resource: &mut Resource, flags: &Flags) -> Result<(), ActionError> {
    let kind = resource.kind();
    let cli = flags.namespace.as_str();
    let all = flags.all_namespaces;
    let meta = resource.metadata_mut();
    if kind.namespaced() {
        let own = meta.namespace.clone();
        match () {
            _ if all && !cli.is_empty() => {
                return Err(ActionError::Request(
                    "cannot use both --namespace and --all-namespaces flags at the same time"
                        .into(),
                ));
            }
            _ if own.is_empty() && !cli.is_empty() => meta.namespace = cli.to_owned(),
            _ if all => meta.namespace.clear(),
            _ if own.is_empty() => meta.namespace = DEFAULT_NAMESPACE.to_owned(),
            _ if cli.is_empty() || own == cli => {}
            _ => {
                return Err(ActionError::Request(format!(
                    "resource namespace does not match client namespace. {own} != {cli}"
                )));
            }
        }
        Ok(())
    } else if !meta.namespace.is_empty() {
        Err(ActionError::Request(format!(
            "namespace should not be specified for a non-namespaced resource. {kind} is not a namespaced resource"
        )))
    } else if all || !cli.is_empty() {
        Err(ActionError::Request(format!("{kind} is not namespaced")))
    } else {
        Ok(())
    }
}

/// Refuses the writes calicoctl refuses: read-only `ClusterInformation`, policies derived
/// from Kubernetes, and (ours) the IPAM bookkeeping kinds, which `calicoctl ipam` manages.
pub(crate) fn check_writable(
    resource: &Resource,
    operation: &'static str,
) -> Result<(), ActionError> {
    match resource.kind() {
        Kind::ClusterInformation => Err(ActionError::NotSupported {
            operation,
            identifier: kind_identifier(Kind::ClusterInformation),
            reason: None,
        }),
        Kind::IPAMBlock | Kind::BlockAffinity | Kind::IPAMHandle => {
            Err(ActionError::NotSupported {
                operation,
                identifier: identifier(&ResourceKey::of(resource)),
                reason: Some("IPAM data is managed by Calico IPAM (calicoctl ipam)"),
            })
        }
        Kind::NetworkPolicy if resource.name().starts_with(K8S_NETWORK_POLICY_PREFIX) => {
            Err(ActionError::NotSupported {
                operation,
                identifier: identifier(&ResourceKey::of(resource)),
                reason: Some(
                    "kubernetes network policies must be managed through the kubernetes API",
                ),
            })
        }
        _ => Ok(()),
    }
}

/// calicoctl's `prepareMetadataForCreate`: keeps name, namespace, resourceVersion, labels
/// and annotations.
fn prepare_for_create(mut resource: Resource) -> Resource {
    let meta = resource.metadata_mut();
    *meta = ObjectMeta {
        name: std::mem::take(&mut meta.name),
        namespace: std::mem::take(&mut meta.namespace),
        resource_version: std::mem::take(&mut meta.resource_version),
        labels: std::mem::take(&mut meta.labels),
        annotations: std::mem::take(&mut meta.annotations),
        ..ObjectMeta::default()
    };
    resource
}

/// calicoctl's `mergeMetadataForUpdate`: the stored metadata, with the new labels and
/// annotations.
fn merge_for_update(stored: &Resource, mut resource: Resource) -> Resource {
    let meta = resource.metadata_mut();
    let labels = std::mem::take(&mut meta.labels);
    let annotations = std::mem::take(&mut meta.annotations);
    *meta = ObjectMeta {
        labels,
        annotations,
        ..stored.metadata().clone()
    };
    resource
}

async fn create(store: &dyn Datastore, resource: Resource) -> Result<Resource, ActionError> {
    check_writable(&resource, "create or apply")?;
    Ok(store.create(prepare_for_create(resource)).await?)
}

async fn update(store: &dyn Datastore, resource: Resource) -> Result<Resource, ActionError> {
    check_writable(&resource, "apply or replace")?;
    let key = ResourceKey::of(&resource);
    let given = resource.metadata().resource_version.clone();
    if !given.is_empty() {
        let stored = store.get(&key).await?;
        if stored.metadata().resource_version != given {
            return Err(ActionError::OutOfDate { key });
        }
        // The stored revision is the given one: the write is a compare-and-swap on it.
        return Ok(store.update(merge_for_update(&stored, resource)).await?);
    }
    let mut last = None;
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(UPDATE_RETRY_DELAY).await;
        }
        let stored = store.get(&key).await?;
        match store
            .update(merge_for_update(&stored, resource.clone()))
            .await
        {
            Err(e @ Error::Conflict { .. }) => last = Some(e),
            other => return Ok(other?),
        }
    }
    Err(ActionError::Request(format!(
        "failed to update the resource: {}",
        last.map_or_else(String::new, |e| ActionError::Store(e).to_string())
    )))
}

async fn apply(store: &dyn Datastore, mut resource: Resource) -> Result<Resource, ActionError> {
    if resource.kind() == Kind::ClusterInformation {
        return Err(ActionError::NotSupported {
            operation: "apply",
            identifier: kind_identifier(Kind::ClusterInformation),
            reason: Some("resource is readonly"),
        });
    }
    let given = std::mem::take(&mut resource.metadata_mut().resource_version);
    match create(store, resource.clone()).await {
        Err(e) if e.is_already_exists() || e.is_not_supported() => {
            resource.metadata_mut().resource_version = given;
            update(store, resource).await
        }
        other => other,
    }
}

async fn delete(store: &dyn Datastore, resource: &Resource) -> Result<Resource, ActionError> {
    if resource.name().is_empty() {
        return Err(ActionError::Request(
            "insufficient identifiers, missing 'name'".into(),
        ));
    }
    check_writable(resource, "delete")?;
    let revision = Some(resource.metadata().resource_version.as_str()).filter(|r| !r.is_empty());
    Ok(store.delete(&ResourceKey::of(resource), revision).await?)
}

async fn get_or_list(store: &dyn Datastore, resource: &Resource) -> Result<Output, ActionError> {
    let kind = resource.kind();
    if !resource.name().is_empty() {
        if kind.namespaced() && resource.namespace().is_empty() {
            return Err(ActionError::Request(
                "cannot use --all-namespace flag for getting a single resource".into(),
            ));
        }
        return Ok(Output::One(store.get(&ResourceKey::of(resource)).await?));
    }
    let namespace = Some(resource.namespace()).filter(|ns| !ns.is_empty());
    let list = store.list(kind, namespace).await?;
    let mut items = list.items;
    if kind == Kind::Tier {
        // calicoctl lists tiers by order, those without one last.
        items.sort_by(|a, b| {
            let order = |r: &Resource| match r {
                Resource::Tier(t) => t.spec.order,
                _ => None,
            };
            match (order(a), order(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        });
    }
    Ok(Output::List {
        kind,
        items,
        revision: list.revision,
    })
}

/// Strips the metadata `get --export` removes.
fn export(resource: &mut Resource) {
    let meta = resource.metadata_mut();
    meta.namespace.clear();
    meta.uid.clear();
    meta.resource_version.clear();
    meta.creation_timestamp = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
}

/// Runs `action` on every resource in order (calicoctl's `ExecuteConfigCommand` after
/// loading): create, apply, delete and get go on after a failed resource; replace stops.
pub async fn execute(
    store: &dyn Datastore,
    resources: Vec<Resource>,
    kind_from_args: Option<Kind>,
    action: Action,
    flags: &Flags,
) -> Results {
    let mut results = Results {
        num_resources: resources.len(),
        ..Results::default()
    };
    results.single_kind = kind_from_args.or_else(|| {
        let first = resources.first()?.kind();
        resources.iter().all(|r| r.kind() == first).then_some(first)
    });
    let named = kind_from_args.is_some() && resources.iter().any(|r| !r.name().is_empty());
    for mut resource in resources {
        let outcome = match handle_namespace(&mut resource, flags) {
            Err(e) => Err(e),
            Ok(()) => match action {
                Action::Create => create(store, resource.clone()).await.map(|_| None),
                Action::Apply => apply(store, resource.clone()).await.map(|_| None),
                Action::Replace => update(store, resource.clone()).await.map(|_| None),
                Action::Delete => delete(store, &resource).await.map(|_| None),
                Action::Get => get_or_list(store, &resource).await.map(Some),
            },
        };
        let outcome = match outcome {
            Err(e)
                if (e.is_already_exists() && flags.skip_exists)
                    || (e.is_not_found() && flags.skip_not_exists) =>
            {
                Ok(None)
            }
            other => other,
        };
        match outcome {
            Ok(output) => {
                results.num_handled += 1;
                if let Some(mut output) = output {
                    if flags.export
                        && named
                        && let Output::One(r) = &mut output
                    {
                        export(r);
                    }
                    results.outputs.push(output);
                }
            }
            Err(e) if action == Action::Replace => {
                results.err = Some(e);
                break;
            }
            Err(e) => results.res_errs.push(e),
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_datastore::memory::MemoryDatastore;
    use calico_model::{NetworkPolicy, NetworkPolicySpec, Tier, TierSpec};

    use crate::test_support::pool;

    fn policy(namespace: &str, name: &str) -> Resource {
        NetworkPolicy::new(
            ObjectMeta::namespaced(namespace, name),
            NetworkPolicySpec::default(),
        )
        .into()
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn flags_ns(ns: &str, all: bool) -> Flags {
        Flags {
            namespace: ns.into(),
            all_namespaces: all,
            ..Flags::default()
        }
    }

    #[test]
    fn namespace_rules() {
        let mut p = policy("", "p");
        handle_namespace(&mut p, &Flags::default()).expect("ok");
        assert_eq!(p.namespace(), "default");
        let mut p = policy("", "p");
        handle_namespace(&mut p, &flags_ns("ns1", false)).expect("ok");
        assert_eq!(p.namespace(), "ns1");
        let mut p = policy("own", "p");
        handle_namespace(&mut p, &flags_ns("", true)).expect("ok");
        assert_eq!(p.namespace(), "");
        let mut p = policy("own", "p");
        let e = handle_namespace(&mut p, &flags_ns("other", false)).expect_err("mismatch");
        assert_eq!(
            e.to_string(),
            "resource namespace does not match client namespace. own != other"
        );
        let e = handle_namespace(&mut policy("", "p"), &flags_ns("a", true)).expect_err("both");
        assert_eq!(
            e.to_string(),
            "cannot use both --namespace and --all-namespaces flags at the same time"
        );
        let e = handle_namespace(&mut pool("p", "10.0.0.0/16"), &flags_ns("a", false))
            .expect_err("not namespaced");
        assert_eq!(e.to_string(), "IPPool is not namespaced");
        let mut p = pool("p", "10.0.0.0/16");
        p.metadata_mut().namespace = "x".into();
        let e = handle_namespace(&mut p, &Flags::default()).expect_err("namespace given");
        assert!(
            e.to_string()
                .starts_with("namespace should not be specified")
        );
    }

    #[test]
    fn create_skip_exists_and_partial_failure() {
        run(async {
            let store = MemoryDatastore::new();
            let r = execute(
                &store,
                vec![pool("a", "10.0.0.0/16"), pool("b", "10.1.0.0/16")],
                None,
                Action::Create,
                &Flags::default(),
            )
            .await;
            assert_eq!((r.num_resources, r.num_handled), (2, 2));
            assert_eq!(r.single_kind, Some(Kind::IPPool));
            let r = execute(
                &store,
                vec![pool("a", "10.0.0.0/16"), pool("c", "10.2.0.0/16")],
                None,
                Action::Create,
                &Flags::default(),
            )
            .await;
            assert_eq!(r.num_handled, 1);
            assert_eq!(
                r.res_errs[0].to_string(),
                "resource already exists: IPPool(a)"
            );
            let skip = Flags {
                skip_exists: true,
                ..Flags::default()
            };
            let r = execute(
                &store,
                vec![pool("a", "10.0.0.0/16")],
                None,
                Action::Create,
                &skip,
            )
            .await;
            assert_eq!((r.num_handled, r.res_errs.len()), (1, 0));
        });
    }

    #[test]
    fn replace_honours_the_given_resource_version() {
        run(async {
            let store = MemoryDatastore::new();
            let created = store
                .create(pool("a", "10.0.0.0/16"))
                .await
                .expect("create");
            let stale = created.clone();
            let r = execute(
                &store,
                vec![pool("a", "10.0.0.0/16")],
                None,
                Action::Replace,
                &Flags::default(),
            )
            .await;
            assert!(r.err.is_none(), "{:?}", r.err);
            let r = execute(
                &store,
                vec![stale],
                None,
                Action::Replace,
                &Flags::default(),
            )
            .await;
            assert_eq!(r.num_handled, 0);
            assert_eq!(
                r.err.map(|e| e.to_string()).as_deref(),
                Some("update conflict: IPPool(a)")
            );
        });
    }

    #[test]
    fn replace_stops_at_the_first_error() {
        run(async {
            let store = MemoryDatastore::new();
            store
                .create(pool("a", "10.0.0.0/16"))
                .await
                .expect("create");
            store
                .create(pool("c", "10.2.0.0/16"))
                .await
                .expect("create");
            let r = execute(
                &store,
                vec![
                    pool("a", "10.0.0.0/16"),
                    pool("missing", "10.1.0.0/16"),
                    pool("c", "10.2.0.0/16"),
                ],
                None,
                Action::Replace,
                &Flags::default(),
            )
            .await;
            assert_eq!((r.num_resources, r.num_handled), (3, 1));
            assert!(r.err.expect("error").is_not_found());
        });
    }

    #[test]
    fn update_keeps_stored_metadata_but_takes_labels() {
        run(async {
            let store = MemoryDatastore::new();
            let mut first = pool("a", "10.0.0.0/16");
            first.metadata_mut().labels.insert("old".into(), "1".into());
            let created = store.create(first).await.expect("create");
            let mut next = pool("a", "10.0.0.0/16");
            next.metadata_mut().labels.insert("new".into(), "2".into());
            next.metadata_mut().uid = "ignored".into();
            let updated = update(&store, next).await.expect("update");
            assert_eq!(updated.metadata().uid, created.metadata().uid);
            assert_eq!(
                updated.metadata().labels.keys().collect::<Vec<_>>(),
                ["new"]
            );
        });
    }

    #[test]
    fn apply_creates_then_updates() {
        run(async {
            let store = MemoryDatastore::new();
            let created = apply(&store, pool("a", "10.0.0.0/16"))
                .await
                .expect("create");
            let mut changed = pool("a", "10.0.0.0/16");
            if let Resource::IPPool(p) = &mut changed {
                p.spec.disabled = true;
            }
            let updated = apply(&store, changed).await.expect("update");
            assert_ne!(
                updated.metadata().resource_version,
                created.metadata().resource_version
            );
            // A stale resourceVersion makes apply fail as calicoctl's does.
            let e = apply(&store, created).await.expect_err("stale");
            assert_eq!(e.to_string(), "update conflict: IPPool(a)");
        });
    }

    #[test]
    fn cluster_information_is_read_only() {
        run(async {
            let store = MemoryDatastore::new();
            let ci: Resource = calico_model::ClusterInformation::new(
                ObjectMeta::named("default"),
                Default::default(),
            )
            .into();
            let e = apply(&store, ci.clone()).await.expect_err("readonly");
            assert_eq!(
                e.to_string(),
                "operation apply is not supported on ClusterInformation: resource is readonly"
            );
            let e = create(&store, ci).await.expect_err("readonly");
            assert_eq!(
                e.to_string(),
                "operation create or apply is not supported on ClusterInformation"
            );
        });
    }

    #[test]
    fn list_all_namespaces_and_sorted_tiers() {
        run(async {
            let store = MemoryDatastore::new();
            store.create(policy("a", "p1")).await.expect("create");
            store.create(policy("b", "p2")).await.expect("create");
            for (name, order) in [("t1", Some(300.0)), ("t2", None), ("t3", Some(100.0))] {
                store
                    .create(
                        Tier::new(
                            ObjectMeta::named(name),
                            TierSpec {
                                order,
                                ..TierSpec::default()
                            },
                        )
                        .into(),
                    )
                    .await
                    .expect("tier");
            }
            let stub = policy("", "");
            let r = execute(
                &store,
                vec![stub.clone()],
                Some(Kind::NetworkPolicy),
                Action::Get,
                &flags_ns("", true),
            )
            .await;
            let Some(Output::List { items, .. }) = r.outputs.first() else {
                panic!("no list")
            };
            assert_eq!(items.len(), 2);
            let r = execute(
                &store,
                vec![stub],
                Some(Kind::NetworkPolicy),
                Action::Get,
                &Flags::default(),
            )
            .await;
            let Some(Output::List { items, .. }) = r.outputs.first() else {
                panic!("no list")
            };
            assert!(items.is_empty(), "only the default namespace");
            let tiers = Tier::new(ObjectMeta::default(), TierSpec::default()).into();
            let r = execute(
                &store,
                vec![tiers],
                Some(Kind::Tier),
                Action::Get,
                &Flags::default(),
            )
            .await;
            let Some(Output::List { items, .. }) = r.outputs.first() else {
                panic!("no list")
            };
            let names: Vec<_> = items.iter().map(Resource::name).collect();
            assert_eq!(names, ["t3", "t1", "t2"]);
        });
    }
}
