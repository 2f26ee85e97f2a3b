//! Reads a ledger backwards from its end, so start-up needs only the lines of the current period.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How much of the file one backward read takes.
const BLOCK: usize = 64 * 1024;

/// The lines of the file at `path` that come after the last line for which `older` is true,
/// oldest first, read from the end in blocks (the file is append-only, in finishing order, so
/// the first older line met going backwards ends the read). A missing file has no lines.
pub(crate) fn lines_since(
    path: &Path,
    older: impl Fn(&str) -> bool,
) -> std::io::Result<Vec<String>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut pos = file.seek(SeekFrom::End(0))?;
    // bytes after `pos` not yet split into lines (a line cut at a block boundary)
    let mut carry: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    loop {
        let take = BLOCK.min(usize::try_from(pos).unwrap_or(BLOCK));
        pos -= take as u64;
        let mut block = vec![0; take];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&carry);
        let mut end = block.len();
        // every complete line in the block, last first; the first piece may be partial
        while let Some(nl) = block[..end].iter().rposition(|&b| b == b'\n') {
            if take_line(&block[nl + 1..end], &older, &mut out) {
                out.reverse();
                return Ok(out);
            }
            end = nl;
        }
        carry = block[..end].to_vec();
        if pos == 0 {
            take_line(&carry, &older, &mut out);
            out.reverse();
            return Ok(out);
        }
    }
}

/// Adds one line unless it is blank; says whether it is older (the read stops there).
fn take_line(bytes: &[u8], older: &impl Fn(&str) -> bool, out: &mut Vec<String>) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let line = text.trim();
    if line.is_empty() {
        return false;
    }
    if older(line) {
        return true;
    }
    out.push(line.to_owned());
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_back_to_the_first_older_line_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        let mut f = File::create(&path).unwrap();
        let pad = "x".repeat(1000);
        for i in 0..300 {
            let tag = if i < 100 { "old" } else { "new" };
            writeln!(f, "{tag} {i} {pad}").unwrap();
        }
        drop(f);
        let lines = lines_since(&path, |l| l.starts_with("old")).unwrap();
        assert_eq!(lines.len(), 200);
        assert!(lines[0].starts_with("new 100 ") && lines[199].starts_with("new 299 "));
        let all = lines_since(&path, |_| false).unwrap();
        assert_eq!(all.len(), 300, "no older line: the whole file");
        assert!(lines_since(&dir.path().join("missing"), |_| false)
            .unwrap()
            .is_empty());
    }
}
