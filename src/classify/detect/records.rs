//! Recognises lines of pasted data (CSV and TSV rows, log lines, JSON records, table rows), so
//! a data dump with a short ask is read like a passage: by the ask, not by its numbers.

/// What the detectors' walk counted on one line.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LineFacts {
    /// The line holds one of `=> -> :: == != && || += </`.
    pub(super) operator: bool,
    /// Words, split at whitespace.
    pub(super) words: usize,
    /// The count of its most frequent field separator among `,` `;` `|` and tab.
    pub(super) separators: usize,
    /// Its `|`s.
    pub(super) pipes: usize,
}

impl LineFacts {
    /// The facts of `line` counted by plain scans, as the tests' oracle for [`walk`]'s counts
    /// (`operator` given).
    ///
    /// [`walk`]: super::walk
    #[cfg(test)]
    pub(super) fn counted(line: &str, operator: bool) -> LineFacts {
        let count = |c: char| line.matches(c).count();
        LineFacts {
            operator,
            words: line.split_whitespace().count(),
            separators: [',', ';', '|', '\t']
                .map(count)
                .into_iter()
                .max()
                .unwrap_or(0),
            pipes: count('|'),
        }
    }
}

/// Whether a line (untrimmed) is a data record; `code` says whether it reads as code.
pub(super) fn is_record(line: &str, facts: LineFacts, code: bool) -> bool {
    let t = line.trim();
    let b = t.as_bytes();
    if b.len() < 5 {
        return false;
    }
    let json = b[0] == b'{' && (t.ends_with('}') || t.ends_with("},")) && t.contains("\":");
    // `| a | b |`, or `Acct | Name | Debit` with one word or so per cell
    let table = facts.pipes >= 2
        && ((b[0] == b'|' && b[b.len() - 1] == b'|') || facts.words <= 2 * facts.pipes + 2);
    // delimited fields with no spaces in most of them: `8812,2024-05-01,341,failed`
    let delimited = !code && facts.separators >= 2 && facts.words <= facts.separators + 1;
    json || table || delimited || starts_with_timestamp(b)
}

/// A text's record lines against its other lines with words, line by line.
#[derive(Debug, Default)]
pub(super) struct DataLines {
    records: usize,
    /// Lines with words that are not records, and their words: the ask.
    others: usize,
    ask_words: usize,
}

impl DataLines {
    /// Takes the next line: whether it is a record, and its words.
    pub(super) fn line(&mut self, record: bool, words: usize) {
        if record {
            self.records += 1;
        } else if words > 0 {
            self.others += 1;
            self.ask_words += words;
        }
    }

    /// Pasted data with a short ask: three or more records, no fewer than the other lines,
    /// which hold 1 to 40 words.
    pub(super) fn with_short_ask(&self) -> bool {
        self.records >= 3 && self.records >= self.others && (1..=40).contains(&self.ask_words)
    }
}

/// Whether a line opens with a log timestamp: a date `2024-05-01` or a clock with seconds
/// `09:14:02`, optionally in brackets (a schedule's `9:00` is not one).
fn starts_with_timestamp(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"[").unwrap_or(b);
    let digits = |from: usize, n: usize| {
        b.get(from..from + n)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let date = digits(0, 4) && at(4, b'-') && digits(5, 2) && at(7, b'-') && digits(8, 2);
    let clock = digits(0, 2) && at(2, b':') && digits(3, 2) && at(5, b':') && digits(6, 2);
    date || clock
}

#[cfg(test)]
mod tests {
    use super::{is_record, LineFacts};

    fn record(line: &str) -> bool {
        is_record(line, LineFacts::counted(line, false), false)
    }

    #[test]
    fn data_lines_are_records() {
        for line in [
            "8812,2024-05-01T02:00:04Z,341,failed",
            "101;Иванова;2 340;доставлен",
            "C-1039,Harlow & Finch,EMEA,gold",
            "a\tb\tc",
            "| Kyiv | 1240 | 1200 |",
            "Acct | Name | Debit | Credit",
            "A Requirements | 5 | -",
            "  {\"id\": \"C-1039\", \"region\": \"EMEA\"},",
            "09:14:12 ERROR worker-3 upstream returned 502",
            "2024-06-11T03:12:10Z WARN orders-svc pool at 97%",
            "[2024-06-11 03:12:10] GET /v1/orders 504",
        ] {
            assert!(record(line), "{line:?}");
        }
    }

    #[test]
    fn prose_code_and_schedules_are_not() {
        for line in [
            "Residents raised concerns about noise, cost and parking.",
            "Ingredients: flour, sugar, eggs",
            "9:00 standup with the team",
            "1. First, slice the onions; then fry them.",
            "{ return a; }",
            "a,b",
            "Either this | or that, said the sign on the old door",
        ] {
            assert!(!record(line), "{line:?}");
        }
        let call = "f(a,b,c);";
        assert!(!is_record(call, LineFacts::counted(call, false), true));
    }
}
