//! The API surfaces the router serves (chat, completions, embeddings, moderations, Responses,
//! Messages): their labels in rules and the ledger, and their paths under a base URL.

use serde::Deserialize;

/// An OpenAI API surface a request arrives on, and a model can serve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `/v1/chat/completions`
    #[default]
    Chat,
    /// `/v1/completions` (legacy text completions)
    Completions,
    /// `/v1/embeddings`
    Embeddings,
    /// `/v1/moderations`
    Moderations,
    /// `/v1/responses` (OpenAI's Responses API): a model that lists it is sent Responses
    /// requests natively instead of their chat translation.
    Responses,
    /// `/v1/messages` (Anthropic's Messages API inbound): a ledger label only; no model lists it.
    Messages,
}

impl PartialEq<&str> for Endpoint {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Endpoint {
    pub const ALL: [Endpoint; 6] = [
        Endpoint::Chat,
        Endpoint::Completions,
        Endpoint::Embeddings,
        Endpoint::Moderations,
        Endpoint::Responses,
        Endpoint::Messages,
    ];

    /// The label used in the ledger, metrics and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Completions => "completions",
            Self::Embeddings => "embeddings",
            Self::Moderations => "moderations",
            Self::Responses => "responses",
            Self::Messages => "messages",
        }
    }

    /// The endpoint a label (`chat`, `completions`, `embeddings`) names.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == label)
    }

    /// The path after an OpenAI-compatible base URL.
    pub fn path(self) -> &'static str {
        match self {
            Self::Chat => "chat/completions",
            Self::Completions => "completions",
            Self::Embeddings => "embeddings",
            Self::Moderations => "moderations",
            Self::Responses => "responses",
            Self::Messages => "messages",
        }
    }
}
