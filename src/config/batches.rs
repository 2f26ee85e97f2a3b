//! The server file's `batches:` block, validated: where batch jobs keep their files and state,
//! how many of their lines run at once, and the largest input file accepted.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Problem;

/// `batches: {dir: PATH, concurrency: 4, max_file_bytes: 104857600}` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBatches {
    /// Folder holding uploaded files, batch state and results, relative to the server file.
    pub dir: PathBuf,
    /// Batch lines in flight at once, over every job (interactive requests are not counted).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The largest file `POST /v1/files` accepts.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: usize,
}

fn default_concurrency() -> usize {
    4
}

fn default_max_file_bytes() -> usize {
    100 * 1024 * 1024
}

/// The validated batch settings; without a `batches:` block the Batch and Files endpoints
/// answer that batches are not enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSettings {
    /// Resolved against the server file's folder.
    pub dir: PathBuf,
    pub concurrency: usize,
    pub max_file_bytes: usize,
}

/// Validates `raw` (problems name the field), resolving `dir` against `base`.
pub(crate) fn validate(
    raw: RawBatches,
    base: &Path,
    path: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> BatchSettings {
    if raw.concurrency == 0 || raw.concurrency > 1024 {
        problems.push(Problem::at(
            path,
            text,
            "batches.concurrency",
            Some("concurrency"),
            "must be between 1 and 1024",
        ));
    }
    if raw.max_file_bytes < 1024 {
        problems.push(Problem::at(
            path,
            text,
            "batches.max_file_bytes",
            Some("max_file_bytes"),
            "must be at least 1024",
        ));
    }
    if raw.dir.as_os_str().is_empty() {
        problems.push(Problem::at(
            path,
            text,
            "batches.dir",
            Some("dir"),
            "must name a folder",
        ));
    }
    BatchSettings {
        dir: if path == Path::new("-") {
            raw.dir
        } else {
            base.join(raw.dir)
        },
        concurrency: raw.concurrency.clamp(1, 1024),
        max_file_bytes: raw.max_file_bytes.max(1024),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> (BatchSettings, Vec<Problem>) {
        let raw: RawBatches = serde_yaml::from_str(yaml).unwrap();
        let mut problems = Vec::new();
        let text = format!("batches: {yaml}\n");
        let path = Path::new("/etc/sy/switchyard.yaml");
        let s = validate(raw, Path::new("/etc/sy"), path, &text, &mut problems);
        (s, problems)
    }

    #[test]
    fn defaults_and_a_dir_beside_the_server_file() {
        let (s, problems) = check("{dir: jobs}");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            s,
            BatchSettings {
                dir: PathBuf::from("/etc/sy/jobs"),
                concurrency: 4,
                max_file_bytes: 100 * 1024 * 1024,
            }
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let (_, problems) = check("{dir: jobs, concurrency: 0, max_file_bytes: 10}");
        let fields: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(fields.len(), 2, "{fields:?}");
        assert!(fields[0].contains("batches.concurrency"), "{fields:?}");
        assert!(fields[1].contains("batches.max_file_bytes"), "{fields:?}");
        assert!(serde_yaml::from_str::<RawBatches>("{dir: j, workers: 2}").is_err());
    }
}
