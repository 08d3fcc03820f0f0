//! Label restrictions: lower bounds on the labels a selector needs, used to
//! index selectors (Calico's `LabelRestrictions()`).

use std::collections::{BTreeMap, BTreeSet};

use super::ast::Expr;

/// What a selector requires of one label in order to match.
///
/// Derived conservatively: a restriction listed here is really implied by
/// the selector, but not every implication is found (for example `!=`,
/// `not in` and most negations impose nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelRestriction {
    /// The label must be present (e.g. `has(l)`, `l == "v"`, `l contains "v"`).
    pub must_be_present: bool,
    /// The label must be absent (e.g. `!has(l)`).
    pub must_be_absent: bool,
    /// If `Some`, the label must have one of these values (e.g. `l == "v"`,
    /// `l in {…}`). `None` means no value restriction is known. `Some` of an
    /// empty set means no value can satisfy the selector.
    pub must_have_one_of_values: Option<BTreeSet<String>>,
}

impl LabelRestriction {
    /// Whether this restriction can never be met (present and absent at
    /// once, or an empty set of allowed values), in which case the whole
    /// selector can never match.
    #[must_use]
    pub fn is_impossible(&self) -> bool {
        (self.must_be_present && self.must_be_absent)
            || self
                .must_have_one_of_values
                .as_ref()
                .is_some_and(BTreeSet::is_empty)
    }

    /// The opposite of [`is_impossible`](Self::is_impossible) (Calico's
    /// `PossibleToSatisfy`).
    #[must_use]
    pub fn possible_to_satisfy(&self) -> bool {
        !self.is_impossible()
    }

    fn present() -> Self {
        Self {
            must_be_present: true,
            ..Self::default()
        }
    }

    fn present_with(values: BTreeSet<String>) -> Self {
        Self {
            must_be_present: true,
            must_be_absent: false,
            must_have_one_of_values: Some(values),
        }
    }
}

/// Computes the label restrictions of `expr` following Calico's algorithm:
/// leaves contribute their own restriction, AND merges (intersecting value
/// sets), OR keeps only what every operand implies (uniting value sets), and
/// a NOT keeps only `!has(l)` ⇒ absent.
pub(crate) fn label_restrictions(expr: &Expr) -> BTreeMap<String, LabelRestriction> {
    let mut out = BTreeMap::new();
    match expr {
        Expr::Eq { label, value } => {
            out.insert(
                label.clone(),
                LabelRestriction::present_with(BTreeSet::from([value.clone()])),
            );
        }
        Expr::In { label, values } => {
            out.insert(
                label.clone(),
                LabelRestriction::present_with(values.clone()),
            );
        }
        Expr::Has(label)
        | Expr::Contains { label, .. }
        | Expr::StartsWith { label, .. }
        | Expr::EndsWith { label, .. } => {
            out.insert(label.clone(), LabelRestriction::present());
        }
        Expr::Not(inner) => {
            if let Expr::Has(label) = &**inner {
                out.insert(
                    label.clone(),
                    LabelRestriction {
                        must_be_absent: true,
                        ..LabelRestriction::default()
                    },
                );
            }
        }
        Expr::And(ops) => {
            for op in ops {
                for (label, r) in label_restrictions(op) {
                    let base = out.entry(label).or_default();
                    base.must_be_present |= r.must_be_present;
                    base.must_be_absent |= r.must_be_absent;
                    base.must_have_one_of_values = match (
                        base.must_have_one_of_values.take(),
                        r.must_have_one_of_values,
                    ) {
                        (None, other) | (other, None) => other,
                        (Some(a), Some(b)) => Some(a.intersection(&b).cloned().collect()),
                    };
                }
            }
        }
        Expr::Or(ops) => {
            let Some((first, rest)) = ops.split_first() else {
                return out;
            };
            out = label_restrictions(first);
            for op in rest {
                let other = label_restrictions(op);
                out.retain(|label, r| {
                    let o = other.get(label);
                    r.must_be_present &= o.is_some_and(|o| o.must_be_present);
                    r.must_have_one_of_values = if r.must_be_present {
                        match (
                            r.must_have_one_of_values.take(),
                            o.and_then(|o| o.must_have_one_of_values.as_ref()),
                        ) {
                            (Some(mut a), Some(b)) => {
                                a.extend(b.iter().cloned());
                                Some(a)
                            }
                            _ => None,
                        }
                    } else {
                        None
                    };
                    r.must_be_absent &= o.is_some_and(|o| o.must_be_absent);
                    r.must_be_present || r.must_be_absent
                });
            }
        }
        Expr::All | Expr::Global | Expr::Ne { .. } | Expr::NotIn { .. } => {}
    }
    out
}
