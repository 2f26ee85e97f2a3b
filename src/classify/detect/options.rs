//! Answer options under a question: lines labelled `A.`/`(b)`/`В)`, bare letters in
//! alphabetical runs, and numbered choices ending the prompt.

/// `(number, rest)` when `t` starts with one or two digits, `.` or `)`, and a space: a numbered
/// line, whether an option or a list item.
pub(super) fn numbered_item(t: &str) -> Option<(usize, &str)> {
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&digits) || !matches!(t.as_bytes().get(digits), Some(b'.' | b')')) {
        return None;
    }
    let rest = t.get(digits + 1..)?;
    if !rest.starts_with(' ') {
        return None;
    }
    Some((t[..digits].parse().ok()?, rest))
}

/// A line labelled as an option: `A. …`, `b) …`, `(c) …`, `В: …` (A–E in either script).
pub(super) fn is_option_line(line: &str) -> bool {
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

/// Option lines labelled by a bare capital letter and a space (`A Coffee`, `Б Шевченко`), as
/// some quiz sets write them: counted only in runs of three or more in alphabetical order
/// (blank lines between them allowed), since a line may start with "A" or "I" as a word.
#[derive(Debug, Default)]
pub(super) struct BareOptions {
    /// The letter index the next line of the current run must carry.
    next: usize,
    run: usize,
    counted: usize,
}

impl BareOptions {
    const LATIN: [char; 5] = ['A', 'B', 'C', 'D', 'E'];
    const CYRILLIC: [char; 5] = ['А', 'Б', 'В', 'Г', 'Д'];

    pub(super) fn line(&mut self, line: &str) {
        let t = line.trim();
        if t.is_empty() {
            return;
        }
        match Self::label(t) {
            Some(i) if i == self.next && self.run > 0 => {
                self.run += 1;
                self.next += 1;
            }
            Some(0) => {
                self.close();
                self.run = 1;
                self.next = 1;
            }
            _ => self.close(),
        }
    }

    /// The letter's place in the alphabet when `t` starts with a bare label and a space.
    fn label(t: &str) -> Option<usize> {
        let mut chars = t.chars();
        let (first, second, third) = (chars.next()?, chars.next()?, chars.next()?);
        if second != ' ' || third.is_whitespace() {
            return None;
        }
        Self::LATIN
            .iter()
            .position(|&c| c == first)
            .or_else(|| Self::CYRILLIC.iter().position(|&c| c == first))
    }

    fn close(&mut self) {
        if self.run >= 3 {
            self.counted += self.run;
        }
        self.run = 0;
        self.next = 0;
    }

    pub(super) fn lines(mut self) -> usize {
        self.close();
        self.counted
    }
}

/// Numbered answer options (`1. нафта`, `2) azote`): a numbered list is a list of choices, not
/// of steps or requirements, only when it follows a question, an unfinished stem ("Which of
/// these…?", "During a storm you must not") or a sentence that asks for a pick ("Укажіть три
/// чинники.", "Choose two."), rather than another sentence or a colon, when each item is short
/// (20 words at most), and when it ends the prompt. Counted once the run has three lines.
#[derive(Debug, Default)]
pub(crate) struct NumberedOptions<'t> {
    /// The last line that was not a numbered item asks or breaks off (so options may follow).
    stem: bool,
    /// That line, when it ended with a full stop: it is a stem if a sentence of it asks for a
    /// pick, which is looked at only if a numbered item follows (prose pays nothing).
    statement: Option<&'t str>,
    /// Numbered lines in the current run (0 when none is open).
    run: usize,
    /// Whether every item of the current run is short.
    short: bool,
}

impl<'t> NumberedOptions<'t> {
    /// Longest option, in words.
    const MAX_WORDS: usize = 20;

    pub(crate) fn line(&mut self, line: &'t str) {
        let t = line.trim();
        if t.is_empty() {
            return;
        }
        match numbered_item(t) {
            Some((n, rest))
                if n == self.run + 1
                    && (self.run > 0
                        || self.stem
                        || self.statement.is_some_and(asks_for_a_pick)) =>
            {
                self.run += 1;
                self.short =
                    (n == 1 || self.short) && rest.split_whitespace().count() <= Self::MAX_WORDS;
            }
            _ => {
                self.run = 0;
                let last = t.chars().next_back();
                self.stem = last.is_some_and(|c| {
                    c == '?' || c.is_alphanumeric() || matches!(c, '»' | '"' | ')')
                });
                self.statement = (last == Some('.')).then_some(t);
            }
        }
    }

    /// Option lines counted: the final run, when it has three short items.
    pub(crate) fn lines(self) -> usize {
        if self.run >= 3 && self.short {
            self.run
        } else {
            0
        }
    }
}

/// Verbs that ask to pick among given answers, as an exam's stem opens a sentence with them.
const PICK_VERBS: [&str; 20] = [
    "choose",
    "select",
    "pick",
    "indicate",
    "mark",
    "выберите",
    "укажите",
    "определите",
    "отметьте",
    "назовите",
    "виберіть",
    "оберіть",
    "укажіть",
    "вкажіть",
    "визначте",
    "позначте",
    "назвіть",
    "выбери",
    "укажи",
    "обери",
];

/// Whether a sentence of `line` opens with a verb that asks for a pick ("Визначте види
/// діяльності…", "Choose the two true statements.").
fn asks_for_a_pick(line: &str) -> bool {
    line.split(". ").any(|sentence| {
        let word = sentence
            .trim_start()
            .split(|c: char| !c.is_alphabetic())
            .next();
        word.is_some_and(|w| {
            PICK_VERBS
                .iter()
                .any(|v| w.chars().flat_map(char::to_lowercase).eq(v.chars()))
        })
    })
}
