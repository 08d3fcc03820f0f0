//! Prometheus metrics, named as Felix names them, rendered in the text exposition format.

use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds of the apply-time histogram buckets, in seconds.
const APPLY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The values behind `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct Values {
    /// Apply-time histogram: counts per bucket (not cumulative), then +Inf.
    pub apply_buckets: [u64; APPLY_BUCKETS.len() + 1],
    /// Sum of apply times.
    pub apply_sum: f64,
    /// Number of applies.
    pub apply_count: u64,
    /// Failed applies and resyncs.
    pub dataplane_failures: u64,
    /// Updates sent to the dataplane.
    pub dataplane_messages: u64,
    /// Dataplane resyncs started.
    pub resyncs_started: u64,
    /// Syncer status: 1 wait-for-datastore, 2 resync in progress, 3 in sync.
    pub resync_state: u64,
    /// Datastore events processed by the calculation graph.
    pub calc_graph_updates: u64,
    /// Workload endpoints in the cluster.
    pub cluster_workload_endpoints: u64,
    /// Host endpoints in the cluster.
    pub cluster_host_endpoints: u64,
    /// Nodes in the cluster.
    pub cluster_hosts: u64,
    /// (Global)NetworkPolicies in the cluster.
    pub cluster_policies: u64,
    /// Profiles in the cluster.
    pub cluster_profiles: u64,
    /// Tiers in the cluster.
    pub cluster_tiers: u64,
    /// Local endpoints.
    pub local_endpoints: u64,
    /// Policies active on this host.
    pub local_policies: u64,
    /// IP sets programmed.
    pub ipsets: u64,
    /// Members of all IP sets programmed.
    pub ipset_members: u64,
    /// Routes in the desired state.
    pub routes: u64,
    /// Datastore update events whose effect the dataplane has applied (all of the first
    /// `applied_updates` events received are in effect).
    pub applied_updates: u64,
}

/// Thread-safe metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    values: Mutex<Values>,
}

impl Metrics {
    /// Changes the values.
    pub fn update(&self, f: impl FnOnce(&mut Values)) {
        if let Ok(mut v) = self.values.lock() {
            f(&mut v);
        }
    }

    /// Records one apply's duration.
    pub fn observe_apply(&self, seconds: f64) {
        self.update(|v| {
            let i = APPLY_BUCKETS
                .iter()
                .position(|b| seconds <= *b)
                .unwrap_or(APPLY_BUCKETS.len());
            v.apply_buckets[i] += 1;
            v.apply_sum += seconds;
            v.apply_count += 1;
        });
    }

    /// A copy of the values.
    pub fn snapshot(&self) -> Values {
        self.values.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let v = self.snapshot();
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "felix_int_dataplane_failures",
            "counter",
            "Number of times dataplane updates failed and will be retried.",
            v.dataplane_failures,
        );
        metric(
            "felix_int_dataplane_messages",
            "counter",
            "Number of updates sent to the dataplane.",
            v.dataplane_messages,
        );
        metric(
            "calico_node_applied_updates",
            "counter",
            "Datastore update events received whose effect is programmed in the dataplane.",
            v.applied_updates,
        );
        metric(
            "felix_resyncs_started",
            "counter",
            "Number of dataplane resyncs started.",
            v.resyncs_started,
        );
        metric(
            "felix_resync_state",
            "gauge",
            "Datastore sync state: 1 waiting, 2 resyncing, 3 in sync.",
            v.resync_state,
        );
        metric(
            "felix_calc_graph_updates_processed",
            "counter",
            "Datastore updates processed by the calculation graph.",
            v.calc_graph_updates,
        );
        metric(
            "felix_cluster_num_workload_endpoints",
            "gauge",
            "Workload endpoints in the cluster.",
            v.cluster_workload_endpoints,
        );
        metric(
            "felix_cluster_num_host_endpoints",
            "gauge",
            "Host endpoints in the cluster.",
            v.cluster_host_endpoints,
        );
        metric(
            "felix_cluster_num_hosts",
            "gauge",
            "Nodes in the cluster.",
            v.cluster_hosts,
        );
        metric(
            "felix_cluster_num_policies",
            "gauge",
            "Network policies in the cluster.",
            v.cluster_policies,
        );
        metric(
            "felix_cluster_num_profiles",
            "gauge",
            "Profiles in the cluster.",
            v.cluster_profiles,
        );
        metric(
            "felix_cluster_num_tiers",
            "gauge",
            "Tiers in the cluster.",
            v.cluster_tiers,
        );
        metric(
            "felix_active_local_endpoints",
            "gauge",
            "Endpoints on this host.",
            v.local_endpoints,
        );
        metric(
            "felix_active_local_policies",
            "gauge",
            "Policies active on this host.",
            v.local_policies,
        );
        metric(
            "felix_ipsets_calico",
            "gauge",
            "IP sets programmed.",
            v.ipsets,
        );
        metric(
            "felix_ipset_members",
            "gauge",
            "Members of all IP sets programmed.",
            v.ipset_members,
        );
        metric(
            "felix_route_table_num_routes",
            "gauge",
            "Workload routes in the desired state.",
            v.routes,
        );
        let name = "felix_int_dataplane_apply_time_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time taken to apply a batch to the dataplane.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in APPLY_BUCKETS.iter().enumerate() {
            cumulative += v.apply_buckets[i];
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += v.apply_buckets[APPLY_BUCKETS.len()];
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum {}", v.apply_sum);
        let _ = writeln!(out, "{name}_count {}", v.apply_count);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_apply(0.002);
        m.observe_apply(0.2);
        m.observe_apply(100.0);
        let text = m.render();
        assert!(text.contains("felix_int_dataplane_apply_time_seconds_bucket{le=\"0.0025\"} 1"));
        assert!(text.contains("felix_int_dataplane_apply_time_seconds_bucket{le=\"0.25\"} 2"));
        assert!(text.contains("felix_int_dataplane_apply_time_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("felix_int_dataplane_apply_time_seconds_count 3"));
    }
}
