//! The Unicode classes tiktoken's `o200k_base` pattern splits text by, one table lookup per character.

use std::sync::LazyLock;

/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`: what may start a word (upper case and caseless letters).
pub(super) const UPPER: u8 = 1;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`: what continues a word (lower case and caseless letters).
pub(super) const LOWER: u8 = 2;
/// `\p{L}`.
pub(super) const LETTER: u8 = 4;
/// `\p{N}`.
pub(super) const NUMBER: u8 = 8;
/// `\s` (Unicode `White_Space`), as the regex crate reads it.
pub(super) const SPACE: u8 = 16;

/// The pattern's classes, with the regex crate's own definitions so the split matches tiktoken's.
const CLASSES: [(u8, &str); 5] = [
    (UPPER, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
    (LOWER, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
    (LETTER, r"\p{L}"),
    (NUMBER, r"\p{N}"),
    (SPACE, r"\s"),
];

/// Flags of every character: a direct table for the Basic Multilingual Plane, ranges above it.
struct Table {
    bmp: Box<[u8]>,
    /// `(first, last, flags)`, sorted and disjoint.
    astral: Vec<(u32, u32, u8)>,
}

static TABLE: LazyLock<Table> = LazyLock::new(build);

/// The flags of ASCII, without the table's lazy initialisation (a test checks it against it).
const ASCII: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = match b as u8 {
            b'A'..=b'Z' => UPPER | LETTER,
            b'a'..=b'z' => LOWER | LETTER,
            b'0'..=b'9' => NUMBER,
            b'\t'..=b'\r' | b' ' => SPACE,
            _ => 0,
        };
        b += 1;
    }
    t
};

/// The class flags of an ASCII byte (below 0x80).
#[inline]
pub(super) fn of_ascii(b: u8) -> u8 {
    ASCII[usize::from(b & 0x7f)]
}

/// The class flags of `c`.
#[inline]
pub(super) fn of(c: char) -> u8 {
    if c.is_ascii() {
        return of_ascii(c as u8);
    }
    let t = &*TABLE;
    let cp = c as u32;
    match t.bmp.get(cp as usize) {
        Some(f) => *f,
        None => t
            .astral
            .binary_search_by(|&(lo, hi, _)| {
                if hi < cp {
                    std::cmp::Ordering::Less
                } else if lo > cp {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .map_or(0, |i| t.astral[i].2),
    }
}

fn build() -> Table {
    let mut bmp = vec![0u8; 0x1_0000].into_boxed_slice();
    let mut marks: Vec<(u32, u8)> = Vec::new();
    for (flag, pattern) in CLASSES {
        for (lo, hi) in ranges(pattern) {
            for cp in lo..=hi.min(0xFFFF) {
                bmp[cp as usize] |= flag;
            }
            if hi > 0xFFFF {
                // boundaries where the astral flags change
                marks.push((lo.max(0x1_0000), flag));
                marks.push((hi + 1, flag));
            }
        }
    }
    Table {
        bmp,
        astral: astral_ranges(&marks),
    }
}

/// The code point ranges of a one-class pattern, from the regex crate's Unicode tables.
fn ranges(pattern: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::Parser::new()
        .parse(pattern)
        .expect("the class patterns are valid");
    match hir.kind() {
        regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(c)) => c
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        other => unreachable!("{pattern} is a character class, not {other:?}"),
    }
}

/// Disjoint `(first, last, flags)` ranges above the BMP from per-flag range boundaries (each
/// boundary toggles its flag: on at a range's start, off after its end), in one sweep.
fn astral_ranges(marks: &[(u32, u8)]) -> Vec<(u32, u32, u8)> {
    let mut marks = marks.to_vec();
    marks.sort_unstable();
    let mut out = Vec::new();
    let mut flags = 0u8;
    let mut i = 0;
    while i < marks.len() {
        let at = marks[i].0;
        while i < marks.len() && marks[i].0 == at {
            flags ^= marks[i].1;
            i += 1;
        }
        if let Some(&(next, _)) = marks.get(i) {
            if flags != 0 {
                out.push((at, next - 1, flags));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_shortcut_matches_the_unicode_table() {
        for b in 0u8..128 {
            assert_eq!(of_ascii(b), TABLE.bmp[usize::from(b)], "byte {b:#x}");
        }
    }

    #[test]
    fn classes_follow_unicode() {
        assert_eq!(of('a'), LOWER | LETTER);
        assert_eq!(of('Q'), UPPER | LETTER);
        assert_eq!(of('ж'), LOWER | LETTER);
        assert_eq!(
            of('中'),
            UPPER | LOWER | LETTER,
            "caseless letters are both"
        );
        assert_eq!(
            of('\u{301}'),
            UPPER | LOWER,
            "a combining mark is both, not a letter"
        );
        assert_eq!(of('7'), NUMBER);
        assert_eq!(of('Ⅻ'), NUMBER, "letter-like numerals are numbers");
        assert_eq!(of(' '), SPACE);
        assert_eq!(of('\u{a0}'), SPACE);
        assert_eq!(of('\n'), SPACE);
        assert_eq!(of('!'), 0);
        assert_eq!(of('😀'), 0);
        assert_eq!(
            of('𝐀'),
            UPPER | LETTER,
            "mathematical bold A, above the BMP"
        );
        assert_eq!(of('𝟎'), NUMBER, "mathematical bold digit zero");
        assert_eq!(
            of('𠀀'),
            UPPER | LOWER | LETTER,
            "a CJK ideograph above the BMP"
        );
    }
}
