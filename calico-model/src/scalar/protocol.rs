use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{NumOrStr, NumOrStrVisitor};

/// An IP protocol: a number or one of Calico's case-sensitive names.
///
/// Decoding follows Calico: a JSON number is numeric; a string that parses as an unsigned
/// 8-bit number (`"6"`) is numeric too; any other string is kept as a name and checked by
/// validation, which accepts exactly `TCP`, `UDP`, `ICMP`, `ICMPv6`, `SCTP`, `UDPLite` and the
/// numbers 1–255.
///
/// ```
/// use calico_model::scalar::Protocol;
/// let tcp: Protocol = serde_json::from_str("\"TCP\"").unwrap();
/// assert_eq!(tcp.number(), Some(6));
/// assert!(tcp.supports_ports());
/// let six: Protocol = serde_json::from_str("\"6\"").unwrap();
/// assert_eq!(six, Protocol::Number(6));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// A protocol number.
    Number(u8),
    /// A protocol name, as written.
    Name(String),
}

/// The protocol names Calico's v3 API accepts, with their numbers.
pub const PROTOCOL_NAMES: [(&str, u8); 6] = [
    ("TCP", 6),
    ("UDP", 17),
    ("ICMP", 1),
    ("ICMPv6", 58),
    ("SCTP", 132),
    ("UDPLite", 136),
];

impl Default for Protocol {
    /// TCP, the protocol Calico assumes where one is needed but not given (Kubernetes ports).
    fn default() -> Self {
        Protocol::tcp()
    }
}

impl Protocol {
    /// TCP.
    pub fn tcp() -> Self {
        Protocol::Name("TCP".into())
    }
    /// UDP.
    pub fn udp() -> Self {
        Protocol::Name("UDP".into())
    }
    /// SCTP.
    pub fn sctp() -> Self {
        Protocol::Name("SCTP".into())
    }
    /// ICMP.
    pub fn icmp() -> Self {
        Protocol::Name("ICMP".into())
    }
    /// ICMPv6.
    pub fn icmpv6() -> Self {
        Protocol::Name("ICMPv6".into())
    }

    /// The protocol number, if this is a number or a known name (names are case-sensitive;
    /// the lower-case spellings Felix uses internally are also understood).
    pub fn number(&self) -> Option<u8> {
        match self {
            Protocol::Number(n) => Some(*n),
            Protocol::Name(s) => PROTOCOL_NAMES
                .iter()
                .find(|(n, _)| *n == s.as_str() || n.to_ascii_lowercase() == *s)
                .map(|(_, v)| *v),
        }
    }

    /// True if this is a valid v3 protocol: a number 1–255 or an exact known name.
    pub fn is_valid(&self) -> bool {
        match self {
            Protocol::Number(n) => *n >= 1,
            Protocol::Name(s) => PROTOCOL_NAMES.iter().any(|(n, _)| *n == s.as_str()),
        }
    }

    /// True for TCP, UDP and SCTP (by name or number) — the protocols that have ports.
    pub fn supports_ports(&self) -> bool {
        match self {
            Protocol::Number(n) => matches!(n, 6 | 17 | 132),
            Protocol::Name(s) => {
                matches!(s.as_str(), "TCP" | "UDP" | "SCTP" | "tcp" | "udp" | "sctp")
            }
        }
    }

    /// True for ICMP (1) — by name or number.
    pub fn is_icmp_v4(&self) -> bool {
        match self {
            Protocol::Number(n) => *n == 1,
            Protocol::Name(s) => s == "ICMP",
        }
    }

    /// True for ICMPv6 (58) — by name or number.
    pub fn is_icmp_v6(&self) -> bool {
        match self {
            Protocol::Number(n) => *n == 58,
            Protocol::Name(s) => s == "ICMPv6",
        }
    }

    /// Felix's lower-case form (`tcp`, `icmpv6`, or the number).
    pub fn to_v1(&self) -> String {
        match self {
            Protocol::Number(n) => n.to_string(),
            Protocol::Name(s) => s.to_ascii_lowercase(),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Number(n) => write!(f, "{n}"),
            Protocol::Name(s) => f.write_str(s),
        }
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Protocol::Number(n) => s.serialize_u8(*n),
            Protocol::Name(n) => s.serialize_str(n),
        }
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match d.deserialize_any(NumOrStrVisitor("a protocol name or number"))? {
            NumOrStr::Num(n) => u8::try_from(n).map(Protocol::Number).map_err(|_| {
                D::Error::custom(format!("invalid protocol number {n}: must be at most 255"))
            }),
            NumOrStr::Neg(n) => Err(D::Error::custom(format!(
                "invalid protocol number {n}: must not be negative"
            ))),
            NumOrStr::Str(s) => Ok(match s.parse::<u8>() {
                Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => Protocol::Number(n),
                _ => Protocol::Name(s.into_owned()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn de(j: &str) -> Result<Protocol, serde_json::Error> {
        serde_json::from_str(j)
    }

    #[test]
    fn decodes_like_calico() {
        assert_eq!(de("0").unwrap(), Protocol::Number(0));
        assert_eq!(de("255").unwrap(), Protocol::Number(255));
        assert_eq!(de("\"TCP\"").unwrap(), Protocol::tcp());
        assert_eq!(de("\"255\"").unwrap(), Protocol::Number(255));
        assert_eq!(de("\"256\"").unwrap(), Protocol::Name("256".into()));
        assert!(de("256").is_err());
        assert!(de("-1").is_err());
    }

    #[test]
    fn validity_is_case_sensitive() {
        assert!(Protocol::tcp().is_valid());
        assert!(!Protocol::Name("tcp".into()).is_valid());
        assert!(!Protocol::Number(0).is_valid());
        assert!(Protocol::Number(255).is_valid());
        assert!(Protocol::Name("UDPLite".into()).is_valid());
        assert!(!Protocol::Name("256".into()).is_valid());
    }

    #[test]
    fn ports_support() {
        assert!(Protocol::Number(6).supports_ports());
        assert!(Protocol::Number(17).supports_ports());
        assert!(Protocol::Number(132).supports_ports());
        assert!(Protocol::udp().supports_ports());
        assert!(!Protocol::Name("foo".into()).supports_ports());
        assert!(!Protocol::Number(2).supports_ports());
        assert!(!Protocol::icmp().supports_ports());
    }

    #[test]
    fn encodes() {
        assert_eq!(serde_json::to_string(&Protocol::Number(0)).unwrap(), "0");
        assert_eq!(serde_json::to_string(&Protocol::udp()).unwrap(), "\"UDP\"");
    }
}
