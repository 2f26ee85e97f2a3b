//! OpenAI wire types: requests as clients send them, answers and chunks as the router reads and
//! builds them, and the error body every OpenAI SDK understands.

mod checked;
mod chunk;
mod chunk_scan;
mod error_body;
mod reply;
mod request;

pub(crate) use checked::read_object;
pub(crate) use chunk::Chunk;
pub(crate) use error_body::{json_response, ErrorBody};
pub(crate) use reply::PromptDetails;
pub use reply::Usage;
pub(crate) use reply::{
    ChunkView, Completion, CompletionChoice, CompletionDetails, CompletionMessage,
    PromptDetailsReport, ReplyView, ToolCall, UsageReport,
};
pub(crate) use request::json_object;
pub use request::ChatRequest;
