//! SVG drawing primitives shared by the charts: a canvas, nice axis ticks, legends, labels.

use std::fmt::Write;

/// Colours for series and segments, in order (colour-blind-friendly Tableau 10).
pub(crate) const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// The colour of the `i`-th series (cycling).
pub(crate) fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// What a chart's values measure, for axis and bar labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Usd,
    Percent,
    Count,
}

impl Unit {
    /// A value label: dollars to the cent from $1 up and to four significant digits below.
    pub(crate) fn label(self, v: f64) -> String {
        match self {
            Unit::Usd => super::table::usd_small(v),
            Unit::Percent => format!("{v:.1}%"),
            Unit::Count => super::table::thousands(v.round().max(0.0) as u64),
        }
    }

    /// An axis tick label with exactly the decimals the tick step needs, so every label is
    /// the value of its gridline (`$0.025` is never shown as `$0.03`).
    pub(crate) fn tick(self, v: f64, step: f64) -> String {
        let decimals = step_decimals(step);
        match self {
            Unit::Usd => {
                let s = format!(
                    "{:.*}",
                    if step < 1.0 {
                        decimals.max(2)
                    } else {
                        decimals
                    },
                    v.abs()
                );
                let negative = v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0');
                format!("{}${s}", if negative { "-" } else { "" })
            }
            Unit::Percent => format!("{v:.decimals$}%"),
            Unit::Count => format!("{v:.decimals$}"),
        }
    }
}

/// The fewest decimals that write every multiple of `step` exactly.
pub(crate) fn step_decimals(step: f64) -> usize {
    (0..=8usize)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(8)
}

/// Axis bounds and step: round numbers covering `[min, max]` (and 0) in about five steps of
/// 1, 2 or 5 times a power of ten, so tick labels stay short and exact.
pub(crate) fn nice_axis(min: f64, max: f64) -> (f64, f64, f64) {
    let (lo, hi) = (min.min(0.0), max.max(0.0));
    let range = if hi - lo > 0.0 { hi - lo } else { 1.0 };
    let raw = range / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    let lo = (lo / step + 1e-9).floor() * step;
    let hi = ((hi / step) - 1e-9).ceil() * step;
    (lo, if hi > lo { hi } else { lo + step }, step)
}

/// The tick values of an axis, computed by index so no float error accumulates.
pub(crate) fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let n = ((hi - lo) / step + 1e-6).floor() as usize;
    (0..=n).map(|i| lo + step * i as f64).collect()
}

/// Escapes text for SVG/HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Shortens a label to `max` characters with an ellipsis.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
    }
}

/// An SVG document being written: fixed size, a title and optional subtitle at the top.
pub(crate) struct Canvas {
    pub width: f64,
    pub height: f64,
    body: String,
}

impl Canvas {
    /// A white canvas with the chart's title (also its accessible `<title>`).
    pub(crate) fn new(width: f64, height: f64, title: &str, subtitle: &str) -> Self {
        let mut c = Self {
            width,
            height,
            body: String::new(),
        };
        let _ = write!(
            c.body,
            r##"<title>{t}</title><rect width="{width}" height="{height}" fill="#ffffff"/><text x="20" y="28" class="sy-title" font-size="17" font-weight="600" fill="#1f2933">{t}</text>"##,
            t = esc(title)
        );
        if !subtitle.is_empty() {
            let _ = write!(
                c.body,
                r##"<text x="20" y="48" font-size="12" fill="#52606d">{}</text>"##,
                esc(subtitle)
            );
        }
        c
    }

    /// Appends raw SVG markup.
    pub(crate) fn raw(&mut self, s: &str) {
        self.body.push_str(s);
    }

    /// A text element; `anchor` is start, middle or end.
    pub(crate) fn text(&mut self, x: f64, y: f64, s: &str, size: f64, anchor: &str, fill: &str) {
        let _ = write!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}" fill="{fill}">{}</text>"#,
            esc(s)
        );
    }

    /// A rectangle with a hover tooltip.
    pub(crate) fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, tip: &str) {
        let _ = write!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" rx="2"><title>{}</title></rect>"#,
            w.max(0.0),
            h.max(0.0),
            esc(tip)
        );
    }

    /// A line segment.
    pub(crate) fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, width: f64) {
        let _ = write!(
            self.body,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{stroke}" stroke-width="{width}"/>"#
        );
    }

    /// A legend of coloured swatches, wrapping onto new rows; returns the height used.
    pub(crate) fn legend(&mut self, x: f64, y: f64, max_width: f64, names: &[String]) -> f64 {
        let (mut cx, mut cy) = (x, y);
        for (i, n) in names.iter().enumerate() {
            let label = clip(n, 32);
            let w = 22.0 + label.chars().count() as f64 * 6.6 + 14.0;
            if cx + w > x + max_width && cx > x {
                cx = x;
                cy += 18.0;
            }
            self.rect(cx, cy - 10.0, 12.0, 12.0, colour(i), n);
            self.text(cx + 17.0, cy, &label, 12.0, "start", "#323f4b");
            cx += w;
        }
        cy - y + 18.0
    }

    /// The finished standalone SVG document.
    pub(crate) fn finish(self, class: &str) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="sy-chart {class}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif" role="img">{}</svg>"#,
            self.body,
            w = self.width,
            h = self.height,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(nice_axis(0.0, 9.3), (0.0, 10.0, 2.0));
        let (lo, hi, step) = nice_axis(0.0, 0.0123);
        assert!(lo == 0.0 && (hi - 0.015).abs() < 1e-12 && (step - 0.005).abs() < 1e-12);
        let (lo, hi, step) = nice_axis(-3.0, 12.0);
        assert_eq!((lo, hi, step), (-5.0, 15.0, 5.0));
        assert_eq!(nice_axis(0.0, 0.0), (0.0, 0.2, 0.2));
    }

    #[test]
    fn every_tick_label_is_the_value_of_its_gridline() {
        // the issue's demo chart: a top value near 8 cents drew $0.00 / 0.03 / 0.05 / 0.08
        // on gridlines at 0, 0.025, 0.05, 0.075
        for max in [0.0123, 0.071, 0.08, 0.26, 3.7, 12.0, 47.0, 0.000_37, 1234.0] {
            let (lo, hi, step) = nice_axis(0.0, max);
            let m = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0].iter().any(|n| (m - n).abs() < 1e-9),
                "step {step} for {max} is not 1, 2 or 5 × 10^k"
            );
            let ts = ticks(lo, hi, step);
            assert!(ts.len() >= 3 && ts.len() <= 7, "{max}: {ts:?}");
            assert!(*ts.last().unwrap() >= max, "{max}: {ts:?}");
            for t in ts {
                let label = Unit::Usd.tick(t, step);
                let shown: f64 = label
                    .trim_start_matches('$')
                    .replace(',', "")
                    .parse()
                    .unwrap();
                assert!(
                    (shown - t).abs() < step * 1e-6,
                    "tick {t} labelled {label} (step {step})"
                );
            }
        }
        assert_eq!(Unit::Usd.tick(0.075, 0.025), "$0.075");
        assert_eq!(Unit::Usd.tick(0.04, 0.02), "$0.04");
        assert_eq!(Unit::Percent.tick(12.5, 2.5), "12.5%");
        assert_eq!(step_decimals(0.0005), 4);
        assert_eq!(step_decimals(20.0), 0);
    }

    #[test]
    fn labels() {
        assert_eq!(Unit::Usd.label(12.345), "$12.35");
        assert_eq!(Unit::Usd.label(0.012346), "$0.01235");
        assert_eq!(Unit::Usd.tick(0.5, 0.1), "$0.50");
        assert_eq!(Unit::Usd.tick(0.002, 0.002), "$0.002");
        assert_eq!(Unit::Usd.tick(0.0, 0.2), "$0.00");
        assert_eq!(Unit::Usd.tick(20.0, 10.0), "$20");
        assert_eq!(Unit::Percent.tick(25.0, 25.0), "25%");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
