//! Classifier benchmark: p50/p99 time to classify a ~1,000-token prompt with the shipped
//! default policy, and the resident memory the compiled classifier adds (RSS delta read from
//! /proc/self/statm, so Linux only). Prints figures; run with `cargo bench --bench classify`.
//!
//! What is timed is one `Classifier::classify` call: keyword scan, detectors, the feature
//! vector, score, tier and the fired-signal list. The prompt's token count is passed in (1,000),
//! as the router counts tokens once in a step of its own, so counting is not part of it.
//!
//! `CLASSIFY_ROUNDS=N` (default 20,000) sets the timed rounds: a few hundred are enough under
//! `valgrind --tool=callgrind`, whose instruction count per call is the load-independent figure.
//! `CLASSIFY_POLICY=FILE` measures that policy file's classifier instead of the embedded
//! default, so two policies compare in one build (before and after a change of cues).

use std::hint::black_box;
use std::time::Instant;

use switchyard::classify::{Classifier, PromptParts};
use switchyard::cli::classify_eval::classifier_block;

/// Resident set size and its anonymous part in bytes (/proc/self/statm's resident and
/// shared fields, in pages of 4 KiB): the anonymous part is the heap and stacks, without the
/// binary's own pages that running the build code faults in.
fn rss_bytes() -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm.split_whitespace().skip(1);
    let resident: u64 = fields.next()?.parse().ok()?;
    let shared: u64 = fields.next()?.parse().ok()?;
    Some((resident * 4096, resident.saturating_sub(shared) * 4096))
}

/// A realistic long prompt (~1,000 o200k tokens): a pasted passage, some code and an ask, in
/// English with a Russian paragraph.
fn long_prompt() -> String {
    let passage = "The city council met on Tuesday to discuss the new transit plan, which would \
        add three bus lines and extend the tram to the northern districts by 2028. Residents \
        raised concerns about noise, cost and the loss of parking along the main avenue. ";
    let russian = "Совет города обсудил новый план транспорта: три автобусные линии и продление \
        трамвая в северные районы к 2028 году. Жители опасаются шума и потери парковок. ";
    let code = "def schedule(lines, budget):\n    total = 0\n    for line in lines:\n        \
        total += line.cost\n    return total <= budget\n";
    let mut p = String::new();
    for _ in 0..8 {
        p.push_str(passage);
        p.push_str(russian);
        p.push('\n');
    }
    p.push_str("\n```python\n");
    p.push_str(code);
    p.push_str(
        "```\n\nSummarise the plan in five bullet points, then fix the bug in the function \
        and explain how many lines fit a budget of 4 million if each costs 1.3 million.",
    );
    p
}

fn main() {
    let before = rss_bytes();
    let classifier = match std::env::var_os("CLASSIFY_POLICY") {
        Some(path) => {
            let text = std::fs::read_to_string(&path).expect("CLASSIFY_POLICY is readable");
            let raw = classifier_block(&text).expect("CLASSIFY_POLICY is a policy file");
            Classifier::compile(&raw).expect("CLASSIFY_POLICY's classifier compiles")
        }
        None => Classifier::default(),
    };
    // one classification so lazily built parts (if any) are counted too
    let prompt = long_prompt();
    let parts = PromptParts {
        system: "",
        last_user: &prompt,
        turns: 1,
    };
    black_box(classifier.classify(&parts, 1000));
    let after = rss_bytes();
    let rounds = std::env::var("CLASSIFY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_usize)
        .max(1);
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(classifier.classify(black_box(&parts), 1000));
        times.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let pct = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "classify: {} chars (~1,000 tokens), {rounds} rounds: p50 {:.2} us, p99 {:.2} us",
        prompt.chars().count(),
        pct(0.5),
        pct(0.99)
    );
    match (before, after) {
        (Some((b, b_anon)), Some((a, a_anon))) => println!(
            "classifier memory: RSS {:.2} MB before, {:.2} MB after building it: +{:.2} MB \
             (anonymous +{:.2} MB)",
            b as f64 / 1e6,
            a as f64 / 1e6,
            a.saturating_sub(b) as f64 / 1e6,
            a_anon.saturating_sub(b_anon) as f64 / 1e6
        ),
        _ => println!("classifier memory: /proc/self/statm not readable (not Linux?)"),
    }
}
