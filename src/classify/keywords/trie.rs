//! A byte trie of the keyword patterns: one walk down it from a start position finds every
//! pattern that begins there, ASCII letters matched in either case.
//!
//! Stored as a double array over byte classes. Each byte the patterns use gets a class
//! `1..=classes` (both cases of an ASCII letter share one; every other byte is class 0, which
//! no edge has), and each state a `base`: the child of state `s` by class `c` is the cell at
//! `base(s) + c`, and it is `s`'s child only if that cell's `check` is `s`. One step of the walk
//! is a table lookup, an add and a compare, whatever the node's fan-out; the cells are packed
//! by first fit, so the array stays close to the trie's node count (about 200 KB with the
//! outputs for the default policy, against the 256-entry tables of the sparse node layout it
//! replaced).

use std::collections::{BTreeSet, VecDeque};

/// `check` of a free cell: no state has this index.
const FREE: u32 = u32::MAX;

/// Set in a cell's `base` when patterns end at its state.
const ENDS: u32 = 1 << 31;

/// The root state's cell.
const ROOT: usize = 0;

/// One state of the double array.
#[derive(Debug, Clone, Copy)]
struct Cell {
    /// Where this state's children are (`base + class`), with [`ENDS`] set when patterns end
    /// here.
    base: u32,
    /// The parent state, or [`FREE`].
    check: u32,
}

/// The compiled trie (see the module doc).
#[derive(Debug)]
pub(crate) struct Trie {
    /// Byte class of each text byte (0: in no pattern).
    class: [u8; 256],
    /// The root's `base`, read by every walk (no pattern is empty, so it carries no `ENDS`).
    root_base: u32,
    cells: Vec<Cell>,
    /// Patterns ending at state `s` are `outputs[first_out[s]..first_out[s + 1]]`; patterns
    /// that differ only in ASCII case share a state and are all reported.
    first_out: Vec<u32>,
    outputs: Vec<u32>,
}

impl Trie {
    /// The trie of `patterns`; pattern `i` is reported as `i`. Patterns must not be empty.
    pub(crate) fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Trie {
        let index = |v: usize| u32::try_from(v).expect("trie fits u32 indexes");
        // the plain trie first, as flat lists: the patterns taken in sorted (lowercase) order,
        // each shares the path of the one before it up to their common prefix and adds nodes
        // for the rest, so a node's children are made in label order and no per-node list or
        // map is needed (those made the build's heap peak megabytes that the allocator then
        // kept resident)
        let patterns: Vec<&[u8]> = patterns.into_iter().map(str::as_bytes).collect();
        // keywords come lowercase, so most comparisons are plain byte comparisons
        let upper: Vec<bool> = patterns
            .iter()
            .map(|p| p.iter().any(u8::is_ascii_uppercase))
            .collect();
        let lower = |p: &'a [u8]| p.iter().map(u8::to_ascii_lowercase);
        let mut order: Vec<usize> = (0..patterns.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            if upper[a] || upper[b] {
                lower(patterns[a]).cmp(lower(patterns[b]))
            } else {
                patterns[a].cmp(patterns[b])
            }
        });
        // how much of each pattern (in that order) the one before it already made
        let mut prev: &[u8] = &[];
        let shared: Vec<usize> = order
            .iter()
            .map(|&id| {
                let pattern = patterns[id];
                debug_assert!(!pattern.is_empty(), "empty keyword pattern");
                let common = pattern
                    .iter()
                    .zip(prev)
                    .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                    .count();
                prev = pattern;
                common
            })
            .collect();
        // (parent, lowercase byte, child) in the order made, and (node, pattern) per ending;
        // sized exactly, as a doubling vector's slack and copies stayed resident
        let made = order
            .iter()
            .zip(&shared)
            .map(|(&id, &c)| patterns[id].len() - c);
        let mut edges: Vec<(u32, u8, u32)> = Vec::with_capacity(made.sum());
        let mut ends: Vec<(u32, u32)> = Vec::with_capacity(patterns.len());
        let mut path: Vec<u32> = vec![0];
        for (&id, &common) in order.iter().zip(&shared) {
            let pattern = patterns[id];
            path.truncate(common + 1);
            for &b in &pattern[common..] {
                let fresh = index(edges.len() + 1);
                edges.push((path[path.len() - 1], b.to_ascii_lowercase(), fresh));
                path.push(fresh);
            }
            ends.push((path[pattern.len()], index(id)));
        }
        drop(shared);
        let nodes = edges.len() + 1;
        // each node's children as one slice of the edges, still in label order
        edges.sort_by_key(|&(parent, _, _)| parent);
        let mut first_kid = vec![0u32; nodes + 1];
        for &(parent, _, _) in &edges {
            first_kid[parent as usize + 1] += 1;
        }
        for n in 0..nodes {
            first_kid[n + 1] += first_kid[n];
        }
        let kids = |node: usize| &edges[first_kid[node] as usize..first_kid[node + 1] as usize];
        let class = classes(&edges);
        // then each node's cell, breadth first: its children go at the first base where
        // every one of them finds a free cell
        // first fit packs the cells close to the node count; one class span more is room
        let mut cells = Vec::with_capacity(nodes + 256);
        cells.push(Cell {
            base: 0,
            check: FREE,
        });
        let mut free: BTreeSet<usize> = BTreeSet::new();
        let mut cell_of = vec![0u32; nodes];
        let mut queue = VecDeque::from([0]);
        while let Some(node) = queue.pop_front() {
            let labels: Vec<usize> = kids(node)
                .iter()
                .map(|&(_, b, _)| usize::from(class[usize::from(b)]))
                .collect();
            let Some(&last) = labels.last() else {
                continue;
            };
            let base = first_fit(&cells, &free, &labels);
            for slot in cells.len()..=base + last {
                free.insert(slot);
                cells.push(Cell {
                    base: 0,
                    check: FREE,
                });
            }
            let at = cell_of[node] as usize;
            assert!(index(base) < ENDS, "trie bases fit 31 bits");
            cells[at].base = index(base);
            for (c, &(_, _, kid)) in labels.iter().zip(kids(node)) {
                free.remove(&(base + c));
                cells[base + c].check = index(at);
                cell_of[kid as usize] = index(base + c);
                queue.push_back(kid as usize);
            }
        }
        // the patterns ending at each state, in cell order (by pattern within a cell)
        let mut ends: Vec<(u32, u32)> = ends
            .into_iter()
            .map(|(node, id)| (cell_of[node as usize], id))
            .collect();
        ends.sort_unstable();
        let mut first_out = Vec::with_capacity(cells.len() + 1);
        let mut outputs = Vec::with_capacity(ends.len());
        let mut next = ends.iter().peekable();
        for (at, cell) in cells.iter_mut().enumerate() {
            first_out.push(index(outputs.len()));
            while let Some(&(_, id)) = next.next_if(|&&(c, _)| c as usize == at) {
                cell.base |= ENDS;
                outputs.push(id);
            }
        }
        first_out.push(index(outputs.len()));
        Trie {
            class,
            root_base: cells[ROOT].base & !ENDS,
            cells,
            first_out,
            outputs,
        }
    }

    /// Calls `found(pattern, end)` for every pattern equal to `text[start..end]` (ASCII case
    /// ignored), shortest first.
    #[inline]
    pub(crate) fn walk(&self, text: &[u8], start: usize, mut found: impl FnMut(usize, usize)) {
        let cells = self.cells.as_slice();
        let class = &self.class;
        let mut state = ROOT;
        let mut base = self.root_base;
        let mut end = start;
        while let Some(&b) = text.get(end) {
            let next = base as usize + usize::from(class[usize::from(b)]);
            match cells.get(next) {
                Some(cell) if cell.check as usize == state => {
                    state = next;
                    base = cell.base;
                }
                _ => break,
            }
            end += 1;
            if base & ENDS != 0 {
                base &= !ENDS;
                let (from, to) = (self.first_out[state], self.first_out[state + 1]);
                for &p in &self.outputs[from as usize..to as usize] {
                    found(p as usize, end);
                }
            }
        }
    }

    /// Bytes the trie holds (for the memory budget).
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.class.len()
            + self.cells.len() * std::mem::size_of::<Cell>()
            + self.first_out.len() * 4
            + self.outputs.len() * 4
    }
}

/// The lowest base at which every class in `labels` (ascending, not empty) lands on a free
/// cell: tried at each free cell, then up to the end (a base at the end always fits). The
/// root's cell counts as free, but no base reaches it (classes start at 1).
fn first_fit(cells: &[Cell], free: &BTreeSet<usize>, labels: &[usize]) -> usize {
    let lowest = labels[0];
    let fits = |base: usize| {
        labels
            .iter()
            .all(|c| cells.get(base + c).is_none_or(|cell| cell.check == FREE))
    };
    free.range(lowest..)
        .copied()
        .chain(cells.len().max(lowest)..=cells.len() + lowest)
        .map(|f| f - lowest)
        .find(|&base| fits(base))
        .expect("base `cells.len()` puts every child past the end")
}

/// The byte class table for the labels of `edges`: classes `1..` in byte order, ASCII
/// upper case sharing its lower case letter's class.
fn classes(edges: &[(u32, u8, u32)]) -> [u8; 256] {
    let mut used = [false; 256];
    for &(_, b, _) in edges {
        used[usize::from(b)] = true;
    }
    let mut class = [0u8; 256];
    let mut next = 0u8;
    for b in 0..=255u8 {
        if used[usize::from(b)] {
            next += 1;
            class[usize::from(b)] = next;
        }
    }
    for b in b'A'..=b'Z' {
        class[usize::from(b)] = class[usize::from(b.to_ascii_lowercase())];
    }
    class
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
        assert_eq!(all_at(&trie, "xab", 3), []);
        assert_eq!(all_at(&trie, "привет", 0), [(5, 6)]);
        assert_eq!(all_at(&trie, "ПРИвет", 0), []);
    }

    #[test]
    fn patterns_differing_only_in_ascii_case_are_each_reported() {
        let trie = Trie::new(["sql-я", "SQL-я"]);
        assert_eq!(all_at(&trie, "Sql-я", 0), [(0, 6), (1, 6)]);
    }

    #[test]
    fn every_byte_value_and_fan_out_is_placed() {
        // a node with a child by every byte, and a chain under each: the first fit must keep
        // every check distinct
        let patterns: Vec<String> = (1..=255u8)
            .filter(|b| b.is_ascii() && !b.is_ascii_uppercase())
            .map(|b| format!("{}{}x", char::from(b), char::from(b)))
            .chain(["ë".to_string(), "ёж".to_string(), "ÿ".to_string()])
            .collect();
        let trie = Trie::new(patterns.iter().map(String::as_str));
        for (i, p) in patterns.iter().enumerate() {
            assert_eq!(all_at(&trie, p, 0), [(i, p.len())], "{p:?}");
            let upper = p.to_ascii_uppercase();
            assert_eq!(all_at(&trie, &upper, 0), [(i, p.len())], "{upper:?}");
        }
        assert_eq!(all_at(&trie, "ё", 0), []);
        assert_eq!(all_at(&trie, "aab", 0), []);
    }
}
