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

/// Whether `b` leads a two-byte Cyrillic letter: every code point D0, D1 and D3 start
/// (U+0400–U+04FF outside D2) is one; D2's U+0482–U+0489 are not letters.
pub(crate) const fn is_cyrillic_letter_lead(b: u8) -> bool {
    matches!(b, 0xd0 | 0xd1 | 0xd3)
}

/// How [`past_word`] steps over a byte it meets inside a word.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// An ASCII letter or digit: one byte of the word.
    Ascii,
    /// The lead byte of a Cyrillic letter (D0, D1, D3): two bytes of the word.
    Cyrillic,
    /// Any other ASCII byte: it ends the word.
    End,
    /// Any other byte: decoded, as [`word_char_at`] does.
    Decode,
}

/// [`Step`] of every byte value, so the scan over a word is one table load per character.
static STEPS: [Step; 256] = {
    let mut steps = [Step::Decode; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        steps[b] = if byte.is_ascii_alphanumeric() {
            Step::Ascii
        } else if byte.is_ascii() {
            Step::End
        } else if is_cyrillic_letter_lead(byte) {
            Step::Cyrillic
        } else {
            Step::Decode
        };
        b += 1;
    }
    steps
};

/// The byte index just past the first non-word character at or after byte `i` (or the text's
/// end): where the next word may begin once a scan is inside a word, or after the character at
/// `i` when that is not a word character. ASCII bytes and most Cyrillic letters (all but those
/// of U+0482–U+0489, lead byte D2) are stepped over by a table lookup, without decoding.
#[inline]
pub(crate) fn past_word(text: &str, mut i: usize) -> usize {
    let bytes = text.as_bytes();
    while let Some(&b) = bytes.get(i) {
        match STEPS[usize::from(b)] {
            Step::Ascii => i = ascii_run_end(bytes, i + 1, true),
            Step::Cyrillic => i += 2,
            Step::End => return i + 1,
            Step::Decode => {
                let (word, width) = word_char_at(text, i);
                i += width;
                if !word {
                    break;
                }
            }
        }
    }
    i
}

/// Each byte of a word as a bit pattern: `0x01` in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of every byte.
const HIGHS: u64 = ONES * 0x80;

/// The end of the run of ASCII letters (and digits, if `digits`) starting at byte `i`, eight
/// bytes at a time: each byte's range test is an add that sets its high bit, on bytes whose
/// high bit was cleared first so no add carries into the next byte.
#[inline]
pub(crate) fn ascii_run_end(bytes: &[u8], mut i: usize, digits: bool) -> usize {
    while let Some(chunk) = bytes.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let ascii = !x & HIGHS;
        // letters: `| 0x20` folds the case, then the byte is in `a`..=`z`
        let low = (x | (ONES * 0x20)) & !HIGHS;
        let mut run =
            (low + ONES * (0x80 - u64::from(b'a'))) & !(low + ONES * (0x7f - u64::from(b'z')));
        if digits {
            let d = x & !HIGHS;
            run |= (d + ONES * (0x80 - u64::from(b'0'))) & !(d + ONES * (0x7f - u64::from(b'9')));
        }
        let run = run & ascii;
        if run != HIGHS {
            return i + (!run & HIGHS).trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if !(b.is_ascii_alphabetic() || (digits && b.is_ascii_digit())) {
            break;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::{ascii_run_end, is_word_char, past_word, word_char_at};

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
    fn past_word_agrees_with_decoding_from_every_character() {
        let text: String = ('\0'..='\u{7ff}')
            .chain(['€', '中', 'ア', '١', '²', '\u{10400}', '\u{2028}'])
            .flat_map(|c| [c, 'a', 'б', c])
            .collect();
        for (i, _) in text.char_indices() {
            let expected = text[i..]
                .char_indices()
                .find(|(_, c)| !is_word_char(*c))
                .map_or(text.len(), |(k, c)| i + k + c.len_utf8());
            assert_eq!(past_word(&text, i), expected, "at {i}");
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

    #[test]
    fn ascii_runs_end_where_a_byte_by_byte_scan_ends() {
        // every byte value, at every offset in and across eight-byte chunks
        let mut text: Vec<u8> = Vec::new();
        for b in 0..=255u8 {
            text.extend_from_slice(b"aZ9");
            text.extend(std::iter::repeat_n(b'q', usize::from(b % 11)));
            text.push(b);
            text.extend_from_slice(b"Mx");
        }
        for digits in [false, true] {
            let wanted = |b: &u8| b.is_ascii_alphabetic() || (digits && b.is_ascii_digit());
            for i in 0..=text.len() {
                let expected = i + text[i..].iter().take_while(|b| wanted(b)).count();
                assert_eq!(ascii_run_end(&text, i, digits), expected, "{i} {digits}");
            }
        }
    }
}
