//! Batch jobs: OpenAI's Batch and Files APIs, run by the router itself in the background.
//!
//! **Shape.** `POST /v1/files` takes a JSONL file of requests (`purpose: batch`; every line is
//! checked by [`input::parse`], a bad file is a 400 naming the line); `POST /v1/batches` makes a
//! job of it; `GET /v1/batches/{id}` shows its [`job::Job`] (OpenAI's Batch object, with
//! `request_counts` as lines finish); `POST /v1/batches/{id}/cancel` stops it; when it ends,
//! `GET /v1/files/{output_file_id}/content` has one output line per successful request, in
//! input order, and the error file one line per failed request (OpenAI's line shape:
//! `{id, custom_id, response: {status_code, request_id, body}, error}`).
//!
//! **Running.** A job's lines go through the same pipeline as interactive requests
//! (`pipeline::handle_batch_line`): routing, classification, limits, budgets, keys,
//! pacing, failover, and one ledger line each, tagged with `batch_id`. They run as the
//! virtual key that created the job (looked up by id when each line starts, so a revoked key
//! fails the remaining lines), at most `batches.concurrency` at once across every job, and
//! they never take a provider key's pacing slot that an interactive request waits for
//! (`dispatch/wait.rs`).
//!
//! **Scope.** Files and jobs belong to the tenant that created them (the virtual key's user,
//! or everyone in open mode); other tenants get the same 404 as for an id that never existed.
//!
//! **Durability.** Files, job state and a journal of finished lines are on disk
//! ([`store`]). Every finished line is synced to the journal before it counts, so after a
//! restart a job resumes with only the lines not yet done. A shutdown stops starting lines
//! and lets the running ones finish (within the shutdown deadline). The job's life is the
//! pure state machine in [`job`]; [`runner`] is the small driver that moves it, over the
//! files and jobs [`service`] keeps (which knows nothing of the pipeline or the app state).

pub(crate) mod input;
pub(crate) mod job;
pub(crate) mod multipart;
pub(crate) mod runner;
mod service;
pub(crate) mod store;

pub(crate) use service::{Batches, CreateBatch};
