//! `switchyard demo`: the router plus built-in simulated providers, so routing, key rotation,
//! failover and savings can be seen with no keys and no network.

mod control;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::{Config, KeyMode, SourceFile, Sources};
use crate::sim::{self, SimSettings, SimUpstream};
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

/// The simulated providers: name, model, keys it accepts, first-byte latency and word delay.
const SIMS: &[(&str, &str, &[&str], u64, u64)] = &[
    (
        "swift",
        "swift-mini",
        &["sk-demo-swift-a", "sk-demo-swift-b"],
        150,
        12,
    ),
    ("lumen", "lumen-pro", &["sk-demo-lumen"], 300, 20),
    ("atlas", "atlas-ultra", &["sk-demo-atlas"], 600, 30),
    ("zenith", "zenith-large", &["sk-demo-zenith"], 500, 28),
];

/// A running demo: the simulators (kept alive) and the router's state.
pub struct Demo {
    pub sims: HashMap<String, SimUpstream>,
    pub state: Arc<AppState>,
}

/// Starts the simulators and builds the router's config around them. `fast` removes latency.
pub async fn start(ledger_path: &Path, fast: bool) -> anyhow::Result<Demo> {
    let mut sims = HashMap::new();
    for (name, model, keys, first_ms, word_ms) in SIMS {
        let mut s = SimSettings::realistic(*name, [*model]);
        s.keys = Some(keys.iter().map(|k| k.to_string()).collect());
        if fast {
            s.first_byte_latency = Duration::ZERO;
            s.token_delay = Duration::ZERO;
            s.jitter = 0.0;
        } else {
            s.first_byte_latency = Duration::from_millis(*first_ms);
            s.token_delay = Duration::from_millis(*word_ms);
        }
        sims.insert(
            name.to_string(),
            sim::spawn(s)
                .await
                .context("starting a simulated provider")?,
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
pub fn config(sims: &HashMap<String, SimUpstream>) -> Result<Config, Vec<crate::config::Problem>> {
    let providers = PROVIDERS
        .split("\n---\n")
        .enumerate()
        .map(|(i, text)| {
            let text = sims.iter().fold(text.to_owned(), |t, (name, s)| {
                t.replace(&format!("{{{{{name}}}}}"), &s.base_url())
            });
            SourceFile {
                path: format!("demo/providers.yaml#{}", i + 1).into(),
                text,
            }
        })
        .collect();
    let sources = Sources {
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
pub async fn run(listen: &str, ledger_path: &Path, fast: bool) -> anyhow::Result<()> {
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
    Ok(())
}

fn print_welcome(addr: SocketAddr, ledger: &Path) {
    let url = format!("http://{addr}");
    println!(
        r#"
Switchyard demo is running at {url}  (simulated providers: swift, lumen, atlas, zenith)

Routing: a simple question goes to swift/swift-mini (two keys, rotated), a medium one to
lumen/lumen-pro, a complex one to atlas/atlas-ultra with zenith/zenith-large as failover.
Savings are priced against atlas/atlas-ultra. Ledger: {ledger}
Live dashboard: {url}/dashboard    Metrics: {url}/metrics    Health: {url}/health/detailed

Try:
  curl -s {url}/v1/chat/completions -H 'content-type: application/json' \
    -d '{{"model":"auto","messages":[{{"role":"user","content":"What is the capital of France?"}}]}}' -D - | grep -i x-switchyard

  curl -sN {url}/v1/chat/completions -H 'content-type: application/json' \
    -d '{{"model":"auto","stream":true,"messages":[{{"role":"user","content":"Design a sharded rate limiter for a multi-region API and prove it never over-admits."}}]}}'

  # make the premium provider fail and watch failover to zenith (x-switchyard-failovers: 1)
  curl -s -X POST {url}/demo/providers/atlas/behavior -d '{{"mode":"fail"}}'
  curl -s -X POST {url}/demo/providers/atlas/behavior -d '{{"mode":"ok"}}'
  curl -s {url}/demo/providers          # calls per simulator and per key

Python (pip install openai):
  from openai import OpenAI
  client = OpenAI(base_url="{url}/v1", api_key="unused")
  r = client.chat.completions.with_raw_response.create(model="auto", messages=[{{"role": "user", "content": "Explain SSR vs CSR"}}])
  print(r.headers["x-switchyard-model"], r.parse().choices[0].message.content)

Press Ctrl-C to stop.
"#,
        ledger = ledger.display()
    );
}
