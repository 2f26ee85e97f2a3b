//! A batch job as OpenAI's Batch object, and its life as a pure state machine: every
//! transition takes the time (Unix seconds) as an argument; nothing here reads a clock or a disk.
//!
//! ```text
//!   validating ──begin──▶ in_progress ──lines done──▶ finalizing ──close──▶ completed
//!       │                     │   │                                   
//!       └──reject──▶ failed   │   └──past expires_at──(close)──▶ expired
//!                             │
//!   validating / in_progress ─cancel─▶ cancelling ──(close)──▶ cancelled
//! ```
//! `close` writes the terminal state the job was heading to: completed from finalizing,
//! cancelled from cancelling, expired from in_progress past its window. A terminal job never
//! changes again; cancelling one is refused, cancelling a cancelling one changes nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The completion window every batch has (the only one OpenAI offers).
pub(crate) const WINDOW_SECS: u64 = 24 * 60 * 60;

/// Where a job is in its life (OpenAI's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Validating,
    Failed,
    InProgress,
    Finalizing,
    Completed,
    Expired,
    Cancelling,
    Cancelled,
}

impl Status {
    /// Whether the job is over: nothing runs for it any more.
    pub(crate) fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Failed | Self::Completed | Self::Expired | Self::Cancelled
        )
    }

    /// OpenAI's word for it, for messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Validating => "validating",
            Self::Failed => "failed",
            Self::InProgress => "in_progress",
            Self::Finalizing => "finalizing",
            Self::Completed => "completed",
            Self::Expired => "expired",
            Self::Cancelling => "cancelling",
            Self::Cancelled => "cancelled",
        }
    }
}

/// OpenAI's `request_counts`: lines in the file, and how many ended well or badly so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counts {
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
}

/// One problem found while validating the input file (OpenAI's `BatchError`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BatchError {
    pub code: String,
    pub message: String,
    pub param: Option<String>,
    pub line: Option<u64>,
}

/// OpenAI's `errors` list object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Errors {
    pub object: String,
    pub data: Vec<BatchError>,
}

/// The Batch object exactly as `GET /v1/batches/{id}` returns it. Absent timestamps and
/// files are left out rather than sent as null (the published schema types them as plain
/// strings and integers; the SDKs read a missing field as `None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Job {
    pub id: String,
    pub object: String,
    pub endpoint: String,
    pub input_file_id: String,
    pub completion_window: String,
    pub status: Status,
    pub created_at: u64,
    pub expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Errors>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_file_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizing_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelling_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<u64>,
    pub request_counts: Counts,
    pub metadata: Option<Map<String, Value>>,
}

/// A transition the job's status does not allow; the message says why, for a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Illegal(pub String);

impl Job {
    /// A job just created at `now`, validating its input file.
    pub(crate) fn new(
        id: String,
        endpoint: String,
        input_file_id: String,
        metadata: Option<Map<String, Value>>,
        now: u64,
    ) -> Self {
        Self {
            id,
            object: "batch".into(),
            endpoint,
            input_file_id,
            completion_window: "24h".into(),
            status: Status::Validating,
            created_at: now,
            expires_at: now + WINDOW_SECS,
            errors: None,
            output_file_id: None,
            error_file_id: None,
            in_progress_at: None,
            finalizing_at: None,
            completed_at: None,
            failed_at: None,
            expired_at: None,
            cancelling_at: None,
            cancelled_at: None,
            request_counts: Counts::default(),
            metadata,
        }
    }

    /// The input file is valid and holds `total` lines: the lines start running. A job
    /// cancelled while it validated stays cancelling (with its total known).
    pub(crate) fn begin(&mut self, total: u64, now: u64) -> Result<(), Illegal> {
        match self.status {
            Status::Validating => {
                self.request_counts.total = total;
                self.status = Status::InProgress;
                self.in_progress_at = Some(now);
                Ok(())
            }
            Status::Cancelling => {
                self.request_counts.total = total;
                Ok(())
            }
            s => Err(self.illegal("begin", s)),
        }
    }

    /// The input file is not fit to run: the job fails with `errors` and runs nothing.
    pub(crate) fn reject(&mut self, errors: Vec<BatchError>, now: u64) -> Result<(), Illegal> {
        match self.status {
            Status::Validating | Status::Cancelling => {
                self.errors = Some(Errors {
                    object: "list".into(),
                    data: errors,
                });
                self.status = Status::Failed;
                self.failed_at = Some(now);
                Ok(())
            }
            s => Err(self.illegal("fail", s)),
        }
    }

    /// The client asks to cancel: lines not yet started will not run.
    pub(crate) fn cancel(&mut self, now: u64) -> Result<(), Illegal> {
        match self.status {
            Status::Validating | Status::InProgress => {
                self.status = Status::Cancelling;
                self.cancelling_at = Some(now);
                Ok(())
            }
            Status::Cancelling => Ok(()),
            s => Err(Illegal(format!(
                "Cannot cancel a batch with status '{}'.",
                s.as_str()
            ))),
        }
    }

    /// Whether lines may still be started at `now`: in progress and inside the window.
    pub(crate) fn runs_at(&self, now: u64) -> bool {
        self.status == Status::InProgress && now < self.expires_at
    }

    /// Counts one finished line.
    pub(crate) fn count(&mut self, ok: bool) {
        if ok {
            self.request_counts.completed += 1;
        } else {
            self.request_counts.failed += 1;
        }
    }

    /// No line is running any more: an in-progress job whose lines all ran starts finalizing
    /// (one past its window, or cancelling, writes its files as it is).
    pub(crate) fn settle(&mut self, all_ran: bool, now: u64) {
        if self.status == Status::InProgress && all_ran {
            self.status = Status::Finalizing;
            self.finalizing_at = Some(now);
        }
    }

    /// The output and error files are written: the job reaches the end it was heading to.
    pub(crate) fn close(
        &mut self,
        output_file_id: Option<String>,
        error_file_id: Option<String>,
        now: u64,
    ) -> Result<(), Illegal> {
        let next = match self.status {
            Status::Finalizing => Status::Completed,
            Status::Cancelling => Status::Cancelled,
            Status::InProgress if now >= self.expires_at => Status::Expired,
            s => return Err(self.illegal("close", s)),
        };
        self.output_file_id = output_file_id;
        self.error_file_id = error_file_id;
        self.status = next;
        let at = Some(now);
        match next {
            Status::Completed => self.completed_at = at,
            Status::Cancelled => self.cancelled_at = at,
            _ => self.expired_at = at,
        }
        Ok(())
    }

    fn illegal(&self, what: &str, s: Status) -> Illegal {
        Illegal(format!(
            "batch {} cannot {what} in status '{}'",
            self.id,
            s.as_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job::new(
            "batch_1".into(),
            "/v1/chat/completions".into(),
            "file-1".into(),
            None,
            1000,
        )
    }

    #[test]
    fn runs_to_completion() {
        let mut j = job();
        assert_eq!(j.expires_at, 1000 + WINDOW_SECS);
        j.begin(2, 1001).unwrap();
        assert_eq!(
            (j.status, j.in_progress_at, j.request_counts.total),
            (Status::InProgress, Some(1001), 2)
        );
        assert!(j.runs_at(1002));
        j.count(true);
        j.count(false);
        j.settle(false, 1003);
        assert_eq!(j.status, Status::InProgress, "lines left: not finalizing");
        j.settle(true, 1003);
        assert_eq!(j.status, Status::Finalizing);
        j.close(Some("file-o".into()), Some("file-e".into()), 1004)
            .unwrap();
        assert_eq!(j.status, Status::Completed);
        assert_eq!(j.completed_at, Some(1004));
        assert_eq!(
            j.request_counts,
            Counts {
                total: 2,
                completed: 1,
                failed: 1
            }
        );
        assert!(j.status.is_terminal());
        assert!(
            j.cancel(1005).is_err(),
            "a completed batch cannot be cancelled"
        );
        assert!(j.close(None, None, 1006).is_err());
    }

    #[test]
    fn rejected_input_fails() {
        let mut j = job();
        let e = BatchError {
            code: "invalid_url".into(),
            message: "m".into(),
            param: Some("url".into()),
            line: Some(2),
        };
        j.reject(vec![e.clone()], 1001).unwrap();
        assert_eq!((j.status, j.failed_at), (Status::Failed, Some(1001)));
        assert_eq!(j.errors.as_ref().unwrap().data, vec![e]);
        assert!(j.begin(1, 1002).is_err());
    }

    #[test]
    fn cancel_stops_and_closes_cancelled() {
        let mut j = job();
        j.begin(3, 1001).unwrap();
        j.cancel(1002).unwrap();
        assert_eq!(
            (j.status, j.cancelling_at),
            (Status::Cancelling, Some(1002))
        );
        assert!(!j.runs_at(1002));
        j.cancel(1003).unwrap();
        assert_eq!(
            j.cancelling_at,
            Some(1002),
            "a second cancel changes nothing"
        );
        j.settle(true, 1004);
        assert_eq!(j.status, Status::Cancelling);
        j.close(Some("file-o".into()), None, 1005).unwrap();
        assert_eq!((j.status, j.cancelled_at), (Status::Cancelled, Some(1005)));
    }

    #[test]
    fn cancel_while_validating_keeps_the_total() {
        let mut j = job();
        j.cancel(1001).unwrap();
        j.begin(4, 1002).unwrap();
        assert_eq!((j.status, j.request_counts.total), (Status::Cancelling, 4));
    }

    #[test]
    fn past_the_window_expires() {
        let mut j = job();
        j.begin(3, 1001).unwrap();
        let late = j.expires_at;
        assert!(!j.runs_at(late));
        j.settle(false, late);
        assert!(
            j.close(None, None, late - 1).is_err(),
            "inside the window an unfinished job cannot close"
        );
        j.close(None, Some("file-e".into()), late).unwrap();
        assert_eq!((j.status, j.expired_at), (Status::Expired, Some(late)));
    }

    #[test]
    fn serialises_without_absent_fields() {
        let v = serde_json::to_value(job()).unwrap();
        assert_eq!(v["status"], "validating");
        assert_eq!(v["object"], "batch");
        assert!(v.get("output_file_id").is_none());
        assert!(v.get("in_progress_at").is_none());
        assert_eq!(v["request_counts"]["total"], 0);
        let back: Job = serde_json::from_value(v).unwrap();
        assert_eq!(back, job());
    }
}
