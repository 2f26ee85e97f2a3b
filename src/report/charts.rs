//! The report charts, drawn as SVG: grouped bars, 100% stacked bars and lines over time.

use super::svg::{clip, colour, esc, nice_axis, ticks, Canvas, Unit};

/// One named series of values, one per category.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

const W: f64 = 860.0;

/// The value axis (gridlines and tick labels) of a vertical chart; returns the value → y map.
fn value_axis(
    c: &mut Canvas,
    (left, right, top, bottom): (f64, f64, f64, f64),
    values: impl Iterator<Item = f64>,
    unit: Unit,
    axis_label: &str,
) -> impl Fn(f64) -> f64 {
    let (min, max) = values.fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi, step) = nice_axis(min, max);
    let y = move |v: f64| bottom - (v - lo) / (hi - lo) * (bottom - top);
    for t in ticks(lo, hi, step) {
        let ty = y(t);
        let stroke = if t.abs() < step * 1e-6 {
            "#9aa5b1"
        } else {
            "#e4e7eb"
        };
        c.line(left, ty, right, ty, stroke, 1.0);
        c.text(
            left - 8.0,
            ty + 4.0,
            &unit.tick(t, step),
            11.0,
            "end",
            "#52606d",
        );
    }
    let mid = f64::midpoint(top, bottom);
    c.raw(&format!(
        r##"<text transform="translate(16 {mid:.1}) rotate(-90)" font-size="12" text-anchor="middle" fill="#52606d">{}</text>"##,
        esc(axis_label)
    ));
    y
}

/// Category labels under the plot, slanted when they would collide.
fn category_labels(c: &mut Canvas, xs: &[f64], labels: &[String], slot: f64, y: f64) {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
    let slant = longest * 6.5 > slot;
    for (x, l) in xs.iter().zip(labels) {
        let l = clip(l, 26);
        if slant {
            c.raw(&format!(
                r##"<text transform="translate({x:.1} {:.1}) rotate(-30)" font-size="11" text-anchor="end" fill="#323f4b">{}</text>"##,
                y + 4.0,
                esc(&l)
            ));
        } else {
            c.text(*x, y + 14.0, &l, 11.5, "middle", "#323f4b");
        }
    }
}

/// Vertical grouped bars: one group per category, one bar per series, values on the bars.
pub(crate) fn bar_chart(
    title: &str,
    subtitle: &str,
    categories: &[String],
    series: &[Series],
    unit: Unit,
    axis_label: &str,
) -> String {
    let (left, right) = (90.0, W - 20.0);
    let slot = (right - left) / categories.len().max(1) as f64;
    let longest = categories
        .iter()
        .map(|l| l.chars().count().min(26))
        .max()
        .unwrap_or(0);
    let label_room = if longest as f64 * 6.5 > slot {
        longest as f64 * 5.6 + 16.0
    } else {
        30.0
    };
    let plot_h = 260.0;
    let top = 64.0 + if series.len() > 1 { 22.0 } else { 12.0 };
    let bottom = top + plot_h;
    let height = bottom + label_room + 12.0;
    let mut c = Canvas::new(W, height, title, subtitle);
    if series.len() > 1 {
        let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
        c.legend(90.0, 70.0, W - 110.0, &names);
    }
    let y = value_axis(
        &mut c,
        (left, right, top, bottom),
        series.iter().flat_map(|s| s.values.iter().copied()),
        unit,
        axis_label,
    );
    let bar = (slot * 0.72 / series.len().max(1) as f64).min(70.0);
    // Value labels only where they fit above their bar.
    let show_values = bar >= 54.0;
    let mut centres = Vec::new();
    for (i, cat) in categories.iter().enumerate() {
        let centre = left + slot * (i as f64 + 0.5);
        centres.push(centre);
        let start = centre - bar * series.len() as f64 / 2.0;
        for (j, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            let (y0, y1) = (y(0.0), y(v));
            let x = start + bar * j as f64;
            let tip = format!("{cat} — {}: {}", s.name, unit.label(v));
            c.rect(
                x + 1.0,
                y1.min(y0),
                bar - 2.0,
                (y0 - y1).abs(),
                colour(j),
                &tip,
            );
            if show_values {
                let ly = if v >= 0.0 { y1 - 5.0 } else { y1 + 13.0 };
                c.text(x + bar / 2.0, ly, &unit.label(v), 10.5, "middle", "#1f2933");
            }
        }
    }
    category_labels(&mut c, &centres, categories, slot, bottom + 4.0);
    c.finish("sy-bar")
}

/// Horizontal bars that each add up to 100%: one bar per row (strategy or day), one coloured
/// segment per part (model), labelled with its share when there is room.
pub(crate) fn stacked_share(
    title: &str,
    subtitle: &str,
    rows: &[(String, Vec<f64>)],
    parts: &[String],
) -> String {
    let bar_h = 30.0;
    let gap = 14.0;
    let (left, right) = (190.0, W - 30.0);
    let legend_rows = 1.0 + (parts.len() as f64 / 4.0).floor();
    let top = 66.0;
    let plot_h = rows.len().max(1) as f64 * (bar_h + gap);
    let height = top + plot_h + 30.0 + legend_rows * 18.0 + 16.0;
    let mut c = Canvas::new(W, height, title, subtitle);
    for pct in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let x = left + (right - left) * pct / 100.0;
        c.line(x, top - 4.0, x, top + plot_h - gap + 4.0, "#e4e7eb", 1.0);
        c.text(
            x,
            top + plot_h + 8.0,
            &format!("{pct:.0}%"),
            11.0,
            "middle",
            "#52606d",
        );
    }
    for (i, (label, values)) in rows.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        c.text(
            left - 10.0,
            y + bar_h / 2.0 + 4.0,
            &clip(label, 26),
            12.5,
            "end",
            "#1f2933",
        );
        let total: f64 = values.iter().sum();
        let mut x = left;
        for (j, v) in values.iter().enumerate() {
            if *v <= 0.0 || total <= 0.0 {
                continue;
            }
            let share = v / total;
            let w = (right - left) * share;
            let name = parts.get(j).map_or("", String::as_str);
            let tip = format!(
                "{label} — {name}: {:.1}% ({})",
                share * 100.0,
                Unit::Count.label(*v)
            );
            c.rect(x, y, w, bar_h, colour(j), &tip);
            if w >= 38.0 {
                let text = format!("{:.0}%", share * 100.0);
                c.text(
                    x + w / 2.0,
                    y + bar_h / 2.0 + 4.0,
                    &text,
                    11.5,
                    "middle",
                    "#ffffff",
                );
            }
            x += w;
        }
        if total <= 0.0 {
            c.text(
                left + 6.0,
                y + bar_h / 2.0 + 4.0,
                "no traffic",
                11.5,
                "start",
                "#7b8794",
            );
        }
    }
    c.legend(left, top + plot_h + 34.0, right - left, parts);
    c.finish("sy-share")
}

/// Lines with dots over ordered x labels (days): one line per series.
pub(crate) fn line_chart(
    title: &str,
    subtitle: &str,
    xs: &[String],
    series: &[Series],
    unit: Unit,
    axis_label: &str,
) -> String {
    let height = 400.0;
    let mut c = Canvas::new(W, height, title, subtitle);
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    c.legend(90.0, 70.0, W - 110.0, &names);
    let (left, right, top, bottom) = (90.0, W - 30.0, 92.0, height - 70.0);
    let y = value_axis(
        &mut c,
        (left, right, top, bottom),
        series.iter().flat_map(|s| s.values.iter().copied()),
        unit,
        axis_label,
    );
    let n = xs.len().max(1) as f64;
    let slot = (right - left) / n;
    let x = |i: usize| left + slot * (i as f64 + 0.5);
    for (j, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        c.raw(&format!(
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2.5" stroke-linejoin="round"/>"#,
            points.join(" "),
            colour(j)
        ));
        for (i, v) in s.values.iter().enumerate() {
            c.raw(&format!(
                r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{}" stroke="#ffffff" stroke-width="1.5"><title>{} — {}: {}</title></circle>"##,
                x(i),
                y(*v),
                colour(j),
                esc(xs.get(i).map_or("", String::as_str)),
                esc(&s.name),
                unit.label(*v)
            ));
        }
    }
    // At most ~12 x labels, evenly spaced.
    let every = xs.len().div_ceil(12).max(1);
    let shown: Vec<(f64, String)> = xs
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, l)| (x(i), l.clone()))
        .collect();
    let (px, pl): (Vec<f64>, Vec<String>) = shown.into_iter().unzip();
    category_labels(&mut c, &px, &pl, slot * every as f64, bottom + 4.0);
    c.finish("sy-line")
}
