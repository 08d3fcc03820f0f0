//! YAML loading into `serde_json::Value` documents plus a parallel tree of source positions,
//! so that decoding errors can name the line of the offending field.
//!
//! Scalars resolve by the YAML 1.2 core schema (`yes`/`on` stay strings). Anchors, aliases
//! and merge keys (`<<`) are supported; duplicate keys are rejected rather than silently
//! dropping data; alias expansion is bounded.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// Upper bound on nodes produced per stream, including alias expansion (guards against
/// "billion laughs" inputs).
const MAX_NODES: usize = 10_000_000;

/// Source position of a node, with the positions of its children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loc {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    children: Children,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Children {
    #[default]
    None,
    Seq(Vec<Loc>),
    Map(Vec<(String, Loc)>),
}

impl Loc {
    fn at(span: &Span) -> Loc {
        Loc {
            line: span.start.line(),
            column: span.start.col() + 1,
            children: Children::None,
        }
    }

    /// The node at `path` (`a.b[2].c` syntax), if every step exists.
    pub fn find(&self, path: &str) -> Option<&Loc> {
        let mut cur = self;
        for seg in segments(path) {
            cur = cur.child(&seg)?;
        }
        Some(cur)
    }

    /// The deepest existing node along `path`.
    pub fn find_deepest(&self, path: &str) -> Option<&Loc> {
        let mut cur = self;
        for seg in segments(path) {
            match cur.child(&seg) {
                Some(c) => cur = c,
                None => break,
            }
        }
        Some(cur)
    }

    fn child(&self, seg: &Seg) -> Option<&Loc> {
        match (&self.children, seg) {
            (Children::Seq(v), Seg::Index(i)) => v.get(*i),
            (Children::Map(m), Seg::Key(k)) => m.iter().find(|(key, _)| key == k).map(|(_, l)| l),
            _ => None,
        }
    }
}

enum Seg {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Seg::Key(name.to_owned()));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else { break };
            if let Ok(i) = stripped[..end].parse() {
                out.push(Seg::Index(i));
            }
            rest = &stripped[end + 1..];
        }
    }
    out
}

/// A YAML syntax error.
#[derive(Debug)]
pub(crate) struct YamlError {
    pub document: usize,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

enum Frame {
    Seq {
        items: Vec<Value>,
        locs: Vec<Loc>,
        anchor: usize,
        loc: Loc,
    },
    Map {
        map: Map<String, Value>,
        locs: Vec<(String, Loc)>,
        key: Option<(String, Loc, bool)>,
        merges: Vec<(Value, Loc)>,
        anchor: usize,
        loc: Loc,
    },
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, Loc)>,
    nodes: usize,
    document: usize,
}

fn err_at(document: usize, span: &Span, message: impl Into<String>) -> YamlError {
    YamlError {
        document,
        line: span.start.line(),
        column: span.start.col() + 1,
        message: message.into(),
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(v) = resolve_int(s) {
        return v;
    }
    if is_float_syntax(s)
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(s.to_owned())
}

fn resolve_int(s: &str) -> Option<Value> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        if neg || s.starts_with('+') {
            return None;
        }
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        if neg || s.starts_with('+') {
            return None;
        }
        (8, o)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u128::from_str_radix(body, radix).ok();
    match mag {
        Some(m) if !neg && m <= u128::from(u64::MAX) => {
            u64::try_from(m).ok().map(|u| Value::Number(u.into()))
        }
        Some(m) if neg && m <= 1u128 << 63 => {
            let i = i128::try_from(m).ok().map(|m| -m)?;
            i64::try_from(i).ok().map(|i| Value::Number(i.into()))
        }
        // Too large for a 64-bit integer: keep the magnitude as a float, like JSON does.
        _ => {
            let f: f64 = s.parse().ok()?;
            Number::from_f64(f).map(Value::Number)
        }
    }
}

fn is_float_syntax(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mant_ok = match mant.split_once('.') {
        Some((a, b)) => {
            (!a.is_empty() || !b.is_empty())
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => !mant.is_empty() && mant.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    mant_ok && exp_ok
}

fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag
        && tag.is_yaml_core_schema()
    {
        return match tag.suffix() {
            "str" => Ok(Value::String(text.to_owned())),
            "null" => Ok(Value::Null),
            "bool" => match resolve_plain(text) {
                v @ Value::Bool(_) => Ok(v),
                _ => Err(format!("invalid !!bool value {text:?}")),
            },
            "int" => resolve_int(text).ok_or_else(|| format!("invalid !!int value {text:?}")),
            "float" => match resolve_plain(text) {
                v @ Value::Number(_) => Ok(v),
                _ => Err(format!("invalid !!float value {text:?}")),
            },
            other => Err(format!("unsupported tag !!{other} on a scalar")),
        };
    }
    Ok(match style {
        ScalarStyle::Plain if tag.is_none() => resolve_plain(text),
        _ => Value::String(text.to_owned()),
    })
}

impl Builder {
    /// Adds a finished node to the current collection. Returns the finished root, if this
    /// node is a document root.
    fn push(
        &mut self,
        value: Value,
        loc: Loc,
        span: &Span,
        plain_key: Option<&str>,
    ) -> Result<Option<(Value, Loc)>, YamlError> {
        let document = self.document;
        match self.stack.last_mut() {
            None => Ok(Some((value, loc))),
            Some(Frame::Seq { items, locs, .. }) => {
                items.push(value);
                locs.push(loc);
                Ok(None)
            }
            Some(Frame::Map {
                map,
                locs,
                key,
                merges,
                ..
            }) => match key.take() {
                None => {
                    let k = match (&value, plain_key) {
                        (_, Some(raw)) => raw.to_owned(),
                        (Value::String(s), None) => s.clone(),
                        (Value::Number(n), None) => n.to_string(),
                        (Value::Bool(b), None) => b.to_string(),
                        (Value::Null, None) => "null".to_owned(),
                        _ => return Err(err_at(document, span, "mapping keys must be scalars")),
                    };
                    let is_merge = plain_key == Some("<<");
                    *key = Some((k, loc, is_merge));
                    Ok(None)
                }
                Some((k, kloc, is_merge)) => {
                    if is_merge {
                        merges.push((value, loc));
                        return Ok(None);
                    }
                    if map.contains_key(&k) {
                        return Err(YamlError {
                            document,
                            line: kloc.line,
                            column: kloc.column,
                            message: format!("duplicate key {k:?}"),
                        });
                    }
                    map.insert(k.clone(), value);
                    locs.push((k, loc));
                    Ok(None)
                }
            },
        }
    }

    fn remember(&mut self, anchor: usize, value: &Value, loc: &Loc) {
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), loc.clone()));
        }
    }
}

fn apply_merges(
    document: usize,
    map: &mut Map<String, Value>,
    locs: &mut Vec<(String, Loc)>,
    merges: Vec<(Value, Loc)>,
) -> Result<(), YamlError> {
    for (value, loc) in merges {
        let sources: Vec<(Value, Loc)> = match value {
            Value::Object(_) => vec![(value, loc)],
            Value::Array(items) => {
                let child_locs = match &loc.children {
                    Children::Seq(v) => v.clone(),
                    _ => Vec::new(),
                };
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (v, child_locs.get(i).cloned().unwrap_or_default()))
                    .collect()
            }
            _ => {
                return Err(YamlError {
                    document,
                    line: loc.line,
                    column: loc.column,
                    message: "merge key << needs a mapping or a sequence of mappings".into(),
                });
            }
        };
        for (src, src_loc) in sources {
            let Value::Object(src_map) = src else {
                return Err(YamlError {
                    document,
                    line: src_loc.line,
                    column: src_loc.column,
                    message: "merge key << needs a mapping or a sequence of mappings".into(),
                });
            };
            let src_locs = match &src_loc.children {
                Children::Map(m) => m.clone(),
                _ => Vec::new(),
            };
            for (k, v) in src_map {
                if !map.contains_key(&k) {
                    let l = src_locs
                        .iter()
                        .find(|(key, _)| *key == k)
                        .map(|(_, l)| l.clone())
                        .unwrap_or_else(|| src_loc.clone());
                    map.insert(k.clone(), v);
                    locs.push((k, l));
                }
            }
        }
    }
    Ok(())
}

/// Parses every document of a YAML stream.
pub(crate) fn load_documents(text: &str) -> Result<Vec<(Value, Loc)>, YamlError> {
    let mut docs = Vec::new();
    let mut b = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        document: 0,
    };
    let mut parser = Parser::new_from_str(text);
    let mut root: Option<(Value, Loc)> = None;
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| YamlError {
            document: b.document.max(1),
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info(),
        })?;
        b.nodes += 1;
        if b.nodes > MAX_NODES {
            return Err(err_at(b.document, &span, "document too large"));
        }
        let finished = match event {
            Event::StreamStart | Event::StreamEnd => None,
            Event::DocumentStart(..) => {
                b.document += 1;
                b.anchors.clear();
                root = None;
                None
            }
            Event::DocumentEnd => {
                docs.push(root.take().unwrap_or((Value::Null, Loc::default())));
                None
            }
            Event::Alias(id) => {
                let Some((v, l)) = b.anchors.get(&id).cloned() else {
                    return Err(err_at(b.document, &span, "unknown alias"));
                };
                b.nodes += count_nodes(&v);
                if b.nodes > MAX_NODES {
                    return Err(err_at(b.document, &span, "alias expansion too large"));
                }
                let l = Loc {
                    line: span.start.line(),
                    column: span.start.col() + 1,
                    children: l.children,
                };
                b.push(v, l, &span, None)?
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(&text, style, tag.as_deref())
                    .map_err(|m| err_at(b.document, &span, m))?;
                let loc = Loc::at(&span);
                b.remember(anchor, &value, &loc);
                let in_key_position = matches!(b.stack.last(), Some(Frame::Map { key: None, .. }));
                let raw = (in_key_position).then_some(text.as_ref());
                let plain_raw = if in_key_position && style == ScalarStyle::Plain {
                    raw
                } else if in_key_position {
                    // A quoted key: never a merge key, but keep its text.
                    None
                } else {
                    None
                };
                if in_key_position && plain_raw.is_none() {
                    b.push(Value::String(text.to_string()), loc, &span, None)?
                } else {
                    b.push(value, loc, &span, plain_raw)?
                }
            }
            Event::SequenceStart(_, anchor, _) => {
                if matches!(b.stack.last(), Some(Frame::Map { key: None, .. })) {
                    return Err(err_at(b.document, &span, "mapping keys must be scalars"));
                }
                b.stack.push(Frame::Seq {
                    items: Vec::new(),
                    locs: Vec::new(),
                    anchor,
                    loc: Loc::at(&span),
                });
                None
            }
            Event::MappingStart(_, anchor, _) => {
                if matches!(b.stack.last(), Some(Frame::Map { key: None, .. })) {
                    return Err(err_at(b.document, &span, "mapping keys must be scalars"));
                }
                b.stack.push(Frame::Map {
                    map: Map::new(),
                    locs: Vec::new(),
                    key: None,
                    merges: Vec::new(),
                    anchor,
                    loc: Loc::at(&span),
                });
                None
            }
            Event::SequenceEnd => match b.stack.pop() {
                Some(Frame::Seq {
                    items,
                    locs,
                    anchor,
                    mut loc,
                }) => {
                    loc.children = Children::Seq(locs);
                    let v = Value::Array(items);
                    b.remember(anchor, &v, &loc);
                    b.push(v, loc, &span, None)?
                }
                _ => return Err(err_at(b.document, &span, "unbalanced sequence")),
            },
            Event::MappingEnd => match b.stack.pop() {
                Some(Frame::Map {
                    mut map,
                    mut locs,
                    merges,
                    anchor,
                    mut loc,
                    ..
                }) => {
                    apply_merges(b.document, &mut map, &mut locs, merges)?;
                    loc.children = Children::Map(locs);
                    let v = Value::Object(map);
                    b.remember(anchor, &v, &loc);
                    b.push(v, loc, &span, None)?
                }
                _ => return Err(err_at(b.document, &span, "unbalanced mapping")),
            },
            _ => None,
        };
        if let Some(done) = finished {
            root = Some(done);
        }
    }
    Ok(docs)
}

/// Serialises a JSON value as block-style YAML, quoting strings that would otherwise read
/// back as another type.
pub(crate) fn to_yaml_string(v: &Value) -> String {
    let mut out = String::new();
    write_node(&mut out, v, 0, Ctx::Root);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Root,
    MapValue,
    SeqItem,
}

fn write_node(out: &mut String, v: &Value, indent: usize, ctx: Ctx) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut first = true;
            for (k, val) in m {
                if !(first && ctx == Ctx::SeqItem) {
                    if ctx != Ctx::Root || !first {
                        out.push('\n');
                    }
                    push_indent(out, indent);
                }
                first = false;
                out.push_str(&scalar_str(k));
                out.push(':');
                write_child(out, val, indent);
            }
            if ctx == Ctx::Root {
                out.push('\n');
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let mut first = true;
            for item in a {
                if !(first && ctx == Ctx::SeqItem) {
                    if ctx != Ctx::Root || !first {
                        out.push('\n');
                    }
                    push_indent(out, indent);
                }
                first = false;
                out.push('-');
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        out.push(' ');
                        write_node(out, item, indent + 2, Ctx::SeqItem);
                    }
                    Value::Array(a2) if !a2.is_empty() => {
                        out.push(' ');
                        write_node(out, item, indent + 2, Ctx::SeqItem);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&inline(item));
                    }
                }
            }
            if ctx == Ctx::Root {
                out.push('\n');
            }
        }
        other => {
            out.push_str(&inline(other));
            if ctx == Ctx::Root {
                out.push('\n');
            }
        }
    }
}

fn write_child(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => write_node(out, v, indent + 2, Ctx::MapValue),
        // Sequences under a key are written at the key's indentation, as kubectl does.
        Value::Array(a) if !a.is_empty() => write_node(out, v, indent, Ctx::MapValue),
        other => {
            out.push(' ');
            out.push_str(&inline(other));
        }
    }
}

fn push_indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_str(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string as a YAML scalar: plain when it reads back as the same string, else
/// double-quoted with JSON escapes (valid YAML).
fn scalar_str(s: &str) -> String {
    if needs_quotes(s) {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    } else {
        s.to_owned()
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || !matches!(resolve_plain(s), Value::String(_)) {
        return true;
    }
    // YAML 1.1 booleans and friends: quote them so older parsers read strings too.
    if matches!(
        s.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | ".inf" | "-.inf" | "+.inf" | ".nan"
    ) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    let last = s.chars().last().unwrap_or(' ');
    if first.is_whitespace() || last.is_whitespace() {
        return true;
    }
    if matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
    ) {
        // `-x` is fine as a plain scalar, but keep the rule simple and safe.
        return true;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return true;
    }
    // Numbers in other notations (0x.., 1e3, 0777) and anything with control characters.
    if s.chars().any(|c| c.is_control()) {
        return true;
    }
    if s.starts_with("0")
        && s.len() > 1
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
    {
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(s: &str) -> Vec<Value> {
        load_documents(s)
            .unwrap()
            .into_iter()
            .map(|(v, _)| v)
            .collect()
    }

    #[test]
    fn core_schema_scalars() {
        let v = &load(
            "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: yes\ng: '80'\nh: 0x1F\ni: 0o17\nj: 1e3\nk: 00123\n",
        )[0];
        assert_eq!(v["a"], Value::from(1u64));
        assert_eq!(v["b"], Value::from(-2i64));
        assert_eq!(v["c"], Value::from(1.5));
        assert_eq!(v["d"], Value::Bool(true));
        assert_eq!(v["e"], Value::Null);
        assert_eq!(v["f"], Value::from("yes"));
        assert_eq!(v["g"], Value::from("80"));
        assert_eq!(v["h"], Value::from(31u64));
        assert_eq!(v["i"], Value::from(15u64));
        assert_eq!(v["j"], Value::from(1000.0));
        assert_eq!(v["k"], Value::from(123u64));
    }

    #[test]
    fn multi_docs_and_empty_docs() {
        let d = load("---\na: 1\n---\n# only a comment\n---\nb: 2\n");
        assert_eq!(d.len(), 3);
        assert_eq!(d[1], Value::Null);
    }

    #[test]
    fn anchors_aliases_merge() {
        let v = &load("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\nl: *b\n")[0];
        assert_eq!(v["c"]["x"], Value::from(1u64));
        assert_eq!(v["c"]["y"], Value::from(3u64));
        assert_eq!(v["l"]["y"], Value::from(2u64));
    }

    #[test]
    fn duplicate_keys_rejected() {
        let e = load_documents("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(e.message.contains("duplicate key"), "{}", e.message);
        assert_eq!(e.line, 3);
    }

    #[test]
    fn locations() {
        let (_, loc) = load_documents("a:\n  b:\n    - x\n    - y: 1\n")
            .unwrap()
            .remove(0);
        let l = loc.find("a.b[1].y").unwrap();
        assert_eq!(l.line, 4);
        assert!(loc.find("a.c").is_none());
        assert_eq!(loc.find_deepest("a.b[1].zzz").unwrap().line, 4);
    }

    #[test]
    fn quoting_round_trips() {
        for s in [
            "",
            "80",
            "true",
            "yes",
            "null",
            "1.5",
            "0x10",
            "a: b",
            "#x",
            "-",
            "- a",
            " a",
            "a ",
            "0777",
            "1e5",
            "plain",
            "app.kubernetes.io/name",
            "has(x) && y == 'z'",
            "all()",
            "\"q\"",
            "a\nb",
            "{x}",
            "*",
        ] {
            let v = serde_json::json!({ "k": s, "l": [s] });
            let y = to_yaml_string(&v);
            let back = &load(&y)[0];
            assert_eq!(back, &v, "{s:?} via {y}");
        }
    }

    #[test]
    fn nested_output_round_trips() {
        let v = serde_json::json!({
            "a": {"b": [1, {"c": [], "d": {}}, [2, 3], [{"e": null}]], "f": "x"},
            "g": [{"h": {"i": 1}, "j": [true]}],
        });
        let y = to_yaml_string(&v);
        assert_eq!(&load(&y)[0], &v, "{y}");
    }
}
