//! Built-in structural detectors (`detect:` signals): cheap single scans for shapes that words
//! alone miss — code lines, answer options, quantities, formulas, a passage followed by an ask.

use serde::Deserialize;

/// A structural shape a signal can count, named in the policy as `detect: NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// Lines that look like source code (statement ends, code keywords, operators). Counted.
    CodeLines,
    /// A fenced code block (```).
    CodeFence,
    /// Answer options of a multiple-choice question: three or more lines labelled `A.`, `B)`,
    /// `(c)`, `А.`, `Б.`… Counted per option line.
    Options,
    /// Bulleted or numbered lines (requirements, steps, items). Counted.
    ListItems,
    /// Numbers in the text (the quantities a word problem works with). Counted.
    Numbers,
    /// Formula notation: LaTeX commands, `$…$`, `^`, `=`, maths symbols, `2*3`. Counted.
    MathNotation,
    /// Question marks (several questions in one prompt). Counted.
    Questions,
    /// Sentences. Counted.
    Sentences,
    /// A long passage (one paragraph of 60+ words) next to a short ask (a first or last
    /// paragraph of at most 30 words), with no code: the value is the prompt's length feature,
    /// so a negative weight lets the ask, not the passage's length, decide.
    Passage,
}

/// The detector's value on `text`; `length` is the prompt's length feature (for `Passage`).
pub(crate) fn detect(d: Detector, text: &str, length: f64) -> f64 {
    match d {
        Detector::CodeLines => text.lines().filter(|l| is_code_line(l)).count() as f64,
        Detector::CodeFence => f64::from(u8::from(text.contains("```"))),
        Detector::Options => {
            let n = text.lines().filter(|l| is_option_line(l)).count();
            if n >= 3 {
                n as f64
            } else {
                0.0
            }
        }
        Detector::ListItems => text.lines().filter(|l| is_list_item(l)).count() as f64,
        Detector::Numbers => numbers(text) as f64,
        Detector::MathNotation => math_notation(text) as f64,
        Detector::Questions => text.matches('?').count() as f64,
        Detector::Sentences => sentences(text) as f64,
        Detector::Passage => {
            if is_passage_and_ask(text) {
                length
            } else {
                0.0
            }
        }
    }
}

const CODE_STARTS: [&str; 28] = [
    "def ",
    "class ",
    "import ",
    "from ",
    "#include",
    "#!/",
    "public ",
    "private ",
    "static ",
    "function ",
    "const ",
    "let ",
    "var ",
    "fn ",
    "func ",
    "package ",
    "using ",
    "return ",
    "async ",
    "struct ",
    "impl ",
    "print(",
    "console.",
    "SELECT ",
    "INSERT ",
    "CREATE TABLE",
    ">>> ",
    "for (",
];

fn is_code_line(line: &str) -> bool {
    let t = line.trim();
    if t.len() < 2 {
        return false;
    }
    let ends = t.ends_with(';') || t.ends_with('{') || t.ends_with('}') || t.ends_with("):");
    ends || CODE_STARTS.iter().any(|s| t.starts_with(s))
        || ["=>", "->", "::", "==", "!=", "&&", "||", "+=", "</"]
            .iter()
            .any(|op| t.contains(op))
}

fn is_option_line(line: &str) -> bool {
    let t = line.trim_start();
    let mut chars = t.chars();
    let (first, second) = (chars.next(), chars.next());
    let label = |c: char| matches!(c, 'A'..='E' | 'a'..='e' | 'А' | 'Б' | 'В' | 'Г' | 'Д' | 'Е' | 'а' | 'б' | 'в' | 'г' | 'д');
    match (first, second) {
        (Some('('), Some(c)) if label(c) => chars.next() == Some(')'),
        (Some(c), Some('.' | ')' | ':')) if label(c) => {
            chars.next().is_some_and(char::is_whitespace)
        }
        _ => false,
    }
}

fn is_list_item(line: &str) -> bool {
    let t = line.trim_start();
    if t.starts_with("- ") || t.starts_with("* ") || t.starts_with("• ") {
        return true;
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    (1..=2).contains(&digits)
        && matches!(t.as_bytes().get(digits), Some(b'.' | b')'))
        && t.as_bytes().get(digits + 1) == Some(&b' ')
}

/// Maximal runs of digits (with `.`/`,` between digits) count once each.
fn numbers(text: &str) -> usize {
    let b = text.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            n += 1;
            while i < b.len()
                && (b[i].is_ascii_digit()
                    || (matches!(b[i], b'.' | b',')
                        && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
            {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    n
}

fn math_notation(text: &str) -> usize {
    let mut n = 0;
    let mut prev = ' ';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied().unwrap_or(' ');
        n += usize::from(match c {
            '$' | '^' | '√' | '∑' | '∫' | 'π' | '≤' | '≥' | '≠' | '±' | '×' | '÷' | '∞' | '∈' => {
                true
            }
            '\\' => next.is_ascii_alphabetic(),
            '=' => !matches!(prev, '=' | '!' | '<' | '>') && !matches!(next, '=' | '>'),
            '+' | '*' | '/' => {
                (prev.is_ascii_digit() || prev == ' ')
                    && (next.is_ascii_digit() || next == ' ')
                    && (prev.is_ascii_digit() || next.is_ascii_digit())
            }
            _ => false,
        });
        prev = c;
    }
    n
}

fn sentences(text: &str) -> usize {
    let mut n = 0;
    let mut chars = text.chars().peekable();
    let mut seen_letter = false;
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            seen_letter = true;
        } else if matches!(c, '.' | '!' | '?')
            && seen_letter
            && chars.peek().is_none_or(|n| n.is_whitespace())
        {
            n += 1;
            seen_letter = false;
        }
    }
    n + usize::from(seen_letter)
}

fn is_passage_and_ask(text: &str) -> bool {
    let paragraphs: Vec<&str> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if paragraphs.len() < 2 {
        return false;
    }
    let words = |p: &str| p.split_whitespace().count();
    let long = paragraphs.iter().any(|p| words(p) >= 60);
    let short_ask = words(paragraphs[0]) <= 30 || words(paragraphs[paragraphs.len() - 1]) <= 30;
    let code = text.lines().filter(|l| is_code_line(l)).count() >= 3 || text.contains("```");
    long && short_ask && !code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_lines_and_fences() {
        let code = "def add(a, b):\n    return a + b\nprint(add(1, 2))\nplain words here";
        assert_eq!(detect(Detector::CodeLines, code, 0.0), 3.0);
        assert_eq!(detect(Detector::CodeLines, "What is Rust?", 0.0), 0.0);
        assert_eq!(detect(Detector::CodeFence, "```js\nx\n```", 0.0), 1.0);
    }

    #[test]
    fn options_need_three_labelled_lines_in_either_script() {
        let en = "Which is a mammal?\nA. shark\nB. whale\nC) trout\n(D) eel";
        assert_eq!(detect(Detector::Options, en, 0.0), 4.0);
        let uk = "Яка держава?\nА. Велика Британія\nБ. Німеччина\nВ. Росія\nГ. Японія";
        assert_eq!(detect(Detector::Options, uk, 0.0), 4.0);
        assert_eq!(detect(Detector::Options, "A. one\nB. two", 0.0), 0.0);
        assert_eq!(
            detect(Detector::Options, "Apples. Bananas.\nAnd more", 0.0),
            0.0
        );
    }

    #[test]
    fn numbers_maths_questions_and_sentences() {
        let p = "Tom has 3 apples and buys 2.5 kg more for $4,50. How many? Why?";
        assert_eq!(detect(Detector::Numbers, p, 0.0), 3.0);
        assert_eq!(detect(Detector::Questions, p, 0.0), 2.0);
        assert_eq!(detect(Detector::Sentences, p, 0.0), 3.0);
        assert!(
            detect(
                Detector::MathNotation,
                "Solve $x^2 + 3 = 7$ and \\frac{1}{2}",
                0.0
            ) >= 5.0
        );
        assert_eq!(detect(Detector::MathNotation, "a == b, x => y", 0.0), 0.0);
        assert_eq!(detect(Detector::ListItems, "- a\n2. b\n10) c\nx", 0.0), 3.0);
    }

    #[test]
    fn passage_then_short_ask_returns_the_length_feature() {
        let passage = "word ".repeat(80);
        let text = format!("{passage}\n\nWho is mentioned first?");
        assert_eq!(detect(Detector::Passage, &text, 2.5), 2.5);
        assert_eq!(detect(Detector::Passage, &passage, 2.5), 0.0);
        let with_code = format!("{passage}\n\nFix it:\n```\nx;\n```");
        assert_eq!(detect(Detector::Passage, &with_code, 2.5), 0.0);
    }
}
