//! Tokeniser for the selector language, mirroring Calico's
//! `libcalico-go/lib/selector/tokenizer`.
//!
//! The lexer is streaming (no token vector is built) but context sensitive in
//! exactly the way Calico's is: the operator words (`contains`, `starts with`,
//! `ends with`, `in`, `not in`) are only recognised directly after a label,
//! and the function tokens (`has(…)`, `all()`, `global()`) only where a
//! label could start.

use std::fmt;

use super::MAX_LABEL_LEN;
use super::error::SelectorError;

/// One token; string payloads borrow from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// A label name, e.g. `app` or `projectcalico.org/namespace`.
    Label(&'a str),
    /// The contents of a `"…"` or `'…'` literal, without the quotes.
    Str(&'a str),
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `,`
    Comma,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `in`
    In,
    /// `not in`
    NotIn,
    /// `!`
    Not,
    /// `contains`
    Contains,
    /// `starts with`
    StartsWith,
    /// `ends with`
    EndsWith,
    /// `all()`
    All,
    /// `has(label)`, carrying the label.
    Has(&'a str),
    /// `global()`
    Global,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `&&`
    And,
    /// `||`
    Or,
    /// End of input.
    Eof,
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Label(l) => write!(f, "label \"{l}\""),
            Token::Str(s) => write!(f, "string {s:?}"),
            Token::LBrace => f.write_str("'{'"),
            Token::RBrace => f.write_str("'}'"),
            Token::Comma => f.write_str("','"),
            Token::Eq => f.write_str("'=='"),
            Token::Ne => f.write_str("'!='"),
            Token::In => f.write_str("'in'"),
            Token::NotIn => f.write_str("'not in'"),
            Token::Not => f.write_str("'!'"),
            Token::Contains => f.write_str("'contains'"),
            Token::StartsWith => f.write_str("'starts with'"),
            Token::EndsWith => f.write_str("'ends with'"),
            Token::All => f.write_str("'all()'"),
            Token::Has(l) => write!(f, "'has({l})'"),
            Token::Global => f.write_str("'global()'"),
            Token::LParen => f.write_str("'('"),
            Token::RParen => f.write_str("')'"),
            Token::And => f.write_str("'&&'"),
            Token::Or => f.write_str("'||'"),
            Token::Eof => f.write_str("end of input"),
        }
    }
}

/// Whether `b` may appear in a label: `[A-Za-z0-9_./-]`.
#[inline]
pub(crate) fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

/// Whether `s` is a valid label name: 1–512 bytes of `[A-Za-z0-9_./-]`
/// (Calico's `tokenizer.ValidLabel`).
#[must_use]
pub fn is_valid_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LABEL_LEN && s.bytes().all(is_label_byte)
}

/// Result with a boxed error, keeping the success path register-sized.
pub(crate) type LexResult<T> = std::result::Result<T, Box<SelectorError>>;

/// Streaming tokenizer over a selector string.
///
/// [`advance`](Lexer::advance) stores the next token in [`tok`](Lexer::tok)
/// rather than returning it, which keeps the hot path free of large
/// return values.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    /// Offset just after the current token.
    pos: usize,
    /// The current token.
    pub(crate) tok: Token<'a>,
    /// Offset at which the current token starts.
    pub(crate) tok_pos: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer positioned at the start of `src`; call
    /// [`advance`](Lexer::advance) to read the first token.
    pub(crate) fn new(src: &'a str) -> Self {
        Self {
            src,
            pos: 0,
            tok: Token::Eof,
            tok_pos: 0,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn peek_byte(&self, at: usize) -> Option<u8> {
        self.bytes().get(at).copied()
    }

    /// Byte offset after skipping spaces and tabs from `at`.
    fn skip_ws_from(&self, mut at: usize) -> usize {
        while matches!(self.peek_byte(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        at
    }

    /// Whether the input at `at` starts with `word`.
    fn has_prefix_at(&self, at: usize, word: &str) -> bool {
        self.bytes()
            .get(at..)
            .is_some_and(|rest| rest.starts_with(word.as_bytes()))
    }

    /// Whether `at` is a word boundary: end of input or a non-label byte.
    fn boundary_at(&self, at: usize) -> bool {
        self.peek_byte(at).is_none_or(|b| !is_label_byte(b))
    }

    /// Tries to match the operator words (separated by optional spaces/tabs)
    /// at `at`, followed by a word boundary. Returns the offset after the
    /// last word.
    fn match_words(&self, at: usize, words: &[&str]) -> Option<usize> {
        let mut cur = at;
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                cur = self.skip_ws_from(cur);
            }
            if !self.has_prefix_at(cur, word) {
                return None;
            }
            cur += word.len();
        }
        self.boundary_at(cur).then_some(cur)
    }

    /// Cuts a label starting at `at`. Returns the label and the offset after
    /// it, or `None` if no label character is at `at`.
    fn cut_label(&self, at: usize) -> LexResult<Option<(&'a str, usize)>> {
        let rest = self.bytes().get(at..).unwrap_or_default();
        let len = rest.iter().take_while(|b| is_label_byte(**b)).count();
        if len == 0 {
            return Ok(None);
        }
        if len > MAX_LABEL_LEN {
            return Err(Box::new(SelectorError::LabelTooLong { len, pos: at }));
        }
        // Label bytes are ASCII, so these are char boundaries.
        let label = self.src.get(at..at + len).unwrap_or_default();
        Ok(Some((label, at + len)))
    }

    fn unexpected_char(&self, at: usize) -> Box<SelectorError> {
        let ch = self
            .src
            .get(at..)
            .and_then(|s| s.chars().next())
            .unwrap_or('\u{fffd}');
        Box::new(SelectorError::UnexpectedChar { ch, pos: at })
    }

    /// Reads the next token into [`tok`](Lexer::tok) /
    /// [`tok_pos`](Lexer::tok_pos).
    pub(crate) fn advance(&mut self) -> LexResult<()> {
        let start = self.skip_ws_from(self.pos);
        let last_label = match self.tok {
            Token::Label(l) => Some(l),
            _ => None,
        };
        self.tok_pos = start;
        let Some(b) = self.peek_byte(start) else {
            self.pos = start;
            self.tok = Token::Eof;
            return Ok(());
        };
        let next = self.peek_byte(start + 1);
        let (tok, end) = match b {
            b'(' => (Token::LParen, start + 1),
            b')' => (Token::RParen, start + 1),
            b'{' => (Token::LBrace, start + 1),
            b'}' => (Token::RBrace, start + 1),
            b',' => (Token::Comma, start + 1),
            b'"' | b'\'' => {
                let body_start = start + 1;
                let body = self.src.get(body_start..).unwrap_or_default();
                let quote = if b == b'"' { '"' } else { '\'' };
                let Some(len) = body.find(quote) else {
                    return Err(Box::new(SelectorError::UnterminatedString { pos: start }));
                };
                let value = body.get(..len).unwrap_or_default();
                (Token::Str(value), body_start + len + 1)
            }
            b'=' if next == Some(b'=') => (Token::Eq, start + 2),
            b'!' if next == Some(b'=') => (Token::Ne, start + 2),
            b'!' => (Token::Not, start + 1),
            b'&' if next == Some(b'&') => (Token::And, start + 2),
            b'|' if next == Some(b'|') => (Token::Or, start + 2),
            b'=' | b'&' | b'|' => return Err(self.unexpected_char(start)),
            _ => {
                if let Some(label) = last_label {
                    self.operator_after_label(label, start)?
                } else {
                    self.word(start)?
                }
            }
        };
        self.tok = tok;
        self.pos = end;
        Ok(())
    }

    /// Lexes an operator word directly after a label.
    fn operator_after_label(&self, label: &'a str, at: usize) -> LexResult<(Token<'a>, usize)> {
        const OPERATORS: [(&[&str], Token<'static>); 5] = [
            (&["contains"], Token::Contains),
            (&["starts", "with"], Token::StartsWith),
            (&["ends", "with"], Token::EndsWith),
            (&["not", "in"], Token::NotIn),
            (&["in"], Token::In),
        ];
        for (words, tok) in OPERATORS {
            if let Some(end) = self.match_words(at, words) {
                return Ok((tok, end));
            }
        }
        Err(Box::new(SelectorError::ExpectedOperator {
            label: label.to_owned(),
            pos: at,
        }))
    }

    /// Lexes `has(…)`, `all()`, `global()` or a label at `at`.
    fn word(&self, at: usize) -> LexResult<(Token<'a>, usize)> {
        if self.has_prefix_at(at, "has(") {
            let label_at = self.skip_ws_from(at + 4);
            let Some((label, after)) = self.cut_label(label_at)? else {
                return Err(Box::new(SelectorError::ExpectedHasLabel { pos: label_at }));
            };
            let close = self.skip_ws_from(after);
            if self.peek_byte(close) != Some(b')') {
                return Err(Box::new(SelectorError::UnclosedFunction {
                    func: "has",
                    pos: close,
                }));
            }
            return Ok((Token::Has(label), close + 1));
        }
        for (func, tok) in [("all", Token::All), ("global", Token::Global)] {
            if self.has_prefix_at(at, func) && self.peek_byte(at + func.len()) == Some(b'(') {
                let close = self.skip_ws_from(at + func.len() + 1);
                if self.peek_byte(close) != Some(b')') {
                    return Err(Box::new(SelectorError::UnclosedFunction {
                        func,
                        pos: close,
                    }));
                }
                return Ok((tok, close + 1));
            }
        }
        match self.cut_label(at)? {
            Some((label, end)) => Ok((Token::Label(label), end)),
            None => Err(self.unexpected_char(at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> LexResult<Vec<Token<'_>>> {
        let mut lx = Lexer::new(s);
        let mut out = Vec::new();
        loop {
            lx.advance()?;
            out.push(lx.tok);
            if lx.tok == Token::Eof {
                return Ok(out);
            }
        }
    }

    #[test]
    fn calico_tokenizer_vectors() {
        use Token::*;
        let cases: &[(&str, &[Token<'_>])] = &[
            (r#"a=="b""#, &[Label("a"), Eq, Str("b"), Eof]),
            (
                r#"label == "value""#,
                &[Label("label"), Eq, Str("value"), Eof],
            ),
            (
                r#"contains contains "contains""#,
                &[Label("contains"), Contains, Str("contains"), Eof],
            ),
            (
                r#"label contains"value""#,
                &[Label("label"), Contains, Str("value"), Eof],
            ),
            (
                r#"label startswith "value""#,
                &[Label("label"), StartsWith, Str("value"), Eof],
            ),
            (
                r#"label endswith "value""#,
                &[Label("label"), EndsWith, Str("value"), Eof],
            ),
            (
                r#"startswith starts with "value""#,
                &[Label("startswith"), StartsWith, Str("value"), Eof],
            ),
            (
                r#"endswith ends  with "value""#,
                &[Label("endswith"), EndsWith, Str("value"), Eof],
            ),
            (
                r#"a not in "bar" && !has(foo) || b in c"#,
                &[
                    Label("a"),
                    NotIn,
                    Str("bar"),
                    And,
                    Not,
                    Has("foo"),
                    Or,
                    Label("b"),
                    In,
                    Label("c"),
                    Eof,
                ],
            ),
            (
                r#"a  not  in  "bar"  &&  ! has( foo )  ||  b  in  c "#,
                &[
                    Label("a"),
                    NotIn,
                    Str("bar"),
                    And,
                    Not,
                    Has("foo"),
                    Or,
                    Label("b"),
                    In,
                    Label("c"),
                    Eof,
                ],
            ),
            (
                r#"a notin"bar"&&!has(foo)||b in"c""#,
                &[
                    Label("a"),
                    NotIn,
                    Str("bar"),
                    And,
                    Not,
                    Has("foo"),
                    Or,
                    Label("b"),
                    In,
                    Str("c"),
                    Eof,
                ],
            ),
            (
                "has(calico/k8s_NS-.1/role)",
                &[Has("calico/k8s_NS-.1/role"), Eof],
            ),
            ("a not\tin {}", &[Label("a"), NotIn, LBrace, RBrace, Eof]),
            ("global()", &[Global, Eof]),
            ("all( \t)", &[All, Eof]),
            ("has (a)", &[Label("has"), LParen, Label("a"), RParen, Eof]),
            ("HAS(a)", &[Label("HAS"), LParen, Label("a"), RParen, Eof]),
            ("!=x", &[Ne, Label("x"), Eof]),
        ];
        for (input, expected) in cases {
            assert_eq!(
                tokens(input).as_deref().map_err(|e| e.to_string()),
                Ok(*expected),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn calico_tokenizer_errors() {
        for input in [
            r#"label starts foo "value""#,
            r#"label ends foo "value""#,
            r#"label squiggles "value""#,
            "a containsx 'b'",
            "a inx {}",
            "a = 'b'",
            "a & b",
            "a | b",
            "\"abc",
            "'abc\"",
            "has()",
            "has(a",
            "all(x)",
            "global( x)",
            "\n",
            "é",
        ] {
            assert!(
                tokens(input).is_err(),
                "input {input:?} should not tokenize"
            );
        }
    }

    #[test]
    fn positions_are_byte_offsets() {
        let mut lx = Lexer::new("  ab\t== 'x'");
        for (tok, pos) in [
            (Token::Label("ab"), 2),
            (Token::Eq, 5),
            (Token::Str("x"), 8),
            (Token::Eof, 11),
        ] {
            assert_eq!(lx.advance(), Ok(()));
            assert_eq!((lx.tok, lx.tok_pos), (tok, pos));
        }
    }
}
