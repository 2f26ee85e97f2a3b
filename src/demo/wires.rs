//! Which wire API a simulated provider speaks: starting it, its base URL and its outage body.

use serde_json::json;

use crate::sim::{self, Behavior, SimSettings, SimUpstream};

/// A simulated provider's wire API (what `switchyard sim --wire` and the demo choose from).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SimWire {
    /// OpenAI Chat Completions (plus `/v1/completions`, `/v1/embeddings`, `/v1/models`).
    Openai,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Google Gemini (`/v1beta/models/{model}:generateContent`).
    Gemini,
}

impl SimWire {
    /// Starts a simulator speaking this wire on 127.0.0.1 with an OS-chosen port.
    pub async fn spawn(self, settings: SimSettings) -> std::io::Result<SimUpstream> {
        self.spawn_on(settings, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
    }

    /// Starts a simulator speaking this wire on `addr`.
    pub async fn spawn_on(
        self,
        settings: SimSettings,
        addr: std::net::SocketAddr,
    ) -> std::io::Result<SimUpstream> {
        match self {
            Self::Openai => sim::spawn_on(settings, addr).await,
            Self::Anthropic => sim::spawn_anthropic_on(settings, addr).await,
            Self::Gemini => sim::spawn_gemini_on(settings, addr).await,
        }
    }

    /// What a provider file's `base_url` must be to reach the simulator `s`.
    pub fn base_url(self, s: &SimUpstream) -> String {
        match self {
            Self::Openai | Self::Anthropic => format!("http://{}/v1", s.addr()),
            Self::Gemini => format!("http://{}/v1beta", s.addr()),
        }
    }

    /// The provider file's `wire:` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
        }
    }

    /// A failure with `status` and an error body shaped as this wire's API sends it.
    pub fn outage(self, status: u16) -> Behavior {
        let message = "simulated outage";
        let body = match self {
            Self::Openai => {
                json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})
            }
            Self::Anthropic => {
                let kind = match status {
                    529 => "overloaded_error",
                    429 => "rate_limit_error",
                    400..=499 => "invalid_request_error",
                    _ => "api_error",
                };
                json!({"type": "error", "error": {"type": kind, "message": message}})
            }
            Self::Gemini => {
                let kind = match status {
                    429 => "RESOURCE_EXHAUSTED",
                    503 => "UNAVAILABLE",
                    400..=499 => "INVALID_ARGUMENT",
                    _ => "INTERNAL",
                };
                json!({"error": {"code": status, "message": message, "status": kind}})
            }
        };
        Behavior::Status { status, body }
    }
}
