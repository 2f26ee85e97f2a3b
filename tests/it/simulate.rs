//! `switchyard simulate`: seeded determinism, totals equal the per-request figures on the
//! example workload with two policies, built-in strategies, estimates and bad lines.

use std::io::Write;
use std::process::{Command, Output};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn path(rel: &str) -> String {
    format!("{ROOT}/{rel}")
}

fn simulate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("simulate")
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = simulate(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn example_args(seed: &str) -> Vec<String> {
    [
        "--workload",
        &path("examples/workload.jsonl"),
        "--policy",
        &path("policies/default.yaml"),
        "--policy",
        &path("examples/policies/budget.yaml"),
        "--strategy",
        "always:openai/gpt-4.1",
        "--strategy",
        "cheapest",
        "--seed",
        seed,
    ]
    .map(str::to_owned)
    .to_vec()
}

fn run_example(seed: &str) -> Output {
    let mut args = example_args(seed);
    args.extend(["--format".into(), "json".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    simulate(&args)
}

fn strategy<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no strategy {name}"))
}

#[test]
fn same_seed_same_result_other_seed_other_picks() {
    let a = run_example("7");
    let b = run_example("7");
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(a.stdout, b.stdout, "same seed, byte-identical JSON");
    let c = run_example("8");
    let (ja, jc): (Value, Value) = (
        serde_json::from_slice(&a.stdout).unwrap(),
        serde_json::from_slice(&c.stdout).unwrap(),
    );
    assert_eq!(ja["seed"], 7);
    assert_ne!(
        ja["requests"], jc["requests"],
        "weighted picks depend on the seed"
    );
    // Built-in strategies do not draw: identical whatever the seed.
    assert_eq!(strategy(&ja, "cheapest"), strategy(&jc, "cheapest"));
}

#[test]
fn totals_equal_the_sum_of_per_request_figures() {
    let out = run_example("42");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let requests = j["requests"].as_array().unwrap();
    assert!(
        requests.len() >= 200,
        "the example workload has 200+ prompts"
    );
    assert_eq!(
        j["requests_simulated"].as_u64().unwrap() as usize,
        requests.len()
    );
    assert_eq!(j["lines_skipped"], 0);
    assert_eq!(j["baseline_model"], "openai/gpt-4.1");
    let strategies = j["strategies"].as_array().unwrap();
    let names: Vec<&str> = strategies
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["default", "budget", "always:openai/gpt-4.1", "cheapest"]
    );
    for (k, s) in strategies.iter().enumerate() {
        let (mut cost, mut baseline, mut routed, mut complex, mut risky) =
            (0.0, 0.0, 0u64, 0u64, 0u64);
        let (mut uncertain, mut uncertain_cost) = (0u64, 0.0);
        let mut per_model = std::collections::BTreeMap::<String, u64>::new();
        for r in requests {
            let c = &r["routes"][k];
            assert_eq!(c["strategy"], s["name"]);
            if c["model"].is_null() {
                continue;
            }
            routed += 1;
            cost += c["cost_usd"].as_f64().unwrap();
            baseline += r["baseline_cost_usd"].as_f64().unwrap();
            *per_model
                .entry(c["model"].as_str().unwrap().into())
                .or_default() += 1;
            if r["complexity"] == "complex" {
                complex += 1;
                risky += u64::from(c["premium"] == false);
            }
            // the uncertain share is what the default's confidence rule routed
            assert_eq!(c["uncertain"], c["rule"] == "medium-uncertain", "{c}");
            if c["uncertain"] == true {
                uncertain += 1;
                uncertain_cost += c["cost_usd"].as_f64().unwrap();
            }
        }
        let name = &s["name"];
        assert_eq!(s["uncertain_requests"].as_u64(), Some(uncertain), "{name}");
        assert!(
            (s["uncertain_cost_usd"].as_f64().unwrap() - uncertain_cost).abs() < 1e-9,
            "{name}"
        );
        assert_eq!(s["routed"].as_u64(), Some(routed), "{name}");
        assert!(
            (s["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-9,
            "{name}"
        );
        assert!(
            (s["baseline_cost_usd"].as_f64().unwrap() - baseline).abs() < 1e-9,
            "{name}"
        );
        assert!(
            (s["saving_usd"].as_f64().unwrap() - (baseline - cost)).abs() < 1e-9,
            "{name}"
        );
        let per_req = s["cost_per_request_usd"].as_f64().unwrap();
        assert!((per_req - cost / routed as f64).abs() < 1e-12, "{name}");
        assert_eq!(s["complex_requests"].as_u64(), Some(complex), "{name}");
        assert_eq!(s["complex_to_non_premium"].as_u64(), Some(risky), "{name}");
        let traffic: std::collections::BTreeMap<String, u64> = s["traffic"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["model"].as_str().unwrap().into(),
                    t["requests"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(traffic, per_model, "{name}");
        let shares: f64 = s["traffic"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["share_pct"].as_f64().unwrap())
            .sum();
        assert!(
            (shares - 100.0).abs() < 1e-9,
            "{name}: shares sum to {shares}"
        );
    }
    // Each per-request cost is the model's price times the request's tokens.
    let prices: std::collections::HashMap<String, (f64, f64)> = [
        ("openai/gpt-4.1-nano", 0.10, 0.40),
        ("openai/gpt-4.1-mini", 0.40, 1.60),
        ("openai/gpt-4.1", 2.00, 8.00),
        ("groq/llama-3.1-8b-instant", 0.05, 0.08),
        ("groq/llama-3.3-70b-versatile", 0.59, 0.79),
    ]
    .into_iter()
    .map(|(m, i, o)| (m.to_owned(), (i, o)))
    .collect();
    for r in requests {
        let (p, c) = (
            r["prompt_tokens"].as_f64().unwrap(),
            r["completion_tokens"].as_f64().unwrap(),
        );
        let expect = |m: &str| {
            let (i, o) = prices[m];
            (p * i + c * o) / 1e6
        };
        assert!(
            (r["baseline_cost_usd"].as_f64().unwrap() - expect("openai/gpt-4.1")).abs() < 1e-15
        );
        for route in r["routes"].as_array().unwrap() {
            let m = route["model"].as_str().unwrap();
            assert!(
                (route["cost_usd"].as_f64().unwrap() - expect(m)).abs() < 1e-15,
                "{m}"
            );
        }
    }
    // The default policy keeps complex prompts on premium models; the budget one does not.
    assert_eq!(strategy(&j, "default")["complex_to_non_premium"], 0);
    assert!(strategy(&j, "budget")["quality_risk_pct"].as_f64().unwrap() > 50.0);
    let saving = |n: &str| strategy(&j, n)["saving_usd"].as_f64().unwrap();
    assert!(saving("budget") > saving("default") && saving("default") > 0.0);
}

/// The uncertain share is what the confidence rule routed, counted and priced request by
/// request. The default policy's rule, loosened to every medium verdict, makes sure there are
/// such requests whatever the fitted weights say of the example workload.
#[test]
fn the_uncertain_share_is_what_the_confidence_rule_routed() {
    let default = std::fs::read_to_string(path("policies/default.yaml")).unwrap();
    let bound = "complex_probability: {min: 0.4}";
    assert!(
        default.contains(bound),
        "the default's uncertain rule moved"
    );
    let loose = file(&default.replace(bound, "complex_probability: {min: 0.0}"));
    let j = json(&[
        "--workload",
        &path("examples/workload.jsonl"),
        "--policy",
        loose.path().to_str().unwrap(),
    ]);
    let (mut n, mut cost, mut medium) = (0u64, 0.0, 0u64);
    for r in j["requests"].as_array().unwrap() {
        let c = &r["routes"][0];
        medium += u64::from(r["complexity"] == "medium");
        if c["rule"] == "medium-uncertain" {
            assert_eq!(c["uncertain"], true, "{c}");
            n += 1;
            cost += c["cost_usd"].as_f64().unwrap();
        } else {
            assert_eq!(c["uncertain"], false, "{c}");
        }
    }
    // every medium verdict is uncertain under the loosened rule (unless an earlier rule, such
    // as the one for huge prompts, took it)
    assert!(n > 0 && n <= medium, "{n} uncertain of {medium} medium");
    let s = strategy(&j, "default");
    assert_eq!(s["uncertain_requests"].as_u64(), Some(n));
    assert!((s["uncertain_cost_usd"].as_f64().unwrap() - cost).abs() < 1e-9);
    assert!(cost > 0.0);
}

#[test]
fn always_sends_everything_to_its_model_and_cheapest_is_cheapest() {
    let j: Value = serde_json::from_slice(&run_example("1").stdout).unwrap();
    let always = strategy(&j, "always:openai/gpt-4.1");
    let traffic = always["traffic"].as_array().unwrap();
    assert_eq!(traffic.len(), 1);
    assert_eq!(traffic[0]["model"], "openai/gpt-4.1");
    assert_eq!(traffic[0]["share_pct"], 100.0);
    assert_eq!(always["quality_risk_pct"], 0.0);
    assert!(
        always["saving_usd"].as_f64().unwrap().abs() < 1e-12,
        "always the baseline: no saving"
    );
    let cheapest = strategy(&j, "cheapest")["cost_usd"].as_f64().unwrap();
    for s in j["strategies"].as_array().unwrap() {
        assert!(
            s["cost_usd"].as_f64().unwrap() >= cheapest - 1e-12,
            "{}",
            s["name"]
        );
    }
    let unknown = simulate(&[
        "--workload",
        &path("examples/workload.jsonl"),
        "--strategy",
        "always:nope/x",
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nope/x"));
}

#[test]
fn output_tokens_come_from_the_line_or_the_class_estimate() {
    let w = file(
        "{\"id\":\"a\",\"prompt\":\"What is the capital of France?\",\"output_tokens\":7}\n\
         {\"id\":\"b\",\"prompt\":\"What is the capital of France?\"}\n",
    );
    let p = w.path().to_str().unwrap();
    let j = json(&["--workload", p, "--output-tokens", "simple=11"]);
    let r = j["requests"].as_array().unwrap();
    assert_eq!(
        (
            r[0]["completion_tokens"].as_u64(),
            r[0]["completion_estimated"].as_bool()
        ),
        (Some(7), Some(false))
    );
    assert_eq!(r[1]["complexity"], "simple");
    assert_eq!(
        (
            r[1]["completion_tokens"].as_u64(),
            r[1]["completion_estimated"].as_bool()
        ),
        (Some(11), Some(true))
    );
    assert_eq!(
        j["output_tokens"]["medium"], 400,
        "other classes keep their default"
    );
    // Without --policy, the embedded default policy is compared.
    assert_eq!(j["strategies"][0]["name"], "default");
    let bad = simulate(&["--workload", p, "--output-tokens", "tiny=3"]);
    assert!(!bad.status.success());
}

#[test]
fn bad_lines_are_counted_and_empty_input_is_an_empty_report() {
    let w = file(
        "{\"prompt\":\"hello\"}\nnot json\n{\"id\":\"no prompt\"}\n\n{\"messages\":[{\"role\":\"user\",\"content\":\"Explain recursion briefly.\"}]}\n{\"prompt\":\"x\",\"output_tokens\":\"many\"}\n",
    );
    let out = simulate(&["--workload", w.path().to_str().unwrap(), "--format", "json"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for n in ["line 2:", "line 3:", "line 6:", "3 bad line(s) skipped"] {
        assert!(stderr.contains(n), "{n} missing from: {stderr}");
    }
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            j["requests_simulated"].as_u64(),
            j["lines_skipped"].as_u64()
        ),
        (Some(2), Some(3))
    );
    assert_eq!(j["requests"][1]["line"], 5);

    let empty = file("");
    for format in ["table", "json", "csv", "html"] {
        let out = simulate(&[
            "--workload",
            empty.path().to_str().unwrap(),
            "--strategy",
            "cheapest",
            "--format",
            format,
        ]);
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let j = json(&["--workload", empty.path().to_str().unwrap()]);
    assert_eq!(j["requests_simulated"], 0);
    assert_eq!(j["strategies"][0]["cost_usd"], 0.0);
}

#[test]
fn ledger_lines_replay_with_their_recorded_tokens() {
    let ledger = path("examples/ledger-sample.jsonl");
    let j = json(&[
        "--workload",
        &ledger,
        "--policy",
        &path("examples/policies/budget.yaml"),
    ]);
    let lines = std::fs::read_to_string(&ledger).unwrap().lines().count() as u64;
    assert_eq!(j["requests_simulated"].as_u64(), Some(lines));
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&ledger)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let r = &j["requests"][0];
    assert_eq!(r["prompt_tokens"], first["prompt_tokens"]);
    assert_eq!(r["completion_tokens"], first["completion_tokens"]);
    assert_eq!(r["complexity"], first["complexity"]);
    assert_eq!(r["id"], first["request_id"]);
}

#[test]
fn table_output_is_side_by_side() {
    let mut args = example_args("42");
    args.extend(["--baseline".into(), "openai/gpt-4o".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = simulate(&args);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Baseline: openai/gpt-4o"), "{text}");
    for name in [
        "default",
        "budget",
        "always:openai/gpt-4.1",
        "cheapest",
        "Traffic share per model",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
}
