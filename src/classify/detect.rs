//! Built-in structural detectors (`detect:` signals): cheap single scans for shapes that words
//! alone miss — code lines, answer options, quantities, formulas, a passage followed by an ask.

use serde::Deserialize;

use super::chars::is_word_char;

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

/// Every detector's count over one text, found in one walk over its lines and one over its
/// characters, so a policy with many `detect:` signals pays for the text once.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Shapes {
    code_lines: usize,
    fence: bool,
    options: usize,
    list_items: usize,
    numbers: usize,
    math: usize,
    questions: usize,
    sentences: usize,
    passage: bool,
}

impl Shapes {
    pub(crate) fn of(text: &str) -> Shapes {
        let mut s = Shapes {
            fence: text.contains("```"),
            numbers: numbers(text),
            questions: text.bytes().filter(|b| *b == b'?').count(),
            ..Shapes::default()
        };
        for line in text.lines() {
            s.code_lines += usize::from(is_code_line(line));
            s.options += usize::from(is_option_line(line));
            s.list_items += usize::from(is_list_item(line));
        }
        (s.math, s.sentences) = maths_and_sentences(text);
        s.passage = !s.fence && s.code_lines < 3 && is_passage_and_ask(text);
        s
    }

    /// The detector's value; `length` is the prompt's length feature (for `Passage`).
    pub(crate) fn value(&self, d: Detector, length: f64) -> f64 {
        let n = match d {
            Detector::CodeLines => self.code_lines,
            Detector::CodeFence => usize::from(self.fence),
            Detector::Options if self.options >= 3 => self.options,
            Detector::Options => 0,
            Detector::ListItems => self.list_items,
            Detector::Numbers => self.numbers,
            Detector::MathNotation => self.math,
            Detector::Questions => self.questions,
            Detector::Sentences => self.sentences,
            Detector::Passage => return if self.passage { length } else { 0.0 },
        };
        n as f64
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
    ends || CODE_STARTS.iter().any(|s| t.starts_with(s)) || has_code_operator(t)
}

/// Whether `t` holds one of `=> -> :: == != && || += </`, in one pass over its bytes.
fn has_code_operator(t: &str) -> bool {
    t.as_bytes().windows(2).any(|w| {
        matches!(
            (w[0], w[1]),
            (b'=' | b'-', b'>')
                | (b':', b':')
                | (b'=' | b'!' | b'+', b'=')
                | (b'&', b'&')
                | (b'|', b'|')
                | (b'<', b'/')
        )
    })
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

/// Formula notation marks (LaTeX commands, `$`, `^`, `=`, maths symbols, `2*3`) and sentences,
/// counted in one walk over the characters.
fn maths_and_sentences(text: &str) -> (usize, usize) {
    let (mut math, mut sentences) = (0, 0);
    let mut seen_letter = false;
    let mut prev = ' ';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied().unwrap_or(' ');
        math += usize::from(match c {
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
        if is_word_char(c) {
            seen_letter = true;
        } else if matches!(c, '.' | '!' | '?') && seen_letter && next.is_whitespace() {
            sentences += 1;
            seen_letter = false;
        }
        prev = c;
    }
    (math, sentences + usize::from(seen_letter))
}

/// A long paragraph (60+ words) next to a short first or last one (30 words at most); the
/// caller has ruled out code.
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
    let short_ask = words(paragraphs[0]) <= 30 || words(paragraphs[paragraphs.len() - 1]) <= 30;
    short_ask && paragraphs.iter().any(|p| words(p) >= 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(d: Detector, text: &str, length: f64) -> f64 {
        Shapes::of(text).value(d, length)
    }

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
