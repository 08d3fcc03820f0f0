//! Identifiers the plugins derive from a request (Calico's rules): orchestrator and
//! workload identity, the WorkloadEndpoint name, the host-side veth name, the IPAM handle.

use calico_model::k8s::{interface_name, workload_endpoint_name};

use crate::skel::{Env, Error, Result, args};

/// The `k8s` orchestrator.
pub const ORCHESTRATOR_K8S: &str = "k8s";
/// The plain-CNI orchestrator.
pub const ORCHESTRATOR_CNI: &str = "cni";
/// The namespace of `cni` workloads.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The host-side interface prefix.
pub const HOST_VETH_PREFIX: &str = "cali";
/// Label: the workload's namespace.
pub const LABEL_NAMESPACE: &str = "projectcalico.org/namespace";
/// Label: the orchestrator.
pub const LABEL_ORCHESTRATOR: &str = "projectcalico.org/orchestrator";
/// Prefix of the per-namespace profile.
pub const NAMESPACE_PROFILE_PREFIX: &str = "kns.";

/// Who the workload is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadIds {
    /// The node.
    pub node: String,
    /// `k8s` or `cni`.
    pub orchestrator: &'static str,
    /// Namespace (`default` for `cni`).
    pub namespace: String,
    /// Pod name (k8s) or empty.
    pub pod: String,
    /// Container ID.
    pub container_id: String,
    /// Container-side interface (CNI_IFNAME).
    pub endpoint: String,
}

impl WorkloadIds {
    /// Derives the identity: `k8s` when CNI_ARGS has both `K8S_POD_NAMESPACE` and
    /// `K8S_POD_NAME`, else `cni` with namespace `default` (or `CNI_TEST_NAMESPACE`).
    pub fn new(node: &str, env: &Env) -> Self {
        let ns = env
            .args
            .get(args::K8S_POD_NAMESPACE)
            .filter(|s| !s.is_empty());
        let pod = env.args.get(args::K8S_POD_NAME).filter(|s| !s.is_empty());
        match (ns, pod) {
            (Some(ns), Some(pod)) => WorkloadIds {
                node: node.to_owned(),
                orchestrator: ORCHESTRATOR_K8S,
                namespace: ns.to_owned(),
                pod: pod.to_owned(),
                container_id: env.container_id.clone(),
                endpoint: env.ifname.clone(),
            },
            _ => WorkloadIds {
                node: node.to_owned(),
                orchestrator: ORCHESTRATOR_CNI,
                namespace: env
                    .args
                    .get(args::CNI_TEST_NAMESPACE)
                    .filter(|s| !s.is_empty())
                    .unwrap_or(DEFAULT_NAMESPACE)
                    .to_owned(),
                pod: String::new(),
                container_id: env.container_id.clone(),
                endpoint: env.ifname.clone(),
            },
        }
    }

    /// True for Kubernetes pods.
    pub fn is_k8s(&self) -> bool {
        self.orchestrator == ORCHESTRATOR_K8S
    }

    /// The workload segment: the pod (k8s) or the container ID (cni).
    pub fn workload(&self) -> &str {
        if self.is_k8s() {
            &self.pod
        } else {
            &self.container_id
        }
    }

    /// The WorkloadEndpoint name (`<node>-k8s-<pod>-<ifname>` / `<node>-cni-<id>-<ifname>`,
    /// `-` doubled inside segments).
    pub fn wep_name(&self) -> Result<String> {
        workload_endpoint_name(
            &self.node,
            self.orchestrator,
            self.workload(),
            &self.endpoint,
        )
        .map_err(|e| Error::InvalidEnv {
            var: "CNI_ARGS/CNI_CONTAINERID/CNI_IFNAME".into(),
            reason: format!("cannot name the WorkloadEndpoint: {e}"),
        })
    }

    /// The host-side veth name.
    pub fn host_veth(&self) -> String {
        self.host_veth_with_prefix("")
    }

    /// The host-side veth name with Felix's interface prefix (`FELIX_INTERFACEPREFIX`: the
    /// first of a comma-separated list; empty: `cali`). Calico applies it to pods only.
    pub fn host_veth_with_prefix(&self, prefix: &str) -> String {
        if self.is_k8s() {
            let prefix = if prefix.is_empty() {
                HOST_VETH_PREFIX
            } else {
                prefix
            };
            interface_name(prefix, &self.namespace, &self.pod)
        } else {
            host_veth_name_cni(&self.container_id)
        }
    }
}

/// `cali` + the first 11 hex digits of SHA-1(`<namespace>.<pod>`).
pub fn host_veth_name_k8s(namespace: &str, pod: &str) -> String {
    interface_name(HOST_VETH_PREFIX, namespace, pod)
}

/// `cali` + the first 11 characters of the container ID.
pub fn host_veth_name_cni(container_id: &str) -> String {
    let n = container_id
        .char_indices()
        .nth(11)
        .map_or(container_id.len(), |(i, _)| i);
    format!("{HOST_VETH_PREFIX}{}", &container_id[..n])
}

/// The IPAM handle: `<network name>.<container ID>`.
pub fn ipam_handle(network: &str, container_id: &str) -> String {
    format!("{network}.{container_id}")
}

/// The legacy (pre-v3) handle: `<namespace>.<pod>`.
pub fn legacy_ipam_handle(namespace: &str, pod: &str) -> String {
    format!("{namespace}.{pod}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skel::{CniArgs, Command};

    fn env(args: &str, id: &str) -> Env {
        Env {
            command: Command::Add,
            container_id: id.into(),
            netns: "/run/netns/x".into(),
            ifname: "eth0".into(),
            args_raw: args.into(),
            args: CniArgs::parse(args, None).unwrap_or_default(),
            path: vec![],
        }
    }

    #[test]
    fn veth_hash_vector() {
        assert_eq!(host_veth_name_k8s("default", "nginx"), "calic440f455693");
        assert_eq!(host_veth_name_cni("0123456789abcdef"), "cali0123456789a");
        assert_eq!(host_veth_name_cni("abc"), "caliabc");
    }

    #[test]
    fn k8s_and_cni_identities() {
        let k = WorkloadIds::new(
            "node-1",
            &env("K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-7d9f", "c1"),
        );
        assert!(k.is_k8s());
        assert_eq!(
            k.wep_name().ok().as_deref(),
            Some("node--1-k8s-web--7d9f-eth0")
        );
        assert_eq!(k.host_veth(), host_veth_name_k8s("default", "web-7d9f"));
        let eni = WorkloadIds::new(
            "n",
            &env("K8S_POD_NAMESPACE=namespace;K8S_POD_NAME=podname", "c1"),
        );
        assert_eq!(eni.host_veth_with_prefix("eni,veth,foo"), "eni82111e10a96");
        let c = WorkloadIds::new("node-1", &env("K8S_POD_NAME=only", "abc-def"));
        assert_eq!(c.orchestrator, "cni");
        assert_eq!(c.namespace, "default");
        assert_eq!(
            c.wep_name().ok().as_deref(),
            Some("node--1-cni-abc--def-eth0")
        );
        assert_eq!(c.host_veth(), "caliabc-def");
        let bad = WorkloadIds::new("node-", &env("", "c1"));
        assert_eq!(bad.wep_name().map_err(|e| e.code()), Err(4));
        assert_eq!(ipam_handle("net", "c1"), "net.c1");
    }
}
