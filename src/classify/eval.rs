//! Agreement reports of predicted vs labelled tiers, overall and per group.
// Used by tests and evaluation tooling; the router binary itself may never construct it.

use std::collections::BTreeMap;
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

    /// Share of complex-labelled prompts classed simple: the quality risk that matters most.
    pub(crate) fn complex_to_simple(&self) -> f64 {
        ratio(self.matrix[2][0], self.matrix[2].iter().sum())
    }

    /// Share of simple-labelled prompts classed complex: money spent for nothing.
    pub(crate) fn simple_to_complex(&self) -> f64 {
        ratio(self.matrix[0][2], self.matrix[0].iter().sum())
    }

    /// Share of prompts classed below their label (sent to a weaker tier than needed).
    pub(crate) fn under(&self) -> f64 {
        ratio(
            self.matrix[1][0] + self.matrix[2][0] + self.matrix[2][1],
            self.total,
        )
    }

    /// Share of prompts classed above their label (sent to a dearer tier than needed).
    pub(crate) fn over(&self) -> f64 {
        ratio(
            self.matrix[0][1] + self.matrix[0][2] + self.matrix[1][2],
            self.total,
        )
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

/// Reports overall and per group (source, language, source category), so a figure that only
/// holds for one kind of prompt shows.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct Breakdown {
    pub overall: EvalReport,
    pub by_source: BTreeMap<String, EvalReport>,
    pub by_language: BTreeMap<String, EvalReport>,
    pub by_category: BTreeMap<String, EvalReport>,
}

impl Breakdown {
    /// Record one prompt under each of its groups.
    pub(crate) fn add(
        &mut self,
        source: &str,
        language: &str,
        category: &str,
        expected: Complexity,
        predicted: Complexity,
    ) {
        self.overall.add(expected, predicted);
        for (map, key) in [
            (&mut self.by_source, source),
            (&mut self.by_language, language),
            (&mut self.by_category, category),
        ] {
            map.entry(key.to_string())
                .or_default()
                .add(expected, predicted);
        }
    }
}

/// Categories with fewer prompts than this are folded into one `(other …)` row in the text table.
const SMALL_CATEGORY: usize = 5;

impl fmt::Display for Breakdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.overall)?;
        table(f, "source", self.by_source.iter())?;
        table(f, "language", self.by_language.iter())?;
        let mut other = EvalReport::default();
        let mut folded = 0;
        let mut rows: Vec<(&String, &EvalReport)> = Vec::new();
        for (k, r) in &self.by_category {
            if r.total < SMALL_CATEGORY {
                folded += 1;
                other.merge(r);
            } else {
                rows.push((k, r));
            }
        }
        let label = format!("(other: {folded} categories under {SMALL_CATEGORY} prompts)");
        if folded > 0 {
            rows.push((&label, &other));
        }
        table(f, "source_category", rows.into_iter())
    }
}

/// One line per group: prompts, agreement, the two costly error rates, the confusion matrix.
fn table<'a>(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    rows: impl Iterator<Item = (&'a String, &'a EvalReport)>,
) -> fmt::Result {
    writeln!(
        f,
        "{:<58}{:>6}{:>8}{:>7}{:>7}  confusion (rows expected s/m/c; cols predicted)",
        format!("by {title}"),
        "n",
        "agree",
        "c->s",
        "s->c"
    )?;
    for (name, r) in rows {
        let m = &r.matrix;
        let short: String = if name.chars().count() > 57 {
            let tail: String = name.chars().rev().take(56).collect();
            format!("…{}", tail.chars().rev().collect::<String>())
        } else {
            name.clone()
        };
        writeln!(
            f,
            "{short:<58}{:>6}{:>7.1}%{:>6.1}%{:>6.1}%  {}/{}/{} {}/{}/{} {}/{}/{}",
            r.total,
            100.0 * r.agreement(),
            100.0 * r.complex_to_simple(),
            100.0 * r.simple_to_complex(),
            m[0][0],
            m[0][1],
            m[0][2],
            m[1][0],
            m[1][1],
            m[1][2],
            m[2][0],
            m[2][1],
            m[2][2]
        )?;
    }
    writeln!(f)
}

impl EvalReport {
    /// Adds another report's counts to this one.
    pub(crate) fn merge(&mut self, other: &EvalReport) {
        self.total += other.total;
        self.correct += other.correct;
        for (row, o) in self.matrix.iter_mut().zip(&other.matrix) {
            for (a, b) in row.iter_mut().zip(o) {
                *a += b;
            }
        }
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
        writeln!(
            f,
            "complex->simple {:.1}%, simple->complex {:.1}%, under-tiered {:.1}%, over-tiered {:.1}%",
            100.0 * self.complex_to_simple(),
            100.0 * self.simple_to_complex(),
            100.0 * self.under(),
            100.0 * self.over()
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
        assert!((r.simple_to_complex() - 0.5).abs() < 1e-12);
        assert_eq!(r.complex_to_simple(), 0.0);
        assert!((r.under() - 0.25).abs() < 1e-12 && (r.over() - 0.25).abs() < 1e-12);
        let mut b = Breakdown::default();
        b.add("s1", "en", "c", Complexity::Simple, Complexity::Simple);
        b.add("s2", "ru", "c", Complexity::Complex, Complexity::Simple);
        assert_eq!(b.by_source.len(), 2);
        assert_eq!(b.by_category["c"].total, 2);
        assert_eq!(b.by_language["ru"].complex_to_simple(), 1.0);
        assert!(b.to_string().contains("by language"));
        let text = r.to_string();
        assert!(text.contains("agreement 50.0%"), "{text}");
        assert!(text.contains("off by two tiers: 1"), "{text}");
    }
}
