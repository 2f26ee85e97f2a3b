//! An encoding's token table (token bytes → merge rank) and byte-pair counting over it: what
//! counting needs and nothing more (no decoder, no token ids kept).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

/// Token bytes → rank, the keys borrowed from the blob compiled into the binary.
pub(super) struct Ranks {
    map: FxHashMap<&'static [u8], u32>,
}

/// The `(bytes, rank)` records of a blob, up to the first one cut short.
fn records(blob: &'static [u8]) -> impl Iterator<Item = (&'static [u8], u32)> {
    let mut rest = blob;
    std::iter::from_fn(move || {
        let rank = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
        let len = usize::from(u16::from_le_bytes(rest.get(4..6)?.try_into().ok()?));
        let bytes = rest.get(6..6 + len)?;
        rest = &rest[6 + len..];
        Some((bytes, rank))
    })
}

/// Pieces up to this long merge in a quadratic pass on the stack; longer ones use a heap.
const SHORT: usize = 128;

impl Ranks {
    /// Reads a blob of `rank (u32 LE), length (u16 LE), bytes` records (see `build.rs`).
    /// The table is sized once for the records counted: a table grown as it fills, or shrunk
    /// afterwards, leaves its earlier, larger copies freed, and the allocator kept those
    /// pages (12.6 MB for o200k) resident.
    pub(super) fn from_blob(blob: &'static [u8]) -> Self {
        let mut map = FxHashMap::default();
        map.reserve(records(blob).count());
        map.extend(records(blob));
        Self { map }
    }

    /// How many tokens `piece` (one pre-tokenized piece) encodes to.
    #[inline]
    pub(super) fn count(&self, piece: &[u8]) -> u64 {
        if piece.len() <= 1 || self.map.contains_key(piece) {
            return u64::from(!piece.is_empty());
        }
        if piece.len() <= SHORT {
            self.merge_short(piece)
        } else {
            self.merge_long(piece)
        }
    }

    fn rank(&self, bytes: &[u8]) -> u32 {
        self.map.get(bytes).copied().unwrap_or(u32::MAX)
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
