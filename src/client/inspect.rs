//! Reading a job's state back: status, result (waiting for it), abort, queue summary.

use super::{Client, ClientError};
use crate::codec::{Codec, Globals};
use crate::protocol::job::JobResult;
use crate::protocol::{keys, now_ms};
use lyanna_task_api::Value;
use std::time::Duration;

/// arq's `JobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Deferred,
    Queued,
    InProgress,
    Complete,
    NotFound,
}

impl JobStatus {
    /// arq's `Job.status()` from what Redis holds: a result, an in-progress key, the job's
    /// score in the queue (`None`: not queued).
    pub fn from_keys(complete: bool, in_progress: bool, score: Option<f64>) -> Self {
        if complete {
            JobStatus::Complete
        } else if in_progress {
            JobStatus::InProgress
        } else {
            match score {
                Some(s) if s as i64 > now_ms() => JobStatus::Deferred,
                Some(_) => JobStatus::Queued,
                None => JobStatus::NotFound,
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Deferred => "deferred",
            JobStatus::Queued => "queued",
            JobStatus::InProgress => "in_progress",
            JobStatus::Complete => "complete",
            JobStatus::NotFound => "not_found",
        }
    }
}

/// Counts for `lyanna-worker queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueSummary {
    /// Due now, not running.
    pub queued: u64,
    /// Score in the future.
    pub deferred: u64,
    /// Due and claimed by some worker.
    pub in_progress: u64,
    /// Stored results on this Redis database (arq's result keys are not per queue).
    pub results: u64,
}

/// Whether a result is arq's abort marker (CancelledError, or its message under msgpack/JSON).
pub fn is_cancelled(r: &JobResult) -> bool {
    !r.success
        && match r.result.resolve() {
            Value::Object(o) => o.name == "CancelledError",
            Value::Str(s) => s.starts_with("CancelledError"),
            _ => false,
        }
}

const POLL: Duration = Duration::from_millis(50);

impl Client {
    pub async fn status(&self, id: &str) -> Result<JobStatus, ClientError> {
        let mut conn = self.conn().await?;
        let (complete, in_progress, score): (bool, bool, Option<f64>) = self.report(
            redis::pipe()
                .atomic()
                .exists(keys::result(id))
                .exists(keys::in_progress(id))
                .zscore(&self.queue, id)
                .query_async(&mut conn)
                .await,
        )?;
        Ok(JobStatus::from_keys(complete, in_progress, score))
    }

    /// The stored result, if any (decoded leniently: unknown classes come back opaque).
    pub async fn result_now(&self, id: &str) -> Result<(Option<JobResult>, bool), ClientError> {
        let mut conn = self.conn().await?;
        let (raw, score): (Option<Vec<u8>>, Option<f64>) = self.report(
            redis::pipe()
                .atomic()
                .get(keys::result(id))
                .zscore(&self.queue, id)
                .query_async(&mut conn)
                .await,
        )?;
        let result = match raw {
            Some(bytes) => Some(decode_result(self.codec(), &bytes)?),
            None => None,
        };
        Ok((result, score.is_some()))
    }

    /// Waits up to `wait` for the job's result. `Ok(None)` when there is none yet (or the job
    /// is unknown and not queued).
    pub async fn result(&self, id: &str, wait: Duration) -> Result<Option<JobResult>, ClientError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (result, queued) = self.result_now(id).await?;
            if result.is_some() {
                return Ok(result);
            }
            if !queued || tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(POLL.min(deadline - tokio::time::Instant::now())).await;
        }
    }

    /// arq's `Job.abort`: a deferred job is moved to the front so a worker picks it (and
    /// aborts it before it starts); then an abort request; then wait for the CancelledError.
    /// `Ok(true)` when the job ended aborted within `wait`.
    pub async fn abort(&self, id: &str, wait: Duration) -> Result<bool, ClientError> {
        let mut conn = self.conn().await?;
        let score: Option<f64> = self.report(
            redis::cmd("ZSCORE")
                .arg(&self.queue)
                .arg(id)
                .query_async(&mut conn)
                .await,
        )?;
        if score.is_some_and(|s| s as i64 > now_ms()) {
            self.report(
                redis::pipe()
                    .atomic()
                    .zrem(&self.queue, id)
                    .zadd(&self.queue, id, 1)
                    .query_async::<()>(&mut conn)
                    .await,
            )?;
        }
        self.report(
            redis::cmd("ZADD")
                .arg(keys::ABORT_SET)
                .arg(now_ms())
                .arg(id)
                .query_async::<()>(&mut conn)
                .await,
        )?;
        Ok(self
            .result(id, wait)
            .await?
            .is_some_and(|r| is_cancelled(&r)))
    }

    pub async fn summary(&self) -> Result<QueueSummary, ClientError> {
        let mut conn = self.conn().await?;
        let now = now_ms();
        let (due, deferred): (u64, u64) = self.report(
            redis::pipe()
                .zcount(&self.queue, "-inf", now)
                .zcount(&self.queue, format!("({now}"), "+inf")
                .query_async(&mut conn)
                .await,
        )?;
        // In-progress keys of due jobs; bounded so a huge queue does not stall the CLI.
        let ids: Vec<String> = self.report(
            redis::cmd("ZRANGEBYSCORE")
                .arg(&self.queue)
                .arg("-inf")
                .arg(now)
                .arg("LIMIT")
                .arg(0)
                .arg(100_000)
                .query_async(&mut conn)
                .await,
        )?;
        let mut in_progress = 0;
        for chunk in ids.chunks(1000) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.exists(keys::in_progress(id));
            }
            let flags: Vec<bool> = self.report(pipe.query_async(&mut conn).await)?;
            in_progress += flags.into_iter().filter(|&b| b).count() as u64;
        }
        let mut results = 0u64;
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = self.report(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{}*", keys::RESULT_PREFIX))
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await,
            )?;
            results += batch.len() as u64;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        Ok(QueueSummary {
            queued: due - in_progress.min(due),
            deferred,
            in_progress,
            results,
        })
    }
}

/// Decodes a stored result for display.
pub fn decode_result(codec: Codec, bytes: &[u8]) -> Result<JobResult, ClientError> {
    let v = codec.decode(bytes, Globals::Opaque)?;
    JobResult::from_value(v).map_err(|e| ClientError::Invalid(e.to_string()))
}
