//! Execute: from a claimed job to its finish op, in three steps: [`admission`] (decode and
//! arq's checks), [`call`] (the function under its timeout), and the outcome (what the end
//! means for the queue).
//!
//! [`admission`]: super::admission
//! [`call`]: super::call

use super::admission::admit;
use super::call::{call, Ended};
use super::claim::Claimed;
use super::finish::{FinishKind, FinishOp};
use super::log::Secs;
use super::outcome::{cancelled, exc, Keep};
use super::shared::Shared;
use crate::protocol::now_ms;
use lyanna_task_api::{JobContext, TaskError, Value};
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use super::outcome::Outcome;
pub use lyanna_task_api::value::py_repr;

/// Runs one claimed job to its finish op. `abort` is cancelled by an abort request for this
/// job; `stop` when the worker gives up waiting for running jobs at shutdown.
pub(crate) async fn run_job(
    shared: Arc<Shared>,
    mut c: Claimed,
    abort: CancellationToken,
    enqueue_time: Arc<AtomicI64>,
    stop: CancellationToken,
) -> (FinishOp, Outcome) {
    let a = match admit(&shared, &mut c, &enqueue_time).await {
        Ok(a) => a,
        Err(early) => return early,
    };
    let (job, entry, mut k) = (a.job, a.entry, a.known);
    let timeout = entry.options.timeout.unwrap_or(shared.settings.job_timeout);
    let ctx = JobContext {
        job_id: k.id.clone(),
        job_try: k.job_try.clamp(0, i64::from(u32::MAX)) as u32,
        enqueue_time_ms: job.enqueue_time_ms,
        score: c.score,
        queue_name: shared.settings.queue_name.clone(),
        redis: Some(Arc::new(shared.redis.clone())),
    };
    // A job claimed ahead of a free slot waits here for one (its lease held and renewed);
    // an abort or the shutdown ends the wait, and the call below ends at once as such.
    // Held until the result is made (its finish time is read before the next job's start).
    let _permit = shared
        .permits
        .acquire(async {
            tokio::select! {
                _ = abort.cancelled() => {}
                _ = stop.cancelled() => {}
            }
        })
        .await;
    k.start_ms = now_ms();
    let id = k.id.as_str();
    let args_str = super::log::args_summary(&job.args);
    let delayed = k.start_ms - c.score;
    // The job's id, function and try are fields of its span (see running.rs), not repeated
    // here: this line is written for every job.
    info!(
        "{:6}s → {id}:{}({args_str}){}{}",
        Secs(k.start_ms - job.enqueue_time_ms),
        job.function,
        if k.job_try > 1 {
            format!(" try={}", k.job_try)
        } else {
            String::new()
        },
        if delayed > 1200 {
            format!(" delayed={}s", Secs(delayed))
        } else {
            String::new()
        },
    );
    shared
        .metrics
        .started(&job.function, (k.start_ms - c.score).max(0));

    let ended = call(&entry.call, ctx, job.args.clone(), timeout, &abort, &stop).await;
    let took_ms = now_ms() - k.start_ms;
    shared.ahead.note(took_ms);
    let took = Secs(took_ms);
    let keep = Keep::of(
        entry
            .options
            .keep_result_forever
            .unwrap_or(shared.settings.keep_result_forever),
        entry
            .options
            .keep_result
            .unwrap_or(shared.settings.keep_result),
    );
    let codec = shared.settings.codec;
    let retry_jobs = shared.settings.retry_jobs;
    let done = |success: bool, value: Value| FinishKind::Done {
        result: shared.stored(&k, success, value, keep),
    };
    let failed = |e: &lyanna_task_api::PyObject| done(false, codec.exception_value(e));
    let (kind, outcome) = match ended {
        Ended::Returned(Ok(v)) => {
            info!(
                "{took:6}s ← {id}:{} ● {}",
                job.function,
                super::log::value_summary(&v)
            );
            (done(true, v), Outcome::Complete)
        }
        Ended::Returned(Err(TaskError::Retry { defer })) if retry_jobs => {
            info!(
                "{took:6}s ↻ {id}:{} retrying job in {:.2}s",
                job.function,
                defer.as_secs_f64()
            );
            let defer_ms = defer.as_millis() as i64;
            let incr = (defer_ms > 0).then(|| defer_ms + (now_ms() - c.score));
            (FinishKind::Retry { incr_score: incr }, Outcome::Retried)
        }
        Ended::Returned(Err(TaskError::Retry { defer })) => {
            // arq's retry_jobs=False: a Retry is a failure like any other exception.
            warn!(
                "{took:6}s ! {id}:{} failed, Retry: <Retry defer {:.2}s>",
                job.function,
                defer.as_secs_f64()
            );
            // arq stores the Retry itself: no args, `defer_score` (ms) in its __dict__, so
            // Python shows `<Retry defer 0.01s>` as for its own workers.
            let mut e = exc("arq.worker", "Retry", vec![]);
            e.state = Some(Box::new(Value::Dict(vec![(
                Value::str("defer_score"),
                Value::Int((defer.as_secs_f64() * 1000.0).round() as i64),
            )])));
            (failed(&e), Outcome::Failed)
        }
        Ended::Returned(Err(TaskError::Failed { exception })) => {
            warn!(
                "{took:6}s ! {id}:{} failed, {}: {}",
                job.function,
                exception.name,
                exception.message()
            );
            (failed(&exception), Outcome::Failed)
        }
        Ended::Panicked => {
            warn!("{took:6}s ! {id}:{} panicked", job.function);
            let e = exc(
                "builtins",
                "RuntimeError",
                vec![Value::str("task panicked")],
            );
            (failed(&e), Outcome::Failed)
        }
        Ended::TimedOut => {
            warn!("{took:6}s ! {id}:{} failed, TimeoutError", job.function);
            let e = exc("asyncio.exceptions", "TimeoutError", vec![]);
            (failed(&e), Outcome::Failed)
        }
        Ended::Aborted => {
            shared.metrics.aborted(&job.function);
            info!("{took:6}s ⊘ {id}:{} aborted", job.function);
            (failed(&cancelled()), Outcome::Failed)
        }
        Ended::Stopped if retry_jobs => {
            info!(
                "{took:6}s ↻ {id}:{} cancelled, will be run again",
                job.function
            );
            (FinishKind::Retry { incr_score: None }, Outcome::Retried)
        }
        Ended::Stopped => {
            warn!("{took:6}s ! {id}:{} failed, CancelledError", job.function);
            (failed(&cancelled()), Outcome::Failed)
        }
    };
    shared
        .metrics
        .finished(&job.function, outcome, took_ms as f64 / 1000.0);
    (k.op(entry.is_cron, kind), outcome)
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
