//! Decoding and encoding of Calico manifests: multi-document YAML, JSON (objects, arrays,
//! streams), `<Kind>List` documents and `kind: List`.
//!
//! Decoding is strict: unknown fields are rejected with the field path and the document and
//! line where they appear. Decoding never applies defaults; call
//! [`Resource::apply_defaults`] for that. Encoding is deterministic (fields in declaration
//! order, maps sorted by key), and decode → encode → decode gives back equal resources.

pub(crate) mod lenient;
mod yaml;

use std::fmt;

use serde_json::Value;

use crate::resource::{API_VERSION, Kind, Resource};
pub use yaml::Loc;

/// Where in the input a decoding problem is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// 1-based document number in a multi-document stream (1 for a single document).
    pub document: usize,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// JSON field path inside the document, e.g. `items[2].spec.ingress[0].action`; empty
    /// for the document itself.
    pub path: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}", self.document)?;
        if let Some(l) = self.line {
            write!(f, ", line {l}")?;
            if let Some(c) = self.column {
                write!(f, ", column {c}")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        Ok(())
    }
}

/// What went wrong while decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The text is not well-formed YAML or JSON.
    Syntax(String),
    /// A document is not a mapping (or a list of mappings).
    NotAnObject,
    /// A required top-level field (`kind`, `apiVersion`) is missing.
    MissingField(&'static str),
    /// `apiVersion` is not `projectcalico.org/v3`.
    UnsupportedApiVersion(String),
    /// `kind` is not a Calico kind.
    UnknownKind {
        /// The kind as written.
        kind: String,
        /// A kind with the same spelling but different case, if any.
        suggestion: Option<&'static str>,
    },
    /// A field has the wrong type or an invalid value, or is not a field of its kind.
    Field(String),
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeErrorKind::Syntax(m) => write!(f, "syntax error: {m}"),
            DecodeErrorKind::NotAnObject => f.write_str(
                "expected a resource (a mapping with apiVersion, kind, metadata and spec)",
            ),
            DecodeErrorKind::MissingField(name) => write!(f, "missing required field \"{name}\""),
            DecodeErrorKind::UnsupportedApiVersion(v) => {
                write!(
                    f,
                    "unsupported apiVersion {v:?}: expected \"{API_VERSION}\""
                )
            }
            DecodeErrorKind::UnknownKind { kind, suggestion } => {
                write!(f, "unknown kind {kind:?}")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean \"{s}\"?)")?;
                }
                Ok(())
            }
            DecodeErrorKind::Field(m) => f.write_str(m),
        }
    }
}

/// A decoding error with its location.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct DecodeError {
    /// Where the problem is.
    pub location: Location,
    /// What the problem is.
    pub kind: DecodeErrorKind,
}

/// One resource decoded from a stream, with where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// 1-based document number.
    pub document: usize,
    /// Path of the resource inside its document (`items[3]` for list members, else empty).
    pub path: String,
    /// 1-based line where the resource starts, when known.
    pub line: Option<usize>,
    /// The `kind` written in the document, when there is one (also for failed decodes).
    pub kind: Option<String>,
    /// The `metadata.name` written in the document, when there is one.
    pub name: Option<String>,
    /// The resource, or why it could not be decoded.
    pub result: Result<Resource, DecodeError>,
}

/// Decodes every resource in a YAML stream (one or more `---`-separated documents; each may
/// be a resource, a `<Kind>List`, a `kind: List` or a sequence of resources). Stops at the
/// first problem.
pub fn decode_yaml(text: &str) -> Result<Vec<Resource>, DecodeError> {
    decode_yaml_each(text)
        .into_iter()
        .map(|d| d.result)
        .collect()
}

/// Decodes every resource in JSON text: one object, an array of objects, or several
/// concatenated values. Stops at the first problem.
pub fn decode_json(text: &str) -> Result<Vec<Resource>, DecodeError> {
    decode_json_each(text)
        .into_iter()
        .map(|d| d.result)
        .collect()
}

/// Decodes YAML or JSON, guessing JSON when the first non-blank character is `{` or `[`.
pub fn decode(text: &str) -> Result<Vec<Resource>, DecodeError> {
    decode_each(text).into_iter().map(|d| d.result).collect()
}

/// Like [`decode`], but keeps going after a bad resource: one entry per resource found (a
/// syntax error ends the stream with one error entry).
pub fn decode_each(text: &str) -> Vec<Decoded> {
    if looks_like_json(text) {
        decode_json_each(text)
    } else {
        decode_yaml_each(text)
    }
}

fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

/// Like [`decode_yaml`], but keeps going after a bad resource.
pub fn decode_yaml_each(text: &str) -> Vec<Decoded> {
    let mut out = Vec::new();
    match yaml::load_documents(text) {
        Ok(docs) => {
            for (i, (value, loc)) in docs.iter().enumerate() {
                decode_document(i + 1, value, Some(loc), &mut out);
            }
        }
        Err(e) => out.push(Decoded {
            document: e.document,
            path: String::new(),
            line: Some(e.line),
            kind: None,
            name: None,
            result: Err(DecodeError {
                location: Location {
                    document: e.document,
                    line: Some(e.line),
                    column: Some(e.column),
                    path: String::new(),
                },
                kind: DecodeErrorKind::Syntax(e.message),
            }),
        }),
    }
    out
}

/// Like [`decode_json`], but keeps going after a bad resource.
pub fn decode_json_each(text: &str) -> Vec<Decoded> {
    let mut out = Vec::new();
    let mut values = Vec::new();
    for item in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        match item {
            Ok(v) => values.push(v),
            Err(e) => {
                let document = values.len() + 1;
                out.push(Decoded {
                    document,
                    path: String::new(),
                    line: Some(e.line()),
                    kind: None,
                    name: None,
                    result: Err(DecodeError {
                        location: Location {
                            document,
                            line: Some(e.line()),
                            column: Some(e.column()),
                            path: String::new(),
                        },
                        kind: DecodeErrorKind::Syntax(strip_json_position(&e.to_string())),
                    }),
                });
                break;
            }
        }
    }
    // Positions for error messages: JSON is YAML 1.2 flow syntax, so the YAML loader can
    // locate fields; only consulted when there is something to report.
    let mut locs: Option<Vec<Loc>> = None;
    let mut decoded = Vec::new();
    for (i, v) in values.iter().enumerate() {
        decode_document(i + 1, v, None, &mut decoded);
    }
    if decoded.iter().any(|d| d.result.is_err()) {
        locs = yaml::load_documents(text)
            .ok()
            .map(|docs| docs.into_iter().map(|(_, l)| l).collect());
    }
    if let Some(locs) = &locs
        && locs.len() == values.len()
    {
        for d in &mut decoded {
            let Some(loc) = locs.get(d.document - 1) else {
                continue;
            };
            let item = loc.find(&d.path);
            d.line = item.map(|l| l.line);
            if let Err(e) = &mut d.result
                && e.location.line.is_none()
                && let Some(l) = loc.find_deepest(&e.location.path)
            {
                e.location.line = Some(l.line);
                e.location.column = Some(l.column);
            }
        }
    }
    decoded.extend(out);
    decoded
}

fn strip_json_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Decodes one parsed document (which may hold several resources) into `out`.
fn decode_document(document: usize, value: &Value, loc: Option<&Loc>, out: &mut Vec<Decoded>) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                decode_item(document, &format!("[{i}]"), item, None, true, loc, out);
            }
        }
        Value::Object(map) => {
            let kind = map.get("kind").and_then(Value::as_str);
            if kind == Some("List") {
                decode_generic_list(document, value, loc, out);
                return;
            }
            if let Some(k) = kind
                && let Some(list_kind) = Kind::from_list_kind(k)
            {
                decode_typed_list(document, value, list_kind, loc, out);
                return;
            }
            decode_item(document, "", value, None, true, loc, out);
        }
        _ => out.push(error_entry(document, "", loc, DecodeErrorKind::NotAnObject)),
    }
}

fn error_entry(document: usize, path: &str, loc: Option<&Loc>, kind: DecodeErrorKind) -> Decoded {
    let at = loc.and_then(|l| l.find_deepest(path));
    Decoded {
        document,
        path: path.to_owned(),
        line: at.map(|l| l.line),
        kind: None,
        name: None,
        result: Err(DecodeError {
            location: Location {
                document,
                line: at.map(|l| l.line),
                column: at.map(|l| l.column),
                path: path.to_owned(),
            },
            kind,
        }),
    }
}

fn join_path(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => base.to_owned(),
        _ if rest.starts_with('[') => format!("{base}{rest}"),
        _ => format!("{base}.{rest}"),
    }
}

fn list_items<'a>(
    document: usize,
    value: &'a Value,
    loc: Option<&Loc>,
    allowed: &[&str],
    out: &mut Vec<Decoded>,
) -> Option<&'a [Value]> {
    let map = value.as_object()?;
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            out.push(error_entry(
                document,
                key,
                loc,
                DecodeErrorKind::Field(format!(
                    "unknown field `{key}`, expected one of {}",
                    allowed
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ));
            return None;
        }
    }
    match map.get("items") {
        None | Some(Value::Null) => Some(&[]),
        Some(Value::Array(items)) => Some(items),
        Some(_) => {
            out.push(error_entry(
                document,
                "items",
                loc,
                DecodeErrorKind::Field("invalid type: expected a sequence of resources".into()),
            ));
            None
        }
    }
}

fn decode_generic_list(document: usize, value: &Value, loc: Option<&Loc>, out: &mut Vec<Decoded>) {
    // `kind: List` (apiVersion v1): items of any kind, each carrying its own kind.
    let Some(items) = list_items(
        document,
        value,
        loc,
        &["apiVersion", "kind", "metadata", "items"],
        out,
    ) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        decode_item(document, &format!("items[{i}]"), item, None, true, loc, out);
    }
}

fn decode_typed_list(
    document: usize,
    value: &Value,
    kind: Kind,
    loc: Option<&Loc>,
    out: &mut Vec<Decoded>,
) {
    if let Some(api) = value.get("apiVersion").and_then(Value::as_str)
        && api != API_VERSION
    {
        out.push(error_entry(
            document,
            "apiVersion",
            loc,
            DecodeErrorKind::UnsupportedApiVersion(api.to_owned()),
        ));
        return;
    }
    if let Some(meta) = value.get("metadata")
        && let Err(e) = serde_path_to_error::deserialize::<_, crate::meta::ListMeta>(meta)
    {
        let path = join_path("metadata", &e.path().to_string());
        out.push(error_entry(
            document,
            &path,
            loc,
            DecodeErrorKind::Field(e.into_inner().to_string()),
        ));
        return;
    }
    let Some(items) = list_items(
        document,
        value,
        loc,
        &["apiVersion", "kind", "metadata", "items"],
        out,
    ) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        decode_item(
            document,
            &format!("items[{i}]"),
            item,
            Some(kind),
            false,
            loc,
            out,
        );
    }
}

/// Decodes one resource object at `path` in its document.
fn decode_item(
    document: usize,
    path: &str,
    value: &Value,
    list_kind: Option<Kind>,
    require_type_meta: bool,
    loc: Option<&Loc>,
    out: &mut Vec<Decoded>,
) {
    let Some(map) = value.as_object() else {
        out.push(error_entry(
            document,
            path,
            loc,
            DecodeErrorKind::NotAnObject,
        ));
        return;
    };
    let first = out.len();
    decode_object(
        document,
        path,
        value,
        map,
        list_kind,
        require_type_meta,
        loc,
        out,
    );
    let kind_hint = map
        .get("kind")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| list_kind.map(|k| k.kind().to_owned()));
    let name_hint = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    for d in &mut out[first..] {
        d.kind.clone_from(&kind_hint);
        d.name.clone_from(&name_hint);
    }
}

#[allow(clippy::too_many_arguments)]
fn decode_object(
    document: usize,
    path: &str,
    value: &Value,
    map: &serde_json::Map<String, Value>,
    list_kind: Option<Kind>,
    require_type_meta: bool,
    loc: Option<&Loc>,
    out: &mut Vec<Decoded>,
) {
    let sub = |field: &str| join_path(path, field);
    let api = map.get("apiVersion");
    match api {
        None if require_type_meta => {
            out.push(error_entry(
                document,
                path,
                loc,
                DecodeErrorKind::MissingField("apiVersion"),
            ));
            return;
        }
        None => {}
        Some(Value::String(s)) if s == API_VERSION => {}
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            out.push(error_entry(
                document,
                &sub("apiVersion"),
                loc,
                DecodeErrorKind::UnsupportedApiVersion(shown),
            ));
            return;
        }
    }
    let kind = match (map.get("kind"), list_kind) {
        (None, Some(k)) => k,
        (None, None) => {
            out.push(error_entry(
                document,
                path,
                loc,
                DecodeErrorKind::MissingField("kind"),
            ));
            return;
        }
        (Some(Value::String(s)), lk) => match Kind::from_kind(s) {
            Some(k) if lk.is_none_or(|l| l == k) => k,
            Some(k) => {
                out.push(error_entry(
                    document,
                    &sub("kind"),
                    loc,
                    DecodeErrorKind::Field(format!(
                        "kind {:?} in a list of {}",
                        k.kind(),
                        lk.map_or(String::new(), Kind::list_kind)
                    )),
                ));
                return;
            }
            None => {
                let suggestion = Kind::ALL
                    .iter()
                    .find(|k| k.kind().eq_ignore_ascii_case(s))
                    .map(|k| k.kind());
                out.push(error_entry(
                    document,
                    &sub("kind"),
                    loc,
                    DecodeErrorKind::UnknownKind {
                        kind: s.clone(),
                        suggestion,
                    },
                ));
                return;
            }
        },
        (Some(other), _) => {
            out.push(error_entry(
                document,
                &sub("kind"),
                loc,
                DecodeErrorKind::Field(format!("invalid type: {other}, expected a string")),
            ));
            return;
        }
    };
    let item_line = loc.and_then(|l| l.find(path)).map(|l| l.line);
    // YAML documents come with source positions; JSON ones are decoded strictly.
    let decoded = if loc.is_some() {
        Resource::from_yaml_value(kind, value)
    } else {
        Resource::from_value(kind, value)
    };
    let result = decoded.map_err(|e| {
        let field = sub(&e.path().to_string().replace("?", ""));
        let field = field.trim_end_matches('.').to_owned();
        let at = loc.and_then(|l| l.find_deepest(&field));
        DecodeError {
            location: Location {
                document,
                line: at.map(|l| l.line),
                column: at.map(|l| l.column),
                path: field,
            },
            kind: DecodeErrorKind::Field(calico_field_message(&e.into_inner().to_string())),
        }
    });
    out.push(Decoded {
        document,
        path: path.to_owned(),
        line: item_line,
        kind: None,
        name: None,
        result,
    });
}

/// Rewrites serde's unknown-field message the way calicoctl words it, keeping the list of
/// expected fields.
fn calico_field_message(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some((field, tail)) = rest.split_once('`')
    {
        let expected = tail.trim_start_matches(", ").trim();
        if expected.is_empty() {
            return format!(
                "field in document is not recognized or is in the wrong location: {field}"
            );
        }
        return format!(
            "field in document is not recognized or is in the wrong location: {field} ({expected})"
        );
    }
    msg.to_owned()
}

/// Encodes any JSON value as block-style YAML (strings quoted where needed to read back as
/// strings).
pub fn value_to_yaml(value: &Value) -> String {
    yaml::to_yaml_string(value)
}

/// Encodes one resource as a YAML document (no leading `---`).
pub fn to_yaml(resource: &Resource) -> String {
    yaml::to_yaml_string(&resource.to_value())
}

/// Encodes resources as a YAML stream, documents separated by `---`.
pub fn encode_yaml(resources: &[Resource]) -> String {
    let mut out = String::new();
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(r));
    }
    out
}

/// Encodes one resource as pretty-printed JSON.
pub fn to_json(resource: &Resource) -> String {
    serde_json::to_string_pretty(resource).unwrap_or_default()
}

/// Encodes resources as pretty-printed JSON: an array when there are several (or none),
/// a single object for exactly one.
pub fn encode_json(resources: &[Resource]) -> String {
    match resources {
        [one] => to_json(one),
        many => serde_json::to_string_pretty(many).unwrap_or_default(),
    }
}
