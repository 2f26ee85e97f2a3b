//! The batch service: files and jobs of every tenant, in memory and on disk, and the slots and
//! stop signal their drivers share; it knows nothing of the pipeline (see [`super::runner`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::input;
use super::job::Job;
use super::store::{FileObject, FileRecord, JobRecord, Owner, Store};
use crate::auth::Tenant;
use crate::config::BatchSettings;
use crate::error::ApiError;
use crate::lock::lock;

/// The batch service of one router: its files and jobs, and the drivers running them.
pub(crate) struct Batches {
    pub(super) store: Store,
    pub(super) settings: BatchSettings,
    pub(super) files: Mutex<HashMap<String, FileRecord>>,
    pub(super) jobs: Mutex<HashMap<String, JobRecord>>,
    /// One writer of job state at a time, each writing the newest state.
    pub(super) saving: tokio::sync::Mutex<()>,
    /// Batch lines in flight, over every job.
    pub(super) slots: Arc<Semaphore>,
    pub(super) stopping: watch::Sender<bool>,
    pub(super) drivers: Mutex<JoinSet<()>>,
}

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch: the clock the job state machine is given.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh id: `prefix`, 16 hex digits of creation time (nanoseconds, strictly increasing in
/// this process) and 8 random ones, so ids sort in creation order and lists made newest-first
/// stay in order for jobs created within the same second.
pub(super) fn new_id(prefix: &str) -> String {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let order = std::sync::atomic::Ordering::Relaxed;
    let mut last = LAST.load(order);
    let t = loop {
        let t = now.max(last + 1);
        match LAST.compare_exchange_weak(last, t, order, order) {
            Ok(_) => break t,
            Err(seen) => last = seen,
        }
    };
    format!("{prefix}{t:016x}{:08x}", rand::random::<u32>())
}

/// The owner of what `tenant` creates.
fn owner_of(tenant: &Tenant) -> Owner {
    Owner {
        scope: crate::response_store::ResponseStore::scope(tenant),
        key_id: tenant.key_id.as_deref().map(str::to_owned),
    }
}

fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("No {kind} found with id '{id}'."),
        param: None,
        code: "not_found",
    }
}

/// The item of record `id` if `tenant` owns it; another tenant's record is as missing as one
/// that does not exist (`parts` picks a record's owner and item).
fn owned<R, T: Clone>(
    records: &Mutex<HashMap<String, R>>,
    tenant: &Tenant,
    kind: &str,
    id: &str,
    parts: impl Fn(&R) -> (&Owner, &T),
) -> Result<T, ApiError> {
    let scope = owner_of(tenant).scope;
    lock(records)
        .get(id)
        .map(&parts)
        .filter(|(owner, _)| owner.scope == scope)
        .map(|(_, item)| item.clone())
        .ok_or_else(|| not_found(kind, id))
}

/// `POST /v1/batches` as sent.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBatch {
    input_file_id: String,
    endpoint: String,
    completion_window: String,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    /// Accepted for compatibility; output files are kept until deleted by the operator.
    #[serde(default)]
    #[allow(dead_code)]
    output_expires_after: Option<Value>,
}

/// One page of a list, as OpenAI sends it.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Page<T> {
    object: &'static str,
    data: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_id: Option<String>,
    has_more: bool,
}

impl Batches {
    /// Opens the service on `settings.dir`, loading the files and jobs already there.
    pub(crate) fn open(settings: BatchSettings) -> std::io::Result<Self> {
        let store = Store::open(&settings.dir)?;
        let files = store
            .load_files()
            .into_iter()
            .map(|r| (r.file.id.clone(), r))
            .collect();
        let jobs = store
            .load_jobs()
            .into_iter()
            .map(|r| (r.job.id.clone(), r))
            .collect();
        Ok(Self {
            store,
            slots: Arc::new(Semaphore::new(settings.concurrency)),
            settings,
            files: Mutex::new(files),
            jobs: Mutex::new(jobs),
            saving: tokio::sync::Mutex::new(()),
            stopping: watch::Sender::new(false),
            drivers: Mutex::new(JoinSet::new()),
        })
    }

    /// The largest upload accepted.
    pub(crate) fn max_file_bytes(&self) -> usize {
        self.settings.max_file_bytes
    }

    /// Stops starting lines and waits (up to `deadline`) for the running ones to finish and
    /// be recorded, so a restart resumes exactly where this instance stopped.
    pub(crate) async fn stop(&self, deadline: Duration) {
        self.stopping.send_replace(true);
        let mut drivers = std::mem::take(&mut *lock(&self.drivers));
        let all = async { while drivers.join_next().await.is_some() {} };
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!("batch lines still running at the shutdown deadline; they will run again after a restart");
            drivers.abort_all();
        }
    }

    /// Stores an uploaded batch input file for `tenant`, after checking every line.
    pub(crate) async fn upload(
        &self,
        tenant: &Tenant,
        filename: String,
        purpose: &str,
        bytes: Bytes,
    ) -> Result<FileObject, ApiError> {
        if purpose != "batch" {
            return Err(ApiError::invalid(
                format!("Switchyard stores files for batches only: `purpose` must be \"batch\", not \"{purpose}\"."),
                Some("purpose"),
            ));
        }
        if let Err(problem) = input::parse(&bytes) {
            return Err(ApiError::InvalidRequest {
                message: format!("The batch input file is not valid: {problem}."),
                param: Some("file".into()),
                code: Some("invalid_file"),
            });
        }
        let record = FileRecord {
            owner: owner_of(tenant),
            file: FileObject {
                id: new_id("file-"),
                object: "file".into(),
                bytes: bytes.len() as u64,
                created_at: now(),
                filename,
                purpose: purpose.into(),
                status: "processed".into(),
            },
        };
        self.put_file(record, &bytes).await
    }

    pub(super) async fn put_file(
        &self,
        record: FileRecord,
        bytes: &[u8],
    ) -> Result<FileObject, ApiError> {
        self.store
            .put_file(&record, bytes)
            .await
            .map_err(|e| ApiError::Internal(format!("the file could not be stored: {e}")))?;
        let file = record.file.clone();
        lock(&self.files).insert(file.id.clone(), record);
        Ok(file)
    }

    /// File `id` if `tenant` owns it.
    pub(crate) fn file(&self, tenant: &Tenant, id: &str) -> Result<FileObject, ApiError> {
        owned(&self.files, tenant, "file", id, |r| (&r.owner, &r.file))
    }

    /// The bytes of file `id` if `tenant` owns it.
    pub(crate) async fn content(&self, tenant: &Tenant, id: &str) -> Result<Vec<u8>, ApiError> {
        self.file(tenant, id)?;
        self.store
            .content(id)
            .await
            .map_err(|e| ApiError::Internal(format!("the file could not be read: {e}")))
    }

    /// Creates a job for `tenant` from one of its files (its driver is started by
    /// [`super::runner::create`]).
    pub(super) async fn create(&self, tenant: &Tenant, req: CreateBatch) -> Result<Job, ApiError> {
        if input::endpoint_of(&req.endpoint).is_none() {
            let known: Vec<&str> = input::ENDPOINTS.iter().map(|(u, _)| *u).collect();
            return Err(ApiError::invalid(
                format!(
                    "Switchyard runs batches for {}, not `{}`.",
                    known.join(", "),
                    req.endpoint
                ),
                Some("endpoint"),
            ));
        }
        if req.completion_window != "24h" {
            return Err(ApiError::invalid(
                "`completion_window` must be \"24h\".",
                Some("completion_window"),
            ));
        }
        check_metadata(req.metadata.as_ref())?;
        let file = self.file(tenant, &req.input_file_id).map_err(|_| {
            ApiError::invalid(
                format!("No batch input file with id '{}'.", req.input_file_id),
                Some("input_file_id"),
            )
        })?;
        if file.purpose != "batch" {
            return Err(ApiError::invalid(
                format!("File '{}' is not a batch input file.", file.id),
                Some("input_file_id"),
            ));
        }
        let job = Job::new(new_id("batch_"), req.endpoint, file.id, req.metadata, now());
        let record = JobRecord {
            owner: owner_of(tenant),
            job: job.clone(),
        };
        let id = job.id.clone();
        lock(&self.jobs).insert(id.clone(), record);
        self.save(&id).await?;
        Ok(job)
    }

    /// Job `id` as its owner sees it now.
    pub(crate) fn job(&self, tenant: &Tenant, id: &str) -> Result<Job, ApiError> {
        owned(&self.jobs, tenant, "batch", id, |r| (&r.owner, &r.job))
    }

    /// `tenant`'s jobs, newest first, `limit` of them after the job `after`.
    pub(crate) fn list(&self, tenant: &Tenant, after: Option<&str>, limit: usize) -> Page<Job> {
        let scope = owner_of(tenant).scope;
        let mut all: Vec<Job> = lock(&self.jobs)
            .values()
            .filter(|r| r.owner.scope == scope)
            .map(|r| r.job.clone())
            .collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let start = after
            .and_then(|a| all.iter().position(|j| j.id == a))
            .map_or(0, |i| i + 1);
        let rest = all.len().saturating_sub(start);
        let data: Vec<Job> = all.into_iter().skip(start).take(limit).collect();
        Page {
            object: "list",
            first_id: data.first().map(|j| j.id.clone()),
            last_id: data.last().map(|j| j.id.clone()),
            has_more: rest > data.len(),
            data,
        }
    }

    /// Cancels job `id` of `tenant`: no further line starts; the driver writes the files of
    /// what ran and ends it `cancelled`.
    pub(crate) async fn cancel(&self, tenant: &Tenant, id: &str) -> Result<Job, ApiError> {
        self.job(tenant, id)?;
        let changed = self.update(id, |j| j.cancel(now()))?;
        if let Err(illegal) = changed {
            return Err(ApiError::invalid(illegal.0, None));
        }
        self.save(id).await?;
        self.job(tenant, id)
    }

    /// Applies `f` to job `id`'s state in memory.
    pub(super) fn update<T>(&self, id: &str, f: impl FnOnce(&mut Job) -> T) -> Result<T, ApiError> {
        lock(&self.jobs)
            .get_mut(id)
            .map(|r| f(&mut r.job))
            .ok_or_else(|| not_found("batch", id))
    }

    /// Writes job `id`'s newest state to disk.
    pub(super) async fn save(&self, id: &str) -> Result<(), ApiError> {
        let _one = self.saving.lock().await;
        let Some(record) = lock(&self.jobs).get(id).cloned() else {
            return Ok(());
        };
        self.store.put_job(&record).await.map_err(|e| {
            tracing::error!(batch = %id, error = %e, "batch state could not be written");
            ApiError::Internal(format!("the batch state could not be written: {e}"))
        })
    }
}

/// OpenAI's metadata rules: at most 16 pairs, keys up to 64 characters, string values up to 512.
fn check_metadata(metadata: Option<&Map<String, Value>>) -> Result<(), ApiError> {
    let Some(m) = metadata else { return Ok(()) };
    let fits = m.len() <= 16
        && m.iter().all(|(k, v)| {
            k.chars().count() <= 64 && v.as_str().is_some_and(|s| s.chars().count() <= 512)
        });
    if fits {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "`metadata` holds at most 16 pairs of string keys (up to 64 characters) and string values (up to 512).",
            Some("metadata"),
        ))
    }
}
