//! Execute: from a claimed job to its finish op: decode, the checks arq makes before running
//! (expired, undecodable, aborted, unknown function, too many tries), the call itself under
//! its timeout, and what its outcome means for the queue.

use super::claim::Claimed;
use super::finish::{FinishKind, FinishOp, StoredResult};
use super::Shared;
use crate::codec::Globals;
use crate::protocol::job::{Job, JobResult};
use crate::protocol::{keys, now_ms};
use futures::FutureExt;
use lyanna_task_api::{Args, JobContext, PyObject, TaskError, Value};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How a run ended, for the worker's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    Failed,
    Retried,
}

fn exc(module: &str, name: &str, args: Vec<Value>) -> PyObject {
    PyObject::new(module, name, args)
}
fn job_execution_failed(msg: String) -> PyObject {
    exc("arq.worker", "JobExecutionFailed", vec![Value::Str(msg)])
}
fn cancelled() -> PyObject {
    exc("asyncio.exceptions", "CancelledError", vec![])
}

pub use lyanna_task_api::value::py_repr;

/// What we know of the job when it ends, for its result.
struct Known {
    function: String,
    args: Args,
    enqueue_time_ms: i64,
    job_try: i64,
    start_ms: i64,
}

impl Shared {
    fn stored(
        &self,
        k: &Known,
        id: &str,
        success: bool,
        result: Value,
        keep: Keep,
    ) -> Option<StoredResult> {
        let ttl_ms = match keep {
            Keep::Forever => None,
            Keep::For(ms) if ms > 0 => Some(ms),
            Keep::For(_) => return None,
        };
        let mut r = JobResult {
            job_try: k.job_try,
            function: k.function.clone(),
            args: k.args.clone(),
            enqueue_time_ms: k.enqueue_time_ms,
            success,
            result,
            start_ms: k.start_ms,
            finish_ms: now_ms(),
            queue_name: self.settings.queue_name.clone(),
            job_id: id.to_string(),
        };
        let codec = self.settings.codec;
        match codec.encode(&r.to_value()) {
            Ok(bytes) => Some(StoredResult { bytes, ttl_ms }),
            Err(e) => {
                // arq's fallback: a failed result saying the value could not be serialized.
                warn!(error = %e, "result cannot be serialized");
                r.success = false;
                r.result = codec.exception_value(&exc(
                    "arq.jobs",
                    "SerializationError",
                    vec![Value::Str(format!("unable to serialize result: {e}"))],
                ));
                match codec.encode(&r.to_value()) {
                    Ok(bytes) => Some(StoredResult { bytes, ttl_ms }),
                    Err(e) => {
                        warn!(error = %e, "failure result cannot be serialized either; none stored");
                        None
                    }
                }
            }
        }
    }

    fn global_keep(&self) -> Keep {
        if self.settings.keep_result_forever {
            Keep::Forever
        } else {
            Keep::For(self.settings.keep_result.as_millis() as i64)
        }
    }

    fn failed_early(&self, id: &str, k: &Known, e: PyObject) -> FinishOp {
        self.metrics.finished(&k.function, Outcome::Failed, 0.0);
        let value = self.settings.codec.exception_value(&e);
        FinishOp {
            job_id: id.to_string(),
            cron: false,
            kind: FinishKind::FailedEarly {
                result: self.stored(k, id, false, value, self.global_keep()),
            },
        }
    }
}

#[derive(Clone, Copy)]
enum Keep {
    Forever,
    For(i64),
}

/// Runs one claimed job to its finish op. `abort` is cancelled by an abort request for this
/// job; `stop` when the worker gives up waiting for running jobs at shutdown.
pub(crate) async fn run_job(
    shared: Arc<Shared>,
    c: Claimed,
    abort: CancellationToken,
    enqueue_time: Arc<std::sync::atomic::AtomicI64>,
    stop: CancellationToken,
) -> (FinishOp, Outcome) {
    let id = c.id.as_str();
    let mut k = Known {
        function: "<unknown>".to_string(),
        args: Args::default(),
        enqueue_time_ms: 0,
        job_try: c.job_try,
        start_ms: now_ms(),
    };
    let Some(payload) = c.payload.as_deref() else {
        warn!("job expired");
        return (
            shared.failed_early(id, &k, job_execution_failed("job expired".into())),
            Outcome::Failed,
        );
    };
    let job = match shared
        .settings
        .codec
        .decode(payload, Globals::Refuse)
        .map_err(|e| e.to_string())
        .and_then(|v| Job::from_value(v).map_err(|e| e.to_string()))
    {
        Ok(job) => job,
        Err(e) => {
            warn!(error = %e, "deserializing job failed");
            let err = exc(
                "arq.jobs",
                "DeserializationError",
                vec![Value::str("unable to deserialize job")],
            );
            return (shared.failed_early(id, &k, err), Outcome::Failed);
        }
    };
    tracing::Span::current().record("function", job.function.as_str());
    k.function = job.function.clone();
    k.args = job.args.clone();
    k.enqueue_time_ms = job.enqueue_time_ms;
    enqueue_time.store(job.enqueue_time_ms, Ordering::Relaxed);

    if let Some(asked) = c.abort_requested_ms {
        // An abort entry older than the job is a leftover for an earlier job with the same id
        // (arq #485): ignore it rather than kill this one.
        if asked >= job.enqueue_time_ms {
            info!("aborted before start");
            shared.metrics.aborted(&job.function);
            return (shared.failed_early(id, &k, cancelled()), Outcome::Failed);
        }
    }
    let Some(entry) = shared.functions.get(&job.function).cloned() else {
        warn!(function = %job.function, "function not found");
        let msg = format!("function {} not found", py_repr(&job.function));
        return (
            shared.failed_early(id, &k, job_execution_failed(msg)),
            Outcome::Failed,
        );
    };
    if let Some(t) = job.job_try.filter(|&t| t > k.job_try) {
        k.job_try = t;
        if let Ok(mut conn) = shared.redis.conn().await {
            let r: redis::RedisResult<()> = redis::cmd("SETEX")
                .arg(keys::retry(id))
                .arg(keys::RETRY_TTL_S)
                .arg(t)
                .query_async(&mut conn)
                .await;
            if let Err(e) = r {
                shared.redis.report(&e);
            }
        }
    }
    let max_tries = entry.options.max_tries.unwrap_or(shared.settings.max_tries);
    if k.job_try > i64::from(max_tries) {
        warn!(function = %job.function, max_tries, "max retries exceeded");
        let msg = format!("max {max_tries} retries exceeded");
        return (
            shared.failed_early(id, &k, job_execution_failed(msg)),
            Outcome::Failed,
        );
    }

    let timeout = entry.options.timeout.unwrap_or(shared.settings.job_timeout);
    let ctx = JobContext {
        job_id: id.to_string(),
        job_try: k.job_try.clamp(0, i64::from(u32::MAX)) as u32,
        enqueue_time_ms: job.enqueue_time_ms,
        score: c.score,
        queue_name: shared.settings.queue_name.clone(),
        redis: Some(Arc::new(shared.redis.clone())),
    };
    k.start_ms = now_ms();
    let args_str = super::log::args_summary(&job.args);
    let delayed = k.start_ms - c.score;
    info!(function = %job.function,
        r#try = k.job_try,
        "{:6.2}s → {id}:{}({args_str}){}{}",
        (k.start_ms - job.enqueue_time_ms) as f64 / 1000.0,
        job.function,
        if k.job_try > 1 { format!(" try={}", k.job_try) } else { String::new() },
        if delayed > 1200 { format!(" delayed={:.2}s", delayed as f64 / 1000.0) } else { String::new() },
    );
    shared
        .metrics
        .started(&job.function, (k.start_ms - c.score).max(0));

    enum Ended {
        Returned(Result<Value, TaskError>),
        Panicked,
        TimedOut,
        Aborted,
        Stopped,
    }
    let call = AssertUnwindSafe((entry.call)(ctx, job.args.clone())).catch_unwind();
    let ended = tokio::select! {
        biased;
        _ = stop.cancelled() => Ended::Stopped,
        _ = abort.cancelled() => Ended::Aborted,
        r = tokio::time::timeout(timeout, call) => match r {
            Ok(Ok(r)) => Ended::Returned(r),
            Ok(Err(_)) => Ended::Panicked,
            Err(_) => Ended::TimedOut,
        },
    };
    let took = (now_ms() - k.start_ms) as f64 / 1000.0;
    let forever = entry
        .options
        .keep_result_forever
        .unwrap_or(shared.settings.keep_result_forever);
    let keep_for = entry
        .options
        .keep_result
        .unwrap_or(shared.settings.keep_result);
    let keep = if forever {
        Keep::Forever
    } else {
        Keep::For(keep_for.as_millis() as i64)
    };
    let codec = shared.settings.codec;
    let done = |success: bool, value: Value| FinishKind::Done {
        result: shared.stored(&k, id, success, value, keep),
    };
    let (kind, outcome) = match ended {
        Ended::Returned(Ok(v)) => {
            info!(
                "{took:6.2}s ← {id}:{} ● {}",
                job.function,
                super::log::truncate(&v.to_string())
            );
            (done(true, v), Outcome::Complete)
        }
        Ended::Returned(Err(TaskError::Retry { defer })) => {
            info!(
                "{took:6.2}s ↻ {id}:{} retrying job in {:.2}s",
                job.function,
                defer.as_secs_f64()
            );
            let defer_ms = defer.as_millis() as i64;
            let incr = (defer_ms > 0).then(|| defer_ms + (now_ms() - c.score));
            (FinishKind::Retry { incr_score: incr }, Outcome::Retried)
        }
        Ended::Returned(Err(TaskError::Failed { exception })) => {
            warn!(
                "{took:6.2}s ! {id}:{} failed, {}: {}",
                job.function,
                exception.name,
                exception.message()
            );
            (
                done(false, codec.exception_value(&exception)),
                Outcome::Failed,
            )
        }
        Ended::Panicked => {
            warn!("{took:6.2}s ! {id}:{} panicked", job.function);
            let e = exc(
                "builtins",
                "RuntimeError",
                vec![Value::str("task panicked")],
            );
            (done(false, codec.exception_value(&e)), Outcome::Failed)
        }
        Ended::TimedOut => {
            warn!("{took:6.2}s ! {id}:{} failed, TimeoutError", job.function);
            let e = exc("asyncio.exceptions", "TimeoutError", vec![]);
            (done(false, codec.exception_value(&e)), Outcome::Failed)
        }
        Ended::Aborted => {
            shared.metrics.aborted(&job.function);
            info!("{took:6.2}s ⊘ {id}:{} aborted", job.function);
            (
                done(false, codec.exception_value(&cancelled())),
                Outcome::Failed,
            )
        }
        Ended::Stopped => {
            info!(
                "{took:6.2}s ↻ {id}:{} cancelled, will be run again",
                job.function
            );
            (FinishKind::Retry { incr_score: None }, Outcome::Retried)
        }
    };
    shared.metrics.finished(&job.function, outcome, took);
    (
        FinishOp {
            job_id: id.to_string(),
            cron: entry.is_cron,
            kind,
        },
        outcome,
    )
}

#[cfg(test)]
mod tests {
    use super::py_repr;

    #[test]
    fn repr_like_python() {
        assert_eq!(py_repr("nope"), "'nope'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a\nb"), "'a\\nb'");
    }
}
