//! `calicoctl version`: the client's version, then the cluster's (`ClusterInformation`
//! `default`: `calicoVersion` and `clusterType`), as calicoctl's `commands/version.go`
//! prints them, optionally polling for changes.

use std::io::Write;
use std::sync::Arc;

use calico_datastore::Datastore;
use calico_model::sync::ResourceKey;
use calico_model::{Kind, Resource};

use crate::commands::{Global, Report};
use crate::errors::ActionError;

/// `calicoctl version`.
#[derive(clap::Args, Debug)]
pub struct VersionArgs {
    /// Poll for changes to the cluster information at this interval (a Go duration such as
    /// `1s`, `10m`, `2h`); `0` (the default) disables polling.
    #[arg(long, value_name = "POLL")]
    poll: Option<String>,
}

/// The cluster's version and type, or why they could not be read.
async fn cluster(store: &dyn Datastore) -> Result<(String, String), String> {
    let key = ResourceKey::new(Kind::ClusterInformation, "", "default");
    match store.get(&key).await {
        Ok(Resource::ClusterInformation(ci)) => {
            let or_unknown = |s: String| if s.is_empty() { "unknown".into() } else { s };
            Ok((
                or_unknown(ci.spec.calico_version),
                or_unknown(ci.spec.cluster_type),
            ))
        }
        Ok(other) => Err(format!(
            "unexpected {} for ClusterInformation",
            other.kind()
        )),
        Err(e) => Err(format!(
            "Unable to retrieve Cluster Version or Type: {}",
            ActionError::Store(e)
        )),
    }
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Runs `version`. Output is printed as it comes (polling never returns on its own).
pub async fn run(global: &Global, args: &VersionArgs) -> Report {
    let poll = match args
        .poll
        .as_deref()
        .map(str::parse::<calico_model::scalar::Duration>)
    {
        None => None,
        Some(Ok(d)) if d.to_std().is_zero() => None,
        Some(Ok(d)) => Some(d.to_std()),
        Some(Err(_)) => {
            return Report::failure(format!(
                "Invalid poll duration specified: {}",
                args.poll.as_deref().unwrap_or_default()
            ));
        }
    };
    print(&format!(
        "Client Version:    {}\nGit commit:        {}\n",
        crate::CLIENT_VERSION,
        option_env!("CALICO_GIT_COMMIT").unwrap_or("unknown")
    ));
    // A configuration that cannot be read is an error; a datastore that cannot be reached
    // is reported as calicoctl reports it, and is not.
    let config = match crate::commands::load_config(global) {
        Ok(config) => config,
        Err(report) => return report,
    };
    let store: Arc<dyn Datastore> = match crate::commands::open(&config).await {
        Ok(store) => store,
        Err(_) => {
            print("Unable to detect installed Calico version\n");
            return Report::default();
        }
    };
    let (mut shown_version, mut shown_type) = (String::new(), String::new());
    loop {
        let result = cluster(store.as_ref()).await;
        match &result {
            Ok((version, kind)) => {
                if *version != shown_version {
                    print(&format!("Cluster Version:   {version}\n"));
                    shown_version = version.clone();
                }
                if *kind != shown_type {
                    print(&format!("Cluster Type:      {kind}\n"));
                    shown_type = kind.clone();
                }
            }
            Err(_) => {
                shown_version.clear();
                shown_type.clear();
            }
        }
        let Some(interval) = poll else {
            return match result {
                Ok(_) => Report::default(),
                Err(e) => Report::failure(e),
            };
        };
        if let Err(e) = result {
            let _ = writeln!(std::io::stderr(), "{e}");
        }
        tokio::time::sleep(interval).await;
    }
}
