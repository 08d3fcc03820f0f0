use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Kubernetes `metav1.Duration`: a Go duration string such as `"90s"`, `"1m30s"`,
/// `"1.5h"` or `"500ms"`.
///
/// Stored as signed nanoseconds; encodes in Go's canonical form (`"1m30s"` for 90 seconds),
/// as Calico does when it writes a resource back.
///
/// ```
/// use calico_model::scalar::Duration;
/// let d: Duration = "90s".parse().unwrap();
/// assert_eq!(d.as_nanos(), 90_000_000_000);
/// assert_eq!(d.to_string(), "1m30s");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Duration(i64);

/// Why a duration string could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("time: invalid duration \"{0}\"")]
pub struct DurationError(pub String);

const NS: i64 = 1;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;

impl Duration {
    /// A duration of `n` nanoseconds.
    pub const fn from_nanos(n: i64) -> Self {
        Duration(n)
    }
    /// A duration of `s` whole seconds.
    pub const fn from_secs(s: i64) -> Self {
        Duration(s.saturating_mul(S))
    }
    /// Signed nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }
    /// Seconds as a float.
    #[allow(clippy::cast_precision_loss)]
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / S as f64
    }
    /// The equivalent `std::time::Duration` (negative durations become zero).
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.0).unwrap_or(0))
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    /// Parses like Go's `time.ParseDuration`.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = || DurationError(input.to_owned());
        let mut s = input.as_bytes();
        let mut neg = false;
        if let Some((&c, rest)) = s.split_first()
            && (c == b'-' || c == b'+')
        {
            neg = c == b'-';
            s = rest;
        }
        if s == b"0" {
            return Ok(Duration(0));
        }
        if s.is_empty() {
            return Err(err());
        }
        let mut total: u128 = 0;
        while !s.is_empty() {
            // Integer part.
            let int_len = s.iter().take_while(|b| b.is_ascii_digit()).count();
            let int_digits = &s[..int_len];
            s = &s[int_len..];
            let mut frac_digits: &[u8] = &[];
            if let Some((&b'.', rest)) = s.split_first() {
                let frac_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                frac_digits = &rest[..frac_len];
                s = &rest[frac_len..];
            }
            if int_digits.is_empty() && frac_digits.is_empty() {
                return Err(err());
            }
            let unit_len = s
                .iter()
                .take_while(|b| !b.is_ascii_digit() && **b != b'.')
                .count();
            let unit = std::str::from_utf8(&s[..unit_len]).map_err(|_| err())?;
            s = &s[unit_len..];
            let scale: i64 = match unit {
                "ns" => NS,
                "us" | "µs" | "μs" => US,
                "ms" => MS,
                "s" => S,
                "m" => M,
                "h" => H,
                _ => return Err(err()),
            };
            let mut v: u128 = 0;
            for d in int_digits {
                v = v
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u128::from(d - b'0')))
                    .ok_or_else(err)?;
                if v > i64::MAX as u128 {
                    return Err(err());
                }
            }
            let mut part = v.checked_mul(scale as u128).ok_or_else(err)?;
            if !frac_digits.is_empty() {
                let mut f: u128 = 0;
                let mut div: u128 = 1;
                for d in frac_digits.iter().take(18) {
                    f = f * 10 + u128::from(d - b'0');
                    div *= 10;
                }
                part += f * scale as u128 / div;
            }
            total = total.checked_add(part).ok_or_else(err)?;
            if total > i64::MAX as u128 + u128::from(neg) {
                return Err(err());
            }
        }
        let total = i128::try_from(total).map_err(|_| err())?;
        let signed = if neg { -total } else { total };
        i64::try_from(signed).map(Duration).map_err(|_| err())
    }
}

impl fmt::Display for Duration {
    /// Formats like Go's `time.Duration.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.0 < 0;
        let u = self.0.unsigned_abs();
        let sign = if neg { "-" } else { "" };
        if u < S.unsigned_abs() {
            // Sub-second: use the largest unit that keeps a leading non-zero digit.
            if u == 0 {
                return f.write_str("0s");
            }
            let (unit, scale) = if u < US.unsigned_abs() {
                ("ns", 1u64)
            } else if u < MS.unsigned_abs() {
                ("µs", US.unsigned_abs())
            } else {
                ("ms", MS.unsigned_abs())
            };
            return write!(f, "{sign}{}{unit}", frac(u, scale));
        }
        let secs_ns = u % M.unsigned_abs();
        let mins_total = u / M.unsigned_abs();
        let hours = mins_total / 60;
        let mins = mins_total % 60;
        let s = frac(secs_ns, S.unsigned_abs());
        if hours > 0 {
            write!(f, "{sign}{hours}h{mins}m{s}s")
        } else if mins_total > 0 {
            write!(f, "{sign}{mins}m{s}s")
        } else {
            write!(f, "{sign}{s}s")
        }
    }
}

/// `v / scale` as a decimal with trailing zeros removed (Go's `fmtFrac` + `fmtInt`).
fn frac(v: u64, scale: u64) -> String {
    let int = v / scale;
    let mut rem = v % scale;
    if rem == 0 {
        return int.to_string();
    }
    let mut digits = String::new();
    let mut s = scale;
    while s > 1 {
        s /= 10;
        digits.push(char::from(b'0' + u8::try_from(rem / s).unwrap_or(0)));
        rem %= s;
    }
    let trimmed = digits.trim_end_matches('0');
    format!("{int}.{trimmed}")
}

impl Serialize for Duration {
    fn serialize<S2: Serializer>(&self, s: S2) -> Result<S2::Ok, S2::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let s = String::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))*$"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_like_go() {
        let p = |s: &str| s.parse::<Duration>().map(Duration::as_nanos);
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("5s"), Ok(5 * S));
        assert_eq!(p("30s"), Ok(30 * S));
        assert_eq!(p("1478s"), Ok(1478 * S));
        assert_eq!(p("-5s"), Ok(-5 * S));
        assert_eq!(p("+5s"), Ok(5 * S));
        assert_eq!(p("1.5s"), Ok(1500 * MS));
        assert_eq!(p(".5s"), Ok(500 * MS));
        assert_eq!(p("1.s"), Ok(S));
        assert_eq!(p("1h30m"), Ok(H + 30 * M));
        assert_eq!(p("10ms"), Ok(10 * MS));
        assert_eq!(p("10us"), Ok(10 * US));
        assert_eq!(p("10µs"), Ok(10 * US));
        assert_eq!(
            p("1h2m3s4ms5us6ns"),
            Ok(H + 2 * M + 3 * S + 4 * MS + 5 * US + 6)
        );
        for bad in [
            "", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "1.0.0s", "1sec",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_like_go() {
        let f = |n: i64| Duration(n).to_string();
        assert_eq!(f(0), "0s");
        assert_eq!(f(1), "1ns");
        assert_eq!(f(1100), "1.1µs");
        assert_eq!(f(2200 * US), "2.2ms");
        assert_eq!(f(3300 * MS), "3.3s");
        assert_eq!(f(4 * M + 5 * S), "4m5s");
        assert_eq!(f(4 * M + 5001 * MS), "4m5.001s");
        assert_eq!(f(5 * H + 6 * M + 7001 * MS), "5h6m7.001s");
        assert_eq!(f(8 * M + 1), "8m0.000000001s");
        assert_eq!(f(90 * S), "1m30s");
        assert_eq!(f(-90 * S), "-1m30s");
        assert_eq!(f(10 * M), "10m0s");
    }

    #[test]
    fn round_trips() {
        for s in ["1m30s", "500ms", "1h0m0s", "1.5s", "0s"] {
            let d: Duration = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
    }
}
