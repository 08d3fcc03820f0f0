//! Kubernetes resource quantities (`resource.Quantity`), as far as Calico's QoS annotations
//! need them: parse a quantity string and take its integer value, rounded up.

/// Parses a Kubernetes quantity (`1k`, `1.5Gi`, `100M`, `2e3`, `-1`, `500m`…) and returns its
/// value rounded up to an integer, as Go's `Quantity.Value()` does. Values beyond the range of
/// `i64` saturate.
pub(crate) fn quantity_value(s: &str) -> Result<i64, String> {
    let err = || {
        format!(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' ({s:?})"
        )
    };
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (int_digits, after_int) = rest.split_at(int_len);
    let (frac_digits, suffix) = match after_int.strip_prefix('.') {
        Some(after_dot) => {
            let n = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            after_dot.split_at(n)
        }
        None => ("", after_int),
    };
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(err());
    }
    let (exp10, exp2): (i64, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        other => {
            let exp = other.strip_prefix(['e', 'E']).ok_or_else(err)?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            (exp.parse::<i64>().map_err(|_| err())?, 0)
        }
    };

    // mantissa × 2^exp2 × 10^(exp10 − fraction digits), rounded up.
    let digits: String = int_digits.chars().chain(frac_digits.chars()).collect();
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    let frac_len = i64::try_from(frac_digits.len()).unwrap_or(i64::MAX);
    let exp = exp10.saturating_sub(frac_len);
    let saturated = if negative { i64::MIN } else { i64::MAX };
    let magnitude = (|| -> Option<u128> {
        let mantissa: u128 = digits.parse().ok()?;
        let num = mantissa.checked_mul(1u128.checked_shl(exp2)?)?;
        if exp >= 0 {
            num.checked_mul(10u128.checked_pow(u32::try_from(exp).ok()?)?)
        } else {
            let den = u32::try_from(-exp).ok().and_then(|e| 10u128.checked_pow(e));
            Some(match den {
                Some(den) => num.div_ceil(den),
                // The divisor exceeds any representable numerator: a positive fraction below one.
                None => 1,
            })
        }
    })();
    let Some(magnitude) = magnitude else {
        return Ok(saturated);
    };
    let Ok(magnitude) = i64::try_from(magnitude) else {
        return Ok(saturated);
    };
    Ok(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn values_round_up() {
        let cases = [
            ("0", 0),
            ("1", 1),
            ("1k", 1000),
            ("1.01k", 1010),
            ("1P", 1_000_000_000_000_000),
            ("1.01P", 1_010_000_000_000_000),
            ("4Gi", 4_294_967_296),
            ("1Ki", 1024),
            ("1.5Ki", 1536),
            ("100M", 100_000_000),
            ("10k", 10_000),
            ("500m", 1),
            ("1500m", 2),
            ("1n", 1),
            ("2e3", 2000),
            ("2E3", 2000),
            ("5e-1", 1),
            (".5", 1),
            ("5.", 5),
            ("+7", 7),
            ("-7", -7),
            ("34359738360", 34_359_738_360),
            ("1e100", i64::MAX),
            ("99999999999999999999999999999999999999999", i64::MAX),
            ("1e-100", 1),
        ];
        for (s, want) in cases {
            assert_eq!(quantity_value(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "", "k", ".", "1kk", "1 k", " 1", "1e", "1e+", "1KI", "1ki", "1.2.3", "abc", "--1",
            "1Q",
        ] {
            assert!(quantity_value(bad).is_err(), "{bad}");
        }
    }
}
