//! Abort: cancel running jobs a client asked to abort (`arq:abort`, member = id, score = ms
//! of the request).

use super::running::Running;
use crate::protocol::{keys, now_ms};
use redis::aio::MultiplexedConnection;
use std::sync::atomic::Ordering;

/// Reads the abort set, cancels the running jobs it names, removes the ids acted on and
/// trims entries older than 60 s. (arq trims with `now + 60` on a ms clock, which never
/// removes anything: its abort set only grows, arq #394.)
pub(crate) async fn cancel_aborted(
    conn: &mut MultiplexedConnection,
    running: &Running,
) -> redis::RedisResult<()> {
    let (entries, ()): (Vec<(String, f64)>, ()) = redis::pipe()
        .atomic()
        .zrange_withscores(keys::ABORT_SET, 0, -1)
        .zrembyscore(
            keys::ABORT_SET,
            "-inf",
            format!("({}", now_ms() - keys::ABORT_MAX_AGE_MS),
        )
        .ignore()
        .query_async(conn)
        .await
        .map(|(e,): (Vec<(String, f64)>,)| (e, ()))?;
    let mut acted = Vec::new();
    for (id, asked) in entries {
        let Some(job) = running.jobs.get(&id) else {
            continue;
        };
        // A request made before this job was enqueued was meant for an earlier job with the
        // same id (arq #485); leave this one alone and let the entry age out.
        if (asked as i64) < job.enqueue_time_ms.load(Ordering::Relaxed) {
            continue;
        }
        job.abort.cancel();
        acted.push(id);
    }
    if !acted.is_empty() {
        redis::cmd("ZREM")
            .arg(keys::ABORT_SET)
            .arg(&acted)
            .query_async::<()>(conn)
            .await?;
    }
    Ok(())
}
