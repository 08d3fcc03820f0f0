//! `calico-node`: the node agent. Datastore → syncer → calculation graph → dataplane for
//! this host, with health (`/liveness`, `/readiness`) and Prometheus `/metrics`.
//!
//! See `docs/NODE.md` for the configuration, endpoints and metrics.

mod config;
mod dataplane;
mod metrics;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use calico_datastore::DatastoreConfig;
use calico_datastore::syncer::{FELIX_KINDS, Syncer};
use calico_model::sync::{ResourceKey, SyncEvent, SyncStatus};
use calico_model::{FelixConfigurationSpec, Kind, Resource};
use calico_policy::{CalcGraph, DataplaneUpdate};
use clap::Parser;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::dataplane::DataplaneKind;
use crate::metrics::Metrics;

/// Liveness fails when the main loop has not ticked for this long (Felix's dataplane
/// watchdog timeout).
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(90);

/// The node agent (Felix and friends, policy-only).
#[derive(Debug, Parser)]
#[command(name = "calico-node", version, about)]
struct Args {
    /// Dataplane: `nftables` (rules, routes, sysctls, status files) or `none` (records only).
    #[arg(long, env = "CALICO_DATAPLANE", default_value = "nftables")]
    dataplane: DataplaneKind,
    /// Networking backend. Only `none` (policy-only; local routes still programmed) is
    /// implemented; others run policy-only with a warning.
    #[arg(long, env = "CALICO_NETWORKING_BACKEND", default_value = "none")]
    networking_backend: String,
}

/// Readiness and liveness shared with the HTTP handlers.
#[derive(Default)]
struct Health {
    ready: AtomicBool,
    /// Seconds since the epoch of the main loop's last tick.
    last_tick: AtomicU64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("calico-node: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, env)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("calico-node: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(spec: &FelixConfigurationSpec) {
    let level = match spec.log_severity_screen().as_str() {
        "Trace" => "trace",
        "Debug" => "debug",
        "Info" => "info",
        "Warning" => "warn",
        _ => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Reads and merges the `default` and `node.<name>` FelixConfigurations from the store.
async fn datastore_config(store: &Arc<dyn calico_datastore::Datastore>, nodename: &str) -> Value {
    let mut layers = Vec::new();
    for name in ["default".to_owned(), format!("node.{nodename}")] {
        let key = ResourceKey::new(Kind::FelixConfiguration, "", name.clone());
        match store.get(&key).await {
            Ok(Resource::FelixConfiguration(f)) => layers.push(f.spec),
            Ok(_) => {}
            Err(e) => tracing::debug!(name, error = %e, "no FelixConfiguration"),
        }
    }
    let refs: Vec<&FelixConfigurationSpec> = layers.iter().collect();
    serde_json::to_value(FelixConfigurationSpec::merge(&refs)).unwrap_or(Value::Null)
}

async fn bind(host: &str, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    tokio::net::TcpListener::bind((host, port))
        .await
        .with_context(|| format!("binding {host}:{port}"))
}

fn serve(listener: tokio::net::TcpListener, app: Router) {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
}

async fn run(args: Args, env: HashMap<String, String>) -> anyhow::Result<()> {
    let overrides = config::env_overrides(&env);
    init_logging(&config::effective(&Value::Null, &overrides));
    for ignored in &overrides.ignored {
        tracing::warn!("ignoring environment variable {ignored}");
    }
    if !args.networking_backend.eq_ignore_ascii_case("none") {
        tracing::warn!(
            backend = %args.networking_backend,
            "CALICO_NETWORKING_BACKEND: only `none` is implemented (no BGP, no overlay); \
             running policy-only with local workload routes"
        );
    }
    let nodename = config::nodename(&env).context("cannot tell this node's name: set NODENAME")?;
    let ds_config = DatastoreConfig::from_env_map(&env).context("datastore configuration")?;
    let store = calico_datastore::connect(&ds_config)
        .await
        .with_context(|| format!("connecting to the {} datastore", ds_config.datastore_type()))?;

    // As calico-node's startup (`EnsureInitialized`): ClusterInformation carries the
    // cluster's GUID, the running version (calicoctl's version check reads it) and the type
    // tags; a migration lock (`datastoreReady: false`) is kept.
    let cluster_type = env
        .get("CLUSTER_TYPE")
        .map(String::as_str)
        .unwrap_or_default();
    calico_datastore::cluster::ensure_initialized(
        store.as_ref(),
        concat!("v", env!("CARGO_PKG_VERSION")),
        cluster_type,
    )
    .await
    .context("Unable to initialize the datastore (ClusterInformation)")?;

    let startup_ds = datastore_config(&store, &nodename).await;
    let mut felix = config::effective(&startup_ds, &overrides);
    if felix.nftables_mode().as_str() == "Disabled" && args.dataplane == DataplaneKind::Nftables {
        anyhow::bail!("nftablesMode is Disabled, but only the nftables dataplane is implemented");
    }
    tracing::info!(node = %nodename, dataplane = ?args.dataplane,
        datastore = ds_config.datastore_type(), "starting calico-node");

    let health = Arc::new(Health::default());
    health.last_tick.store(now_secs(), Ordering::Relaxed);
    let metrics = Arc::new(Metrics::default());

    // Felix defaults healthEnabled to false; calico-node's manifests turn it on, and so do we
    // unless it is set explicitly.
    if felix.health_enabled.unwrap_or(true) {
        let listener = bind(felix.health_host(), felix.health_port()).await?;
        let live = health.clone();
        let ready = health.clone();
        let app = Router::new()
            .route(
                "/liveness",
                get(move || {
                    let h = live.clone();
                    async move {
                        let age = now_secs().saturating_sub(h.last_tick.load(Ordering::Relaxed));
                        if age <= LIVENESS_TIMEOUT.as_secs() {
                            (StatusCode::OK, "live\n")
                        } else {
                            (StatusCode::SERVICE_UNAVAILABLE, "main loop stalled\n")
                        }
                    }
                }),
            )
            .route(
                "/readiness",
                get(move || {
                    let h = ready.clone();
                    async move {
                        if h.ready.load(Ordering::Relaxed) {
                            (StatusCode::OK, "ready\n")
                        } else {
                            (StatusCode::SERVICE_UNAVAILABLE, "not in sync yet\n")
                        }
                    }
                }),
            );
        let addr: Option<SocketAddr> = listener.local_addr().ok();
        tracing::info!(?addr, "health endpoints listening");
        serve(listener, app);
    }
    if felix.prometheus_metrics_enabled() {
        let listener = bind(
            felix.prometheus_metrics_host(),
            felix.prometheus_metrics_port(),
        )
        .await?;
        let m = metrics.clone();
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let m = m.clone();
                async move { ([("content-type", "text/plain; version=0.0.4")], m.render()) }
            }),
        );
        serve(listener, app);
    }

    let mut dp = dataplane::build(args.dataplane, &felix)?;
    let (tx, rx) = mpsc::channel(64);
    let syncer = Syncer::start(store, FELIX_KINDS, tx);
    let mut agent = Agent {
        graph: CalcGraph::new(nodename),
        pending: Vec::new(),
        cluster: HashSet::new(),
        metrics: metrics.clone(),
        health: health.clone(),
        overrides,
        failures: 0,
        retry_at: None,
        seen_updates: 0,
        locked: false,
    };
    let result = agent.main_loop(rx, &mut *dp, &mut felix).await;
    syncer.stop().await;
    tracing::info!("calico-node stopped; the dataplane keeps the last programmed state");
    result
}

struct Agent {
    graph: CalcGraph,
    /// Updates not yet given to the dataplane.
    pending: Vec<DataplaneUpdate>,
    /// Keys of every resource seen (for cluster counts).
    cluster: HashSet<ResourceKey>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    overrides: config::EnvOverrides,
    failures: u32,
    retry_at: Option<tokio::time::Instant>,
    /// Datastore update events given to the graph so far.
    seen_updates: u64,
    /// `ClusterInformation` `datastoreReady: false` (`calicoctl datastore migrate lock`):
    /// updates are held, the dataplane keeps its last state and the node is not ready.
    locked: bool,
}

async fn shutdown_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100)
        .saturating_mul(1 << failures.min(7))
        .min(Duration::from_secs(10))
}

impl Agent {
    fn observe(&mut self, event: &SyncEvent) {
        match event {
            SyncEvent::Status(s) => {
                let state = match s {
                    SyncStatus::WaitForDatastore => 1,
                    SyncStatus::ResyncInProgress => 2,
                    SyncStatus::InSync => 3,
                };
                self.metrics.update(|v| v.resync_state = state);
            }
            SyncEvent::Update { key, value, .. } => {
                self.seen_updates += 1;
                if key.kind == Kind::ClusterInformation && key.name == "default" {
                    let locked = matches!(value, Some(Resource::ClusterInformation(ci))
                        if !ci.spec.datastore_ready_or_default());
                    if locked != self.locked {
                        if locked {
                            tracing::warn!(
                                "the datastore is locked (ClusterInformation datastoreReady: \
                                 false, a migration): holding dataplane updates"
                            );
                            self.health.ready.store(false, Ordering::Relaxed);
                        } else {
                            tracing::info!("the datastore is ready again: applying held updates");
                        }
                        self.locked = locked;
                    }
                }
                if value.is_some() {
                    self.cluster.insert(key.clone());
                } else {
                    self.cluster.remove(key);
                }
            }
        }
    }

    fn publish_counts(&self, dp: &dyn calico_dataplane::Dataplane) {
        let count = |kinds: &[Kind]| {
            self.cluster
                .iter()
                .filter(|k| kinds.contains(&k.kind))
                .count() as u64
        };
        let stats = self.graph.stats();
        let state = dp.state();
        self.metrics.update(|v| {
            v.cluster_workload_endpoints = count(&[Kind::WorkloadEndpoint]);
            v.cluster_host_endpoints = count(&[Kind::HostEndpoint]);
            v.cluster_hosts = count(&[Kind::Node]);
            v.cluster_policies = count(&[
                Kind::NetworkPolicy,
                Kind::GlobalNetworkPolicy,
                Kind::StagedNetworkPolicy,
                Kind::StagedGlobalNetworkPolicy,
                Kind::StagedKubernetesNetworkPolicy,
            ]);
            v.cluster_profiles = count(&[Kind::Profile]);
            v.cluster_tiers = count(&[Kind::Tier]);
            v.local_endpoints = stats.local_endpoints as u64;
            v.local_policies = state.policies.len() as u64;
            v.ipsets = state.ip_sets.len() as u64;
            v.ipset_members = state.ip_sets.values().map(|s| s.members.len() as u64).sum();
            v.routes = state.routes.len() as u64;
        });
    }

    /// Config changes from the datastore: the environment still wins; settings read at
    /// start-up (ports, dataplane) need a restart.
    fn on_config(&mut self, update: &mut DataplaneUpdate, felix: &mut FelixConfigurationSpec) {
        let DataplaneUpdate::ConfigUpdate(json) = update else {
            return;
        };
        let next = config::effective(json, &self.overrides);
        if next.health_port() != felix.health_port()
            || next.prometheus_metrics_port() != felix.prometheus_metrics_port()
            || next.endpoint_status_path_prefix() != felix.endpoint_status_path_prefix()
        {
            tracing::warn!("FelixConfiguration changed settings that apply after a restart");
        }
        if let Ok(v) = serde_json::to_value(&next) {
            *json = v;
        }
        *felix = next;
    }

    async fn apply(&mut self, dp: &mut dyn calico_dataplane::Dataplane) {
        if self.locked {
            // As Felix: nothing is programmed while a migration holds the datastore.
            return;
        }
        let upto = self.seen_updates;
        if self.pending.is_empty() {
            // Nothing to program: everything seen so far is in effect, once the dataplane
            // is in sync and no retry is outstanding.
            if self.failures == 0 && dp.state().in_sync {
                self.metrics.update(|v| v.applied_updates = upto);
                // Ready again after a migration lock that changed nothing.
                self.health.ready.store(true, Ordering::Relaxed);
            }
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        let n = batch.len() as u64;
        let started = Instant::now();
        let result = dp.apply(batch).await;
        self.metrics.observe_apply(started.elapsed().as_secs_f64());
        self.metrics.update(|v| v.dataplane_messages += n);
        if result.is_ok() && dp.state().in_sync {
            self.metrics.update(|v| v.applied_updates = upto);
        }
        self.after(dp, result);
    }

    async fn resync(&mut self, dp: &mut dyn calico_dataplane::Dataplane) {
        self.metrics.update(|v| v.resyncs_started += 1);
        let result = dp.resync().await;
        self.after(dp, result);
    }

    fn after(
        &mut self,
        dp: &dyn calico_dataplane::Dataplane,
        result: calico_dataplane::Result<calico_dataplane::ApplyReport>,
    ) {
        match result {
            Ok(report) => {
                if self.failures > 0 {
                    tracing::info!("dataplane recovered");
                }
                self.failures = 0;
                self.retry_at = None;
                if dp.state().in_sync && !self.health.ready.swap(true, Ordering::Relaxed) {
                    tracing::info!(objects = report.objects_changed, "dataplane in sync; ready");
                }
            }
            Err(e) => {
                self.metrics.update(|v| v.dataplane_failures += 1);
                let delay = backoff(self.failures);
                self.failures = self.failures.saturating_add(1);
                tracing::warn!(error = %e, retry_in = ?delay, "dataplane update failed");
                self.retry_at = Some(tokio::time::Instant::now() + delay);
            }
        }
        self.publish_counts(dp);
    }

    async fn main_loop(
        &mut self,
        mut rx: mpsc::Receiver<Vec<SyncEvent>>,
        dp: &mut dyn calico_dataplane::Dataplane,
        felix: &mut FelixConfigurationSpec,
    ) -> anyhow::Result<()> {
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut next_resync: Option<tokio::time::Instant> = None;
        loop {
            let retry_at = self.retry_at;
            let resync_at = next_resync;
            tokio::select! {
                signal = &mut shutdown => {
                    let name = signal.context("installing signal handlers")?;
                    tracing::info!(signal = name, "shutting down; leaving the dataplane as programmed");
                    return Ok(());
                }
                batch = rx.recv() => {
                    let Some(batch) = batch else {
                        anyhow::bail!("the syncer stopped");
                    };
                    let mut events = batch;
                    // Coalesce what is already queued into one dataplane batch.
                    while let Ok(more) = rx.try_recv() {
                        events.extend(more);
                    }
                    let n = events.len() as u64;
                    for event in events {
                        self.observe(&event);
                        self.graph.on_event(event);
                    }
                    self.metrics.update(|v| v.calc_graph_updates += n);
                    let mut updates = self.graph.flush();
                    for u in &mut updates {
                        self.on_config(u, felix);
                    }
                    self.pending.extend(updates);
                    self.publish_counts(dp);
                    // Never apply before the graph's first InSync (it emits nothing until
                    // then), and not while a retry is scheduled: the retry resyncs.
                    if self.retry_at.is_none() {
                        let was_ready = self.health.ready.load(Ordering::Relaxed);
                        self.apply(dp).await;
                        if !was_ready && self.health.ready.load(Ordering::Relaxed) {
                            let every = felix.route_refresh_interval().to_std();
                            next_resync = (!every.is_zero())
                                .then(|| tokio::time::Instant::now() + every);
                        }
                    }
                }
                _ = async { tokio::time::sleep_until(retry_at.unwrap_or_else(tokio::time::Instant::now)).await },
                    if retry_at.is_some() => {
                    // The driver kept what it was given; queued updates go first, then a
                    // resync repairs whatever failed.
                    self.retry_at = None;
                    self.apply(dp).await;
                    if self.retry_at.is_none() {
                        self.resync(dp).await;
                    }
                }
                _ = async { tokio::time::sleep_until(resync_at.unwrap_or_else(tokio::time::Instant::now)).await },
                    if resync_at.is_some() => {
                    self.resync(dp).await;
                    let every = felix.route_refresh_interval().to_std();
                    next_resync = (!every.is_zero()).then(|| tokio::time::Instant::now() + every);
                }
                _ = tick.tick() => {
                    self.health.last_tick.store(now_secs(), Ordering::Relaxed);
                }
            }
        }
    }
}
