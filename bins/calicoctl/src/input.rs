//! Reading manifests from `-f FILE|DIR|-`, as calicoctl does: a directory contributes its
//! `.yaml`, `.yml` and `.json` files (sorted by name); `-` is standard input.

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

/// Why an input could not be read.
#[derive(Debug)]
pub struct InputError {
    /// The path given.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

fn is_manifest(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Expands `-f` arguments into sources, in order.
pub fn read_sources(args: &[String]) -> Result<Vec<Source>, InputError> {
    let mut out = Vec::new();
    for arg in args {
        if arg == "-" {
            let mut text = String::new();
            io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| InputError {
                    path: "stdin".into(),
                    reason: e.to_string(),
                })?;
            out.push(Source {
                display: "stdin".into(),
                text,
            });
            continue;
        }
        let path = PathBuf::from(arg);
        let meta = fs::metadata(&path).map_err(|e| InputError {
            path: arg.clone(),
            reason: e.to_string(),
        })?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = fs::read_dir(&path)
                .map_err(|e| InputError {
                    path: arg.clone(),
                    reason: e.to_string(),
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_manifest(p))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(InputError {
                    path: arg.clone(),
                    reason: format!("No resources specified in directory {arg}"),
                });
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
    let bytes = fs::read(path).map_err(|e| InputError {
        path: display.clone(),
        reason: e.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| InputError {
        path: display.clone(),
        reason: "file is not valid UTF-8".into(),
    })?;
    Ok(Source { display, text })
}
