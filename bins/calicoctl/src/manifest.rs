//! Turning `-f` inputs into resources, and decoding problems into calicoctl-style lines
//! that name the file, the document, the resource and the field.

use calico_model::Resource;
use calico_model::codec::{DecodeError, DecodeErrorKind, Decoded, decode_each};

use crate::input::{InputError, Source, read_sources};

/// Why the resources of a command could not be loaded.
pub enum LoadError {
    /// A file could not be read or parsed (calicoctl: `Failed to execute command: …`).
    FileInvalid(String),
    /// Nothing to do (`No resources specified in file …`), reported as is.
    Plain(String),
}

/// One line describing a decoding problem:
/// `<file>:<doc>: <kind>/<name>: <field.path>: <reason> (line N)`.
pub fn describe(source: &str, d: &Decoded, e: &DecodeError) -> String {
    let kind = d.kind.as_deref().unwrap_or("<unknown kind>");
    let name = d.name.as_deref().unwrap_or("<no name>");
    let line = e
        .location
        .line
        .map_or(String::new(), |l| format!(" (line {l})"));
    let path = if e.location.path.is_empty() {
        String::new()
    } else {
        format!("{}: ", e.location.path)
    };
    let reason = match &e.kind {
        // calicoctl's one message for an unknown kind, a wrong or a missing apiVersion.
        DecodeErrorKind::UnknownKind { kind, suggestion } => {
            let hint = suggestion.map_or(String::new(), |s| format!(" (did you mean \"{s}\"?)"));
            format!(
                "Unknown resource type ({kind}) and/or version ({}){hint}",
                calico_model::API_VERSION
            )
        }
        DecodeErrorKind::UnsupportedApiVersion(v) => format!(
            "Unknown resource type ({}) and/or version ({v})",
            d.kind.as_deref().unwrap_or_default()
        ),
        DecodeErrorKind::MissingField("apiVersion") => format!(
            "Unknown resource type ({}) and/or version ()",
            d.kind.as_deref().unwrap_or_default()
        ),
        other => other.to_string(),
    };
    format!(
        "{source}:{}: {kind}/{name}: {path}{reason}{line}",
        d.document
    )
}

/// Reads and decodes every resource named by `-f` arguments. Any decoding problem fails
/// the whole command before anything is written, as in calicoctl; every problem is listed.
pub fn load(
    files: &[String],
    recursive: bool,
    skip_empty: bool,
) -> Result<Vec<Resource>, LoadError> {
    let sources = read_sources(files, recursive, skip_empty).map_err(|e| match e {
        InputError::EmptyDirectory { .. } => LoadError::Plain(e.to_string()),
        InputError::Io { .. } => LoadError::FileInvalid(e.to_string()),
    })?;
    decode_sources(&sources, skip_empty)
}

/// Decodes already-read sources (see [`load`]).
pub fn decode_sources(sources: &[Source], skip_empty: bool) -> Result<Vec<Resource>, LoadError> {
    let mut resources = Vec::new();
    let mut problems = Vec::new();
    for src in sources {
        let decoded = decode_each(&src.text);
        if decoded.is_empty() && !skip_empty {
            return Err(LoadError::Plain(format!(
                "No resources specified in file {}",
                src.display
            )));
        }
        for d in decoded {
            match &d.result {
                Ok(r) => resources.push(r.clone()),
                Err(e) => problems.push(describe(&src.display, &d, e)),
            }
        }
    }
    if problems.is_empty() {
        Ok(resources)
    } else {
        Err(LoadError::FileInvalid(problems.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Vec<Source> {
        vec![Source {
            display: "in.yaml".into(),
            text: text.into(),
        }]
    }

    fn file_invalid(r: Result<Vec<Resource>, LoadError>) -> String {
        match r {
            Err(LoadError::FileInvalid(m)) => m,
            Err(LoadError::Plain(m)) => panic!("plain error {m}"),
            Ok(_) => panic!("decoded"),
        }
    }

    #[test]
    fn unknown_kind_reads_like_calicoctl() {
        let m = file_invalid(decode_sources(
            &src("apiVersion: projectcalico.org/v3\nkind: IpPool\nmetadata: {name: p}\n"),
            false,
        ));
        assert!(
            m.starts_with("in.yaml:1: IpPool/p: kind: Unknown resource type (IpPool) and/or version (projectcalico.org/v3) (did you mean \"IPPool\"?)"),
            "{m}"
        );
    }

    #[test]
    fn wrong_api_version_reads_like_calicoctl() {
        let m = file_invalid(decode_sources(
            &src("apiVersion: v1\nkind: IPPool\nmetadata: {name: p}\n"),
            false,
        ));
        assert!(
            m.contains("Unknown resource type (IPPool) and/or version (v1)"),
            "{m}"
        );
    }

    #[test]
    fn every_problem_is_listed_and_nothing_is_returned() {
        let text = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a}\nspec: {ordr: 1}\n---\n\
                    apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: b}\n---\n\
                    apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: c}\nspec: {order: x}\n";
        let m = file_invalid(decode_sources(&src(text), false));
        let lines: Vec<_> = m.lines().collect();
        assert_eq!(lines.len(), 2, "{m}");
        assert!(
            lines[0].starts_with("in.yaml:1: Tier/a: spec.ordr: "),
            "{m}"
        );
        assert!(
            lines[1].starts_with("in.yaml:3: Tier/c: spec.order: "),
            "{m}"
        );
    }

    #[test]
    fn empty_file_is_reported_unless_skipped() {
        assert!(matches!(
            decode_sources(&src("# nothing\n"), false),
            Err(LoadError::Plain(m)) if m == "No resources specified in file in.yaml"
        ));
        assert!(matches!(decode_sources(&src(""), true), Ok(v) if v.is_empty()));
    }
}
