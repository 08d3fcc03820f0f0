use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{NumOrStr, NumOrStrVisitor};

/// A port match: a single number, an inclusive `"min:max"` range, or a named port.
///
/// Decodes from a JSON number (`80`), a numeric string (`"80"`), a range string
/// (`"8000:8080"`) or a name (`"http"`); encodes a single port as a number, a range as
/// `"min:max"` and a name as a string, exactly as Calico does. A range whose bounds are equal
/// is normalised to a single port.
///
/// ```
/// use calico_model::scalar::Port;
/// let p: Port = "8000:8080".parse().unwrap();
/// assert_eq!(p, Port::Range(8000, 8080));
/// assert!(p.contains(8042));
/// assert_eq!(p.to_string(), "8000:8080");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Port {
    /// A single port number.
    Number(u16),
    /// An inclusive range `min..=max` with `min < max`.
    Range(u16, u16),
    /// A named port, resolved against the endpoint's declared ports.
    Named(String),
}

/// Why a port string could not be decoded (Calico's decode-time checks).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// All digits but not a valid 16-bit number.
    #[error("invalid port format ({0})")]
    Format(String),
    /// A range bound is not a valid 16-bit number.
    #[error("invalid {which} port number in range ({input})")]
    RangeBound {
        /// `minimum` or `maximum`.
        which: &'static str,
        /// The input text.
        input: String,
    },
    /// `min > max`.
    #[error("minimum port number ({0}) is greater than maximum port number ({1}) in port range")]
    Reversed(u16, u16),
    /// Not a number, a range, or a valid name.
    #[error("invalid name for named port ({0})")]
    Name(String),
}

impl Port {
    /// Smallest port of a numeric port or range; `None` for a named port.
    pub fn min(&self) -> Option<u16> {
        match self {
            Port::Number(p) => Some(*p),
            Port::Range(a, _) => Some(*a),
            Port::Named(_) => None,
        }
    }

    /// Largest port of a numeric port or range; `None` for a named port.
    pub fn max(&self) -> Option<u16> {
        match self {
            Port::Number(p) => Some(*p),
            Port::Range(_, b) => Some(*b),
            Port::Named(_) => None,
        }
    }

    /// The name of a named port.
    pub fn name(&self) -> Option<&str> {
        match self {
            Port::Named(n) => Some(n),
            _ => None,
        }
    }

    /// True for a named port.
    pub fn is_named(&self) -> bool {
        matches!(self, Port::Named(_))
    }

    /// True if `port` is this number or inside this range (never for named ports).
    pub fn contains(&self, port: u16) -> bool {
        match self {
            Port::Number(p) => *p == port,
            Port::Range(a, b) => (*a..=*b).contains(&port),
            Port::Named(_) => false,
        }
    }

    /// Builds an inclusive range, normalising `min == max` to a single port.
    pub fn range(min: u16, max: u16) -> Result<Port, PortError> {
        match min.cmp(&max) {
            std::cmp::Ordering::Less => Ok(Port::Range(min, max)),
            std::cmp::Ordering::Equal => Ok(Port::Number(min)),
            std::cmp::Ordering::Greater => Err(PortError::Reversed(min, max)),
        }
    }
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

impl FromStr for Port {
    type Err = PortError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if all_digits(s) {
            return s
                .parse::<u16>()
                .map(Port::Number)
                .map_err(|_| PortError::Format(s.to_owned()));
        }
        if let Some((a, b)) = s.split_once(':')
            && all_digits(a)
            && all_digits(b)
        {
            let min = a.parse::<u16>().map_err(|_| PortError::RangeBound {
                which: "minimum",
                input: s.to_owned(),
            })?;
            let max = b.parse::<u16>().map_err(|_| PortError::RangeBound {
                which: "maximum",
                input: s.to_owned(),
            })?;
            return Port::range(min, max);
        }
        if (1..=128).contains(&s.len()) && s.bytes().all(is_name_char) {
            return Ok(Port::Named(s.to_owned()));
        }
        Err(PortError::Name(s.to_owned()))
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Port::Number(p) => write!(f, "{p}"),
            Port::Range(a, b) => write!(f, "{a}:{b}"),
            Port::Named(n) => f.write_str(n),
        }
    }
}

impl Serialize for Port {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Port::Number(p) => s.serialize_u16(*p),
            other => s.collect_str(other),
        }
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match d.deserialize_any(NumOrStrVisitor(
            "a port number, a \"min:max\" range or a port name",
        ))? {
            NumOrStr::Num(n) => u16::try_from(n).map(Port::Number).map_err(|_| {
                D::Error::custom(format!("invalid port number {n}: must be at most 65535"))
            }),
            NumOrStr::Neg(n) => Err(D::Error::custom(format!(
                "invalid port number {n}: must not be negative"
            ))),
            NumOrStr::Str(s) => s.parse().map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn de(j: &str) -> Result<Port, serde_json::Error> {
        serde_json::from_str(j)
    }

    #[test]
    fn decodes_like_calico() {
        assert_eq!(de("0").unwrap(), Port::Number(0));
        assert_eq!(de("65535").unwrap(), Port::Number(65535));
        assert_eq!(de("\"80\"").unwrap(), Port::Number(80));
        assert_eq!(de("\"0:65535\"").unwrap(), Port::Range(0, 65535));
        assert_eq!(de("\"1:10\"").unwrap(), Port::Range(1, 10));
        assert_eq!(de("\"7:7\"").unwrap(), Port::Number(7));
        assert_eq!(de("\"foo-bar\"").unwrap(), Port::Named("foo-bar".into()));
        for bad in [
            "-1",
            "65536",
            "\"0:65536\"",
            "\"-1:65535\"",
            "\"10:1\"",
            "\"1:2:3\"",
            "\"*\"",
            "\"\"",
            "1.5",
            "true",
        ] {
            assert!(de(bad).is_err(), "{bad} should fail");
        }
        let e = de("\"10:1\"").unwrap_err().to_string();
        assert!(
            e.contains("minimum port number (10) is greater than maximum port number (1)"),
            "{e}"
        );
    }

    #[test]
    fn encodes_like_calico() {
        let j = |p: Port| serde_json::to_string(&p).unwrap();
        assert_eq!(j(Port::Number(0)), "0");
        assert_eq!(j(Port::Number(65535)), "65535");
        assert_eq!(j(Port::Range(10, 20)), "\"10:20\"");
        assert_eq!(j(Port::Named("foobar".into())), "\"foobar\"");
    }

    #[test]
    fn name_length_limit() {
        assert!("a".repeat(128).parse::<Port>().is_ok());
        assert!("a".repeat(129).parse::<Port>().is_err());
    }
}
