//! The error type returned when a selector fails to lex or parse.

use thiserror::Error;

/// A selector that could not be parsed.
///
/// Every variant carries `pos`, the byte offset into the input at which the
/// problem was detected (see [`SelectorError::position`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectorError {
    /// A character that cannot start any token here (this includes a lone
    /// `=`, `&` or `|`, a newline, and any non-ASCII character outside a
    /// string literal).
    #[error("unexpected character '{}' at position {pos}", .ch.escape_debug())]
    UnexpectedChar {
        /// The offending character.
        ch: char,
        /// Byte offset of the character.
        pos: usize,
    },
    /// A `"` or `'` string literal without its closing quote.
    #[error("unterminated string starting at position {pos}")]
    UnterminatedString {
        /// Byte offset of the opening quote.
        pos: usize,
    },
    /// A label (identifier) longer than [`MAX_LABEL_LEN`](super::MAX_LABEL_LEN) bytes.
    #[error("label longer than {max} bytes ({len} bytes) at position {pos}", max = super::MAX_LABEL_LEN)]
    LabelTooLong {
        /// Length of the label in bytes.
        len: usize,
        /// Byte offset at which the label starts.
        pos: usize,
    },
    /// A label followed by a word that is not an operator
    /// (`contains`, `starts with`, `ends with`, `in`, `not in`).
    #[error("expected operator after label \"{label}\" at position {pos}")]
    ExpectedOperator {
        /// The label that needs an operator.
        label: String,
        /// Byte offset at which the operator was expected.
        pos: usize,
    },
    /// `has(` not followed by a label.
    #[error("expected a label name inside has( at position {pos}")]
    ExpectedHasLabel {
        /// Byte offset at which the label was expected.
        pos: usize,
    },
    /// `has(label`, `all(` or `global(` not closed by `)`.
    #[error("expected ')' to close {func}( at position {pos}")]
    UnclosedFunction {
        /// The function name: `has`, `all` or `global`.
        func: &'static str,
        /// Byte offset at which `)` was expected.
        pos: usize,
    },
    /// A token that the grammar does not allow at this point.
    #[error("expected {expected}, found {found} at position {pos}")]
    UnexpectedToken {
        /// What the parser was looking for.
        expected: &'static str,
        /// A description of what it found instead.
        found: String,
        /// Byte offset of the unexpected token (the input length at end of input).
        pos: usize,
    },
    /// Parentheses nested deeper than [`MAX_NESTING`](super::MAX_NESTING).
    #[error("selector nested more than {max} levels deep at position {pos}", max = super::MAX_NESTING)]
    TooDeep {
        /// Byte offset of the parenthesis that went too deep.
        pos: usize,
    },
}

impl SelectorError {
    /// Byte offset into the input at which the error was detected.
    #[must_use]
    pub fn position(&self) -> usize {
        match self {
            Self::UnexpectedChar { pos, .. }
            | Self::UnterminatedString { pos }
            | Self::LabelTooLong { pos, .. }
            | Self::ExpectedOperator { pos, .. }
            | Self::ExpectedHasLabel { pos }
            | Self::UnclosedFunction { pos, .. }
            | Self::UnexpectedToken { pos, .. }
            | Self::TooDeep { pos } => *pos,
        }
    }
}

/// `Result` with [`SelectorError`] as the default error type.
pub type Result<T, E = SelectorError> = std::result::Result<T, E>;
