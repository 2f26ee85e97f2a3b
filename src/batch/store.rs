//! Batch files and job state on disk, so jobs survive a restart.
//!
//! Layout under the configured `batches.dir`:
//! ```text
//! files/{file_id}.json        the File object and its owner
//! files/{file_id}.jsonl       the file's bytes
//! batches/{batch_id}.json     the Batch object and its owner
//! batches/{batch_id}.done     the journal: one line per finished request, appended and synced
//! ```
//! Whole files are written atomically (a temp file in the same folder, synced, then renamed),
//! so a crash leaves the old version or the new one, never half of one. The journal is
//! append-only; a torn last line (a crash mid-append) is ignored when read, so that request
//! counts as not done and runs again — the only way a line can run twice.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::job::Job;

/// Who owns a file or a job: the tenant's scope, and the virtual key a job's lines run as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Owner {
    /// `user:NAME` for a virtual key's user, `open` in open mode: only the same scope sees it.
    pub scope: String,
    /// The id (never the key) of the virtual key that created it.
    pub key_id: Option<String>,
}

/// OpenAI's File object, as `GET /v1/files/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileObject {
    pub id: String,
    pub object: String,
    pub bytes: u64,
    pub created_at: u64,
    pub filename: String,
    pub purpose: String,
    pub status: String,
}

/// A file's metadata as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FileRecord {
    pub owner: Owner,
    pub file: FileObject,
}

/// A job as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JobRecord {
    pub owner: Owner,
    pub job: Job,
}

/// One finished request as the journal keeps it: its place in the input, whether it
/// succeeded, and its output line (OpenAI's batch output line shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Done {
    pub index: usize,
    pub ok: bool,
    pub line: Value,
}

/// The folder of one router's batch files and jobs.
#[derive(Debug)]
pub(crate) struct Store {
    files: PathBuf,
    batches: PathBuf,
}

impl Store {
    /// Opens (creating) the folders under `dir`.
    pub(crate) fn open(dir: &Path) -> std::io::Result<Self> {
        let files = dir.join("files");
        let batches = dir.join("batches");
        std::fs::create_dir_all(&files)?;
        std::fs::create_dir_all(&batches)?;
        Ok(Self { files, batches })
    }

    /// Every file's metadata (unreadable ones are logged and skipped).
    pub(crate) fn load_files(&self) -> Vec<FileRecord> {
        load(&self.files)
    }

    /// Every job (unreadable ones are logged and skipped).
    pub(crate) fn load_jobs(&self) -> Vec<JobRecord> {
        load(&self.batches)
    }

    /// Writes a file's bytes, then its metadata (so listed files always have their bytes).
    pub(crate) async fn put_file(&self, record: &FileRecord, bytes: &[u8]) -> std::io::Result<()> {
        let id = &record.file.id;
        write_atomic(&self.files.join(format!("{id}.jsonl")), bytes).await?;
        write_atomic(&self.files.join(format!("{id}.json")), &to_json(record)?).await
    }

    /// A file's bytes.
    pub(crate) async fn content(&self, id: &str) -> std::io::Result<Vec<u8>> {
        tokio::fs::read(self.files.join(format!("{id}.jsonl"))).await
    }

    /// Writes a job's state.
    pub(crate) async fn put_job(&self, record: &JobRecord) -> std::io::Result<()> {
        let path = self.batches.join(format!("{}.json", record.job.id));
        write_atomic(&path, &to_json(record)?).await
    }

    /// The requests of job `id` already finished, in the order they finished.
    pub(crate) async fn done(&self, id: &str) -> Vec<Done> {
        let text = tokio::fs::read_to_string(self.journal_path(id))
            .await
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Opens job `id`'s journal for appending.
    pub(crate) async fn journal(&self, id: &str) -> std::io::Result<Journal> {
        let path = self.journal_path(id);
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await?;
        // a torn last line from a crash must not swallow the next one
        let len = file.metadata().await?.len();
        if len > 0 {
            let bytes = tokio::fs::read(&path).await?;
            if bytes.last() != Some(&b'\n') {
                file.write_all(b"\n").await?;
            }
        }
        Ok(Journal { file })
    }

    fn journal_path(&self, id: &str) -> PathBuf {
        self.batches.join(format!("{id}.done"))
    }
}

/// Job `id`'s journal, open for appending.
#[derive(Debug)]
pub(crate) struct Journal {
    file: tokio::fs::File,
}

impl Journal {
    /// Appends one finished request and syncs it to disk before returning: once this returns,
    /// the request is never run again.
    pub(crate) async fn append(&mut self, done: &Done) -> std::io::Result<()> {
        let mut line = to_json(done)?;
        line.push(b'\n');
        self.file.write_all(&line).await?;
        self.file.sync_data().await
    }
}

fn to_json<T: Serialize>(value: &T) -> std::io::Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(std::io::Error::other)
}

/// Writes `bytes` to `path` atomically: a synced temp file beside it, renamed over it.
async fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{:016x}", rand::random::<u64>()));
    let mut f = tokio::fs::File::create(&tmp).await?;
    f.write_all(bytes).await?;
    f.sync_all().await?;
    drop(f);
    tokio::fs::rename(&tmp, path).await
}

/// Every `*.json` record in `dir`; leftover temp files of a crash are removed.
fn load<T: for<'de> Deserialize<'de>>(dir: &Path) -> Vec<T> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if ext.starts_with("tmp-") {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if ext != "json" {
            continue;
        }
        match std::fs::read(&path).map(|b| serde_json::from_slice::<T>(&b)) {
            Ok(Ok(record)) => out.push(record),
            Ok(Err(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable batch record skipped");
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "batch record could not be read");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            scope: "open".into(),
            key_id: None,
        }
    }

    #[tokio::test]
    async fn files_jobs_and_the_journal_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let file = FileRecord {
            owner: owner(),
            file: FileObject {
                id: "file-1".into(),
                object: "file".into(),
                bytes: 3,
                created_at: 1,
                filename: "a.jsonl".into(),
                purpose: "batch".into(),
                status: "processed".into(),
            },
        };
        store.put_file(&file, b"abc").await.unwrap();
        let job = JobRecord {
            owner: owner(),
            job: Job::new(
                "batch_1".into(),
                "/v1/embeddings".into(),
                "file-1".into(),
                None,
                5,
            ),
        };
        store.put_job(&job).await.unwrap();
        let mut j = store.journal("batch_1").await.unwrap();
        j.append(&Done {
            index: 1,
            ok: true,
            line: serde_json::json!({"x": 1}),
        })
        .await
        .unwrap();
        drop(j);
        // a crash mid-append leaves a torn line: it is ignored, and the next append is whole
        let journal = dir.path().join("batches/batch_1.done");
        let mut text = std::fs::read_to_string(&journal).unwrap();
        text.push_str("{\"index\":2,\"ok\"");
        std::fs::write(&journal, text).unwrap();
        std::fs::write(dir.path().join("batches/batch_1.tmp-00"), "half").unwrap();

        let again = Store::open(dir.path()).unwrap();
        assert_eq!(again.load_files()[0].file, file.file);
        assert_eq!(again.content("file-1").await.unwrap(), b"abc");
        assert_eq!(again.load_jobs()[0].job, job.job);
        assert!(!dir.path().join("batches/batch_1.tmp-00").exists());
        let done = again.done("batch_1").await;
        assert_eq!(done.len(), 1);
        let mut j = again.journal("batch_1").await.unwrap();
        j.append(&Done {
            index: 0,
            ok: false,
            line: Value::Null,
        })
        .await
        .unwrap();
        let done = again.done("batch_1").await;
        assert_eq!(done.iter().map(|d| d.index).collect::<Vec<_>>(), [1, 0]);
    }
}
