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

/// Whether the character starting at byte `i` of `text` is a word character, and its length in
/// bytes: [`is_word_char`] without decoding ASCII or Cyrillic (lead bytes 0xD0–0xD3 are
/// exactly U+0400–U+04FF), for scans that walk the text byte by byte.
#[inline]
pub(crate) fn word_char_at(text: &str, i: usize) -> (bool, usize) {
    let bytes = text.as_bytes();
    let b = bytes[i];
    if b < 0x80 {
        return (b.is_ascii_alphanumeric(), 1);
    }
    if (0xd0..=0xd3).contains(&b) {
        // U+0482–U+0489 are D2 82 – D2 89
        return (b != 0xd2 || !(0x82..=0x89).contains(&bytes[i + 1]), 2);
    }
    let c = text[i..].chars().next().expect("i is a char boundary");
    (is_word_char(c), c.len_utf8())
}

/// The byte index just past the first non-word character at or after byte `i` (or the text's
/// end): where the next word may begin once a scan is inside a word. ASCII letters and digits,
/// and most Cyrillic letters, are skipped without decoding.
#[inline]
pub(crate) fn past_word(text: &str, mut i: usize) -> usize {
    let bytes = text.as_bytes();
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        if matches!(b, 0xd0 | 0xd1 | 0xd3) {
            // Cyrillic letters but those of U+0482–U+0489 (lead byte D2)
            i += 2;
            continue;
        }
        let (word, width) = word_char_at(text, i);
        i += width;
        if !word {
            break;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::{is_word_char, past_word, word_char_at};

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

    #[test]
    fn word_char_at_agrees_with_decoding() {
        let text: String = ('\0'..='\u{7ff}')
            .chain(['€', '中', 'ア', '١', '²', '\u{10400}', '\u{2028}'])
            .collect();
        for (i, c) in text.char_indices() {
            assert_eq!(
                word_char_at(&text, i),
                (is_word_char(c), c.len_utf8()),
                "{c:?}"
            );
        }
    }

    #[test]
    fn past_word_stops_after_the_first_non_word_character() {
        let text = "Übung1 ДОКАЖИ\u{483}x, ok";
        let ends: Vec<usize> = [0, 2, 8, 10].iter().map(|&i| past_word(text, i)).collect();
        let space = text.find(' ').unwrap();
        let mark = text.find('\u{483}').unwrap();
        assert_eq!(ends, [space + 1, space + 1, mark + 2, mark + 2]);
        assert_eq!(past_word(text, text.len() - 2), text.len());
    }
}
