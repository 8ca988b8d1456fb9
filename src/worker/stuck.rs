//! Stuck jobs: due jobs whose `arq:in-progress:{id}` key is not a lease (a stray key of the
//! wrong type, or one without expiry). Every worker, ours and arq's, takes any key there for a
//! holder and skips the job, so nothing would ever say why it never runs; now and then the head
//! of the queue is checked and each such job is logged once.

use redis::aio::MultiplexedConnection;
use redis::Value as RV;
use std::collections::HashSet;
use std::sync::LazyLock;
use std::time::Duration;
use tokio::time::Instant;
use tracing::error;

static STUCK: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("stuck.lua")));

/// How often the head of the queue is checked.
const EVERY: Duration = Duration::from_secs(60);
/// Due ids looked at per check.
const LOOK: usize = 200;

#[derive(Default)]
pub(crate) struct StuckCheck {
    last: Option<Instant>,
    reported: HashSet<Vec<u8>>,
}

impl StuckCheck {
    /// Checks when [`EVERY`] has passed since the last check (at once the first time); logs
    /// each stuck job once per process.
    pub async fn maybe_check(
        &mut self,
        conn: &mut MultiplexedConnection,
        queue: &str,
        now_ms: i64,
    ) -> redis::RedisResult<()> {
        if self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return Ok(());
        }
        self.last = Some(Instant::now());
        let reply: Vec<RV> = STUCK
            .key(queue)
            .arg(now_ms)
            .arg(LOOK)
            .invoke_async(conn)
            .await?;
        for c in reply.chunks_exact(3) {
            let (RV::BulkString(id), kind) = (&c[0], &c[1]) else {
                continue;
            };
            if !self.reported.insert(id.clone()) {
                continue;
            }
            let kind = match kind {
                RV::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                RV::SimpleString(s) => s.clone(),
                other => format!("{other:?}"),
            };
            let job_id = String::from_utf8_lossy(id);
            if kind == "string" {
                error!(%job_id, "arq:in-progress:{job_id} has no expiry, not a lease: no worker claims this job until the key is removed");
            } else {
                error!(%job_id, kind, "arq:in-progress:{job_id} holds the wrong type ({kind}), not a lease: no worker claims this job until the key is removed");
            }
        }
        Ok(())
    }
}
