//! Counts `o200k_base` tokens without a regex engine: tiktoken's split pattern walked by hand,
//! each piece looked up whole (most are one token) and byte-pair merged only when it is not.
//!
//! The pattern (tiktoken's `O200K_BASE_PAT_STR`), its alternatives tried in order at each
//! position as a backtracking engine does:
//!
//! 1. `P? A* B+ C?`  a word with an optional leading `P`, ending in lower-case letters
//! 2. `P? A+ B* C?`  a word of upper-case letters
//! 3. `\p{N}{1,3}`   up to three digits
//! 4. ` ?Q+[\r\n/]*` punctuation, with an optional leading space and trailing line breaks
//! 5. `\s*[\r\n]+`   whitespace up to its last line break
//! 6. `\s+(?!\S)`    whitespace not followed by text (all but its last character, or to the end)
//! 7. `\s+`          whitespace
//!
//! with `A` = `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`, `B` = `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`,
//! `P` = `[^\r\n\p{L}\p{N}]`, `Q` = `[^\s\p{L}\p{N}]` and `C` one of the contractions
//! `'s 't 're 've 'm 'll 'd` in any case. The tests check every count against tiktoken.

use super::classes::{self, LETTER, LOWER, NUMBER, SPACE, UPPER};
use super::ranks::Ranks;

static RANKS: Ranks = Ranks::new(
    include_bytes!(concat!(env!("OUT_DIR"), "/o200k.slots")),
    include_bytes!(concat!(env!("OUT_DIR"), "/o200k.bytes")),
);

/// Loads the Unicode classes now instead of on the first request (the token table, compiled
/// in, needs no loading).
pub(super) fn warm() {
    let _ = classes::of('a');
}

/// Tokens of `text` in `o200k_base`, exactly as tiktoken's `count_ordinary` counts them.
pub(super) fn count(text: &str) -> u64 {
    let ranks = &RANKS;
    let bytes = text.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < bytes.len() {
        let end = next_piece(text, i);
        n += ranks.count(&bytes[i..end]);
        i = end;
    }
    n
}

/// The character at byte `i` (a character boundary), its length in bytes and its class flags;
/// none past the end. ASCII, most of most prompts, skips decoding and the Unicode table.
/// Inlined into every scanning loop: a call per character doubled the cost of counting.
#[allow(clippy::inline_always)]
#[inline(always)]
fn flags_at(s: &str, i: usize) -> Option<(char, usize, u8)> {
    let b = *s.as_bytes().get(i)?;
    if b < 0x80 {
        return Some((char::from(b), 1, classes::of_ascii(b)));
    }
    let c = s.get(i..)?.chars().next()?;
    Some((c, c.len_utf8(), classes::of(c)))
}

/// `[^\r\n\p{L}\p{N}]`.
fn is_p(c: char, f: u8) -> bool {
    c != '\r' && c != '\n' && f & (LETTER | NUMBER) == 0
}

/// `[^\s\p{L}\p{N}]`.
fn is_q(f: u8) -> bool {
    f & (SPACE | LETTER | NUMBER) == 0
}

/// Where the piece starting at byte `i` (a character boundary before the end) ends.
fn next_piece(s: &str, i: usize) -> usize {
    let Some((c, len, f)) = flags_at(s, i) else {
        return s.len();
    };
    let p = is_p(c, f);
    // 1, then 2: with the optional leading character taken first, then without it
    if p {
        if let Some(e) = lower_word(s, i + len) {
            return e;
        }
    }
    if let Some(e) = lower_word(s, i) {
        return e;
    }
    if p {
        if let Some(e) = upper_word(s, i + len) {
            return e;
        }
    }
    if let Some(e) = upper_word(s, i) {
        return e;
    }
    // 3
    if f & NUMBER != 0 {
        let mut e = i + len;
        for _ in 0..2 {
            match flags_at(s, e) {
                Some((_, l, f)) if f & NUMBER != 0 => e += l,
                _ => break,
            }
        }
        return e;
    }
    // 4
    if c == ' ' {
        if let Some((_, l, f)) = flags_at(s, i + 1) {
            if is_q(f) {
                return punctuation(s, i + 1 + l);
            }
        }
    }
    if is_q(f) {
        return punctuation(s, i + len);
    }
    whitespace(s, i).max(i + len)
}

/// `A* B+ C?` from `start`: `A*` takes all it can and gives back characters until `B+`
/// can match, so the word ends after the last `B` character it can reach.
fn lower_word(s: &str, start: usize) -> Option<usize> {
    let mut j = start;
    // the last character of the A-run that is also in B, and its end
    let mut last_b = None;
    while let Some((_, l, f)) = flags_at(s, j) {
        if f & UPPER == 0 {
            break;
        }
        j += l;
        if f & LOWER != 0 {
            last_b = Some(j);
        }
    }
    match flags_at(s, j) {
        Some((_, l, f)) if f & LOWER != 0 => {
            let mut e = j + l;
            while let Some((_, l, f)) = flags_at(s, e) {
                if f & LOWER == 0 {
                    break;
                }
                e += l;
            }
            Some(contraction(s, e))
        }
        _ => last_b.map(|e| contraction(s, e)),
    }
}

/// `A+ B* C?` from `start`.
fn upper_word(s: &str, start: usize) -> Option<usize> {
    let (_, l, f) = flags_at(s, start)?;
    if f & UPPER == 0 {
        return None;
    }
    let mut e = start + l;
    for want in [UPPER, LOWER] {
        while let Some((_, l, f)) = flags_at(s, e) {
            if f & want == 0 {
                break;
            }
            e += l;
        }
    }
    Some(contraction(s, e))
}

/// After a word ending at `e`: `e` extended over `'s 't 're 've 'm 'll 'd` in any case (the
/// regex's case folding also lets `ſ`, long s, stand for `s`).
fn contraction(s: &str, e: usize) -> usize {
    let rest = &s.as_bytes()[e..];
    if rest.first() != Some(&b'\'') {
        return e;
    }
    let lower = |i: usize| rest.get(i).map(u8::to_ascii_lowercase);
    match lower(1) {
        Some(b's' | b't' | b'm' | b'd') => e + 2,
        Some(b'r' | b'v') if lower(2) == Some(b'e') => e + 3,
        Some(b'l') if lower(2) == Some(b'l') => e + 3,
        _ if rest[1..].starts_with("ſ".as_bytes()) => e + 1 + 'ſ'.len_utf8(),
        _ => e,
    }
}

/// `Q+[\r\n/]*` continued from `e`, just after its first `Q`.
fn punctuation(s: &str, mut e: usize) -> usize {
    while let Some((_, l, f)) = flags_at(s, e) {
        if !is_q(f) {
            break;
        }
        e += l;
    }
    while let Some(b'\r' | b'\n' | b'/') = s.as_bytes().get(e) {
        e += 1;
    }
    e
}

/// Alternatives 5, 6 and 7 over the whitespace run starting at `i`.
fn whitespace(s: &str, i: usize) -> usize {
    let mut j = i;
    let mut chars = 0;
    let mut last_start = i;
    let mut after_last_break = None;
    while let Some((c, l, f)) = flags_at(s, j) {
        if f & SPACE == 0 {
            break;
        }
        if c == '\r' || c == '\n' {
            after_last_break = Some(j + l);
        }
        last_start = j;
        j += l;
        chars += 1;
    }
    match after_last_break {
        Some(e) => e,
        None if j == s.len() || chars == 1 => j,
        None => last_start,
    }
}
