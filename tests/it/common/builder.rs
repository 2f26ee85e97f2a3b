//! Describes a router under test (upstreams, policy, server and key files) and starts it.

use std::collections::HashMap;

use switchyard::sim::{self, SimSettings};
use switchyard::{SourceFile, Sources};

use super::{Harness, Upstream};

/// What [`Harness::builder`] collects before [`HarnessBuilder::start`].
#[must_use = "a builder does nothing until start().await"]
pub struct HarnessBuilder {
    upstreams: Vec<Upstream>,
    policy: Option<String>,
    server: Option<String>,
    keys: Option<String>,
}

impl HarnessBuilder {
    pub(super) fn new(upstreams: Vec<Upstream>) -> Self {
        Self {
            upstreams,
            policy: None,
            server: None,
            keys: None,
        }
    }

    /// The policy file text (required): see `common::policies` for the shared ones.
    pub fn policy(mut self, yaml: impl Into<String>) -> Self {
        self.policy = Some(yaml.into());
        self
    }

    /// The server file text (e.g. `max_body_bytes: 2048`); without an `auth:` section the
    /// router runs open, as the demo does.
    pub fn server(mut self, yaml: impl Into<String>) -> Self {
        self.server = Some(yaml.into());
        self
    }

    /// The virtual-key file text (pair it with `auth: {mode: keys}` in the server file).
    pub fn keys(mut self, yaml: impl Into<String>) -> Self {
        self.keys = Some(yaml.into());
        self
    }

    /// Starts one sim per upstream, builds the config around their URLs and serves the router.
    ///
    /// Provider keys reach the config through a lookup of this harness's own (`<NAME>_KEY_<i>`
    /// → value), never the process environment, so concurrent tests cannot see each other's.
    pub async fn start(self) -> Harness {
        let policy = self
            .policy
            .expect("Harness::builder(..).policy(..) is required");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sims = HashMap::new();
        let mut providers = Vec::new();
        let mut env: HashMap<String, String> = HashMap::new();
        for u in &self.upstreams {
            let settings = u.sim.clone().unwrap_or_else(|| {
                SimSettings::fast(u.name.clone(), u.models.iter().map(|m| m.name.clone()))
            });
            // each upstream gets the sim of its own wire, so `.wire(..)` is all a test says
            let sim = match u.wire {
                Some("anthropic") => sim::spawn_anthropic(settings).await,
                Some("gemini") => sim::spawn_gemini(settings).await,
                _ => sim::spawn(settings).await,
            }
            .expect("spawn sim");
            let url = u.base_url.clone().unwrap_or_else(|| match u.wire {
                Some("gemini") => format!("http://{}/v1beta", sim.addr()),
                _ => sim.base_url(),
            });
            providers.push(SourceFile {
                path: format!("providers/{}.yaml", u.name).into(),
                text: u.render(&url),
            });
            for (i, k) in u.keys.iter().enumerate() {
                env.insert(u.key_env(i), k.clone());
            }
            sims.insert(u.name.clone(), sim);
        }
        let server = self.server.map(|text| {
            if text.contains("auth:") {
                text
            } else {
                format!("auth:\n  mode: open\n{text}")
            }
        });
        let sources = Sources {
            keys: self.keys.map(|text| SourceFile {
                path: dir.path().join("keys.yaml"),
                text,
            }),
            server: server.map(|text| SourceFile {
                path: dir.path().join("switchyard.yaml"),
                text,
            }),
            providers,
            policies: vec![SourceFile {
                path: "policies/test.yaml".into(),
                text: policy,
            }],
        };
        let ledger_path = dir.path().join("ledger.jsonl");
        Harness::serve(sources, env, sims, dir, ledger_path).await
    }
}
