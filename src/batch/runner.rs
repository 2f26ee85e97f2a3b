//! The driver of one batch job: validates its input, runs the lines not yet done through the
//! pipeline (bounded by the shared slots), journals each as it finishes, and writes the output
//! and error files at the end. Every decision about the job's status is [`super::job`]'s.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Value};

use super::input::{self, InputLine};
use super::job::Job;
use super::job::{BatchError, Status};
use super::service::{new_id, now, Batches, CreateBatch};
use super::store::{Done, FileObject, FileRecord, Journal, Owner};
use crate::auth::Tenant;
use crate::config::{AuthMode, Endpoint};
use crate::error::ApiError;
use crate::state::AppState;

/// Starts a driver for every job of `svc` that had not ended when the router last stopped.
pub(crate) fn resume(svc: &Arc<Batches>, state: &Arc<AppState>) {
    let open: Vec<String> = crate::lock::lock(&svc.jobs)
        .values()
        .filter(|r| !r.job.status.is_terminal())
        .map(|r| r.job.id.clone())
        .collect();
    for id in open {
        tracing::info!(batch = %id, "resuming a batch job");
        spawn(svc, state, id);
    }
}

/// `POST /v1/batches`: creates a job for `tenant` and starts its driver.
pub(crate) async fn create(
    svc: &Arc<Batches>,
    state: &Arc<AppState>,
    tenant: &Tenant,
    req: CreateBatch,
) -> Result<Job, ApiError> {
    let job = svc.create(tenant, req).await?;
    spawn(svc, state, job.id.clone());
    Ok(job)
}

fn spawn(svc: &Arc<Batches>, state: &Arc<AppState>, id: String) {
    let driver = drive(Arc::clone(svc), Arc::clone(state), id);
    crate::lock::lock(&svc.drivers).spawn(driver);
}

/// Runs job `id` until it ends or the service stops; failures are logged.
async fn drive(svc: Arc<Batches>, state: Arc<AppState>, id: String) {
    if let Err(e) = run(&svc, &state, &id).await {
        tracing::error!(batch = %id, error = %e, "a batch job stopped unexpectedly");
    }
}

async fn run(svc: &Arc<Batches>, state: &Arc<AppState>, id: &str) -> Result<(), String> {
    let (owner, job) = {
        let jobs = crate::lock::lock(&svc.jobs);
        let r = jobs.get(id).ok_or("the job is gone")?;
        (r.owner.clone(), r.job.clone())
    };
    let bytes = svc
        .store
        .content(&job.input_file_id)
        .await
        .map_err(|e| format!("its input file cannot be read: {e}"))?;
    let lines = match input::parse(&bytes) {
        Ok(lines) => lines,
        Err(p) => {
            let error = BatchError {
                code: "invalid_file".into(),
                message: p.message,
                param: None,
                line: Some(p.line as u64),
            };
            return reject(svc, id, vec![error]).await;
        }
    };
    if job.status == Status::Validating
        || (job.status == Status::Cancelling && job.in_progress_at.is_none())
    {
        let errors = input::mismatches(&lines, &job.endpoint);
        if !errors.is_empty() {
            return reject(svc, id, errors).await;
        }
        let total = lines.len() as u64;
        svc.update(id, |j| j.begin(total, now()))
            .map_err(|e| e.to_string())?
            .map_err(|e| e.0)?;
        svc.save(id).await.map_err(|e| e.to_string())?;
    }
    let done = svc.store.done(id).await;
    let finished: HashSet<usize> = done.iter().map(|d| d.index).collect();
    let ok = done.iter().filter(|d| d.ok).count() as u64;
    let _ = svc.update(id, |j| {
        j.request_counts.completed = ok;
        j.request_counts.failed = finished.len() as u64 - ok;
    });
    let endpoint = input::endpoint_of(&job.endpoint).unwrap_or(Endpoint::Chat);
    let journal = svc
        .store
        .journal(id)
        .await
        .map_err(|e| format!("its journal cannot be opened: {e}"))?;
    let line = Line {
        svc: Arc::clone(svc),
        state: Arc::clone(state),
        batch: id.into(),
        endpoint,
        owner: owner.clone(),
        journal: Arc::new(tokio::sync::Mutex::new(journal)),
    };
    let mut stopping = svc.stopping.subscribe();
    let mut running = tokio::task::JoinSet::new();
    let mut all_started = true;
    for l in lines.iter().filter(|l| !finished.contains(&l.index)) {
        let permit = tokio::select! {
            p = Arc::clone(&svc.slots).acquire_owned() => p.ok(),
            _ = stopping.wait_for(|s| *s) => None,
        };
        let runs = svc.update(id, |j| j.runs_at(now())).unwrap_or(false);
        let (Some(permit), true, false) = (permit, runs, *svc.stopping.borrow()) else {
            all_started = false;
            break;
        };
        let line = line.clone();
        let l = l.clone();
        running.spawn(async move {
            let _slot = permit;
            Box::pin(line.run(l)).await;
        });
    }
    while running.join_next().await.is_some() {}
    if !all_started && *svc.stopping.borrow() {
        // the router is stopping: the job resumes from its journal at the next start
        return Ok(());
    }
    finish(svc, id, &owner, &lines).await
}

/// Fails the job with `errors` before any line ran.
async fn reject(svc: &Batches, id: &str, errors: Vec<BatchError>) -> Result<(), String> {
    svc.update(id, |j| j.reject(errors, now()))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.0)?;
    svc.save(id).await.map_err(|e| e.to_string())
}

/// Writes the output and error files of every journaled line (in input order; lines a
/// window's end left unrun are errors `batch_expired`) and closes the job.
async fn finish(svc: &Batches, id: &str, owner: &Owner, lines: &[InputLine]) -> Result<(), String> {
    let at = now();
    let mut done = svc.store.done(id).await;
    let all_ran = done.len() >= lines.len();
    svc.update(id, |j| j.settle(all_ran, at))
        .map_err(|e| e.to_string())?;
    svc.save(id).await.map_err(|e| e.to_string())?;
    let expired = svc
        .update(id, |j| j.status == Status::InProgress && at >= j.expires_at)
        .map_err(|e| e.to_string())?;
    if expired {
        let ran: HashSet<usize> = done.iter().map(|d| d.index).collect();
        for l in lines.iter().filter(|l| !ran.contains(&l.index)) {
            let error = json!({"code": "batch_expired", "message": "This request could not be executed before the completion window expired."});
            done.push(Done {
                index: l.index,
                ok: false,
                line: output_line(&new_id("batch_req_"), &l.custom_id, Value::Null, error),
            });
        }
    }
    done.sort_by_key(|d| d.index);
    done.dedup_by_key(|d| d.index);
    let (good, bad): (Vec<Done>, Vec<Done>) = done.into_iter().partition(|d| d.ok);
    let output = write_results(svc, id, owner, "output", &good).await?;
    let errors = write_results(svc, id, owner, "error", &bad).await?;
    svc.update(id, |j| j.close(output, errors, now()))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.0)?;
    svc.save(id).await.map_err(|e| e.to_string())
}

/// One results file (`batch_output`) of `lines`, or none when there are none.
async fn write_results(
    svc: &Batches,
    id: &str,
    owner: &Owner,
    kind: &str,
    lines: &[Done],
) -> Result<Option<String>, String> {
    if lines.is_empty() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    for d in lines {
        serde_json::to_writer(&mut bytes, &d.line).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
    }
    let record = FileRecord {
        owner: owner.clone(),
        file: FileObject {
            id: new_id("file-"),
            object: "file".into(),
            bytes: bytes.len() as u64,
            created_at: now(),
            filename: format!("{id}_{kind}.jsonl"),
            purpose: "batch_output".into(),
            status: "processed".into(),
        },
    };
    let file = svc
        .put_file(record, &bytes)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(file.id))
}

/// OpenAI's batch output line.
fn output_line(request_id: &str, custom_id: &str, response: Value, error: Value) -> Value {
    json!({"id": request_id, "custom_id": custom_id, "response": response, "error": error})
}

/// What every line of one job shares.
#[derive(Clone)]
struct Line {
    svc: Arc<Batches>,
    state: Arc<AppState>,
    batch: Arc<str>,
    endpoint: Endpoint,
    owner: Owner,
    journal: Arc<tokio::sync::Mutex<Journal>>,
}

impl Line {
    /// Runs one request through the pipeline, journals it (synced) and counts it.
    async fn run(&self, l: InputLine) {
        let request_id = new_id("batch_req_");
        let (ok, line) = match tenant_of(&self.state, &self.owner) {
            Ok(tenant) => self.call(tenant, &request_id, &l).await,
            Err(message) => {
                let error = json!({"code": "invalid_api_key", "message": message});
                (
                    false,
                    output_line(&request_id, &l.custom_id, Value::Null, error),
                )
            }
        };
        let done = Done {
            index: l.index,
            ok,
            line,
        };
        if let Err(e) = self.journal.lock().await.append(&done).await {
            tracing::error!(batch = %self.batch, error = %e, "a finished batch line could not be journaled; it will run again after a restart");
        }
        let _ = self.svc.update(&self.batch, |j| j.count(ok));
    }

    async fn call(&self, tenant: Tenant, request_id: &str, l: &InputLine) -> (bool, Value) {
        let body = serde_json::to_vec(&l.body).unwrap_or_default();
        let resp = crate::pipeline::handle_batch_line(
            &self.state,
            request_id.to_owned(),
            self.endpoint,
            tenant,
            Arc::clone(&self.batch),
            body.into(),
        )
        .await;
        let status = resp.status();
        let body = match axum::body::to_bytes(resp.into_body(), usize::MAX).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) => {
                json!({"error": {"message": format!("the answer could not be read: {e}"), "type": "server_error", "param": null, "code": null}})
            }
        };
        let response =
            json!({"status_code": status.as_u16(), "request_id": request_id, "body": body});
        (
            status.is_success(),
            output_line(request_id, &l.custom_id, response, Value::Null),
        )
    }
}

/// The tenant a job's lines run as: its virtual key as configured now (so a revoked key stops
/// the job's remaining lines), or the anonymous tenant of open mode.
fn tenant_of(state: &AppState, owner: &Owner) -> Result<Tenant, String> {
    let live = state.live();
    let access = &live.config.access;
    match &owner.key_id {
        None if access.mode == AuthMode::Open => Ok(Tenant::default()),
        None => Err(
            "The batch was created without a virtual key, and the router now requires one.".into(),
        ),
        Some(id) => access
            .keys
            .iter()
            .find(|k| &*k.id == id.as_str())
            .map(|k| Tenant {
                key_id: Some(k.id.clone()),
                user: Some(k.user.clone()),
                team: k.team.clone(),
                limits: k.limits,
            })
            .ok_or_else(|| "The virtual key that created this batch no longer exists.".into()),
    }
}
