//! The tests' oracle for the one-walk detectors: the separate scans they replaced, checked
//! against [`Shapes::of`] on generated text and, when `../shared/eval` is present, on every
//! labelled prompt.

use super::code_line::{CODE_LINE_WORDS, CODE_STARTS};
use super::records::{is_record, DataLines, LineFacts};
use super::{is_list_item, is_option_line, NumberedOptions, Shapes, Stub};
use crate::classify::chars::is_word_char;
use crate::classify::testgen::Rng;

/// The replaced `Shapes::of`: one scan per shape.
fn shapes(text: &str) -> Shapes {
    let mut s = Shapes {
        fence: text.contains("```"),
        numbers: numbers(text),
        questions: text.bytes().filter(|b| *b == b'?').count(),
        ..Shapes::default()
    };
    let mut numbered = NumberedOptions::default();
    let mut stub = Stub::default();
    let mut data = DataLines::default();
    // the byte ranges of the data records' lines, whose marks are no formulas
    let mut records = Vec::new();
    for line in text.lines() {
        let code = is_code_line(line);
        s.code_lines += usize::from(code);
        let facts = LineFacts::counted(line, has_code_operator(line));
        let record = is_record(line, facts, code);
        data.line(record, facts.words);
        if record {
            let start = line.as_ptr() as usize - text.as_ptr() as usize;
            records.push(start..start + line.len());
        } else {
            s.options += usize::from(is_option_line(line));
            numbered.line(line);
        }
        s.list_items += usize::from(is_list_item(line));
        stub.line(line);
    }
    s.options += numbered.lines();
    s.stub = stub.found();
    let marks;
    (marks, s.sentences) = maths_and_sentences(text);
    s.math = marks
        .iter()
        .filter(|m| !records.iter().any(|r| r.contains(m)))
        .count();
    s.passage =
        !s.fence && ((s.code_lines < 3 && is_passage_and_ask(text)) || data.with_short_ask());
    s
}

fn is_code_line(line: &str) -> bool {
    let t = line.trim();
    if t.len() < 2 {
        return false;
    }
    let short = t.split_whitespace().count() <= CODE_LINE_WORDS;
    let ends =
        t.ends_with(';') || t.ends_with('{') || t.ends_with('}') || (t.ends_with("):") && short);
    ends || CODE_STARTS.iter().any(|s| t.starts_with(s)) || has_code_operator(t)
}
/// Whether `t` holds one of the operators `super::code_operator` knows, at any byte.
fn has_code_operator(t: &str) -> bool {
    let b = t.as_bytes();
    (0..b.len()).any(|i| super::code_operator(b, i))
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

/// Where the formula notation marks are (LaTeX commands, `$` but not as currency, `^`, `=`,
/// maths symbols, `2*3`), and the sentences, found in one walk over the characters.
fn maths_and_sentences(text: &str) -> (Vec<usize>, usize) {
    let (mut math, mut sentences) = (Vec::new(), 0);
    let mut seen_letter = false;
    let mut prev = ' ';
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map_or(' ', |&(_, c)| c);
        let mark = match c {
            '$' => !super::is_currency(text.as_bytes(), i),
            '^' | '√' | '∑' | '∫' | 'π' | '≤' | '≥' | '≠' | '±' | '×' | '÷' | '∞' | '∈' => {
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
        };
        if mark {
            math.push(i);
        }
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

/// A long passage next to a short ask, the caller having ruled out code: split at blank
/// lines, a paragraph of 60+ words or three of 25+ among four or more next to a short (30
/// words at most) first or last one; split at line breaks, a line of 60+ words next to a
/// short first or last line.
fn is_passage_and_ask(text: &str) -> bool {
    let words = |p: &str| p.split_whitespace().count();
    let counts =
        |sep: &str| -> Vec<usize> { text.split(sep).map(words).filter(|&n| n > 0).collect() };
    let short_ask = |c: &[usize]| c.len() >= 2 && (c[0] <= 30 || c[c.len() - 1] <= 30);
    let paragraphs = counts("\n\n");
    let article = paragraphs.len() >= 4 && paragraphs.iter().filter(|&&n| n >= 25).count() >= 3;
    let by_paragraph = short_ask(&paragraphs) && (paragraphs.iter().any(|&n| n >= 60) || article);
    let lines = counts("\n");
    by_paragraph || (short_ask(&lines) && lines.iter().any(|&n| n >= 60))
}

/// Text from pieces that each shape looks at, in every order: code, options, lists, numbers,
/// formula marks, sentence ends, blank lines, CRLF, Unicode spaces and letters of many scripts.
fn generated(rng: &mut Rng) -> String {
    const PIECES: [&str; 52] = [
        "word",
        ",",
        ";",
        "|",
        "09:14:02 ",
        "Слово",
        "ґрунт",
        "東京",
        " ",
        " ",
        "  ",
        "\n",
        "\n",
        "\n\n",
        "\r\n",
        "\r",
        "\t",
        "\u{a0}",
        "\u{2028}",
        "\u{85}",
        "\u{483}",
        "?",
        ".",
        "!",
        "...",
        "1",
        "23",
        "4.5",
        "6,7",
        ".,",
        "=",
        "==",
        "=>",
        "->",
        "::",
        "!=",
        "&&",
        "||",
        "+=",
        "</",
        "$",
        "^",
        "\\frac",
        "\\",
        "+",
        "*",
        "/",
        "π",
        "×",
        "```",
        "def ",
        "A. ",
    ];
    const STARTS: [&str; 9] = [
        "- ", "* ", "• ", "12) ", "(b) ", "Б. ", "return ", "};", "{\"k\": ",
    ];
    let mut text = String::new();
    for _ in 0..rng.below(60) {
        if rng.below(6) == 0 {
            text.push_str(STARTS[rng.below(STARTS.len())]);
        }
        text.push_str(PIECES[rng.below(PIECES.len())]);
        if rng.below(10) == 0 {
            text.push_str(&"long passage words ".repeat(rng.below(30)));
        }
    }
    text
}

#[test]
fn one_walk_finds_the_shapes_the_separate_scans_found_on_generated_text() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let text = generated(&mut rng);
        assert_eq!(Shapes::of(&text), shapes(&text), "{text:?}");
    }
}

#[test]
fn one_walk_finds_the_shapes_the_separate_scans_found_on_the_labelled_prompts() {
    let Some(items) = crate::classify::labelled::shared_eval_items() else {
        return;
    };
    for item in &items {
        assert_eq!(
            Shapes::of(&item.prompt),
            shapes(&item.prompt),
            "{}",
            item.id
        );
    }
}
