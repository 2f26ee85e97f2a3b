//! OpenAI wire types: requests as clients send them, answers and chunks as the router reads and
//! builds them, and the error body every OpenAI SDK understands.

mod error_body;
mod reply;
mod request;

pub use error_body::{json_response, ErrorBody, ErrorDetail};
pub use reply::{
    ChunkChoice, ChunkDelta, ChunkView, Completion, CompletionChoice, CompletionDetails,
    CompletionMessage, FunctionCall, PromptDetails, PromptDetailsReport, ReplyChoice, ReplyMessage,
    ReplyView, ToolCall, Usage, UsageReport,
};
pub use request::ChatRequest;
