//! Validation: every rule Calico's validator, CRD schema and CEL rules enforce, reported
//! together.
//!
//! [`Resource::validate`](crate::Resource::validate) walks a whole document and collects every
//! problem as a [`Problem`] (`field.path: reason`) into one [`ValidationError`], rather than
//! stopping at the first.

mod names;
mod nets;
mod regex;

pub use self::regex::check_regex;

pub(crate) use names::label_syntax as names_label_syntax;
pub use names::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
    is_valid_port_name,
};
pub use nets::{NetKind, check_net};

use std::collections::BTreeMap;
use std::fmt;

/// One validation problem: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Problem {
    /// JSON field path, e.g. `spec.ingress[0].destination.ports[1]`.
    pub path: String,
    /// Why the value is rejected.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Every problem found in one document. Never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// The problems, in the order they were found.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl ValidationError {
    /// True if some problem is at `path` (exactly) — handy in tests.
    pub fn has_path(&self, path: &str) -> bool {
        self.problems.iter().any(|p| p.path == path)
    }
}

/// A JSON field path under construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    /// The document root.
    pub fn root() -> Self {
        Path(String::new())
    }
    /// A path starting at a named top-level field.
    pub fn new(field: &str) -> Self {
        Path(field.to_owned())
    }
    /// `self.field`.
    #[must_use]
    pub fn field(&self, field: &str) -> Path {
        if self.0.is_empty() {
            Path(field.to_owned())
        } else {
            Path(format!("{}.{field}", self.0))
        }
    }
    /// `self[index]`.
    #[must_use]
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }
    /// `self[key]` for a map entry.
    #[must_use]
    pub fn key(&self, k: &str) -> Path {
        Path(format!("{}[{k}]", self.0))
    }
    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collects problems while walking a document.
#[derive(Debug, Default)]
pub struct Validator {
    problems: Vec<Problem>,
}

impl Validator {
    /// A collector with no problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem at `path`.
    pub fn report(&mut self, path: &Path, reason: impl Into<String>) {
        self.problems.push(Problem {
            path: path.0.clone(),
            reason: reason.into(),
        });
    }

    /// Records a problem if `ok` is false.
    pub fn check(&mut self, ok: bool, path: &Path, reason: impl Into<String>) {
        if !ok {
            self.report(path, reason);
        }
    }

    /// True if nothing was reported.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// `Ok(())` if nothing was reported, otherwise every problem.
    pub fn finish(self) -> Result<(), ValidationError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationError {
                problems: self.problems,
            })
        }
    }

    /// Checks a selector field: it must parse. An empty selector is allowed.
    pub fn selector(&mut self, path: &Path, s: &str) {
        if let Err(e) = crate::selector::Selector::parse(s) {
            self.report(path, format!("invalid selector: {e}"));
        }
    }

    /// Checks a selector field that must parse and must not contain `global(`.
    pub fn selector_no_global(&mut self, path: &Path, s: &str) {
        self.selector(path, s);
        if s.contains("global(") {
            self.report(
                path,
                "global() can only be used in an EntityRule namespaceSelector",
            );
        }
    }

    /// Checks that a string matches one of the allowed enum values (case-sensitive).
    /// An empty string is accepted when `allow_empty` is set (Go's `omitempty`).
    pub fn one_of(&mut self, path: &Path, value: &str, allowed: &[&str], allow_empty: bool) {
        if value.is_empty() && allow_empty {
            return;
        }
        if !allowed.contains(&value) {
            self.report(
                path,
                format!(
                    "unsupported value {value:?}: must be one of {}",
                    allowed.join(", ")
                ),
            );
        }
    }

    /// Checks that a string is a DNS-1123 subdomain (a resource name).
    pub fn resource_name(&mut self, path: &Path, s: &str) {
        if !is_dns1123_subdomain(s) {
            self.report(
                path,
                format!(
                    "{s:?} is not a valid name: must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric character"
                ),
            );
        }
    }

    /// Checks a label map (keys are qualified names, values valid label values).
    pub fn labels(&mut self, path: &Path, labels: &BTreeMap<String, String>) {
        for (k, v) in labels {
            if let Err(e) = is_qualified_name(k) {
                self.report(&path.key(k), format!("invalid label key: {e}"));
            }
            if let Err(e) = is_valid_label_value(v) {
                self.report(&path.key(k), format!("invalid label value {v:?}: {e}"));
            }
        }
    }

    /// Checks an annotation map (keys lower-cased must be qualified names; total size
    /// ≤ 256 KiB).
    pub fn annotations(&mut self, path: &Path, annotations: &BTreeMap<String, String>) {
        let mut total = 0usize;
        for (k, v) in annotations {
            if let Err(e) = is_qualified_name(&k.to_lowercase()) {
                self.report(&path.key(k), format!("invalid annotation key: {e}"));
            }
            total += k.len() + v.len();
        }
        const LIMIT: usize = 256 * 1024;
        if total > LIMIT {
            self.report(
                path,
                format!(
                    "total size of annotations is too large by {} bytes",
                    total - LIMIT
                ),
            );
        }
    }

    /// Checks an optional integer lies in `min..=max`.
    pub fn range<T: PartialOrd + fmt::Display + Copy>(
        &mut self,
        path: &Path,
        v: T,
        min: T,
        max: T,
    ) {
        if v < min || v > max {
            self.report(
                path,
                format!("{v} is out of range: must be between {min} and {max}"),
            );
        }
    }

    /// Checks a list has at most `max` items.
    pub fn max_items<T>(&mut self, path: &Path, items: &[T], max: usize) {
        if items.len() > max {
            self.report(
                path,
                format!("too many items: {} (at most {max})", items.len()),
            );
        }
    }

    /// Checks a string has at most `max` bytes.
    pub fn max_len(&mut self, path: &Path, s: &str, max: usize) {
        if s.len() > max {
            self.report(path, format!("too long: {} bytes (at most {max})", s.len()));
        }
    }

    /// Checks a list has no duplicate entries (`listType=set`).
    pub fn unique<T: PartialEq + fmt::Debug>(&mut self, path: &Path, items: &[T]) {
        for (i, a) in items.iter().enumerate() {
            if items[..i].contains(a) {
                self.report(&path.index(i), format!("duplicate value {a:?}"));
            }
        }
    }
}

/// Validation of a resource spec (or a part of one) into a [`Validator`].
pub trait Validate {
    /// Reports every problem of `self`, located under `path`.
    fn validate_into(&self, path: &Path, v: &mut Validator);
}

impl<T: Validate> Validate for Option<T> {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        if let Some(t) = self {
            t.validate_into(path, v);
        }
    }
}

impl<T: Validate> Validate for Vec<T> {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        for (i, t) in self.iter().enumerate() {
            t.validate_into(&path.index(i), v);
        }
    }
}
