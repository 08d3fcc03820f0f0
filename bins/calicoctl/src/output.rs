//! `calicoctl get -o …`: YAML, JSON and the tables.
//!
//! As calicoctl's printers: one result prints as itself (a resource asked for by name, or
//! a `<Kind>List` for a listing); several results (several names) print as a YAML/JSON
//! sequence of them; tables print one table per result, each followed by a blank line.

use calico_model::codec::value_to_yaml;
use calico_model::{API_VERSION, Resource};
use serde_json::{Value, json};

use crate::crud::Output;
use crate::table::{self, Context, Headings};
use crate::template::GoTemplate;

/// An `-o` choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// `yaml` / `yml`.
    Yaml,
    /// `json`.
    Json,
    /// `ps` (the default table).
    Table,
    /// `wide`.
    Wide,
    /// `custom-columns=A,B`.
    Columns(Vec<String>),
    /// `name`: `kind/name` per resource, as kubectl prints (ours).
    Name,
    /// `go-template=TEXT`, or `go-template-file=FILE` (holding the file's text).
    GoTemplate(String),
}

impl Format {
    /// Parses an `-o` value with calicoctl's messages.
    pub fn parse(output: &str) -> Result<Format, String> {
        match output {
            "yaml" | "yml" => return Ok(Format::Yaml),
            "json" => return Ok(Format::Json),
            "ps" => return Ok(Format::Table),
            "wide" => return Ok(Format::Wide),
            "name" => return Ok(Format::Name),
            _ => {}
        }
        let (key, value) = output.split_once('=').unwrap_or((output, ""));
        match key {
            "custom-columns" if value.is_empty() => {
                Err("need to specify at least one column".into())
            }
            "custom-columns" => Ok(Format::Columns(
                value.split(',').map(str::to_owned).collect(),
            )),
            "go-template" if value.is_empty() => Err("need to specify a template".into()),
            "go-template-file" if value.is_empty() => Err("need to specify a template file".into()),
            "go-template" => {
                GoTemplate::parse(value)?;
                Ok(Format::GoTemplate(value.to_owned()))
            }
            "go-template-file" => {
                let text = GoTemplate::read_file(value)?;
                GoTemplate::parse(&text)?;
                Ok(Format::GoTemplate(text))
            }
            _ => Err(format!("unrecognized output format '{output}'")),
        }
    }

    /// True if the format needs the global AS number (tables of nodes, templates that
    /// call `config`).
    pub fn needs_as_number(&self, has_nodes: bool) -> bool {
        match self {
            Format::GoTemplate(text) => text.contains("config"),
            other => other.is_table() && has_nodes,
        }
    }

    /// True for the table formats.
    pub fn is_table(&self) -> bool {
        matches!(self, Format::Table | Format::Wide | Format::Columns(_))
    }
}

/// The JSON value printed for one result.
fn to_value(output: &Output) -> Value {
    match output {
        Output::One(r) => r.to_value(),
        Output::List {
            kind,
            items,
            revision,
        } => json!({
            "apiVersion": API_VERSION,
            "kind": kind.list_kind(),
            "metadata": {"resourceVersion": revision},
            "items": items.iter().map(Resource::to_value).collect::<Vec<_>>(),
        }),
    }
}

/// What calicoctl marshals: the one result, or a sequence of them.
fn document(outputs: &[Output]) -> Value {
    match outputs {
        [one] => to_value(one),
        many => Value::Array(many.iter().map(to_value).collect()),
    }
}

/// `-o name`: one `kind/name` line per resource, the kind lower-cased (kubectl's form).
fn names(outputs: &[Output]) -> String {
    let mut out = String::new();
    let mut line = |r: &Resource| {
        out.push_str(&r.kind().kind().to_ascii_lowercase());
        out.push('/');
        out.push_str(r.name());
        out.push('\n');
    };
    for output in outputs {
        match output {
            Output::One(r) => line(r),
            Output::List { items, .. } => items.iter().for_each(&mut line),
        }
    }
    out
}

/// Renders results in the chosen format.
pub fn render(
    outputs: &[Output],
    format: &Format,
    print_namespace: bool,
    ctx: &Context,
) -> Result<String, String> {
    match format {
        Format::Yaml => Ok(value_to_yaml(&document(outputs))),
        Format::Json => serde_json::to_string_pretty(&document(outputs))
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| e.to_string()),
        Format::Name => Ok(names(outputs)),
        Format::GoTemplate(text) => {
            GoTemplate::parse(text)?.render(outputs.iter().map(to_value).collect(), &ctx.as_number)
        }
        Format::Table | Format::Wide | Format::Columns(_) => {
            let headings = match format {
                Format::Columns(c) => Headings::Custom(c),
                other => Headings::Default {
                    wide: *other == Format::Wide,
                },
            };
            let mut out = String::new();
            for output in outputs {
                let rows: Vec<Value> = match output {
                    Output::One(r) => vec![r.to_value()],
                    Output::List { items, .. } => items.iter().map(Resource::to_value).collect(),
                };
                out.push_str(&table::render(
                    output.kind(),
                    &rows,
                    &headings,
                    print_namespace,
                    ctx,
                )?);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_model::{Kind, ObjectMeta, Tier, TierSpec};

    fn tier(name: &str) -> Resource {
        Tier::new(
            ObjectMeta::named(name),
            TierSpec {
                order: Some(10.0),
                ..TierSpec::default()
            },
        )
        .into()
    }

    #[test]
    fn formats_parse_like_calicoctl() {
        assert_eq!(Format::parse("yml"), Ok(Format::Yaml));
        assert_eq!(
            Format::parse("custom-columns=NAME,ORDER"),
            Ok(Format::Columns(vec!["NAME".into(), "ORDER".into()]))
        );
        assert_eq!(
            Format::parse("custom-columns="),
            Err("need to specify at least one column".into())
        );
        assert_eq!(
            Format::parse("xml"),
            Err("unrecognized output format 'xml'".into())
        );
    }

    #[test]
    fn one_result_prints_as_itself_several_as_a_sequence() {
        let ctx = Context::default();
        let one = render(&[Output::One(tier("a"))], &Format::Yaml, false, &ctx).expect("yaml");
        assert!(
            one.starts_with("apiVersion: projectcalico.org/v3\nkind: Tier\n"),
            "{one}"
        );
        let list = Output::List {
            kind: Kind::Tier,
            items: vec![tier("a"), tier("b")],
            revision: "7".into(),
        };
        let y = render(&[list], &Format::Yaml, false, &ctx).expect("yaml");
        assert!(y.contains("kind: TierList\n"), "{y}");
        assert!(y.contains("resourceVersion: \"7\""), "{y}");
        let two = render(
            &[Output::One(tier("a")), Output::One(tier("b"))],
            &Format::Json,
            false,
            &ctx,
        )
        .expect("json");
        let parsed: Value = serde_json::from_str(&two).expect("json");
        assert_eq!(parsed.as_array().map(Vec::len), Some(2));
        assert_eq!(render(&[], &Format::Yaml, false, &ctx), Ok("[]\n".into()));
    }

    #[test]
    fn a_table_per_result() {
        let ctx = Context::default();
        let t = render(
            &[Output::One(tier("a")), Output::One(tier("b"))],
            &Format::Table,
            false,
            &ctx,
        )
        .expect("table");
        assert_eq!(
            t,
            "NAME   ORDER   \na      10      \n\nNAME   ORDER   \nb      10      \n\n"
        );
    }
}
