//! The strategies a simulation compares: policy files, `always:MODEL` and `cheapest`.

use crate::config::{Config, KeyMode, Problem, SourceFile, Sources};

/// One way of routing the workload.
#[derive(Debug)]
pub(crate) enum Strategy {
    /// A policy file routed by its own classifier and rules over the shared providers.
    Policy { name: String, config: Box<Config> },
    /// Every request to this model (an id of the reference config's catalog).
    Always { model: String },
    /// The cheapest model (for the request's tokens) serving the request's endpoint whose
    /// context window fits the request.
    Cheapest,
}

impl Strategy {
    /// The name shown in tables, charts and JSON.
    pub(crate) fn name(&self) -> String {
        match self {
            Strategy::Policy { name, .. } => name.clone(),
            Strategy::Always { model } => format!("always:{model}"),
            Strategy::Cheapest => "cheapest".into(),
        }
    }

    /// `policy`, `always` or `cheapest`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Strategy::Policy { .. } => "policy",
            Strategy::Always { .. } => "always",
            Strategy::Cheapest => "cheapest",
        }
    }

    /// Parses a built-in `--strategy`: `always:provider/model` (checked against the catalog) or
    /// `cheapest`.
    pub(crate) fn builtin(spec: &str, catalog: &Config) -> Result<Self, String> {
        let spec = spec.trim();
        if spec == "cheapest" {
            return Ok(Strategy::Cheapest);
        }
        let Some(model) = spec.strip_prefix("always:") else {
            return Err(format!(
                "unknown strategy `{spec}` (expected always:provider/model or cheapest)"
            ));
        };
        match catalog.models.iter().find(|m| *m.id == *model) {
            Some(m) => Ok(Strategy::Always {
                model: m.id.to_string(),
            }),
            None => Err(format!(
                "strategy `{spec}`: no model `{model}` among the providers (known: {})",
                catalog
                    .models
                    .iter()
                    .map(|m| &*m.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// The config one policy is simulated with: the shared providers plus that policy alone, so
/// policies may reuse the same aliases. Keys are not needed (nothing is called).
pub(crate) fn policy_config(
    providers: &[SourceFile],
    policy: SourceFile,
) -> Result<Config, Vec<Problem>> {
    let sources = Sources {
        keys: None,
        server: None,
        providers: providers.to_vec(),
        policies: vec![policy],
    };
    Config::build(&sources, &|_| None, KeyMode::Ignore)
}

/// Builds the policy strategies, naming each after its policy (or its file, when two policies
/// share a name).
pub(crate) fn policies(
    providers: &[SourceFile],
    files: Vec<SourceFile>,
) -> Result<Vec<Strategy>, Vec<Problem>> {
    let mut out: Vec<Strategy> = Vec::new();
    let mut problems = Vec::new();
    for f in files {
        let path = f.path.clone();
        match policy_config(providers, f) {
            Ok(config) => {
                let mut name = config.default_policy().name.to_string();
                if out.iter().any(|s| s.name() == name) {
                    name = path.display().to_string();
                }
                out.push(Strategy::Policy {
                    name,
                    config: Box::new(config),
                });
            }
            Err(p) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}
