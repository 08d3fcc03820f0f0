//! CIDR and address checks, with Calico's tag names (`net`, `cidr`, `ip`, …).

use ipnet::IpNet;
use std::net::IpAddr;

use super::{Path, Validator};
use crate::scalar::parse_cidr_or_ip;

/// Which of Calico's network validators to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetKind {
    /// `net`: CIDR or bare IP, strictly masked, either family.
    Net,
    /// `netv4`: as `Net`, IPv4 only.
    NetV4,
    /// `netv6`: as `Net`, IPv6 only.
    NetV6,
    /// `cidr`: CIDR or bare IP, host bits allowed, either family.
    Cidr,
    /// `cidrv4`.
    CidrV4,
    /// `cidrv6`.
    CidrV6,
    /// `ip`: a bare address.
    Ip,
    /// `ipv4`: a bare IPv4 address.
    IpV4,
    /// `ipv6`: a bare IPv6 address.
    IpV6,
    /// Strict CIDR notation (the rule parser): `a.b.c.d/n`, no bare address, host bits allowed.
    CidrNotation,
}

/// Checks `s` against `kind`; returns the parsed network when it is acceptable.
pub fn check_net(v: &mut Validator, path: &Path, s: &str, kind: NetKind) -> Option<IpNet> {
    let family = |n: &IpNet| match n {
        IpNet::V4(_) => 4,
        IpNet::V6(_) => 6,
    };
    match kind {
        NetKind::Ip | NetKind::IpV4 | NetKind::IpV6 => {
            let Ok(a) = s.parse::<IpAddr>() else {
                v.report(path, format!("invalid IP address {s:?}"));
                return None;
            };
            let ok = match kind {
                NetKind::IpV4 => a.is_ipv4(),
                NetKind::IpV6 => a.is_ipv6(),
                _ => true,
            };
            if !ok {
                let fam = if kind == NetKind::IpV4 {
                    "IPv4"
                } else {
                    "IPv6"
                };
                v.report(path, format!("{s:?} is not an {fam} address"));
                return None;
            }
            Some(IpNet::from(a))
        }
        NetKind::CidrNotation => match s.parse::<IpNet>() {
            Ok(n) => Some(n),
            Err(_) => {
                v.report(path, format!("invalid CIDR {s:?}"));
                None
            }
        },
        _ => {
            let Ok(n) = parse_cidr_or_ip(s) else {
                v.report(path, format!("invalid CIDR {s:?}"));
                return None;
            };
            let want = match kind {
                NetKind::NetV4 | NetKind::CidrV4 => Some(4),
                NetKind::NetV6 | NetKind::CidrV6 => Some(6),
                _ => None,
            };
            if let Some(w) = want
                && family(&n) != w
            {
                v.report(path, format!("{s:?} is not an IPv{w} network"));
                return None;
            }
            let strict = matches!(kind, NetKind::Net | NetKind::NetV4 | NetKind::NetV6);
            if strict && n.trunc() != n {
                v.report(
                    path,
                    format!(
                        "network {s:?} is not strictly masked (did you mean {}?)",
                        n.trunc()
                    ),
                );
                return None;
            }
            Some(n)
        }
    }
}
