//! The shipped provider files: `check` accepts them all with the shipped policy, and a missing
//! key variable is an error only for providers a policy routes to.

use std::path::Path;

use switchyard::{Config, KeyMode, SourceFile, Sources};

fn shipped() -> Sources {
    Sources::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("switchyard.yaml"))
        .expect("the repository's config reads")
}

fn problems(sources: &Sources, env: &[&str]) -> Vec<String> {
    let lookup = |k: &str| env.contains(&k).then(|| "sk-test".to_owned());
    match Config::build(sources, &lookup, KeyMode::Require) {
        Ok(_) => Vec::new(),
        Err(p) => p.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_shipped_provider_loads_with_the_shipped_policy() {
    let sources = shipped();
    let names: Vec<String> = sources
        .providers
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "anthropic.yaml",
        "gemini.yaml",
        "mistral.yaml",
        "deepseek.yaml",
        "openrouter.yaml",
        "together.yaml",
        "local.yaml",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    let config = Config::build(&sources, &|_| None, KeyMode::Ignore).expect("check --no-keys");
    assert_eq!(config.providers.len(), sources.providers.len());
    // the keys of the providers the default policy uses are all it needs
    assert_eq!(
        problems(&sources, &["OPENAI_API_KEY", "GROQ_API_KEY"]),
        Vec::<String>::new()
    );
    // an unused provider without its key is not served: its models are unknown names
    let lookup = |k: &str| {
        ["OPENAI_API_KEY", "GROQ_API_KEY"]
            .contains(&k)
            .then(|| "sk".to_owned())
    };
    let config = Config::build(&sources, &lookup, KeyMode::Require).unwrap();
    assert!(config.resolve("anthropic/claude-haiku-4-5").is_none());
    assert!(!config.valid_names().contains(&"gemini/gemini-2.5-flash"));
    assert!(
        config.resolve("local/llama3.2").is_some(),
        "a keyless local server is served"
    );
    assert!(config.resolve("openai/gpt-4.1").is_some());
    let with_key = |k: &str| {
        ["OPENAI_API_KEY", "GROQ_API_KEY", "ANTHROPIC_API_KEY"]
            .contains(&k)
            .then(|| "sk".to_owned())
    };
    let config = Config::build(&sources, &with_key, KeyMode::Require).unwrap();
    assert!(config.resolve("anthropic/claude-haiku-4-5").is_some());
    // without them, only they are named, never an unused provider's variable
    let missing = problems(&sources, &[]).join("\n");
    assert!(
        missing.contains("OPENAI_API_KEY") && missing.contains("GROQ_API_KEY"),
        "{missing}"
    );
    for unused in [
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "MISTRAL_API_KEY",
        "DEEPSEEK_API_KEY",
    ] {
        assert!(!missing.contains(unused), "{unused} reported: {missing}");
    }
}

#[test]
fn a_provider_becomes_required_once_a_policy_routes_to_it() {
    let mut sources = shipped();
    sources.policies.push(SourceFile {
        path: "policies/claude.yaml".into(),
        text: "name: claude\naliases: [claude]\nbaseline: anthropic/claude-sonnet-4-5\n\
               rules:\n  - name: all\n    route: [anthropic/claude-haiku-4-5]\n"
            .into(),
    });
    let missing = problems(&sources, &["OPENAI_API_KEY", "GROQ_API_KEY"]);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(missing[0].contains("ANTHROPIC_API_KEY"), "{missing:?}");
    assert!(missing[0].contains("anthropic.yaml"), "{missing:?}");
    assert!(problems(
        &sources,
        &["OPENAI_API_KEY", "GROQ_API_KEY", "ANTHROPIC_API_KEY"]
    )
    .is_empty());
}
