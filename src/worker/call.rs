//! The call: the task function under its timeout, its abort handle and the shutdown stop;
//! panics of task code are caught.

use futures::FutureExt;
use lyanna_task_api::{Args, JobContext, TaskError, TaskFn, Value};
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub(crate) enum Ended {
    Returned(Result<Value, TaskError>),
    Panicked,
    TimedOut,
    Aborted,
    Stopped,
}

pub(crate) async fn call(
    f: &TaskFn,
    ctx: JobContext,
    args: Args,
    timeout: Duration,
    abort: &CancellationToken,
    stop: &CancellationToken,
) -> Ended {
    let call = AssertUnwindSafe(f(ctx, args)).catch_unwind();
    tokio::select! {
        biased;
        _ = stop.cancelled() => Ended::Stopped,
        _ = abort.cancelled() => Ended::Aborted,
        r = tokio::time::timeout(timeout, call) => match r {
            Ok(Ok(r)) => Ended::Returned(r),
            Ok(Err(_)) => Ended::Panicked,
            Err(_) => Ended::TimedOut,
        },
    }
}
