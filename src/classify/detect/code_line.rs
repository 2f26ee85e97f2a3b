//! Whether a line looks like source code: statement ends, code keywords at its start, code
//! operators.

use super::records::LineFacts;

/// Openings of a code line in the languages prompts paste most.
pub(super) const CODE_STARTS: [&str; 28] = [
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

/// Whether a line looks like code, from what [`walk`](super::walk) counted on it (a code operator among
/// `=> -> :: == != && || += </`, its words). A line ending in `):` is code when it is short
/// (`for i in range(n):`), not a sentence introducing a list ("…a table (owner, due date):").
pub(super) fn is_code_line(line: &str, facts: LineFacts) -> bool {
    let t = line.trim();
    if t.len() < 2 {
        return false;
    }
    let ends = t.ends_with(';')
        || t.ends_with('{')
        || t.ends_with('}')
        || (t.ends_with("):") && facts.words <= CODE_LINE_WORDS);
    ends || facts.operator || (CODE_FIRST[usize::from(t.as_bytes()[0])] && code_start(t))
}

/// The most words a line ending in `):` has to be read as code.
pub(super) const CODE_LINE_WORDS: usize = 10;

/// Whether some [`CODE_STARTS`] entry begins with each byte value: most lines are ruled out
/// by their first byte before any comparison.
static CODE_FIRST: [bool; 256] = {
    let mut t = [false; 256];
    let mut k = 0;
    while k < CODE_STARTS.len() {
        t[CODE_STARTS[k].as_bytes()[0] as usize] = true;
        k += 1;
    }
    t
};

fn code_start(t: &str) -> bool {
    CODE_STARTS.iter().any(|s| t.starts_with(s))
}
