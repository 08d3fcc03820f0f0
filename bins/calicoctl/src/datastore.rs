//! `calicoctl datastore migrate export | import | lock | unlock`: move every resource (IPAM
//! included) from one datastore to another, e.g. embedded → etcd and back, on
//! `calico_datastore::migrate`. Messages follow calicoctl's
//! (`commands/datastore/migrate/{export,import,lock,unlock}.go`); the differences are
//! listed in docs/calicoctl.md ("Migrating between datastores").

use calico_datastore::migrate::{
    self, ExportOptions, ImportOptions, ImportSummary, MigrateError, StreamProblem,
};

use crate::commands::{Global, Report, check_version, connect};
use crate::errors::ActionError;
use crate::input::{InputError, read_sources};
use crate::progress::{Bars, Stdout};

/// `calicoctl datastore`.
#[derive(clap::Subcommand, Debug)]
pub enum DatastoreCommand {
    /// Migrate the contents of one datastore to another: lock, export, import, unlock.
    #[command(subcommand)]
    Migrate(MigrateCommand),
}

/// `calicoctl datastore migrate`.
#[derive(clap::Subcommand, Debug)]
pub enum MigrateCommand {
    /// Write every resource of the (locked) datastore, IPAM included, to stdout as one
    /// YAML stream, for `import`.
    Export,
    /// Write the resources of an export stream into an empty datastore (left locked).
    Import(ImportArgs),
    /// Lock the datastore (ClusterInformation datastoreReady=false) so Calico components
    /// stop acting on it during the migration.
    Lock,
    /// Unlock the datastore (datastoreReady=true) once the migration is done.
    Unlock,
}

/// `calicoctl datastore migrate import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The file written by `export`, or `-` for stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILENAME")]
    filename: String,
}

/// Runs one `calicoctl datastore` subcommand.
pub async fn run(global: &Global, command: &DatastoreCommand) -> Report {
    let DatastoreCommand::Migrate(command) = command;
    match command {
        MigrateCommand::Export => export(global).await,
        MigrateCommand::Import(args) => import(global, args).await,
        MigrateCommand::Lock => lock(global).await,
        MigrateCommand::Unlock => unlock(global).await,
    }
}

/// A datastore error worded as calicoctl words it (`resource does not exist: … with
/// error: <nil>`).
fn store_error(e: calico_datastore::Error) -> String {
    ActionError::Store(e).to_string()
}

/// A migration error as calicoctl prints it.
fn migrate_error(e: MigrateError) -> String {
    match e {
        MigrateError::CheckLocked(source) => format!(
            "error while checking if datastore was locked: {}",
            store_error(source)
        ),
        MigrateError::Lock {
            locking,
            step,
            source,
        } => format!("{}: {}", step.context(locking), store_error(source)),
        other => other.to_string(),
    }
}

/// Connects and checks the cluster version (calicoctl does for export, lock, unlock).
async fn connect_checked(
    global: &Global,
) -> Result<std::sync::Arc<dyn calico_datastore::Datastore>, Report> {
    let store = connect(global).await?;
    if let Err(m) = check_version(store.as_ref(), global).await {
        return Err(Report::failure(m));
    }
    Ok(store)
}

async fn lock(global: &Global) -> Report {
    let store = match connect_checked(global).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match migrate::lock(store.as_ref(), crate::CLIENT_VERSION).await {
        Ok(()) => {
            let mut r = Report::default();
            r.out("Datastore locked.\n");
            r
        }
        Err(e) => Report::failure(migrate_error(e)),
    }
}

async fn unlock(global: &Global) -> Report {
    let store = match connect_checked(global).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match migrate::unlock(store.as_ref()).await {
        Ok(()) => {
            let mut r = Report::default();
            r.out("Datastore unlocked.\n");
            r
        }
        Err(e) => Report::failure(migrate_error(e)),
    }
}

async fn export(global: &Global) -> Report {
    let store = match connect_checked(global).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let bars = Bars::new(Stdout::Data);
    match migrate::export(store.as_ref(), &ExportOptions::default(), &bars).await {
        Ok(resources) => {
            let mut r = Report::default();
            r.out(migrate::to_stream(&resources));
            r
        }
        Err(e) => Report::failure(migrate_error(e)),
    }
}

/// A stream problem as calicoctl's manifest errors read: `file:doc: Kind/name: path: reason
/// (line N)`.
fn problem_line(file: &str, p: &StreamProblem) -> String {
    let path = if p.path.is_empty() {
        String::new()
    } else {
        format!("{}: ", p.path)
    };
    let line = p.line.map_or(String::new(), |l| format!(" (line {l})"));
    format!(
        "{file}:{}: {}: {path}{}{line}",
        p.document, p.resource, p.reason
    )
}

fn problem_lines(file: &str, problems: &[StreamProblem]) -> String {
    problems
        .iter()
        .map(|p| problem_line(file, p))
        .collect::<Vec<_>>()
        .join("\n")
}

/// calicoctl's closing lines of a successful import.
fn import_report(summary: &ImportSummary) -> Report {
    let mut r = Report::default();
    r.out(format!(
        "Successfully applied {} resource(s)\n",
        summary.resources
    ));
    r.out("Importing IPAM resources\n");
    r.out(format!(
        "Successfully applied {} IPAM resource(s)\n",
        summary.ipam
    ));
    r.out("Datastore information successfully imported. Please refer to the datastore migration documentation for next steps.\n");
    r
}

async fn import(global: &Global, args: &ImportArgs) -> Report {
    // calicoctl reads the file after connecting; reading first means a bad file never
    // needs a datastore. Intentionally no version check (as calicoctl).
    if std::path::Path::new(&args.filename).is_dir() {
        // One export file, not a directory of manifests (Go's wording).
        return Report::failure(format!(
            "Error while reading migration file: read {}: is a directory",
            args.filename
        ));
    }
    let sources = match read_sources(std::slice::from_ref(&args.filename), false, false) {
        Ok(s) => s,
        Err(e @ (InputError::Io { .. } | InputError::EmptyDirectory { .. })) => {
            return Report::failure(format!("Error while reading migration file: {e}"));
        }
    };
    let mut resources = Vec::new();
    for src in &sources {
        match migrate::decode_stream(&src.text) {
            Ok(r) => resources.extend(r),
            Err(MigrateError::Invalid { problems }) => {
                return Report::failure(format!(
                    "Error while reading migration file: {}",
                    problem_lines(&src.display, &problems)
                ));
            }
            Err(e) => {
                return Report::failure(format!(
                    "Error while reading migration file: {}: {e}",
                    src.display
                ));
            }
        }
    }
    let display = sources
        .first()
        .map_or_else(|| args.filename.clone(), |s| s.display.clone());
    let store = match connect(global).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let bars = Bars::new(Stdout::Messages);
    let options = ImportOptions {
        calico_version: crate::CLIENT_VERSION.to_owned(),
        ..ImportOptions::default()
    };
    match migrate::import(store.as_ref(), resources, &options, &bars).await {
        Ok(summary) => import_report(&summary),
        Err(MigrateError::Invalid { problems }) => Report::failure(format!(
            "Failed to import v3 resources: {}",
            problem_lines(&display, &problems)
        )),
        Err(e) => Report::failure(migrate_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_datastore::migrate::LockStep;
    use calico_model::Kind;
    use calico_model::sync::ResourceKey;

    #[test]
    fn lock_errors_read_like_calicoctl() {
        let e = MigrateError::Lock {
            locking: false,
            step: LockStep::Read,
            source: calico_datastore::Error::NotFound {
                key: ResourceKey::new(Kind::ClusterInformation, "", "default"),
            },
        };
        assert_eq!(
            migrate_error(e),
            "Error retrieving ClusterInformation for unlocking: resource does not exist: ClusterInformation(default) with error: <nil>"
        );
        assert_eq!(
            migrate_error(MigrateError::NotLocked),
            "datastore is not locked. Run the `calicoctl datastore migrate lock` command in order to begin migration"
        );
    }

    #[test]
    fn problems_name_file_document_resource_and_line() {
        let p = StreamProblem {
            document: 3,
            resource: "IPPool/p".into(),
            path: "spec.cidr".into(),
            reason: "bad".into(),
            line: Some(12),
        };
        assert_eq!(
            problem_line("x.yaml", &p),
            "x.yaml:3: IPPool/p: spec.cidr: bad (line 12)"
        );
    }
}
