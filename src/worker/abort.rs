//! Abort: cancel running jobs a client asked to abort (`arq:abort`, member = id, score = ms
//! of the request, on the requesting producer's clock).
//!
//! As in arq, an entry stays until the job starts (the claim reads and removes it, whichever
//! worker claims the job) or, while it runs, until a worker running it acts on it. Entries
//! whose job and result are both gone (the job ended without being aborted, or was deleted)
//! are cleaned up now and then; nothing is trimmed by age, so an abort of a job that waits
//! long in the queue is never dropped.

use super::admission::abort_applies;
use super::running::Running;
use crate::protocol::keys;
use redis::aio::MultiplexedConnection;
use std::sync::atomic::Ordering;
use std::sync::LazyLock;

static CLEAN: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS[1] arq:abort; ARGV[1] how many of the oldest entries to look at.
-- Removes entries whose job, in-progress and result keys are all gone.
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local gone = 0
for _, id in ipairs(ids) do
  if redis.call('EXISTS', 'arq:job:' .. id, 'arq:in-progress:' .. id, 'arq:result:' .. id) == 0 then
    redis.call('ZREM', KEYS[1], id)
    gone = gone + 1
  end
end
return gone
",
    )
});

/// Reads the abort set, cancels the running jobs it names and removes the ids acted on.
pub(crate) async fn cancel_aborted(
    conn: &mut MultiplexedConnection,
    running: &Running,
) -> redis::RedisResult<()> {
    if running.len() == 0 {
        return Ok(());
    }
    let entries: Vec<(Vec<u8>, f64)> = redis::cmd("ZRANGE")
        .arg(keys::ABORT_SET)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(conn)
        .await?;
    let mut acted = Vec::new();
    for (id, asked) in entries {
        let Some(job) = running.jobs.get(&id) else {
            continue;
        };
        // Before the payload is decoded the enqueue time is unknown (i64::MAX): the entry
        // stays and is looked at again next poll.
        if !abort_applies(asked as i64, job.enqueue_time_ms.load(Ordering::Relaxed)) {
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

/// Removes abort entries whose job no longer exists (looking at the oldest `limit`).
pub(crate) async fn clean_up(
    conn: &mut MultiplexedConnection,
    limit: usize,
) -> redis::RedisResult<i64> {
    CLEAN
        .key(keys::ABORT_SET)
        .arg(limit)
        .invoke_async(conn)
        .await
}
