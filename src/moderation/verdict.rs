//! A moderation model's answer, read into what the pre-check needs: which categories it flagged.

use serde::Deserialize;

/// The categories a moderation answer flagged, over all its results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Any result's `flagged`.
    pub flagged: bool,
    /// Every category some result marks `true`, sorted, without repeats.
    pub categories: Vec<String>,
}

#[derive(Deserialize)]
struct Answer {
    results: Vec<Result>,
}

#[derive(Deserialize)]
struct Result {
    #[serde(default)]
    flagged: bool,
    #[serde(default)]
    categories: serde_json::Map<String, serde_json::Value>,
}

impl Verdict {
    /// Reads an OpenAI `/v1/moderations` answer body; `Err` says what is wrong with it.
    pub(crate) fn parse(body: &[u8]) -> std::result::Result<Self, String> {
        let answer: Answer =
            serde_json::from_slice(body).map_err(|e| format!("not a moderation answer: {e}"))?;
        if answer.results.is_empty() {
            return Err("a moderation answer without results".into());
        }
        let mut categories: Vec<String> = answer
            .results
            .iter()
            .flat_map(|r| &r.categories)
            .filter(|(_, v)| v.as_bool() == Some(true))
            .map(|(k, _)| k.clone())
            .collect();
        categories.sort();
        categories.dedup();
        Ok(Self {
            flagged: answer.results.iter().any(|r| r.flagged),
            categories,
        })
    }

    /// The categories that make this verdict a flag under a policy listing `wanted` (empty:
    /// any flag counts); empty when it is not one.
    pub(crate) fn hits(&self, wanted: &[String]) -> Vec<String> {
        if wanted.is_empty() {
            if !self.flagged && self.categories.is_empty() {
                return Vec::new();
            }
            if self.categories.is_empty() {
                return vec!["flagged".into()];
            }
            return self.categories.clone();
        }
        self.categories
            .iter()
            .filter(|c| wanted.contains(c))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_union_over_results_filtered_by_the_policy() {
        let body = br#"{"id":"m","model":"x","results":[
            {"flagged":true,"categories":{"violence":true,"hate":false,"illicit":null}},
            {"flagged":false,"categories":{"violence":false,"sexual":true}}]}"#;
        let v = Verdict::parse(body).unwrap();
        assert!(v.flagged);
        assert_eq!(v.categories, ["sexual", "violence"]);
        assert_eq!(v.hits(&[]), ["sexual", "violence"]);
        assert_eq!(v.hits(&["violence".into(), "hate".into()]), ["violence"]);
        assert!(v.hits(&["hate".into()]).is_empty());
        let clean =
            Verdict::parse(br#"{"results":[{"flagged":false,"categories":{"hate":false}}]}"#)
                .unwrap();
        assert!(clean.hits(&[]).is_empty());
        assert!(Verdict::parse(b"{}").is_err());
        assert!(Verdict::parse(br#"{"results":[]}"#).is_err());
    }
}
