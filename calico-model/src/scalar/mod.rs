//! Scalar helper types shared by many resources: ports, protocols, ICMP fields, AS numbers,
//! DSCP values, Go-style durations and CIDRs.
//!
//! Each type decodes from the same JSON/YAML shapes Calico accepts (Calico's
//! `numorstring` package) and encodes back the way Calico does.

mod asn;
mod cidr;
mod dscp;
mod duration;
mod port;
mod protocol;

pub use asn::AsNumber;
pub use cidr::{Cidr, CidrError, parse_cidr_or_ip};
pub use dscp::Dscp;
pub use duration::{Duration, DurationError};
pub use port::{Port, PortError};
pub use protocol::Protocol;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;

/// JSON schema shared by the int-or-string scalars (`Port`, `Protocol`, `Dscp`, `AsNumber`):
/// `x-kubernetes-int-or-string`, as Calico's CRDs declare them.
pub(crate) fn int_or_string_schema() -> Schema {
    json_schema!({
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": true
    })
}

macro_rules! int_or_string_json_schema {
    ($t:ty, $name:literal) => {
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                int_or_string_schema()
            }
        }
    };
}

int_or_string_json_schema!(Port, "Port");
int_or_string_json_schema!(Protocol, "Protocol");
int_or_string_json_schema!(Dscp, "DSCP");
int_or_string_json_schema!(AsNumber, "ASNumber");

/// Visitor helper: a value that arrives either as a JSON number or as a string.
pub(crate) enum NumOrStr<'a> {
    /// An unsigned number.
    Num(u64),
    /// A negative number.
    Neg(i64),
    /// A string.
    Str(Cow<'a, str>),
}

pub(crate) struct NumOrStrVisitor(pub &'static str);

impl<'de> serde::de::Visitor<'de> for NumOrStrVisitor {
    type Value = NumOrStr<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(NumOrStr::Num(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        if v >= 0 {
            Ok(NumOrStr::Num(v.unsigned_abs()))
        } else {
            Ok(NumOrStr::Neg(v))
        }
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.fract() == 0.0 && v >= 0.0 && v <= u64::MAX as f64 {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(NumOrStr::Num(v as u64))
        } else {
            Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
        }
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(NumOrStr::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(NumOrStr::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(NumOrStr::Str(Cow::Owned(v)))
    }
}
