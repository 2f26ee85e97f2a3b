//! Loads the server file, providers/ and policies/ in two phases (parse, then validate) into one
//! immutable [`Config`]; every mistake is reported with file, line and field.

mod access;
mod batches;
pub(crate) mod diff;
mod endpoint;
mod explain;
mod ledger;
mod locate;
mod operator_key;
pub(crate) mod overflow;
mod policy;
mod problem;
mod provider;
pub(crate) mod raw;
mod raw_access;
pub(crate) mod redis_nodes;
pub(crate) mod response_store;
mod server;
mod toggle;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[cfg(test)]
pub(crate) use access::VirtualKey;
pub(crate) use access::{digest_prefix, hex, sha256, Access, BudgetSettings};
pub use access::{sha256_hex, CacheSettings, Limits, StateSettings};
pub(crate) use batches::BatchSettings;
pub(crate) use ledger::LedgerSettings;
pub(crate) use ledger::{plain_identifier, PostgresSink};
pub(crate) use operator_key::OperatorKey;
pub(crate) use overflow::OnContextOverflow;
use policy::BrokenProvider;
pub(crate) use policy::{Group, Member, Policy, Rule};
pub use problem::Problem;
pub(crate) use provider::Batching;
pub use provider::KeyMode;
pub(crate) use provider::ProviderKey;
pub(crate) use provider::{
    BreakerSettings, EnvLookup, HttpSettings, Model, Price, Provider, RetrySettings,
};
pub(crate) use raw::HttpVersion;
pub(crate) use raw::{AuthMode, BudgetAction, LogFormat, Wire};
pub use raw::{CacheScope, Endpoint, OnUnavailable};
use server::server_settings;
pub(crate) use server::ServerSettings;

use raw::{RawPolicy, RawProvider, RawServer};

/// One YAML file's path and text, read from disk or embedded in the binary.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// Everything a [`Config`] is built from; kept separate so reads can be retried and embedded
/// defaults need no files at all.
#[derive(Debug, Clone)]
pub struct Sources {
    pub server: Option<SourceFile>,
    /// The virtual-key file named by the server file's `auth.keys_file`, when it exists.
    pub keys: Option<SourceFile>,
    pub providers: Vec<SourceFile>,
    pub policies: Vec<SourceFile>,
}

/// What a request's `model` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Route through this policy's classifier and rules.
    Policy(usize),
    /// A concrete model; classification is skipped.
    Model(usize),
}

/// The whole validated configuration; built once per (re)load and shared read-only.
#[derive(Debug)]
pub struct Config {
    pub server: ServerSettings,
    pub providers: Vec<Provider>,
    pub models: Vec<Model>,
    pub policies: Vec<Policy>,
    pub default_policy: usize,
    /// Virtual keys, tiers, teams, global limits and budgets.
    pub access: Access,
    names: HashMap<String, Target>,
    /// Short hash of every source text, shown in health and logs after a reload.
    pub version: String,
    /// Each source file with a hash of its text, so a reload can say which files changed.
    pub files: Vec<(PathBuf, u64)>,
}

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../", $path)))),*]
    };
}

/// The repository's own providers/ and policies/, compiled in so `classify` and `check` work
/// anywhere; `build` sorts them into providers and policies by folder.
const EMBEDDED: &[(&str, &str)] = embed!(
    "providers/openai.yaml",
    "providers/groq.yaml",
    "policies/default.yaml",
);

impl Sources {
    /// Reads a server file and the provider and policy folders it names (`*.yaml`, `*.yml`).
    pub fn read(config_path: &Path) -> Result<Self, Vec<Problem>> {
        let text =
            std::fs::read_to_string(config_path).map_err(|e| vec![io_problem(config_path, e)])?;
        let server: RawServer = parse(config_path, &text).map_err(|p| vec![p])?;
        let base = config_path.parent().unwrap_or(Path::new("."));
        let providers = read_dir(&base.join(&server.providers))?;
        let policies = read_dir(&base.join(&server.policies))?;
        let keys_path = base.join(server.auth.as_ref().map_or_else(
            || raw::RawAuth::default().keys_file,
            |a| a.keys_file.clone(),
        ));
        let keys = match std::fs::read_to_string(&keys_path) {
            Ok(text) => Some(SourceFile {
                path: keys_path,
                text,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(vec![io_problem(&keys_path, e)]),
        };
        Ok(Self {
            server: Some(SourceFile {
                path: config_path.to_owned(),
                text,
            }),
            keys,
            providers,
            policies,
        })
    }

    /// The defaults compiled into the binary (no server file: default settings).
    pub fn embedded() -> Self {
        let file = |(p, t): &(&str, &str)| SourceFile {
            path: PathBuf::from(p),
            text: (*t).to_owned(),
        };
        Self {
            server: None,
            keys: None,
            providers: EMBEDDED
                .iter()
                .filter(|(p, _)| p.starts_with("providers/"))
                .map(file)
                .collect(),
            policies: EMBEDDED
                .iter()
                .filter(|(p, _)| p.starts_with("policies/"))
                .map(file)
                .collect(),
        }
    }

    /// The embedded default policy's text, for callers that assemble their own sources (the demo).
    pub fn embedded_default_policy() -> SourceFile {
        Self::embedded()
            .policies
            .into_iter()
            .find(|f| f.path.ends_with("default.yaml"))
            .expect("default policy is embedded")
    }
}

fn read_dir(dir: &Path) -> Result<Vec<SourceFile>, Vec<Problem>> {
    let entries = std::fs::read_dir(dir).map_err(|e| vec![io_problem(dir, e)])?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| match std::fs::read_to_string(&path) {
            Ok(text) => Ok(SourceFile { path, text }),
            Err(e) => Err(vec![io_problem(&path, e)]),
        })
        .collect()
}

fn io_problem(path: &Path, e: std::io::Error) -> Problem {
    Problem {
        file: path.to_owned(),
        line: None,
        field: String::new(),
        message: format!("cannot read: {e}"),
    }
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, Problem> {
    serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text)).map_err(|e| {
        let mut p = Problem::from_parse(path, text, e);
        // the parser refuses a second document without saying where it starts
        if p.line.is_none() && serde_yaml::Deserializer::from_str(text).nth(1).is_some() {
            p.line = problem::second_document_line(text);
        }
        p
    })
}

impl Config {
    /// Phase two: validates everything and resolves every reference, collecting all problems.
    pub fn build(
        sources: &Sources,
        env: EnvLookup<'_>,
        keys: KeyMode,
    ) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let (raw_server, path, text) = match &sources.server {
            Some(f) => match parse::<RawServer>(&f.path, &f.text) {
                Ok(raw) => (raw, f.path.as_path(), f.text.as_str()),
                Err(p) => return Err(vec![p]),
            },
            None => (
                serde_yaml::from_str("{}").expect("defaults parse"),
                Path::new("-"),
                "",
            ),
        };
        let access = access::validate_access(
            &raw_server,
            sources.keys.as_ref(),
            &access::AccessCtx {
                file: path,
                text,
                env,
            },
            sources.server.is_none(),
            &mut problems,
        );
        let (server, policy_name) = server_settings(raw_server, path, text, env, &mut problems);
        let mut providers = Vec::new();
        let mut models: Vec<Model> = Vec::new();
        let mut seen = HashMap::new();
        let mut broken = Vec::new();
        // per provider, its unset key variables: errors only if a policy routes to it
        let mut missing_keys: Vec<Vec<Problem>> = Vec::new();
        for f in &sources.providers {
            let raw: RawProvider = match parse(&f.path, &f.text) {
                Ok(r) => r,
                Err(p) => {
                    problems.push(p);
                    broken.push(BrokenProvider::new(&f.path, &f.text));
                    continue;
                }
            };
            if let Some(prev) = seen.insert(raw.name.clone(), f.path.clone()) {
                problems.push(Problem::at(
                    &f.path,
                    &f.text,
                    "name",
                    Some(&raw.name),
                    format!(
                        "provider `{}` is also defined in {}",
                        raw.name,
                        prev.display()
                    ),
                ));
            }
            let cx = provider::ProviderCtx {
                file: &f.path,
                text: &f.text,
                env,
                keys,
            };
            let mut missing = Vec::new();
            let (p, ms) =
                provider::validate_provider(raw, providers.len(), &cx, &mut problems, &mut missing);
            missing_keys.push(missing);
            providers.push(p);
            models.extend(ms);
        }
        if sources.providers.is_empty() {
            problems.push(Problem {
                file: PathBuf::from("providers/"),
                line: None,
                field: String::new(),
                message: "no provider files found".into(),
            });
        }
        let model_index = index_models(&models);
        let mut policies = Vec::new();
        let mut names: HashMap<String, Target> = HashMap::new();
        for (id, &i) in &model_index {
            names.insert(id.clone(), Target::Model(i));
        }
        for f in &sources.policies {
            let raw: RawPolicy = match parse(&f.path, &f.text) {
                Ok(r) => r,
                Err(p) => {
                    problems.push(p);
                    continue;
                }
            };
            let cx = policy::PolicyCtx {
                file: &f.path,
                text: &f.text,
                models: &model_index,
                broken: &broken,
                unchecked: std::cell::RefCell::default(),
            };
            let validated = policy::validate_policy(raw, &cx, &mut problems);
            problems.extend(cx.unchecked_problems());
            let Some(p) = validated else {
                continue;
            };
            // the moderation model must serve `/v1/moderations`
            if let Some(model) = p.moderation.as_ref().map(|m| &models[m.model]) {
                if !model.endpoints.contains(&Endpoint::Moderations) {
                    let msg = format!("model `{}` does not serve moderations: add `endpoints: [moderations]` to it in its provider file", model.id);
                    problems.push(Problem::at(
                        &f.path,
                        &f.text,
                        "moderation.model",
                        Some("model:"),
                        msg,
                    ));
                }
            }
            // each name with the field it is written in, so a clash is reported where it stands
            let own: Vec<(String, String)> =
                std::iter::once(("name".to_owned(), p.name.to_string()))
                    .chain(
                        p.aliases
                            .iter()
                            .enumerate()
                            .map(|(k, a)| (format!("aliases[{k}]"), a.clone())),
                    )
                    .chain(p.rules.iter().enumerate().flat_map(|(i, r)| {
                        r.when
                            .model
                            .iter()
                            .flatten()
                            .map(move |m| (format!("rules[{i}].when.model"), m.clone()))
                    }))
                    .collect();
            for (field, n) in own {
                match names.get(&n) {
                    Some(Target::Policy(j)) if *j == policies.len() => {}
                    Some(_) => problems.push(Problem::at(
                        &f.path,
                        &f.text,
                        field,
                        Some(&n),
                        format!("name `{n}` is already taken by another policy or model"),
                    )),
                    None => {
                        names.insert(n, Target::Policy(policies.len()));
                    }
                }
            }
            policies.push(p);
        }
        let used = used_providers(&policies, &models, providers.len());
        for (p, missing) in missing_keys.into_iter().enumerate() {
            if used[p] {
                problems.extend(missing);
            } else if !missing.is_empty() && providers[p].keys.is_empty() {
                // no policy uses it and none of its keys is set: its models are not served
                for m in models.iter().filter(|m| m.provider == p) {
                    if matches!(names.get(&*m.id), Some(Target::Model(_))) {
                        names.remove(&*m.id);
                    }
                }
            }
        }
        let default_policy = match policy_name {
            Some(name) => policies.iter().position(|p| *p.name == *name),
            None => policies
                .iter()
                .position(|p| &*p.name == "default")
                .or(if policies.len() == 1 { Some(0) } else { None }),
        };
        if default_policy.is_none() && problems.is_empty() {
            let file = sources
                .server
                .as_ref()
                .map_or(PathBuf::from("-"), |f| f.path.clone());
            problems.push(Problem {
                file,
                line: None,
                field: "policy".into(),
                message: "no such policy loaded (set `policy:` to the name of one in policies/)"
                    .into(),
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let version = version_of(sources);
        let files = file_hashes(sources);
        Ok(Self {
            files,
            server,
            providers,
            models,
            policies,
            default_policy: default_policy.unwrap_or(0),
            access,
            names,
            version,
        })
    }

    /// What a request's `model` field routes to, if anything.
    pub fn resolve(&self, requested: &str) -> Option<Target> {
        self.names.get(requested).copied()
    }

    /// Every name a client may send as `model`, sorted: policy aliases first, then models.
    pub fn valid_names(&self) -> Vec<&str> {
        let mut aliases: Vec<&str> = self
            .names
            .iter()
            .filter(|(_, t)| matches!(t, Target::Policy(_)))
            .map(|(n, _)| n.as_str())
            .collect();
        aliases.sort_unstable();
        aliases.extend(
            self.models
                .iter()
                .map(|m| &*m.id)
                .filter(|id| self.names.contains_key(*id)),
        );
        aliases
    }

    /// The policy `serve` routes with when a concrete model is requested (its baseline, fallbacks).
    pub fn default_policy(&self) -> &Policy {
        &self.policies[self.default_policy]
    }
}

/// Which providers a policy routes to (rules, fallbacks, baselines): only their key variables
/// must be set, so unused shipped provider files need no keys.
fn used_providers(policies: &[Policy], models: &[Model], n: usize) -> Vec<bool> {
    let mut used = vec![false; n];
    let mut mark = |m: usize| {
        if let Some(model) = models.get(m) {
            used[model.provider] = true;
        }
    };
    for p in policies {
        mark(p.baseline);
        let groups = p
            .rules
            .iter()
            .flat_map(|r| r.route.iter())
            .chain(p.fallbacks.values().flatten());
        for g in groups {
            g.members.iter().for_each(|mem| mark(mem.model));
        }
        p.fallbacks.keys().for_each(|m| mark(*m));
        if let Some(m) = &p.moderation {
            mark(m.model);
        }
    }
    used
}

/// `provider/name` always; a bare upstream name too when only one provider serves it.
fn index_models(models: &[Model]) -> HashMap<String, usize> {
    let mut index = HashMap::new();
    let mut bare: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, m) in models.iter().enumerate() {
        index.insert(m.id.to_string(), i);
        bare.entry(&m.upstream).or_default().push(i);
    }
    for (name, ids) in bare {
        if let [only] = ids[..] {
            index.entry(name.to_owned()).or_insert(only);
        }
    }
    index
}

fn version_of(sources: &Sources) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in sources
        .server
        .iter()
        .chain(&sources.keys)
        .chain(&sources.providers)
        .chain(&sources.policies)
    {
        f.path.hash(&mut h);
        f.text.hash(&mut h);
    }
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// Each config file's path and a hash of its text, to tell which files a reload changed.
fn file_hashes(sources: &Sources) -> Vec<(PathBuf, u64)> {
    use std::hash::{Hash, Hasher};
    sources
        .server
        .iter()
        .chain(&sources.keys)
        .chain(&sources.providers)
        .chain(&sources.policies)
        .map(|f| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            f.text.hash(&mut h);
            (f.path.clone(), h.finish())
        })
        .collect()
}
