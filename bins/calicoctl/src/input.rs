//! Reading manifests from `-f FILE|DIR|-`, as calicoctl does: a directory contributes its
//! `.yaml`, `.yml` and `.json` files (sorted by name; with `-R` also those of its
//! subdirectories); `-` is standard input.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// One input source and its text.
pub struct Source {
    /// How to name the source in messages (`-` shows as `stdin`).
    pub display: String,
    /// The file's contents.
    pub text: String,
}

/// Why the inputs could not be read.
#[derive(Debug)]
pub enum InputError {
    /// A file or directory could not be read.
    Io {
        /// What went wrong, worded as Go's `os` errors (`open x: no such file or directory`).
        reason: String,
    },
    /// A directory holds no manifest files.
    EmptyDirectory {
        /// The directory given.
        path: String,
    },
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Io { reason, .. } => f.write_str(reason),
            InputError::EmptyDirectory { path } => {
                write!(f, "No resources specified in directory {path}")
            }
        }
    }
}

/// An I/O error as Go's `os` package words it: `open <path>: no such file or directory`.
fn io_error(op: &str, path: &str, e: &io::Error) -> InputError {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    let lowered: String = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    InputError::Io {
        reason: format!("{op} {path}: {lowered}"),
    }
}

fn is_manifest(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// The manifest files under `dir`, sorted; with `recursive` also in subdirectories.
fn manifest_files(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let shown = dir.display().to_string();
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| io_error("open", &shown, &e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if recursive {
                manifest_files(&path, recursive, out)?;
            }
        } else if path.is_file() && is_manifest(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Expands `-f` arguments into sources, in order. With `skip_empty`, a directory without
/// manifests contributes nothing instead of failing.
pub fn read_sources(
    args: &[String],
    recursive: bool,
    skip_empty: bool,
) -> Result<Vec<Source>, InputError> {
    let mut out = Vec::new();
    for arg in args {
        if arg == "-" {
            let mut text = String::new();
            io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| io_error("read", "stdin", &e))?;
            out.push(Source {
                display: "stdin".into(),
                text,
            });
            continue;
        }
        let path = PathBuf::from(arg);
        let meta = fs::metadata(&path).map_err(|e| io_error("open", arg, &e))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            manifest_files(&path, recursive, &mut files)?;
            if files.is_empty() && !skip_empty {
                return Err(InputError::EmptyDirectory { path: arg.clone() });
            }
            for f in files {
                out.push(read_file(&f)?);
            }
        } else {
            out.push(read_file(&path)?);
        }
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<Source, InputError> {
    let display = path.display().to_string();
    let bytes = fs::read(path).map_err(|e| io_error("read", &display, &e))?;
    let text = String::from_utf8(bytes).map_err(|_| InputError::Io {
        reason: format!("read {display}: file is not valid UTF-8"),
    })?;
    Ok(Source { display, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_reads_like_go() {
        let err = read_sources(&["/nonexistent/x.yaml".into()], false, false)
            .err()
            .expect("missing");
        assert_eq!(
            err.to_string(),
            "open /nonexistent/x.yaml: no such file or directory"
        );
    }

    #[test]
    fn directories_are_walked_in_order_and_recursively_on_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("sub")).expect("mkdir");
        for name in ["b.yaml", "a.json", "notes.txt", "sub/c.yml"] {
            fs::write(dir.path().join(name), name).expect("write");
        }
        let arg = dir.path().display().to_string();
        let flat = read_sources(std::slice::from_ref(&arg), false, false).expect("read");
        let names: Vec<_> = flat.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(names, ["a.json", "b.yaml"]);
        let deep = read_sources(std::slice::from_ref(&arg), true, false).expect("read");
        assert_eq!(deep.len(), 3);
        assert_eq!(deep[2].text, "sub/c.yml");
    }

    #[test]
    fn empty_directory_fails_unless_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let arg = dir.path().display().to_string();
        assert!(matches!(
            read_sources(std::slice::from_ref(&arg), false, false),
            Err(InputError::EmptyDirectory { .. })
        ));
        assert!(
            read_sources(std::slice::from_ref(&arg), false, true)
                .expect("skipped")
                .is_empty()
        );
    }
}
