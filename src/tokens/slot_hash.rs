//! The token table's hash and slot format, one definition shared by `build.rs`, which writes
//! the table, and `ranks.rs`, which reads it in place: the two must agree bit for bit.
//!
//! The table is `SLOTS` little-endian u64 slots, 0 for an empty one, filled by Robin Hood
//! linear probing from a token's home slot. A slot packs, low bits first: the token's rank
//! (18 bits), its length (8), where its bytes start in the bytes blob (21), how far the slot is
//! from the token's home (`disp`, 6) and a tag of 11 more hash bits.

/// log2 of the slot count: 2^18 slots hold o200k's ~200k tokens at a load of 0.76.
pub(crate) const BITS: u32 = 18;
/// How many slots the table has.
pub(crate) const SLOTS: usize = 1 << BITS;

const RANK_BITS: u32 = 18;
const LEN_BITS: u32 = 8;
const OFFSET_BITS: u32 = 21;
const DISP_BITS: u32 = 6;
const TAG_BITS: u32 = 11;
const LEN_SHIFT: u32 = RANK_BITS;
const OFFSET_SHIFT: u32 = LEN_SHIFT + LEN_BITS;
const DISP_SHIFT: u32 = OFFSET_SHIFT + OFFSET_BITS;
const TAG_SHIFT: u32 = DISP_SHIFT + DISP_BITS;
const _: () = assert!(TAG_SHIFT + TAG_BITS == 64);
/// The bits a lookup compares before any bytes: tag, length and distance from home.
const KEY_MASK: u64 = !((1 << RANK_BITS) - 1) & !(((1 << OFFSET_BITS) - 1) << OFFSET_SHIFT);
const DISP_MASK: u64 = ((1 << DISP_BITS) - 1) << DISP_SHIFT;

/// The farthest `build.rs` lets a token sit from its home slot (o200k gives 18), below what
/// `disp` can hold: a walk stops by then whatever it looks for, so it needs no bound of its own.
pub(crate) const MAX_PROBE: usize = 32;
const _: () = assert!(MAX_PROBE < (1 << DISP_BITS) - 1);

/// The multiplier of rustc-hash 2 (FxHash): odd, with well spread bits.
const K: u64 = 0xf135_7aea_2e62_a9c5;

fn mix(h: u64, word: u64) -> u64 {
    (h.rotate_left(5) ^ word).wrapping_mul(K)
}

/// FxHash-style hash of a token's bytes, one multiply per 8 bytes: pieces are short (most
/// lookups are 2 to 10 bytes) and the table is fixed, so speed matters and flooding does not.
/// Short strings are read as overlapping words (with the length mixed in, they still tell
/// every string apart) so that no byte-by-byte loop or copy is needed.
#[inline]
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    let half = |i: usize| {
        u64::from(u32::from_le_bytes(
            bytes[i..i + 4].try_into().expect("4 bytes"),
        ))
    };
    let h = (n as u64).wrapping_mul(K);
    if n > 8 {
        let mut h = h;
        let mut i = 0;
        while i + 8 < n {
            h = mix(h, word(i));
            i += 8;
        }
        mix(h, word(n - 8))
    } else if n >= 4 {
        mix(h, half(0) | half(n - 4) << 32)
    } else if n > 0 {
        let b = |i: usize| u64::from(bytes[i]);
        mix(h, b(0) | b(n / 2) << 8 | b(n - 1) << 16)
    } else {
        h
    }
}

/// The slot a token with hash `h` is looked for first: the top bits, the best mixed.
#[inline]
pub(crate) fn home(h: u64) -> usize {
    (h >> (64 - BITS)) as usize
}

/// The lookup's walk, shared so that `build.rs` checks every token is found by the very walk
/// the counter runs: from the home slot of hash `h`, the first slot whose tag, length and
/// distance from home match those of the token looked for (`len` bytes long) and for which
/// `is_it` (a comparison of bytes) holds. It stops at an empty slot or at one whose token sits
/// nearer its home than the walk has come: in Robin Hood order the token looked for would
/// have taken that slot. As no token sits more than `MAX_PROBE` slots from home, every walk
/// stops within `MAX_PROBE + 1` slots. Always inlined: as a call, counting Russian text took
/// a sixth more instructions (callgrind, `benches/tokens.rs`).
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn find(
    h: u64,
    len: usize,
    slot_at: impl Fn(usize) -> Slot,
    is_it: impl Fn(Slot) -> bool,
) -> Option<Slot> {
    let mut i = home(h);
    let mut want = Slot::new(h, len, 0, 0, 0).0 & KEY_MASK;
    loop {
        let slot = slot_at(i);
        if slot.0 & KEY_MASK == want && is_it(slot) {
            return Some(slot);
        }
        if slot.0 == 0 || slot.0 & DISP_MASK < want & DISP_MASK {
            return None;
        }
        want += 1 << DISP_SHIFT;
        i = (i + 1) % SLOTS;
    }
}

/// One slot of the table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Slot(pub(crate) u64);

impl Slot {
    /// Packs a token's fields; the tag is taken from `h`, the bits just below the home's.
    /// Fields too wide are cut: `build.rs` reads every slot back to catch that.
    #[inline]
    pub(crate) fn new(h: u64, len: usize, disp: usize, offset: usize, rank: u32) -> Self {
        let field = |v: u64, bits: u32, shift: u32| (v & ((1 << bits) - 1)) << shift;
        let tag = h >> (64 - BITS - TAG_BITS);
        Self(
            field(u64::from(rank), RANK_BITS, 0)
                | field(len as u64, LEN_BITS, LEN_SHIFT)
                | field(offset as u64, OFFSET_BITS, OFFSET_SHIFT)
                | field(disp as u64, DISP_BITS, DISP_SHIFT)
                | field(tag, TAG_BITS, TAG_SHIFT),
        )
    }

    /// The token's merge rank.
    #[inline]
    pub(crate) fn rank(self) -> u32 {
        (self.0 & ((1 << RANK_BITS) - 1)) as u32
    }

    /// The token's length in bytes (0 for an empty slot).
    #[inline]
    pub(crate) fn len(self) -> usize {
        ((self.0 >> LEN_SHIFT) & ((1 << LEN_BITS) - 1)) as usize
    }

    /// Where the token's bytes start in the bytes blob.
    #[inline]
    pub(crate) fn offset(self) -> usize {
        ((self.0 >> OFFSET_SHIFT) & ((1 << OFFSET_BITS) - 1)) as usize
    }
}
