//! `calicoctl get -o go-template=…` and `-o go-template-file=…`.
//!
//! As in calicoctl, the template runs once over the *slice* of results: a `<Kind>List` for
//! a listing (no name given), or each resource asked for by name. calicoctl's documented
//! example works unchanged:
//!
//! ```text
//! calicoctl get hostendpoint -o go-template='{{range .}}{{range .Items}}{{.ObjectMeta.Name}},{{end}}{{end}}'
//! ```
//!
//! The data is the resources' JSON, so JSON field names work (`.metadata.name`,
//! `.spec.cidr`); so do the Go field names calicoctl's templates use, because a field a
//! template names is also found under any key that differs from it only in case
//! (`.Spec.CIDR` finds `cidr`, `.Spec.IPIPMode` finds `ipipMode`), and the Go structure
//! is mirrored: `.ObjectMeta`/`.ListMeta` are `metadata`, `.TypeMeta` holds `Kind` and
//! `APIVersion`, and metadata fields are promoted to the resource (`.Name`, `.Labels`).
//! calicoctl's template functions `join`, `joinAndTruncate` and `config "asnumber"` exist.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use gtmpl::{Context, FuncError, Template, Value as Tv};
use serde_json::Value;

use crate::table::DEFAULT_AS_NUMBER;

/// The template's name in error messages, as calicoctl names it.
const TEMPLATE_NAME: &str = "get";

/// The global AS number `config "asnumber"` returns; set once per process before
/// rendering (template functions are plain function pointers).
static AS_NUMBER: OnceLock<String> = OnceLock::new();

/// Go field names mirrored onto the JSON structure, with the JSON key they stand for.
const GO_STRUCT_ALIASES: &[(&str, &str)] = &[("ObjectMeta", "metadata"), ("ListMeta", "metadata")];

/// A parsed go-template, ready to render results.
pub struct GoTemplate {
    template: Template,
    /// Every `.Field` the template names (to mirror Go field names onto JSON keys).
    fields: HashSet<String>,
}

impl std::fmt::Debug for GoTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoTemplate").finish_non_exhaustive()
    }
}

/// calicoctl's `join`: the items of a list (or a map's sorted `k=v` pairs) joined.
fn join(args: &[Tv]) -> Result<Tv, FuncError> {
    match args {
        [items, Tv::String(sep)] => Ok(Tv::String(join_truncate(items, sep, 0))),
        _ => Err(FuncError::ExactlyXArgs("join".into(), 2)),
    }
}

/// calicoctl's `joinAndTruncate`: `join`, cut to the given length with `...`.
fn join_and_truncate(args: &[Tv]) -> Result<Tv, FuncError> {
    match args {
        [items, Tv::String(sep), Tv::Number(max)] => {
            let max = max
                .as_u64()
                .and_then(|m| usize::try_from(m).ok())
                .ok_or(FuncError::UnableToConvertFromValue)?;
            Ok(Tv::String(join_truncate(items, sep, max)))
        }
        _ => Err(FuncError::ExactlyXArgs("joinAndTruncate".into(), 3)),
    }
}

/// calicoctl's `config`: only `asnumber` is known.
fn config(args: &[Tv]) -> Result<Tv, FuncError> {
    match args {
        [Tv::String(name)] if name.eq_ignore_ascii_case("asnumber") => Ok(Tv::String(
            AS_NUMBER
                .get()
                .cloned()
                .unwrap_or_else(|| DEFAULT_AS_NUMBER.to_owned()),
        )),
        [Tv::String(name)] => Err(FuncError::Generic(format!(
            "unhandled config type {name:?}"
        ))),
        _ => Err(FuncError::ExactlyXArgs("config".into(), 1)),
    }
}

/// A value as Go's `fmt.Print` shows scalars (lists and maps as `[a b]`, `map[k:v]`).
fn go_print(v: &Tv) -> String {
    match v {
        Tv::NoValue | Tv::Nil => "<nil>".into(),
        Tv::Array(items) => format!(
            "[{}]",
            items.iter().map(go_print).collect::<Vec<_>>().join(" ")
        ),
        Tv::Map(m) | Tv::Object(m) => {
            let mut pairs: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect();
            pairs.sort();
            format!("map[{}]", pairs.join(" "))
        }
        other => other.to_string(),
    }
}

fn join_truncate(items: &Tv, sep: &str, max: usize) -> String {
    let parts: Vec<String> = match items {
        Tv::NoValue | Tv::Nil => return String::new(),
        Tv::Array(a) => a.iter().map(go_print).collect(),
        Tv::Map(m) | Tv::Object(m) => {
            let mut pairs: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", go_print(v)))
                .collect();
            pairs.sort();
            pairs
        }
        other => vec![go_print(other)],
    };
    crate::table::join_and_truncate(&parts, sep, max)
}

/// The `.Field` names a template text mentions.
fn field_names(text: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'.' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                end += 1;
            }
            if end > start && !bytes[start].is_ascii_digit() {
                names.insert(text[start..end].to_owned());
            }
            i = end.max(start);
        } else {
            i += 1;
        }
    }
    names
}

impl GoTemplate {
    /// Parses a template; a syntax error is reported as calicoctl reports it
    /// (`template: get: …`).
    pub fn parse(text: &str) -> Result<GoTemplate, String> {
        let mut template = Template::with_name(TEMPLATE_NAME);
        template.add_func("join", join);
        template.add_func("joinAndTruncate", join_and_truncate);
        template.add_func("config", config);
        template
            .parse(text)
            .map_err(|e| format!("template: {TEMPLATE_NAME}: {e}"))?;
        Ok(GoTemplate {
            template,
            fields: field_names(text),
        })
    }

    /// Reads a template file (`-o go-template-file=FILE`), with Go's wording of failures.
    pub fn read_file(path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| {
            let text = e.to_string();
            let text = text.split(" (os error ").next().unwrap_or_default();
            format!("open {path}: {}", text.to_lowercase())
        })
    }

    /// Renders the template over the results (each a resource or a `<Kind>List` value).
    /// `as_number` is what `config "asnumber"` returns.
    pub fn render(&self, results: Vec<Value>, as_number: &str) -> Result<String, String> {
        let _ = AS_NUMBER.set(as_number.to_owned());
        let data = Tv::Array(results.iter().map(|v| self.convert(v)).collect());
        self.template
            .render(&Context::from(data))
            .map_err(|e| format!("template: {TEMPLATE_NAME}: {e}"))
    }

    /// JSON to template data, mirroring the Go field names the template uses.
    fn convert(&self, v: &Value) -> Tv {
        match v {
            Value::Null => Tv::Nil,
            Value::Bool(b) => Tv::Bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Tv::from(u)
                } else if let Some(i) = n.as_i64() {
                    Tv::from(i)
                } else {
                    Tv::from(n.as_f64().unwrap_or_default())
                }
            }
            Value::String(s) => Tv::String(s.clone()),
            Value::Array(items) => Tv::Array(items.iter().map(|i| self.convert(i)).collect()),
            Value::Object(map) => {
                let mut out: HashMap<String, Tv> = map
                    .iter()
                    .map(|(k, v)| (k.clone(), self.convert(v)))
                    .collect();
                let is_top = map.contains_key("apiVersion") && map.contains_key("kind");
                for name in &self.fields {
                    if out.contains_key(name) {
                        continue;
                    }
                    if let Some(found) = self.alias(map, name, is_top) {
                        out.insert(name.clone(), found);
                    }
                }
                Tv::Map(out)
            }
        }
    }

    /// The value a Go field name stands for in this JSON object, if any.
    fn alias(&self, map: &serde_json::Map<String, Value>, name: &str, is_top: bool) -> Option<Tv> {
        if let Some((_, v)) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            return Some(self.convert(v));
        }
        if !is_top {
            return None;
        }
        if let Some((_, key)) = GO_STRUCT_ALIASES.iter().find(|(go, _)| *go == name) {
            return map.get(*key).map(|v| self.convert(v));
        }
        if name == "TypeMeta" {
            let mut type_meta = HashMap::new();
            for (go, json) in [("Kind", "kind"), ("APIVersion", "apiVersion")] {
                if let Some(v) = map.get(json) {
                    type_meta.insert(go.to_owned(), self.convert(v));
                }
            }
            return Some(Tv::Map(type_meta));
        }
        // Fields of the embedded ObjectMeta/ListMeta are promoted, as in Go.
        let meta = map.get("metadata")?.as_object()?;
        meta.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| self.convert(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool_list() -> Value {
        json!({
            "apiVersion": "projectcalico.org/v3",
            "kind": "IPPoolList",
            "metadata": {"resourceVersion": "12"},
            "items": [
                {"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
                 "metadata": {"name": "p1", "labels": {"b": "2", "a": "1"}},
                 "spec": {"cidr": "10.0.0.0/16", "ipipMode": "Always", "natOutgoing": true}},
                {"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
                 "metadata": {"name": "p2"},
                 "spec": {"cidr": "10.1.0.0/16"}}
            ]
        })
    }

    fn render(text: &str) -> Result<String, String> {
        GoTemplate::parse(text)?.render(vec![pool_list()], DEFAULT_AS_NUMBER)
    }

    #[test]
    fn calicoctl_documented_example_with_go_field_names() {
        assert_eq!(
            render("{{range .}}{{range .Items}}{{.ObjectMeta.Name}},{{end}}{{end}}"),
            Ok("p1,p2,".into())
        );
        assert_eq!(
            render("{{range .}}{{range .Items}}{{.Spec.CIDR}} {{.Spec.IPIPMode}};{{end}}{{end}}"),
            Ok("10.0.0.0/16 Always;10.1.0.0/16 <no value>;".into())
        );
        assert_eq!(
            render(
                "{{range .}}{{.Kind}} {{.ListMeta.ResourceVersion}} {{.ResourceVersion}}{{end}}"
            ),
            Ok("IPPoolList 12 12".into())
        );
    }

    #[test]
    fn json_names_promoted_fields_and_functions() {
        assert_eq!(
            render("{{range .}}{{range .items}}{{.metadata.name}}={{.Name}} {{end}}{{end}}"),
            Ok("p1=p1 p2=p2 ".into())
        );
        assert_eq!(
            render(r#"{{range .}}{{range .Items}}[{{join .Labels ","}}]{{end}}{{end}}"#),
            Ok("[a=1,b=2][]".into())
        );
        assert_eq!(
            render(
                r#"{{range .}}{{range .Items}}{{joinAndTruncate .Spec.CIDR "," 5}} {{end}}{{end}}"#
            ),
            Ok("10... 10... ".into())
        );
        assert_eq!(render(r#"{{config "asnumber"}}"#), Ok("64512".into()));
        assert_eq!(
            render("{{range .}}{{range .Items}}{{if .Spec.NATOutgoing}}nat {{end}}{{end}}{{end}}"),
            Ok("nat ".into())
        );
    }

    #[test]
    fn errors_are_reported_not_panicked() {
        let e = render("{{range .}").expect_err("syntax");
        assert!(e.starts_with("template: get: "), "{e}");
        let e = render("{{nosuchfunc .}}").expect_err("function");
        assert!(e.starts_with("template: get: "), "{e}");
        let e = GoTemplate::read_file("/nonexistent/t.tmpl").expect_err("file");
        assert_eq!(e, "open /nonexistent/t.tmpl: no such file or directory");
    }

    #[test]
    fn field_names_are_found() {
        let names = field_names("{{range .}}{{.ObjectMeta.Name}} {{ $x.Spec }}{{end}} 1.5");
        for n in ["ObjectMeta", "Name", "Spec"] {
            assert!(names.contains(n), "{n}");
        }
        assert!(!names.contains("5"));
    }
}
