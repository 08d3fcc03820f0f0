//! `calico-lab simulate`: every case goes through the real calculation graph, and every
//! probe is answered by the reference evaluator over the graph's output.

use std::collections::BTreeMap;
use std::net::IpAddr;

use calico_model::k8s::{
    K8sNetworkPolicy, PodContainerPort, PodInfo, namespace_to_profile, network_policy_to_calico,
    pod_to_workload_endpoint, service_account_to_profile,
};
use calico_model::resources::{HostEndpointSpec, TierDefaultAction, TierSpec};
use calico_model::{HostEndpoint, ObjectMeta, Resource, Tier};
use calico_policy::cluster::{ClusterError, node_state};
use calico_policy::eval::{DataplaneState, Evaluator, Packet, Verdict};
use calico_policy::ir::proto;

use serde_json::json;

use crate::report::{Outcome, Reporter};
use crate::scenario::{Case, Model, Probe, Scenario};

/// The node every simulated endpoint is on.
pub const NODE: &str = "lab";

/// Why a case could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// A resource in the case does not decode or convert.
    #[error("case {case}: {what}")]
    Resource {
        /// Case id.
        case: String,
        /// What failed.
        what: String,
    },
    /// A probe names an unknown endpoint or protocol.
    #[error("case {case}: probe {from} -> {to}: {what}")]
    Probe {
        /// Case id.
        case: String,
        /// Probe source.
        from: String,
        /// Probe destination.
        to: String,
        /// What is wrong.
        what: String,
    },
}

/// The answer to one probe.
#[derive(Debug)]
pub struct ProbeResult {
    /// What the evaluator says.
    pub verdict: Verdict,
}

/// A simulated case: its dataplane state and evaluator inputs.
pub struct SimulatedCase {
    /// The dataplane state built from the graph's output.
    pub state: DataplaneState,
    /// Resources rejected by the graph, with why.
    pub rejected: Vec<String>,
    addresses: BTreeMap<String, Vec<IpAddr>>,
}

fn err(case: &Case, what: impl Into<String>) -> CaseError {
    CaseError::Resource {
        case: case.id.clone(),
        what: what.into(),
    }
}

/// The resources of a case and the addresses of its named endpoints (`<ns>/<pod>`, `hep:<name>`).
pub type CaseInputs = (Vec<Resource>, BTreeMap<String, Vec<IpAddr>>);

/// Builds every resource of a case: profiles for namespaces and service accounts, workload
/// endpoints for pods, host endpoints, converted Kubernetes policies, the case's Calico
/// resources, and the built-in tiers Calico always creates.
pub fn case_resources(model: &Model, case: &Case) -> Result<CaseInputs, CaseError> {
    let overrides = case.model_overrides.as_ref();
    let mut out: Vec<Resource> = Vec::new();
    let mut addresses = BTreeMap::new();
    for (ns, n) in &model.namespaces {
        let labels = overrides
            .and_then(|o| o.namespace_labels.get(ns))
            .unwrap_or(&n.labels);
        out.push(namespace_to_profile(ns, labels).into());
    }
    for (sa, s) in &model.service_accounts {
        for ns in &s.exists_in_namespaces {
            out.push(service_account_to_profile(ns, sa, &s.labels).into());
        }
    }
    for (key, ns, pod, ips) in model.pod_instances() {
        let Some(p) = model.pods.get(pod) else {
            continue;
        };
        let labels = overrides
            .and_then(|o| o.pod_labels.get(&key))
            .unwrap_or(&p.labels)
            .clone();
        let info = PodInfo {
            namespace: ns.to_string(),
            name: pod.to_string(),
            labels,
            node_name: NODE.into(),
            service_account_name: p.service_account_name.clone(),
            phase: "Running".into(),
            pod_ip: ips.first().cloned().unwrap_or_default(),
            pod_ips: ips.clone(),
            ports: p
                .container_ports
                .iter()
                .map(|c| PodContainerPort {
                    name: c.name.clone(),
                    container_port: c.container_port,
                    protocol: c.protocol.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let wep =
            pod_to_workload_endpoint(&info).map_err(|e| err(case, format!("pod {key}: {e}")))?;
        let parsed: Vec<IpAddr> = ips.iter().filter_map(|s| s.parse().ok()).collect();
        addresses.insert(key, parsed);
        out.push(wep.into());
    }
    for (name, h) in &model.host_endpoints {
        let hep = HostEndpoint::new(
            ObjectMeta {
                labels: h.labels.clone(),
                ..ObjectMeta::named(name)
            },
            HostEndpointSpec {
                node: NODE.into(),
                interface_name: h.interface_name.clone(),
                expected_ips: h.expected_ips.clone(),
                profiles: h.profiles.clone(),
                ports: h
                    .ports
                    .iter()
                    .map(|p| calico_model::resources::EndpointPort {
                        name: p.name.clone(),
                        protocol: if p.protocol.is_empty() {
                            calico_model::scalar::Protocol::tcp()
                        } else {
                            calico_model::scalar::Protocol::Name(p.protocol.to_ascii_uppercase())
                        },
                        port: p.port,
                    })
                    .collect(),
            },
        );
        addresses.insert(
            format!("hep:{name}"),
            h.expected_ips
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect(),
        );
        out.push(hep.into());
    }
    for (i, v) in case.kubernetes_network_policies.iter().enumerate() {
        let mut np: K8sNetworkPolicy = serde_json::from_value(v.clone())
            .map_err(|e| err(case, format!("kubernetes_network_policies[{i}]: {e}")))?;
        // The API server defaults these before Calico ever sees the policy.
        np.apply_kubernetes_defaults();
        let converted = network_policy_to_calico(&np)
            .map_err(|e| err(case, format!("kubernetes_network_policies[{i}]: {e}")))?;
        out.push(converted.into());
    }
    if !case.calico_resources.is_empty() {
        let text =
            serde_json::to_string(&case.calico_resources).map_err(|e| err(case, e.to_string()))?;
        let decoded = calico_model::decode_json(&text)
            .map_err(|e| err(case, format!("calico_resources: {e}")))?;
        out.extend(decoded);
    }
    if let Some(fc) = &case.felix_configuration {
        let spec = serde_json::from_value(fc.clone())
            .map_err(|e| err(case, format!("felix_configuration: {e}")))?;
        out.push(calico_model::FelixConfiguration::new(ObjectMeta::named("default"), spec).into());
    }
    for (name, order, action) in [
        ("default", 1_000_000.0, TierDefaultAction::Deny),
        ("kube-admin", 1_000.0, TierDefaultAction::Pass),
        ("kube-baseline", 10_000_000.0, TierDefaultAction::Pass),
    ] {
        let exists = out
            .iter()
            .any(|r| matches!(r, Resource::Tier(t) if t.metadata.name == name));
        if !exists {
            out.push(
                Tier::new(
                    ObjectMeta::named(name),
                    TierSpec {
                        order: Some(order),
                        default_action: Some(action),
                    },
                )
                .into(),
            );
        }
    }
    Ok((out, addresses))
}

/// Runs a case through the calculation graph and builds the dataplane state from its output.
pub fn simulate_case(model: &Model, case: &Case) -> Result<SimulatedCase, CaseError> {
    let (resources, addresses) = case_resources(model, case)?;
    let (state, rejected) = node_state(NODE, &resources).map_err(|e| match e {
        ClusterError::Contract { source, .. } => {
            err(case, format!("update stream contract: {source}"))
        }
        other => err(case, other.to_string()),
    })?;
    let rejected = rejected
        .into_iter()
        .map(|(k, why)| format!("{k}: {why}"))
        .collect();
    Ok(SimulatedCase {
        state,
        rejected,
        addresses,
    })
}

impl SimulatedCase {
    /// Answers one probe.
    pub fn probe(&self, case: &Case, probe: &Probe) -> Result<ProbeResult, CaseError> {
        let perr = |what: String| CaseError::Probe {
            case: case.id.clone(),
            from: probe.from.clone(),
            to: probe.to.clone(),
            what,
        };
        let want_v6 = match probe.family {
            Some(f) => f == 6,
            None => probe.protocol.eq_ignore_ascii_case("ICMPv6"),
        };
        let pick = |who: &str| -> Result<IpAddr, CaseError> {
            if let Ok(ip) = who.parse::<IpAddr>() {
                return Ok(ip);
            }
            let addrs = self
                .addresses
                .get(who)
                .ok_or_else(|| perr(format!("unknown endpoint {who:?}")))?;
            addrs
                .iter()
                .find(|a| a.is_ipv6() == want_v6)
                .copied()
                .ok_or_else(|| {
                    perr(format!(
                        "{who:?} has no IPv{} address",
                        if want_v6 { 6 } else { 4 }
                    ))
                })
        };
        let src = pick(&probe.from)?;
        let dst = pick(&probe.to)?;
        let packet = match probe.protocol.to_ascii_uppercase().as_str() {
            p @ ("TCP" | "UDP" | "SCTP") => {
                let number = match p {
                    "TCP" => proto::TCP,
                    "UDP" => proto::UDP,
                    _ => proto::SCTP,
                };
                let port = probe.port.ok_or_else(|| perr("missing port".into()))?;
                Packet::ported(number, src, 40000, dst, port)
            }
            "ICMP" | "ICMPV6" => Packet::icmp(
                src,
                dst,
                probe.icmp_type.unwrap_or(8),
                probe.icmp_code.unwrap_or(0),
            ),
            other => return Err(perr(format!("unknown protocol {other:?}"))),
        };
        let verdict = Evaluator::new(&self.state).evaluate(&packet);
        Ok(ProbeResult { verdict })
    }
}

/// What decided a verdict: as JSON (`egress`, `ingress`) and as text lines.
pub fn trace(v: &Verdict) -> (serde_json::Value, Vec<String>) {
    let lines = [&v.egress, &v.ingress]
        .into_iter()
        .flatten()
        .map(|d| format!("{:?} {}: {}", d.direction, d.endpoint, d.decision))
        .collect();
    (json!({"egress": v.egress, "ingress": v.ingress}), lines)
}

/// Runs `cases` (all, or only `only`), reporting each probe result or case error.
pub fn run(scenario: &Scenario, only: Option<&str>, out: &mut Reporter) {
    for case in scenario
        .cases
        .iter()
        .filter(|c| only.is_none_or(|id| c.id == id))
    {
        out.case_started();
        let sim = match simulate_case(&scenario.model, case) {
            Ok(sim) if !sim.rejected.is_empty() => {
                // A resource of the case failed validation: report it rather than quietly
                // simulating without it.
                let e = CaseError::Resource {
                    case: case.id.clone(),
                    what: format!("rejected by validation: {}", sim.rejected.join("; ")),
                };
                out.error(case, &e);
                continue;
            }
            Ok(sim) => sim,
            Err(e) => {
                out.error(case, &e);
                continue;
            }
        };
        for probe in &case.probes {
            match sim.probe(case, probe) {
                Ok(r) => out.probe(
                    case,
                    &Outcome {
                        probe,
                        allowed: r.verdict.allowed,
                        trace: Some(trace(&r.verdict)),
                    },
                ),
                Err(e) => out.error(case, &e),
            }
        }
        out.case_done(case);
    }
}
