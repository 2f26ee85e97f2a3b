//! `switchyard demo`: the router plus built-in simulated providers, so routing, key rotation,
//! failover and savings can be seen with no keys and no network.

mod control;
#[cfg(test)]
mod tests;
mod wires;

pub(crate) use wires::SimWire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::{Config, KeyMode, SourceFile, Sources};
use crate::sim::{SimSettings, SimUpstream};
use crate::state::AppState;
use crate::usage::Ledger;

const PROVIDERS: &str = include_str!("providers.yaml");
const POLICY: &str = include_str!("policy.yaml");

/// The demo's fixed, harmless keys: real key handling (env lookup, rotation, 401 on a wrong
/// key) is exercised without any secret.
const KEYS: &[(&str, &str)] = &[
    ("SWIFT_KEY_A", "sk-demo-swift-a"),
    ("SWIFT_KEY_B", "sk-demo-swift-b"),
    ("LUMEN_KEY", "sk-demo-lumen"),
    ("ATLAS_KEY", "sk-demo-atlas"),
    ("ZENITH_KEY", "sk-demo-zenith"),
];

/// One simulated provider of the demo.
struct DemoSim {
    name: &'static str,
    wire: SimWire,
    models: &'static [&'static str],
    keys: &'static [&'static str],
    first_byte_ms: u64,
    word_ms: u64,
}

/// swift and atlas speak OpenAI's wire (and serve embeddings), lumen Anthropic's, zenith Gemini's.
const SIMS: &[DemoSim] = &[
    DemoSim {
        name: "swift",
        wire: SimWire::Openai,
        models: &["swift-mini", "swift-embed"],
        keys: &["sk-demo-swift-a", "sk-demo-swift-b"],
        first_byte_ms: 150,
        word_ms: 12,
    },
    DemoSim {
        name: "lumen",
        wire: SimWire::Anthropic,
        models: &["lumen-pro"],
        keys: &["sk-demo-lumen"],
        first_byte_ms: 300,
        word_ms: 20,
    },
    DemoSim {
        name: "atlas",
        wire: SimWire::Openai,
        models: &["atlas-ultra", "atlas-embed"],
        keys: &["sk-demo-atlas"],
        first_byte_ms: 600,
        word_ms: 30,
    },
    DemoSim {
        name: "zenith",
        wire: SimWire::Gemini,
        models: &["zenith-large"],
        keys: &["sk-demo-zenith"],
        first_byte_ms: 500,
        word_ms: 28,
    },
];

/// A running simulator of the demo and the wire it speaks.
pub(crate) struct RunningSim {
    pub wire: SimWire,
    pub upstream: SimUpstream,
}

/// A running demo: the simulators (kept alive) and the router's state.
pub(crate) struct Demo {
    pub sims: HashMap<String, RunningSim>,
    pub state: Arc<AppState>,
}

/// Starts the simulators and builds the router's config around them. `fast` removes latency.
pub(crate) async fn start(ledger_path: &Path, fast: bool) -> anyhow::Result<Demo> {
    let mut sims = HashMap::new();
    for d in SIMS {
        let mut s = SimSettings::realistic(d.name, d.models.iter().copied());
        s.keys = Some(
            d.keys
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        );
        if fast {
            s.first_byte_latency = Duration::ZERO;
            s.token_delay = Duration::ZERO;
            s.jitter = 0.0;
        } else {
            s.first_byte_latency = Duration::from_millis(d.first_byte_ms);
            s.token_delay = Duration::from_millis(d.word_ms);
        }
        let upstream = d
            .wire
            .spawn(s)
            .await
            .with_context(|| format!("starting the simulated provider {}", d.name))?;
        sims.insert(
            d.name.to_string(),
            RunningSim {
                wire: d.wire,
                upstream,
            },
        );
    }
    let config = config(&sims).map_err(|problems| {
        anyhow::anyhow!(
            "demo config is invalid: {}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let ledger = Ledger::open(ledger_path)
        .with_context(|| format!("opening ledger {}", ledger_path.display()))?;
    Ok(Demo {
        state: AppState::new(config, ledger),
        sims,
    })
}

/// The demo config: embedded providers pointed at the simulators, the demo policy.
pub(crate) fn config(
    sims: &HashMap<String, RunningSim>,
) -> Result<Config, Vec<crate::config::Problem>> {
    let providers = PROVIDERS
        .split("\n---\n")
        .enumerate()
        .map(|(i, text)| {
            let text = sims.iter().fold(text.to_owned(), |t, (name, s)| {
                t.replace(&format!("{{{{{name}}}}}"), &s.wire.base_url(&s.upstream))
            });
            SourceFile {
                path: format!("demo/providers.yaml#{}", i + 1).into(),
                text,
            }
        })
        .collect();
    let sources = Sources {
        keys: None,
        server: None,
        providers,
        policies: vec![SourceFile {
            path: "demo/policy.yaml".into(),
            text: POLICY.to_owned(),
        }],
    };
    let env = |k: &str| {
        KEYS.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    };
    Config::build(&sources, &env, KeyMode::Require)
}

/// Runs the demo until Ctrl-C.
pub(crate) async fn run(listen: &str, ledger_path: &Path, fast: bool) -> anyhow::Result<()> {
    crate::cli::logging::init(crate::config::LogFormat::Pretty);
    crate::tokens::warm();
    let demo = start(ledger_path, fast).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    print_welcome(addr, ledger_path);
    let app = crate::server::app(demo.state.clone())
        .merge(control::routes(Arc::new(control::Sims::new(&demo.sims))));
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::cli::serve::shutdown_signal())
        .await?;
    demo.state.ledger.flush().await;
    tracing::info!(ledger = %ledger_path.display(), "demo stopped; ledger flushed");
    Ok(())
}

fn print_welcome(addr: SocketAddr, ledger: &Path) {
    let url = format!("http://{addr}");
    println!(
        r#"
Switchyard demo is running at {url}
Simulated providers (no keys, no network): swift and atlas speak OpenAI's wire API,
lumen speaks Anthropic's Messages API, zenith speaks Google Gemini's API.

Routing: a simple question goes to swift/swift-mini (two keys, rotated), a medium one to
lumen/lumen-pro (Anthropic wire), a complex one to atlas/atlas-ultra with zenith/zenith-large
(Gemini wire) as failover. Embeddings (model "embed" or "auto") go to swift/swift-embed with
atlas/atlas-embed as failover. Savings are priced against atlas/atlas-ultra. Ledger: {ledger}
Live dashboard: {url}/dashboard    Metrics: {url}/metrics    Health: {url}/health/detailed

Try:
  curl -s {url}/v1/chat/completions -H 'content-type: application/json' \
    -d '{{"model":"auto","messages":[{{"role":"user","content":"What is the capital of France?"}}]}}' -D - | grep -i x-switchyard

  # a medium question: answered by lumen over Anthropic's wire API, translated back to OpenAI's
  curl -s {url}/v1/chat/completions -H 'content-type: application/json' \
    -d '{{"model":"auto","messages":[{{"role":"user","content":"Compare SQL and NoSQL databases for a small web shop, with pros and cons of each."}}]}}' -D - | grep -i x-switchyard

  curl -sN {url}/v1/chat/completions -H 'content-type: application/json' \
    -d '{{"model":"auto","stream":true,"messages":[{{"role":"user","content":"Design a sharded rate limiter for a multi-region API and prove it never over-admits."}}]}}'

  curl -s {url}/v1/embeddings -H 'content-type: application/json' \
    -d '{{"model":"embed","input":["switchyard routes","embeddings too"]}}' -D - | grep -i x-switchyard

  # cross-wire failover: make atlas (OpenAI wire) fail, then zenith (Gemini wire) answers
  curl -s -X POST {url}/demo/providers/atlas/behavior -d '{{"mode":"fail"}}'
  curl -s {url}/v1/chat/completions -d '{{"model":"atlas/atlas-ultra","messages":[{{"role":"user","content":"hi"}}]}}' -D - | grep -i x-switchyard
  curl -s -X POST {url}/demo/providers/atlas/behavior -d '{{"mode":"ok"}}'
  curl -s {url}/demo/providers          # wire, calls per simulator and per key
  # modes: ok, fail, rate_limit, stall, cut; providers: swift, lumen, atlas, zenith

  # the OpenAI Responses API, classified and routed like chat (a simple question: swift)
  curl -s {url}/v1/responses -H 'content-type: application/json' \
    -d '{{"model":"auto","input":"What is the capital of France?"}}' -D - | grep -i -e x-switchyard-model -e output_text

  # Anthropic's Messages API in (Claude-speaking tools): a complex question, answered by atlas
  # over OpenAI's wire and translated back to Anthropic's shape
  curl -s {url}/v1/messages -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
    -d '{{"model":"auto","max_tokens":300,"messages":[{{"role":"user","content":"Design a sharded rate limiter for a multi-region API and prove it never over-admits."}}]}}' -D - | grep -i -e x-switchyard-model -e '"type":"message"'

  # the response cache: run this twice; the second answer says x-switchyard-cache: hit
  curl -s {url}/v1/chat/completions -H 'content-type: application/json' \
    -d '{{"model":"auto","temperature":0,"messages":[{{"role":"user","content":"Define latency."}}]}}' -D - | grep -i x-switchyard-cache

The demo runs without auth (auth.mode: open). With `serve`, clients need a virtual key:
`switchyard keys create --user NAME -c switchyard.yaml` prints one.

Python (pip install openai):
  from openai import OpenAI
  client = OpenAI(base_url="{url}/v1", api_key="unused")
  r = client.chat.completions.with_raw_response.create(model="auto", messages=[{{"role": "user", "content": "Explain SSR vs CSR"}}])
  print(r.headers["x-switchyard-model"], r.parse().choices[0].message.content)
  e = client.embeddings.create(model="embed", input=["hello", "world"])
  print(len(e.data), len(e.data[0].embedding))
  # the same request to the Anthropic-wire model, failing over to swift if lumen is down
  r = client.chat.completions.with_raw_response.create(model="lumen/lumen-pro", messages=[{{"role": "user", "content": "hi"}}])
  print(r.headers["x-switchyard-model"], r.headers.get("x-switchyard-failovers"))
  print(client.responses.create(model="auto", input="Say hello").output_text)

Anthropic SDK (pip install anthropic; tools that read ANTHROPIC_BASE_URL work the same way):
  from anthropic import Anthropic
  claude = Anthropic(base_url="{url}", api_key="unused")
  m = claude.messages.create(model="auto", max_tokens=300, messages=[{{"role": "user", "content": "What is the capital of France?"}}])
  print(m.model, m.content[0].text)

Press Ctrl-C to stop.
"#,
        ledger = ledger.display()
    );
}
