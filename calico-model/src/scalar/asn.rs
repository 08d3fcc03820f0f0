use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{NumOrStr, NumOrStrVisitor};

/// A BGP AS number (32-bit). Decodes from a number, a numeric string or the dotted
/// `"high.low"` notation (each part 16 bits); encodes as a number.
///
/// ```
/// use calico_model::scalar::AsNumber;
/// assert_eq!("1.10".parse::<AsNumber>().unwrap(), AsNumber(65546));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AsNumber(pub u32);

impl FromStr for AsNumber {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid AS Number format ({s})");
        if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
            return s.parse::<u32>().map(AsNumber).map_err(|_| bad());
        }
        let (hi, lo) = s.split_once('.').ok_or_else(bad)?;
        let part = |p: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse::<u16>().map_err(|_| bad())
        };
        let (hi, lo) = (part(hi)?, part(lo)?);
        Ok(AsNumber((u32::from(hi) << 16) + u32::from(lo)))
    }
}

impl fmt::Display for AsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for AsNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for AsNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match d.deserialize_any(NumOrStrVisitor("an AS number"))? {
            NumOrStr::Num(n) => u32::try_from(n)
                .map(AsNumber)
                .map_err(|_| D::Error::custom(format!("invalid AS Number ({n}): out of range"))),
            NumOrStr::Neg(n) => Err(D::Error::custom(format!(
                "invalid AS Number ({n}): negative"
            ))),
            NumOrStr::Str(s) => s.parse().map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_calico() {
        let de = |j: &str| serde_json::from_str::<AsNumber>(j);
        assert_eq!(de("0").unwrap(), AsNumber(0));
        assert_eq!(de("4294967295").unwrap(), AsNumber(u32::MAX));
        assert_eq!(de("\"0\"").unwrap(), AsNumber(0));
        assert_eq!(de("\"1.10\"").unwrap(), AsNumber(65546));
        assert_eq!(de("\"00.01\"").unwrap(), AsNumber(1));
        assert_eq!(de("\"65535.65535\"").unwrap(), AsNumber(u32::MAX));
        for bad in [
            "\"1.1.1\"",
            "\"65536.65535\"",
            "\"65535.65536\"",
            "\"0.-1\"",
            "-1",
            "4294967296",
        ] {
            assert!(de(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&AsNumber(64512)).unwrap(), "64512");
    }
}
