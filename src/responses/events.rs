//! The Responses event stream, written from the chat chunks the relay sends.
//!
//! Order, as OpenAI's SDKs expect it: `response.created`, `response.in_progress`, then per
//! output item `response.output_item.added`; for a message `response.content_part.added`,
//! `response.output_text.delta`…, `response.output_text.done`, `response.content_part.done`;
//! for a function call `response.function_call_arguments.delta`…,
//! `response.function_call_arguments.done`; then `response.output_item.done`; finally
//! `response.completed` (or `response.incomplete` when the answer was cut by
//! `max_output_tokens` or a content filter) carrying the whole response and its usage. A stream
//! that breaks ends with `response.failed` and an `error` event. Every event carries its
//! `sequence_number`, from 0.

use serde::Serialize;

use super::chunk::{Chunk, Delta, ToolDelta};

use super::object::{
    ending, new_id, ChatUsage, Content, OutputItem, ResponseError, ResponseObject, ResponseUsage,
    Status,
};

/// The output item being streamed.
#[derive(Debug)]
enum Open {
    Message {
        id: String,
        index: usize,
        text: String,
        refusal: String,
    },
    Call {
        /// The chat `tool_calls[].index` it streams under.
        chat_index: u64,
        id: String,
        index: usize,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// One event: its `type`, its fields, and its place in the stream.
#[derive(Serialize)]
struct Framed<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: T,
    sequence_number: u64,
}

#[derive(Serialize)]
struct Whole<'a> {
    response: &'a ResponseObject,
}

#[derive(Serialize)]
struct Item<'a> {
    output_index: usize,
    item: &'a OutputItem,
}

#[derive(Serialize)]
struct Part<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    part: &'a Content,
}

#[derive(Serialize)]
struct Text<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct Refusal<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    refusal: &'a str,
}

#[derive(Serialize)]
struct Arguments<'a> {
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    code: Option<&'a str>,
    message: &'a str,
    param: Option<&'a str>,
}

/// Turns a relayed chat stream into Responses events, one chunk at a time.
#[derive(Debug)]
pub(crate) struct Translator {
    response: ResponseObject,
    seq: u64,
    started: bool,
    open: Option<Open>,
    finish_reason: Option<String>,
    usage: Option<ChatUsage>,
    /// Set once a final event (`completed`, `incomplete` or `failed`) was written.
    ended: bool,
}

impl Translator {
    /// A translator for the response `response` (as begun, in progress).
    pub(crate) fn new(response: ResponseObject) -> Self {
        Self {
            response,
            seq: 0,
            started: false,
            open: None,
            finish_reason: None,
            usage: None,
            ended: false,
        }
    }

    /// The response as it ended, once a final event was written.
    pub(crate) fn finished(&self) -> Option<&ResponseObject> {
        self.ended.then_some(&self.response)
    }

    /// Whether a final event was written.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    fn emit<T: Serialize>(&mut self, out: &mut Vec<u8>, kind: &str, body: T) {
        let framed = Framed {
            kind,
            body,
            sequence_number: self.seq,
        };
        self.seq += 1;
        let Ok(json) = serde_json::to_string(&framed) else {
            return;
        };
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(json.as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    fn emit_response(&mut self, out: &mut Vec<u8>, kind: &str) {
        let response = self.response.clone();
        self.emit(
            out,
            kind,
            Whole {
                response: &response,
            },
        );
    }

    /// `response.created` and `response.in_progress`, once.
    pub(crate) fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.emit_response(out, "response.created");
            self.emit_response(out, "response.in_progress");
        }
    }

    /// Translates one relayed `data:` payload (a chat chunk, or the relay's error event).
    pub(crate) fn push(&mut self, data: &str, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Chunk>(data) else {
            return;
        };
        if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
            if !self.started {
                self.response.model = model;
            }
        }
        self.start(out);
        if let Some(error) = chunk.error {
            self.fail(&error.message, error.code.as_deref(), out);
            return;
        }
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                self.delta(delta, out);
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
    }

    fn delta(&mut self, delta: Delta, out: &mut Vec<u8>) {
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            let (id, index) = self.message(out);
            self.emit(
                out,
                "response.output_text.delta",
                Text {
                    item_id: &id,
                    output_index: index,
                    content_index: 0,
                    delta: Some(&text),
                    text: None,
                    logprobs: [],
                },
            );
            if let Some(Open::Message { text: all, .. }) = &mut self.open {
                all.push_str(&text);
            }
        }
        if let Some(refusal) = delta.refusal.filter(|r| !r.is_empty()) {
            self.message(out);
            if let Some(Open::Message { refusal: all, .. }) = &mut self.open {
                all.push_str(&refusal);
            }
        }
        for call in delta.tool_calls {
            self.tool_delta(call, out);
        }
    }

    /// The open message's id and output index, opening one (and closing a call) if needed.
    fn message(&mut self, out: &mut Vec<u8>) -> (String, usize) {
        if let Some(Open::Message { id, index, .. }) = &self.open {
            return (id.clone(), *index);
        }
        self.close(Status::Completed, out);
        let id = new_id("msg");
        let index = self.response.output.len();
        let item = OutputItem::Message {
            id: id.clone(),
            status: Status::InProgress,
            role: "assistant",
            content: Vec::new(),
        };
        self.emit(
            out,
            "response.output_item.added",
            Item {
                output_index: index,
                item: &item,
            },
        );
        self.emit(
            out,
            "response.content_part.added",
            Part {
                item_id: &id,
                output_index: index,
                content_index: 0,
                part: &Content::text(String::new()),
            },
        );
        self.open = Some(Open::Message {
            id: id.clone(),
            index,
            text: String::new(),
            refusal: String::new(),
        });
        (id, index)
    }

    fn tool_delta(&mut self, call: ToolDelta, out: &mut Vec<u8>) {
        let chat_index = call.index.unwrap_or(0);
        let function = call.function.unwrap_or_default();
        let same = matches!(&self.open, Some(Open::Call { chat_index: c, .. }) if *c == chat_index);
        if !same {
            self.close(Status::Completed, out);
            let id = new_id("fc");
            let index = self.response.output.len();
            let call_id = call.id.unwrap_or_else(|| new_id("call"));
            let name = function.name.clone().unwrap_or_default();
            let item = OutputItem::FunctionCall {
                id: id.clone(),
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: String::new(),
                status: Status::InProgress,
            };
            self.emit(
                out,
                "response.output_item.added",
                Item {
                    output_index: index,
                    item: &item,
                },
            );
            self.open = Some(Open::Call {
                chat_index,
                id,
                index,
                call_id,
                name,
                arguments: String::new(),
            });
        }
        let Some(args) = function.arguments.filter(|a| !a.is_empty()) else {
            return;
        };
        let Some(Open::Call { id, index, .. }) = &self.open else {
            return;
        };
        let (id, index) = (id.clone(), *index);
        self.emit(
            out,
            "response.function_call_arguments.delta",
            Arguments {
                item_id: &id,
                output_index: index,
                delta: Some(&args),
                name: None,
                arguments: None,
            },
        );
        if let Some(Open::Call { arguments, .. }) = &mut self.open {
            arguments.push_str(&args);
        }
    }

    /// Finishes the open item with its done events and adds it to the output.
    fn close(&mut self, status: Status, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else { return };
        let (index, item) = match open {
            Open::Message {
                id,
                index,
                text,
                refusal,
            } => {
                self.emit(
                    out,
                    "response.output_text.done",
                    Text {
                        item_id: &id,
                        output_index: index,
                        content_index: 0,
                        delta: None,
                        text: Some(&text),
                        logprobs: [],
                    },
                );
                let mut content = vec![Content::text(text)];
                self.emit(
                    out,
                    "response.content_part.done",
                    Part {
                        item_id: &id,
                        output_index: index,
                        content_index: 0,
                        part: &content[0],
                    },
                );
                if !refusal.is_empty() {
                    self.refusal_part(&id, index, refusal, &mut content, out);
                }
                let item = OutputItem::Message {
                    id,
                    status,
                    role: "assistant",
                    content,
                };
                (index, item)
            }
            Open::Call {
                id,
                index,
                call_id,
                name,
                arguments,
                ..
            } => {
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    Arguments {
                        item_id: &id,
                        output_index: index,
                        delta: None,
                        name: Some(&name),
                        arguments: Some(&arguments),
                    },
                );
                let item = OutputItem::FunctionCall {
                    id,
                    call_id,
                    name,
                    arguments,
                    status: if status == Status::Incomplete {
                        Status::Incomplete
                    } else {
                        Status::Completed
                    },
                };
                (index, item)
            }
        };
        self.emit(
            out,
            "response.output_item.done",
            Item {
                output_index: index,
                item: &item,
            },
        );
        self.response.output.push(item);
    }

    /// A refusal as the message's second content part (added, its text done, part done).
    fn refusal_part(
        &mut self,
        id: &str,
        index: usize,
        refusal: String,
        content: &mut Vec<Content>,
        out: &mut Vec<u8>,
    ) {
        let empty = Content::Refusal {
            refusal: String::new(),
        };
        self.emit(
            out,
            "response.content_part.added",
            Part {
                item_id: id,
                output_index: index,
                content_index: 1,
                part: &empty,
            },
        );
        self.emit(
            out,
            "response.refusal.done",
            Refusal {
                item_id: id,
                output_index: index,
                content_index: 1,
                refusal: &refusal,
            },
        );
        let part = Content::Refusal { refusal };
        self.emit(
            out,
            "response.content_part.done",
            Part {
                item_id: id,
                output_index: index,
                content_index: 1,
                part: &part,
            },
        );
        content.push(part);
    }

    /// The stream ended cleanly (`[DONE]`): closes the open item and writes
    /// `response.completed` (or `response.incomplete`) with the usage.
    pub(crate) fn done(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.start(out);
        let (status, incomplete) = ending(self.finish_reason.as_deref());
        let item_status = if status == Status::Incomplete {
            Status::Incomplete
        } else {
            Status::Completed
        };
        self.close(item_status, out);
        self.response.usage = self.usage.map(ResponseUsage::from);
        self.response.end(status, incomplete);
        self.ended = true;
        let kind = if status == Status::Completed {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.emit_response(out, kind);
    }

    /// The stream broke: the open item ends incomplete, then `response.failed` and `error`.
    pub(crate) fn fail(&mut self, message: &str, code: Option<&str>, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.start(out);
        self.close(Status::Incomplete, out);
        self.response.usage = self.usage.map(ResponseUsage::from);
        self.response.status = Status::Failed;
        self.response.error = Some(ResponseError {
            code: "server_error",
            message: message.to_owned(),
        });
        self.ended = true;
        self.emit_response(out, "response.failed");
        self.emit(
            out,
            "error",
            ErrorFields {
                code: Some(code.unwrap_or("server_error")),
                message,
                param: None,
            },
        );
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
