//! Compilation of a parsed [`Tree`] into its canonical text, unique ID and
//! a flat matching program, and the allocation-free matcher that runs it.
//!
//! One pass over the tree writes the canonical form and emits instructions
//! whose label names and values are byte ranges ([`Lit`]s) of that same
//! text, so a compiled selector owns just two small vectors besides the
//! text. Up to [`MAX_SCAN_KEYS`] distinct label names get *slots*: at match
//! time a small label map is scanned once, filling a stack array of slots,
//! and the program then reads slots instead of looking keys up (no key
//! hashing per term). Other cases call [`Labels::get`] per term.

use std::ops::ControlFlow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha224};

use super::ast::quote_for;
use super::labels::Labels;
use super::parser::{CmpOp, Node, Tree};

/// Prefix of unique IDs, and of the hashed content (Calico's
/// `hash.MakeUniqueID("s", canonical)` hashes `"s:" + canonical`).
const ID_PREFIX: &str = "s:";

/// Length of a unique ID: `"s:"` plus base64url (unpadded) of 28 bytes.
const ID_LEN: usize = 2 + 38;

/// Sets with at most this many values are searched linearly (comparing
/// fingerprints); larger ones by binary search.
const SMALL_SET: usize = 8;

/// Selectors with at most this many distinct label names use the
/// single-pass slot strategy; more fall back to one `get` per term.
const MAX_SCAN_KEYS: usize = 16;

/// Label maps with at most this many entries are scanned once rather than
/// probed with `get`.
const MAX_SCAN_LABELS: usize = 24;

/// Number of buckets of [`Program::len_mask`].
const LEN_BUCKETS: usize = 32;

/// Strings up to this long are compared exactly by their fingerprint
/// ([`fp_words`]).
const FINGERPRINT_EXACT_LEN: usize = 16;

/// Placeholder target of a jump that has not been patched yet.
const PENDING: u32 = u32::MAX;

/// Converts an index to the `u32` stored in instructions (saturating; an
/// out-of-range index then fails its lookup instead of panicking).
#[inline]
fn idx(x: usize) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

#[inline(always)]
fn word8(w: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*w)
}

#[inline(always)]
fn word4(w: &[u8; 4]) -> u64 {
    u64::from(u32::from_le_bytes(*w))
}

/// Two words that, for strings of equal length up to
/// [`FINGERPRINT_EXACT_LEN`], are equal exactly when the strings are
/// (using overlapping loads instead of a `memcmp` call).
#[inline(always)]
fn fp_words(b: &[u8]) -> (u64, u64) {
    if let (Some(first), Some(last)) = (b.first_chunk::<8>(), b.last_chunk::<8>()) {
        return (word8(first), word8(last));
    }
    if let (Some(first), Some(last)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
        return (word4(first) | (word4(last) << 32), 0);
    }
    let lo = match *b {
        [] => 0,
        [a] => u64::from(a),
        [a, b] => u64::from(a) | (u64::from(b) << 8) | (u64::from(b) << 16),
        [a, b, c, ..] => u64::from(a) | (u64::from(b) << 8) | (u64::from(c) << 16),
    };
    (lo, 0)
}

/// Substring test, with a fast path for short needles.
#[inline(never)]
fn contains(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else {
        return true;
    };
    if n.len() > h.len() {
        return false;
    }
    if n.len() > FINGERPRINT_EXACT_LEN {
        return haystack.contains(needle);
    }
    let fp = fp_words(n);
    let last_start = h.len() - n.len();
    h.iter()
        .take(last_start + 1)
        .enumerate()
        .any(|(i, &b)| b == first && h.get(i..i + n.len()).is_some_and(|w| fp_words(w) == fp))
}

/// Membership in a large sorted set, by binary search (kept out of line so
/// the common paths of the matcher stay small).
#[inline(never)]
fn in_large_set(items: &[Lit], text: &str, v: &[u8]) -> bool {
    items.binary_search_by(|lit| lit.bytes(text).cmp(v)).is_ok()
}

/// A string of the canonical text (a label name or a value): where it is,
/// plus its [`fp_words`] for comparisons without a `memcmp` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lit {
    start: usize,
    len: usize,
    lo: u64,
    hi: u64,
}

impl Lit {
    /// The literal `s`, which the canonical text holds at `start`.
    fn new(start: usize, s: &str) -> Lit {
        let (lo, hi) = fp_words(s.as_bytes());
        Lit {
            start,
            len: s.len(),
            lo,
            hi,
        }
    }

    #[inline]
    fn bytes(self, text: &str) -> &[u8] {
        text.as_bytes()
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }

    #[inline]
    fn str(self, text: &str) -> &str {
        text.get(self.start..self.start + self.len)
            .unwrap_or_default()
    }

    /// Whether `v` equals the literal, given `v`'s fingerprint words.
    #[inline(always)]
    fn eq_fp(self, text: &str, v: &[u8], (lo, hi): (u64, u64)) -> bool {
        v.len() == self.len
            && lo == self.lo
            && hi == self.hi
            && (self.len <= FINGERPRINT_EXACT_LEN || self.bytes(text) == v)
    }

    /// Whether `v` equals the literal.
    #[inline(always)]
    fn eq(self, text: &str, v: &[u8]) -> bool {
        v.len() == self.len && self.eq_fp(text, v, fp_words(v))
    }
}

/// The test a [`Instr::Test`] applies to a present label's value (an absent
/// label fails every test before negation). Indices are into
/// [`Program::lits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    Has,
    Eq(u32),
    Contains(u32),
    StartsWith(u32),
    EndsWith(u32),
    /// Value is one of `lits[first..first + count]` (sorted bytewise).
    In {
        first: u32,
        count: u32,
    },
}

/// One instruction; the machine has a single boolean accumulator, initially
/// `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Instr {
    /// `acc = test(value of the label) != negate`. The label is
    /// `lits[key]`, and `slot` its slot when the program uses slots (then
    /// `key == slot`). `!=`
    /// is `Eq` negated and `not in` is `In` negated, which gives them their
    /// "absent ⇒ true" semantics for free.
    Test {
        key: u32,
        slot: u8,
        negate: bool,
        test: Test,
    },
    /// `acc = value` (`all()`, `global()`).
    Const(bool),
    /// Short-circuit of an AND.
    JumpIfFalse(u32),
    /// Short-circuit of an OR.
    JumpIfTrue(u32),
    /// `acc = !acc` for a negated group.
    Not,
}

/// A compiled, flat matching program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Program {
    /// The instructions. When `all_of` is set there are no jumps: the
    /// selector is an AND of tests (or a single test) and matches when
    /// every instruction holds.
    instrs: Vec<Instr>,
    /// Whether the program is a plain conjunction (see `instrs`).
    all_of: bool,
    /// Label names and values referenced by the instructions; when slots
    /// are used, `lits[..slots]` are the distinct label names, slot `i`
    /// being `lits[i]`.
    lits: Vec<Lit>,
    /// Number of slots in use; 0 when there are no labels or more than
    /// [`MAX_SCAN_KEYS`] distinct ones (then slots are not used).
    slots: usize,
    /// The greatest first byte of the slots' label names: a sorted map's
    /// scan can stop at a key starting with a greater byte.
    last_first_byte: u8,
    /// For each label-name length modulo [`LEN_BUCKETS`], the bit mask of
    /// the slots whose name has that length, so the single-pass scan skips
    /// most map entries with one load.
    len_mask: [u16; LEN_BUCKETS],
}

/// The result of compiling a tree.
pub(crate) struct Compiled {
    /// The canonical form immediately followed by the unique ID.
    pub(crate) text: String,
    /// Length of the canonical form within `text`.
    pub(crate) canon_len: usize,
    /// The matching program, whose literals index `text`.
    pub(crate) program: Program,
    /// Whether the tree has a `global()` node.
    pub(crate) contains_global: bool,
}

/// Sizes measured before compiling, so every buffer is allocated once.
#[derive(Default)]
struct Measure {
    text: usize,
    instrs: usize,
    lits: usize,
    global: bool,
}

fn measure(tree: &Tree<'_>) -> Measure {
    let mut m = Measure::default();
    for node in &tree.nodes {
        m.instrs += 1;
        match *node {
            Node::All => m.text += "all()".len(),
            Node::Global => {
                m.global = true;
                m.text += "global()".len();
            }
            Node::Has(label) => {
                m.lits += 1;
                m.text += label.len() + "has()".len();
            }
            Node::Cmp { op, label, value } => {
                m.lits += 2;
                m.text += label.len() + op.text().len() + value.len() + 2;
            }
            Node::Set {
                negate,
                label,
                count,
            } => {
                m.lits += 1;
                let op = if negate { " not in {}" } else { " in {}" };
                m.text += label.len() + op.len() + 2 * count.saturating_sub(1);
            }
            Node::Item(value) => {
                m.instrs -= 1;
                m.lits += 1;
                m.text += value.len() + 2;
            }
            Node::Not => m.text += 1,
            Node::And(0) => m.text += "all()".len(),
            Node::Or(0) => m.text += "!all()".len(),
            Node::And(n) | Node::Or(n) => {
                m.text += 2 + 4 * (n - 1);
                m.instrs += n - 1;
            }
        }
    }
    m
}

/// The distinct label names of `tree` in order of first use, or `None` if
/// there are more than [`MAX_SCAN_KEYS`].
fn distinct_labels<'s>(tree: &Tree<'s>) -> Option<([&'s str; MAX_SCAN_KEYS], usize)> {
    let mut labels = [""; MAX_SCAN_KEYS];
    let mut n = 0;
    for node in &tree.nodes {
        let label = match *node {
            Node::Has(label) | Node::Cmp { label, .. } | Node::Set { label, .. } => label,
            _ => continue,
        };
        if labels.iter().take(n).any(|l| *l == label) {
            continue;
        }
        *labels.get_mut(n)? = label;
        n += 1;
    }
    Some((labels, n))
}

/// Compiles `tree`: canonical text, unique ID and program.
pub(crate) fn compile(tree: &Tree<'_>) -> Compiled {
    let m = measure(tree);
    let (slot_labels, slots) = distinct_labels(tree).unwrap_or(([""; MAX_SCAN_KEYS], 0));
    let mut lits = Vec::with_capacity(m.lits.max(slots));
    // Slot names are filled in where they are first written.
    lits.resize(slots, Lit::new(0, ""));
    let mut c = Compiler {
        text: String::with_capacity(m.text + ID_LEN),
        instrs: Vec::with_capacity(m.instrs),
        lits,
        slots,
        slot_labels,
        slots_written: 0,
        tree,
    };
    let mut cursor = 0;
    c.subtree(&mut cursor);
    let Compiler {
        mut text,
        mut instrs,
        lits,
        ..
    } = c;
    thread_jumps(&mut instrs);
    // An AND of tests (the most common shape) needs no jumps: drop them and
    // evaluate "every instruction holds" instead.
    let end = idx(instrs.len());
    let all_of = instrs.iter().all(|i| match i {
        Instr::Test { .. } | Instr::Const(_) => true,
        Instr::JumpIfFalse(target) => *target == end,
        Instr::JumpIfTrue(_) | Instr::Not => false,
    });
    if all_of {
        instrs.retain(|i| !matches!(i, Instr::JumpIfFalse(_)));
    }

    let canon_len = text.len();
    let digest = Sha224::new()
        .chain_update(ID_PREFIX.as_bytes())
        .chain_update(text.as_bytes())
        .finalize();
    text.push_str(ID_PREFIX);
    URL_SAFE_NO_PAD.encode_string(digest.as_slice(), &mut text);

    let mut len_mask = [0u16; LEN_BUCKETS];
    for (slot, key) in lits.iter().enumerate().take(slots) {
        if let Some(mask) = len_mask.get_mut(key.len % LEN_BUCKETS) {
            *mask |= 1 << slot;
        }
    }
    let last_first_byte = slot_labels
        .iter()
        .take(slots)
        .filter_map(|l| l.bytes().next())
        .max()
        .unwrap_or(0);

    Compiled {
        text,
        canon_len,
        contains_global: m.global,
        program: Program {
            instrs,
            all_of,
            lits,
            slots,
            last_first_byte,
            len_mask,
        },
    }
}

struct Compiler<'t, 's> {
    text: String,
    instrs: Vec<Instr>,
    lits: Vec<Lit>,
    /// Number of slots (0 if slots are not used).
    slots: usize,
    /// The label name of each slot.
    slot_labels: [&'s str; MAX_SCAN_KEYS],
    /// Bit mask of the slots whose literal has been written.
    slots_written: u16,
    tree: &'t Tree<'s>,
}

impl Compiler<'_, '_> {
    /// Writes `label` and returns `(literal index, slot)` for it: with
    /// slots, both are the label's slot (whose literal is recorded where the
    /// label is first written); otherwise a new literal and slot 0.
    fn key(&mut self, label: &str) -> (u32, u8) {
        let slot = self
            .slot_labels
            .iter()
            .take(self.slots)
            .position(|l| *l == label);
        let Some(slot) = slot else {
            return (self.push_lit(label), 0);
        };
        let bit = 1u16 << slot;
        if self.slots_written & bit == 0 {
            self.slots_written |= bit;
            let lit = Lit::new(self.text.len(), label);
            if let Some(l) = self.lits.get_mut(slot) {
                *l = lit;
            }
        }
        self.text.push_str(label);
        (idx(slot), u8::try_from(slot).unwrap_or(0))
    }

    /// Writes `s` and records it as a literal, returning its index.
    fn push_lit(&mut self, s: &str) -> u32 {
        self.lits.push(Lit::new(self.text.len(), s));
        self.text.push_str(s);
        idx(self.lits.len() - 1)
    }

    /// Writes `value` in quotes and records it as a literal, returning its
    /// index.
    fn push_quoted(&mut self, value: &str) -> u32 {
        let q = quote_for(value);
        self.text.push(q);
        let lit = self.push_lit(value);
        self.text.push(q);
        lit
    }

    fn test(&mut self, (key, slot): (u32, u8), test: Test, negate: bool) {
        self.instrs.push(Instr::Test {
            key,
            slot,
            negate,
            test,
        });
    }

    /// Compiles the subtree at `*cursor` (including any leading `Not`s),
    /// advancing past it.
    fn subtree(&mut self, cursor: &mut usize) {
        let mut nots = 0usize;
        while matches!(self.tree.nodes.get(*cursor), Some(Node::Not)) {
            nots += 1;
            *cursor += 1;
            self.text.push('!');
        }
        let before = self.instrs.len();
        let single = self.operand(cursor);
        if nots.is_multiple_of(2) {
            return;
        }
        // Fold the negation into a single-instruction operand.
        match self.instrs.get_mut(before) {
            Some(Instr::Test { negate, .. }) if single => *negate = !*negate,
            Some(Instr::Const(b)) if single => *b = !*b,
            _ => self.instrs.push(Instr::Not),
        }
    }

    /// Compiles the non-`Not` node at `*cursor` and its operands, returning
    /// whether it compiled to a single instruction.
    fn operand(&mut self, cursor: &mut usize) -> bool {
        let Some(&node) = self.tree.nodes.get(*cursor) else {
            return false;
        };
        *cursor += 1;
        match node {
            Node::All | Node::Global => {
                self.text.push_str(if matches!(node, Node::All) {
                    "all()"
                } else {
                    "global()"
                });
                self.instrs.push(Instr::Const(true));
            }
            Node::Has(label) => {
                self.text.push_str("has(");
                let key = self.key(label);
                self.text.push(')');
                self.test(key, Test::Has, false);
            }
            Node::Cmp { op, label, value } => {
                let key = self.key(label);
                self.text.push_str(op.text());
                let lit = self.push_quoted(value);
                let (test, negate) = match op {
                    CmpOp::Eq => (Test::Eq(lit), false),
                    CmpOp::Ne => (Test::Eq(lit), true),
                    CmpOp::Contains => (Test::Contains(lit), false),
                    CmpOp::StartsWith => (Test::StartsWith(lit), false),
                    CmpOp::EndsWith => (Test::EndsWith(lit), false),
                };
                self.test(key, test, negate);
            }
            Node::Set {
                negate,
                label,
                count,
            } => {
                let key = self.key(label);
                self.text
                    .push_str(if negate { " not in {" } else { " in {" });
                let first = idx(self.lits.len());
                let items = self
                    .tree
                    .nodes
                    .get(*cursor..*cursor + count)
                    .unwrap_or_default();
                *cursor += items.len();
                let mut written = 0;
                for item in items {
                    if let Node::Item(v) = *item {
                        if written > 0 {
                            self.text.push_str(", ");
                        }
                        self.push_quoted(v);
                        written += 1;
                    }
                }
                self.text.push('}');
                let count = idx(written);
                self.test(key, Test::In { first, count }, negate);
            }
            // Negations are handled by `subtree` and items by their set; a
            // stray one here is malformed.
            Node::Not | Node::Item(_) => return false,
            Node::And(n) => return self.group(cursor, n, " && ", true),
            Node::Or(n) => return self.group(cursor, n, " || ", false),
        }
        true
    }

    /// Compiles an AND (`is_and`) or OR group of `n` operands with
    /// short-circuit jumps, returning whether it compiled to a single
    /// instruction.
    fn group(&mut self, cursor: &mut usize, n: usize, sep: &str, is_and: bool) -> bool {
        if n == 0 {
            // Empty AND is all(); empty OR matches nothing, rendered !all().
            self.text.push_str(if is_and { "all()" } else { "!all()" });
            self.instrs.push(Instr::Const(is_and));
            return true;
        }
        let start = self.instrs.len();
        self.text.push('(');
        let mut single = false;
        for i in 0..n {
            if i > 0 {
                self.text.push_str(sep);
                self.instrs.push(if is_and {
                    Instr::JumpIfFalse(PENDING)
                } else {
                    Instr::JumpIfTrue(PENDING)
                });
            }
            single = self.subtree_single(cursor);
        }
        self.text.push(')');
        // Nested groups patched their own jumps already, so every pending
        // jump left in our range is ours.
        let end = idx(self.instrs.len());
        for instr in self.instrs.iter_mut().skip(start) {
            if let Instr::JumpIfFalse(t) | Instr::JumpIfTrue(t) = instr
                && *t == PENDING
            {
                *t = end;
            }
        }
        n == 1 && single
    }

    /// Like [`subtree`](Self::subtree), returning whether it compiled to a
    /// single instruction.
    fn subtree_single(&mut self, cursor: &mut usize) -> bool {
        let before = self.instrs.len();
        self.subtree(cursor);
        self.instrs.len() == before + 1
    }
}

/// Retargets jumps that land on other jumps: a `JumpIfFalse` landing on a
/// `JumpIfFalse` can go straight to its target, and one landing on a
/// `JumpIfTrue` can skip it (and vice versa).
fn thread_jumps(instrs: &mut [Instr]) {
    for i in 0..instrs.len() {
        let (mut target, on_false) = match instrs.get(i) {
            Some(Instr::JumpIfFalse(t)) => (*t, true),
            Some(Instr::JumpIfTrue(t)) => (*t, false),
            _ => continue,
        };
        // Targets only move forward, so this terminates.
        loop {
            match instrs.get(target as usize) {
                Some(Instr::JumpIfFalse(t)) if on_false => target = *t,
                Some(Instr::JumpIfTrue(t)) if !on_false => target = *t,
                Some(Instr::JumpIfFalse(_) | Instr::JumpIfTrue(_)) => target += 1,
                _ => break,
            }
        }
        if let Some(Instr::JumpIfFalse(t) | Instr::JumpIfTrue(t)) = instrs.get_mut(i) {
            *t = target;
        }
    }
}

impl Program {
    /// Evaluates the program against `labels`; `text` is the selector's
    /// canonical text that the literals index.
    #[inline]
    pub(crate) fn matches<L: Labels + ?Sized>(&self, text: &str, labels: &L) -> bool {
        let slots = self.slots;
        if slots > 0 && labels.len_hint().is_some_and(|n| n <= MAX_SCAN_LABELS) {
            let scanned = match (slots, labels.keys_sorted()) {
                (..=4, false) => self.scan::<4, false, L>(text, labels),
                (..=4, true) => self.scan::<4, true, L>(text, labels),
                (..=8, false) => self.scan::<8, false, L>(text, labels),
                (..=8, true) => self.scan::<8, true, L>(text, labels),
                (_, false) => self.scan::<MAX_SCAN_KEYS, false, L>(text, labels),
                (_, true) => self.scan::<MAX_SCAN_KEYS, true, L>(text, labels),
            };
            if let Some(result) = scanned {
                return result;
            }
        }
        self.run(text, |key, _| {
            self.lits
                .get(key as usize)
                .and_then(|k| labels.get(k.str(text)))
        })
    }

    /// Fills `N` slots in one pass over the label map, then runs. Returns
    /// `None` if the map does not support iteration.
    ///
    /// The pass stops early once every slot is filled, or, for a map whose
    /// keys come `SORTED`, once a key's first byte is past the first byte of
    /// the selector's greatest label name.
    #[inline]
    fn scan<const N: usize, const SORTED: bool, L: Labels + ?Sized>(
        &self,
        text: &str,
        labels: &L,
    ) -> Option<bool> {
        let mut values: [Option<&str>; N] = [None; N];
        let mut missing = self.slots;
        let (len_mask, last_first_byte) = (&self.len_mask, self.last_first_byte);
        let supported = labels.for_each_label(&mut |k, v| {
            let k = k.as_bytes();
            if SORTED && k.first().is_some_and(|b| *b > last_first_byte) {
                return ControlFlow::Break(());
            }
            let mut mask = len_mask.get(k.len() % LEN_BUCKETS).copied().unwrap_or(0);
            if mask == 0 {
                return ControlFlow::Continue(());
            }
            let first = k.first().copied().unwrap_or(0);
            let mut fp = None;
            while mask != 0 {
                let slot = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let Some(key) = self.lits.get(slot) else {
                    continue;
                };
                // The low byte of a fingerprint is the first byte: check it
                // before fingerprinting the map's key.
                if key.lo as u8 != first {
                    continue;
                }
                if key.eq_fp(text, k, *fp.get_or_insert_with(|| fp_words(k))) {
                    if let Some(value) = values.get_mut(slot) {
                        *value = Some(v);
                    }
                    missing = missing.saturating_sub(1);
                    return if missing == 0 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    };
                }
            }
            ControlFlow::Continue(())
        });
        supported.then(|| self.run(text, |_, slot| values.get(slot).copied().flatten()))
    }

    /// The instruction loop. `lookup(key, slot)` returns the value of the
    /// label a test reads.
    #[inline(always)]
    fn run<'v>(&self, text: &str, lookup: impl Fn(u32, usize) -> Option<&'v str>) -> bool {
        if self.all_of {
            return self.instrs.iter().all(|instr| match instr {
                Instr::Test {
                    key,
                    slot,
                    negate,
                    test,
                } => self.test(text, *test, lookup(*key, usize::from(*slot))) != *negate,
                Instr::Const(value) => *value,
                Instr::JumpIfFalse(_) | Instr::JumpIfTrue(_) | Instr::Not => true,
            });
        }
        let mut acc = true;
        let mut pc = 0;
        while let Some(instr) = self.instrs.get(pc) {
            pc += 1;
            match instr {
                Instr::Test {
                    key,
                    slot,
                    negate,
                    test,
                } => {
                    acc = self.test(text, *test, lookup(*key, usize::from(*slot))) != *negate;
                }
                Instr::Const(value) => acc = *value,
                Instr::JumpIfFalse(target) => {
                    if !acc {
                        pc = *target as usize;
                    }
                }
                Instr::JumpIfTrue(target) => {
                    if acc {
                        pc = *target as usize;
                    }
                }
                Instr::Not => acc = !acc,
            }
        }
        acc
    }

    #[inline(always)]
    fn lit(&self, i: u32) -> Option<Lit> {
        self.lits.get(i as usize).copied()
    }

    #[inline(always)]
    fn test(&self, text: &str, test: Test, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return false;
        };
        let v = value.as_bytes();
        match test {
            Test::Has => true,
            Test::Eq(i) => self.lit(i).is_some_and(|lit| lit.eq(text, v)),
            Test::Contains(i) => self
                .lit(i)
                .is_some_and(|lit| contains(value, lit.str(text))),
            Test::StartsWith(i) => self
                .lit(i)
                .is_some_and(|lit| v.get(..lit.len).is_some_and(|p| lit.eq(text, p))),
            Test::EndsWith(i) => self.lit(i).is_some_and(|lit| {
                v.len()
                    .checked_sub(lit.len)
                    .and_then(|at| v.get(at..))
                    .is_some_and(|p| lit.eq(text, p))
            }),
            Test::In { first, count } => {
                let (first, count) = (first as usize, count as usize);
                let items = self.lits.get(first..first + count).unwrap_or_default();
                if count <= SMALL_SET {
                    let fp = fp_words(v);
                    items.iter().any(|lit| lit.eq_fp(text, v, fp))
                } else {
                    in_large_set(items, text, v)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse_tree;
    use super::*;

    fn compiled(s: &str) -> Compiled {
        compile(&parse_tree(s, false).expect("valid selector"))
    }

    fn program(s: &str) -> Vec<Instr> {
        compiled(s).program.instrs
    }

    #[test]
    fn negations_fold_into_tests() {
        assert!(matches!(
            program("!has(a)").as_slice(),
            [Instr::Test {
                test: Test::Has,
                negate: true,
                ..
            }]
        ));
        assert!(matches!(
            program("!all()").as_slice(),
            [Instr::Const(false)]
        ));
        assert!(matches!(
            program("a != 'x'").as_slice(),
            [Instr::Test {
                test: Test::Eq(_),
                negate: true,
                ..
            }]
        ));
        assert!(matches!(
            program("!a in {'x', 'y'}").as_slice(),
            [Instr::Test {
                test: Test::In { count: 2, .. },
                negate: true,
                ..
            }]
        ));
        // A negated group keeps an explicit Not.
        assert_eq!(program("!(has(a) && has(b))").last(), Some(&Instr::Not));
    }

    #[test]
    fn nested_jumps_are_threaded() {
        // ((a && b) && c): the inner AND's jump goes straight to the end,
        // which makes it a plain conjunction without jumps.
        let c = compiled("(has(a) && has(b)) && has(c)");
        assert!(c.program.all_of);
        assert_eq!(c.program.instrs.len(), 3);
        let c = compiled("(has(a) && has(b)) || has(c)");
        assert!(!c.program.all_of);
        let p = c.program.instrs;
        assert_eq!(p.len(), 5);
        assert_eq!(p.get(1), Some(&Instr::JumpIfFalse(4)));
        assert_eq!(p.get(3), Some(&Instr::JumpIfTrue(5)));
        // (a || b) && c: the OR's true-jump lands on the AND's false-jump
        // and skips it.
        let p = program("(has(a) || has(b)) && has(c)");
        assert_eq!(p.get(1), Some(&Instr::JumpIfTrue(4)));
    }

    #[test]
    fn keys_get_slots() {
        let c = compiled("a == 'x' || (has(a) && b in {'y'})");
        assert_eq!(c.program.slots, 2);
        // Slot i's name is lits[i], written where it first appears.
        let names: Vec<&str> = c
            .program
            .lits
            .iter()
            .take(2)
            .map(|l| l.str(&c.text))
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(c.program.lits.first().map(|l| l.start), Some(1));
        let many: Vec<String> = (0..40).map(|i| format!("has(k{})", i % 16)).collect();
        assert_eq!(compiled(&many.join(" || ")).program.slots, 16);
        let many: Vec<String> = (0..40).map(|i| format!("has(k{})", i % 17)).collect();
        assert_eq!(compiled(&many.join(" || ")).program.slots, 0);
        assert_eq!(compiled("all()").program.slots, 0);
    }

    #[test]
    fn measured_capacity_is_exact() {
        for s in [
            "a == 'x' && b in {'p', 'q', 'p'} && !has(c) || d not in {} || e contains \"'\"",
            "",
            "global() && x starts with 'y' && y ends with 'z' && !(!all())",
        ] {
            let tree = parse_tree(s, false).expect("valid");
            let m = measure(&tree);
            let c = compile(&tree);
            assert_eq!(m.text, c.canon_len, "selector {s:?}");
            assert_eq!(c.text.len(), c.canon_len + ID_LEN);
            assert_eq!(c.text.capacity(), c.text.len(), "selector {s:?}");
            assert!(c.program.lits.len() <= m.lits, "selector {s:?}");
        }
    }

    #[test]
    fn fingerprints_are_exact_for_short_strings() {
        let words = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abcdefgh",
            "abcdefghijklmnop",
        ];
        for a in words {
            for b in words {
                if a.len() == b.len() {
                    assert_eq!(fp_words(a.as_bytes()) == fp_words(b.as_bytes()), a == b);
                }
            }
        }
        // Changing any single byte of a string up to 16 bytes changes its
        // fingerprint.
        for len in 1..=FINGERPRINT_EXACT_LEN {
            let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            for at in 0..len {
                let mut other = base.clone();
                if let Some(b) = other.get_mut(at) {
                    *b = b'Z';
                }
                assert_ne!(fp_words(&base), fp_words(&other), "len {len}, byte {at}");
            }
        }
        assert_ne!(fp_words(b"abd"), fp_words(b"abc"));
        assert_ne!(fp_words(b"abcdefgX"), fp_words(b"abcdefgh"));
        assert_ne!(fp_words(b"aXcdefghijklmnop"), fp_words(b"abcdefghijklmnop"));
        assert!(contains("hello", "ell"));
        assert!(contains("hello", ""));
        assert!(!contains("hello", "elo"));
        assert!(contains("abcabcabd", "abcabd"));
        assert!(contains(&"x".repeat(40), &"x".repeat(20)));
    }
}
