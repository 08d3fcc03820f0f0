//! All-or-nothing writes: before `create`, `apply` or `replace` writes anything, every
//! resource of the input is checked as the datastore will check it (namespace rules,
//! read-only kinds, Calico's defaults and every validation rule). One bad resource fails
//! the command with nothing written, where calicoctl would write the resources before it.
//!
//! What only the datastore can know (a resource that already exists, a stale
//! `resourceVersion`) is still found while writing, with calicoctl's partial-success
//! messages.

use calico_datastore::Error;
use calico_model::sync::ResourceKey;
use calico_model::{Kind, Resource};

use crate::crud::{Action, Flags, Results, check_writable, handle_namespace};
use crate::errors::{ActionError, identifier, kind_identifier};

/// Path of the name in validation problems.
const NAME_PATH: &str = "metadata.name";

/// The refusal of one resource, as the write itself would have worded it.
fn refusal(resource: &Resource, action: Action, flags: &Flags) -> Option<ActionError> {
    let mut r = resource.clone();
    if let Err(e) = handle_namespace(&mut r, flags) {
        return Some(e);
    }
    let writable = match action {
        Action::Create => check_writable(&r, "create or apply"),
        Action::Replace => check_writable(&r, "apply or replace"),
        Action::Apply if r.kind() == Kind::ClusterInformation => Err(ActionError::NotSupported {
            operation: "apply",
            identifier: kind_identifier(Kind::ClusterInformation),
            reason: Some("resource is readonly"),
        }),
        Action::Apply => check_writable(&r, "apply or replace"),
        Action::Delete | Action::Get => Ok(()),
    };
    if let Err(e) = writable {
        return Some(e);
    }
    r.apply_defaults();
    r.validate().err().map(|mut errors| {
        // A missing name is one problem, not also an invalid empty name.
        let mut seen_name = false;
        errors
            .problems
            .retain(|p| p.path != NAME_PATH || !std::mem::replace(&mut seen_name, true));
        ActionError::Store(Error::Invalid {
            key: ResourceKey::of(&r),
            errors,
        })
    })
}

/// Checks every resource a write command is about to write. `Some` carries the results
/// to report instead of writing (nothing handled, every refusal listed; `replace` reports
/// the first).
pub fn check(
    resources: &[Resource],
    kind_from_args: Option<Kind>,
    action: Action,
    flags: &Flags,
) -> Option<Results> {
    if !matches!(action, Action::Create | Action::Apply | Action::Replace) {
        return None;
    }
    let several = resources.len() > 1;
    let refusals: Vec<ActionError> = resources
        .iter()
        .filter_map(|r| {
            let e = refusal(r, action, flags)?;
            Some(if several {
                // Name the resource when the input has several.
                ActionError::Request(format!("{}: {e}", identifier(&ResourceKey::of(r))))
            } else {
                e
            })
        })
        .collect();
    if refusals.is_empty() {
        return None;
    }
    let single_kind = kind_from_args.or_else(|| {
        let first = resources.first()?.kind();
        resources.iter().all(|r| r.kind() == first).then_some(first)
    });
    let mut results = Results {
        num_resources: resources.len(),
        single_kind,
        ..Results::default()
    };
    if action == Action::Replace {
        results.err = refusals.into_iter().next();
    } else {
        results.res_errs = refusals;
    }
    Some(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::pool;

    #[test]
    fn one_bad_resource_refuses_all_and_names_it() {
        let good = pool("good", "10.0.0.0/16");
        let bad = pool("bad", "not-a-cidr");
        let r = check(
            &[good.clone(), bad],
            None,
            Action::Create,
            &Flags::default(),
        )
        .expect("refused");
        assert_eq!((r.num_resources, r.num_handled), (2, 0));
        assert_eq!(r.res_errs.len(), 1);
        let text = r.res_errs[0].to_string();
        assert!(
            text.starts_with("IPPool(bad): error with field spec.cidr"),
            "{text}"
        );
        assert!(check(&[good], None, Action::Apply, &Flags::default()).is_none());
    }

    #[test]
    fn single_resource_keeps_the_writes_wording() {
        let mut p = pool("p", "10.0.0.0/16");
        p.metadata_mut().namespace = "ns".into();
        let r = check(&[p], None, Action::Replace, &Flags::default()).expect("namespace");
        assert!(
            r.err
                .expect("err")
                .to_string()
                .starts_with("namespace should not be specified for a non-namespaced resource")
        );
        assert!(check(&[], None, Action::Create, &Flags::default()).is_none());
        let r = check(
            &[pool("", "10.0.0.0/16")],
            None,
            Action::Create,
            &Flags::default(),
        )
        .expect("no name");
        assert_eq!(
            r.res_errs[0].to_string(),
            "error with field metadata.name (name is required)"
        );
    }
}
