//! Dataplane selection.
//!
//! - `nftables` (the default, as with Felix's `nftablesMode: Enabled`): the nftables policy
//!   backend plus workload routes, interface sysctls and endpoint status files
//!   ([`LinuxDataplane`]). Needs the cargo feature `nftables`.
//! - `none`: the recording backend; programs nothing (no rules, no routes, no status files:
//!   a status file would claim policy that is not enforced).

use std::path::PathBuf;
use std::str::FromStr;

use calico_dataplane::routes::{RouteManager, RouteOptions};
use calico_dataplane::status::StatusWriter;
use calico_dataplane::{Dataplane, LinuxDataplane, RecordingDataplane};
use calico_model::FelixConfigurationSpec;

/// Which dataplane to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataplaneKind {
    /// nftables rules, routes, sysctls and status files.
    Nftables,
    /// Record only.
    None,
}

impl FromStr for DataplaneKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "nftables" | "nft" => Ok(DataplaneKind::Nftables),
            "none" => Ok(DataplaneKind::None),
            other => Err(format!(
                "unknown dataplane {other:?} (supported: nftables, none)"
            )),
        }
    }
}

/// The `none` dataplane for a long-running agent: the recording backend without its batch
/// history (which would grow without bound).
#[derive(Debug, Default)]
struct DryRun(RecordingDataplane);

#[async_trait::async_trait]
impl Dataplane for DryRun {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    async fn apply(
        &mut self,
        batch: Vec<calico_dataplane::DataplaneUpdate>,
    ) -> calico_dataplane::Result<calico_dataplane::ApplyReport> {
        let report = self.0.apply(batch).await;
        self.0.batches.clear();
        report
    }

    async fn resync(&mut self) -> calico_dataplane::Result<calico_dataplane::ApplyReport> {
        self.0.resync().await
    }

    fn state(&self) -> &calico_dataplane::DesiredState {
        self.0.state()
    }
}

/// Route manager settings from the effective configuration.
pub fn route_options(config: &FelixConfigurationSpec) -> RouteOptions {
    RouteOptions {
        protocol: u8::try_from(config.device_route_protocol()).unwrap_or(3),
        interface_prefixes: config
            .interface_prefixes()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        ipv6: config.ipv6_support(),
        ip_forwarding: config.ip_forwarding(),
        ..RouteOptions::default()
    }
}

/// Builds the dataplane. Must run inside the tokio runtime (netlink sockets).
pub fn build(
    kind: DataplaneKind,
    config: &FelixConfigurationSpec,
) -> anyhow::Result<Box<dyn Dataplane>> {
    match kind {
        DataplaneKind::None => Ok(Box::new(DryRun::default())),
        DataplaneKind::Nftables => {
            let policy = nftables_backend()?;
            let routes = RouteManager::new(route_options(config))?;
            let prefix = config.endpoint_status_path_prefix();
            let status = (!prefix.is_empty()).then(|| StatusWriter::new(PathBuf::from(prefix)));
            Ok(Box::new(LinuxDataplane::new(policy, Some(routes), status)))
        }
    }
}

#[cfg(feature = "nftables")]
fn nftables_backend() -> anyhow::Result<Box<dyn Dataplane>> {
    Ok(Box::new(calico_dataplane::nft::NftablesDataplane::new(
        calico_dataplane::nft::NftOptions::default(),
    )?))
}

#[cfg(not(feature = "nftables"))]
fn nftables_backend() -> anyhow::Result<Box<dyn Dataplane>> {
    anyhow::bail!(
        "this calico-node was built without the nftables backend (cargo feature `nftables`); \
         use CALICO_DATAPLANE=none"
    )
}
