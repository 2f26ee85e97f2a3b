//! Placeholder classifier (replaced by the real engine).

use std::sync::Arc;

/// Complexity tier of a prompt
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Complexity {
    Simple,
    Medium,
    Complex,
}
impl Complexity {
    pub const ALL: [Complexity; 3] = [Complexity::Simple, Complexity::Medium, Complexity::Complex];
    pub fn as_str(self) -> &'static str {
        match self {
            Complexity::Simple => "simple",
            Complexity::Medium => "medium",
            Complexity::Complex => "complex",
        }
    }
}
impl std::str::FromStr for Complexity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "simple" => Ok(Self::Simple),
            "medium" => Ok(Self::Medium),
            "complex" => Ok(Self::Complex),
            _ => Err(format!("unknown complexity `{s}`")),
        }
    }
}
pub struct PromptParts<'a> {
    pub system: &'a str,
    pub last_user: &'a str,
    pub turns: usize,
}
#[derive(Debug, Clone, serde::Serialize)]
pub struct Classification {
    pub tokens: u32,
    pub complexity: Complexity,
    pub score: f64,
    pub signals: Vec<FiredSignal>,
}
#[derive(Debug, Clone, serde::Serialize)]
pub struct FiredSignal {
    pub name: Arc<str>,
    pub weight: f64,
}
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClassifier {
    #[serde(default)]
    pub medium: Option<f64>,
}
#[derive(Debug, Default)]
pub struct Classifier;
impl Classifier {
    pub fn compile(_raw: &RawClassifier) -> Result<Classifier, Vec<(String, String)>> {
        Ok(Classifier)
    }
    pub fn classify(&self, p: &PromptParts<'_>, tokens: u32) -> Classification {
        let complexity = if tokens > 200 || p.last_user.contains("```") {
            Complexity::Complex
        } else if tokens > 40 {
            Complexity::Medium
        } else {
            Complexity::Simple
        };
        Classification {
            tokens,
            complexity,
            score: tokens as f64,
            signals: vec![],
        }
    }
}
pub mod eval {
    use super::Complexity;
    #[derive(Debug, Clone, Default, serde::Serialize)]
    pub struct EvalReport {
        pub total: usize,
        pub correct: usize,
        pub matrix: [[usize; 3]; 3],
    }
    impl EvalReport {
        pub fn add(&mut self, e: Complexity, p: Complexity) {
            self.total += 1;
            self.correct += usize::from(e == p);
            self.matrix[e as usize][p as usize] += 1;
        }
        pub fn agreement(&self) -> f64 {
            self.correct as f64 / self.total.max(1) as f64
        }
    }
    impl std::fmt::Display for EvalReport {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "agreement {:.1}%", self.agreement() * 100.0)
        }
    }
}
