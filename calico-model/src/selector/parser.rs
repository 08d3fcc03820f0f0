//! Recursive-descent parser, mirroring Calico's
//! `libcalico-go/lib/selector/parser`.
//!
//! ```text
//! selector  := <empty or whitespace only>            (means all())
//!            | or_expr
//! or_expr   := and_expr ( "||" and_expr )*
//! and_expr  := operation ( "&&" operation )*
//! operation := "!"* primary
//! primary   := "has(" label ")" | "all()" | "global()" | "(" or_expr ")"
//!            | label ("==" | "!=" | "contains" | "starts with" | "ends with") string
//!            | label ("in" | "not in") "{" [ string ("," string)* [","] ] "}"
//! ```
//!
//! The parser does not build an [`Expr`]: it emits a flat pre-order
//! [`Tree`] whose strings borrow from the input, which the compiler turns
//! into the canonical text and matching program without further
//! allocation. [`Tree::to_expr`] builds the public AST when it is asked for.

use super::MAX_NESTING;
use super::ast::Expr;
use super::error::SelectorError;
use super::lexer::{LexResult, Lexer, Token};

/// The comparison of a [`Node::Cmp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `contains`
    Contains,
    /// `starts with`
    StartsWith,
    /// `ends with`
    EndsWith,
}

impl CmpOp {
    /// The operator with its canonical surrounding spaces.
    pub(crate) fn text(self) -> &'static str {
        match self {
            CmpOp::Eq => " == ",
            CmpOp::Ne => " != ",
            CmpOp::Contains => " contains ",
            CmpOp::StartsWith => " starts with ",
            CmpOp::EndsWith => " ends with ",
        }
    }
}

/// One node of a pre-order [`Tree`]; composite nodes are followed by their
/// operands' subtrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node<'s> {
    /// `all()`
    All,
    /// `global()`
    Global,
    /// `has(label)`
    Has(&'s str),
    /// `label <op> "value"`
    Cmp {
        op: CmpOp,
        label: &'s str,
        value: &'s str,
    },
    /// `label in {…}` (or `not in` when `negate`), followed by `count`
    /// [`Node::Item`]s holding the values, sorted and de-duplicated.
    Set {
        negate: bool,
        label: &'s str,
        count: usize,
    },
    /// One value of the preceding [`Node::Set`].
    Item(&'s str),
    /// `!` applied to the following subtree.
    Not,
    /// AND of the following `n` subtrees.
    And(usize),
    /// OR of the following `n` subtrees.
    Or(usize),
}

/// A selector as a flat pre-order node list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree<'s> {
    /// The nodes, root first.
    pub(crate) nodes: Vec<Node<'s>>,
}

impl<'s> Tree<'s> {
    /// Flattens an expression tree (strings borrow from `expr`).
    pub(crate) fn from_expr(expr: &'s Expr) -> Tree<'s> {
        let mut tree = Tree::default();
        tree.push_expr(expr);
        tree
    }

    fn push_expr(&mut self, mut e: &'s Expr) {
        // Iterate through negation chains so a long chain cannot exhaust
        // the stack.
        while let Expr::Not(inner) = e {
            self.nodes.push(Node::Not);
            e = inner;
        }
        let node = match e {
            Expr::All => Node::All,
            Expr::Global => Node::Global,
            Expr::Has(label) => Node::Has(label),
            Expr::Eq { label, value } => cmp(CmpOp::Eq, label, value),
            Expr::Ne { label, value } => cmp(CmpOp::Ne, label, value),
            Expr::Contains { label, value } => cmp(CmpOp::Contains, label, value),
            Expr::StartsWith { label, value } => cmp(CmpOp::StartsWith, label, value),
            Expr::EndsWith { label, value } => cmp(CmpOp::EndsWith, label, value),
            Expr::In { label, values } | Expr::NotIn { label, values } => {
                self.nodes.push(Node::Set {
                    negate: matches!(e, Expr::NotIn { .. }),
                    label,
                    count: values.len(),
                });
                self.nodes
                    .extend(values.iter().map(|v| Node::Item(v.as_str())));
                return;
            }
            Expr::Not(_) => return,
            Expr::And(ops) | Expr::Or(ops) => {
                self.nodes.push(if matches!(e, Expr::And(_)) {
                    Node::And(ops.len())
                } else {
                    Node::Or(ops.len())
                });
                ops.iter().for_each(|op| self.push_expr(op));
                return;
            }
        };
        self.nodes.push(node);
    }

    /// Builds the [`Expr`] for the whole tree.
    pub(crate) fn to_expr(&self) -> Expr {
        let mut cursor = 0;
        self.expr_at(&mut cursor)
    }

    /// Builds the subtree starting at `*cursor`, advancing past it.
    fn expr_at(&self, cursor: &mut usize) -> Expr {
        let mut nots = 0usize;
        while matches!(self.nodes.get(*cursor), Some(Node::Not)) {
            nots += 1;
            *cursor += 1;
        }
        let mut expr = self.operand_at(cursor);
        for _ in 0..nots {
            expr = Expr::Not(Box::new(expr));
        }
        expr
    }

    /// Like [`expr_at`](Self::expr_at) for a node that is not a `Not`.
    fn operand_at(&self, cursor: &mut usize) -> Expr {
        let Some(node) = self.nodes.get(*cursor) else {
            return Expr::All;
        };
        *cursor += 1;
        match *node {
            Node::All => Expr::All,
            Node::Global => Expr::Global,
            Node::Has(label) => Expr::Has(label.to_owned()),
            Node::Cmp { op, label, value } => {
                let (label, value) = (label.to_owned(), value.to_owned());
                match op {
                    CmpOp::Eq => Expr::Eq { label, value },
                    CmpOp::Ne => Expr::Ne { label, value },
                    CmpOp::Contains => Expr::Contains { label, value },
                    CmpOp::StartsWith => Expr::StartsWith { label, value },
                    CmpOp::EndsWith => Expr::EndsWith { label, value },
                }
            }
            Node::Set {
                negate,
                label,
                count,
            } => {
                let values = self
                    .nodes
                    .get(*cursor..*cursor + count)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|node| match node {
                        Node::Item(v) => Some((*v).to_owned()),
                        _ => None,
                    })
                    .collect();
                *cursor += count;
                let label = label.to_owned();
                if negate {
                    Expr::NotIn { label, values }
                } else {
                    Expr::In { label, values }
                }
            }
            Node::Not => Expr::Not(Box::new(self.operand_at(cursor))),
            // Items are consumed by their set; a stray one is malformed.
            Node::Item(_) => Expr::All,
            Node::And(n) => Expr::And((0..n).map(|_| self.expr_at(cursor)).collect()),
            Node::Or(n) => Expr::Or((0..n).map(|_| self.expr_at(cursor)).collect()),
        }
    }
}

fn cmp<'s>(op: CmpOp, label: &'s str, value: &'s str) -> Node<'s> {
    Node::Cmp { op, label, value }
}

/// Parses a complete selector into a [`Tree`].
///
/// With `exact`, every `!` becomes its own [`Node::Not`] instead of leading
/// `!`s being collapsed; this re-parses a canonical form into exactly the
/// tree it was rendered from.
///
/// Both the parentheses of the input and the groups of the resulting tree
/// (each of which the canonical form wraps in parentheses) may nest at most
/// [`MAX_NESTING`] deep, so a canonical form always re-parses.
pub(crate) fn parse_tree(src: &str, exact: bool) -> LexResult<Tree<'_>> {
    let mut p = Parser {
        lx: Lexer::new(src),
        tree: Tree {
            nodes: Vec::with_capacity(src.len() / 8 + 2),
        },
        exact,
    };
    p.lx.advance()?;
    if p.lx.tok == Token::Eof {
        p.tree.nodes.push(Node::All);
        return Ok(p.tree);
    }
    p.or_expr(0)?;
    if p.lx.tok != Token::Eof {
        return Err(p.unexpected("'&&', '||' or end of input"));
    }
    Ok(p.tree)
}

struct Parser<'s> {
    lx: Lexer<'s>,
    tree: Tree<'s>,
    exact: bool,
}

impl<'s> Parser<'s> {
    #[cold]
    fn unexpected(&self, expected: &'static str) -> Box<SelectorError> {
        Box::new(SelectorError::UnexpectedToken {
            expected,
            found: self.lx.tok.to_string(),
            pos: self.lx.tok_pos,
        })
    }

    /// Parses an OR expression at parenthesis depth `depth`, returning how
    /// deeply groups nest in the resulting subtree.
    fn or_expr(&mut self, depth: usize) -> LexResult<usize> {
        let (start, start_pos) = (self.tree.nodes.len(), self.lx.tok_pos);
        let mut groups = self.and_expr(depth)?;
        let mut count = 1;
        while self.lx.tok == Token::Or {
            self.lx.advance()?;
            groups = groups.max(self.and_expr(depth)?);
            count += 1;
        }
        if count == 1 {
            return Ok(groups);
        }
        self.tree.nodes.insert(start, Node::Or(count));
        self.group_depth(groups + 1, start_pos)
    }

    /// Parses an AND expression (see [`or_expr`](Self::or_expr)).
    fn and_expr(&mut self, depth: usize) -> LexResult<usize> {
        let (start, start_pos) = (self.tree.nodes.len(), self.lx.tok_pos);
        let mut groups = self.operation(depth)?;
        let mut count = 1;
        while self.lx.tok == Token::And {
            self.lx.advance()?;
            groups = groups.max(self.operation(depth)?);
            count += 1;
        }
        if count == 1 {
            return Ok(groups);
        }
        self.tree.nodes.insert(start, Node::And(count));
        self.group_depth(groups + 1, start_pos)
    }

    /// Checks the group depth of a new group starting at `pos`.
    fn group_depth(&self, groups: usize, pos: usize) -> LexResult<usize> {
        if groups > MAX_NESTING {
            return Err(Box::new(SelectorError::TooDeep { pos }));
        }
        Ok(groups)
    }

    /// Parses one possibly negated operation, returning the group depth of
    /// its subtree.
    fn operation(&mut self, depth: usize) -> LexResult<usize> {
        let mut nots = 0usize;
        while self.lx.tok == Token::Not {
            nots += 1;
            self.lx.advance()?;
        }
        let emit = if self.exact { nots } else { nots % 2 };
        for _ in 0..emit {
            self.tree.nodes.push(Node::Not);
        }
        let node = match self.lx.tok {
            Token::Has(label) => Node::Has(label),
            Token::All => Node::All,
            Token::Global => Node::Global,
            Token::Label(label) => {
                self.lx.advance()?;
                self.comparison(label)?;
                return Ok(0);
            }
            Token::LParen => {
                if depth >= MAX_NESTING {
                    return Err(Box::new(SelectorError::TooDeep {
                        pos: self.lx.tok_pos,
                    }));
                }
                self.lx.advance()?;
                let groups = self.or_expr(depth + 1)?;
                if self.lx.tok != Token::RParen {
                    return Err(self.unexpected("')'"));
                }
                self.lx.advance()?;
                return Ok(groups);
            }
            _ => return Err(self.unexpected("a label, has(…), all(), global(), '!' or '('")),
        };
        self.tree.nodes.push(node);
        self.lx.advance()?;
        Ok(0)
    }

    /// Parses the operator and right-hand side after `label`.
    fn comparison(&mut self, label: &'s str) -> LexResult<()> {
        let op = match self.lx.tok {
            Token::Eq => CmpOp::Eq,
            Token::Ne => CmpOp::Ne,
            Token::Contains => CmpOp::Contains,
            Token::StartsWith => CmpOp::StartsWith,
            Token::EndsWith => CmpOp::EndsWith,
            Token::In | Token::NotIn => {
                let negate = self.lx.tok == Token::NotIn;
                self.lx.advance()?;
                return self.set_literal(label, negate);
            }
            _ => {
                return Err(self.unexpected(
                    "an operator (==, !=, in, not in, contains, starts with, ends with)",
                ));
            }
        };
        self.lx.advance()?;
        let Token::Str(value) = self.lx.tok else {
            return Err(self.unexpected("a string literal"));
        };
        self.tree.nodes.push(Node::Cmp { op, label, value });
        self.lx.advance()
    }

    /// Parses `{ "a", "b", }` (possibly empty, one optional trailing comma).
    fn set_literal(&mut self, label: &'s str, negate: bool) -> LexResult<()> {
        if self.lx.tok != Token::LBrace {
            return Err(self.unexpected("a set literal '{'"));
        }
        self.lx.advance()?;
        let set = self.tree.nodes.len();
        self.tree.nodes.push(Node::Set {
            negate,
            label,
            count: 0,
        });
        while let Token::Str(value) = self.lx.tok {
            self.tree.nodes.push(Node::Item(value));
            self.lx.advance()?;
            if self.lx.tok != Token::Comma {
                break;
            }
            self.lx.advance()?;
        }
        if self.lx.tok != Token::RBrace {
            return Err(self.unexpected("a string literal or '}'"));
        }
        let count = sort_dedup(self.tree.nodes.get_mut(set + 1..).unwrap_or_default());
        self.tree.nodes.truncate(set + 1 + count);
        if let Some(Node::Set { count: c, .. }) = self.tree.nodes.get_mut(set) {
            *c = count;
        }
        self.lx.advance()
    }
}

/// The value of an [`Node::Item`] (empty for any other node).
fn item<'s>(node: &Node<'s>) -> &'s str {
    match node {
        Node::Item(v) => v,
        _ => "",
    }
}

/// Sorts the [`Node::Item`]s bytewise and moves the distinct ones to the
/// front, returning how many there are.
fn sort_dedup(items: &mut [Node<'_>]) -> usize {
    items.sort_unstable_by(|a, b| item(a).cmp(item(b)));
    let mut kept = 0;
    for read in 0..items.len() {
        let is_new = kept == 0 || items.get(kept - 1).map(item) != items.get(read).map(item);
        if is_new {
            items.swap(kept, read);
            kept += 1;
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_dedup_keeps_distinct_sorted() {
        let mut v = ["z", "z", "x", "y", "x", "a"].map(Node::Item);
        let n = sort_dedup(&mut v);
        assert_eq!(v.get(..n), Some(&["a", "x", "y", "z"].map(Node::Item)[..]));
        assert_eq!(sort_dedup(&mut []), 0);
        let t = parse_tree("k in {'b', 'a', 'b'} && j not in {}", false).expect("valid");
        assert_eq!(
            t.nodes,
            [
                Node::And(2),
                Node::Set {
                    negate: false,
                    label: "k",
                    count: 2
                },
                Node::Item("a"),
                Node::Item("b"),
                Node::Set {
                    negate: true,
                    label: "j",
                    count: 0
                },
            ]
        );
    }

    #[test]
    fn groups_are_inserted_before_their_operands() {
        let t = parse_tree("has(a) || has(b) && !has(c)", false).expect("valid");
        assert_eq!(
            t.nodes,
            [
                Node::Or(2),
                Node::Has("a"),
                Node::And(2),
                Node::Has("b"),
                Node::Not,
                Node::Has("c"),
            ]
        );
    }

    #[test]
    fn exact_mode_keeps_every_not() {
        let t = parse_tree("!!has(a)", true).expect("valid");
        assert_eq!(t.nodes, [Node::Not, Node::Not, Node::Has("a")]);
        let t = parse_tree("!!has(a)", false).expect("valid");
        assert_eq!(t.nodes, [Node::Has("a")]);
    }
}
