//! CNI results: interfaces, IPs, routes and DNS, read from any supported version and
//! written in the version a request asked for.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::version;

/// A network interface of a result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// MAC address (empty: unknown).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// MTU (CNI 1.0.0 and later carry it; earlier readers ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The netns path for container interfaces; empty for host interfaces.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
    /// vhost-user socket path (1.1.0).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub socket_path: String,
    /// PCI ID (1.1.0).
    #[serde(rename = "pciID", default, skip_serializing_if = "String::is_empty")]
    pub pci_id: String,
}

/// An address of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// The address with its prefix length.
    pub address: IpNet,
    /// The gateway, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces` (absent in IPAM results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// A route of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination.
    pub dst: IpNet,
    /// Next hop (absent: the default gateway / on-link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// Route MTU (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// TCP advertised MSS (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    /// Route priority (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Routing table (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// Route scope (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u32>,
}

impl Route {
    /// A route to `dst` with no other attributes.
    pub fn to(dst: IpNet) -> Self {
        Route {
            dst,
            gw: None,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        }
    }
}

/// DNS settings of a result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// Local domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// A CNI success result (ADD's output, `prevResult`, an IPAM delegate's output).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniResult {
    /// The version the result was written in.
    #[serde(default)]
    pub cni_version: String,
    /// Interfaces.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// Addresses.
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    /// Routes.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// DNS.
    #[serde(default)]
    pub dns: Dns,
}

impl CniResult {
    /// Parses a result of any supported version (`ips[].version` of 0.3.x/0.4.0 is
    /// accepted and ignored).
    pub fn from_json(what: &str, value: &serde_json::Value) -> Result<Self> {
        serde_json::from_value(value.clone()).map_err(|e| Error::Decode {
            what: what.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The result as JSON for CNI version `cni_version`: 0.3.x and 0.4.0 carry
    /// `ips[].version` ("4"/"6"); before 1.1.0, the 1.1.0 route and interface fields are
    /// left out; before 1.0.0 so is the interface `mtu`.
    pub fn to_json(&self, cni_version: &str) -> serde_json::Value {
        let mut out = self.clone();
        out.cni_version = cni_version.to_owned();
        let v11 = version::at_least(cni_version, (1, 1, 0));
        let v10 = version::at_least(cni_version, (1, 0, 0));
        if !v11 {
            for r in &mut out.routes {
                (r.mtu, r.advmss, r.priority, r.table, r.scope) = (None, None, None, None, None);
            }
            for i in &mut out.interfaces {
                i.socket_path.clear();
                i.pci_id.clear();
            }
        }
        if !v10 {
            for i in &mut out.interfaces {
                i.mtu = None;
            }
        }
        let mut value = serde_json::to_value(&out).unwrap_or(serde_json::Value::Null);
        if !v10 && let Some(ips) = value.get_mut("ips").and_then(|v| v.as_array_mut()) {
            for (ip, cfg) in ips.iter_mut().zip(&out.ips) {
                if let Some(obj) = ip.as_object_mut() {
                    let family = if cfg.address.addr().is_ipv4() {
                        "4"
                    } else {
                        "6"
                    };
                    obj.insert("version".into(), family.into());
                }
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CniResult {
        CniResult {
            cni_version: "1.0.0".into(),
            interfaces: vec![
                Interface {
                    name: "calic440f455693".into(),
                    ..Default::default()
                },
                Interface {
                    name: "eth0".into(),
                    mac: "6e:1a:03:4b:22:9c".into(),
                    mtu: Some(1440),
                    sandbox: "/var/run/netns/x".into(),
                    ..Default::default()
                },
            ],
            ips: vec![IpConfig {
                address: "10.244.1.5/32".parse().unwrap_or_else(|_| unreachable!()),
                gateway: None,
                interface: Some(1),
            }],
            routes: vec![Route {
                priority: Some(5),
                ..Route::to("10.244.1.5/26".parse().unwrap_or_else(|_| unreachable!()))
            }],
            dns: Dns::default(),
        }
    }

    #[test]
    fn serialises_per_version() {
        let r = sample();
        let v1 = r.to_json("1.0.0");
        assert_eq!(
            v1,
            serde_json::json!({"cniVersion":"1.0.0",
             "interfaces":[{"name":"calic440f455693"},{"name":"eth0","mac":"6e:1a:03:4b:22:9c","mtu":1440,"sandbox":"/var/run/netns/x"}],
             "ips":[{"address":"10.244.1.5/32","interface":1}],
             "routes":[{"dst":"10.244.1.5/26"}],"dns":{}})
        );
        let v11 = r.to_json("1.1.0");
        assert_eq!(v11["routes"][0]["priority"], 5);
        let v04 = r.to_json("0.4.0");
        assert_eq!(v04["ips"][0]["version"], "4");
        assert!(v04["interfaces"][1].get("mtu").is_none());
        assert_eq!(v04["cniVersion"], "0.4.0");
    }

    #[test]
    fn parses_old_and_new() {
        let old = serde_json::json!({"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.1.0.2/24","gateway":"10.1.0.1"}]});
        let r = CniResult::from_json("prevResult", &old).unwrap_or_default();
        assert_eq!(r.ips.len(), 1);
        assert_eq!(
            r.ips[0].gateway,
            Some("10.1.0.1".parse().unwrap_or_else(|_| unreachable!()))
        );
        let back = CniResult::from_json("x", &sample().to_json("1.1.0")).unwrap_or_default();
        let mut want = sample();
        want.cni_version = "1.1.0".into();
        assert_eq!(back, want);
        let bad = serde_json::json!({"ips":[{"address":"nope"}]});
        assert_eq!(
            CniResult::from_json("x", &bad).map_err(|e| e.code()),
            Err(6)
        );
    }
}
