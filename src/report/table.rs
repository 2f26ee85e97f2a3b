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
