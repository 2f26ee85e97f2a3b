//! Plain-text tables (aligned columns) and CSV, plus the number formats reports print.

/// A table of already formatted cells; the first `left` columns are left-aligned (labels),
/// the rest right-aligned (numbers).
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub left: usize,
}

impl Table {
    /// An empty table with these headers.
    pub(crate) fn new(headers: Vec<String>, left: usize) -> Self {
        Self {
            headers,
            rows: Vec::new(),
            left,
        }
    }

    /// Columns padded to their widest cell, a rule under the header, and a rule before a
    /// final totals row when `total_last` is set.
    pub(crate) fn render(&self, total_last: bool) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                std::iter::once(&self.headers)
                    .chain(&self.rows)
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, w) in widths.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                let pad = w.saturating_sub(cell.chars().count());
                if i > 0 {
                    out.push_str("  ");
                }
                if i < self.left {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                } else {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
            }
            out.trim_end().to_owned() + "\n"
        };
        let rule = widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
            + "\n";
        let mut out = line(&self.headers);
        out.push_str(&rule);
        for (i, r) in self.rows.iter().enumerate() {
            if total_last && i + 1 == self.rows.len() && i > 0 {
                out.push_str(&rule);
            }
            out.push_str(&line(r));
        }
        out
    }

    /// RFC 4180 CSV: a header line, then one line per row.
    pub(crate) fn csv(&self) -> String {
        let mut out = csv_line(&self.headers);
        for r in &self.rows {
            out.push_str(&csv_line(r));
        }
        out
    }
}

fn csv_line(cells: &[String]) -> String {
    cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
        + "\n"
}

/// Dollars rounded to the cent: `$1,234.57`, `-$0.12`.
pub(crate) fn usd(v: f64) -> String {
    let cents = (v.abs() * 100.0).round() as u64;
    let sign = if v < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}${}.{:02}", thousands(cents / 100), cents % 100)
}

/// Dollars to the cent from $1 up, and to four significant digits below (per-request and
/// per-chart-bar figures are often fractions of a cent).
pub(crate) fn usd_small(v: f64) -> String {
    if v.abs() >= 1.0 || v == 0.0 {
        return usd(v);
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(2, 9) as usize;
    let sign = if v < 0.0 { "-" } else { "" };
    format!("{sign}${:.*}", digits, v.abs())
}

/// The dollar format of one table: every amount with the same decimals, enough for three
/// significant digits of the largest amount and never fewer than cents. At demo scale (cents
/// in total) rows read `$0.0123` instead of a column of `$0.00`; amounts of one row add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Money {
    pub decimals: usize,
}

impl Money {
    /// The format for a table holding these amounts.
    pub(crate) fn for_amounts(amounts: impl IntoIterator<Item = f64>) -> Self {
        let max = amounts
            .into_iter()
            .filter(|v| v.is_finite())
            .map(f64::abs)
            .fold(0.0, f64::max);
        let decimals = if max >= 1.0 || max == 0.0 {
            2
        } else {
            (2 - max.log10().floor() as i32).clamp(2, 8) as usize
        };
        Self { decimals }
    }

    /// `v` rounded to this format's decimals.
    pub(crate) fn round(self, v: f64) -> f64 {
        let scale = 10f64.powi(self.decimals as i32);
        (v * scale).round() / scale
    }

    /// `$1,234.57`, `$0.0123`, `-$0.0500`.
    pub(crate) fn fmt(self, v: f64) -> String {
        let scale = 10u64.pow(self.decimals as u32);
        let units = (v.abs() * scale as f64).round() as u64;
        let sign = if v < 0.0 && units > 0 { "-" } else { "" };
        format!(
            "{sign}${}.{:0width$}",
            thousands(units / scale),
            units % scale,
            width = self.decimals
        )
    }

    /// A saving shown as the shown baseline minus the shown cost, so a row reads
    /// cost + saving = baseline exactly; `saving` itself when it is not that difference.
    pub(crate) fn saving(self, cost: f64, baseline: f64, saving: f64) -> String {
        if ((baseline - cost) - saving).abs() < 1e-9 {
            self.fmt(self.round(baseline) - self.round(cost))
        } else {
            self.fmt(saving)
        }
    }
}

/// Dollars for CSV, JSON and logs: rounded to 1e-10 USD and written in fixed notation without
/// trailing zeros, so no `0.00000024000000000000003` float noise reaches a file.
pub(crate) fn fixed_usd(v: f64) -> String {
    let s = format!("{:.10}", round_usd(v));
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".into()
    } else {
        s.to_owned()
    }
}

pub(crate) use crate::usage::round_usd;

/// An integer with thousands separators: `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A percentage with one decimal, or `-` when undefined.
pub(crate) fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}%"))
}

/// Milliseconds without decimals (one below 10 ms), or `-` when undefined.
pub(crate) fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
        None => "-".into(),
    }
}

/// A full-precision number for CSV (shortest form that reads back identically); empty if none.
pub(crate) fn full(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_precision_follows_the_largest_amount() {
        // demo scale: cents in total, so tenths of a cent show
        let m = Money::for_amounts([0.0123, 0.0456, 0.0333, 0.0]);
        assert_eq!(m.decimals, 4);
        assert_eq!(m.fmt(0.0123), "$0.0123");
        assert_eq!(m.fmt(0.00002), "$0.0000");
        assert_eq!(m.fmt(-0.05), "-$0.0500");
        // dollars and more: cents
        let m = Money::for_amounts([1234.565, 0.5]);
        assert_eq!(m.decimals, 2);
        assert_eq!(m.fmt(1234.565), "$1,234.57");
        // a fraction of a dollar: three significant digits
        assert_eq!(Money::for_amounts([0.5]).decimals, 3);
        assert_eq!(Money::for_amounts([0.00042]).decimals, 6);
        assert_eq!(Money::for_amounts([1e-12]).decimals, 8);
        assert_eq!(Money::for_amounts([]).decimals, 2);
        assert_eq!(Money::for_amounts([f64::NAN, 0.05]).decimals, 4);
    }

    #[test]
    fn shown_cost_plus_shown_saving_is_the_shown_baseline() {
        // the README's old TOTAL row: $0.01 + $0.03 shown against a $0.05 baseline
        let (cost, baseline) = (0.012_4, 0.039_6);
        let m = Money::for_amounts([cost, baseline]);
        let saving = baseline - cost;
        assert_eq!(m.fmt(cost), "$0.0124");
        assert_eq!(m.fmt(baseline), "$0.0396");
        assert_eq!(m.saving(cost, baseline, saving), "$0.0272");
        // at cents the sum still holds, where rounding each on its own would break it
        let m = Money { decimals: 2 };
        assert_eq!(m.fmt(0.014), "$0.01");
        assert_eq!(m.fmt(0.045), "$0.05");
        assert_eq!(m.saving(0.014, 0.045, 0.031), "$0.04");
    }

    #[test]
    fn fixed_dollars_have_no_float_noise() {
        assert_eq!(fixed_usd(0.000_000_240_000_000_000_000_03), "0.00000024");
        assert_eq!(fixed_usd(0.1 + 0.2), "0.3");
        assert_eq!(fixed_usd(12.0), "12");
        assert_eq!(fixed_usd(-0.0), "0");
        assert_eq!(fixed_usd(-1.5e-11), "0");
        assert_eq!(fixed_usd(-0.25), "-0.25");
    }

    #[test]
    fn money_and_numbers() {
        assert_eq!(usd(1234.565), "$1,234.57");
        assert_eq!(usd(0.004), "$0.00");
        assert_eq!(usd(-0.004), "$0.00");
        assert_eq!(usd(-0.125), "-$0.13");
        assert_eq!(usd_small(0.000123456), "$0.0001235");
        assert_eq!(usd_small(0.5), "$0.5000");
        assert_eq!(usd_small(12.0), "$12.00");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(pct(Some(12.345)), "12.3%");
        assert_eq!(ms(Some(3.21)), "3.2");
        assert_eq!(ms(None), "-");
    }

    #[test]
    fn aligns_and_quotes() {
        let mut t = Table::new(vec!["name".into(), "n".into()], 1);
        t.rows.push(vec!["a,b".into(), "10".into()]);
        t.rows.push(vec!["total".into(), "1".into()]);
        assert_eq!(
            t.render(true),
            "name    n\n-----  --\na,b    10\n-----  --\ntotal   1\n"
        );
        assert_eq!(t.csv(), "name,n\n\"a,b\",10\ntotal,1\n");
    }
}
