//! Calico's label-selector language (`libcalico-go/lib/selector`).
//!
//! A [`Selector`] is parsed once (lexing, parsing, canonical form, unique
//! ID and a compiled matching program) and can then be matched against any
//! [`Labels`] map without allocating.
//!
//! ```
//! use std::collections::BTreeMap;
//! use calico_model::selector::Selector;
//!
//! let sel = Selector::parse("app == 'web' && tier in {'frontend','backend'} && !has(deprecated)")?;
//! assert_eq!(
//!     sel.to_string(),
//!     r#"(app == "web" && tier in {"backend", "frontend"} && !has(deprecated))"#
//! );
//! assert_eq!(sel.unique_id().len(), 40);
//!
//! let mut labels = BTreeMap::new();
//! labels.insert("app".to_string(), "web".to_string());
//! labels.insert("tier".to_string(), "frontend".to_string());
//! assert!(sel.matches(&labels));
//!
//! labels.insert("deprecated".to_string(), String::new());
//! assert!(!sel.matches(&labels));
//! # Ok::<(), calico_model::selector::SelectorError>(())
//! ```
//!
//! # The language
//!
//! * Terms: `has(k)`, `all()`, `global()`, `k == "v"`, `k != "v"`,
//!   `k contains "v"`, `k starts with "v"`, `k ends with "v"`,
//!   `k in {"a", "b"}`, `k not in {"a", "b"}`; `!`, `&&`, `||` and
//!   parentheses combine them (`||` binds loosest, then `&&`, then `!`).
//!   An empty (or blank) selector means `all()`.
//! * `!=` and `not in` match when the label is absent; every other term
//!   except `all()`/`global()` needs the label present.
//! * Labels are 1–512 bytes of `[A-Za-z0-9_./-]`; strings are `"…"` or
//!   `'…'` with no escapes. Only space and tab are whitespace.
//!
//! See [`Selector`] for the canonical form and unique IDs.

mod ast;
mod error;
mod eval;
mod labels;
mod lexer;
mod parser;
mod restrictions;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

pub use self::ast::Expr;
pub use self::error::{Result, SelectorError};
pub use self::labels::Labels;
pub use self::lexer::is_valid_label;
pub use self::restrictions::LabelRestriction;

/// Maximum length of a label name, in bytes.
pub const MAX_LABEL_LEN: usize = 512;

/// Maximum nesting accepted by [`Selector::parse`]: both parentheses in the
/// input and AND / OR groups in the parsed tree (each of which the
/// canonical form wraps in parentheses, so every canonical form re-parses).
///
/// Calico has no such limit; this one keeps the recursive parser (and the
/// recursive tree walks) well inside a 2 MiB thread stack.
pub const MAX_NESTING: usize = 256;

/// The label that policy code tests for when rewriting `all()` / `global()`
/// in namespace selectors.
pub const NAMESPACE_LABEL: &str = "projectcalico.org/namespace";

/// A parsed label selector.
///
/// Holds the canonical form (`Display`, Calico's `String()`), the unique ID
/// and a compiled matcher, all computed once at construction, and the
/// [`Expr`] tree. Parsing does not build the tree: [`expr`](Selector::expr)
/// builds it on first use by re-reading the canonical form (which
/// reproduces the parsed tree exactly), so the hot parse path allocates
/// only the selector's own buffers.
///
/// Equality, ordering and hashing are by canonical form, so two selectors
/// are equal exactly when their unique IDs are.
///
/// # Canonical form
///
/// `k == "v"` (and `!=`, `contains`, `starts with`, `ends with`) with
/// single spaces and the value in `"` unless it contains `"`, then `'`;
/// `k in {"a", "b"}` with the set sorted bytewise and de-duplicated; `!`
/// directly followed by its operand; every AND / OR group in parentheses,
/// `(a && b)`, even at top level; `all()` for an empty selector.
#[derive(Clone)]
pub struct Selector {
    /// The canonical form immediately followed by the unique ID.
    text: String,
    /// Length of the canonical form at the start of `text`.
    canon_len: usize,
    program: eval::Program,
    contains_global: bool,
    /// The tree, built lazily for parsed selectors and shared by clones.
    expr: Arc<dyn LazyExpr>,
}

/// The lazily built tree of a [`Selector`].
///
/// A trait object rather than a concrete `OnceLock<Expr>` field so that
/// `Selector` does not look interior-mutable to `clippy::mutable_key_type`
/// when used as a map key: equality and hashing only read the canonical
/// form, never this cell.
trait LazyExpr: fmt::Debug + Send + Sync {
    /// The tree, building it from `canonical` on first use.
    fn get_or_build(&self, canonical: &str) -> &Expr;

    /// The tree, storing `expr` if there is none yet.
    fn get_or_build_with(&self, expr: Expr) -> &Expr;
}

impl LazyExpr for OnceLock<Expr> {
    fn get_or_build(&self, canonical: &str) -> &Expr {
        self.get_or_init(|| Selector::rebuild_expr(canonical))
    }

    fn get_or_build_with(&self, expr: Expr) -> &Expr {
        self.get_or_init(|| expr)
    }
}

impl Selector {
    /// Parses a selector.
    ///
    /// # Errors
    ///
    /// A [`SelectorError`] with the byte position of the problem if `s` is
    /// not a valid selector.
    pub fn parse(s: &str) -> Result<Selector> {
        let tree = parser::parse_tree(s, false).map_err(|e| *e)?;
        Ok(Selector::build(&tree, OnceLock::new()))
    }

    /// Compiles `tree`, whose expression tree is (or will lazily be) `expr`.
    fn build(tree: &parser::Tree<'_>, expr: OnceLock<Expr>) -> Selector {
        let compiled = eval::compile(tree);
        Selector {
            text: compiled.text,
            canon_len: compiled.canon_len,
            program: compiled.program,
            contains_global: compiled.contains_global,
            expr: Arc::new(expr),
        }
    }

    /// Rebuilds the tree of a parsed selector from its canonical form.
    fn rebuild_expr(canonical: &str) -> Expr {
        // The canonical form of a parsed selector always re-parses; the
        // fallbacks are unreachable but keep this panic-free.
        parser::parse_tree(canonical, true)
            .or_else(|_| parser::parse_tree(canonical, false))
            .map_or(Expr::All, |tree| tree.to_expr())
    }

    /// Builds a selector from an expression tree, computing its canonical
    /// form, unique ID and matcher.
    ///
    /// The tree is not validated (as with Calico's visitors): label names
    /// are used as given, so an invalid or over-long name, or a value
    /// containing both quote characters, renders a canonical form that does
    /// not re-parse; and the tree is walked recursively, so it should not
    /// nest thousands of levels deep. Matching is correct regardless.
    #[must_use]
    pub fn from_expr(expr: Expr) -> Selector {
        let tree = parser::Tree::from_expr(&expr);
        let selector = Selector::build(&tree, OnceLock::new());
        let _ = selector.expr.get_or_build_with(expr);
        selector
    }

    /// The selector `all()`, which matches everything.
    #[must_use]
    pub fn all() -> Selector {
        Selector::from_expr(Expr::All)
    }

    /// The selector `!all()`, which matches nothing (Calico's `NoMatch`).
    #[must_use]
    pub fn none() -> Selector {
        Selector::from_expr(Expr::Not(Box::new(Expr::All)))
    }

    /// Whether the canonical form is `all()` (including the empty selector).
    #[must_use]
    pub fn is_all(&self) -> bool {
        self.as_str() == "all()"
    }

    /// Whether the selector matches `labels`.
    ///
    /// Never allocates. For a small map that implements
    /// [`Labels::for_each_label`] the map is scanned once; otherwise each
    /// term calls [`Labels::get`].
    #[inline]
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        self.program.matches(self.as_str(), labels)
    }

    /// The expression tree (built on first call for a parsed selector).
    #[must_use]
    pub fn expr(&self) -> &Expr {
        self.expr.get_or_build(self.as_str())
    }

    /// Consumes the selector, returning its expression tree.
    #[must_use]
    pub fn into_expr(self) -> Expr {
        self.expr().clone()
    }

    /// The canonical form, without allocating (same text as `Display`).
    #[inline]
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.text.get(..self.canon_len).unwrap_or_default()
    }

    /// The unique ID: `"s:"` followed by the unpadded base64url SHA-224 of
    /// `"s:" + canonical form` (Calico's `UniqueID()`).
    #[must_use]
    pub fn unique_id(&self) -> String {
        self.unique_id_str().to_owned()
    }

    /// The unique ID, borrowed (see [`unique_id`](Self::unique_id)).
    #[must_use]
    pub fn unique_id_str(&self) -> &str {
        self.text.get(self.canon_len..).unwrap_or_default()
    }

    /// A copy with `prefix` prepended to every label name (Calico's
    /// `PrefixVisitor`).
    #[must_use]
    pub fn prefixed(&self, prefix: &str) -> Selector {
        Selector::from_expr(self.expr().prefixed(prefix))
    }

    /// A copy with every `all()` replaced by `all` and every `global()` by
    /// `global` (see [`Expr::replace_all_and_global`]).
    #[must_use]
    pub fn replace_all_and_global(&self, all: &Expr, global: &Expr) -> Selector {
        Selector::from_expr(self.expr().replace_all_and_global(all, global))
    }

    /// The namespace-selector rewrite done by policy code (Calico's
    /// `getEndpointSelector`, applied after [`prefixed`](Self::prefixed)
    /// with `pcns.`): `all()` → `has(projectcalico.org/namespace)` and
    /// `global()` → `!has(projectcalico.org/namespace)`.
    ///
    /// The replacement is done on the tree (Calico replaces text, which
    /// would also rewrite `all()` inside a quoted value); the result is then
    /// re-normalised the way Calico's consumers re-parse it, so a negated
    /// `global()` (`!global()` → `!!has(…)`) collapses to
    /// `has(projectcalico.org/namespace)` and the unique ID matches.
    #[must_use]
    pub fn rewrite_namespace_selector(&self) -> Selector {
        let has_ns = Expr::Has(NAMESPACE_LABEL.to_owned());
        let not_ns = Expr::Not(Box::new(has_ns.clone()));
        let rewritten = self.replace_all_and_global(&has_ns, &not_ns);
        Selector::parse(rewritten.as_str()).unwrap_or(rewritten)
    }

    /// Whether the selector contains a `global()` term.
    #[must_use]
    pub fn contains_global(&self) -> bool {
        self.contains_global
    }

    /// The AND of two selectors, `(self && other)`.
    ///
    /// Can also be called as `Selector::and(&a, &b)`.
    #[must_use]
    pub fn and(&self, other: &Selector) -> Selector {
        Selector::from_expr(Expr::and(self.expr().clone(), other.expr().clone()))
    }

    /// Lower-bound restrictions on the labels a matching map must have, by
    /// label name (Calico's `LabelRestrictions()`).
    ///
    /// If any returned restriction [`is_impossible`](LabelRestriction::is_impossible),
    /// the selector can never match.
    #[must_use]
    pub fn label_restrictions(&self) -> BTreeMap<String, LabelRestriction> {
        restrictions::label_restrictions(self.expr())
    }
}

impl Expr {
    /// Label restrictions of this expression (see
    /// [`Selector::label_restrictions`]).
    #[must_use]
    pub fn label_restrictions(&self) -> BTreeMap<String, LabelRestriction> {
        restrictions::label_restrictions(self)
    }
}

/// Calico's `Normalise`: trims surrounding (Unicode) whitespace, parses, and
/// returns the canonical form; if the trimmed text does not parse it is
/// returned as it is (trimmed, as Calico does).
#[must_use]
pub fn normalise(s: &str) -> String {
    let trimmed = s.trim();
    match Selector::parse(trimmed) {
        Ok(sel) => sel.as_str().to_owned(),
        Err(_) => trimmed.to_owned(),
    }
}

impl Default for Selector {
    /// `all()`.
    fn default() -> Self {
        Selector::all()
    }
}

impl From<Expr> for Selector {
    fn from(expr: Expr) -> Self {
        Selector::from_expr(expr)
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self> {
        Selector::parse(s)
    }
}

impl TryFrom<&str> for Selector {
    type Error = SelectorError;

    fn try_from(s: &str) -> Result<Self> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Selector").field(&self.as_str()).finish()
    }
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Selector {}

impl Hash for Selector {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for Selector {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Selector {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}
