//! `calicoctl validate`: decode, default and validate manifests without a datastore.
//!
//! Every problem is printed on its own line as
//! `<file>:<doc>: <kind>/<name>: <field.path>: <reason>`; the exit status is 1 if any
//! document is invalid.

use std::collections::BTreeSet;
use std::process::ExitCode;

use calico_model::codec::{Decoded, decode_each};

use crate::input::read_sources;

/// Arguments of `calicoctl validate`.
#[derive(clap::Args)]
pub struct Args {
    /// A file, a directory of .yaml/.yml/.json files, or `-` for stdin. Repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        required = true,
        value_name = "FILE|DIR|-"
    )]
    files: Vec<String>,
    /// Do not fail when a file holds no resources.
    #[arg(long)]
    skip_empty: bool,
    /// Only set the exit status; print nothing on success.
    #[arg(short, long)]
    quiet: bool,
}

fn subject(d: &Decoded) -> String {
    let kind = d.kind.as_deref().unwrap_or("<unknown kind>");
    let name = d.name.as_deref().unwrap_or("<no name>");
    format!("{kind}/{name}")
}

/// Runs the command; returns the process exit code.
pub fn run(args: &Args) -> ExitCode {
    let sources = match read_sources(&args.files) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Failed to execute command: {}: {}", e.path, e.reason);
            return ExitCode::FAILURE;
        }
    };
    let mut total = 0usize;
    let mut bad = 0usize;
    let mut kinds = BTreeSet::new();
    for src in &sources {
        let decoded = decode_each(&src.text);
        if decoded.is_empty() && !args.skip_empty {
            println!(
                "{}: No resources specified in file {}",
                src.display, src.display
            );
            bad += 1;
            continue;
        }
        for d in decoded {
            total += 1;
            let prefix = format!("{}:{}", src.display, d.document);
            match &d.result {
                Err(e) => {
                    bad += 1;
                    let line = e
                        .location
                        .line
                        .map_or(String::new(), |l| format!(" (line {l})"));
                    let path = if e.location.path.is_empty() {
                        String::new()
                    } else {
                        format!("{}: ", e.location.path)
                    };
                    println!("{prefix}: {}: {path}{}{line}", subject(&d), e.kind);
                }
                Ok(r) => {
                    let mut r = r.clone();
                    r.apply_defaults();
                    kinds.insert(r.kind());
                    if let Err(errs) = r.validate() {
                        bad += 1;
                        for p in &errs.problems {
                            println!("{prefix}: {}: {}: {}", subject(&d), p.path, p.reason);
                        }
                    }
                }
            }
        }
    }
    if bad > 0 {
        eprintln!("{bad} of {total} resource(s) invalid");
        return ExitCode::FAILURE;
    }
    if !args.quiet {
        match kinds.iter().next() {
            Some(k) if kinds.len() == 1 => {
                println!("Successfully validated {total} '{k}' resource(s)")
            }
            _ => println!("Successfully validated {total} resource(s)"),
        }
    }
    ExitCode::SUCCESS
}
