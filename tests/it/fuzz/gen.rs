//! Generators of hostile input: JSON values at the edges (huge, negative and non-finite-looking
//! numbers, unicode, deep nesting), structured edits of a valid document (wrong types, missing
//! and extra fields), byte-level damage of its text, and plain garbage.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Text: arbitrary unicode, and strings that trip parsers and counters.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "\\PC{0,40}",
        1 => prop::sample::select(vec![
            "", " ", "\u{0}", "\u{feff}", "\u{202e}rtl", "😀👩‍👩‍👧‍👦", "\u{fffd}", "NaN", "Infinity",
            "-Infinity", "1e999", "-0", "auto", "[DONE]", "null", "<script>alert(1)</script>",
            "{\"a\":", "\\u0000", "\r\n\r\n", "data: x\n\n",
        ])
        .prop_map(str::to_owned),
        1 => (1usize..100_000).prop_map(|n| "ab\u{e9}\u{4e2d} ".repeat(n / 8 + 1)),
    ]
}

/// A number at the edges; JSON has no NaN or infinity, so those come as text elsewhere.
pub fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            0i64,
            -1,
            1,
            i64::MIN,
            i64::MAX,
            i64::from(i32::MAX) + 1
        ])
        .prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        prop::sample::select(vec![
            -0.0,
            0.5,
            -1.5,
            1e308,
            -1e308,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            2.000_000_000_000_000_1,
        ])
        .prop_map(float),
        any::<f64>().prop_map(float),
    ]
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// `[[[...]]]` or `{"a":{"a":...}}` `depth` levels deep.
pub fn nested(depth: usize, object: bool) -> Value {
    let mut v = Value::Null;
    for _ in 0..depth {
        v = if object {
            Value::Object(Map::from_iter([("a".to_owned(), v)]))
        } else {
            Value::Array(vec![v])
        };
    }
    v
}

/// Any JSON value, leaning to the edges.
pub fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    let tree = leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    });
    prop_oneof![
        8 => tree,
        1 => (1usize..400, any::<bool>()).prop_map(|(d, o)| nested(d, o)),
        1 => (1usize..2000).prop_map(|n| Value::Array(vec![Value::from(1); n])),
    ]
}

/// One structured change to a document; the index picks the node (in pre-order, modulo).
#[derive(Debug, Clone)]
pub enum Edit {
    Replace(usize, Value),
    Remove(usize),
    Add(usize, String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        2 => any::<usize>().prop_map(Edit::Remove),
        2 => (any::<usize>(), text(), value()).prop_map(|(i, k, v)| Edit::Add(i, k, v)),
    ]
}

/// JSON pointers of every node of `v`, in pre-order.
fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
    out.push(at.to_owned());
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate().take(64) {
                pointers(item, &format!("{at}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(item, &format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// Applies `e` to `doc`.
pub fn apply(doc: &mut Value, e: &Edit) {
    let mut all = Vec::new();
    pointers(doc, "", &mut all);
    let at = |i: usize| all[i % all.len()].clone();
    match e {
        Edit::Replace(i, v) => {
            if let Some(node) = doc.pointer_mut(&at(*i)) {
                *node = v.clone();
            }
        }
        Edit::Remove(i) => {
            let p = at(*i);
            let Some((parent, last)) = p.rsplit_once('/') else {
                return;
            };
            let key = last.replace("~1", "/").replace("~0", "~");
            match doc.pointer_mut(parent) {
                Some(Value::Object(m)) => {
                    m.remove(&key);
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = key.parse::<usize>() {
                        if i < a.len() {
                            a.remove(i);
                        }
                    }
                }
                _ => {}
            }
        }
        Edit::Add(i, k, v) => match doc.pointer_mut(&at(*i)) {
            Some(Value::Object(m)) => {
                m.insert(k.clone(), v.clone());
            }
            Some(Value::Array(a)) => a.push(v.clone()),
            _ => {}
        },
    }
}

/// `base` after one to four structured edits.
pub fn mutated(base: Value) -> impl Strategy<Value = Value> {
    prop::collection::vec(edit(), 1..5).prop_map(move |edits| {
        let mut doc = base.clone();
        for e in &edits {
            apply(&mut doc, e);
        }
        doc
    })
}

/// One of `bases`, mutated.
pub fn mutated_any(bases: Vec<Value>) -> impl Strategy<Value = Value> {
    prop::sample::select(bases).prop_flat_map(mutated)
}

/// Byte-level damage to a text: insertions (of bytes and parser-tripping tokens), deletions,
/// truncation.
pub fn garbled(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..16),
        prop::sample::select(vec![
            "1e999",
            "NaN",
            "-",
            "}",
            "]",
            "{",
            "[",
            "\"",
            "\\",
            ",",
            ":",
            "\u{0}",
            "\u{feff}",
            "\n---\n",
            "\t",
            "&a",
            "*a",
            "!!binary",
            "%YAML 1.2\n",
            "\"\\ud800\"",
            "null",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    let step = prop_oneof![
        3 => (any::<usize>(), token).prop_map(|(i, t)| (i, 0usize, t)),
        2 => (any::<usize>(), 1usize..32).prop_map(|(i, n)| (i, n, Vec::new())),
        1 => any::<usize>().prop_map(|i| (i, usize::MAX, Vec::new())),
    ];
    prop::collection::vec(step, 1..6).prop_map(move |steps| {
        let mut b = base.clone();
        for (i, del, ins) in steps {
            let at = if b.is_empty() { 0 } else { i % (b.len() + 1) };
            let end = at.saturating_add(del).min(b.len());
            b.splice(at..end, ins);
        }
        b
    })
}

/// Arbitrary bytes, sometimes long.
pub fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..256),
        1 => prop::collection::vec(any::<u8>(), 0..16_384),
    ]
}

/// A body for an endpoint whose valid bodies are `bases`: mutated JSON, damaged text or garbage.
pub fn body(bases: Vec<Value>) -> impl Strategy<Value = Vec<u8>> {
    let texts: Vec<Vec<u8>> = bases.iter().map(|b| b.to_string().into_bytes()).collect();
    prop_oneof![
        6 => mutated_any(bases).prop_map(|v| v.to_string().into_bytes()),
        3 => prop::sample::select(texts).prop_flat_map(garbled),
        1 => garbage(),
    ]
}
