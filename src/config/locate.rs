//! Finds the line of a field path (`rules[2].route[0]`), or of a value inside it, from the YAML
//! parser's own positions, so a name written several times is reported where it stands.
//!
//! serde_norway exposes positions only on errors, and fills an error's position with the mark
//! of the node being read when the error arose. So the locator walks the document along the
//! path with serde visitors and fails on purpose at the node (or key, or value) it looks for:
//! the error's location is that node's line. Keys are matched against the rest of the path by
//! prefix, so keys holding dots or slashes (`fallbacks.openai/gpt-4.1`) are found too.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The error message the walk stops with; never shown to anyone.
const FOUND: &str = "\u{1}located";

/// What the walk stops at once it has followed the whole path.
#[derive(Clone, Copy)]
enum Goal<'a> {
    /// The first scalar or key equal to this text, anywhere inside the node.
    Needle(&'a str),
    /// The key naming the node (`retry:` for `retry`), when the path ends in a key.
    Key,
    /// The node itself.
    Node,
}

/// The 1-based line of `needle` inside the node at `path`, else of the key naming that node,
/// else of the node; `None` when the path is not in the text (a default, or a synthetic field).
pub(crate) fn line_at(text: &str, path: &str, needle: Option<&str>) -> Option<usize> {
    needle
        .and_then(|n| walk(text, path, Goal::Needle(n)))
        .or_else(|| walk(text, path, Goal::Key))
        .or_else(|| walk(text, path, Goal::Node))
}

fn walk(text: &str, path: &str, goal: Goal<'_>) -> Option<usize> {
    let de = serde_yaml::Deserializer::from_str(text);
    match (Seek { rest: path, goal }).deserialize(de) {
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| l.line()),
        _ => None,
    }
}

fn found<E: de::Error>() -> E {
    E::custom(FOUND)
}

/// Follows the rest of the path from the node it is given.
struct Seek<'p> {
    rest: &'p str,
    goal: Goal<'p>,
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if !self.rest.is_empty() {
            return d.deserialize_any(self);
        }
        match self.goal {
            Goal::Needle(n) => d.deserialize_any(Find(n)),
            Goal::Node => d.deserialize_any(Stop),
            // the path ended at a list item or at the root: no key names it
            Goal::Key => Ok(()),
        }
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let stop_at_key = matches!(self.goal, Goal::Key);
        while let Some(after) = map.next_key_seed(KeyMatch {
            rest: self.rest,
            stop_at_key,
        })? {
            match after {
                Some(rest) => {
                    return map.next_value_seed(Seek {
                        rest,
                        goal: self.goal,
                    })
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((index, rest)) = split_index(self.rest) else {
            return Ok(());
        };
        for _ in 0..index {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Seek {
            rest,
            goal: self.goal,
        })
        .map(|_| ())
    }

    // a scalar where the path goes on: the path is not in this text
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// `[3].rest` → (3, `rest`), with the dot after the index dropped.
fn split_index(rest: &str) -> Option<(usize, &str)> {
    let inner = rest.strip_prefix('[')?;
    let close = inner.find(']')?;
    let index = inner[..close].parse().ok()?;
    let after = &inner[close + 1..];
    Some((index, after.strip_prefix('.').unwrap_or(after)))
}

/// Reads one mapping key: `Some(rest after it)` when the path goes through this key.
struct KeyMatch<'p> {
    rest: &'p str,
    stop_at_key: bool,
}

impl<'de, 'p> DeserializeSeed<'de> for KeyMatch<'p> {
    type Value = Option<&'p str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'p> Visitor<'de> for KeyMatch<'p> {
    type Value = Option<&'p str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        let Some(after) = self.rest.strip_prefix(key) else {
            return Ok(None);
        };
        match after.chars().next() {
            None if self.stop_at_key => Err(found()),
            None | Some('[') => Ok(Some(after)),
            Some('.') => Ok(Some(&after[1..])),
            Some(_) => Ok(None),
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Stops at whatever node it is given.
struct Stop;

impl<'de> Visitor<'de> for Stop {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(found())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(found())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(found())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(found())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(found())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(found())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(found())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(found())
    }
}

/// Stops at the first scalar or key equal to the needle, searching the whole node.
#[derive(Clone, Copy)]
struct Find<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for Find<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Find<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if v == self.0 {
            Err(found())
        } else {
            Ok(())
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.visit_str(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::line_at;

    const POLICY: &str = "name: default
baseline: acme/large
rules:
  - name: code
    route: [acme/large]
  - name: rest
    route:
      - acme/small
      - {acme/large: 3, acme/huge: 1}
fallbacks:
  acme/gpt-4.1: [acme/small]
retry:
  attempts: 0
";

    #[test]
    fn finds_each_occurrence_of_a_repeated_name_by_path() {
        assert_eq!(line_at(POLICY, "baseline", Some("acme/large")), Some(2));
        assert_eq!(
            line_at(POLICY, "rules[0].route[0]", Some("acme/large")),
            Some(5)
        );
        assert_eq!(
            line_at(POLICY, "rules[1].route[1]", Some("acme/large")),
            Some(9)
        );
        assert_eq!(
            line_at(POLICY, "rules[1].route[1]", Some("acme/huge")),
            Some(9)
        );
        assert_eq!(
            line_at(POLICY, "rules[1].route[0]", Some("acme/small")),
            Some(8)
        );
    }

    #[test]
    fn finds_keys_nodes_and_dotted_keys() {
        assert_eq!(
            line_at(POLICY, "retry.attempts", Some("attempts")),
            Some(13)
        );
        assert_eq!(line_at(POLICY, "retry", None), Some(12));
        assert_eq!(line_at(POLICY, "rules[1]", Some("rest")), Some(6));
        assert_eq!(line_at(POLICY, "fallbacks.acme/gpt-4.1", None), Some(11));
        assert_eq!(
            line_at(POLICY, "fallbacks.acme/gpt-4.1[0]", Some("acme/small")),
            Some(11)
        );
    }

    #[test]
    fn a_path_not_in_the_text_has_no_line() {
        assert_eq!(line_at(POLICY, "rules[7].route", None), None);
        assert_eq!(line_at(POLICY, "cache.max_entries", None), None);
        assert_eq!(line_at("a: [1\nb: 2\n", "b", None), None);
    }
}
