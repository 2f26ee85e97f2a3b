//! Fits the classifier's weights and thresholds: ordinal (cumulative-logit) logistic regression
//! with an L2 penalty, each weight held on the side of zero its signal declares.
//!
//! Model: for a feature vector x, the score is s = w·x and
//! P(label <= simple) = σ(t_medium − s), P(label <= medium) = σ(t_complex − s).
//! The fit minimises the weighted mean negative log-likelihood plus `l2 · |w|²`, the weights
//! measured on standardised features (so the penalty treats a count and a log length alike).
//! Optimiser: projected gradient descent with a backtracking (Armijo) step, which keeps the
//! sign constraints exact; on standardised features a few hundred steps converge.
//! Identical (features, label) rows are merged first, so refitting many times (cross-validation)
//! stays cheap.

use std::collections::HashMap;

use super::{tier_of, Complexity, Direction};

/// One labelled example as the trainer sees it.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// Feature vector, in [`super::Classifier::names`] order.
    pub x: Vec<f64>,
    pub label: Complexity,
    /// How much this example counts (e.g. less for a source with noisy labels).
    pub weight: f64,
}

/// Fitted weights (on the raw feature scale) and tier cut-offs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fit {
    pub weights: Vec<f64>,
    pub medium: f64,
    pub complex: f64,
}

impl Fit {
    /// The score of a feature vector.
    pub(crate) fn score(&self, x: &[f64]) -> f64 {
        self.weights.iter().zip(x).map(|(w, v)| w * v).sum()
    }

    /// The tier a feature vector falls into.
    pub(crate) fn tier(&self, x: &[f64]) -> Complexity {
        tier_of(self.score(x), self.medium, self.complex)
    }
}

/// Settings of a fit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// L2 penalty on the standardised weights.
    pub l2: f64,
    /// Gradient steps.
    pub iterations: usize,
    /// After the likelihood fit, move the two cut-offs to maximise weighted agreement (a
    /// complex prompt classed simple counts as three errors), keeping the weights.
    pub tune_thresholds: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            l2: 0.01,
            iterations: 400,
            tune_thresholds: true,
        }
    }
}

/// What each weight may be: its side of zero and the value the penalty pulls it towards.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Constraints<'a> {
    pub directions: &'a [Direction],
    /// Prior weights on the raw feature scale (the L2 penalty is on `w - prior`).
    pub priors: &'a [f64],
}

/// Fits weights and cut-offs to `samples` under `constraints`.
///
/// Returns `None` when there is nothing to fit (no samples, or total weight zero).
pub(crate) fn fit(samples: &[Sample], constraints: Constraints<'_>, opts: Options) -> Option<Fit> {
    let directions = constraints.directions;
    let p = directions.len();
    let rows = merge(samples);
    let total: f64 = rows.iter().map(|r| r.weight).sum();
    if rows.is_empty() || total <= 0.0 {
        return None;
    }
    // standardise: z = (x - mean) / sd, with sd = 1 for constant features
    let mut mean = vec![0.0; p];
    for r in &rows {
        for (m, v) in mean.iter_mut().zip(&r.x) {
            *m += r.weight * v / total;
        }
    }
    let mut sd = vec![0.0; p];
    for r in &rows {
        for ((s, v), m) in sd.iter_mut().zip(&r.x).zip(&mean) {
            *s += r.weight * (v - m) * (v - m) / total;
        }
    }
    for s in &mut sd {
        *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
    }
    let z: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            r.x.iter()
                .zip(&mean)
                .zip(&sd)
                .map(|((v, m), s)| (v - m) / s)
                .collect()
        })
        .collect();
    let problem = Problem {
        z: &z,
        labels: rows.iter().map(|r| r.label as usize).collect(),
        weights: rows.iter().map(|r| r.weight / total).collect(),
        l2: opts.l2,
        // a raw weight w is w * sd on the standardised scale
        prior: constraints
            .priors
            .iter()
            .zip(&sd)
            .map(|(w, s)| w * s)
            .collect(),
    };
    // parameters: p weights, then t0 and the log of the gap t1 - t0 (keeps t0 < t1)
    let mut theta = vec![0.0; p + 2];
    for (t, (w, d)) in theta.iter_mut().zip(problem.prior.iter().zip(directions)) {
        *t = d.clamp(*w);
    }
    theta[p] = -0.5;
    theta[p + 1] = 0.0;
    let prior = problem.prior.clone();
    let project = |theta: &mut [f64]| {
        for ((w, d), w0) in theta.iter_mut().zip(directions).zip(&prior) {
            *w = if *d == Direction::Fixed {
                *w0
            } else {
                d.clamp(*w)
            };
        }
        theta[p + 1] = theta[p + 1].clamp(-6.0, 6.0);
    };
    let (mut loss, mut grad) = problem.loss_and_gradient(&theta);
    let mut step = 1.0;
    for _ in 0..opts.iterations {
        let mut accepted = false;
        for _ in 0..30 {
            let mut next: Vec<f64> = theta.iter().zip(&grad).map(|(t, g)| t - step * g).collect();
            project(&mut next);
            let moved: f64 = next
                .iter()
                .zip(&theta)
                .zip(&grad)
                .map(|((n, t), g)| g * (t - n))
                .sum();
            let (next_loss, next_grad) = problem.loss_and_gradient(&next);
            if next_loss <= loss - 1e-4 * moved {
                let done = (loss - next_loss).abs() < 1e-10;
                theta = next;
                loss = next_loss;
                grad = next_grad;
                accepted = !done;
                step *= 1.5;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    // back to the raw feature scale: s_z = Σ w_j (x_j − m_j)/sd_j = Σ (w_j/sd_j) x_j − c
    let weights: Vec<f64> = theta[..p].iter().zip(&sd).map(|(w, s)| w / s).collect();
    let offset: f64 = weights.iter().zip(&mean).map(|(w, m)| w * m).sum();
    let t0 = theta[p];
    let t1 = t0 + theta[p + 1].exp();
    let mut fit = Fit {
        weights,
        medium: t0 + offset,
        complex: t1 + offset,
    };
    if opts.tune_thresholds {
        tune(&mut fit, &rows);
    }
    Some(fit)
}

/// Cost of a complex prompt classed simple, in units of an ordinary miss.
const COMPLEX_AS_SIMPLE_COST: f64 = 3.0;

/// Coordinate search over the cut-offs (score quantiles as candidates) for the best weighted
/// agreement; the likelihood fit's cut-offs are the starting point and win ties.
fn tune(fit: &mut Fit, rows: &[Row]) {
    let scored: Vec<(f64, usize, f64)> = rows
        .iter()
        .map(|r| (fit.score(&r.x), r.label as usize, r.weight))
        .collect();
    let mut sorted: Vec<f64> = scored.iter().map(|s| s.0).collect();
    sorted.sort_by(f64::total_cmp);
    let candidates: Vec<f64> = (1..200)
        .map(|k| {
            let i = k * (sorted.len() - 1) / 200;
            f64::midpoint(sorted[i], sorted[(i + 1).min(sorted.len() - 1)])
        })
        .collect();
    let value = |t0: f64, t1: f64| -> f64 {
        scored
            .iter()
            .map(|&(s, label, w)| {
                let got = tier_of(s, t0, t1) as usize;
                if got == label {
                    w
                } else if label == 2 && got == 0 {
                    -w * (COMPLEX_AS_SIMPLE_COST - 1.0)
                } else {
                    0.0
                }
            })
            .sum()
    };
    let (mut t0, mut t1) = (fit.medium, fit.complex);
    let mut best = value(t0, t1);
    for _ in 0..3 {
        for &c in &candidates {
            if c < t1 {
                let v = value(c, t1);
                if v > best + 1e-12 {
                    (best, t0) = (v, c);
                }
            }
        }
        for &c in &candidates {
            if c > t0 {
                let v = value(t0, c);
                if v > best + 1e-12 {
                    (best, t1) = (v, c);
                }
            }
        }
    }
    (fit.medium, fit.complex) = (t0, t1);
}

/// Leave-one-group-out: for each group, fit on every other group and score the held-out one.
/// Returns each sample's held-out score and tier, and the fit made without each group.
pub(crate) fn cross_validate<'g>(
    samples: &[Sample],
    groups: &[&'g str],
    constraints: Constraints<'_>,
    opts: Options,
) -> (Vec<(f64, Complexity)>, HashMap<&'g str, Fit>) {
    let mut names: Vec<&str> = groups.to_vec();
    names.sort_unstable();
    names.dedup();
    let mut out = vec![(0.0, Complexity::Medium); samples.len()];
    let mut fits = HashMap::new();
    for held in names {
        let train: Vec<Sample> = samples
            .iter()
            .zip(groups)
            .filter(|(_, g)| **g != held)
            .map(|(s, _)| s.clone())
            .collect();
        let Some(f) = fit(&train, constraints, opts) else {
            continue;
        };
        for ((s, g), o) in samples.iter().zip(groups).zip(&mut out) {
            if *g == held {
                *o = (f.score(&s.x), f.tier(&s.x));
            }
        }
        fits.insert(held, f);
    }
    (out, fits)
}

/// A merged row: identical features and label, weights added.
struct Row {
    x: Vec<f64>,
    label: Complexity,
    weight: f64,
}

fn merge(samples: &[Sample]) -> Vec<Row> {
    let mut index: HashMap<(Vec<u64>, Complexity), usize> = HashMap::new();
    let mut rows: Vec<Row> = Vec::new();
    for s in samples.iter().filter(|s| s.weight > 0.0) {
        let key = (s.x.iter().map(|v| v.to_bits()).collect(), s.label);
        if let Some(&i) = index.get(&key) {
            rows[i].weight += s.weight;
        } else {
            index.insert(key, rows.len());
            rows.push(Row {
                x: s.x.clone(),
                label: s.label,
                weight: s.weight,
            });
        }
    }
    rows
}

/// The standardised fitting problem.
struct Problem<'a> {
    z: &'a [Vec<f64>],
    labels: Vec<usize>,
    weights: Vec<f64>,
    l2: f64,
    prior: Vec<f64>,
}

impl Problem<'_> {
    fn loss_and_gradient(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let p = theta.len() - 2;
        let (w, t0, gap) = (&theta[..p], theta[p], theta[p + 1].exp());
        let t1 = t0 + gap;
        let mut loss = 0.0;
        let mut grad = vec![0.0; p + 2];
        for ((z, &label), &weight) in self.z.iter().zip(&self.labels).zip(&self.weights) {
            let s: f64 = w.iter().zip(z).map(|(a, b)| a * b).sum();
            let (a, b) = (t0 - s, t1 - s);
            // d(loss)/da and d(loss)/db for this row
            let (l, da, db) = match label {
                0 => (-log_sigmoid(a), -(1.0 - sigmoid(a)), 0.0),
                2 => (-log_sigmoid(-b), 0.0, sigmoid(b)),
                _ => {
                    let (sa, sb) = (sigmoid(a), sigmoid(b));
                    let prob = (sb - sa).max(1e-12);
                    (-prob.ln(), sa * (1.0 - sa) / prob, -sb * (1.0 - sb) / prob)
                }
            };
            loss += weight * l;
            let ds = -(da + db);
            for (g, v) in grad[..p].iter_mut().zip(z) {
                *g += weight * ds * v;
            }
            grad[p] += weight * (da + db);
            grad[p + 1] += weight * db * gap;
        }
        for ((g, wj), pj) in grad[..p].iter_mut().zip(w).zip(&self.prior) {
            loss += self.l2 * (wj - pj) * (wj - pj);
            *g += 2.0 * self.l2 * (wj - pj);
        }
        (loss, grad)
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// log σ(z), stable for large |z|.
fn log_sigmoid(z: f64) -> f64 {
    if z > 0.0 {
        -(-z).exp().ln_1p()
    } else {
        z - z.exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(directions: &[Direction]) -> Constraints<'_> {
        Constraints {
            directions,
            priors: &[0.0; 4][..directions.len()],
        }
    }

    fn sample(x: &[f64], label: Complexity) -> Sample {
        Sample {
            x: x.to_vec(),
            label,
            weight: 1.0,
        }
    }

    /// Three well-separated groups along feature 0; feature 1 is noise.
    fn separable() -> Vec<Sample> {
        let mut v = Vec::new();
        for i in 0..30 {
            let noise = f64::from(i % 3);
            v.push(sample(&[0.0 + 0.1 * noise, noise], Complexity::Simple));
            v.push(sample(&[2.0 + 0.1 * noise, noise], Complexity::Medium));
            v.push(sample(&[4.0 + 0.1 * noise, noise], Complexity::Complex));
        }
        v
    }

    #[test]
    fn learns_an_ordering_along_the_informative_feature() {
        let data = separable();
        let f = fit(
            &data,
            free(&[Direction::Free, Direction::Free]),
            Options::default(),
        )
        .unwrap();
        assert!(f.weights[0] > 0.5, "{f:?}");
        assert!(f.medium < f.complex);
        for s in &data {
            assert_eq!(f.tier(&s.x), s.label, "{:?} {f:?}", s.x);
        }
    }

    #[test]
    fn a_declared_direction_is_never_crossed() {
        let data = separable();
        // feature 0 pushes up in the data; declaring it `down` must pin it at zero
        let f = fit(
            &data,
            free(&[Direction::Down, Direction::Free]),
            Options::default(),
        )
        .unwrap();
        assert!(f.weights[0] <= 0.0, "{f:?}");
        let f = fit(
            &data,
            free(&[Direction::Up, Direction::Up]),
            Options::default(),
        )
        .unwrap();
        assert!(f.weights.iter().all(|w| *w >= 0.0), "{f:?}");
    }

    #[test]
    fn stronger_l2_shrinks_weights() {
        let data = separable();
        let dirs = [Direction::Free, Direction::Free];
        let loose = fit(&data, free(&dirs), Options::default()).unwrap();
        let tight = fit(
            &data,
            free(&dirs),
            Options {
                l2: 1.0,
                ..Options::default()
            },
        )
        .unwrap();
        assert!(tight.weights[0].abs() < loose.weights[0].abs());
        // with a prior, a strong penalty pulls towards it instead of towards zero
        let pulled = fit(
            &data,
            Constraints {
                directions: &dirs,
                priors: &[0.0, 3.0],
            },
            Options {
                l2: 1.0,
                ..Options::default()
            },
        )
        .unwrap();
        assert!(pulled.weights[1] > 1.0, "{pulled:?}");
    }

    #[test]
    fn a_fixed_weight_stays_at_its_prior_whatever_the_data_says() {
        let data = separable();
        // feature 0 orders the data upwards; fixed at -1.5 it must not move
        let f = fit(
            &data,
            Constraints {
                directions: &[Direction::Fixed, Direction::Free],
                priors: &[-1.5, 0.0],
            },
            Options::default(),
        )
        .unwrap();
        assert!((f.weights[0] + 1.5).abs() < 1e-9, "{f:?}");
    }

    #[test]
    fn cross_validation_scores_each_group_with_a_fit_that_never_saw_it() {
        let data = separable();
        let groups: Vec<&str> = (0..data.len())
            .map(|i| if i % 2 == 0 { "a" } else { "b" })
            .collect();
        let (pred, fits) = cross_validate(
            &data,
            &groups,
            free(&[Direction::Free, Direction::Free]),
            Options::default(),
        );
        assert_eq!(fits.len(), 2);
        let right = pred
            .iter()
            .zip(&data)
            .filter(|(p, s)| p.1 == s.label)
            .count();
        assert_eq!(right, data.len());
        // a group whose only examples are held out cannot be learnt from the others
        let mut odd = separable();
        odd.push(sample(&[9.0, 9.0], Complexity::Simple));
        let mut groups = groups;
        groups.push("c");
        let (pred, _) = cross_validate(
            &odd,
            &groups,
            free(&[Direction::Free, Direction::Free]),
            Options::default(),
        );
        assert_eq!(pred.last().unwrap().1, Complexity::Complex);
    }

    #[test]
    fn sample_weights_count_and_empty_input_is_none() {
        let dirs = [Direction::Free];
        assert!(fit(&[], free(&dirs), Options::default()).is_none());
        // the same feature value labelled both ways: the heavier label wins
        let mut data = vec![sample(&[1.0], Complexity::Simple); 3];
        data.push(Sample {
            weight: 10.0,
            ..sample(&[1.0], Complexity::Complex)
        });
        data.push(sample(&[0.0], Complexity::Medium));
        let f = fit(&data, free(&dirs), Options::default()).unwrap();
        assert_eq!(f.tier(&[1.0]), Complexity::Complex, "{f:?}");
    }
}
