//! What each wire API looks like to the conformance cases: its sim, its error bodies, and
//! where a request's parts sit in the body the provider received.

use serde_json::{json, Value};
use switchyard::sim::{self, Behavior, SimSettings, SimUpstream};

/// The wire API of the provider under test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Wire {
    pub(super) async fn spawn(self) -> SimUpstream {
        let settings = SimSettings::fast("p", ["m1"]);
        match self {
            Wire::OpenAi => sim::spawn(settings).await,
            Wire::Anthropic => sim::spawn_anthropic(settings).await,
            Wire::Gemini => sim::spawn_gemini(settings).await,
        }
        .expect("spawn sim")
    }

    pub(super) fn base_url(self, sim: &SimUpstream) -> String {
        match self {
            Wire::Gemini => format!("http://{}/v1beta", sim.addr()),
            _ => sim.base_url(),
        }
    }

    /// A vendor error body with this status, vendor error kind and message.
    pub(super) fn error(self, status: u16, kind: &str, message: &str) -> Behavior {
        let body = match self {
            Wire::OpenAi => {
                json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
            }
            Wire::Anthropic => {
                json!({"type": "error", "error": {"type": kind, "message": message}})
            }
            Wire::Gemini => {
                json!({"error": {"code": status, "message": message, "status": kind}})
            }
        };
        Behavior::Status { status, body }
    }

    pub(super) fn bad_request(self, message: &str) -> Behavior {
        match self {
            Wire::Gemini => self.error(400, "INVALID_ARGUMENT", message),
            _ => self.error(400, "invalid_request_error", message),
        }
    }

    pub(super) fn server_error(self) -> Behavior {
        match self {
            Wire::OpenAi => self.error(500, "server_error", "sim internal error"),
            Wire::Anthropic => self.error(500, "api_error", "sim internal error"),
            Wire::Gemini => self.error(500, "INTERNAL", "sim internal error"),
        }
    }

    /// The vendor's "overloaded, try later" answer.
    pub(super) fn overloaded(self) -> Behavior {
        match self {
            Wire::OpenAi => self.error(503, "server_error", "The engine is currently overloaded"),
            Wire::Anthropic => self.error(529, "overloaded_error", "Overloaded"),
            Wire::Gemini => self.error(503, "UNAVAILABLE", "The model is overloaded"),
        }
    }

    /// The conversation turns (system excluded) of a wire body, as (OpenAI role, text).
    pub(super) fn turns(self, body: &Value) -> Vec<(String, String)> {
        let (list, key) = match self {
            Wire::Gemini => (&body["contents"], "parts"),
            _ => (&body["messages"], "content"),
        };
        list.as_array()
            .expect("a turn list")
            .iter()
            .filter(|m| m["role"] != "system" && m["role"] != "developer")
            .map(|m| {
                let role = match m["role"].as_str().unwrap_or_default() {
                    "model" => "assistant",
                    r => r,
                };
                (role.to_owned(), text_of(&m[key]))
            })
            .collect()
    }

    /// The system prompt as it reached the sim, in the wire's own place for it.
    pub(super) fn system(self, body: &Value) -> Option<String> {
        match self {
            Wire::OpenAi => {
                let first = &body["messages"][0];
                (first["role"] == "system").then(|| text_of(&first["content"]))
            }
            Wire::Anthropic => body.get("system").map(text_of),
            Wire::Gemini => body.get("systemInstruction").map(|s| text_of(&s["parts"])),
        }
    }

    /// The output cap as sent upstream.
    pub(super) fn max_tokens(self, body: &Value) -> Value {
        match self {
            Wire::Gemini => body["generationConfig"]["maxOutputTokens"].clone(),
            _ => body["max_tokens"].clone(),
        }
    }

    /// Names of the declared tools.
    pub(super) fn tool_names(self, body: &Value) -> Vec<String> {
        let names: Vec<&Value> = match self {
            Wire::OpenAi => body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| &t["function"]["name"])
                .collect(),
            Wire::Anthropic => body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| &t["name"])
                .collect(),
            Wire::Gemini => body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["functionDeclarations"].as_array())
                .flatten()
                .map(|d| &d["name"])
                .collect(),
        };
        names
            .into_iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect()
    }

    /// The assistant's tool call (id where the wire has one, name, arguments) in turn `i`.
    pub(super) fn tool_call_at(self, body: &Value, i: usize) -> (Option<String>, String, Value) {
        match self {
            Wire::OpenAi => {
                let f = &body["messages"][i]["tool_calls"][0];
                let args = serde_json::from_str(f["function"]["arguments"].as_str().unwrap())
                    .expect("arguments are JSON");
                (
                    f["id"].as_str().map(str::to_owned),
                    f["function"]["name"].as_str().unwrap().to_owned(),
                    args,
                )
            }
            Wire::Anthropic => {
                let b = find(&body["messages"][i]["content"], |b| b["type"] == "tool_use");
                (
                    b["id"].as_str().map(str::to_owned),
                    b["name"].as_str().unwrap().to_owned(),
                    b["input"].clone(),
                )
            }
            Wire::Gemini => {
                let p = find(&body["contents"][i]["parts"], |p| {
                    p.get("functionCall").is_some()
                });
                let f = &p["functionCall"];
                (
                    None,
                    f["name"].as_str().unwrap().to_owned(),
                    f["args"].clone(),
                )
            }
        }
    }

    /// The tool result in the last turn: (call id or function name, result parsed as JSON).
    pub(super) fn tool_result(self, body: &Value) -> (String, Value) {
        let parse = |v: &Value| match v {
            Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
            other => other.clone(),
        };
        match self {
            Wire::OpenAi => {
                let m = body["messages"].as_array().unwrap().last().unwrap();
                assert_eq!(m["role"], "tool", "{body}");
                (
                    m["tool_call_id"].as_str().unwrap().to_owned(),
                    parse(&m["content"]),
                )
            }
            Wire::Anthropic => {
                let m = body["messages"].as_array().unwrap().last().unwrap();
                assert_eq!(m["role"], "user", "{body}");
                let b = find(&m["content"], |b| b["type"] == "tool_result");
                (
                    b["tool_use_id"].as_str().unwrap().to_owned(),
                    parse(&b["content"]),
                )
            }
            Wire::Gemini => {
                let c = body["contents"].as_array().unwrap().last().unwrap();
                let p = find(&c["parts"], |p| p.get("functionResponse").is_some());
                let f = &p["functionResponse"];
                (
                    f["name"].as_str().unwrap().to_owned(),
                    parse(&f["response"]),
                )
            }
        }
    }
}

/// The text of a string or of a list of parts/blocks carrying `text`.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn find(list: &Value, pred: impl Fn(&Value) -> bool) -> Value {
    list.as_array()
        .and_then(|l| l.iter().find(|x| pred(x)).cloned())
        .unwrap_or_else(|| panic!("no matching entry in {list}"))
}
