//! Gemini `GenerateContentResponse` -> OpenAI `chat.completion`, plus finish-reason and usage mapping.

use serde::Deserialize;
use serde_json::Value;

use crate::openai::{
    Completion, CompletionChoice, CompletionDetails, CompletionMessage, PromptDetailsReport,
    ToolCall, UsageReport,
};

/// The parts of a `GenerateContentResponse` the router reads (also each `alt=sse` event).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
    /// Present when `responseLogprobs` was asked for.
    #[serde(default)]
    pub logprobs_result: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Content {
    #[serde(default)]
    pub parts: Vec<Part>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Part {
    #[serde(default)]
    pub text: Option<String>,
    /// Thinking summaries are not part of the answer.
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(default)]
    pub function_call: Option<FunctionCall>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub args: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback {
    #[serde(default)]
    pub block_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub candidates_token_count: u64,
    #[serde(default)]
    pub total_token_count: Option<u64>,
    #[serde(default)]
    pub cached_content_token_count: u64,
    #[serde(default)]
    pub thoughts_token_count: u64,
}

impl Candidate {
    pub(super) fn index_or(&self, pos: usize) -> u32 {
        self.index.unwrap_or(pos as u32)
    }

    /// Answer text parts and function calls, thoughts skipped.
    pub(super) fn parts(&self) -> impl Iterator<Item = &Part> {
        self.content
            .iter()
            .flat_map(|c| c.parts.iter())
            .filter(|p| p.thought != Some(true))
    }
}

impl FunctionCall {
    /// `args` as OpenAI's `arguments` JSON string.
    pub(super) fn arguments(&self) -> String {
        match &self.args {
            Some(v @ Value::Object(_)) => v.to_string(),
            _ => "{}".into(),
        }
    }
}

impl GenerateContentResponse {
    /// The prompt itself was blocked: no candidates, a `promptFeedback.blockReason`.
    pub(super) fn prompt_blocked(&self) -> bool {
        self.candidates.is_empty()
            && self
                .prompt_feedback
                .as_ref()
                .is_some_and(|f| f.block_reason.is_some())
    }
}

/// Gemini's `logprobsResult` (`chosenCandidates`, and `topCandidates` per step) as OpenAI's
/// `choices[].logprobs` (`content[]` of token, logprob, bytes and `top_logprobs`).
pub(crate) fn openai_logprobs(result: &Value) -> Value {
    let entry = |c: &Value| {
        let token = c["token"].as_str().unwrap_or_default();
        serde_json::json!({"token": token, "logprob": c["logProbability"].as_f64().unwrap_or(0.0),
            "bytes": token.as_bytes()})
    };
    let empty = Vec::new();
    let chosen = result["chosenCandidates"].as_array().unwrap_or(&empty);
    let tops = result["topCandidates"].as_array().unwrap_or(&empty);
    let content: Vec<Value> = chosen
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut e = entry(c);
            let top: Vec<Value> = tops
                .get(i)
                .and_then(|t| t["candidates"].as_array())
                .map(|cs| cs.iter().map(entry).collect())
                .unwrap_or_default();
            e["top_logprobs"] = Value::Array(top);
            e
        })
        .collect();
    serde_json::json!({"content": content, "refusal": null})
}

/// Gemini `finishReason` -> OpenAI `finish_reason`; a STOP with function calls is `tool_calls`.
pub(crate) fn finish_reason(reason: &str, has_calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        _ if has_calls => "tool_calls",
        _ => "stop",
    }
}

/// `usageMetadata` -> OpenAI `usage` with cached (and reasoning) token details.
pub(crate) fn usage_report(u: &UsageMetadata) -> UsageReport {
    // upstream numbers: saturate rather than overflow on absurd counts
    let completion = u
        .candidates_token_count
        .saturating_add(u.thoughts_token_count);
    UsageReport {
        prompt_tokens: u.prompt_token_count,
        completion_tokens: completion,
        total_tokens: u
            .total_token_count
            .unwrap_or(u.prompt_token_count.saturating_add(completion)),
        prompt_tokens_details: PromptDetailsReport {
            cached_tokens: u.cached_content_token_count,
            cache_creation_tokens: None,
        },
        completion_tokens_details: (u.thoughts_token_count > 0).then_some(CompletionDetails {
            reasoning_tokens: u.thoughts_token_count,
        }),
    }
}

/// An OpenAI tool call for the `n`-th function call of a reply.
pub(crate) fn tool_call(call_prefix: &str, n: usize, f: &FunctionCall) -> ToolCall {
    ToolCall::function(
        Some(format!("call_{call_prefix}{n}")),
        Some(f.name.clone()),
        f.arguments(),
    )
}

/// Identity of one translated answer: ids and the model name the client sees.
pub(crate) struct Meta<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    /// Makes tool call ids unique across turns: `call_<prefix><n>`.
    pub call_prefix: &'a str,
}

/// Builds the `chat.completion` object; `Err` when the answer has neither candidates nor a block reason.
pub(crate) fn to_completion(
    resp: &GenerateContentResponse,
    meta: &Meta,
) -> Result<Completion, String> {
    let mut choices = Vec::new();
    let mut calls = 0usize;
    for (pos, c) in resp.candidates.iter().enumerate() {
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for p in c.parts() {
            if let Some(t) = &p.text {
                text.push_str(t);
            }
            if let Some(f) = &p.function_call {
                tool_calls.push(tool_call(meta.call_prefix, calls, f));
                calls += 1;
            }
        }
        let no_text = text.is_empty() && (!tool_calls.is_empty() || c.content.is_none());
        let reason = finish_reason(
            c.finish_reason.as_deref().unwrap_or("STOP"),
            !tool_calls.is_empty(),
        );
        choices.push(CompletionChoice {
            index: c.index_or(pos),
            message: CompletionMessage::assistant((!no_text).then_some(text), tool_calls),
            logprobs: c.logprobs_result.as_ref().map(openai_logprobs),
            finish_reason: reason,
        });
    }
    if choices.is_empty() {
        if !resp.prompt_blocked() {
            return Err("the answer has no candidates".into());
        }
        choices.push(CompletionChoice {
            index: 0,
            message: CompletionMessage::assistant(None, Vec::new()),
            logprobs: None,
            finish_reason: "content_filter",
        });
    }
    Ok(Completion::new(
        meta.id.to_owned(),
        meta.created,
        meta.model.to_owned(),
        choices,
        resp.usage_metadata.as_ref().map(usage_report),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn completion(r: &GenerateContentResponse) -> Value {
        serde_json::to_value(to_completion(r, &META).unwrap()).unwrap()
    }

    const META: Meta = Meta {
        id: "chatcmpl-x",
        created: 7,
        model: "gemini-test",
        call_prefix: "p",
    };

    fn parse(v: Value) -> GenerateContentResponse {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn text_answer_with_usage() {
        let r = parse(
            json!({"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"},{"text":"lo"},{"text":"hmm","thought":true}]},"finishReason":"STOP","index":0,"safetyRatings":[]}],
            "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":2,"totalTokenCount":12,"cachedContentTokenCount":4}}),
        );
        let c = completion(&r);
        assert_eq!(c["choices"][0]["message"]["content"], "Hello");
        assert_eq!(c["choices"][0]["finish_reason"], "stop");
        assert_eq!(c["model"], "gemini-test");
        assert_eq!(
            c["usage"],
            json!({"prompt_tokens":10,"completion_tokens":2,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}})
        );
    }

    #[test]
    fn function_calls_become_tool_calls() {
        let r = parse(
            json!({"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":1}}},{"functionCall":{"name":"g"}}]},"finishReason":"STOP"}]}),
        );
        let c = completion(&r);
        let m = &c["choices"][0]["message"];
        assert_eq!(m["content"], Value::Null);
        assert_eq!(m["tool_calls"][0]["id"], "call_p0");
        assert_eq!(m["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
        assert_eq!(m["tool_calls"][1]["function"]["arguments"], "{}");
        assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn absurd_usage_numbers_saturate() {
        let u = usage_report(&UsageMetadata {
            prompt_token_count: u64::MAX,
            candidates_token_count: u64::MAX,
            thoughts_token_count: 5,
            ..UsageMetadata::default()
        });
        assert_eq!((u.completion_tokens, u.total_tokens), (u64::MAX, u64::MAX));
    }

    #[test]
    fn logprobs_result_becomes_openai_logprobs() {
        let r = parse(
            json!({"candidates":[{"content":{"parts":[{"text":"Hi"}]},"finishReason":"STOP",
            "logprobsResult":{"chosenCandidates":[{"token":"Hi","logProbability":-0.5}],
                "topCandidates":[{"candidates":[{"token":"Hi","logProbability":-0.5},{"token":"Yo","logProbability":-1.5}]}]}}]}),
        );
        let c = completion(&r);
        let lp = &c["choices"][0]["logprobs"]["content"][0];
        assert_eq!(lp["token"], "Hi");
        assert_eq!(lp["logprob"], -0.5);
        assert_eq!(lp["bytes"], json!([72, 105]));
        assert_eq!(lp["top_logprobs"][1]["token"], "Yo");
        let plain = parse(json!({"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}));
        assert!(completion(&plain)["choices"][0]["logprobs"].is_null());
    }

    #[test]
    fn maps_finish_reasons_and_blocks() {
        assert_eq!(finish_reason("MAX_TOKENS", false), "length");
        for r in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
        ] {
            assert_eq!(finish_reason(r, false), "content_filter");
        }
        assert_eq!(finish_reason("OTHER", false), "stop");
        let r = parse(
            json!({"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":3}}),
        );
        let c = completion(&r);
        assert_eq!(c["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(c["choices"][0]["message"]["content"], Value::Null);
        assert!(to_completion(&parse(json!({})), &META).is_err());
    }
}
