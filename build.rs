//! Writes the `o200k_base` token table into the build folder as one compact blob, so the
//! router's counter needs neither tiktoken's tables (decoder included) nor their parsing at
//! start-up: `OUT_DIR/o200k.ranks` holds, per token, its rank (u32 LE), its length (u16 LE)
//! and its bytes.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let bpe = tiktoken_rs::o200k_base().expect("tiktoken-rs builds o200k_base");
    let specials: Vec<Vec<u8>> = bpe
        .special_tokens()
        .into_iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let mut blob = Vec::with_capacity(3 << 20);
    let mut tokens = 0u32;
    for rank in 0..=210_000u32 {
        let Ok(bytes) = bpe.decode_bytes(&[rank]) else {
            continue;
        };
        if specials.contains(&bytes) {
            continue;
        }
        let len = u16::try_from(bytes.len()).expect("a token fits in u16 bytes");
        blob.extend_from_slice(&rank.to_le_bytes());
        blob.extend_from_slice(&len.to_le_bytes());
        blob.extend_from_slice(&bytes);
        tokens += 1;
    }
    assert!(
        tokens > 190_000,
        "o200k_base has ~200k tokens, got {tokens}"
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("o200k.ranks"), blob).expect("write the token table");
}
