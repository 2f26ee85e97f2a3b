//! An encoding's token table (token bytes → merge rank) and byte-pair counting over it: what
//! counting needs and nothing more (no decoder, no token ids kept).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::slot_hash::{self, Slot, SLOTS};

/// Token bytes → rank: a hash table built by `build.rs` and compiled into the binary, read in
/// place. It costs no heap and no start-up work, and only the pages lookups touch are
/// resident (the `FxHashMap` it replaces took 6.5 MB of heap and a build at start-up).
pub(super) struct Ranks {
    /// `SLOTS` little-endian u64 slots (`slot_hash.rs`); `include_bytes!` gives no alignment,
    /// so each is read from its bytes. The array's type checks the file's size at compile time.
    slots: &'static [u8; SLOTS * 8],
    /// Every token's bytes end to end; slots point into it.
    bytes: &'static [u8],
}

/// Pieces up to this long merge in a quadratic pass on the stack; longer ones use a heap.
const SHORT: usize = 128;

/// No token is longer (o200k's longest has 128 bytes; a slot's length field holds 255).
const LONGEST: usize = 255;

/// `a == b` for slices of the same length, without a call to `memcmp` for short ones (a
/// token's bytes, when tag and length matched): two overlapping loads cover them.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    let u32_at = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => u32_at(a, 0) == u32_at(b, 0) && u32_at(a, n - 4) == u32_at(b, n - 4),
        8..=16 => u64_at(a, 0) == u64_at(b, 0) && u64_at(a, n - 8) == u64_at(b, n - 8),
        _ => a == b,
    }
}

impl Ranks {
    /// The table `build.rs` writes: its slots and the token bytes they point into.
    pub(super) const fn new(slots: &'static [u8; SLOTS * 8], bytes: &'static [u8]) -> Self {
        Self { slots, bytes }
    }

    /// How many tokens `piece` (one pre-tokenized piece) encodes to.
    #[inline]
    pub(super) fn count(&self, piece: &[u8]) -> u64 {
        if piece.len() <= 1 || self.rank(piece) != u32::MAX {
            return u64::from(!piece.is_empty());
        }
        if piece.len() <= SHORT {
            self.merge_short(piece)
        } else {
            self.merge_long(piece)
        }
    }

    /// The rank of the token `bytes`, `u32::MAX` if it is none. Always inlined, so that the
    /// walk (`slot_hash::find`) runs inside the merge loops rather than as a call per pair.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn rank(&self, bytes: &[u8]) -> u32 {
        if bytes.len() > LONGEST {
            return u32::MAX;
        }
        let token = |s: Slot| self.bytes.get(s.offset()..s.offset() + s.len());
        slot_hash::find(
            slot_hash::hash(bytes),
            bytes.len(),
            |i| self.slot(i),
            |s| token(s).is_some_and(|t| same(t, bytes)),
        )
        .map_or(u32::MAX, Slot::rank)
    }

    /// Slot `i`; `i % SLOTS` lets the compiler drop the bounds check.
    #[inline]
    fn slot(&self, i: usize) -> Slot {
        let at = (i % SLOTS) * 8;
        Slot(u64::from_le_bytes(
            self.slots[at..at + 8].try_into().expect("8 bytes"),
        ))
    }

    /// Byte-pair merging: repeatedly join the adjacent pair whose joined bytes have the lowest
    /// rank (the leftmost on a tie) until no pair is a token; the parts left are the tokens.
    /// Short pieces keep their parts on the stack and find the lowest pair by a linear scan.
    fn merge_short(&self, piece: &[u8]) -> u64 {
        let n = piece.len();
        // starts[i]: where part i begins, starts[parts] the piece's end (SHORT fits in u8)
        let mut starts = [0u8; SHORT + 1];
        // ranks[i]: rank of parts i and i+1 joined
        let mut ranks = [u32::MAX; SHORT];
        for (i, s) in starts.iter_mut().enumerate().take(n + 1) {
            *s = i as u8;
        }
        for (i, r) in ranks.iter_mut().enumerate().take(n - 1) {
            *r = self.rank(&piece[i..i + 2]);
        }
        let mut parts = n;
        let span = |starts: &[u8], from: usize, to: usize| {
            &piece[usize::from(starts[from])..usize::from(starts[to])]
        };
        loop {
            let mut best = u32::MAX;
            let mut at = 0;
            for (i, &r) in ranks[..parts - 1].iter().enumerate() {
                if r < best {
                    best = r;
                    at = i;
                }
            }
            if best == u32::MAX {
                break;
            }
            // parts at and at+1 join: drop the boundary between them
            starts.copy_within(at + 2..=parts, at + 1);
            ranks.copy_within(at + 1..parts - 1, at);
            parts -= 1;
            if at + 1 < parts {
                ranks[at] = self.rank(span(&starts, at, at + 2));
            }
            if at > 0 {
                ranks[at - 1] = self.rank(span(&starts, at - 1, at + 1));
            }
            if parts == 1 {
                break;
            }
        }
        parts as u64
    }

    /// The same merging for long pieces, with a heap of candidate pairs: `O(n log n)`, so a
    /// long run of punctuation or spaces cannot make counting quadratic.
    fn merge_long(&self, piece: &[u8]) -> u64 {
        let n = piece.len();
        // parts are named by their start; next[s] is the next part's start (n at the end)
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        // a candidate: (rank, start, end) of two adjacent parts joined
        let candidate = |s: usize, end: usize| -> Option<Reverse<(u32, usize, usize)>> {
            let r = self.rank(&piece[s..end]);
            (r != u32::MAX).then_some(Reverse((r, s, end)))
        };
        let mut heap: BinaryHeap<_> = (0..n - 1).filter_map(|s| candidate(s, s + 2)).collect();
        let mut parts = n;
        while let Some(Reverse((_, s, end))) = heap.pop() {
            // stale when either part has merged since: the pair no longer spans s..end
            let mid = next[s];
            if !alive[s] || mid >= n || next[mid] != end {
                continue;
            }
            alive[mid] = false;
            next[s] = end;
            if end < n {
                prev[end] = s;
                heap.extend(candidate(s, next[end]));
            }
            parts -= 1;
            let p = prev[s];
            if p < n {
                heap.extend(candidate(p, end));
            }
        }
        parts as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_in_the_table_is_found_with_its_rank() {
        let ranks = Ranks::new(
            include_bytes!(concat!(env!("OUT_DIR"), "/o200k.slots")),
            include_bytes!(concat!(env!("OUT_DIR"), "/o200k.bytes")),
        );
        let mut seen = vec![false; SLOTS];
        for i in 0..SLOTS {
            let slot = ranks.slot(i);
            if slot.0 == 0 {
                continue;
            }
            let token = &ranks.bytes[slot.offset()..slot.offset() + slot.len()];
            assert_eq!(ranks.rank(token), slot.rank(), "{token:?}");
            assert!(!seen[slot.rank() as usize], "rank {} twice", slot.rank());
            seen[slot.rank() as usize] = true;
        }
        assert!(seen.iter().filter(|&&s| s).count() > 190_000);
        // a token with a byte more or less is another piece, and none is the empty one
        assert_eq!(ranks.rank(b" the"), 290);
        assert_eq!(ranks.rank(b" thexq"), u32::MAX);
        assert_eq!(ranks.rank(b""), u32::MAX);
        assert_eq!(ranks.rank(&[b' '; 300]), u32::MAX);
    }

    #[test]
    fn same_compares_every_byte() {
        let a: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            assert!(same(&a[..n], &a[..n]));
            for i in 0..n {
                let mut b = a[..n].to_vec();
                b[i] ^= 0x80;
                assert!(!same(&a[..n], &b), "length {n}, byte {i}");
            }
        }
        assert!(!same(b"ab", b"abc"));
    }
}
