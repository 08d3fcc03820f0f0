//! `calicoctl`: manage Calico resources from the command line.
//!
//! The resource commands (`create`, `apply`, `replace`, `delete`, `get`) work on any
//! datastore `calico-datastore` opens (embedded by default, etcd v3, or in-memory), chosen
//! as calicoctl chooses: the `--config` file, else `/etc/calico/calicoctl.cfg` if it exists,
//! else the environment (`DATASTORE_TYPE`, `ETCD_ENDPOINTS`, `CALICO_DATASTORE_PATH`, …).
//! Their messages and exit codes are calicoctl's, as are those of `patch` (strategic
//! merge, JSON merge or JSON patch, written with compare-and-swap) and `label`. `ipam`
//! shows, checks, releases and configures IP address management (on
//! `calico_datastore::ipam`). `validate` checks manifests offline.
//! `policy` explains, diffs and lints network policy (on `calico_policy::{explain, diff,
//! lint}`).

mod commands;
mod crud;
mod datastore;
mod errors;
mod input;
mod ipam;
mod label;
mod manifest;
mod node;
mod output;
mod patch;
mod policy;
mod precheck;
mod progress;
mod table;
mod template;
#[cfg(test)]
mod test_support;
mod validate;
mod version;

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
    /// Patch a resource in place (strategic merge, JSON merge or JSON patch).
    Patch(patch::PatchArgs),
    /// Set or remove a label on a resource.
    Label(label::LabelArgs),
    /// Decode, default and validate resources from files, directories or stdin, offline.
    Validate(validate::Args),
    /// IP address management: show usage, check for leaks, release addresses, configure.
    #[command(subcommand)]
    Ipam(ipam::IpamCommand),
    /// Policy analysis: explain a verdict, diff a change, lint for mistakes.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Datastore operations: migrate the contents of one datastore to another.
    #[command(subcommand)]
    Datastore(datastore::DatastoreCommand),
    /// Calico node commands: the node's status and the host's compatibility.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Print the client version and the cluster's version and type.
    Version(version::VersionArgs),
    /// Print a shell completion script (`source <(calicoctl completion bash)`).
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (calicoctl.1 and one per subcommand) to a directory.
    Man {
        /// Directory to write the pages to (created if missing).
        #[arg(long, default_value = ".", value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}

/// `calicoctl completion SHELL`.
fn completion(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "calicoctl", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// Writes `calicoctl.1` and `calicoctl-<sub>[-<subsub>].1` for every visible subcommand.
fn man_pages(dir: &std::path::Path) -> std::io::Result<usize> {
    fn walk(
        cmd: clap::Command,
        name: String,
        dir: &std::path::Path,
        count: &mut usize,
    ) -> std::io::Result<()> {
        let cmd = cmd.name(name.clone());
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), page)?;
        *count += 1;
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(
                sub.clone(),
                format!("{name}-{}", sub.get_name()),
                dir,
                count,
            )?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    let mut count = 0;
    let mut cmd = <Cli as clap::CommandFactory>::command();
    cmd.build();
    walk(cmd, "calicoctl".into(), dir, &mut count)?;
    Ok(count)
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
        Command::Patch(args) => runtime.block_on(patch::run(global, args)),
        Command::Label(args) => runtime.block_on(label::run(global, args)),
        Command::Ipam(command) => runtime.block_on(ipam::run(global, command)),
        Command::Datastore(command) => runtime.block_on(datastore::run(global, command)),
        Command::Policy(command) => runtime.block_on(policy::run(global, command)),
        Command::Validate(args) => return validate::run(args),
        Command::Node(command) => node::run(command),
        Command::Version(args) => runtime.block_on(version::run(global, args)),
        Command::Completion { shell } => return completion(*shell),
        Command::Man { dir } => match man_pages(dir) {
            Ok(n) => {
                println!("Wrote {n} man pages to {}", dir.display());
                return ExitCode::SUCCESS;
            }
            Err(e) => commands::Report::failure(format!(
                "cannot write man pages to {}: {e}",
                dir.display()
            )),
        },
    };
    finish(report)
}
