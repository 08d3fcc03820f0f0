//! `calicoctl validate`: decode, default and validate manifests without a datastore.
//!
//! Every problem is printed on its own line as
//! `<file>:<doc>: <kind>/<name>: <field.path>: <reason>`; the exit status is 1 if any
//! document is invalid.

use std::collections::BTreeSet;
use std::process::ExitCode;

use calico_model::codec::decode_each;

use crate::input::{InputError, read_sources};
use crate::manifest::describe;

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
    /// Process the directory given with -f recursively.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// Do not fail when a file holds no resources.
    #[arg(long)]
    skip_empty: bool,
    /// Only set the exit status; print nothing on success.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs the command; returns the process exit code.
pub fn run(args: &Args) -> ExitCode {
    let sources = match read_sources(&args.files, args.recursive, args.skip_empty) {
        Ok(s) => s,
        Err(e @ InputError::EmptyDirectory { .. }) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("Failed to execute command: {e}");
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
                    println!("{}", describe(&src.display, &d, e));
                }
                Ok(r) => {
                    let mut r = r.clone();
                    r.apply_defaults();
                    kinds.insert(r.kind());
                    if let Err(errs) = r.validate() {
                        bad += 1;
                        for p in &errs.problems {
                            println!(
                                "{prefix}: {}/{}: {}: {}",
                                r.kind(),
                                r.name(),
                                p.path,
                                p.reason
                            );
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
