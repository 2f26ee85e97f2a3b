//! Bounded fuzzing (proptest): hostile request bodies through the router on all three
//! endpoints, mutated and garbage configs through the loader, arbitrary upstream answers and
//! streams through every wire's translation. No panic, no 5xx of the router's own making,
//! OpenAI-shaped errors with a message that says something.
//!
//! Each target runs a fixed number of cases from a seed fixed per target, so every run (CI or
//! local) tries the same cases, and prints `fuzz TARGET: N cases ...` (see it with
//! `cargo test --test it fuzz:: -- --nocapture`). For a longer hunt, `SWITCHYARD_FUZZ_SCALE=10`
//! multiplies every count and `SWITCHYARD_FUZZ_SEED=N` picks other cases; a failure prints
//! the smallest failing input proptest shrank it to.

mod configs;
mod gen;
mod requests;
mod upstream;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// The seed every target starts from unless `SWITCHYARD_FUZZ_SEED` says otherwise.
const SEED: u64 = 0x5eed_0011;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// 32 seed bytes for `target`: the same target always gets the same cases.
fn seed_bytes(target: &str, seed: u64) -> [u8; 32] {
    // FNV-1a of the name, then splitmix64 to spread it over 32 bytes
    let mut h = target.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) ^ seed;
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

/// Runs `test` on `cases` values of `strategy` (times `SWITCHYARD_FUZZ_SCALE`), reports the
/// count and time, and fails with the shrunk input if any case fails or panics. Returns the
/// number of cases run.
pub fn fuzz<S: Strategy>(
    target: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> u32
where
    S::Value: std::fmt::Debug,
{
    let scale = env_u64("SWITCHYARD_FUZZ_SCALE").unwrap_or(1).max(1) as u32;
    let seed = env_u64("SWITCHYARD_FUZZ_SEED").unwrap_or(SEED);
    let cases = cases.saturating_mul(scale);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 400,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(target, seed));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let runs = AtomicU32::new(0);
    let started = Instant::now();
    let result = runner.run(&strategy, |v| {
        runs.fetch_add(1, Ordering::Relaxed);
        test(v)
    });
    let runs = runs.into_inner();
    println!(
        "fuzz {target}: {cases} cases ({runs} runs with shrinking) in {:.2} s, seed {seed:#x}",
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("fuzz {target} failed (seed {seed:#x}): {e}");
    }
    assert!(
        runs >= cases,
        "fuzz {target}: only {runs} of {cases} cases ran"
    );
    cases
}

/// A JSON body's OpenAI error shape, `{"error":{"message","type",...}}` with a message that
/// is not blank; `Err` says what is wrong.
pub fn check_error_shape(body: &[u8]) -> Result<(), TestCaseError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        TestCaseError::fail(format!(
            "error body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(body)
        ))
    })?;
    let err = v
        .get("error")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| TestCaseError::fail(format!("not an OpenAI error: {v}")))?;
    let message = err.get("message").and_then(serde_json::Value::as_str);
    if message.is_none_or(|m| m.trim().is_empty()) {
        return Err(TestCaseError::fail(format!("blank error message: {v}")));
    }
    if !err.get("type").is_some_and(serde_json::Value::is_string) {
        return Err(TestCaseError::fail(format!(
            "error.type is not a string: {v}"
        )));
    }
    Ok(())
}
