//! Built-in structural detectors (`detect:` signals): cheap single scans for shapes that words
//! alone miss — code lines, answer options, quantities, formulas, a passage followed by an ask.

use serde::Deserialize;

use super::chars::{ascii_run_end, is_cyrillic_letter_lead, is_word_char};

mod code_line;
mod options;
mod records;
#[cfg(test)]
mod reference;
mod stub;

use code_line::is_code_line;
use options::{is_option_line, BareOptions, NumberedOptions};
use records::{is_record, DataLines, LineFacts};
use stub::Stub;

/// A structural shape a signal can count, named in the policy as `detect: NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// Lines that look like source code (statement ends, code keywords, operators). Counted.
    CodeLines,
    /// A fenced code block (```).
    CodeFence,
    /// Answer options of a multiple-choice question: three or more lines labelled `A.`, `B)`,
    /// `(c)`, `А.`, `Б.`…, or by a bare capital letter (`A Coffee`) when three or more such
    /// lines run in alphabetical order, or numbered `1.`, `2)`… when three or more short ones
    /// end the prompt right after a question or an unfinished stem. Counted per option line.
    Options,
    /// Bulleted or numbered lines (requirements, steps, items). Counted.
    ListItems,
    /// Numbers in the text (the quantities a word problem works with). Counted.
    Numbers,
    /// Formula notation: LaTeX commands, `$…$` (not `$` as currency), `^`, `=`, maths symbols,
    /// `2*3`. Counted.
    MathNotation,
    /// Question marks (several questions in one prompt). Counted.
    Questions,
    /// Sentences. Counted.
    Sentences,
    /// A long passage next to a short ask (a first or last paragraph, or line, of at most 30
    /// words), with no code: the passage is one paragraph or line of 60+ words, or three
    /// paragraphs of 25+ among four or more (a news article's). The value is the prompt's
    /// length feature, so a negative weight lets the ask, not the passage's length, decide.
    Passage,
    /// A function signature whose next line opens its docstring or comment ("complete this
    /// function"): a coding task stated without an imperative verb.
    CodeStub,
}

/// Every detector's count over one text, found in one walk over its lines and one over its
/// characters, so a policy with many `detect:` signals pays for the text once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
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
    stub: bool,
}

impl Shapes {
    pub(crate) fn of(text: &str) -> Shapes {
        let (mut code_lines, mut options, mut list_items) = (0, 0, 0);
        let mut bare = BareOptions::default();
        let mut numbered = NumberedOptions::default();
        let mut stub = Stub::default();
        let mut data = DataLines::default();
        let w = walk(text, |line, facts| {
            let code = is_code_line(line, facts);
            code_lines += usize::from(code);
            let record = is_record(line, facts, code);
            data.line(record, facts.words);
            // a table's rows labelled A, B, C… are no answer options
            if !record {
                options += usize::from(is_option_line(line));
                bare.line(line);
                numbered.line(line);
            }
            list_items += usize::from(is_list_item(line));
            stub.line(line);
            record
        });
        Shapes {
            code_lines,
            fence: w.fence,
            options: options + bare.lines() + numbered.lines(),
            list_items,
            numbers: w.numbers,
            math: w.math,
            questions: w.questions,
            sentences: w.sentences,
            passage: !w.fence && ((code_lines < 3 && w.passage_and_ask) || data.with_short_ask()),
            stub: stub.found(),
        }
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
            Detector::CodeStub => usize::from(self.stub),
        };
        n as f64
    }
}

fn is_list_item(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("- ")
        || t.starts_with("* ")
        || t.starts_with("• ")
        || options::numbered_item(t).is_some()
}

/// What [`walk`] counts over the whole text (the line shapes go to its callback).
#[derive(Debug, Default)]
struct Walked {
    fence: bool,
    numbers: usize,
    questions: usize,
    math: usize,
    sentences: usize,
    passage_and_ask: bool,
}

/// Word counts of the paragraphs (or of the lines) of a text as [`walk`] finds them: only the
/// first, the last, how many, and how many are long or prose-sized matter.
#[derive(Debug, Default)]
struct Paragraphs {
    count: usize,
    first: usize,
    last: usize,
    long: bool,
    prose: usize,
}

impl Paragraphs {
    /// Ends a paragraph of `words` words; blank paragraphs do not count.
    fn end(&mut self, words: usize) {
        if words == 0 {
            return;
        }
        self.count += 1;
        if self.count == 1 {
            self.first = words;
        }
        self.last = words;
        self.long |= words >= 60;
        self.prose += usize::from(words >= 25);
    }

    /// A long paragraph (60+ words), or three of 25+ words among four or more (an article's,
    /// not a spec's few blocks), next to a short first or last one (30 words at most).
    fn passage_and_ask(&self) -> bool {
        let article = self.count >= 4 && self.prose >= 3;
        self.count >= 2 && (self.first <= 30 || self.last <= 30) && (self.long || article)
    }
}

/// The ASCII bytes that are `char::is_whitespace`.
fn is_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

/// Whether the character at byte `i` (or past the end) is whitespace, as the sentence count
/// sees it (the end of the text counts as a space).
fn space_at(text: &str, i: usize) -> bool {
    match text.as_bytes().get(i) {
        None => true,
        Some(&b) if b < 0x80 => is_space(b),
        Some(_) => text[i..].chars().next().is_some_and(char::is_whitespace),
    }
}

/// Whether the ASCII formula mark at byte `i` counts (`\\cmd`, a lone `=`, `2*3`, `4 / 2`); the
/// characters around it are read as bytes, since only ASCII neighbours matter and the text's
/// edges count as spaces.
fn ascii_math(b: &[u8], i: usize) -> bool {
    let prev = if i == 0 { b' ' } else { b[i - 1] };
    let next = b.get(i + 1).copied().unwrap_or(b' ');
    match b[i] {
        b'$' => !is_currency(b, i),
        b'^' => true,
        b'\\' => next.is_ascii_alphabetic(),
        b'=' => !matches!(prev, b'=' | b'!' | b'<' | b'>') && !matches!(next, b'=' | b'>'),
        b'+' | b'*' | b'/' => {
            (prev.is_ascii_digit() || prev == b' ')
                && (next.is_ascii_digit() || next == b' ')
                && (prev.is_ascii_digit() || next.is_ascii_digit())
        }
        _ => false,
    }
}

/// Whether the `$` at byte `i` is a currency sign (`$4.50`, `$1,200`), not TeX: a number
/// follows it and no `$` closes that number (`$60$` is a formula).
pub(super) fn is_currency(b: &[u8], i: usize) -> bool {
    let mut j = i + 1;
    if !b.get(j).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while b
        .get(j)
        .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b','))
    {
        j += 1;
    }
    b.get(j) != Some(&b'$')
}

/// Whether bytes `i`, `i + 1` are one of `=> -> :: == != && || += </`.
fn code_operator(b: &[u8], i: usize) -> bool {
    let Some(&next) = b.get(i + 1) else {
        return false;
    };
    matches!(
        (b[i], next),
        (b'=' | b'-', b'>')
            | (b':', b':')
            | (b'=' | b'!' | b'+', b'=')
            | (b'&', b'&')
            | (b'|', b'|')
            | (b'<', b'/')
    )
}

/// How [`walk`] treats a byte before looking closer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Byte {
    /// ` `: only ends a word.
    Space,
    /// An ASCII letter: part of a letter run.
    Letter,
    /// D0, D1 or D3: the lead byte of a two-byte Cyrillic letter (every code point of
    /// U+0400–U+04FF they start is one), part of a letter run.
    Cyrillic,
    /// Anything else (digits, marks, other spaces, other lead bytes incl. D2, whose U+0482–U+0489
    /// are not letters): looked at one by one.
    Other,
}

/// [`Byte`] of every byte value, so the common bytes cost one table load.
static BYTES: [Byte; 256] = {
    let mut t = [Byte::Other; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        t[b] = if byte == b' ' {
            Byte::Space
        } else if byte.is_ascii_alphabetic() {
            Byte::Letter
        } else if is_cyrillic_letter_lead(byte) {
            Byte::Cyrillic
        } else {
            Byte::Other
        };
        b += 1;
    }
    t
};

/// The end of the run of ASCII and two-byte Cyrillic letters (see [`Byte`]) starting at byte
/// `i`.
#[inline]
fn past_letters(b: &[u8], mut i: usize) -> usize {
    while let Some(&x) = b.get(i) {
        match BYTES[usize::from(x)] {
            Byte::Letter => i = ascii_run_end(b, i + 1, false),
            Byte::Cyrillic => i += 2,
            _ => break,
        }
    }
    i
}

/// One walk over `text`'s bytes: fence, numbers (maximal runs of digits with `.`/`,` between
/// digits count once), question marks, formula marks (LaTeX commands, `$`, `^`, `=`, maths
/// symbols, `2*3`), sentences, paragraphs (split at blank lines, words split at whitespace),
/// and each line as `str::lines` gives it, passed to `line` with its [`LineFacts`] (a code
/// operator, words, field separators); `line` says whether the line is a data record, whose
/// `=`, `/` and `+` are a log's or a table's, not formula marks. Runs of ASCII and Cyrillic letters are skipped in a
/// tight loop driven by a byte table: they only start a word and a sentence. Kept out of line
/// (called once per text) so profiles show its cost apart from the keyword scan's.
#[inline(never)]
fn walk<'t>(text: &'t str, mut line: impl FnMut(&'t str, LineFacts) -> bool) -> Walked {
    let b = text.as_bytes();
    let mut w = Walked::default();
    // the same counts for lines: "Context: <passage>\nQuestion: …" has no blank line
    let (mut paragraphs, mut lines) = (Paragraphs::default(), Paragraphs::default());
    let (mut words, mut line_words_start) = (0, 0);
    let (mut after_space, mut seen_letter) = (true, false);
    let (mut line_start, mut operator) = (0, false);
    // formula marks counted before this line
    let mut math_before_line = 0;
    // the line's `,` `;` `|` and tabs
    let mut separators = [0usize; 4];
    let facts = |operator, words, separators: [usize; 4]| LineFacts {
        operator,
        words,
        separators: separators.into_iter().max().unwrap_or(0),
        pipes: separators[2],
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match BYTES[usize::from(c)] {
            Byte::Space => {
                after_space = true;
                i += 1;
                continue;
            }
            Byte::Letter | Byte::Cyrillic => {
                // a run of letters: it only starts a word and a sentence
                i = past_letters(b, i);
                words += usize::from(after_space);
                after_space = false;
                seen_letter = true;
                continue;
            }
            Byte::Other => {}
        }
        if c >= 0x80 {
            let ch = text[i..].chars().next().expect("i is a char boundary");
            let space = ch.is_whitespace();
            words += usize::from(after_space && !space);
            after_space = space;
            seen_letter |= is_word_char(ch);
            w.math += usize::from(matches!(
                ch,
                '√' | '∑' | '∫' | 'π' | '≤' | '≥' | '≠' | '±' | '×' | '÷' | '∞' | '∈'
            ));
            i += ch.len_utf8();
            continue;
        }
        if is_space(c) {
            after_space = true;
            separators[3] += usize::from(c == b'\t');
            if c == b'\n' {
                let end = if i > line_start && b[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                if line(
                    &text[line_start..end],
                    facts(operator, words - line_words_start, separators),
                ) {
                    w.math = math_before_line;
                }
                math_before_line = w.math;
                (line_start, operator, separators) = (i + 1, false, [0; 4]);
                lines.end(words - line_words_start);
                line_words_start = words;
                if i > 0 && b[i - 1] == b'\n' {
                    paragraphs.end(words);
                    (words, line_words_start) = (0, 0);
                }
            }
            i += 1;
            continue;
        }
        words += usize::from(after_space);
        after_space = false;
        if c.is_ascii_digit() {
            seen_letter = true;
            let joined = i > 0
                && (b[i - 1].is_ascii_digit()
                    || (matches!(b[i - 1], b'.' | b',') && i > 1 && b[i - 2].is_ascii_digit()));
            w.numbers += usize::from(!joined);
        } else {
            operator |= code_operator(b, i);
            w.math += usize::from(ascii_math(b, i));
            match c {
                b'?' | b'.' | b'!' => {
                    w.questions += usize::from(c == b'?');
                    if seen_letter && space_at(text, i + 1) {
                        w.sentences += 1;
                        seen_letter = false;
                    }
                }
                b'`' => w.fence |= b[i..].starts_with(b"```"),
                b',' => separators[0] += 1,
                b';' => separators[1] += 1,
                b'|' => separators[2] += 1,
                _ => {}
            }
        }
        i += 1;
    }
    if line_start < b.len()
        && line(
            &text[line_start..],
            facts(operator, words - line_words_start, separators),
        )
    {
        w.math = math_before_line;
    }
    lines.end(words - line_words_start);
    paragraphs.end(words);
    w.sentences += usize::from(seen_letter);
    w.passage_and_ask = paragraphs.passage_and_ask() || (lines.long && lines.passage_and_ask());
    w
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
    fn numbered_options_count_after_a_question_or_a_broken_off_stem_at_the_end() {
        let quiz = "In which year did the war end?\n1. 1943\n2. 1944\n3. 1945\n4. 1946";
        assert_eq!(detect(Detector::Options, quiz, 0.0), 4.0);
        let uk = "Під час грози не можна\n1) зачиняти двері\n\n2) стояти\n3) торкатися дерева";
        assert_eq!(detect(Detector::Options, uk, 0.0), 3.0);
        // steps or requirements after a sentence or a colon are a list, not choices
        let steps = "Write a script that does this:\n1. read a file\n2. sort it\n3. print it";
        assert_eq!(detect(Detector::Options, steps, 0.0), 0.0);
        let told = "Build an app.\n1. login\n2. a feed\n3. settings";
        assert_eq!(detect(Detector::Options, told, 0.0), 0.0);
        // ... unless a sentence of the stem asks for a pick
        let pick = "Порівняйте дві країни. Визначте три галузі.\n1. нафта\n2. вугілля\n3. ліс";
        assert_eq!(detect(Detector::Options, pick, 0.0), 3.0);
        let choose = "Choose the two true statements.\n1. ice sinks\n2. fire is hot\n3. 2 > 1";
        assert_eq!(detect(Detector::Options, choose, 0.0), 3.0);
        // a list that does not end the prompt, or whose items are long
        let puzzle = "Which follows?\n1. a\n2. b\n3. c\nIf 1 and 2 hold, is 3 true?";
        assert_eq!(detect(Detector::Options, puzzle, 0.0), 0.0);
        let long = format!("Which?\n1. {}\n2. b\n3. c", "word ".repeat(21));
        assert_eq!(detect(Detector::Options, &long, 0.0), 0.0);
        assert_eq!(detect(Detector::Options, "Which?\n1. a\n2. b", 0.0), 0.0);
        assert_eq!(
            detect(Detector::Options, "Which?\n1. a\n3. b\n4. c", 0.0),
            0.0
        );
    }

    #[test]
    fn bare_letter_options_count_only_in_alphabetical_runs() {
        let quiz =
            "The capital of Mongolia is this city.\nA Davao\nB Islamabad\nC Quezon\nD Ulaanbaatar";
        assert_eq!(detect(Detector::Options, quiz, 0.0), 4.0);
        let uk = "Хто автор?\n\nА Вербицький\n\nБ Шевченко\n\nВ Лисенко";
        assert_eq!(detect(Detector::Options, uk, 0.0), 3.0);
        // prose whose lines happen to start with capital letters
        let prose = "A man walked in.\nB is a letter.\nI said so.\nD is next.";
        assert_eq!(detect(Detector::Options, prose, 0.0), 0.0);
        assert_eq!(detect(Detector::Options, "A one\nB two", 0.0), 0.0);
        assert_eq!(detect(Detector::Options, "A one\nC two\nD three", 0.0), 0.0);
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
        // money is a quantity, not a formula; TeX around a number still is
        assert_eq!(
            detect(Detector::MathNotation, "It costs $4.50, or $1,200.", 0.0),
            0.0
        );
        assert_eq!(detect(Detector::MathNotation, "divisors of $60$", 0.0), 2.0);
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
        // a labelled context and question on lines of their own, with no blank line between
        let context = format!("Context: {passage}\nQuestion: who is mentioned first?");
        assert_eq!(detect(Detector::Passage, &context, 2.5), 2.5);
        // a hard-wrapped text has no long line: a paragraph of short lines is no passage
        let wrapped = format!(
            "{}Who is mentioned first?",
            "word word word word word\n".repeat(16)
        );
        assert_eq!(detect(Detector::Passage, &wrapped, 2.5), 0.0);
        // a news article's short paragraphs, then the ask
        let article = format!(
            "{}Q: how much did it cost?",
            format!("{}\n\n", "word ".repeat(30)).repeat(3)
        );
        assert_eq!(detect(Detector::Passage, &article, 2.5), 2.5);
        let two = format!(
            "{}Q: how much did it cost?",
            format!("{}\n\n", "word ".repeat(40)).repeat(2)
        );
        assert_eq!(detect(Detector::Passage, &two, 2.5), 0.0);
    }
}
