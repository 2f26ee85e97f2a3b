//! Agreement report of predicted vs labelled tiers, plus the optional dev-set regression test.
// Used by tests and evaluation tooling; the router binary itself may never construct it.

use std::fmt;

use super::Complexity;

/// Agreement and confusion matrix of predicted vs labelled classes, for tuning the classifier.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct EvalReport {
    /// Number of labelled prompts seen.
    pub total: usize,
    /// How many were predicted exactly.
    pub correct: usize,
    /// Counts indexed `[expected][predicted]` in [`Complexity::ALL`] order.
    pub matrix: [[usize; 3]; 3],
}

impl EvalReport {
    /// Record one labelled prompt and the tier the classifier gave it.
    pub(crate) fn add(&mut self, expected: Complexity, predicted: Complexity) {
        self.total += 1;
        self.correct += usize::from(expected == predicted);
        self.matrix[expected as usize][predicted as usize] += 1;
    }

    /// Fraction of prompts predicted exactly (0 when empty).
    pub(crate) fn agreement(&self) -> f64 {
        ratio(self.correct, self.total)
    }

    /// Predictions two tiers away (simple <-> complex): the costly mistakes.
    pub(crate) fn off_by_two(&self) -> usize {
        self.matrix[0][2] + self.matrix[2][0]
    }

    /// Of the prompts predicted as `c`, the fraction labelled `c`.
    pub(crate) fn precision(&self, c: Complexity) -> f64 {
        let predicted: usize = self.matrix.iter().map(|row| row[c as usize]).sum();
        ratio(self.matrix[c as usize][c as usize], predicted)
    }

    /// Of the prompts labelled `c`, the fraction predicted as `c`.
    pub(crate) fn recall(&self, c: Complexity) -> f64 {
        let expected: usize = self.matrix[c as usize].iter().sum();
        ratio(self.matrix[c as usize][c as usize], expected)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "agreement {:.1}% ({}/{}), off by two tiers: {}",
            100.0 * self.agreement(),
            self.correct,
            self.total,
            self.off_by_two()
        )?;
        writeln!(f, "{:<10}{:>11}{:>9}", "class", "precision", "recall")?;
        for c in Complexity::ALL {
            let (p, r) = (100.0 * self.precision(c), 100.0 * self.recall(c));
            writeln!(f, "{:<10}{p:>10.1}%{r:>8.1}%", c.as_str())?;
        }
        writeln!(f, "expected \\ predicted   simple   medium  complex")?;
        for c in Complexity::ALL {
            let row = &self.matrix[c as usize];
            writeln!(
                f,
                "{:<21}{:>8}{:>9}{:>9}",
                c.as_str(),
                row[0],
                row[1],
                row[2]
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Classifier, PromptParts};
    use super::*;

    #[test]
    fn report_counts_and_formats() {
        let mut r = EvalReport::default();
        r.add(Complexity::Simple, Complexity::Simple);
        r.add(Complexity::Simple, Complexity::Complex);
        r.add(Complexity::Complex, Complexity::Complex);
        r.add(Complexity::Medium, Complexity::Simple);
        assert_eq!((r.total, r.correct, r.off_by_two()), (4, 2, 1));
        assert!((r.agreement() - 0.5).abs() < 1e-12);
        assert!((r.precision(Complexity::Complex) - 0.5).abs() < 1e-12);
        assert!((r.recall(Complexity::Simple) - 0.5).abs() < 1e-12);
        assert_eq!(r.recall(Complexity::Medium), 0.0);
        let text = r.to_string();
        assert!(text.contains("agreement 50.0%"), "{text}");
        assert!(text.contains("off by two tiers: 1"), "{text}");
    }

    /// Optional regression test on the labelled dev set (third-party data, never copied into the
    /// repository). Reads `../shared/eval/complexity_dev.jsonl` relative to the crate root, or the
    /// directory in `SWITCHYARD_EVAL_DIR`; skips (passes) when the file is absent.
    #[test]
    fn dev_set_agreement_stays_above_floor() {
        const FLOOR: f64 = 0.78;
        let dir = std::env::var("SWITCHYARD_EVAL_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/eval").into());
        let Ok(text) = std::fs::read_to_string(format!("{dir}/complexity_dev.jsonl")) else {
            eprintln!("dev set not found under {dir}; skipping");
            return;
        };
        let bpe = tiktoken_rs::o200k_base().expect("o200k_base");
        let classifier = Classifier::default();
        let mut report = EvalReport::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let item: serde_json::Value = serde_json::from_str(line).expect("dev set line is JSON");
            let prompt = item["prompt"].as_str().expect("prompt");
            let label: Complexity = item["label"]
                .as_str()
                .expect("label")
                .parse()
                .expect("label");
            // Same count as the router: message text + 4 per message + 3.
            let tokens = (bpe.encode_ordinary(prompt).len() + 4 + 3) as u32;
            let parts = PromptParts {
                system: "",
                last_user: prompt,
                turns: 1,
            };
            report.add(label, classifier.classify(&parts, tokens).complexity);
        }
        eprintln!("{report}");
        assert!(
            report.agreement() >= FLOOR,
            "dev-set agreement fell below {FLOOR}:\n{report}"
        );
    }
}
