//! Finish: the last write of a job's life (result stored, keys removed, or put back for a
//! retry), batched across jobs into one script call. Each job's writes happen only while its
//! in-progress key still holds our token, and remove the token in the same step, so a finish
//! is safe to send again after a lost reply and a stale run (whose lease went to another
//! worker) writes nothing. Transient errors are retried with backoff until the shutdown
//! flush deadline; a permanent error fails the one job it touches.

use crate::conn::{script, Backoff, Redis, REFRESH_AFTER_BYTES};
use crate::metrics::Metrics;
use crate::protocol::keys;
use redis::aio::MultiplexedConnection;
use redis::Value as RV;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

static FINISH: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("finish.lua")));

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
    /// The id as Redis holds it.
    pub raw_id: Vec<u8>,
    /// The id for logs.
    pub job_id: String,
    /// Our in-progress key's value for this run.
    pub token: String,
    /// Cron jobs keep their in-progress key 60 s so the same tick is not run again.
    pub cron: bool,
    pub kind: FinishKind,
}

impl FinishOp {
    /// The size of the result this finish stores (0 for none).
    fn result_len(&self) -> usize {
        match &self.kind {
            FinishKind::Done { result } | FinishKind::FailedEarly { result } => {
                result.as_ref().map_or(0, |r| r.bytes.len())
            }
            FinishKind::Retry { .. } => 0,
        }
    }
}

/// What the script did with one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// Every write applied.
    Applied,
    /// The key did not hold our token: nothing written (the lease was lost).
    NotOurs,
    /// A retried finish found the token gone: the attempt whose reply was lost wrote it, or
    /// the lease was lost meanwhile (then the renewer saw and counted it).
    GoneAfterRetry,
    /// Applied except the commands that failed on a key of the wrong type.
    WithErrors(String),
}

fn add_args(inv: &mut redis::Cmd, op: &FinishOp) {
    let (kind, result, incr) = match &op.kind {
        FinishKind::Done { result } => ("done", result.as_ref(), None),
        FinishKind::FailedEarly { result } => ("failed", result.as_ref(), None),
        FinishKind::Retry { incr_score } => ("retry", None, *incr_score),
    };
    inv.arg(op.raw_id.as_slice())
        .arg(&op.token)
        .arg(kind)
        .arg(if op.cron { "1" } else { "0" });
    match result {
        None => inv.arg("").arg(0).arg(""),
        Some(r) => match r.ttl_ms {
            Some(ms) => inv.arg("px").arg(ms.max(1)).arg(r.bytes.as_slice()),
            None => inv.arg("keep").arg(0).arg(r.bytes.as_slice()),
        },
    };
    match incr {
        Some(i) => inv.arg(i),
        None => inv.arg(""),
    };
}

/// Writes a batch of finishes in one script call; one status per op.
pub async fn write_batch(
    conn: &mut MultiplexedConnection,
    queue: &str,
    lease_set: &str,
    ops: &[&FinishOp],
) -> redis::RedisResult<Vec<Written>> {
    let mut cmd = script::evalsha(&FINISH, 3);
    cmd.arg(queue)
        .arg(keys::ABORT_SET)
        .arg(lease_set)
        .arg(keys::CRON_KEEP_IN_PROGRESS_MS);
    for op in ops {
        add_args(&mut cmd, op);
    }
    let reply: Vec<RV> = script::run(conn, &FINISH, &cmd).await?;
    Ok((0..ops.len())
        .map(|i| match reply.get(i) {
            Some(RV::Int(1)) => Written::Applied,
            Some(RV::Int(_)) | None => Written::NotOurs,
            Some(RV::BulkString(b)) => Written::WithErrors(String::from_utf8_lossy(b).into()),
            Some(RV::SimpleString(s)) => Written::WithErrors(s.clone()),
            Some(other) => Written::WithErrors(format!("{other:?}")),
        })
        .collect())
}

/// Errors that go away by themselves (a connection, a failover, memory, a busy script):
/// worth retrying. Anything else (a script error, a wrong type, a missing command) will fail
/// the same way again.
pub(crate) fn is_transient(e: &redis::RedisError) -> bool {
    if crate::conn::is_connection_error(e) || e.is_timeout() || e.is_io_error() {
        return true;
    }
    let s = e.to_string();
    const TRANSIENT: [&str; 9] = [
        "OOM",
        "LOADING",
        "BUSY",
        "TRYAGAIN",
        "MASTERDOWN",
        "READONLY",
        "NOREPLICAS",
        "CLUSTERDOWN",
        "not ready",
    ];
    e.code().is_some_and(|c| TRANSIENT.contains(&c)) || TRANSIENT.iter().any(|t| s.contains(t))
}

struct Request {
    op: FinishOp,
    done: oneshot::Sender<Written>,
}

/// Hands finishes to the background writer; `finish` returns once Redis has them (or the
/// flush deadline gave up on them).
#[derive(Clone)]
pub struct Finisher {
    tx: mpsc::Sender<Request>,
}

/// Most finishes written in one script call.
const MAX_BATCH: usize = 256;

pub(crate) struct FinisherParts {
    pub redis: Redis,
    pub queue: String,
    pub lease_set: String,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the shutdown flush deadline is over: what is not written by then is
    /// abandoned (its lease lapses and the job runs again elsewhere).
    pub give_up: CancellationToken,
}

impl Finisher {
    /// Starts the writer task; it ends when every `Finisher` clone is dropped and the queue is
    /// drained, or when `give_up` is cancelled.
    pub(crate) fn spawn(parts: FinisherParts) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(4096);
        let handle = tokio::spawn(run(parts, rx));
        (Finisher { tx }, handle)
    }

    /// Writes `op`; `None` when it was abandoned at the flush deadline.
    pub async fn finish(&self, op: FinishOp) -> Option<Written> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Request { op, done }).await.ok()?;
        wait.await.ok()
    }
}

enum BatchError {
    Permanent(redis::RedisError),
    GaveUp,
}

/// Writes `ops` until Redis takes them (transient errors retried with backoff).
async fn write_until_taken(
    p: &FinisherParts,
    ops: &[&FinishOp],
) -> Result<Vec<Written>, BatchError> {
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
    let mut attempt = 0;
    loop {
        let result = match p.redis.conn().await {
            Ok(mut c) => write_batch(&mut c, &p.queue, &p.lease_set, ops).await,
            Err(e) => Err(e),
        };
        match result {
            // A retry whose earlier attempt may have been applied (reply lost) reads NotOurs
            // for the jobs it already finished: that is not a lost lease.
            Ok(w) => {
                if ops.iter().any(|op| op.result_len() >= REFRESH_AFTER_BYTES) {
                    p.redis.refresh_connection("big result written");
                }
                let retried = attempt > 0;
                return Ok(w
                    .into_iter()
                    .map(|w| match w {
                        Written::NotOurs if retried => Written::GoneAfterRetry,
                        w => w,
                    })
                    .collect());
            }
            Err(e) if !is_transient(&e) => return Err(BatchError::Permanent(e)),
            Err(e) => {
                p.redis.report(&e);
                let delay = backoff.next_delay();
                warn!(jobs = ops.len(), error = %e, ?delay, "finishing jobs failed; retrying");
                tokio::select! {
                    _ = p.give_up.cancelled() => return Err(BatchError::GaveUp),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
        attempt += 1;
    }
}

fn report(p: &FinisherParts, op: &FinishOp, w: &Written) {
    match w {
        Written::Applied => {}
        Written::GoneAfterRetry => {
            debug!(job_id = %op.job_id, "finish already applied (reply lost) or lease lost")
        }
        Written::NotOurs => {
            warn!(job_id = %op.job_id, "lease lost before the finish was written: this run's result is discarded, the job belongs to whoever holds it now");
        }
        Written::WithErrors(e) => {
            p.metrics.finish_error();
            error!(job_id = %op.job_id, error = %e, "finish partly failed: a key of this job holds the wrong type");
        }
    }
}

/// Most yields of one [`gather`].
const GATHER_ROUNDS: usize = 16;

/// Adds to `batch` the finishes that keep arriving while this task yields. The jobs of a
/// claim return one by one, on either runtime thread: a batch sent with the first of them
/// would make the rest wait behind its round trip (one batch is in flight at a time). Stops
/// at the first yield that brings nothing, so a lone finish waits one yield.
async fn gather(rx: &mut mpsc::Receiver<Request>, batch: &mut Vec<Request>) {
    for _ in 0..GATHER_ROUNDS {
        if batch.len() >= MAX_BATCH {
            return;
        }
        tokio::task::yield_now().await;
        if rx.is_empty() {
            return;
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
    }
}

async fn run(p: FinisherParts, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    loop {
        let got = tokio::select! {
            n = rx.recv_many(&mut batch, MAX_BATCH) => n,
            _ = p.give_up.cancelled() => 0,
        };
        if got == 0 {
            break;
        }
        gather(&mut rx, &mut batch).await;
        let ops: Vec<&FinishOp> = batch.iter().map(|r| &r.op).collect();
        debug!(jobs = ops.len(), "finish batch");
        let statuses: Vec<Option<Written>> = match write_until_taken(&p, &ops).await {
            Ok(ws) => ws
                .into_iter()
                .zip(&ops)
                .map(|(w, op)| {
                    report(&p, op, &w);
                    Some(w)
                })
                .collect(),
            Err(BatchError::GaveUp) => vec![None; ops.len()],
            Err(BatchError::Permanent(e)) => {
                // Isolate: write each job alone, so one that cannot be written does not hold
                // back the others.
                warn!(jobs = ops.len(), error = %e, "finishing a batch failed permanently; writing its jobs one by one");
                let mut out = Vec::with_capacity(ops.len());
                for op in &ops {
                    out.push(match write_until_taken(&p, &[op]).await {
                        Ok(mut w) => {
                            let w = w.remove(0);
                            report(&p, op, &w);
                            Some(w)
                        }
                        Err(BatchError::GaveUp) => None,
                        Err(BatchError::Permanent(e)) => {
                            p.metrics.finish_error();
                            error!(job_id = %op.job_id, error = %e, "finish cannot be written; the job runs again when its lease lapses");
                            Some(Written::WithErrors(e.to_string()))
                        }
                    });
                }
                out
            }
        };
        drop(ops);
        for (r, s) in batch.drain(..).zip(statuses) {
            if let Some(s) = s {
                let _ = r.done.send(s);
            }
        }
    }
    let left = batch.len() + rx.len();
    if left > 0 {
        warn!(
            jobs = left,
            "shutdown flush deadline over: finishes not written; those jobs run again elsewhere once their leases lapse"
        );
    }
}
