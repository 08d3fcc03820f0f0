//! kube-controllers settings (`KubeControllersConfiguration`) and cluster-wide information
//! (`ClusterInformation`).
//!
//! Follows `api/pkg/apis/projectcalico/v3/{kubecontrollersconfig,clusterinfo}.go`, their CRD
//! defaults, and the checks and defaults of `libcalico-go/lib/clientv3/kubecontrollersconfig.go`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::bgp::empty_as_none;
use crate::resource::{
    ClusterInformation, KubeControllersConfiguration, ResourceKind, validate_common_meta,
};
use crate::scalar::Duration;
use crate::util::is_empty_map;
use crate::validation::{NetKind, Path, Validate, Validator, check_net};

/// The only name a KubeControllersConfiguration or ClusterInformation may have.
pub const SINGLETON_NAME: &str = "default";
/// Prometheus metrics port kube-controllers uses when none is set (filled in by the client).
pub const DEFAULT_KUBE_CONTROLLERS_METRICS_PORT: i64 = 9094;
/// Default period between etcd compaction requests (applied by kube-controllers at runtime).
pub const DEFAULT_ETCD_COMPACTION_PERIOD: Duration = Duration::from_secs(10 * 60);
/// Default reconciliation period of the controllers (applied at runtime).
pub const DEFAULT_RECONCILER_PERIOD: Duration = Duration::from_secs(5 * 60);
/// Default grace period before an IP is considered leaked (filled in by the client).
pub const DEFAULT_LEAK_GRACE_PERIOD: Duration = Duration::from_secs(15 * 60);
/// Highest TCP port number.
const MAX_PORT: i64 = 65_535;
/// Maximum length of an auto host endpoint template name.
const MAX_TEMPLATE_NAME_LEN: usize = 253;
/// Values of `createDefaultHostEndpoint`.
const DEFAULT_HOST_ENDPOINT_MODES: &[&str] = &["Enabled", "Disabled"];

/// On/off switch used by several kube-controllers settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum KubeControllerMode {
    /// On.
    Enabled,
    /// Off.
    Disabled,
}

/// kube-controllers log level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum KubeControllersLogLevel {
    /// No logging.
    None,
    /// Debug.
    Debug,
    /// Info (runtime default).
    Info,
    /// Warning.
    Warning,
    /// Error.
    Error,
    /// Fatal.
    Fatal,
    /// Panic.
    Panic,
}

/// Which LoadBalancer services get an IP from Calico IPAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AssignIPs {
    /// Every LoadBalancer service (the default).
    AllServices,
    /// Only services that request Calico IPs.
    RequestedServicesOnly,
}

/// kube-controllers settings (name `default`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeControllersConfigurationSpec {
    /// Log level (runtime default: Info).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub log_severity_screen: Option<KubeControllersLogLevel>,
    /// Health checks (defaulted to Enabled).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub health_checks: Option<KubeControllerMode>,
    /// Period between etcd compactions; 0 disables (runtime default: 10m).
    #[serde(
        rename = "etcdV3CompactionPeriod",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub etcd_v3_compaction_period: Option<Duration>,
    /// Prometheus metrics port, 0–65535; 0 disables (defaulted to 9094).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_metrics_port: Option<i64>,
    /// The individual controllers; an absent one is disabled.
    #[serde(default)]
    pub controllers: ControllersConfig,
    /// Port for CPU/memory profiles, 0–65535; unset disables profiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_profile_port: Option<i32>,
}

/// The individual controllers and their settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControllersConfig {
    /// Node controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeControllerConfig>,
    /// Policy controller (etcd datastore only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyControllerConfig>,
    /// Workload endpoint controller (etcd datastore only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_endpoint: Option<WorkloadEndpointControllerConfig>,
    /// Service account controller (etcd datastore only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountControllerConfig>,
    /// Namespace controller (etcd datastore only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceControllerConfig>,
    /// LoadBalancer IP allocation controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerControllerConfig>,
    /// Migration controllers (JSON name `policyMigration`).
    #[serde(
        rename = "policyMigration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub migration: Option<MigrationControllerConfig>,
}

/// Node controller settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeControllerConfig {
    /// Datastore reconciliation period (runtime default: 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciler_period: Option<Duration>,
    /// Copy Kubernetes node labels to Calico nodes (runtime default: Enabled).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub sync_labels: Option<KubeControllerMode>,
    /// Automatic host endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_endpoint: Option<AutoHostEndpointConfig>,
    /// Grace period before an IP is considered leaked; 0 disables IP GC (defaulted to 15m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak_grace_period: Option<Duration>,
}

/// Automatic host endpoint settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoHostEndpointConfig {
    /// Create host endpoints for nodes (runtime default: Disabled).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub auto_create: Option<KubeControllerMode>,
    /// Whether the all-interfaces default host endpoint is created (Enabled or Disabled).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub create_default_host_endpoint: String,
    /// Templates for additional host endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<AutoHostEndpointTemplate>,
}

/// A template for automatically created host endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoHostEndpointTemplate {
    /// Suffix of the generated host endpoint names (required, unique).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    /// Only node IPs within these CIDRs become expected IPs.
    #[serde(
        rename = "interfaceCIDRs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub interface_cidrs: Vec<String>,
    /// Regular expression (Go syntax) for interface names; one host endpoint per match.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_pattern: String,
    /// Labels added to the generated host endpoints.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub labels: BTreeMap<String, String>,
    /// Nodes the template applies to (empty: all nodes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_selector: String,
}

/// Policy controller settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyControllerConfig {
    /// Datastore reconciliation period (runtime default: 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciler_period: Option<Duration>,
}

/// Workload endpoint controller settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadEndpointControllerConfig {
    /// Datastore reconciliation period (runtime default: 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciler_period: Option<Duration>,
}

/// Service account controller settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountControllerConfig {
    /// Datastore reconciliation period (runtime default: 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciler_period: Option<Duration>,
}

/// Namespace controller settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceControllerConfig {
    /// Datastore reconciliation period (runtime default: 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciler_period: Option<Duration>,
}

/// LoadBalancer controller settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancerControllerConfig {
    /// Which services get IPs (defaulted to AllServices).
    #[serde(
        rename = "assignIPs",
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub assign_ips: Option<AssignIPs>,
}

/// Migration controller settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MigrationControllerConfig {
    /// Rename old-style policy names to v3 names (JSON name `enabled`; defaulted to Enabled).
    #[serde(
        rename = "enabled",
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub policy_name_migrator: Option<KubeControllerMode>,
}

/// The configuration kube-controllers actually runs with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeControllersConfigurationStatus {
    /// The resource merged with environment overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_config: Option<KubeControllersConfigurationSpec>,
    /// Environment variables that influenced `runningConfig`.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub environment_vars: BTreeMap<String, String>,
}

impl KubeControllersConfigurationSpec {
    /// Log level, `Info` when unset.
    pub fn log_severity_screen_or_default(&self) -> KubeControllersLogLevel {
        self.log_severity_screen
            .unwrap_or(KubeControllersLogLevel::Info)
    }

    /// Whether health checks are on (unset: on).
    pub fn health_checks_enabled(&self) -> bool {
        self.health_checks != Some(KubeControllerMode::Disabled)
    }

    /// etcd compaction period, 10m when unset (0 means disabled).
    pub fn etcd_v3_compaction_period_or_default(&self) -> Duration {
        self.etcd_v3_compaction_period
            .unwrap_or(DEFAULT_ETCD_COMPACTION_PERIOD)
    }

    /// Prometheus metrics port, 9094 when unset (0 means disabled).
    pub fn prometheus_metrics_port_or_default(&self) -> i64 {
        self.prometheus_metrics_port
            .unwrap_or(DEFAULT_KUBE_CONTROLLERS_METRICS_PORT)
    }
}

impl NodeControllerConfig {
    /// Reconciliation period, 5m when unset.
    pub fn reconciler_period_or_default(&self) -> Duration {
        self.reconciler_period.unwrap_or(DEFAULT_RECONCILER_PERIOD)
    }

    /// Whether node labels are synced (unset: yes).
    pub fn sync_labels_enabled(&self) -> bool {
        self.sync_labels != Some(KubeControllerMode::Disabled)
    }

    /// Leak grace period, 15m when unset (0 disables IP garbage collection).
    pub fn leak_grace_period_or_default(&self) -> Duration {
        self.leak_grace_period.unwrap_or(DEFAULT_LEAK_GRACE_PERIOD)
    }
}

impl AutoHostEndpointConfig {
    /// Whether host endpoints are created automatically (unset: no).
    pub fn auto_create_enabled(&self) -> bool {
        self.auto_create == Some(KubeControllerMode::Enabled)
    }
}

impl AutoHostEndpointTemplate {
    /// The node selector, `all()` when empty.
    pub fn node_selector_or_default(&self) -> &str {
        if self.node_selector.is_empty() {
            "all()"
        } else {
            &self.node_selector
        }
    }
}

macro_rules! reconciler_period_accessor {
    ($($t:ty),*) => {$(
        impl $t {
            /// Reconciliation period, 5m when unset.
            pub fn reconciler_period_or_default(&self) -> Duration {
                self.reconciler_period.unwrap_or(DEFAULT_RECONCILER_PERIOD)
            }
        }
    )*};
}
reconciler_period_accessor!(
    PolicyControllerConfig,
    WorkloadEndpointControllerConfig,
    ServiceAccountControllerConfig,
    NamespaceControllerConfig
);

impl LoadBalancerControllerConfig {
    /// Which services get IPs, `AllServices` when unset.
    pub fn assign_ips_or_default(&self) -> AssignIPs {
        self.assign_ips.unwrap_or(AssignIPs::AllServices)
    }
}

impl MigrationControllerConfig {
    /// Whether the policy name migrator runs (unset: yes).
    pub fn policy_name_migrator_enabled(&self) -> bool {
        self.policy_name_migrator != Some(KubeControllerMode::Disabled)
    }
}

/// Checks that `s` is a valid Go (RE2) regular expression; returns why it is not.
pub fn check_go_regexp(s: &str) -> Result<(), String> {
    crate::validation::check_regex(s)
}

impl AutoHostEndpointTemplate {
    fn validate_at(&self, path: &Path, v: &mut Validator) {
        let np = path.field("generateName");
        if self.generate_name.is_empty() {
            v.report(&np, "template name (generateName) must be specified");
        } else {
            v.resource_name(&np, &self.generate_name);
            v.max_len(&np, &self.generate_name, MAX_TEMPLATE_NAME_LEN);
        }
        let cp = path.field("interfaceCIDRs");
        for (i, c) in self.interface_cidrs.iter().enumerate() {
            check_net(v, &cp.index(i), c, NetKind::Cidr);
        }
        v.unique(&cp, &self.interface_cidrs);
        if !self.interface_pattern.is_empty()
            && let Err(e) = check_go_regexp(&self.interface_pattern)
        {
            v.report(
                &path.field("interfacePattern"),
                format!(
                    "invalid regular expression {:?}: {e}",
                    self.interface_pattern
                ),
            );
        }
        v.labels(&path.field("labels"), &self.labels);
        if !self.node_selector.is_empty() {
            v.selector(&path.field("nodeSelector"), &self.node_selector);
        }
    }
}

impl KubeControllersConfigurationSpec {
    /// Field checks, plus (`client_rules`) the template checks the v3 client runs on writes.
    fn validate_with(&self, path: &Path, v: &mut Validator, client_rules: bool) {
        if let Some(p) = self.prometheus_metrics_port {
            v.range(&path.field("prometheusMetricsPort"), p, 0, MAX_PORT);
        }
        if let Some(p) = self.debug_profile_port {
            v.range(&path.field("debugProfilePort"), i64::from(p), 0, MAX_PORT);
        }
        let cp = path.field("controllers");
        let Some(node) = &self.controllers.node else {
            return;
        };
        let Some(hep) = &node.host_endpoint else {
            return;
        };
        let hp = cp.field("node").field("hostEndpoint");
        v.one_of(
            &hp.field("createDefaultHostEndpoint"),
            &hep.create_default_host_endpoint,
            DEFAULT_HOST_ENDPOINT_MODES,
            true,
        );
        let tp = hp.field("templates");
        for (i, t) in hep.templates.iter().enumerate() {
            let p = tp.index(i);
            t.validate_at(&p, v);
            if client_rules {
                if !t.generate_name.is_empty()
                    && hep
                        .templates
                        .get(..i)
                        .is_some_and(|prev| prev.iter().any(|o| o.generate_name == t.generate_name))
                {
                    v.report(&p.field("generateName"), "template name must be unique");
                }
                if t.interface_cidrs.is_empty() && t.interface_pattern.is_empty() {
                    v.report(&p, "interfaceCIDRs or interfacePattern must be specified");
                }
            }
        }
    }
}

impl Validate for KubeControllersConfigurationSpec {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        self.validate_with(path, v, true);
    }
}

impl Validate for KubeControllersConfigurationStatus {
    fn validate_into(&self, path: &Path, v: &mut Validator) {
        if let Some(rc) = &self.running_config {
            rc.validate_with(&path.field("runningConfig"), v, false);
        }
    }
}

fn check_singleton_name(v: &mut Validator, name: &str, kind: &str) {
    let p = Path::new("metadata").field("name");
    if name != SINGLETON_NAME {
        v.report(
            &p,
            format!("a {kind} must be named \"default\", not {name:?}"),
        );
    }
}

impl ResourceKind for KubeControllersConfiguration {
    fn apply_defaults(&mut self) {
        let s = &mut self.spec;
        s.health_checks.get_or_insert(KubeControllerMode::Enabled);
        s.prometheus_metrics_port
            .get_or_insert(DEFAULT_KUBE_CONTROLLERS_METRICS_PORT);
        if let Some(node) = &mut s.controllers.node {
            node.leak_grace_period
                .get_or_insert(DEFAULT_LEAK_GRACE_PERIOD);
        }
        if let Some(lb) = &mut s.controllers.load_balancer {
            lb.assign_ips.get_or_insert(AssignIPs::AllServices);
        }
        if let Some(m) = &mut s.controllers.migration {
            m.policy_name_migrator
                .get_or_insert(KubeControllerMode::Enabled);
        }
    }

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        check_singleton_name(v, &self.metadata.name, "KubeControllersConfiguration");
        self.spec.validate_into(&Path::new("spec"), v);
        self.status.validate_into(&Path::new("status"), v);
    }
}

/// Facts about the cluster, written by Calico (name `default`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterInformationSpec {
    /// Unique ID of the cluster.
    #[serde(
        rename = "clusterGUID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cluster_guid: String,
    /// Comma-separated cluster type tags, e.g. `k8s,bgp,kubeadm`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_type: String,
    /// Calico version the cluster runs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub calico_version: String,
    /// False while a datastore migration is in progress (components wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore_ready: Option<bool>,
    /// Which Calico variant is active (e.g. `Calico`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

impl ClusterInformationSpec {
    /// Whether the datastore is ready (unset: ready).
    pub fn datastore_ready_or_default(&self) -> bool {
        self.datastore_ready.unwrap_or(true)
    }

    /// The cluster type tags, split on commas.
    pub fn cluster_types(&self) -> impl Iterator<Item = &str> {
        self.cluster_type
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }
}

impl ResourceKind for ClusterInformation {
    fn apply_defaults(&mut self) {}

    fn validate_into(&self, v: &mut Validator) {
        validate_common_meta(&self.metadata, v, false);
        check_singleton_name(v, &self.metadata.name, "ClusterInformation");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testutil::{doc, exact_round_trip, expect_invalid as bad, expect_valid as ok};
    use crate::{Kind, Resource, decode_yaml};

    fn kcc(spec: &str) -> String {
        doc("KubeControllersConfiguration", "default", spec)
    }

    const KCC_FULL: &str = r#"{
      "apiVersion": "projectcalico.org/v3",
      "kind": "KubeControllersConfiguration",
      "metadata": {"name": "default"},
      "spec": {
        "logSeverityScreen": "Warning",
        "healthChecks": "Enabled",
        "etcdV3CompactionPeriod": "1h0m0s",
        "prometheusMetricsPort": 9095,
        "controllers": {
          "node": {
            "reconcilerPeriod": "10m0s",
            "syncLabels": "Disabled",
            "hostEndpoint": {
              "autoCreate": "Enabled",
              "createDefaultHostEndpoint": "Disabled",
              "templates": [{
                "generateName": "internal",
                "interfaceCIDRs": ["10.0.0.0/8", "fd00::/8"],
                "interfacePattern": "^(eth|ens)[0-9]+$",
                "labels": {"network": "internal"},
                "nodeSelector": "has(node-role.kubernetes.io/worker)"
              }]
            },
            "leakGracePeriod": "30m0s"
          },
          "policy": {"reconcilerPeriod": "5m0s"},
          "workloadEndpoint": {"reconcilerPeriod": "5m0s"},
          "serviceAccount": {"reconcilerPeriod": "5m0s"},
          "namespace": {"reconcilerPeriod": "5m0s"},
          "loadBalancer": {"assignIPs": "RequestedServicesOnly"},
          "policyMigration": {"enabled": "Disabled"}
        },
        "debugProfilePort": 6060
      },
      "status": {
        "runningConfig": {
          "logSeverityScreen": "Info",
          "healthChecks": "Enabled",
          "etcdV3CompactionPeriod": "10m0s",
          "prometheusMetricsPort": 9094,
          "controllers": {"node": {"syncLabels": "Enabled", "leakGracePeriod": "15m0s"}}
        },
        "environmentVars": {"ENABLED_CONTROLLERS": "node", "LOG_LEVEL": "info"}
      }
    }"#;

    #[test]
    fn kcc_round_trip() {
        let r = exact_round_trip(Kind::KubeControllersConfiguration, KCC_FULL);
        r.validate().unwrap();
    }

    #[test]
    fn kcc_defaults_and_accessors() {
        let r = ok(&kcc(
            "controllers:\n  node: {}\n  loadBalancer: {}\n  policyMigration: {}",
        ));
        let Resource::KubeControllersConfiguration(c) = r else {
            unreachable!()
        };
        let s = &c.spec;
        assert_eq!(s.health_checks, Some(KubeControllerMode::Enabled));
        assert_eq!(s.prometheus_metrics_port, Some(9094));
        let node = s.controllers.node.as_ref().unwrap();
        assert_eq!(node.leak_grace_period, Some(Duration::from_secs(900)));
        assert_eq!(
            s.controllers.load_balancer.as_ref().unwrap().assign_ips,
            Some(AssignIPs::AllServices)
        );
        assert_eq!(
            s.controllers
                .migration
                .as_ref()
                .unwrap()
                .policy_name_migrator,
            Some(KubeControllerMode::Enabled)
        );
        // Runtime-only defaults stay unset but have accessors.
        assert_eq!(s.log_severity_screen, None);
        assert_eq!(
            s.log_severity_screen_or_default(),
            KubeControllersLogLevel::Info
        );
        assert_eq!(s.etcd_v3_compaction_period, None);
        assert_eq!(
            s.etcd_v3_compaction_period_or_default(),
            Duration::from_secs(600)
        );
        assert_eq!(node.reconciler_period, None);
        assert_eq!(
            node.reconciler_period_or_default(),
            Duration::from_secs(300)
        );
        assert!(node.sync_labels_enabled());
        assert_eq!(
            PolicyControllerConfig::default().reconciler_period_or_default(),
            Duration::from_secs(300)
        );
        assert!(!AutoHostEndpointConfig::default().auto_create_enabled());
        // Absent controllers stay absent (a nil controller is disabled).
        assert!(s.controllers.policy.is_none());
        // Explicit values are kept, including 0 (disabled).
        let r = ok(&kcc(
            "prometheusMetricsPort: 0\nhealthChecks: Disabled\ncontrollers:\n  node: {leakGracePeriod: 0s}",
        ));
        let Resource::KubeControllersConfiguration(c) = r else {
            unreachable!()
        };
        assert_eq!(c.spec.prometheus_metrics_port, Some(0));
        assert!(!c.spec.health_checks_enabled());
        assert_eq!(
            c.spec.controllers.node.unwrap().leak_grace_period,
            Some(Duration::from_secs(0))
        );
    }

    #[test]
    fn kcc_must_be_named_default() {
        bad(
            &doc("KubeControllersConfiguration", "kcc", "controllers: {}"),
            &["metadata.name"],
        );
    }

    #[test]
    fn kcc_ports() {
        ok(&kcc(
            "prometheusMetricsPort: 65535\ndebugProfilePort: 0\ncontrollers: {}",
        ));
        bad(
            &kcc("prometheusMetricsPort: 65536\ndebugProfilePort: -1\ncontrollers: {}"),
            &["spec.prometheusMetricsPort", "spec.debugProfilePort"],
        );
    }

    #[test]
    fn kcc_enums_are_decode_errors() {
        for s in [
            "healthChecks: enabled\ncontrollers: {}",
            "logSeverityScreen: Trace\ncontrollers: {}",
            "controllers: {node: {syncLabels: Yes}}",
            "controllers: {loadBalancer: {assignIPs: All}}",
            "controllers: {policyMigration: {enabled: true}}",
            "controllers: {migration: {}}",
        ] {
            assert!(decode_yaml(&kcc(s)).is_err(), "{s}");
        }
        // An empty string means unset, as in Go.
        ok(&kcc("healthChecks: ''\ncontrollers: {}"));
    }

    #[test]
    fn kcc_host_endpoint_templates() {
        let hep = |t: &str| {
            kcc(&format!(
                "controllers:\n  node:\n    hostEndpoint:\n      autoCreate: Enabled\n      templates:\n{t}"
            ))
        };
        ok(&hep(
            "        - {generateName: a, interfaceCIDRs: [10.0.0.1/8]}\n        - {generateName: b, interfacePattern: 'eth[0-9]+'}",
        ));
        bad(
            &hep("        - {interfaceCIDRs: [10.0.0.0/8]}"),
            &["spec.controllers.node.hostEndpoint.templates[0].generateName"],
        );
        bad(
            &hep("        - {generateName: Bad_Name, interfaceCIDRs: [10.0.0.0/8]}"),
            &["spec.controllers.node.hostEndpoint.templates[0].generateName"],
        );
        bad(
            &hep(
                "        - {generateName: a, interfaceCIDRs: [10.0.0.0/8]}\n        - {generateName: a, interfaceCIDRs: [10.1.0.0/16]}",
            ),
            &["spec.controllers.node.hostEndpoint.templates[1].generateName"],
        );
        bad(
            &hep("        - {generateName: a}"),
            &["spec.controllers.node.hostEndpoint.templates[0]"],
        );
        bad(
            &hep("        - {generateName: a, interfaceCIDRs: [10.0.0.0/33, 10.0.0.0/33]}"),
            &[
                "spec.controllers.node.hostEndpoint.templates[0].interfaceCIDRs[0]",
                "spec.controllers.node.hostEndpoint.templates[0].interfaceCIDRs[1]",
            ],
        );
        bad(
            &hep(
                "        - {generateName: a, interfacePattern: 'eth(0', labels: {'bad key!': x}, nodeSelector: 'has('}",
            ),
            &[
                "spec.controllers.node.hostEndpoint.templates[0].interfacePattern",
                "spec.controllers.node.hostEndpoint.templates[0].labels[bad key!]",
                "spec.controllers.node.hostEndpoint.templates[0].nodeSelector",
            ],
        );
        bad(
            &kcc("controllers: {node: {hostEndpoint: {createDefaultHostEndpoint: enabled}}}"),
            &["spec.controllers.node.hostEndpoint.createDefaultHostEndpoint"],
        );
    }

    const CLUSTER_INFO_FULL: &str = r#"{
      "apiVersion": "projectcalico.org/v3",
      "kind": "ClusterInformation",
      "metadata": {"name": "default", "resourceVersion": "1234"},
      "spec": {
        "clusterGUID": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "clusterType": "k8s,bgp,kubeadm,kdd",
        "calicoVersion": "v3.30.2",
        "datastoreReady": true,
        "variant": "Calico"
      }
    }"#;

    #[test]
    fn cluster_information_round_trip_and_accessors() {
        let r = exact_round_trip(Kind::ClusterInformation, CLUSTER_INFO_FULL);
        r.validate().unwrap();
        let Resource::ClusterInformation(c) = r else {
            unreachable!()
        };
        assert_eq!(
            c.spec.cluster_types().collect::<Vec<_>>(),
            ["k8s", "bgp", "kubeadm", "kdd"]
        );
        assert!(c.spec.datastore_ready_or_default());
        assert!(ClusterInformationSpec::default().datastore_ready_or_default());
    }

    #[test]
    fn cluster_information_rules() {
        ok(&doc(
            "ClusterInformation",
            "default",
            "datastoreReady: false",
        ));
        bad(
            &doc("ClusterInformation", "cluster", "{}"),
            &["metadata.name"],
        );
        assert!(decode_yaml(&doc("ClusterInformation", "default", "clusterGuid: x")).is_err());
        assert!(
            decode_yaml(&doc(
                "ClusterInformation",
                "default",
                "datastoreReady: 'yes'"
            ))
            .is_err()
        );
    }
}
