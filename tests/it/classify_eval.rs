//! Floors on the classifier's leave-one-source-out figures over the labelled data in
//! `../shared/eval` (third-party data, read in place, never copied into the repository).
//! Without that folder the test says so and passes, unless SWITCHYARD_REQUIRE_EVAL=1 makes
//! the data mandatory (CI on a machine that has it).

use std::path::PathBuf;
use std::process::Command;

/// Leave-one-source-out agreement over dev + train must not fall below this (measured 78.6%
/// when the default policy was last fitted; refits move it by about 1.5 points either way;
/// see docs/classifier.md).
const LOSO_AGREEMENT_FLOOR: f64 = 0.770;
/// Complex prompts classed simple, held-out sources: the ceiling.
const LOSO_COMPLEX_AS_SIMPLE_CEILING: f64 = 0.03;

fn eval_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SWITCHYARD_EVAL_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/eval"),
        PathBuf::from,
    );
    let present =
        dir.join("complexity_dev.jsonl").is_file() && dir.join("complexity_train.jsonl").is_file();
    if present {
        return Some(dir);
    }
    assert!(
        std::env::var("SWITCHYARD_REQUIRE_EVAL").as_deref() != Ok("1"),
        "SWITCHYARD_REQUIRE_EVAL=1 but no labelled data under {}",
        dir.display()
    );
    eprintln!(
        "SKIPPED: no labelled data under {} (set SWITCHYARD_EVAL_DIR); the leave-one-source-out floors were not checked",
        dir.display()
    );
    None
}

/// Runs `classify --eval --json` and returns its report (the last line).
fn eval_report(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().expect("run switchyard classify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    serde_json::from_str(text.lines().last().expect("a report line")).expect("JSON report")
}

/// The default policy's `--eval --json` report on one of our probe files in tests/data.
fn probe_report(file: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    eval_report(
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["classify", "--eval", "--json"])
            .arg(&path),
    )
}

/// The share of a report's counts (overall, or one source, language or category) classed as
/// labelled.
fn agreement_of(counts: &serde_json::Value) -> f64 {
    counts["correct"].as_f64().expect("correct") / counts["total"].as_f64().expect("total")
}

#[test]
fn leave_one_source_out_stays_above_its_floors() {
    let Some(dir) = eval_dir() else {
        return;
    };
    let report = eval_report(
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args([
                "classify", "--eval", "--cv", "source", "--json", "--l2", "0.003",
            ])
            .args(["--source-weight", "codealpaca=0.2"])
            .arg(dir.join("complexity_dev.jsonl"))
            .arg(dir.join("complexity_train.jsonl")),
    );
    let overall = &report["report"]["overall"];
    let total = overall["total"].as_f64().expect("total");
    let correct = overall["correct"].as_f64().expect("correct");
    let m = &overall["matrix"];
    let cell = |e: usize, p: usize| m[e][p].as_f64().expect("matrix cell");
    let complex = cell(2, 0) + cell(2, 1) + cell(2, 2);
    assert!(total > 4000.0, "expected dev + train, got {total} prompts");
    let agreement = correct / total;
    let complex_as_simple = cell(2, 0) / complex;
    eprintln!(
        "leave-one-source-out: agreement {agreement:.3}, complex->simple {complex_as_simple:.3}"
    );
    assert!(
        agreement >= LOSO_AGREEMENT_FLOOR,
        "agreement {agreement:.3} < {LOSO_AGREEMENT_FLOOR}"
    );
    assert!(
        complex_as_simple <= LOSO_COMPLEX_AS_SIMPLE_CEILING,
        "complex->simple {complex_as_simple:.3} > {LOSO_COMPLEX_AS_SIMPLE_CEILING}"
    );
    // every source is reported on its own
    assert!(report["report"]["by_source"]
        .as_object()
        .is_some_and(|s| s.len() >= 30));
}

#[test]
fn classify_takes_plain_lines_and_shows_confidence_and_cut_offs() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["classify", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run switchyard classify");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "Prove that the square root of 2 is irrational.").unwrap();
        writeln!(
            stdin,
            "{{\"id\": \"q\", \"prompt\": \"who wrote war and peace\"}}"
        )
        .unwrap();
    }
    let out = child.wait_with_output().expect("output");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["complexity"], "complex");
    assert_eq!(lines[1]["id"], "q");
    assert_eq!(lines[1]["complexity"], "simple");
    for l in &lines {
        let c = l["confidence"].as_f64().expect("confidence");
        assert!((0.5..=1.0).contains(&c), "{l}");
        assert!(l["thresholds"]["medium"].as_f64() < l["thresholds"]["complex"].as_f64());
    }
}

/// The kinds of prompt the held-out set caught the classifier out on, written for
/// this project (tests/data/classifier_probes.jsonl, always present): short imperative coding
/// asks and competition maths are complex, exam-style multiple choice and short how-to lookups
/// naming a language are simple, two-step word problems and passages with an extraction ask
/// are medium, and a lookup in a passage full of figures is never complex. Each kind keeps its
/// own floor, so one kind cannot be traded for another.
#[test]
fn the_held_out_failure_kinds_are_classed_by_what_they_ask() {
    let report = probe_report("classifier_probes.jsonl");
    let by_category = report["report"]["by_category"]
        .as_object()
        .expect("by_category");
    for (kind, floor) in [
        ("code_ask", 0.9),
        ("competition_math", 0.8),
        ("multiple_choice", 0.9),
        ("howto_lookup", 0.9),
        ("two_step_word_problem", 0.8),
        ("passage_extract", 0.8),
        ("debug", 0.8),
        // a lookup in a passage full of figures ("How many people lived in Queens?") is no
        // word problem: the floor is only that it is never classed complex (checked below)
        ("passage_numbers", 0.0),
        // competition algebra written in plain text, without LaTeX ("If 2a + b = 10 and
        // a - 3b = -2, what is a^2 - b^2?"): 5 of 16 before `formula_question` and the
        // "satisfies / the roots of" cues, 9 after; the rest still go to the mid tier (a known
        // gap), and none to the cheapest
        ("plain_algebra", 0.5),
        // its near misses: one-step sums, conversions and factoids with numbers are lookups,
        // a one-step linear equation is medium
        ("arithmetic_lookup", 0.9),
        ("one_step_equation", 0.9),
        // written in the eighth session, most before the cues for them: coding asks with no
        // verb ("Regex that validates an IPv4 address"), questions about an error message
        // ("Почему у меня ошибка TypeError…"), logic puzzles (truth-tellers, weighings)
        ("code_noun_ask", 0.9),
        ("debug_error", 0.8),
        ("logic_puzzle", 0.8),
    ] {
        let c = &by_category[kind];
        let agreement = agreement_of(c);
        assert!(
            agreement >= floor,
            "{kind}: agreement {agreement:.2} < {floor}"
        );
        // never the wrong end of the scale
        let m = &c["matrix"];
        assert_eq!(
            m[2][0].as_f64(),
            Some(0.0),
            "{kind}: complex classed simple"
        );
        assert_eq!(
            m[0][2].as_f64(),
            Some(0.0),
            "{kind}: simple classed complex"
        );
    }
}

/// Everyday prompts of every kind the labelling rule names, in English, Russian and Ukrainian,
/// written for this project (tests/data/classifier_general.jsonl): factoids, definitions,
/// conversions, simple rewrites, explanations, advice, creative asks, code, maths, design and
/// proofs. The signals were widened after the first two batches missed; the third batch was
/// scored blind. The default policy keeps most of them and never crosses two tiers.
#[test]
fn everyday_prompts_of_every_kind_are_classed_by_the_labelling_rule() {
    let report = probe_report("classifier_general.jsonl");
    let overall = &report["report"]["overall"];
    let agreement = agreement_of(overall);
    assert!(agreement >= 0.88, "agreement {agreement:.3} < 0.88");
    let m = &overall["matrix"];
    assert_eq!(m[2][0].as_f64(), Some(0.0), "complex classed simple");
    assert_eq!(m[0][2].as_f64(), Some(0.0), "simple classed complex");
}

/// Long prompts with pasted material (retrieved documents, email threads, logs, tables, JSON,
/// contracts; English, Russian, Ukrainian), written blind for this project
/// (tests/data/classifier_longctx.jsonl) and kept apart from the cue work: words inside the
/// material still read as the ask, so most of the misses are simple or medium asks sent up a
/// tier. The floor is under today's figure (60.8% of 240); none complex may go to the
/// cheapest tier.
#[test]
fn long_pasted_material_never_sends_a_complex_ask_to_the_cheapest_tier() {
    let report = probe_report("classifier_longctx.jsonl");
    let overall = &report["report"]["overall"];
    let agreement = agreement_of(overall);
    assert!(agreement >= 0.58, "agreement {agreement:.3} < 0.58");
    assert_eq!(
        overall["matrix"][2][0].as_f64(),
        Some(0.0),
        "complex classed simple"
    );
}

/// Chat-style prompts written blind for this project (tests/data/classifier_blind.jsonl):
/// each batch was written by someone who had not seen the classifier, scored as it was, and
/// only then used to find the kinds it missed (typos and chat shorthand, pasted code to
/// explain, easy coding exercises, passages with one question, counting problems, rewrites in
/// Russian and Ukrainian; later, exam and reading-comprehension formats, news articles,
/// how-tos naming a tool, cover letters naming skills, physics and chemistry problems; then
/// data dumps with a one-line question and search-box coding asks, forum posts, professionals'
/// asks at work; then public data sets' formats (a context and a "Question:" line, sentence
/// pairs, benchmark headers) and homework). The default policy keeps most of them, per
/// language too, and never sends a complex one to the cheapest tier.
#[test]
fn blind_chat_batches_are_classed_by_the_labelling_rule() {
    let report = probe_report("classifier_blind.jsonl");
    let overall = &report["report"]["overall"];
    let agreement = agreement_of(overall);
    // floors under the figures (87.8% overall, 85.9 / 89.6 / 91.3% en / ru / uk with 2,868
    // prompts): each later batch was written to find what the classifier misses,
    // so the file gets harder as it grows
    assert!(agreement >= 0.86, "agreement {agreement:.3} < 0.86");
    assert_eq!(
        overall["matrix"][2][0].as_f64(),
        Some(0.0),
        "complex classed simple"
    );
    let by_language = report["report"]["by_language"]
        .as_object()
        .expect("by_language");
    for language in ["en", "ru", "uk"] {
        let agreement = agreement_of(&by_language[language]);
        assert!(
            agreement >= 0.84,
            "{language}: agreement {agreement:.3} < 0.84"
        );
    }
}
