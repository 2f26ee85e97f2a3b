//! JSON Schema -> the schema subset Gemini accepts: `$ref`s into `$defs` / `definitions`
//! inlined (a cycle stops at a plain object), then keys Gemini rejects removed at every level.

use serde_json::{json, Map, Value};

/// JSON-schema keys Gemini's OpenAPI-subset `Schema` rejects with a 400.
const UNSUPPORTED_SCHEMA_KEYS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "additionalProperties",
    "strict",
];

/// A client's schema (tool `parameters`, `response_format` schema) as Gemini takes it: every
/// local `$ref` replaced by the definition it names, nothing Gemini rejects left. Nested
/// Pydantic and zod models arrive as `$defs` + `$ref`, which Gemini's schema subset lacks.
pub(crate) fn for_gemini(schema: &Value) -> Value {
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(d)) = schema.get(key) {
            for (name, def) in d {
                defs.insert(format!("#/{key}/{name}"), def.clone());
            }
        }
    }
    clean(&inline(schema, &defs, &mut Vec::new()))
}

/// `v` with each `$ref` to a known definition replaced by it; `seen` holds the references
/// being expanded, so a recursive model ends in `{"type": "object"}` instead of looping.
fn inline(v: &Value, defs: &Map<String, Value>, seen: &mut Vec<String>) -> Value {
    match v {
        Value::Object(m) => {
            let Some(reference) = m.get("$ref").and_then(Value::as_str) else {
                return Value::Object(
                    m.iter()
                        .map(|(k, v)| (k.clone(), inline(v, defs, seen)))
                        .collect(),
                );
            };
            let reference = reference.to_owned();
            let mut out = match defs.get(&reference) {
                Some(def) if !seen.contains(&reference) => {
                    seen.push(reference);
                    let expanded = inline(def, defs, seen);
                    seen.pop();
                    expanded
                }
                // a cycle, a root reference (`#`) or one that points elsewhere
                _ => json!({"type": "object"}),
            };
            if let Value::Object(o) = &mut out {
                // siblings of `$ref` (a description, say) are kept
                for (k, v) in m.iter().filter(|(k, _)| k.as_str() != "$ref") {
                    let v = inline(v, defs, seen);
                    o.insert(k.clone(), v);
                }
            }
            out
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| inline(x, defs, seen)).collect()),
        other => other.clone(),
    }
}

/// Removes keys Gemini's schema subset rejects, at every level (property names are kept).
fn clean(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !UNSUPPORTED_SCHEMA_KEYS.contains(&k.as_str()))
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("properties", Value::Object(props)) => Value::Object(
                            props.iter().map(|(n, s)| (n.clone(), clean(s))).collect(),
                        ),
                        _ => clean(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(clean).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_into_defs_are_inlined_and_defs_removed() {
        // what Pydantic writes for a model with a nested model
        let schema = json!({"$defs": {"Address": {"type": "object", "additionalProperties": false,
                "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            "type": "object", "properties": {
                "home": {"$ref": "#/$defs/Address", "description": "where"},
                "past": {"type": "array", "items": {"$ref": "#/$defs/Address"}}}});
        let g = for_gemini(&schema);
        assert_eq!(
            g,
            json!({"type": "object", "properties": {
                "home": {"type": "object", "properties": {"city": {"type": "string"}},
                    "required": ["city"], "description": "where"},
                "past": {"type": "array", "items": {"type": "object",
                    "properties": {"city": {"type": "string"}}, "required": ["city"]}}}})
        );
        assert!(!g.to_string().contains("$ref"), "{g}");
    }

    #[test]
    fn definitions_and_cycles_terminate() {
        let schema = json!({"definitions": {"Node": {"type": "object", "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}}}},
            "$ref": "#/definitions/Node"});
        let g = for_gemini(&schema);
        assert_eq!(g["properties"]["value"]["type"], "integer");
        assert_eq!(
            g["properties"]["children"]["items"],
            json!({"type": "object"})
        );
        assert!(!g.to_string().contains("$ref"), "{g}");
        assert!(g.get("definitions").is_none());
        // a self-reference to the root and an unknown reference end the same way
        let g = for_gemini(&json!({"type": "object", "properties": {
            "me": {"$ref": "#"}, "x": {"$ref": "#/$defs/Missing"}}}));
        assert_eq!(g["properties"]["me"], json!({"type": "object"}));
        assert_eq!(g["properties"]["x"], json!({"type": "object"}));
    }

    #[test]
    fn property_names_that_look_like_keywords_are_kept() {
        let g = for_gemini(&json!({"type": "object", "properties": {
            "strict": {"type": "boolean"}, "$defs": {"type": "string"}}}));
        assert_eq!(g["properties"]["strict"]["type"], "boolean");
        assert_eq!(g["properties"]["$defs"]["type"], "string");
    }
}
