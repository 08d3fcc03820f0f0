use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{NumOrStr, NumOrStrVisitor};

/// A DSCP value: a number 0–63 or a name (`DF`, `EF`, `AF11`…`AF43`, `CS0`…`CS6`,
/// case-insensitive). Encodes back as written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dscp {
    /// A numeric DSCP value.
    Number(u8),
    /// A named DSCP class, as written.
    Name(String),
}

/// Named DSCP classes and their values.
pub const DSCP_NAMES: [(&str, u8); 21] = [
    ("DF", 0),
    ("EF", 46),
    ("AF11", 10),
    ("AF12", 12),
    ("AF13", 14),
    ("AF21", 18),
    ("AF22", 20),
    ("AF23", 22),
    ("AF31", 26),
    ("AF32", 28),
    ("AF33", 30),
    ("AF41", 34),
    ("AF42", 36),
    ("AF43", 38),
    ("CS0", 0),
    ("CS1", 8),
    ("CS2", 16),
    ("CS3", 24),
    ("CS4", 32),
    ("CS5", 40),
    ("CS6", 48),
];

impl Dscp {
    /// The numeric value, if valid (numbers 0–63, names case-insensitively, `CS6` = 48).
    pub fn value(&self) -> Option<u8> {
        match self {
            Dscp::Number(n) if *n <= 63 => Some(*n),
            Dscp::Number(_) => None,
            Dscp::Name(s) => {
                let t = s.trim().to_ascii_uppercase();
                DSCP_NAMES.iter().find(|(n, _)| *n == t).map(|(_, v)| *v)
            }
        }
    }
}

impl fmt::Display for Dscp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dscp::Number(n) => write!(f, "{n}"),
            Dscp::Name(s) => f.write_str(s),
        }
    }
}

impl Serialize for Dscp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Dscp::Number(n) => s.serialize_u8(*n),
            Dscp::Name(n) => s.serialize_str(n),
        }
    }
}

impl<'de> Deserialize<'de> for Dscp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match d.deserialize_any(NumOrStrVisitor("a DSCP number or name"))? {
            NumOrStr::Num(n) => u8::try_from(n)
                .map(Dscp::Number)
                .map_err(|_| D::Error::custom(format!("invalid DSCP value {n}"))),
            NumOrStr::Neg(n) => Err(D::Error::custom(format!("invalid DSCP value {n}"))),
            NumOrStr::Str(s) => Ok(match s.parse::<u8>() {
                Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => Dscp::Number(n),
                _ => Dscp::Name(s.into_owned()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(Dscp::Name("AF33".into()).value(), Some(30));
        assert_eq!(Dscp::Name("cs5".into()).value(), Some(40));
        assert_eq!(Dscp::Name("CS6".into()).value(), Some(48));
        assert_eq!(Dscp::Name("CS9".into()).value(), None);
        assert_eq!(Dscp::Name(" ".into()).value(), None);
        assert_eq!(Dscp::Number(63).value(), Some(63));
        assert_eq!(Dscp::Number(64).value(), None);
        assert_eq!(
            serde_json::from_str::<Dscp>("\"40\"").unwrap(),
            Dscp::Number(40)
        );
    }
}
