//! A byte trie of the keyword patterns: one walk down it from a start position finds every
//! pattern that begins there, ASCII letters matched in either case.
//!
//! Nodes are stored flat (edge labels and children in two arrays, each node's edges sorted by
//! byte); the root and every node with more than [`SPARSE_MAX`] children also get a 256-entry
//! table of children, since every word start looks there and most words leave the trie within
//! a few bytes. Well under 1 MB for the default policy, against the megabytes of a dense
//! automaton.

use std::collections::BTreeMap;

/// No child / no node / no table.
const NONE: u32 = u32::MAX;

/// Nodes with more children than this find them in a table rather than by a linear search.
const SPARSE_MAX: usize = 4;

/// One trie node: its edges and the patterns ending at it, as ranges of the flat arrays.
#[derive(Debug, Clone, Copy)]
struct Node {
    first_edge: u32,
    first_out: u32,
    edges: u16,
    outs: u16,
    /// Index of its children table in `tables` (in units of 256), or `NONE`.
    table: u32,
}

/// The compiled trie (see the module doc).
#[derive(Debug)]
pub(crate) struct Trie {
    nodes: Vec<Node>,
    /// Children tables, 256 entries each, indexed by text byte (both cases of an ASCII letter
    /// lead to one child); the root's is the first.
    tables: Vec<u32>,
    /// Edge labels (lowercase for ASCII letters), per node in `first_edge..first_edge + edges`.
    labels: Vec<u8>,
    /// Edge targets, parallel to `labels`.
    children: Vec<u32>,
    /// Pattern indexes ending at each node, per node in `first_out..first_out + outs`; patterns
    /// that differ only in ASCII case share a node and are all reported.
    outputs: Vec<u32>,
}

impl Trie {
    /// The trie of `patterns`; pattern `i` is reported as `i`. Patterns must not be empty.
    pub(crate) fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Trie {
        let mut kids: Vec<BTreeMap<u8, u32>> = vec![BTreeMap::new()];
        let mut ends: Vec<Vec<u32>> = vec![Vec::new()];
        for (id, pattern) in patterns.into_iter().enumerate() {
            debug_assert!(!pattern.is_empty(), "empty keyword pattern");
            let mut node = 0;
            for b in pattern.bytes() {
                let fresh = u32::try_from(kids.len()).expect("trie fits u32 indexes");
                let child = *kids[node].entry(b.to_ascii_lowercase()).or_insert(fresh);
                if child == fresh {
                    kids.push(BTreeMap::new());
                    ends.push(Vec::new());
                }
                node = child as usize;
            }
            ends[node].push(u32::try_from(id).expect("pattern index fits u32"));
        }
        let mut trie = Trie {
            nodes: Vec::with_capacity(kids.len()),
            tables: Vec::new(),
            labels: Vec::new(),
            children: Vec::new(),
            outputs: Vec::new(),
        };
        let index = |v: usize| u32::try_from(v).expect("trie fits u32 indexes");
        let small = |v: usize| u16::try_from(v).expect("fewer than 65536 edges or patterns a node");
        for (at, (edges, out)) in kids.iter().zip(&ends).enumerate() {
            let mut table = NONE;
            if at == 0 || edges.len() > SPARSE_MAX {
                table = index(trie.tables.len() / 256);
                let row = trie.tables.len();
                trie.tables.resize(row + 256, NONE);
                for (b, &child) in edges {
                    trie.tables[row + usize::from(*b)] = child;
                    trie.tables[row + usize::from(b.to_ascii_uppercase())] = child;
                }
            }
            trie.nodes.push(Node {
                first_edge: index(trie.labels.len()),
                first_out: index(trie.outputs.len()),
                edges: small(edges.len()),
                outs: small(out.len()),
                table,
            });
            trie.labels.extend(edges.keys());
            trie.children.extend(edges.values());
            trie.outputs.extend(out);
        }
        trie
    }

    /// Whether some pattern begins with byte `b` (in either ASCII case).
    #[inline]
    pub(crate) fn starts_with(&self, b: u8) -> bool {
        self.tables[usize::from(b)] != NONE
    }

    /// Calls `found(pattern, end)` for every pattern equal to `text[start..end]` (ASCII case
    /// ignored), shortest first.
    #[inline]
    pub(crate) fn walk(&self, text: &[u8], start: usize, mut found: impl FnMut(usize, usize)) {
        let Some(&first) = text.get(start) else {
            return;
        };
        let mut node = self.tables[usize::from(first)];
        let mut end = start + 1;
        while node != NONE {
            let n = self.nodes[node as usize];
            if n.outs != 0 {
                for &p in &self.outputs[n.first_out as usize..][..usize::from(n.outs)] {
                    found(p as usize, end);
                }
            }
            let Some(&b) = text.get(end) else {
                return;
            };
            node = if n.table == NONE {
                let b = b.to_ascii_lowercase();
                let labels = &self.labels[n.first_edge as usize..][..usize::from(n.edges)];
                labels
                    .iter()
                    .position(|&l| l == b)
                    .map_or(NONE, |k| self.children[n.first_edge as usize + k])
            } else {
                self.tables[n.table as usize * 256 + usize::from(b)]
            };
            end += 1;
        }
    }

    /// Bytes the trie holds (for the memory budget).
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.tables.len() * 4
            + self.nodes.len() * std::mem::size_of::<Node>()
            + self.labels.len()
            + self.children.len() * 4
            + self.outputs.len() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::Trie;

    fn all_at(trie: &Trie, text: &str, start: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        trie.walk(text.as_bytes(), start, |p, end| out.push((p, end)));
        out
    }

    #[test]
    fn reports_every_pattern_at_a_start_shortest_first_in_either_ascii_case() {
        let trie = Trie::new(["a", "ab", "abc", "b", "ABd", "при"]);
        assert_eq!(all_at(&trie, "ABCD", 0), [(0, 1), (1, 2), (2, 3)]);
        assert_eq!(all_at(&trie, "abd", 0), [(0, 1), (1, 2), (4, 3)]);
        assert_eq!(all_at(&trie, "xab", 0), []);
        assert_eq!(all_at(&trie, "xab", 2), [(3, 3)]);
        assert_eq!(all_at(&trie, "привет", 0), [(5, 6)]);
        assert_eq!(all_at(&trie, "ПРИвет", 0), []);
        assert!(trie.starts_with(b'A') && trie.starts_with(b'b') && !trie.starts_with(b'c'));
    }

    #[test]
    fn patterns_differing_only_in_ascii_case_are_each_reported() {
        let trie = Trie::new(["sql-я", "SQL-я"]);
        assert_eq!(all_at(&trie, "Sql-я", 0), [(0, 6), (1, 6)]);
    }
}
