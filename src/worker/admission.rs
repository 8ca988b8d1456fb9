//! Admission: from a claimed job to one that may run, or to its early failure, with the checks
//! arq makes before running a job (expired, undecodable, aborted, unknown function, too many
//! tries), plus ours for what Redis can hold but a job cannot be (an id that is not UTF-8, a
//! key of the wrong type).

use super::claim::Claimed;
use super::finish::FinishOp;
use super::outcome::{cancelled, exc, job_execution_failed, Known, Outcome};
use super::shared::{Entry, Shared};
use crate::codec::{decode_job, DecodeLimits};
use crate::conn::JobTag;
use crate::protocol::job::Job;
use crate::protocol::{keys, now_ms};
use lyanna_task_api::value::py_repr;
use lyanna_task_api::{Args, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use tracing::{info, warn};

/// How far apart producers' clocks may be (ms) for an abort request to count: one stamped up
/// to this much *before* the job's enqueue time still aborts it. Only older ones are taken for
/// leftovers of an earlier job with the same id (arq #485). Both stamps come from producers'
/// clocks (the enqueuer's `et`, the aborter's ZADD score), never the worker's.
pub(crate) const ABORT_CLOCK_SKEW_MS: i64 = 60_000;

/// Whether an abort stamped `asked` applies to a job enqueued at `enqueued`.
pub(crate) fn abort_applies(asked: i64, enqueued: i64) -> bool {
    asked.saturating_add(ABORT_CLOCK_SKEW_MS) >= enqueued
}

pub(crate) struct Admitted {
    pub job: Job,
    pub entry: Entry,
    pub known: Known,
}

/// Runs the checks; `Err` is the job's finish when it may not run.
pub(crate) async fn admit(
    shared: &Shared,
    c: &mut Claimed,
    enqueue_time: &AtomicI64,
) -> Result<Admitted, (FinishOp, Outcome)> {
    let mut k = Known {
        raw_id: c.raw_id.clone(),
        id: c.id.clone(),
        token: c.token.clone(),
        function: "<unknown>".to_string(),
        args: Args::default(),
        enqueue_time_ms: 0,
        job_try: c.job_try,
        start_ms: now_ms(),
        payload_len: c.payload.as_ref().map_or(0, Vec::len),
    };
    if let Some(e) = &c.key_error {
        warn!(error = %e, "a key of this job holds the wrong type");
        let msg = format!("job cannot be started: {e}");
        return Err(shared.failed_early(k, job_execution_failed(msg)));
    }
    if !c.id_is_utf8() {
        warn!("job id is not valid UTF-8");
        let msg = "job id is not valid UTF-8".to_string();
        return Err(shared.failed_early(k, job_execution_failed(msg)));
    }
    // Moved out: the payload is dropped as soon as it is decoded.
    let Some(payload) = c.payload.take() else {
        warn!("job expired");
        return Err(shared.failed_early(k, job_execution_failed("job expired".into())));
    };
    // Tried more often than any function allows: fail without decoding (a payload that
    // crashed earlier tries is not decoded again).
    if k.job_try > i64::from(shared.max_tries_any) {
        let max = shared.max_tries_any;
        warn!(max_tries = max, "max retries exceeded");
        let msg = format!("max {max} retries exceeded");
        return Err(shared.failed_early(k, job_execution_failed(msg)));
    }
    // Big payloads are decoded off the async runtime, under a memory budget proportional to
    // their size and capped by --max-job-memory (checked while decoding, before allocating).
    let limits = DecodeLimits {
        max_bytes: usize::try_from(shared.settings.max_job_memory).unwrap_or(usize::MAX),
        ..DecodeLimits::default()
    };
    let decoded = decode_job(shared.settings.codec, payload, limits).await;
    let job = match decoded
        .map_err(|e| e.to_string())
        .and_then(|v| Job::from_value(v).map_err(|e| e.to_string()))
    {
        // Shared from here on: the call, the log line and the result read the same arguments
        // without copying them.
        Ok(mut job) => {
            job.args = job.args.into_shared();
            job
        }
        Err(e) => {
            warn!(error = %e, "deserializing job failed");
            let err = exc(
                "arq.jobs",
                "DeserializationError",
                vec![Value::str("unable to deserialize job")],
            );
            return Err(shared.failed_early(k, err));
        }
    };
    if JobTag::enabled() {
        JobTag::record_function(&job.function);
    } else {
        tracing::Span::current().record("function", job.function.as_str());
    }
    k.function = job.function.clone();
    k.args = job.args.clone();
    k.enqueue_time_ms = job.enqueue_time_ms;
    enqueue_time.store(job.enqueue_time_ms, Ordering::Relaxed);

    if let Some(asked) = c.abort_requested_ms {
        if abort_applies(asked, job.enqueue_time_ms) {
            info!("aborted before start");
            shared.metrics.aborted(&job.function);
            return Err(shared.failed_early(k, cancelled()));
        }
        info!(
            asked,
            enqueued = job.enqueue_time_ms,
            "abort request older than the job: a leftover, ignored"
        );
    }
    let Some(entry) = shared.functions.get(&job.function).cloned() else {
        warn!(function = %job.function, "function not found");
        let msg = format!("function {} not found", py_repr(&job.function));
        return Err(shared.failed_early(k, job_execution_failed(msg)));
    };
    if let Some(t) = job.job_try.filter(|&t| t > k.job_try) {
        k.job_try = t;
        bump_try(shared, &c.raw_id, t).await;
    }
    let max_tries = entry.options.max_tries.unwrap_or(shared.settings.max_tries);
    if k.job_try > i64::from(max_tries) {
        warn!(function = %job.function, max_tries, "max retries exceeded");
        let msg = format!("max {max_tries} retries exceeded");
        return Err(shared.failed_early(k, job_execution_failed(msg)));
    }
    Ok(Admitted {
        job,
        entry,
        known: k,
    })
}

/// arq's `_job_try` given at enqueue: the counter jumps to it.
async fn bump_try(shared: &Shared, raw_id: &[u8], t: i64) {
    if let Ok(mut conn) = shared.redis.conn().await {
        let mut key = keys::RETRY_PREFIX.as_bytes().to_vec();
        key.extend_from_slice(raw_id);
        let r: redis::RedisResult<()> = redis::cmd("SETEX")
            .arg(key)
            .arg(keys::RETRY_TTL_S)
            .arg(t)
            .query_async(&mut conn)
            .await;
        if let Err(e) = r {
            shared.redis.report(&e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abort_tolerates_producer_clock_skew_but_not_leftovers() {
        let et = 1_700_000_100_000;
        assert!(abort_applies(et, et));
        assert!(abort_applies(et + 5_000, et));
        // The aborting producer's clock is 5 s behind the enqueuer's.
        assert!(abort_applies(et - 5_000, et));
        // An entry from an earlier job with this id, an hour old.
        assert!(!abort_applies(et - 3_600_000, et));
    }
}
