//! Go (RE2) regular-expression syntax checks. Calico compiles these fields with Go's
//! `regexp`; the `regex` crate implements the same syntax family, and a small pre-pass
//! rewrites or rejects the few constructs where the two differ.

/// Go's limit on `{n,m}` repetition counts.
const MAX_REPEAT: u32 = 1000;

/// Checks that `s` is a valid Go regular expression; returns why it is not.
///
/// ```
/// use calico_model::validation::check_regex;
/// assert!(check_regex("^(eth|ens)[0-9]+$").is_ok());
/// assert!(check_regex("a{,5}").is_ok());   // Go reads `{,5}` literally
/// assert!(check_regex("a**").is_err());    // Go rejects nested repetition
/// ```
pub fn check_regex(s: &str) -> Result<(), String> {
    let translated = go_to_rust(s)?;
    regex::RegexBuilder::new(&translated)
        .octal(true)
        .build()
        .map(|_| ())
        .map_err(|e| {
            e.to_string()
                .lines()
                .last()
                .unwrap_or("invalid regular expression")
                .trim()
                .to_owned()
        })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rep {
    /// The previous item was not a repetition.
    None,
    /// The previous item was a repetition operator.
    Repeat,
    /// The previous item was a repetition made non-greedy with `?`.
    Lazy,
}

/// Parses `{n}`, `{n,}` or `{n,m}` at the start of `rest` (after the `{`); returns the length
/// consumed (including the closing `}`) and the bounds.
fn parse_repeat(rest: &[char]) -> Option<(usize, u32, Option<u32>)> {
    let digits = |from: usize| {
        rest[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let n_len = digits(0);
    if n_len == 0 {
        return None;
    }
    let num = |a: usize, len: usize| {
        rest[a..a + len]
            .iter()
            .collect::<String>()
            .parse::<u32>()
            .ok()
    };
    let n = num(0, n_len).unwrap_or(u32::MAX);
    match rest.get(n_len) {
        Some('}') => Some((n_len + 1, n, Some(n))),
        Some(',') => {
            let m_len = digits(n_len + 1);
            let close = n_len + 1 + m_len;
            if rest.get(close) != Some(&'}') {
                return None;
            }
            let m = (m_len > 0).then(|| num(n_len + 1, m_len).unwrap_or(u32::MAX));
            Some((close + 1, n, m))
        }
        _ => None,
    }
}

/// Rewrites Go-only syntax into the `regex` crate's, rejecting what Go rejects.
fn go_to_rust(s: &str) -> Result<String, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    // Whether the previous item was a repetition operator (for Go's nested-repetition rule).
    let mut rep = Rep::None;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if in_class {
            match c {
                '\\' => {
                    out.push(c);
                    if let Some(n) = chars.get(i + 1) {
                        out.push(*n);
                    }
                    i += 2;
                    continue;
                }
                '[' if chars.get(i + 1) == Some(&':') => {
                    // A POSIX class `[:alpha:]` inside a bracket expression.
                    let end = chars[i + 2..].windows(2).position(|w| w == [':', ']']);
                    if let Some(e) = end {
                        out.extend(&chars[i..i + 2 + e + 2]);
                        i += 2 + e + 2;
                        continue;
                    }
                    out.push('\\');
                    out.push('[');
                }
                ']' => {
                    in_class = false;
                    out.push(c);
                }
                _ => out.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err("trailing backslash at end of expression".into());
                };
                if n == 'Q' {
                    // `\Q...\E`: a literal run.
                    let body_start = i + 2;
                    let end = chars[body_start..]
                        .windows(2)
                        .position(|w| w == ['\\', 'E']);
                    let body_end = end.map_or(chars.len(), |e| body_start + e);
                    for ch in &chars[body_start..body_end] {
                        out.push_str(&regex::escape(&ch.to_string()));
                    }
                    i = end.map_or(chars.len(), |_| body_end + 2);
                    rep = Rep::None;
                    continue;
                }
                if ('1'..='7').contains(&n)
                    && !chars.get(i + 2).is_some_and(|d| ('0'..='7').contains(d))
                {
                    return Err(format!(
                        "invalid escape sequence: `\\{n}` (back references are not supported)"
                    ));
                }
                if n == 'C' {
                    return Err("invalid escape sequence: `\\C`".into());
                }
                out.push(c);
                out.push(n);
                i += 2;
                // `\x{…}`, `\p{…}`, `\P{…}`: copy the braced argument through.
                if matches!(n, 'x' | 'p' | 'P') && chars.get(i) == Some(&'{') {
                    let close = chars[i..]
                        .iter()
                        .position(|&ch| ch == '}')
                        .map_or(chars.len(), |p| i + p + 1);
                    out.extend(&chars[i..close]);
                    i = close;
                }
                rep = Rep::None;
            }
            '[' => {
                in_class = true;
                out.push(c);
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                rep = Rep::None;
            }
            '*' | '+' | '?' => {
                match rep {
                    Rep::None => rep = Rep::Repeat,
                    // A single `?` after a repetition makes it non-greedy.
                    Rep::Repeat if c == '?' => rep = Rep::Lazy,
                    _ => return Err(format!("invalid nested repetition operator: `{c}`")),
                }
                out.push(c);
                i += 1;
            }
            '{' => match parse_repeat(&chars[i + 1..]) {
                Some((len, n, m)) => {
                    if rep != Rep::None {
                        return Err("invalid nested repetition operator: `{`".into());
                    }
                    if n > MAX_REPEAT || m.is_some_and(|m| m > MAX_REPEAT) {
                        return Err(format!("invalid repeat count: at most {MAX_REPEAT}"));
                    }
                    if m.is_some_and(|m| m < n) {
                        return Err("invalid repeat count: min greater than max".into());
                    }
                    out.extend(&chars[i..=i + len]);
                    i += len + 1;
                    rep = Rep::Repeat;
                }
                None => {
                    // Go reads a `{` that does not start a repetition as a literal.
                    out.push_str("\\{");
                    i += 1;
                    rep = Rep::None;
                }
            },
            _ => {
                out.push(c);
                i += 1;
                rep = Rep::None;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax() {
        for ok in [
            "",
            "eth0",
            "^(eth|ens)[0-9]+$",
            "a*?",
            "a+?",
            "a??",
            "x{2,5}",
            "x{2,5}?",
            "x{2,}",
            "a{,5}",
            "a{",
            "[[:alpha:]]+",
            "[]a]",
            "[^]a]",
            "(?i)eth",
            "(?P<n>x)",
            "(?:a|b)",
            "\\d\\.\\x41\\x{263a}\\pL\\p{Greek}",
            "\\Qa.b\\E+",
            "\\Qunterminated",
            "\\012",
            "\\12",
            "^*",
            "a{1000}",
        ] {
            assert!(check_regex(ok).is_ok(), "{ok}: {:?}", check_regex(ok));
        }
        for bad in [
            "(", ")", "a**", "*a", "a|+", "[a", "\\", "\\1", "\\8", "x{1001}", "x{3,2}", "(?z)",
            "(?P<>x)", "a{2}{3}", "\\C", "a++", "a?*", "a*??",
        ] {
            assert!(check_regex(bad).is_err(), "{bad} should be rejected");
        }
    }
}
