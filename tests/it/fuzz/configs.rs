//! Mutated and garbage server, provider, policy and virtual-key files through the config
//! loader and validator (what `switchyard check` and reloads run), in process: each ends in a
//! config, or in problems that each carry a message; never a panic.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use switchyard::{sha256_hex, Config, KeyMode, SourceFile, Sources};

use super::{fuzz, gen};

/// Cases per file kind (each loaded twice: with keys required and ignored).
const CASES: u32 = 250;

const SERVER: &str = include_str!("../../../switchyard.yaml");
const OPENAI: &str = include_str!("../../../providers/openai.yaml");
const GROQ: &str = include_str!("../../../providers/groq.yaml");
const DEFAULT: &str = include_str!("../../../policies/default.yaml");
const GUARDED: &str = include_str!("../../../examples/policies/guarded.yaml");
const BUDGET: &str = include_str!("../../../examples/policies/budget.yaml");
const ANTHROPIC: &str = "name: anthropic\nwire: anthropic\nbase_url: https://api.anthropic.com/v1\n\
keys: [{env: ANTHROPIC_API_KEY, rpm: 50, tpm: 40000}]\nheaders: {x-extra: one}\n\
max_response_bytes: 1048576\ntimeouts: {first_byte_ms: 1000, idle_ms: 500, stream_deadline_ms: 9000}\n\
models:\n  - {name: claude-x, input_per_1m: 3, output_per_1m: 15, cached_input_per_1m: 0.3, \
cache_write_per_1m: 3.75, context_window: 200000}\n";

fn keys_file() -> String {
    format!(
        "- {{id: ann, sha256: {}, user: ann, team: research, tier: pro}}\n- {{id: bob, sha256: {}, user: bob, disabled: true}}\n",
        sha256_hex("sk-sy-ann"),
        sha256_hex("sk-sy-bob")
    )
}

fn file(path: &str, text: String) -> SourceFile {
    SourceFile {
        path: PathBuf::from(path),
        text,
    }
}

/// A valid set of sources with `which` file (0 server, 1 provider, 2 policy, 3 keys) replaced.
fn sources(which: u8, text: String) -> Sources {
    let mut s = Sources {
        server: Some(file("switchyard.yaml", SERVER.to_owned())),
        keys: Some(file("keys.yaml", keys_file())),
        providers: vec![
            file("providers/openai.yaml", OPENAI.to_owned()),
            file("providers/groq.yaml", GROQ.to_owned()),
        ],
        policies: vec![
            file("policies/default.yaml", DEFAULT.to_owned()),
            file("policies/guarded.yaml", GUARDED.to_owned()),
        ],
    };
    match which {
        0 => s.server = Some(file("switchyard.yaml", text)),
        1 => s.providers.push(file("providers/fuzzed.yaml", text)),
        2 => s.policies[1] = file("policies/guarded.yaml", text),
        _ => s.keys = Some(file("keys.yaml", text)),
    }
    s
}

/// A sample YAML text as JSON, for structured mutation.
fn as_json(yaml: &str) -> Value {
    serde_yaml::from_str(yaml).expect("a valid sample config")
}

/// Mutated documents (structure), damaged texts and garbage, grown from `bases`.
fn texts(bases: Vec<String>) -> impl Strategy<Value = String> {
    let docs: Vec<Value> = bases.iter().map(|t| as_json(t)).collect();
    let raw: Vec<Vec<u8>> = bases.iter().map(|t| t.as_bytes().to_vec()).collect();
    prop_oneof![
        5 => gen::mutated_any(docs).prop_map(|v| serde_yaml::to_string(&v).unwrap_or_default()),
        4 => prop::sample::select(raw).prop_flat_map(gen::garbled)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => gen::garbage().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => prop::sample::select(vec![
            "", "---", "--- \n...\n", "a: &a [*a]", "~", "[]", "- - - -", "!!binary AAAA",
            "a: !!float .nan", "a: 1\na: 2", "? [a]\n: b",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Every variable the files name is set (to a key-shaped value), so validation goes past keys.
fn env(name: &str) -> Option<String> {
    (!name.is_empty()).then(|| format!("sk-test-{name}"))
}

fn check(which: u8, text: String) -> Result<(), TestCaseError> {
    let s = sources(which, text);
    let second_doc = s
        .server
        .iter()
        .chain(&s.keys)
        .chain(&s.providers)
        .chain(&s.policies)
        .any(|f| serde_yaml::Deserializer::from_str(&f.text).nth(1).is_some());
    for keys in [KeyMode::Require, KeyMode::Ignore] {
        match Config::build(&s, &env, keys) {
            Ok(c) => {
                prop_assert!(!c.policies.is_empty());
            }
            Err(problems) => {
                prop_assert!(!problems.is_empty(), "refused without a problem");
                for p in &problems {
                    prop_assert!(
                        !p.message.trim().is_empty(),
                        "a problem without a message: {p:?}"
                    );
                    prop_assert!(!p.to_string().is_empty());
                    if second_doc && p.message.contains("more than one document") {
                        prop_assert!(p.line.is_some(), "no line for a second document: {p:?}");
                    }
                }
            }
        }
    }
    Ok(())
}

fn kind(target: &str, which: u8, bases: Vec<String>) {
    fuzz(target, CASES, texts(bases), |text| check(which, text));
}

#[test]
fn server_files() {
    kind(
        "config_server",
        0,
        vec![
            SERVER.to_owned(),
            "listen: 127.0.0.1:0\nauth: {mode: open}\n".to_owned(),
        ],
    );
}

#[test]
fn provider_files() {
    kind(
        "config_provider",
        1,
        vec![OPENAI.to_owned(), GROQ.to_owned(), ANTHROPIC.to_owned()],
    );
}

#[test]
fn policy_files() {
    kind(
        "config_policy",
        2,
        vec![GUARDED.to_owned(), BUDGET.to_owned(), DEFAULT.to_owned()],
    );
}

#[test]
fn key_files() {
    kind("config_keys", 3, vec![keys_file()]);
}

#[test]
fn a_second_yaml_document_is_refused_with_its_line() {
    let text = format!("{OPENAI}\n---\nname: again\n");
    let second = text.lines().position(|l| l == "---").expect("marker") + 1;
    let problems = Config::build(&sources(1, text), &env, KeyMode::Ignore)
        .expect_err("two documents are refused");
    let p = problems
        .iter()
        .find(|p| p.file.ends_with("fuzzed.yaml"))
        .expect("a problem in the file");
    assert_eq!(p.line, Some(second), "{p}");
}
