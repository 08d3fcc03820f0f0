//! `create`, `apply`, `replace`, `delete` and `get`: their arguments, the common flow
//! (load the resources, connect, check versions, run the action) and calicoctl's exact
//! success and failure messages (`commands/{create,apply,replace,delete,get}.go`).

use std::path::Path;
use std::sync::Arc;

use calico_datastore::config::DEFAULT_CONFIG_FILE;
use calico_datastore::{Datastore, DatastoreConfig, Error};
use calico_model::sync::ResourceKey;
use calico_model::{Kind, Resource};

use crate::crud::{self, Action, Flags, Results};
use crate::errors::ActionError;
use crate::manifest::{self, LoadError};
use crate::output::{self, Format};
use crate::table::{Context, DEFAULT_AS_NUMBER};

/// Options every datastore command takes.
#[derive(clap::Args, Clone, Debug)]
pub struct Global {
    /// Path to the file containing connection configuration in YAML or JSON format
    /// [default: /etc/calico/calicoctl.cfg; the environment when that does not exist].
    #[arg(short = 'c', long = "config", global = true, value_name = "CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Allow client and cluster versions mismatch.
    #[arg(long, global = true)]
    pub allow_version_mismatch: bool,
    /// The name of the kubeconfig context to use (Kubernetes datastore only).
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub context: Option<String>,
}

/// Options of commands that read resources from files.
#[derive(clap::Args, Debug)]
pub struct FileArgs {
    /// A file, a directory of .yaml/.yml/.json files, or `-` for stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILENAME")]
    pub files: Vec<String>,
    /// Process the directory given with -f recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Do not fail when a file or directory holds no resources.
    #[arg(long)]
    pub skip_empty: bool,
    /// Namespace of the resources (namespaced kinds only; `default` if not given).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
}

/// `calicoctl create`.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["files"]))]
pub struct CreateArgs {
    #[command(flatten)]
    input: FileArgs,
    /// Skip over and treat as successful any attempts to create an entry that already exists.
    #[arg(long)]
    skip_exists: bool,
}

/// `calicoctl apply` and `calicoctl replace`.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["files"]))]
pub struct WriteArgs {
    #[command(flatten)]
    input: FileArgs,
}

/// `calicoctl delete`.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["kind", "files"]))]
pub struct DeleteArgs {
    /// The resource type (case-insensitive, may be pluralized or abbreviated as calicoctl
    /// allows, e.g. `ippools`, `gnp`).
    #[arg(value_name = "KIND", conflicts_with = "files")]
    kind: Option<String>,
    /// Names of the resources to delete.
    #[arg(value_name = "NAME", requires = "kind")]
    names: Vec<String>,
    #[command(flatten)]
    input: FileArgs,
    /// Skip over and treat as successful any attempts to delete an entry that does not exist.
    #[arg(long)]
    skip_not_exists: bool,
}

/// `calicoctl get`.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["kind", "files"]))]
pub struct GetArgs {
    /// The resource type (case-insensitive, may be pluralized or abbreviated).
    #[arg(value_name = "KIND", conflicts_with = "files")]
    kind: Option<String>,
    /// Names of the resources to get (all of them if none).
    #[arg(value_name = "NAME", requires = "kind")]
    names: Vec<String>,
    #[command(flatten)]
    input: FileArgs,
    /// Output format: yaml, json, ps, wide, custom-columns=COL,…, go-template=TEMPLATE,
    /// go-template-file=FILE or name
    #[arg(short = 'o', long, default_value = "ps", value_name = "OUTPUT")]
    output: String,
    /// List the requested objects across all namespaces.
    #[arg(short = 'A', long, visible_short_alias = 'a')]
    all_namespaces: bool,
    /// Strip cluster-specific metadata (with names only).
    #[arg(long)]
    export: bool,
}

/// What a command prints and how it exits.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Text for standard output.
    pub stdout: String,
    /// Text for standard error.
    pub stderr: String,
    /// True if the command failed (exit status 1).
    pub failed: bool,
}

impl Report {
    pub(crate) fn out(&mut self, text: impl AsRef<str>) {
        self.stdout.push_str(text.as_ref());
    }

    /// An error, printed as calicoctl's `main` prints errors (followed by a newline).
    pub(crate) fn fail(mut self, text: impl AsRef<str>) -> Self {
        self.stderr.push_str(text.as_ref());
        self.stderr.push('\n');
        self.failed = true;
        self
    }

    pub(crate) fn failure(text: impl AsRef<str>) -> Self {
        Report::default().fail(text)
    }
}

/// Where the resources of a command come from.
enum Target<'a> {
    /// `-f` files.
    Files(&'a FileArgs),
    /// `KIND [NAME…]` on the command line.
    Args { kind: &'a str, names: &'a [String] },
}

/// Why a command stopped before running its action.
enum Early {
    /// calicoctl's `FileInvalid`: printed as `Failed to execute command: …`.
    FileInvalid(String),
    /// An error before any resource was handled (calicoctl's `CommandResults.Err`).
    Err(String),
    /// Connecting failed; the report is complete (calicoctl prints these on stdout).
    Client(Report),
}

/// A resource of `kind` with only a name (and the `-n` namespace), as calicoctl builds from
/// its arguments.
fn stub(kind: Kind, name: &str) -> Result<Resource, String> {
    let value = serde_json::json!({ "metadata": { "name": name } });
    Resource::from_value(kind, &value).map_err(|e| e.to_string())
}

pub(crate) fn resources_from_args(
    kind: &str,
    names: &[String],
    namespace: &str,
) -> Result<(Kind, Vec<Resource>), String> {
    let found =
        Kind::from_alias(kind).ok_or_else(|| format!("resource type '{kind}' is not supported"))?;
    if names.iter().any(String::is_empty) {
        return Err("resource name may not be empty".into());
    }
    let blank = [String::new()];
    let names = if names.is_empty() { &blank[..] } else { names };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let mut r = stub(found, name)?;
        if found.namespaced() {
            r.metadata_mut().namespace = namespace.to_owned();
        }
        out.push(r);
    }
    Ok((found, out))
}

/// calicoctl's client-creation failure, printed on stdout as calicoctl prints it.
fn client_failure(e: Error) -> Report {
    let mut r = Report::default();
    r.out(format!("Failed to create Calico API client: {e}\n"));
    r.failed = true;
    r
}

/// Loads the datastore configuration (the `--config` file, the default file or the
/// environment; `--context` applied), with calicoctl's messages.
pub(crate) fn load_config(global: &Global) -> Result<DatastoreConfig, Report> {
    if let Some(file) = &global.config
        && file != Path::new(DEFAULT_CONFIG_FILE)
        && std::fs::metadata(file).is_err()
    {
        let mut r = Report::default();
        r.out(format!("Error reading config file: {}\n", file.display()));
        r.failed = true;
        return Err(r);
    }
    let mut config = DatastoreConfig::load(global.config.as_deref()).map_err(client_failure)?;
    // As calicoctl: `--context` overrides the configuration's k8sCurrentContext.
    if let (DatastoreConfig::Kubernetes { context, .. }, Some(wanted)) =
        (&mut config, &global.context)
    {
        *context = Some(wanted.clone());
    }
    Ok(config)
}

/// Opens the datastore `config` describes, with calicoctl's message on failure.
pub(crate) async fn open(config: &DatastoreConfig) -> Result<Arc<dyn Datastore>, Report> {
    calico_datastore::connect(config)
        .await
        .map_err(client_failure)
}

/// Loads the configuration and opens the datastore, with calicoctl's messages.
pub(crate) async fn connect(global: &Global) -> Result<Arc<dyn Datastore>, Report> {
    open(&load_config(global)?).await
}

/// calicoctl's `CheckVersionMismatch`: the cluster's Calico version (from
/// `ClusterInformation/default`) must match ours in major.minor.patch, unless
/// `--allow-version-mismatch`.
pub(crate) async fn check_version(store: &dyn Datastore, global: &Global) -> Result<(), String> {
    if global.allow_version_mismatch {
        return Ok(());
    }
    let key = ResourceKey::new(Kind::ClusterInformation, "", "default");
    let info = match store.get(&key).await {
        Ok(Resource::ClusterInformation(ci)) => ci,
        Ok(_) | Err(Error::NotFound { .. }) => return Ok(()),
        Err(e) => {
            return Err(format!(
                "Unable to get Cluster Information to verify version mismatch: {}\nUse --allow-version-mismatch to override.\n",
                ActionError::Store(e)
            ));
        }
    };
    let cluster = info.spec.calico_version;
    if cluster.is_empty() {
        return Ok(());
    }
    let core = |v: &str| {
        let v = v.strip_prefix('v').unwrap_or(v);
        v.split('-').next().unwrap_or_default().to_owned()
    };
    let cluster = core(&cluster);
    if cluster != core(crate::CLIENT_VERSION) {
        return Err(format!(
            "Version mismatch.\nClient Version:   {}\nCluster Version:  {cluster}\nUse --allow-version-mismatch to override.\n",
            crate::CLIENT_VERSION
        ));
    }
    Ok(())
}

/// Loads the resources, connects and runs the action (calicoctl's `ExecuteConfigCommand`).
async fn run(
    global: &Global,
    target: Target<'_>,
    action: Action,
    flags: &Flags,
) -> Result<(Results, Arc<dyn Datastore>), Early> {
    let (resources, kind_from_args) = match target {
        Target::Files(files) => {
            match manifest::load(&files.files, files.recursive, files.skip_empty) {
                Ok(r) => (r, None),
                Err(LoadError::FileInvalid(m)) => return Err(Early::FileInvalid(m)),
                Err(LoadError::Plain(m)) => return Err(Early::Err(m)),
            }
        }
        Target::Args { kind, names } => {
            let (kind, r) =
                resources_from_args(kind, names, &flags.namespace).map_err(Early::Err)?;
            (r, Some(kind))
        }
    };
    let store = connect(global).await.map_err(Early::Client)?;
    if resources.is_empty() {
        // Only empty inputs skipped with --skip-empty get here: nothing to do.
        return Ok((Results::default(), store));
    }
    check_version(store.as_ref(), global)
        .await
        .map_err(Early::Err)?;
    if let Some(refused) = crate::precheck::check(&resources, kind_from_args, action, flags) {
        // One bad resource: nothing is written.
        return Ok((refused, store));
    }
    let results = crud::execute(store.as_ref(), resources, kind_from_args, action, flags).await;
    Ok((results, store))
}

/// Go's `%v` of a `[]error`.
fn error_list(errs: &[ActionError]) -> String {
    let items: Vec<String> = errs.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(" "))
}

fn kind_name(r: &Results) -> String {
    r.single_kind
        .map(|k| k.kind().to_owned())
        .unwrap_or_default()
}

/// The messages of `create` and `apply` (`verb`: create/apply, `past`: created/applied).
fn report_create_or_apply(results: &Results, verb: &str, past: &str, hit: &str) -> Report {
    let mut r = Report::default();
    let kind = kind_name(results);
    if results.num_resources == 0 {
        r.out("No resources specified\n");
        return r;
    }
    if results.num_handled == 0 {
        let errs = error_list(&results.res_errs);
        return r.fail(if results.num_resources == 1 {
            format!("Failed to {verb} '{kind}' resource: {errs}")
        } else if results.single_kind.is_some() {
            format!("Failed to {verb} any '{kind}' resources: {errs}")
        } else {
            format!("Failed to {verb} any resources: {errs}")
        });
    }
    if results.res_errs.is_empty() {
        r.out(if results.single_kind.is_some() {
            format!(
                "Successfully {past} {} '{kind}' resource(s)\n",
                results.num_handled
            )
        } else {
            format!("Successfully {past} {} resource(s)\n", results.num_handled)
        });
        return r;
    }
    // calicoctl announces a partial success only when more succeeded than failed.
    if results.num_handled > results.res_errs.len() {
        r.out("Partial success: ");
        r.out(if results.single_kind.is_some() {
            format!(
                "{past} the first {} out of {} '{kind}' resources:\n",
                results.num_handled, results.num_resources
            )
        } else {
            format!(
                "{past} the first {} out of {} resources:\n",
                results.num_handled, results.num_resources
            )
        });
    }
    r.fail(format!("{hit}: {}", error_list(&results.res_errs)))
}

fn report_replace(results: &Results) -> Report {
    let mut r = Report::default();
    let kind = kind_name(results);
    if results.num_resources == 0 {
        r.out("No resources specified\n");
        return r;
    }
    let err = results.err.as_ref().map(ToString::to_string);
    match err {
        Some(err) if results.num_handled == 0 => r.fail(if results.num_resources == 1 {
            format!("Failed to replace '{kind}' resource: {err}")
        } else if results.single_kind.is_some() {
            format!("Failed to replace any '{kind}' resources: {err}")
        } else {
            format!("Failed to replace any resources: {err}")
        }),
        None => {
            r.out(if results.single_kind.is_some() {
                format!(
                    "Successfully replaced {} '{kind}' resource(s)\n",
                    results.num_handled
                )
            } else {
                format!(
                    "Successfully replaced {} resource(s)\n",
                    results.num_handled
                )
            });
            r
        }
        Some(err) => {
            r.out("Partial success: ");
            r.out(if results.single_kind.is_some() {
                format!(
                    "replaced the first {} out of {} '{kind}' resources:\n",
                    results.num_handled, results.num_resources
                )
            } else {
                format!(
                    "replaced the first {} out of {} resources:\n",
                    results.num_handled, results.num_resources
                )
            });
            r.fail(format!("Hit error: {err}"))
        }
    }
}

fn report_delete(results: &Results) -> Report {
    let mut r = Report::default();
    let kind = kind_name(results);
    if results.num_resources == 0 {
        r.out("No resources specified\n");
        return r;
    }
    if results.num_handled > 0 {
        r.out(if results.single_kind.is_some() {
            format!(
                "Successfully deleted {} '{kind}' resource(s)\n",
                results.num_handled
            )
        } else {
            format!("Successfully deleted {} resource(s)\n", results.num_handled)
        });
    }
    if results.res_errs.is_empty() {
        return r;
    }
    let mut text = String::new();
    for e in &results.res_errs {
        if results.single_kind.is_some() {
            text.push_str(&format!("Failed to delete '{kind}' resource: {e}\n"));
        } else {
            text.push_str(&format!("Failed to delete resource: {e}\n"));
        }
    }
    r.fail(text)
}

/// Maps an early stop to the report a command prints for it.
fn early_report(early: Early, err_prefix: &str) -> Report {
    match early {
        Early::FileInvalid(m) => Report::failure(format!("Failed to execute command: {m}")),
        Early::Err(m) => Report::failure(format!("{err_prefix}{m}")),
        Early::Client(r) => r,
    }
}

fn flags(input: &FileArgs) -> Flags {
    Flags {
        namespace: input.namespace.clone().unwrap_or_default(),
        ..Flags::default()
    }
}

/// `calicoctl create`.
pub async fn create(global: &Global, args: &CreateArgs) -> Report {
    let flags = Flags {
        skip_exists: args.skip_exists,
        ..flags(&args.input)
    };
    match run(global, Target::Files(&args.input), Action::Create, &flags).await {
        Ok((results, _)) => report_create_or_apply(&results, "create", "created", "Hit error"),
        Err(e) => early_report(e, ""),
    }
}

/// `calicoctl apply`.
pub async fn apply(global: &Global, args: &WriteArgs) -> Report {
    match run(
        global,
        Target::Files(&args.input),
        Action::Apply,
        &flags(&args.input),
    )
    .await
    {
        Ok((results, _)) => report_create_or_apply(&results, "apply", "applied", "Hit error(s)"),
        Err(e) => early_report(e, ""),
    }
}

/// `calicoctl replace`.
pub async fn replace(global: &Global, args: &WriteArgs) -> Report {
    match run(
        global,
        Target::Files(&args.input),
        Action::Replace,
        &flags(&args.input),
    )
    .await
    {
        Ok((results, _)) => report_replace(&results),
        Err(e) => early_report(e, ""),
    }
}

/// `calicoctl delete`.
pub async fn delete(global: &Global, args: &DeleteArgs) -> Report {
    let flags = Flags {
        skip_not_exists: args.skip_not_exists,
        ..flags(&args.input)
    };
    let target = match &args.kind {
        Some(kind) => Target::Args {
            kind,
            names: &args.names,
        },
        None => Target::Files(&args.input),
    };
    match run(global, target, Action::Delete, &flags).await {
        Ok((results, _)) => report_delete(&results),
        Err(e) => early_report(e, ""),
    }
}

/// The global AS number for the nodes table (calicoctl's `config "asnumber"`).
async fn global_as_number(store: &dyn Datastore) -> String {
    let key = ResourceKey::new(Kind::BGPConfiguration, "", "default");
    match store.get(&key).await {
        Ok(Resource::BGPConfiguration(c)) => c
            .spec
            .as_number
            .map_or_else(|| DEFAULT_AS_NUMBER.to_owned(), |a| a.to_string()),
        Ok(_) | Err(Error::NotFound { .. }) => DEFAULT_AS_NUMBER.to_owned(),
        Err(_) => "unknown".to_owned(),
    }
}

/// `calicoctl get`.
pub async fn get(global: &Global, args: &GetArgs) -> Report {
    let format = match Format::parse(&args.output) {
        Ok(f) => f,
        Err(m) => return Report::failure(m),
    };
    let flags = Flags {
        all_namespaces: args.all_namespaces,
        export: args.export,
        ..flags(&args.input)
    };
    let print_namespace = args.all_namespaces || !flags.namespace.is_empty();
    let target = match &args.kind {
        Some(kind) => Target::Args {
            kind,
            names: &args.names,
        },
        None => Target::Files(&args.input),
    };
    let (results, store) = match run(global, target, Action::Get, &flags).await {
        Ok(done) => done,
        Err(e) => return early_report(e, "Failed to get resources: "),
    };
    let mut ctx = Context::default();
    if format.needs_as_number(results.outputs.iter().any(|o| o.kind() == Kind::Node)) {
        ctx.as_number = global_as_number(store.as_ref()).await;
    }
    let mut report = Report::default();
    match output::render(&results.outputs, &format, print_namespace, &ctx) {
        Ok(text) => report.out(text),
        Err(m) => return report.fail(m),
    }
    if results.res_errs.is_empty() {
        return report;
    }
    let errs: Vec<String> = results.res_errs.iter().map(ToString::to_string).collect();
    report.fail(errs.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_model::sync::ResourceKey;

    fn not_found(name: &str) -> ActionError {
        ActionError::Store(Error::NotFound {
            key: ResourceKey::new(Kind::IPPool, "", name),
        })
    }

    fn results(n: usize, handled: usize, errs: Vec<ActionError>) -> Results {
        Results {
            num_resources: n,
            num_handled: handled,
            single_kind: Some(Kind::GlobalNetworkPolicy),
            res_errs: errs,
            ..Results::default()
        }
    }

    #[test]
    fn create_messages() {
        let r = report_create_or_apply(&results(2, 2, vec![]), "create", "created", "Hit error");
        assert_eq!(
            r.stdout,
            "Successfully created 2 'GlobalNetworkPolicy' resource(s)\n"
        );
        assert!(!r.failed);
        let r = report_create_or_apply(
            &results(1, 0, vec![not_found("a")]),
            "create",
            "created",
            "Hit error",
        );
        assert_eq!(
            r.stderr,
            "Failed to create 'GlobalNetworkPolicy' resource: [resource does not exist: IPPool(a) with error: <nil>]\n"
        );
        assert!(r.failed);
        let r = report_create_or_apply(
            &results(3, 2, vec![not_found("a")]),
            "apply",
            "applied",
            "Hit error(s)",
        );
        assert_eq!(
            r.stdout,
            "Partial success: applied the first 2 out of 3 'GlobalNetworkPolicy' resources:\n"
        );
        assert!(r.stderr.starts_with("Hit error(s): ["), "{}", r.stderr);
        let mut mixed = results(2, 0, vec![not_found("a"), not_found("b")]);
        mixed.single_kind = None;
        let r = report_create_or_apply(&mixed, "apply", "applied", "Hit error(s)");
        assert!(r.stderr.starts_with("Failed to apply any resources: [resource does not exist: IPPool(a) with error: <nil> resource"), "{}", r.stderr);
    }

    #[test]
    fn replace_and_delete_messages() {
        let mut r = results(2, 1, vec![]);
        r.err = Some(not_found("b"));
        let rep = report_replace(&r);
        assert_eq!(
            rep.stdout,
            "Partial success: replaced the first 1 out of 2 'GlobalNetworkPolicy' resources:\n"
        );
        assert_eq!(
            rep.stderr,
            "Hit error: resource does not exist: IPPool(b) with error: <nil>\n"
        );
        let rep = report_delete(&Results {
            single_kind: Some(Kind::IPPool),
            ..results(3, 2, vec![not_found("blah")])
        });
        assert_eq!(rep.stdout, "Successfully deleted 2 'IPPool' resource(s)\n");
        assert_eq!(
            rep.stderr,
            "Failed to delete 'IPPool' resource: resource does not exist: IPPool(blah) with error: <nil>\n\n"
        );
    }

    #[test]
    fn kinds_from_the_command_line() {
        let (kind, r) = resources_from_args("GNPs", &[], "").expect("alias");
        assert_eq!(kind, Kind::GlobalNetworkPolicy);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].name(), "");
        let (_, r) = resources_from_args("np", &["a".into(), "b".into()], "ns").expect("alias");
        assert_eq!(r[1].namespace(), "ns");
        assert_eq!(
            resources_from_args("somekind", &[], "").err().as_deref(),
            Some("resource type 'somekind' is not supported")
        );
        assert_eq!(
            resources_from_args("ippool", &["x".into(), String::new()], "")
                .err()
                .as_deref(),
            Some("resource name may not be empty")
        );
    }
}
