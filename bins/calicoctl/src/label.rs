//! `calicoctl label KIND NAME KEY=VALUE [--overwrite]` and `calicoctl label KIND NAME KEY
//! --remove`: set or remove one label (calicoctl's `commands/label.go`).
//!
//! The resource is read, its labels changed and the resource written back with
//! compare-and-swap on the `resourceVersion` read (re-read and retried on a conflict, so a
//! concurrent writer is never overwritten). Messages are calicoctl's and name the kind and
//! name as typed: `Successfully set label app on ippool pool1`.

use calico_datastore::{Datastore, Error};
use calico_model::Resource;
use calico_model::sync::ResourceKey;

use crate::commands::{Global, Report, check_version, connect, resources_from_args};
use crate::crud::{self, Flags, UPDATE_ATTEMPTS, UPDATE_RETRY_DELAY};
use crate::errors::ActionError;

/// `calicoctl label`.
#[derive(clap::Args, Debug)]
pub struct LabelArgs {
    /// The resource type (case-insensitive, may be pluralized or abbreviated).
    #[arg(value_name = "KIND")]
    kind: String,
    /// The name of the resource to label.
    #[arg(value_name = "NAME")]
    name: String,
    /// `key=value` to set, or `key` with --remove.
    #[arg(value_name = "KEY=VALUE|KEY")]
    label: String,
    /// Overwrite the value when the key is already present.
    #[arg(long, conflicts_with = "remove")]
    overwrite: bool,
    /// Remove the key (it must exist).
    #[arg(long)]
    remove: bool,
    /// Namespace of the resource (namespaced kinds only; `default` if not given).
    #[arg(short = 'n', long, value_name = "NS")]
    namespace: Option<String>,
}

/// The change asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelChange {
    /// Set `key` to `value`; an existing different value needs `overwrite`.
    Set {
        /// The label key.
        key: String,
        /// The new value.
        value: String,
        /// `--overwrite`.
        overwrite: bool,
    },
    /// Remove `key`, which must exist.
    Remove {
        /// The label key.
        key: String,
    },
}

/// What a successful change did (selects calicoctl's message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new key was set.
    Set,
    /// An existing key was given a value (possibly the same one).
    Updated,
    /// The key was removed.
    Removed,
}

impl LabelChange {
    /// Parses the `KEY=VALUE` / `KEY` argument as calicoctl does.
    pub fn parse(arg: &str, remove: bool, overwrite: bool) -> Result<LabelChange, String> {
        if remove {
            return Ok(LabelChange::Remove {
                key: arg.to_owned(),
            });
        }
        match arg.split('=').collect::<Vec<_>>().as_slice() {
            [key, value] => Ok(LabelChange::Set {
                key: (*key).to_owned(),
                value: (*value).to_owned(),
                overwrite,
            }),
            _ => Err(format!("invalid label {arg}")),
        }
    }

    /// Applies the change to a resource's labels; `kind` and `name` are as typed, for the
    /// messages.
    pub fn apply(
        &self,
        resource: &mut Resource,
        kind: &str,
        name: &str,
    ) -> Result<Outcome, String> {
        let labels = &mut resource.metadata_mut().labels;
        match self {
            LabelChange::Remove { key } => {
                if labels.remove(key).is_none() {
                    return Err(format!(
                        "cannot remove label of {kind} {name}, key {key} does not exist"
                    ));
                }
                Ok(Outcome::Removed)
            }
            LabelChange::Set {
                key,
                value,
                overwrite,
            } => match labels.get(key) {
                Some(old) if !overwrite && old != value => Err(format!(
                    "failed to update label of {kind} {name}, key {key} is already present. please use '--overwrite' to set a new value."
                )),
                Some(_) => {
                    labels.insert(key.clone(), value.clone());
                    Ok(Outcome::Updated)
                }
                None => {
                    labels.insert(key.clone(), value.clone());
                    Ok(Outcome::Set)
                }
            },
        }
    }

    fn key(&self) -> &str {
        match self {
            LabelChange::Set { key, .. } | LabelChange::Remove { key } => key,
        }
    }
}

/// `calicoctl label`.
pub async fn run(global: &Global, args: &LabelArgs) -> Report {
    let (kind, name) = (args.kind.as_str(), args.name.as_str());
    let change = match LabelChange::parse(&args.label, args.remove, args.overwrite) {
        Ok(c) => c,
        Err(m) => return Report::failure(m),
    };
    let namespace = args.namespace.clone().unwrap_or_default();
    let get_failed = |e: &dyn std::fmt::Display| format!("failed to get {kind} {name}, error {e}");
    let mut resource = match resources_from_args(kind, std::slice::from_ref(&args.name), &namespace)
    {
        Ok((_, mut found)) => found.remove(0),
        Err(m) => return Report::failure(get_failed(&m)),
    };
    let store = match connect(global).await {
        Ok(s) => s,
        Err(report) => return report,
    };
    if let Err(m) = check_version(store.as_ref(), global).await {
        return Report::failure(get_failed(&m.trim_end()));
    }
    let flags = Flags {
        namespace,
        ..Flags::default()
    };
    if let Err(e) = crud::handle_namespace(&mut resource, &flags) {
        return Report::failure(get_failed(&e));
    }
    let key = ResourceKey::of(&resource);
    match write_label(store.as_ref(), &key, &change, kind, name).await {
        Ok(outcome) => {
            let verb = match outcome {
                Outcome::Set => "set",
                Outcome::Updated => "updated",
                Outcome::Removed => "removed",
            };
            let preposition = if outcome == Outcome::Removed {
                "from"
            } else {
                "on"
            };
            let mut r = Report::default();
            r.out(format!(
                "Successfully {verb} label {} {preposition} {kind} {name}\n",
                change.key()
            ));
            r
        }
        Err(m) => Report::failure(m),
    }
}

/// Reads the resource, changes its labels and writes it back with compare-and-swap on the
/// version read, re-reading on a conflict. Errors are calicoctl's lines.
async fn write_label(
    store: &dyn Datastore,
    key: &ResourceKey,
    change: &LabelChange,
    kind: &str,
    name: &str,
) -> Result<Outcome, String> {
    let get_failed = |e: &dyn std::fmt::Display| format!("failed to get {kind} {name}, error {e}");
    let update_failed = |e: &dyn std::fmt::Display| {
        format!("failed to update {kind} {name}, label not changed: {e}")
    };
    let mut last = None;
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(UPDATE_RETRY_DELAY).await;
        }
        let mut current = match store.get(key).await {
            Ok(r) => r,
            Err(Error::NotFound { .. }) => return Err(format!("{kind} {name} not found")),
            Err(e) => return Err(get_failed(&ActionError::Store(e))),
        };
        let outcome = change.apply(&mut current, kind, name)?;
        crud::check_writable(&current, "apply or replace").map_err(|e| update_failed(&e))?;
        // `current` carries the revision read: the write is a compare-and-swap on it.
        match store.update(current).await {
            Ok(_) => return Ok(outcome),
            Err(e @ Error::Conflict { .. }) => last = Some(e),
            Err(e) => return Err(update_failed(&ActionError::Store(e))),
        }
    }
    let last = last.map_or_else(String::new, |e| ActionError::Store(e).to_string());
    Err(update_failed(&last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_model::{ObjectMeta, Tier, TierSpec};

    fn tier() -> Resource {
        let mut meta = ObjectMeta::named("t");
        meta.labels.insert("app".into(), "web".into());
        Tier::new(meta, TierSpec::default()).into()
    }

    #[test]
    fn parses_like_calicoctl() {
        assert_eq!(
            LabelChange::parse("a=b", false, true),
            Ok(LabelChange::Set {
                key: "a".into(),
                value: "b".into(),
                overwrite: true
            })
        );
        assert_eq!(
            LabelChange::parse("a=b=c", false, false),
            Err("invalid label a=b=c".into())
        );
        assert_eq!(
            LabelChange::parse("novalue", false, false),
            Err("invalid label novalue".into())
        );
        assert_eq!(
            LabelChange::parse("a", true, false),
            Ok(LabelChange::Remove { key: "a".into() })
        );
    }

    #[test]
    fn a_concurrent_write_is_never_lost() {
        crate::test_support::run(async {
            let store = crate::test_support::Interfering::with(tier()).await;
            let key = ResourceKey::of(&tier());
            let change = LabelChange::parse("team=net", false, false).expect("parse");
            let outcome = write_label(&store, &key, &change, "tier", "t")
                .await
                .expect("labelled");
            assert_eq!(outcome, Outcome::Set);
            let stored = store.get(&key).await.expect("get");
            let labels = &stored.metadata().labels;
            assert_eq!(labels.get("team").map(String::as_str), Some("net"));
            assert_eq!(labels.get("racer").map(String::as_str), Some("won"));
            assert_eq!(store.conflicts(), 1, "the first write was a stale CAS");
        });
    }

    #[test]
    fn set_update_remove_and_refusals() {
        let mut r = tier();
        let set = LabelChange::parse("tier=1", false, false).expect("parse");
        assert_eq!(set.apply(&mut r, "tiers", "t"), Ok(Outcome::Set));
        let same = LabelChange::parse("app=web", false, false).expect("parse");
        assert_eq!(same.apply(&mut r, "tiers", "t"), Ok(Outcome::Updated));
        let clash = LabelChange::parse("app=db", false, false).expect("parse");
        assert_eq!(
            clash.apply(&mut r, "tiers", "t"),
            Err("failed to update label of tiers t, key app is already present. please use '--overwrite' to set a new value.".into())
        );
        let forced = LabelChange::parse("app=db", false, true).expect("parse");
        assert_eq!(forced.apply(&mut r, "tiers", "t"), Ok(Outcome::Updated));
        assert_eq!(r.metadata().labels["app"], "db");
        let remove = LabelChange::parse("app", true, false).expect("parse");
        assert_eq!(remove.apply(&mut r, "tiers", "t"), Ok(Outcome::Removed));
        assert_eq!(
            remove.apply(&mut r, "tiers", "t"),
            Err("cannot remove label of tiers t, key app does not exist".into())
        );
    }
}
