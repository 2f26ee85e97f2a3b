//! Token counting benchmark: µs per 1,000 `o200k_base` tokens for Switchyard's counter and for
//! tiktoken's `count_ordinary`, over prose, code, Russian, Chinese and whitespace-heavy text,
//! plus the resident memory each one's tables add.
//!
//! `cargo bench --bench tokens` (release). `-- --rounds N` repeats each text N times (default
//! 2000), `-- --only NAME` measures one text (e.g. under callgrind). Prints a table; it asserts
//! nothing (the exactness tests live in `src/tokens`).

use std::hint::black_box;
use std::time::Instant;

use switchyard::testing::Encoding;

/// Texts written for this benchmark, each repeated to about 1,000 tokens.
const SAMPLES: [(&str, &str); 5] = [
    (
        "english prose",
        "The committee met on Tuesday to review the quarterly figures. Revenue grew by 12% \
         compared with the same period last year, while costs stayed flat; the board asked \
         for a plan to keep that margin through the winter, when demand usually drops. ",
    ),
    (
        "code",
        "fn merge(a: &[u32], b: &[u32]) -> Vec<u32> {\n    let (mut i, mut j) = (0, 0);\n    \
         let mut out = Vec::with_capacity(a.len() + b.len());\n    while i < a.len() && j < \
         b.len() {\n        if a[i] <= b[j] { out.push(a[i]); i += 1; } else { out.push(b[j]); \
         j += 1; }\n    }\n    out.extend_from_slice(&a[i..]);\n    out\n}\n\n",
    ),
    (
        "russian",
        "Комитет собрался во вторник, чтобы рассмотреть квартальные показатели. Выручка выросла \
         на 12% по сравнению с тем же периодом прошлого года, а расходы не изменились. ",
    ),
    (
        "chinese",
        "委员会于星期二开会审议季度数据。与去年同期相比，收入增长了百分之十二，而成本保持不变；\
         董事会要求制定计划，在需求通常下降的冬季保持这一利润率。",
    ),
    (
        "json + spaces",
        "{\n    \"id\": 1024,\n    \"name\": \"widget\",\n    \"tags\": [\"a\", \"b\"],\n    \
         \"price\": 19.99,\n    \"stock\": null\n}\n        \n",
    ),
];

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Mean µs per call of `f` over `rounds` calls (after a warm-up of a tenth as many).
fn time(rounds: u32, f: impl Fn() -> u64) -> f64 {
    for _ in 0..rounds / 10 {
        black_box(f());
    }
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(f());
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| Some(args.get(args.iter().position(|a| a == name)? + 1)?.as_str());
    // `cargo test --all-targets` runs this without `--bench` (a debug build): one round each,
    // as a smoke test of the benchmark itself
    let default_rounds = if args.iter().any(|a| a == "--bench") {
        2_000
    } else {
        1
    };
    let rounds = flag("--rounds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_rounds);
    let only = flag("--only");

    let before = rss_kib();
    let ours = Encoding::O200k;
    black_box(ours.count("warm"));
    let ours_kib = rss_kib().saturating_sub(before);
    let before = rss_kib();
    let tiktoken = tiktoken_rs::o200k_base_singleton();
    black_box(tiktoken.count_ordinary("warm"));
    let tiktoken_kib = rss_kib().saturating_sub(before);

    println!("o200k_base counting, µs per 1,000 tokens ({rounds} rounds per text)");
    println!(
        "{:<14} {:>7} {:>12} {:>12} {:>8}",
        "text", "tokens", "switchyard", "tiktoken", "speed-up"
    );
    for (name, paragraph) in SAMPLES {
        if only.is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let mut text = String::new();
        while ours.count(&text) < 1_000 {
            text.push_str(paragraph);
        }
        let tokens = ours.count(&text);
        assert_eq!(tokens, tiktoken.count_ordinary(&text) as u64, "{name}");
        let per_k = 1_000.0 / tokens as f64;
        let a = time(rounds, || ours.count(black_box(&text))) * per_k;
        let b = time(rounds, || tiktoken.count_ordinary(black_box(&text)) as u64) * per_k;
        println!("{name:<14} {tokens:>7} {a:>12.1} {b:>12.1} {:>7.1}x", b / a);
    }
    println!(
        "resident memory added by the tables: switchyard {:.1} MiB, tiktoken {:.1} MiB",
        ours_kib as f64 / 1024.0,
        tiktoken_kib as f64 / 1024.0
    );
}
