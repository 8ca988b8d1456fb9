//! `Diagnostics`: the same functions, names and behaviour as the Python reference worker
//! (`benches/python/arq_reference.py`), so the two can be swapped in benchmarks and tests.

use lyanna_task_api::{Args, CronSchedule, JobContext, TaskError, TaskSet, Value};
use std::time::Duration;

/// `noop(*a, **k)` -> None.
async fn noop(_: JobContext, _: Args) -> Result<Value, TaskError> {
    Ok(Value::None)
}

/// `echo(*a, **k)` -> `{"args": [...], "kwargs": {...}}`.
async fn echo(_: JobContext, a: Args) -> Result<Value, TaskError> {
    Ok(Value::Dict(vec![
        (Value::str("args"), Value::List(a.args)),
        (
            Value::str("kwargs"),
            Value::Dict(
                a.kwargs
                    .into_iter()
                    .map(|(k, v)| (Value::Str(k), v))
                    .collect(),
            ),
        ),
    ]))
}

/// `sleep_ms(ms)` -> None, after sleeping.
async fn sleep_ms(_: JobContext, a: Args) -> Result<Value, TaskError> {
    a.at_most("sleep_ms", 1)?;
    let ms = a.number("sleep_ms", 0, "ms")?;
    if !ms.is_finite() {
        return Err(TaskError::value_error("sleep_ms(): ms must be finite"));
    }
    tokio::time::sleep(Duration::from_secs_f64(ms.max(0.0) / 1000.0)).await;
    Ok(Value::None)
}

/// `fail(message)`: raises RuntimeError(message).
async fn fail(_: JobContext, a: Args) -> Result<Value, TaskError> {
    a.at_most("fail", 1)?;
    let message = a.get(0, "message").ok_or_else(|| {
        TaskError::type_error("fail() missing required positional argument: 'message'")
    })?;
    Err(TaskError::fail(match message {
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }))
}

/// `retry(times, defer_ms)`: Retry(defer) while job_try <= times, then returns job_try.
async fn retry(ctx: JobContext, a: Args) -> Result<Value, TaskError> {
    a.at_most("retry", 2)?;
    let times = a.int("retry", 0, "times")?;
    let defer_ms = a.number("retry", 1, "defer_ms")?;
    if i64::from(ctx.job_try) <= times {
        return Err(TaskError::retry(Duration::from_secs_f64(
            defer_ms.max(0.0) / 1000.0,
        )));
    }
    Ok(Value::Int(i64::from(ctx.job_try)))
}

fn redis_unavailable(e: redis::RedisError) -> TaskError {
    tracing::warn!(error = %e, "tick: Redis unavailable; retrying");
    TaskError::retry(Duration::from_secs(1))
}

/// Cron `tick`: appends its job id to the list `{queue}:ticks`, so a test (or an operator
/// checking a fleet) can see each tick ran once.
async fn tick(ctx: JobContext, _: Args) -> Result<Value, TaskError> {
    let redis = ctx
        .redis
        .as_ref()
        .ok_or_else(|| TaskError::fail("tick needs Redis"))?;
    let mut conn = redis.connection().await.map_err(redis_unavailable)?;
    redis::cmd("RPUSH")
        .arg(format!("{}:ticks", ctx.queue_name))
        .arg(&ctx.job_id)
        .query_async::<()>(&mut conn)
        .await
        .map_err(redis_unavailable)?;
    Ok(Value::None)
}

/// `DIAGNOSTICS_CRON=every-second` adds the `tick` cron job, every second at .123456.
pub const CRON_ENV: &str = "DIAGNOSTICS_CRON";

pub fn task_set() -> TaskSet {
    let set = TaskSet::new("Diagnostics")
        .function("noop", noop)
        .function("echo", echo)
        .function("sleep_ms", sleep_ms)
        .function("fail", fail)
        .function("retry", retry);
    match std::env::var(CRON_ENV).as_deref() {
        Ok("every-second") => set.cron(
            "tick",
            CronSchedule {
                second: None,
                ..CronSchedule::default()
            },
            tick,
        ),
        _ => set,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, ctx: JobContext, args: Vec<Value>) -> Result<Value, TaskError> {
        let set = task_set();
        let f = set.functions.get(name).unwrap().call.clone();
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f(ctx, Args::new(args, vec![])))
    }

    #[test]
    fn behaves_like_the_python_reference() {
        let ctx = || JobContext::detached("j", 1);
        assert_eq!(call("noop", ctx(), vec![Value::Int(1)]), Ok(Value::None));
        let echoed = call("echo", ctx(), vec![Value::Int(1)]).unwrap();
        assert_eq!(echoed.get("args"), Some(&Value::List(vec![Value::Int(1)])));
        assert_eq!(
            call("fail", ctx(), vec![Value::str("boom")]),
            Err(TaskError::fail("boom"))
        );
        assert_eq!(
            call(
                "retry",
                JobContext::detached("j", 2),
                vec![Value::Int(2), Value::Int(10)]
            ),
            Err(TaskError::retry(Duration::from_millis(10)))
        );
        assert_eq!(
            call(
                "retry",
                JobContext::detached("j", 3),
                vec![Value::Int(2), Value::Int(10)]
            ),
            Ok(Value::Int(3))
        );
        let e = call("sleep_ms", ctx(), vec![Value::str("x")]).unwrap_err();
        assert!(e.to_string().contains("TypeError"), "{e}");
    }
}
