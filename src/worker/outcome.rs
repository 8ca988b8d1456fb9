//! Outcome: what a run's end means for the queue (arq's `finish_job` / `finish_failed_job`),
//! and the result map stored for it.

use super::finish::{FinishKind, FinishOp, StoredResult};
use super::shared::Shared;
use crate::protocol::job::ResultRef;
use crate::protocol::now_ms;
use lyanna_task_api::{Args, PyObject, Value};
use std::time::Duration;
use tracing::warn;

/// How a run ended, for the worker's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    Failed,
    Retried,
}

pub(crate) fn exc(module: &str, name: &str, args: Vec<Value>) -> PyObject {
    PyObject::new(module, name, args)
}
pub(crate) fn job_execution_failed(msg: String) -> PyObject {
    exc("arq.worker", "JobExecutionFailed", vec![Value::Str(msg)])
}
pub(crate) fn cancelled() -> PyObject {
    exc("asyncio.exceptions", "CancelledError", vec![])
}

/// What we know of the job when it ends, for its result.
pub(crate) struct Known {
    pub raw_id: Vec<u8>,
    pub id: String,
    pub token: String,
    pub function: String,
    pub args: Args,
    pub enqueue_time_ms: i64,
    pub job_try: i64,
    pub start_ms: i64,
    /// Size of the job's payload: a big one means big arguments, repeated in the result.
    pub payload_len: usize,
}

#[derive(Clone, Copy)]
pub(crate) enum Keep {
    Forever,
    For(i64),
}

impl Keep {
    pub fn of(forever: bool, keep: Duration) -> Keep {
        if forever {
            Keep::Forever
        } else {
            Keep::For(keep.as_millis() as i64)
        }
    }
}

impl Known {
    /// The result map of this run, borrowed from what we know.
    fn result_ref<'a>(
        &'a self,
        queue_name: &'a str,
        success: bool,
        result: &'a Value,
        finish_ms: i64,
    ) -> ResultRef<'a> {
        ResultRef {
            job_try: self.job_try,
            function: &self.function,
            args: &self.args,
            enqueue_time_ms: self.enqueue_time_ms,
            success,
            result,
            start_ms: self.start_ms,
            finish_ms,
            queue_name,
            job_id: &self.id,
        }
    }

    pub fn op(self, cron: bool, kind: FinishKind) -> FinishOp {
        FinishOp {
            raw_id: self.raw_id,
            job_id: self.id,
            token: self.token,
            cron,
            kind,
        }
    }
}

impl Shared {
    /// The result map to store, encoded; arq's fallback when the value cannot be serialized.
    pub(crate) fn stored(
        &self,
        k: &Known,
        success: bool,
        result: Value,
        keep: Keep,
    ) -> Option<StoredResult> {
        let ttl_ms = match keep {
            Keep::Forever => None,
            Keep::For(ms) if ms > 0 => Some(ms),
            Keep::For(_) => return None,
        };
        let finish_ms = now_ms();
        let queue = self.settings.queue_name.as_str();
        let view = |success, result| k.result_ref(queue, success, result, finish_ms);
        let codec = self.settings.codec;
        // The result repeats the job's arguments: encoding a 1M-item argument list takes a
        // runtime thread for a while, and with both threads busy so (several big jobs ending
        // together) lease renewals wait past the lease. Off the runtime's threads, then, for
        // jobs whose payload was big enough to be decoded off the runtime too.
        let encode = || codec.encode_fields(&view(success, &result).fields());
        let encoded = if k.payload_len >= crate::codec::DecodeLimits::default().inline_below {
            off_runtime(encode)
        } else {
            encode()
        };
        match encoded {
            Ok(bytes) => Some(StoredResult { bytes, ttl_ms }),
            Err(e) => {
                warn!(error = %e, "result cannot be serialized");
                let failure = codec.exception_value(&exc(
                    "arq.jobs",
                    "SerializationError",
                    vec![Value::Str(format!("unable to serialize result: {e}"))],
                ));
                match codec.encode_fields(&view(false, &failure).fields()) {
                    Ok(bytes) => Some(StoredResult { bytes, ttl_ms }),
                    Err(e) => {
                        warn!(error = %e, "failure result cannot be serialized either; none stored");
                        None
                    }
                }
            }
        }
    }

    pub(crate) fn global_keep(&self) -> Keep {
        Keep::of(self.settings.keep_result_forever, self.settings.keep_result)
    }

    /// A job that failed before its function ran (arq's `finish_failed_job`).
    pub(crate) fn failed_early(&self, k: Known, e: PyObject) -> (FinishOp, Outcome) {
        self.metrics.finished(&k.function, Outcome::Failed, 0.0);
        let value = self.settings.codec.exception_value(&e);
        let kind = FinishKind::FailedEarly {
            result: self.stored(&k, false, value, self.global_keep()),
        };
        (k.op(false, kind), Outcome::Failed)
    }
}

/// Runs `f` with `block_in_place` on the multi-threaded runtime (its other tasks move to another
/// thread meanwhile); directly elsewhere (a current-thread runtime, or none).
fn off_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
