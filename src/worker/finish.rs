//! Finish: the last write of a job's life (result stored, keys removed, or put back for a
//! retry), batched across jobs into one MULTI and retried until Redis takes it, so a job that
//! ran is never left without its result because Redis blinked.

use crate::conn::{Backoff, Redis};
use crate::protocol::keys;
use redis::aio::MultiplexedConnection;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A result to store, and for how long (`None`: forever).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResult {
    pub bytes: Vec<u8>,
    pub ttl_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FinishKind {
    /// The function ran to an end (value, exception, timeout or abort).
    Done { result: Option<StoredResult> },
    /// Not finished: back to the queue (arq's Retry / cancellation), the score moved on by
    /// `incr_score` ms when set.
    Retry { incr_score: Option<i64> },
    /// Failed before the function ran (expired, undecodable, unknown function, too many tries).
    FailedEarly { result: Option<StoredResult> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct FinishOp {
    pub job_id: String,
    /// Cron jobs keep their in-progress key 60 s so the same tick is not run again.
    pub cron: bool,
    pub kind: FinishKind,
}

/// Adds one job's finishing commands to an atomic pipeline, as arq's `finish_job` and
/// `finish_failed_job` write them.
pub fn add_to_pipeline(pipe: &mut redis::Pipeline, queue: &str, op: &FinishOp) {
    let id = op.job_id.as_str();
    let in_progress = keys::in_progress(id);
    let set_result = |pipe: &mut redis::Pipeline, r: &StoredResult| {
        let mut cmd = redis::cmd("SET");
        cmd.arg(keys::result(id)).arg(&r.bytes);
        if let Some(ms) = r.ttl_ms {
            cmd.arg("PX").arg(ms.max(1));
        }
        pipe.add_command(cmd).ignore();
    };
    match &op.kind {
        FinishKind::FailedEarly { result } => {
            pipe.del(&[keys::retry(id), in_progress, keys::job(id)])
                .ignore();
            pipe.zrem(keys::ABORT_SET, id).ignore();
            pipe.zrem(queue, id).ignore();
            if let Some(r) = result {
                set_result(pipe, r);
            }
        }
        FinishKind::Done { result } => {
            let mut delete = vec![keys::retry(id), keys::job(id)];
            if op.cron {
                pipe.pexpire(&in_progress, keys::CRON_KEEP_IN_PROGRESS_MS)
                    .ignore();
            } else {
                delete.push(in_progress);
            }
            if let Some(r) = result {
                set_result(pipe, r);
            }
            pipe.zrem(keys::ABORT_SET, id).ignore();
            pipe.zrem(queue, id).ignore();
            pipe.del(delete).ignore();
        }
        FinishKind::Retry { incr_score } => {
            if op.cron {
                pipe.pexpire(&in_progress, keys::CRON_KEEP_IN_PROGRESS_MS)
                    .ignore();
            } else {
                pipe.del(&in_progress).ignore();
            }
            if let Some(incr) = incr_score.filter(|&i| i != 0) {
                pipe.zincr(queue, id, incr).ignore();
            }
        }
    }
}

/// Writes a batch of finishes in one MULTI/EXEC.
pub async fn write_batch(
    conn: &mut MultiplexedConnection,
    queue: &str,
    ops: &[FinishOp],
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for op in ops {
        add_to_pipeline(&mut pipe, queue, op);
    }
    pipe.query_async::<()>(conn).await
}

struct Request {
    op: FinishOp,
    done: oneshot::Sender<()>,
}

/// Hands finishes to the background writer; `finish` returns once Redis has them.
#[derive(Clone)]
pub struct Finisher {
    tx: mpsc::Sender<Request>,
}

/// Most finishes written in one MULTI.
const MAX_BATCH: usize = 256;

impl Finisher {
    /// Starts the writer task; it ends when every `Finisher` clone is dropped and the queue is
    /// drained.
    pub fn spawn(redis: Redis, queue: String) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(4096);
        let handle = tokio::spawn(run(redis, queue, rx));
        (Finisher { tx }, handle)
    }

    pub async fn finish(&self, op: FinishOp) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Request { op, done }).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(redis: Redis, queue: String, mut rx: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ops: Vec<FinishOp> = batch.iter().map(|r| r.op.clone()).collect();
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        loop {
            let result = match redis.conn().await {
                Ok(mut c) => write_batch(&mut c, &queue, &ops).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => break,
                Err(e) => {
                    redis.report(&e);
                    let delay = backoff.next_delay();
                    tracing::warn!(jobs = ops.len(), error = %e, ?delay, "finishing jobs failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
        for r in batch.drain(..) {
            let _ = r.done.send(());
        }
    }
}
