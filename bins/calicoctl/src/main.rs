//! `calicoctl`: manage Calico resources from the command line.
//!
//! The resource commands (`create`, `apply`, `replace`, `delete`, `get`) work on any
//! datastore `calico-datastore` opens (embedded by default, etcd v3, or in-memory), chosen
//! as calicoctl chooses: the `--config` file, else `/etc/calico/calicoctl.cfg` if it exists,
//! else the environment (`DATASTORE_TYPE`, `ETCD_ENDPOINTS`, `CALICO_DATASTORE_PATH`, …).
//! Their messages and exit codes are calicoctl's. `ipam` shows, checks, releases and
//! configures IP address management (on `calico_datastore::ipam`). `validate` checks
//! manifests offline. `policy` explains, diffs and lints network policy (on
//! `calico_policy::{explain, diff, lint}`).

mod commands;
mod crud;
mod errors;
mod input;
mod ipam;
mod manifest;
mod output;
mod policy;
mod table;
mod validate;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The version string printed by `calicoctl version`.
const CLIENT_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

#[derive(Parser)]
#[command(
    name = "calicoctl",
    version = CLIENT_VERSION,
    about = "Manage Calico resources (projectcalico.org/v3)",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(flatten)]
    global: commands::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create resources by file, directory or stdin.
    Create(commands::CreateArgs),
    /// Replace existing resources by file, directory or stdin.
    Replace(commands::WriteArgs),
    /// Create resources, or replace those that exist, by file, directory or stdin.
    Apply(commands::WriteArgs),
    /// Delete resources identified by file, directory, stdin or kind and names.
    Delete(commands::DeleteArgs),
    /// Get resources identified by file, directory, stdin or kind and names.
    Get(commands::GetArgs),
    /// Decode, default and validate resources from files, directories or stdin, offline.
    Validate(validate::Args),
    /// IP address management: show usage, check for leaks, release addresses, configure.
    #[command(subcommand)]
    Ipam(ipam::IpamCommand),
    /// Policy analysis: explain a verdict, diff a change, lint for mistakes.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Print the client version.
    Version,
}

/// Prints a command's report and turns it into the exit status.
fn finish(report: commands::Report) -> ExitCode {
    // A closed pipe (e.g. `| head`) is not worth a panic.
    let _ = std::io::stdout().write_all(report.stdout.as_bytes());
    let _ = std::io::stderr().write_all(report.stderr.as_bytes());
    if report.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // calicoctl exits 1 on bad options; help and version requests succeed.
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let global = &cli.global;
    let report = match &cli.command {
        Command::Create(args) => runtime.block_on(commands::create(global, args)),
        Command::Replace(args) => runtime.block_on(commands::replace(global, args)),
        Command::Apply(args) => runtime.block_on(commands::apply(global, args)),
        Command::Delete(args) => runtime.block_on(commands::delete(global, args)),
        Command::Get(args) => runtime.block_on(commands::get(global, args)),
        Command::Ipam(command) => runtime.block_on(ipam::run(global, command)),
        Command::Policy(command) => runtime.block_on(policy::run(global, command)),
        Command::Validate(args) => return validate::run(args),
        Command::Version => {
            println!("Client Version:    {CLIENT_VERSION}");
            println!(
                "Git commit:        {}",
                option_env!("CALICO_GIT_COMMIT").unwrap_or("unknown")
            );
            println!("Cluster Version:   unknown (no datastore configured)");
            return ExitCode::SUCCESS;
        }
    };
    finish(report)
}
