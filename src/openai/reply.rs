//! The parts of OpenAI answers and stream chunks the router reads, and the typed answer adapters build.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Token usage as OpenAI reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    /// Cache reads and writes, both already counted in `prompt_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptDetails>,
}

/// OpenAI's `usage.prompt_tokens_details`, plus the cache-write count the Anthropic adapter adds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: u64,
    #[serde(default)]
    pub cache_creation_tokens: u64,
}

impl Usage {
    /// Prompt tokens read from the provider's cache.
    pub fn cached(&self) -> u64 {
        self.prompt_tokens_details.map_or(0, |d| d.cached_tokens)
    }

    /// Prompt tokens written to the provider's cache.
    pub fn cache_writes(&self) -> u64 {
        self.prompt_tokens_details
            .map_or(0, |d| d.cache_creation_tokens)
    }
}

/// The parts of a non-streamed answer the ledger needs, borrowed from the answer's text.
#[derive(Debug, Deserialize)]
pub(crate) struct ReplyView<'a> {
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default, borrow)]
    pub choices: Vec<ReplyChoice<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReplyChoice<'a> {
    #[serde(default, borrow)]
    pub message: Option<ReplyMessage<'a>>,
    /// Legacy completions put the text here.
    #[serde(default, borrow)]
    pub text: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReplyMessage<'a> {
    #[serde(default, borrow)]
    pub content: Option<Text<'a>>,
}

impl ReplyView<'_> {
    /// Every choice's text, for counting completion tokens when the upstream gave no usage.
    pub(crate) fn text(&self) -> String {
        self.choices
            .iter()
            .filter_map(|c| {
                c.message
                    .as_ref()
                    .and_then(|m| m.content.as_deref())
                    .or(c.text.as_deref())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A JSON string borrowed from the text it was read from, or decoded when it has escapes
/// (serde borrows a `Cow` only as a direct field, never inside an `Option`).
#[derive(Debug)]
pub(crate) struct Text<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Text<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }

            fn visit_str<E>(self, s: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// The parts of a stream chunk the router reads, borrowed from the chunk's text.
#[derive(Debug, Deserialize)]
pub(crate) struct ChunkView<'a> {
    #[serde(default, borrow)]
    pub choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    /// A natively relayed Responses API event's `type` (chat chunks have none).
    #[serde(default, rename = "type", borrow)]
    pub event: Option<Text<'a>>,
    /// A natively relayed Responses API delta event's `delta`.
    #[serde(default)]
    pub delta: Option<Value>,
}

impl ChunkView<'_> {
    /// The answer text a natively relayed Responses event adds (`response.output_text.delta`),
    /// so time to first token and local counting work on that stream too.
    pub(crate) fn native_text(&self) -> Option<&str> {
        match self.event.as_deref() {
            Some("response.output_text.delta") => self.delta.as_ref().and_then(Value::as_str),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChunkChoice<'a> {
    #[serde(default, borrow)]
    pub delta: Option<ChunkDelta<'a>>,
    /// Legacy completions stream their text here.
    #[serde(default, borrow)]
    pub text: Option<Text<'a>>,
    /// Set on the choice's last chunk.
    #[serde(default, borrow)]
    pub finish_reason: Option<Text<'a>>,
}

impl ChunkChoice<'_> {
    /// The text this chunk adds, from either a chat delta or a legacy completion.
    pub(crate) fn text(&self) -> Option<&str> {
        self.delta
            .as_ref()
            .and_then(|d| d.content.as_deref())
            .or(self.text.as_deref())
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChunkDelta<'a> {
    #[serde(default, borrow)]
    pub content: Option<Text<'a>>,
    /// Only whether the chunk streams tool calls is read.
    #[serde(default)]
    pub tool_calls: Option<serde::de::IgnoredAny>,
}

/// A whole chat answer in OpenAI's `chat.completion` shape, built by the adapters of wires that
/// speak another format and serialised once, straight into the response body.
#[derive(Debug, Serialize)]
pub(crate) struct Completion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    /// Absent when the upstream reported none (the ledger then counts the text itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageReport>,
}

/// One `choices[]` entry of a [`Completion`].
#[derive(Debug, Serialize)]
pub(crate) struct CompletionChoice {
    pub index: u32,
    pub message: CompletionMessage,
    /// `null` unless the wire reports log probabilities (Gemini does when asked).
    pub logprobs: Option<Value>,
    pub finish_reason: &'static str,
}

/// The assistant message of a [`CompletionChoice`].
#[derive(Debug, Serialize)]
pub(crate) struct CompletionMessage {
    pub role: &'static str,
    /// `null` when the answer is only tool calls (or, on Gemini, has no content at all).
    pub content: Option<String>,
    pub refusal: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The deprecated single call, for clients that sent `functions` instead of `tools`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// The model's visible reasoning (Anthropic `thinking` blocks), as DeepSeek and others
    /// name it in OpenAI's shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Anthropic's thinking blocks as sent (signatures, redacted ones), so a Messages client
    /// gets them back to continue the conversation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thinking_blocks: Vec<Value>,
}

impl CompletionMessage {
    /// An assistant message with `content` and `tool_calls`.
    pub(crate) fn assistant(content: Option<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self {
            role: "assistant",
            content,
            refusal: None,
            tool_calls,
            function_call: None,
            reasoning_content: None,
            thinking_blocks: Vec::new(),
        }
    }
}

/// A function call the model asks for, as OpenAI's `tool_calls[]`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ToolCall {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCall,
}

/// The function and its JSON-encoded arguments.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FunctionCall {
    pub name: Option<String>,
    pub arguments: String,
}

impl ToolCall {
    /// A `function` tool call.
    pub(crate) fn function(id: Option<String>, name: Option<String>, arguments: String) -> Self {
        Self {
            id,
            kind: "function",
            function: FunctionCall { name, arguments },
        }
    }
}

/// Usage as translated adapters report it: OpenAI's fields with `total_tokens` and the details
/// each wire knows (Anthropic its cache writes, Gemini its reasoning tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct UsageReport {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptDetailsReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionDetails>,
}

/// `usage.prompt_tokens_details` of a [`UsageReport`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct PromptDetailsReport {
    pub cached_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_creation_tokens: Option<u64>,
}

/// `usage.completion_tokens_details`: reasoning tokens, part of `completion_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct CompletionDetails {
    pub reasoning_tokens: u64,
}

impl UsageReport {
    /// What the ledger reads of it.
    pub(crate) fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            prompt_tokens_details: Some(PromptDetails {
                cached_tokens: self.prompt_tokens_details.cached_tokens,
                cache_creation_tokens: self
                    .prompt_tokens_details
                    .cache_creation_tokens
                    .unwrap_or(0),
            }),
        }
    }
}

impl Completion {
    /// Every choice's text, for counting completion tokens when no usage was reported.
    pub(crate) fn text(&self) -> String {
        self.choices
            .iter()
            .filter_map(|c| c.message.content.as_deref())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A `chat.completion` object.
    pub(crate) fn new(
        id: String,
        created: u64,
        model: String,
        choices: Vec<CompletionChoice>,
        usage: Option<UsageReport>,
    ) -> Self {
        Self {
            id,
            object: "chat.completion",
            created,
            model,
            choices,
            usage,
        }
    }
}
