use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A CIDR (`10.0.0.0/24`, `fd00::/64`) as an [`IpNet`], with the JSON schema Calico's CRDs
/// use (`type: string, format: cidr`) rather than `ipnet`'s untyped `oneOf`.
///
/// Decoding accepts a bare address as a host network (`/32` or `/128`), like Calico's
/// `cidr` validator; host bits are kept as written (see [`Cidr::is_strict`]).
///
/// ```
/// use calico_model::scalar::Cidr;
/// let c: Cidr = "10.0.0.1".parse().unwrap();
/// assert_eq!(c.to_string(), "10.0.0.1/32");
/// assert!(c.is_strict());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr(pub IpNet);

/// Why a string is not a CIDR.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not an address or `address/prefix`.
    #[error("invalid CIDR \"{0}\"")]
    Invalid(String),
    /// Host bits set where a network address is required.
    #[error("CIDR \"{0}\" has host bits set (did you mean \"{1}\"?)")]
    NotStrict(String, String),
}

/// Parses a CIDR or a bare IP address (a bare address becomes `/32` or `/128`).
pub fn parse_cidr_or_ip(s: &str) -> Result<IpNet, CidrError> {
    if let Ok(n) = IpNet::from_str(s) {
        return Ok(n);
    }
    IpAddr::from_str(s)
        .map(IpNet::from)
        .map_err(|_| CidrError::Invalid(s.to_owned()))
}

impl Cidr {
    /// True if the host bits are zero (`10.0.0.0/24`, not `10.0.0.1/24`).
    pub fn is_strict(&self) -> bool {
        self.0.trunc() == self.0
    }
    /// True for IPv4.
    pub fn is_ipv4(&self) -> bool {
        matches!(self.0, IpNet::V4(_))
    }
    /// Parses requiring a strictly masked network (bare addresses allowed).
    pub fn parse_strict(s: &str) -> Result<Cidr, CidrError> {
        let n = parse_cidr_or_ip(s)?;
        if n.trunc() != n {
            return Err(CidrError::NotStrict(s.to_owned(), n.trunc().to_string()));
        }
        Ok(Cidr(n))
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_cidr_or_ip(s).map(Cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<IpNet> for Cidr {
    fn from(n: IpNet) -> Self {
        Cidr(n)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let s = String::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}

impl JsonSchema for Cidr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Cidr".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "cidr"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            "fd00::1".parse::<Cidr>().unwrap().to_string(),
            "fd00::1/128"
        );
        assert!("10.0.0.1/8".parse::<Cidr>().is_ok());
        assert!(!"10.0.0.1/8".parse::<Cidr>().unwrap().is_strict());
        assert!(Cidr::parse_strict("10.0.0.1/8").is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
    }
}
