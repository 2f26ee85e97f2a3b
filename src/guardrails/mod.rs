//! Policy guardrails: named input rules that block a request, output rules that redact answers.

use std::sync::Arc;

use regex::Regex;

use crate::config::raw::RawGuardrails;

mod body;
mod input;
mod scan;
mod stream;
mod tail;

pub(crate) use stream::StreamRedactor;

/// A rule that refuses a request whose prompt text matches.
#[derive(Debug, Clone)]
pub struct InputRule {
    pub name: String,
    pub regex: Regex,
}

/// A rule whose matches in an answer are replaced before the client sees them.
#[derive(Debug, Clone)]
pub struct OutputRule {
    pub name: String,
    pub regex: Regex,
    pub replace: String,
    /// Longest text one match can span; a stream holds back this much to catch split matches.
    pub max_match_chars: usize,
}

/// A policy's compiled guardrails; empty when the policy defines none.
///
/// The rule lists sit behind `Arc` so a clone is cheap enough to hand to a spawned stream task.
#[derive(Debug, Clone, Default)]
pub struct Guardrails {
    pub input: Arc<Vec<InputRule>>,
    pub output: Arc<Vec<OutputRule>>,
}

impl Guardrails {
    /// Compiles every rule; errors are `(field, needle, message)` for the config's problem list.
    pub fn compile(raw: &RawGuardrails) -> Result<Self, Vec<(String, String, String)>> {
        let mut errs = Vec::new();
        let build = |pattern: &str, case_sensitive: bool| {
            regex::RegexBuilder::new(pattern)
                .case_insensitive(!case_sensitive)
                .size_limit(1 << 22)
                .build()
        };
        let (mut input, mut output) = (Vec::new(), Vec::new());
        for (i, r) in raw.input.iter().enumerate() {
            match build(&r.pattern, r.case_sensitive) {
                Ok(regex) => input.push(InputRule {
                    name: r.name.clone(),
                    regex,
                }),
                Err(e) => errs.push((
                    format!("guardrails.input[{i}].pattern"),
                    r.name.clone(),
                    format!("invalid regex: {e}"),
                )),
            }
        }
        for (i, r) in raw.output.iter().enumerate() {
            match build(&r.pattern, true) {
                Ok(regex) => output.push(OutputRule {
                    name: r.name.clone(),
                    regex,
                    replace: r.replace.clone(),
                    max_match_chars: r.max_match_chars.max(1),
                }),
                Err(e) => errs.push((
                    format!("guardrails.output[{i}].pattern"),
                    r.name.clone(),
                    format!("invalid regex: {e}"),
                )),
            }
        }
        if errs.is_empty() {
            Ok(Self {
                input: Arc::new(input),
                output: Arc::new(output),
            })
        } else {
            Err(errs)
        }
    }
}

/// Guardrails compiled from a JSON form of the config, for tests.
#[cfg(test)]
pub(crate) fn test_guards(spec: serde_json::Value) -> Guardrails {
    let raw: RawGuardrails = serde_json::from_value(spec).expect("raw guardrails");
    Guardrails::compile(&raw).expect("guardrails compile")
}
