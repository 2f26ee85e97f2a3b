//! Writes the `o200k_base` token table into the build folder, ready to use in place, so the
//! router's counter needs neither tiktoken's tables (decoder included) nor any work or heap at
//! start-up: `OUT_DIR/o200k.bytes` holds every token's bytes end to end, `OUT_DIR/o200k.slots`
//! the hash table over them (format in `src/tokens/slot_hash.rs`).

use std::path::PathBuf;

#[path = "src/tokens/slot_hash.rs"]
mod slot_hash;

use slot_hash::{Slot, MAX_PROBE, SLOTS};

/// A token to place: its hash, length, offset in the bytes blob and rank.
struct Token {
    hash: u64,
    len: usize,
    offset: usize,
    rank: u32,
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/tokens/slot_hash.rs");
    let bpe = tiktoken_rs::o200k_base().expect("tiktoken-rs builds o200k_base");
    let specials: Vec<Vec<u8>> = bpe
        .special_tokens()
        .into_iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let mut bytes = Vec::with_capacity(3 << 20);
    let mut tokens = Vec::with_capacity(210_000);
    for rank in 0..=210_000u32 {
        let Ok(token) = bpe.decode_bytes(&[rank]) else {
            continue;
        };
        if specials.contains(&token) {
            continue;
        }
        tokens.push(Token {
            hash: slot_hash::hash(&token),
            len: token.len(),
            offset: bytes.len(),
            rank,
        });
        bytes.extend_from_slice(&token);
    }
    assert!(
        tokens.len() > 190_000,
        "o200k_base has ~200k tokens, got {}",
        tokens.len()
    );
    let placed = place(&tokens);
    let farthest = placed.iter().flatten().map(|&(_, d)| d).max().unwrap_or(0);
    assert!(
        farthest <= MAX_PROBE,
        "a token sits {farthest} slots from home (at most {MAX_PROBE} wanted): change the hash"
    );
    let table: Vec<Slot> = placed
        .into_iter()
        .map(|entry| entry.map_or(Slot(0), |(t, disp)| pack(&tokens[t], disp)))
        .collect();
    for token in &tokens {
        let found = slot_hash::find(
            token.hash,
            token.len,
            |i| table[i],
            |s| s.rank() == token.rank,
        );
        assert!(
            found.is_some(),
            "token {} is not found where it was placed",
            token.rank
        );
    }
    let slots: Vec<u8> = table.iter().flat_map(|s| s.0.to_le_bytes()).collect();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("o200k.bytes"), bytes).expect("write the token bytes");
    std::fs::write(out.join("o200k.slots"), slots).expect("write the token table");
}

/// Robin Hood linear probing: walking from its home slot, a token takes the place of any
/// token nearer its own home, and that one walks on. Every token ends near its home, and a
/// lookup can stop at the first slot whose token is nearer home than the lookup has walked.
/// Returns, per slot, the token placed there (an index into `tokens`) and its distance from home.
fn place(tokens: &[Token]) -> Vec<Option<(usize, usize)>> {
    let mut table = vec![None; SLOTS];
    for (index, token) in tokens.iter().enumerate() {
        let mut walker = (index, 0);
        let mut i = slot_hash::home(token.hash);
        loop {
            let cell = &mut table[i];
            match cell {
                None => {
                    *cell = Some(walker);
                    break;
                }
                Some(here) if here.1 < walker.1 => std::mem::swap(here, &mut walker),
                Some(_) => {}
            }
            i = (i + 1) % SLOTS;
            walker.1 += 1;
        }
    }
    table
}

/// A token's slot, read back to check that every field fits (the distance from home is
/// checked by finding every token).
fn pack(token: &Token, disp: usize) -> Slot {
    let slot = Slot::new(token.hash, token.len, disp, token.offset, token.rank);
    let fields = [
        (slot.rank() as usize, token.rank as usize),
        (slot.len(), token.len),
        (slot.offset(), token.offset),
    ];
    for (got, want) in fields {
        assert_eq!(
            got, want,
            "token {}: a field does not fit its slot",
            token.rank
        );
    }
    slot
}
