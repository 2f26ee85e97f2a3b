//! The Response object (`object: "response"`) and its output items, built from a chat answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::Echo;

/// A fresh id with OpenAI's prefix for its kind (`resp`, `msg`, `fc`).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:032x}", rand::random::<u128>())
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A Response object as OpenAI's SDKs read it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ResponseObject {
    pub id: String,
    pub object: &'static str,
    pub created_at: u64,
    pub status: Status,
    pub completed_at: Option<u64>,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<Incomplete>,
    pub instructions: Value,
    pub max_output_tokens: Option<u64>,
    pub model: String,
    pub output: Vec<OutputItem>,
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<String>,
    pub reasoning: Value,
    pub store: bool,
    pub temperature: Option<f64>,
    pub text: Value,
    pub tool_choice: Value,
    pub tools: Vec<Value>,
    pub top_p: Option<f64>,
    pub truncation: String,
    /// Absent until known (OpenAI's schema does not allow `null` here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<ResponseUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub metadata: Value,
}

/// Where a response (or an output item) is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    InProgress,
    Completed,
    Incomplete,
    Failed,
}

/// Why a failed response failed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ResponseError {
    pub code: &'static str,
    pub message: String,
}

/// Why an incomplete response stopped.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Incomplete {
    pub reason: &'static str,
}

/// One item of `output`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutputItem {
    Message {
        id: String,
        status: Status,
        role: &'static str,
        content: Vec<Content>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        status: Status,
    },
}

/// One content part of an output message.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Content {
    OutputText {
        text: String,
        annotations: Vec<Value>,
        logprobs: Vec<Value>,
    },
    Refusal {
        refusal: String,
    },
}

impl Content {
    /// An output text part.
    pub(crate) fn text(text: String) -> Self {
        Self::OutputText {
            text,
            annotations: Vec::new(),
            logprobs: Vec::new(),
        }
    }
}

/// Usage in the Responses API's terms.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct ResponseUsage {
    pub input_tokens: u64,
    pub input_tokens_details: InputDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputDetails,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct InputDetails {
    pub cached_tokens: u64,
    pub cache_write_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct OutputDetails {
    pub reasoning_tokens: u64,
}

/// Chat usage as any wire reports it (translated adapters add the details they know).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<ChatPromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<ChatCompletionDetails>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct ChatPromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct ChatCompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl From<ChatUsage> for ResponseUsage {
    fn from(u: ChatUsage) -> Self {
        let prompt = u.prompt_tokens_details.unwrap_or_default();
        Self {
            input_tokens: u.prompt_tokens,
            input_tokens_details: InputDetails {
                cached_tokens: prompt.cached_tokens.unwrap_or(0),
                cache_write_tokens: prompt.cache_creation_tokens.unwrap_or(0),
            },
            output_tokens: u.completion_tokens,
            output_tokens_details: OutputDetails {
                reasoning_tokens: u
                    .completion_tokens_details
                    .and_then(|d| d.reasoning_tokens)
                    .unwrap_or(0),
            },
            total_tokens: u
                .total_tokens
                .unwrap_or(u.prompt_tokens + u.completion_tokens),
        }
    }
}

/// The parts of a whole chat answer a Response is built from.
#[derive(Debug, Deserialize)]
struct ChatAnswer {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChatChoice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
}

#[derive(Debug, Deserialize)]
struct ChatChoice {
    message: ChatMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ChatToolCall>,
}

#[derive(Debug, Deserialize)]
struct ChatToolCall {
    #[serde(default)]
    id: Option<String>,
    function: ChatFunction,
}

#[derive(Debug, Deserialize)]
struct ChatFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// How the answer ended, from chat's `finish_reason`: `length` and `content_filter` leave
/// the response incomplete.
pub(crate) fn ending(finish_reason: Option<&str>) -> (Status, Option<Incomplete>) {
    match finish_reason {
        Some("length") => (
            Status::Incomplete,
            Some(Incomplete {
                reason: "max_output_tokens",
            }),
        ),
        Some("content_filter") => (
            Status::Incomplete,
            Some(Incomplete {
                reason: "content_filter",
            }),
        ),
        _ => (Status::Completed, None),
    }
}

impl ResponseObject {
    /// A response just begun: in progress, nothing output yet.
    pub(crate) fn begin(id: String, echo: &Echo) -> Self {
        Self {
            id,
            object: "response",
            created_at: now_secs(),
            status: Status::InProgress,
            completed_at: None,
            error: None,
            incomplete_details: None,
            instructions: echo.instructions.clone(),
            max_output_tokens: echo.max_output_tokens,
            model: echo.model.clone(),
            output: Vec::new(),
            parallel_tool_calls: echo.parallel_tool_calls,
            previous_response_id: echo.previous_response_id.clone(),
            reasoning: echo.reasoning.clone(),
            store: echo.store,
            temperature: echo.temperature,
            text: echo.text.clone(),
            tool_choice: echo.tool_choice.clone(),
            tools: echo.tools.clone(),
            top_p: echo.top_p,
            truncation: echo.truncation.clone(),
            usage: None,
            user: echo.user.clone(),
            metadata: echo.metadata.clone(),
        }
    }

    /// Ends the response with `status`.
    pub(crate) fn end(&mut self, status: Status, incomplete: Option<Incomplete>) {
        self.status = status;
        self.incomplete_details = incomplete;
        if status == Status::Completed {
            self.completed_at = Some(now_secs());
        }
    }

    /// The whole response for a whole chat answer (`chat.completion` JSON).
    pub(crate) fn from_chat(id: String, echo: &Echo, body: &[u8]) -> Result<Self, String> {
        let answer: ChatAnswer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let mut response = Self::begin(id, echo);
        if let Some(model) = answer.model {
            response.model = model;
        }
        let choice = answer.choices.into_iter().next();
        let (status, incomplete) = ending(choice.as_ref().and_then(|c| c.finish_reason.as_deref()));
        if let Some(choice) = choice {
            let message = choice.message;
            let mut content = Vec::new();
            if let Some(text) = message
                .content
                .as_ref()
                .and_then(text_of)
                .filter(|t| !t.is_empty())
            {
                content.push(Content::text(text));
            }
            if let Some(refusal) = message.refusal.filter(|r| !r.is_empty()) {
                content.push(Content::Refusal { refusal });
            }
            if !content.is_empty() {
                response.output.push(OutputItem::Message {
                    id: new_id("msg"),
                    status,
                    role: "assistant",
                    content,
                });
            }
            for call in message.tool_calls {
                response.output.push(OutputItem::FunctionCall {
                    id: new_id("fc"),
                    call_id: call.id.unwrap_or_else(|| new_id("call")),
                    name: call.function.name.unwrap_or_default(),
                    arguments: call.function.arguments.unwrap_or_default(),
                    status: Status::Completed,
                });
            }
        }
        response.usage = answer.usage.map(ResponseUsage::from);
        response.end(status, incomplete);
        Ok(response)
    }

    /// The answer as one chat assistant message, for continuing the conversation.
    pub(crate) fn as_chat_message(&self) -> Option<Value> {
        super::native::chat_message(&serde_json::to_value(self).ok()?)
    }
}

/// A chat message content's text: a string, or the text parts of an array.
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn echo() -> Echo {
        Echo {
            model: "auto".into(),
            store: true,
            ..Echo::default()
        }
    }

    #[test]
    fn a_chat_answer_becomes_message_and_function_call_items_with_usage() {
        let body = json!({"id": "c", "object": "chat.completion", "model": "mini", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "hello", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10, "prompt_tokens_details": {"cached_tokens": 2}}});
        let r = ResponseObject::from_chat(
            "resp_x".into(),
            &echo(),
            &serde_json::to_vec(&body).unwrap(),
        )
        .unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["status"], "completed");
        assert_eq!(v["model"], "mini");
        assert_eq!(v["output"][0]["type"], "message");
        assert_eq!(
            v["output"][0]["content"][0],
            json!({"type": "output_text", "text": "hello", "annotations": [], "logprobs": []})
        );
        assert_eq!(v["output"][1]["type"], "function_call");
        assert_eq!(v["output"][1]["call_id"], "call_1");
        assert_eq!(v["usage"]["input_tokens"], 7);
        assert_eq!(v["usage"]["input_tokens_details"]["cached_tokens"], 2);
        assert_eq!(v["usage"]["total_tokens"], 10);
        let m = r.as_chat_message().unwrap();
        assert_eq!(m["content"], "hello");
        assert_eq!(m["tool_calls"][0]["id"], "call_1");
    }

    #[test]
    fn a_length_stop_is_incomplete() {
        let body = br#"{"choices":[{"message":{"content":"cut"},"finish_reason":"length"}]}"#;
        let r = ResponseObject::from_chat("resp_y".into(), &echo(), body).unwrap();
        assert_eq!(r.status, Status::Incomplete);
        assert_eq!(r.incomplete_details.unwrap().reason, "max_output_tokens");
        assert!(r.completed_at.is_none() && r.usage.is_none());
    }
}
