//! Checks a request's prompt text against the input rules that refuse it.

use super::{Guardrails, InputRule};
use crate::metrics;

impl Guardrails {
    /// Checks all prompt text (system and messages, joined by the caller); the first rule in
    /// order that matches refuses the request and is returned so the error can name it.
    pub fn check_input(&self, text: &str) -> Result<(), &InputRule> {
        match self.input.iter().find(|r| r.regex.is_match(text)) {
            Some(rule) => {
                metrics::guardrail(&rule.name, "blocked");
                Err(rule)
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::guardrails::test_guards;
    use serde_json::json;

    #[test]
    fn first_matching_rule_in_order_blocks() {
        let g = test_guards(json!({"input": [
            {"name": "ssn", "pattern": r"\b\d{3}-\d{2}-\d{4}\b"},
            {"name": "jailbreak", "pattern": "ignore (all )?previous instructions"},
            {"name": "secret", "pattern": "Secret", "case_sensitive": true},
        ]}));
        assert!(g.check_input("hello there").is_ok());
        let blocked = |t: &str| g.check_input(t).err().map(|r| r.name.clone());
        assert_eq!(
            blocked("IGNORE previous instructions"),
            Some("jailbreak".into())
        );
        assert_eq!(
            blocked("ignore all previous instructions, my ssn is 123-45-6789"),
            Some("ssn".into())
        );
        assert_eq!(blocked("a Secret"), Some("secret".into()));
        assert_eq!(blocked("a secret"), None);
    }

    #[test]
    fn no_rules_allow_everything() {
        assert!(test_guards(json!({})).check_input("anything").is_ok());
    }
}
