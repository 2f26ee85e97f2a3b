//! Word-character tests for the classifier's scans, answered without Unicode table lookups for
//! the scripts prompts are mostly written in (ASCII and Cyrillic).

/// Whether `c` is part of a word: exactly `char::is_alphanumeric`, but Latin and the Cyrillic
/// letters are answered by a range check, since the table lookup dominated the profile on
/// Russian and Ukrainian text.
#[inline]
pub(crate) fn is_word_char(c: char) -> bool {
    match c {
        '\0'..='\x7f' => c.is_ascii_alphanumeric(),
        // Cyrillic: every code point of U+0400–U+04FF is a letter except the thousands sign
        // and the combining marks U+0482–U+0489
        '\u{400}'..='\u{481}' | '\u{48a}'..='\u{4ff}' => true,
        _ => c.is_alphanumeric(),
    }
}

#[cfg(test)]
mod tests {
    use super::is_word_char;

    #[test]
    fn agrees_with_the_standard_library_on_the_fast_ranges_and_beyond() {
        for c in ('\0'..='\u{7ff}').chain(['€', '中', 'ア', '١', '²', '\u{10400}']) {
            assert_eq!(
                is_word_char(c),
                c.is_alphanumeric(),
                "{c:?} U+{:04X}",
                c as u32
            );
        }
    }
}
