//! The nftables backend (`nftables`): renders the desired state into one `inet` table and
//! keeps the kernel in step with it through the `nft` binary.
//!
//! - Nothing is programmed before the calculation graph's `InSync`: updates are buffered in
//!   the [`DesiredState`] and the first in-sync apply replaces whatever the table holds (for
//!   example the rules a previous run left in place) in one transaction.
//! - Every later batch is one `nft -j -f -` transaction holding only what changed: set
//!   element adds and deletes, the chains whose rules changed (flushed and refilled in the
//!   same transaction, so no packet sees a half-written chain), new objects, and deletions
//!   of objects no longer wanted, after everything that referred to them.
//! - [`Dataplane::resync`] lists the table, compares it with the rendered state (rules by
//!   their `cali:<hash>` comments, sets by their elements) and repairs any drift in one
//!   transaction.
//! - [`render()`] is pure: it needs neither root nor `nft`, so tests and dry runs can see
//!   what would be programmed ([`Ruleset::to_json`]).
//!
//! ```
//! use calico_dataplane::DesiredState;
//! use calico_dataplane::nft::{NftOptions, render};
//!
//! let mut state = DesiredState::default();
//! state.in_sync = true;
//! let ruleset = render(&state, &NftOptions::default());
//! assert!(ruleset.chains.contains_key("filter-FORWARD"));
//! let doc = ruleset.to_json(); // an `nft -j -f` document
//! assert!(doc["nftables"].as_array().is_some_and(|c| !c.is_empty()));
//! ```
//!
//! `nft` runs as a child process; [`NftOptions::command_prefix`] lets it run elsewhere, for
//! example `ip netns exec <ns>`. Calls block the calling thread (a full apply of a large
//! ruleset takes on the order of a second).

mod diff;
mod exec;
pub mod render;

use std::path::PathBuf;

use async_trait::async_trait;
use calico_model::resources::{FelixConfigurationSpec, FelixVerdict};
use calico_policy::DataplaneUpdate;
use calico_policy::ir::proto;
use ipnet::IpNet;

pub use diff::Transaction;
pub use render::{RenderCache, Ruleset, render, render_cached};

use crate::error::{Error, Result};
use crate::state::DesiredState;
use crate::{ApplyReport, Dataplane};
use diff::Observed;

/// What happens to traffic from a workload to its own host after the workload's egress
/// policy allowed it (`defaultEndpointToHostAction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EndpointToHostAction {
    /// Drop it (Felix's default).
    #[default]
    Drop,
    /// Accept it.
    Accept,
    /// Hand it back to the host's input processing (host endpoint policy).
    Return,
}

/// A failsafe port: traffic to it is allowed whatever the host endpoint policy says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailsafePort {
    /// IP protocol number (TCP, UDP or SCTP).
    pub protocol: u8,
    /// Destination port.
    pub port: u16,
    /// Remote network the rule is limited to (source for inbound, destination for outbound).
    pub net: Option<IpNet>,
}

impl FailsafePort {
    const fn tcp(port: u16) -> Self {
        FailsafePort {
            protocol: proto::TCP,
            port,
            net: None,
        }
    }

    const fn udp(port: u16) -> Self {
        FailsafePort {
            protocol: proto::UDP,
            port,
            net: None,
        }
    }
}

/// Options of the nftables backend. `Default` gives Felix's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftOptions {
    /// Name of the `inet` table (default `calico`).
    pub table: String,
    /// The `nft` binary (default `nft`, found on `PATH`).
    pub nft_path: PathBuf,
    /// A command to run `nft` under, for example `["ip", "netns", "exec", "ns1"]`; empty to
    /// run it directly.
    pub command_prefix: Vec<String>,
    /// Workload interface prefix (default `cali`).
    pub workload_iface_prefix: String,
    /// `failsafeInboundHostPorts` (default tcp:22, udp:68, tcp:179, tcp:2379, tcp:2380,
    /// tcp:5473, tcp:6443, tcp:6666, tcp:6667).
    pub failsafe_inbound: Vec<FailsafePort>,
    /// `failsafeOutboundHostPorts` (default udp:53, udp:67, tcp:179, tcp:2379, tcp:2380,
    /// tcp:5473, tcp:6443, tcp:6666, tcp:6667).
    pub failsafe_outbound: Vec<FailsafePort>,
    /// `defaultEndpointToHostAction` (default Drop).
    pub default_endpoint_to_host_action: EndpointToHostAction,
    /// Prefix of `log` rules (`logPrefix`, default `calico-packet`).
    pub log_prefix: String,
}

impl Default for NftOptions {
    fn default() -> Self {
        use FailsafePort as F;
        NftOptions {
            table: "calico".into(),
            nft_path: PathBuf::from("nft"),
            command_prefix: Vec::new(),
            workload_iface_prefix: "cali".into(),
            failsafe_inbound: vec![
                F::tcp(22),
                F::udp(68),
                F::tcp(179),
                F::tcp(2379),
                F::tcp(2380),
                F::tcp(5473),
                F::tcp(6443),
                F::tcp(6666),
                F::tcp(6667),
            ],
            failsafe_outbound: vec![
                F::udp(53),
                F::udp(67),
                F::tcp(179),
                F::tcp(2379),
                F::tcp(2380),
                F::tcp(5473),
                F::tcp(6443),
                F::tcp(6666),
                F::tcp(6667),
            ],
            default_endpoint_to_host_action: EndpointToHostAction::Drop,
            log_prefix: "calico-packet".into(),
        }
    }
}

impl NftOptions {
    /// These options with the fields the merged FelixConfiguration spec (JSON, as carried
    /// by [`DataplaneUpdate::ConfigUpdate`]) sets: `failsafeInboundHostPorts`,
    /// `failsafeOutboundHostPorts`, `defaultEndpointToHostAction`, `logPrefix`. Fields it
    /// does not set take Felix's defaults.
    pub fn with_felix_config(mut self, config: &serde_json::Value) -> Result<Self> {
        let spec: FelixConfigurationSpec =
            serde_json::from_value(config.clone()).map_err(|e| Error::Config {
                field: "FelixConfiguration".into(),
                reason: e.to_string(),
            })?;
        self.failsafe_inbound = failsafes(
            "failsafeInboundHostPorts",
            &spec.failsafe_inbound_host_ports(),
        )?;
        self.failsafe_outbound = failsafes(
            "failsafeOutboundHostPorts",
            &spec.failsafe_outbound_host_ports(),
        )?;
        self.default_endpoint_to_host_action = match spec.default_endpoint_to_host_action() {
            FelixVerdict::Accept => EndpointToHostAction::Accept,
            FelixVerdict::Return => EndpointToHostAction::Return,
            _ => EndpointToHostAction::Drop,
        };
        if let Some(prefix) = config.get("logPrefix").and_then(|v| v.as_str())
            && !prefix.is_empty()
        {
            self.log_prefix = prefix.to_owned();
        }
        Ok(self)
    }
}

fn failsafes(
    field: &str,
    ports: &[calico_model::resources::FelixProtoPort],
) -> Result<Vec<FailsafePort>> {
    ports
        .iter()
        .map(|p| {
            let protocol = match p.protocol.to_ascii_uppercase().as_str() {
                "" | "TCP" => proto::TCP,
                "UDP" => proto::UDP,
                "SCTP" => proto::SCTP,
                other => {
                    return Err(Error::Config {
                        field: field.into(),
                        reason: format!("unknown protocol {other:?}"),
                    });
                }
            };
            let net = if p.net.is_empty() {
                None
            } else {
                Some(
                    calico_model::scalar::parse_cidr_or_ip(&p.net).map_err(|e| Error::Config {
                        field: field.into(),
                        reason: format!("net {:?}: {e}", p.net),
                    })?,
                )
            };
            Ok(FailsafePort {
                protocol,
                port: p.port,
                net,
            })
        })
        .collect()
}

/// [`NftOptions::default`] with the merged FelixConfiguration spec applied (see
/// [`NftOptions::with_felix_config`]).
pub fn options_from_felix_config(config: &serde_json::Value) -> Result<NftOptions> {
    NftOptions::default().with_felix_config(config)
}

/// The nftables dataplane.
pub struct NftablesDataplane {
    /// Options as constructed (before any ConfigUpdate).
    base_opts: NftOptions,
    /// Options in force.
    opts: NftOptions,
    state: DesiredState,
    /// What the table holds, if known without listing it (after a successful apply).
    programmed: Option<Observed>,
    last: Option<Transaction>,
    synced_once: bool,
    cache: RenderCache,
}

impl NftablesDataplane {
    /// A backend with these options. Checks that `nft` runs and can list the ruleset
    /// (needs `CAP_NET_ADMIN`); [`Error::Unsupported`] otherwise. Programs nothing.
    pub fn new(opts: NftOptions) -> Result<Self> {
        exec::check(&opts)?;
        Ok(NftablesDataplane {
            base_opts: opts.clone(),
            opts,
            state: DesiredState::default(),
            programmed: None,
            last: None,
            synced_once: false,
            cache: RenderCache::default(),
        })
    }

    /// The options in force (after any ConfigUpdate).
    pub fn options(&self) -> &NftOptions {
        &self.opts
    }

    /// The last transaction sent to `nft` (by `apply` or `resync`), if any.
    pub fn last_transaction(&self) -> Option<&Transaction> {
        self.last.as_ref()
    }

    /// The ruleset the current desired state renders to.
    pub fn ruleset(&self) -> Ruleset {
        render(&self.state, &self.opts)
    }

    /// Reconciles the table with the desired state: diffs against `have` (or, if unknown,
    /// the kernel's listing) and sends one transaction.
    fn reconcile(&mut self, have: Option<Observed>) -> Result<usize> {
        let started = std::time::Instant::now();
        let have = match have {
            Some(h) => h,
            None => exec::list_table(&self.opts)?,
        };
        let want = render_cached(&self.state, &self.opts, &mut self.cache);
        let tx = diff::diff(&have, &want);
        let prepared = started.elapsed();
        let changed = tx.objects_changed();
        if !tx.is_empty() {
            tracing::debug!(
                table = %self.opts.table,
                commands = tx.command_texts.len(),
                chains_written = tx.chains_written.len(),
                chains_deleted = tx.chains_deleted.len(),
                elements_added = tx.elements_added,
                elements_deleted = tx.elements_deleted,
                "nft transaction"
            );
            let result = exec::run_transaction(&self.opts, &tx);
            self.last = Some(tx);
            result?;
        }
        self.programmed = Some(Observed::of(want));
        tracing::debug!(
            table = %self.opts.table,
            objects_changed = changed,
            prepare_ms = prepared.as_secs_f64() * 1e3,
            total_ms = started.elapsed().as_secs_f64() * 1e3,
            "nftables reconciled"
        );
        Ok(changed)
    }
}

#[async_trait]
impl Dataplane for NftablesDataplane {
    fn name(&self) -> &'static str {
        "nftables"
    }

    async fn apply(&mut self, batch: Vec<DataplaneUpdate>) -> Result<ApplyReport> {
        let updates = batch.len();
        for update in &batch {
            self.state.apply(update)?;
            if let DataplaneUpdate::ConfigUpdate(config) = update {
                // A configuration the backend cannot use must not stop enforcement: keep
                // the options in force and say so.
                match self.base_opts.clone().with_felix_config(config) {
                    Ok(opts) => self.opts = opts,
                    Err(e) => tracing::error!(error = %e, "ignoring FelixConfiguration update"),
                }
            }
        }
        if !self.state.in_sync {
            // Felix programs nothing before the first complete state.
            return Ok(ApplyReport {
                updates,
                ..Default::default()
            });
        }
        let have = self.programmed.take();
        let objects_changed = self.reconcile(have)?;
        let first = !self.synced_once;
        self.synced_once = true;
        Ok(ApplyReport {
            updates,
            objects_changed,
            in_sync: first,
        })
    }

    async fn resync(&mut self) -> Result<ApplyReport> {
        if !self.state.in_sync {
            return Ok(ApplyReport::default());
        }
        self.programmed = None;
        let objects_changed = self.reconcile(None)?;
        let first = !self.synced_once;
        self.synced_once = true;
        Ok(ApplyReport {
            updates: 0,
            objects_changed,
            in_sync: first,
        })
    }

    fn state(&self) -> &DesiredState {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn felix_config_sets_failsafes_and_endpoint_to_host_action() {
        let o = options_from_felix_config(&serde_json::json!({
            "failsafeInboundHostPorts": [{"protocol": "TCP", "port": 22, "net": "10.0.0.0/8"}],
            "failsafeOutboundHostPorts": [],
            "defaultEndpointToHostAction": "Accept",
        }))
        .unwrap();
        assert_eq!(
            o.failsafe_inbound,
            vec![FailsafePort {
                protocol: proto::TCP,
                port: 22,
                net: Some("10.0.0.0/8".parse().unwrap())
            }]
        );
        assert!(o.failsafe_outbound.is_empty());
        assert_eq!(
            o.default_endpoint_to_host_action,
            EndpointToHostAction::Accept
        );
        let d = options_from_felix_config(&serde_json::json!({})).unwrap();
        assert_eq!(d, NftOptions::default());
    }
}
