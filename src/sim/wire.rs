//! Serialisation of `chat.completion` objects and `chat.completion.chunk` SSE events.

use bytes::Bytes;
use serde::Serialize;

use super::reply::{Piece, Reply};

/// Response id shared by all chunks of one reply: `chatcmpl-sim-<n>`.
#[derive(Clone, Copy)]
pub(super) struct CompletionId(pub u64);

impl Serialize for CompletionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("chatcmpl-sim-{}", self.0))
    }
}

/// Token counts as OpenAI reports them.
#[derive(Serialize, Clone, Copy)]
pub(super) struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    pub(super) fn new(prompt_tokens: u64, completion_tokens: usize) -> Self {
        let completion_tokens = completion_tokens as u64;
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

const FINGERPRINT: &str = "fp_switchyard_sim";

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: CompletionId,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: [Choice<'a>; 1],
    usage: Usage,
}

/// Serialises a non-streaming `chat.completion` object.
pub(super) fn completion_json(
    id: CompletionId,
    created: u64,
    model: &str,
    reply: &Reply,
    usage: Usage,
) -> Vec<u8> {
    completion_text(id, created, model, &reply.text(), reply.finish, usage)
}

/// Serialises a non-streaming `chat.completion` object answering `text`.
pub(super) fn completion_text(
    id: CompletionId,
    created: u64,
    model: &str,
    text: &str,
    finish_reason: &'static str,
    usage: Usage,
) -> Vec<u8> {
    let body = Completion {
        id,
        object: "chat.completion",
        created,
        model,
        system_fingerprint: FINGERPRINT,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: text,
                refusal: None,
            },
            logprobs: None,
            finish_reason,
        }],
        usage,
    };
    let mut out = Vec::with_capacity(text.len() + 384);
    serde_json::to_writer(&mut out, &body).expect("serialising plain structs cannot fail");
    out
}

/// The `delta` of a streamed chunk.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum Delta<'a> {
    /// First chunk: `{"role":"assistant","content":""}`.
    Role {
        role: &'static str,
        content: &'static str,
    },
    /// One word: `{"content":" word"}`.
    Content { content: Piece<'a> },
    /// Any text: `{"content":"text"}` (the fault modes' chunks).
    Text { content: &'a str },
    /// Final chunk: `{}`.
    Empty {},
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: CompletionId,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [ChunkChoice<'a>],
    /// Absent without `include_usage`; `null` on every chunk but the usage chunk with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

/// Fields shared by every chunk of one streamed reply.
pub(super) struct ChunkHead {
    pub id: CompletionId,
    pub created: u64,
    pub model: String,
    pub include_usage: bool,
}

impl ChunkHead {
    /// One `data: {chat.completion.chunk}\n\n` event with a single choice.
    pub(super) fn choice(&self, delta: Delta<'_>, finish_reason: Option<&'static str>) -> Bytes {
        let choices = [ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        }];
        self.event(&choices, self.include_usage.then_some(None))
    }

    /// The `include_usage` chunk: empty `choices` and the totals.
    pub(super) fn usage(&self, usage: Usage) -> Bytes {
        self.event(&[], Some(Some(usage)))
    }

    fn event(&self, choices: &[ChunkChoice<'_>], usage: Option<Option<Usage>>) -> Bytes {
        let chunk = Chunk {
            id: self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            system_fingerprint: FINGERPRINT,
            choices,
            usage,
        };
        let mut out = Vec::with_capacity(256 + self.model.len());
        out.extend_from_slice(b"data: ");
        serde_json::to_writer(&mut out, &chunk).expect("serialising plain structs cannot fail");
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    }
}

/// Terminates an OpenAI event stream.
pub(super) const DONE: &[u8] = b"data: [DONE]\n\n";
