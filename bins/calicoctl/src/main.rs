//! `calicoctl`: manage Calico resources from the command line.
//!
//! This first cut has `validate` (offline decode, default and validate of manifests) and
//! `version`; the datastore commands arrive with the calicoctl issue.

mod input;
mod validate;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode, default and validate resources from files, directories or stdin, offline.
    Validate(validate::Args),
    /// Print the client version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Version => {
            println!("Client Version:    {CLIENT_VERSION}");
            println!(
                "Git commit:        {}",
                option_env!("CALICO_GIT_COMMIT").unwrap_or("unknown")
            );
            println!("Cluster Version:   unknown (no datastore configured)");
            ExitCode::SUCCESS
        }
    }
}
