//! Running `nft`: transactions through stdin (`nft -j -f -`), listings, and finding the
//! command a refused transaction failed on.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::NftOptions;
use super::diff::{Observed, Transaction};
use crate::error::{Error, Result};

fn command(opts: &NftOptions) -> Command {
    match opts.command_prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&opts.nft_path);
            c
        }
        None => Command::new(&opts.nft_path),
    }
}

/// Output of one `nft` run: success flag, stdout, stderr.
fn run(opts: &NftOptions, args: &[&str], stdin: Option<&[u8]>) -> Result<(bool, Vec<u8>, String)> {
    let mut cmd = command(opts);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = || format!("running {} {}", opts.nft_path.display(), args.join(" "));
    let mut child = cmd.spawn().map_err(|e| Error::io(what(), e))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // nft reads all of stdin before it answers, so writing first cannot deadlock.
        pipe.write_all(input).map_err(|e| Error::io(what(), e))?;
    }
    let out = child.wait_with_output().map_err(|e| Error::io(what(), e))?;
    Ok((
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    ))
}

/// Checks that `nft` runs and may list the ruleset.
pub(crate) fn check(opts: &NftOptions) -> Result<()> {
    let (ok, _, err) = run(opts, &["-j", "list", "tables"], None).map_err(|e| {
        Error::Unsupported(format!(
            "nft ({}) cannot be run: {e}",
            opts.nft_path.display()
        ))
    })?;
    if !ok {
        return Err(Error::Unsupported(format!(
            "nft cannot list the ruleset (root / CAP_NET_ADMIN needed?): {err}"
        )));
    }
    Ok(())
}

/// Lists our table; an absent table is an empty observation.
pub(crate) fn list_table(opts: &NftOptions) -> Result<Observed> {
    let (ok, out, err) = run(opts, &["-j", "list", "table", "inet", &opts.table], None)?;
    if !ok {
        if err.contains("No such file or directory") {
            return Ok(Observed::default());
        }
        tracing::error!(table = %opts.table, error = %err, "nft list table failed");
        return Err(Error::Kernel {
            tool: "nft",
            object: format!("list table inet {}", opts.table),
            reason: err,
        });
    }
    let listing: Value = serde_json::from_slice(&out).map_err(|e| Error::Kernel {
        tool: "nft",
        object: format!("list table inet {}", opts.table),
        reason: format!("unreadable JSON listing: {e}"),
    })?;
    Ok(Observed::parse_listing(&listing))
}

/// Sends one transaction. On failure, finds the first command nft refuses (by checking
/// ever shorter prefixes with `nft -c`) and reports it.
pub(crate) fn run_transaction(opts: &NftOptions, tx: &Transaction) -> Result<()> {
    let (ok, _, err) = run(opts, &["-j", "-f", "-"], Some(tx.to_json_text().as_bytes()))?;
    if ok {
        return Ok(());
    }
    let object = match failing_command(opts, tx) {
        Some(i) => tx.describe(i),
        None => format!("transaction of {} commands", tx.command_texts.len()),
    };
    tracing::error!(table = %opts.table, object = %object, error = %err, "nft refused a transaction");
    Err(Error::Kernel {
        tool: "nft",
        object,
        reason: err,
    })
}

/// The index of the first command whose prefix of the transaction nft rejects in check mode.
fn failing_command(opts: &NftOptions, tx: &Transaction) -> Option<usize> {
    let fails = |n: usize| {
        let doc = super::render::document_text(&tx.command_texts[..n]);
        run(opts, &["-c", "-j", "-f", "-"], Some(doc.as_bytes()))
            .map(|(ok, _, _)| !ok)
            .unwrap_or(false)
    };
    let (mut lo, mut hi) = (0usize, tx.command_texts.len());
    if !fails(hi) {
        return None;
    }
    // Invariant: prefix of length lo passes, prefix of length hi fails.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fails(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi - 1)
}
