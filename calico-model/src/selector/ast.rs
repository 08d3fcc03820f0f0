//! The public selector AST ([`Expr`]), its canonical rendering and the tree
//! rewrites used by the policy engine.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use super::labels::Labels;

/// A parsed selector expression.
///
/// The tree is exactly what Calico's parser builds: a chain `a && b && c`
/// is one [`Expr::And`] with three operands, parentheses around a single
/// operation disappear, and leading `!`s are collapsed (an even number
/// cancels). A negation of a parenthesised negation, `!(!x)`, is kept as
/// `Not(Not(x))`.
///
/// `Display` renders Calico's canonical form (what `Selector::String()`
/// returns in Go).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// `all()`: matches everything (also the meaning of an empty selector).
    All,
    /// `global()`: matches everything; policy code rewrites it in namespace
    /// selectors (see [`Expr::replace_all_and_global`]).
    Global,
    /// `has(label)`: the label is present (with any value, even empty).
    Has(String),
    /// `label == "value"`: present with exactly this value.
    Eq {
        /// Label name.
        label: String,
        /// Value to compare with.
        value: String,
    },
    /// `label != "value"`: absent, or present with another value.
    Ne {
        /// Label name.
        label: String,
        /// Value to compare with.
        value: String,
    },
    /// `label contains "value"`: present and `value` is a substring.
    Contains {
        /// Label name.
        label: String,
        /// Substring to look for.
        value: String,
    },
    /// `label starts with "value"`: present and `value` is a prefix.
    StartsWith {
        /// Label name.
        label: String,
        /// Required prefix.
        value: String,
    },
    /// `label ends with "value"`: present and `value` is a suffix.
    EndsWith {
        /// Label name.
        label: String,
        /// Required suffix.
        value: String,
    },
    /// `label in {"a", "b"}`: present with one of the values (never matches
    /// for an empty set).
    In {
        /// Label name.
        label: String,
        /// The set (kept sorted bytewise and de-duplicated).
        values: BTreeSet<String>,
    },
    /// `label not in {"a", "b"}`: absent, or present with a value outside
    /// the set (always matches for an empty set).
    NotIn {
        /// Label name.
        label: String,
        /// The set (kept sorted bytewise and de-duplicated).
        values: BTreeSet<String>,
    },
    /// `!operand`.
    Not(Box<Expr>),
    /// `(a && b && …)`. An empty `And` matches everything and renders as
    /// `all()`; parsing never produces one.
    And(Vec<Expr>),
    /// `(a || b || …)`. An empty `Or` matches nothing and renders as
    /// `!all()`; parsing never produces one.
    Or(Vec<Expr>),
}

impl Expr {
    /// An AND node over two expressions: `(a && b)`.
    ///
    /// No flattening is done, mirroring how Calico composes selectors.
    #[must_use]
    pub fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(vec![a, b])
    }

    /// An OR node over two expressions: `(a || b)`.
    #[must_use]
    pub fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(vec![a, b])
    }

    /// The negation `!self`.
    #[must_use]
    pub fn negate(self) -> Expr {
        Expr::Not(Box::new(self))
    }

    /// The label name of a leaf node, if this is one that tests a label.
    #[must_use]
    pub fn label(&self) -> Option<&str> {
        match self {
            Expr::Has(label)
            | Expr::Eq { label, .. }
            | Expr::Ne { label, .. }
            | Expr::Contains { label, .. }
            | Expr::StartsWith { label, .. }
            | Expr::EndsWith { label, .. }
            | Expr::In { label, .. }
            | Expr::NotIn { label, .. } => Some(label),
            Expr::All | Expr::Global | Expr::Not(_) | Expr::And(_) | Expr::Or(_) => None,
        }
    }

    fn label_mut(&mut self) -> Option<&mut String> {
        match self {
            Expr::Has(label)
            | Expr::Eq { label, .. }
            | Expr::Ne { label, .. }
            | Expr::Contains { label, .. }
            | Expr::StartsWith { label, .. }
            | Expr::EndsWith { label, .. }
            | Expr::In { label, .. }
            | Expr::NotIn { label, .. } => Some(label),
            Expr::All | Expr::Global | Expr::Not(_) | Expr::And(_) | Expr::Or(_) => None,
        }
    }

    /// Calls `f` on every node, parents before children.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Not(inner) => inner.walk(f),
            Expr::And(ops) | Expr::Or(ops) => ops.iter().for_each(|op| op.walk(f)),
            _ => {}
        }
    }

    /// Calls `f` on every node, children before parents, allowing in-place
    /// edits.
    pub fn walk_mut(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        match self {
            Expr::Not(inner) => inner.walk_mut(f),
            Expr::And(ops) | Expr::Or(ops) => ops.iter_mut().for_each(|op| op.walk_mut(f)),
            _ => {}
        }
        f(self);
    }

    /// Prepends `prefix` to every label name in the tree (Calico's
    /// `PrefixVisitor`, used for the `pcns.` / `pcsa.` namespaces).
    ///
    /// The result is not re-validated: a label that grows past 512 bytes
    /// renders a canonical form that does not re-parse, as in Calico.
    #[must_use]
    pub fn prefixed(&self, prefix: &str) -> Expr {
        let mut out = self.clone();
        out.walk_mut(&mut |node| {
            if let Some(label) = node.label_mut() {
                label.insert_str(0, prefix);
            }
        });
        out
    }

    /// Replaces every `all()` node with `all` and every `global()` node with
    /// `global`, in one pass (so replacements are not themselves rewritten).
    ///
    /// Policy code uses this on namespace selectors with
    /// `all()` → `has(projectcalico.org/namespace)` and
    /// `global()` → `!has(projectcalico.org/namespace)`. An empty selector
    /// is `all()` and is rewritten too.
    #[must_use]
    pub fn replace_all_and_global(&self, all: &Expr, global: &Expr) -> Expr {
        match self {
            Expr::All => all.clone(),
            Expr::Global => global.clone(),
            Expr::Not(inner) => Expr::Not(Box::new(inner.replace_all_and_global(all, global))),
            Expr::And(ops) => Expr::And(
                ops.iter()
                    .map(|op| op.replace_all_and_global(all, global))
                    .collect(),
            ),
            Expr::Or(ops) => Expr::Or(
                ops.iter()
                    .map(|op| op.replace_all_and_global(all, global))
                    .collect(),
            ),
            leaf => leaf.clone(),
        }
    }

    /// Whether a `global()` node occurs anywhere in the tree.
    #[must_use]
    pub fn contains_global(&self) -> bool {
        match self {
            Expr::Global => true,
            Expr::Not(inner) => inner.contains_global(),
            Expr::And(ops) | Expr::Or(ops) => ops.iter().any(Expr::contains_global),
            _ => false,
        }
    }

    /// Evaluates the tree directly against `labels` by walking it (one
    /// `get` per leaf).
    ///
    /// This is the straightforward reference evaluator; `Selector::matches`
    /// runs a compiled program that gives the same answers much faster.
    pub fn evaluate<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        match self {
            Expr::All | Expr::Global => true,
            Expr::Has(label) => labels.get(label).is_some(),
            Expr::Eq { label, value } => labels.get(label) == Some(value.as_str()),
            Expr::Ne { label, value } => labels.get(label) != Some(value.as_str()),
            Expr::Contains { label, value } => labels
                .get(label)
                .is_some_and(|v| v.contains(value.as_str())),
            Expr::StartsWith { label, value } => labels
                .get(label)
                .is_some_and(|v| v.starts_with(value.as_str())),
            Expr::EndsWith { label, value } => labels
                .get(label)
                .is_some_and(|v| v.ends_with(value.as_str())),
            Expr::In { label, values } => labels.get(label).is_some_and(|v| values.contains(v)),
            Expr::NotIn { label, values } => !labels.get(label).is_some_and(|v| values.contains(v)),
            Expr::Not(inner) => !inner.evaluate(labels),
            Expr::And(ops) => ops.iter().all(|op| op.evaluate(labels)),
            Expr::Or(ops) => ops.iter().any(|op| op.evaluate(labels)),
        }
    }

    /// Whether the tree contains a negation applied directly to a negation,
    /// `Not(Not(_))`, which renders as `!!x` and so re-parses to `x`.
    #[must_use]
    pub fn has_double_negation(&self) -> bool {
        let mut found = false;
        self.walk(&mut |node| {
            if let Expr::Not(inner) = node {
                found |= matches!(**inner, Expr::Not(_));
            }
        });
        found
    }
}

/// The quote Calico uses to render `value`: `"` unless the value contains
/// `"`, then `'`.
pub(crate) fn quote_for(value: &str) -> char {
    if value.contains('"') { '\'' } else { '"' }
}

/// Writes `value` wrapped in its canonical quotes.
pub(crate) fn write_quoted<W: fmt::Write>(out: &mut W, value: &str) -> fmt::Result {
    let q = quote_for(value);
    out.write_char(q)?;
    out.write_str(value)?;
    out.write_char(q)
}

/// The operator text of a binary leaf, with its surrounding spaces.
fn binary_op(expr: &Expr) -> Option<(&str, &'static str, &str)> {
    match expr {
        Expr::Eq { label, value } => Some((label, " == ", value)),
        Expr::Ne { label, value } => Some((label, " != ", value)),
        Expr::Contains { label, value } => Some((label, " contains ", value)),
        Expr::StartsWith { label, value } => Some((label, " starts with ", value)),
        Expr::EndsWith { label, value } => Some((label, " ends with ", value)),
        _ => None,
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((label, op, value)) = binary_op(self) {
            f.write_str(label)?;
            f.write_str(op)?;
            return write_quoted(f, value);
        }
        match self {
            Expr::All => f.write_str("all()"),
            Expr::Global => f.write_str("global()"),
            Expr::Has(label) => write!(f, "has({label})"),
            Expr::In { label, values } => write_set(f, label, " in {", values),
            Expr::NotIn { label, values } => write_set(f, label, " not in {", values),
            Expr::Not(inner) => {
                f.write_char('!')?;
                inner.fmt(f)
            }
            Expr::And(ops) => write_group(f, ops, " && ", "all()"),
            Expr::Or(ops) => write_group(f, ops, " || ", "!all()"),
            // Binary leaves were rendered above.
            _ => Ok(()),
        }
    }
}

fn write_set(
    f: &mut fmt::Formatter<'_>,
    label: &str,
    op: &str,
    values: &BTreeSet<String>,
) -> fmt::Result {
    f.write_str(label)?;
    f.write_str(op)?;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_quoted(f, v)?;
    }
    f.write_char('}')
}

fn write_group(f: &mut fmt::Formatter<'_>, ops: &[Expr], sep: &str, empty: &str) -> fmt::Result {
    if ops.is_empty() {
        return f.write_str(empty);
    }
    f.write_char('(')?;
    for (i, op) in ops.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        fmt::Display::fmt(op, f)?;
    }
    f.write_char(')')
}
