//! Calico's deterministic UID derivation for objects computed from Kubernetes objects.

use super::ConversionError;

/// Parses a UUID in the forms Go's `github.com/google/uuid` accepts: 36-character
/// hyphenated, `urn:uuid:`-prefixed, `{…}`-braced, or 32 bare hex digits.
fn parse_uuid(s: &str) -> Result<[u8; 16], String> {
    let hyphenated = match s.len() {
        36 => s,
        45 => match s.get(..9) {
            Some(p) if p.eq_ignore_ascii_case("urn:uuid:") => &s[9..],
            _ => return Err("invalid urn prefix".into()),
        },
        38 => match (s.as_bytes().first(), s.as_bytes().last()) {
            (Some(b'{'), Some(b'}')) => &s[1..37],
            _ => return Err("invalid UUID format".into()),
        },
        32 => {
            let mut out = [0u8; 16];
            for (i, o) in out.iter_mut().enumerate() {
                *o = hex_byte(s.as_bytes(), i * 2).ok_or("invalid UUID format")?;
            }
            return Ok(out);
        }
        n => return Err(format!("invalid UUID length: {n}")),
    };
    let b = hyphenated.as_bytes();
    if [8, 13, 18, 23].iter().any(|&i| b.get(i) != Some(&b'-')) {
        return Err("invalid UUID format".into());
    }
    let starts = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let mut out = [0u8; 16];
    for (o, &at) in out.iter_mut().zip(starts.iter()) {
        *o = hex_byte(b, at).ok_or("invalid UUID format")?;
    }
    Ok(out)
}

fn hex_byte(b: &[u8], at: usize) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    let hi = digit(*b.get(at)?)?;
    let lo = digit(*b.get(at + 1)?)?;
    u8::try_from(hi * 16 + lo).ok()
}

/// Derives the UID Calico gives an object computed from a Kubernetes object (a profile from a
/// Namespace or ServiceAccount, a policy from a NetworkPolicy): the bits of every byte of the
/// UUID are reversed except the version byte (6) and the variant byte (8), so the result is
/// stable, distinct from the source UID, and still a valid version-4 UUID.
///
/// ```
/// assert_eq!(
///     calico_model::k8s::convert_uid("30316465-6365-4463-ad63-3564622d3638").unwrap(),
///     "0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c"
/// );
/// ```
pub fn convert_uid(uid: &str) -> Result<String, ConversionError> {
    let mut b = parse_uuid(uid).map_err(ConversionError::InvalidUid)?;
    for (i, byte) in b.iter_mut().enumerate() {
        if i != 6 && i != 8 {
            *byte = byte.reverse_bits();
        }
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reverses_bits_except_version_and_variant() {
        assert_eq!(
            convert_uid("30316465-6365-4463-ad63-3564622d3638").unwrap(),
            "0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c"
        );
        assert_eq!(
            convert_uid("a1b2c3d4-0000-4000-8000-000000000001").unwrap(),
            "854dc32b-0000-4000-8000-000000000080"
        );
        // Other accepted spellings give the same result (and upper case is fine).
        for s in [
            "30316465636544 63ad633564622d3638".replace(' ', ""),
            "{30316465-6365-4463-ad63-3564622d3638}".into(),
            "urn:uuid:30316465-6365-4463-AD63-3564622d3638".into(),
        ] {
            assert_eq!(
                convert_uid(&s).unwrap(),
                "0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c",
                "{s}"
            );
        }
        // Deterministic and an involution.
        let once = convert_uid("30316465-6365-4463-ad63-3564622d3638").unwrap();
        assert_eq!(
            convert_uid(&once).unwrap(),
            "30316465-6365-4463-ad63-3564622d3638"
        );
    }

    #[test]
    fn rejects_non_uuids() {
        for bad in [
            "",
            "x",
            "30316465-6365-4463-ad63-3564622d363g",
            "30316465_6365-4463-ad63-3564622d3638",
            "{30316465-6365-4463-ad63-3564622d3638]",
            "urn:xxxx:30316465-6365-4463-ad63-3564622d3638",
            "3031646563654463ad633564622d36é",
        ] {
            assert!(convert_uid(bad).is_err(), "{bad}");
        }
        assert_eq!(
            convert_uid("").unwrap_err().to_string(),
            "failed to parse UID for resource: invalid UUID length: 0"
        );
    }
}
