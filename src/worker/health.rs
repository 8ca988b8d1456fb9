//! The health key (`{queue}:health-check`), arq's liveness signal read by `--check`, and
//! beside it our own per-worker copy (`{queue}:lyanna:health:{worker id}`, additive): arq's
//! key is shared by every worker of the queue, each overwriting it, so the dashboard lists
//! each of ours from its own key.

use super::shared::Shared;
use crate::protocol::health::{health_string, HealthCounts};
use crate::protocol::keys;
use redis::aio::MultiplexedConnection;
use std::sync::atomic::Ordering;
use tokio::time::Instant;

pub(crate) struct HealthWriter {
    key: String,
    own_key: String,
    last: Option<Instant>,
}

impl HealthWriter {
    pub fn new(shared: &Shared) -> Self {
        HealthWriter {
            key: shared
                .settings
                .health_check_key
                .clone()
                .unwrap_or_else(|| keys::health(&shared.settings.queue_name)),
            own_key: keys::worker_health(&shared.settings.queue_name, &shared.identity.id),
            last: None,
        }
    }

    /// Writes the key when `health_check_interval` has passed since the last write; it lives
    /// one second longer than the interval, so it vanishes soon after the worker stops.
    pub async fn maybe_write(
        &mut self,
        conn: &mut MultiplexedConnection,
        shared: &Shared,
        ongoing: usize,
    ) -> redis::RedisResult<()> {
        let interval = shared.settings.health_check_interval;
        if self.last.is_some_and(|t| t.elapsed() < interval) {
            return Ok(());
        }
        let queued: u64 = redis::cmd("ZCARD")
            .arg(&shared.settings.queue_name)
            .query_async(conn)
            .await?;
        shared.metrics.queue_depth.set(queued as i64);
        let c = &shared.counters;
        let counts = HealthCounts {
            complete: c.complete.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            ongoing: ongoing as u64,
            queued,
        };
        let stamp = chrono::Local::now().format("%b-%d %H:%M:%S").to_string();
        let ttl_ms = (interval.as_millis() as u64).saturating_add(1000);
        let health = health_string(&stamp, counts);
        redis::pipe()
            .cmd("PSETEX")
            .arg(&self.key)
            .arg(ttl_ms)
            .arg(&health)
            .ignore()
            .cmd("PSETEX")
            .arg(&self.own_key)
            .arg(ttl_ms)
            .arg(&health)
            .ignore()
            .query_async::<()>(conn)
            .await?;
        self.last = Some(Instant::now());
        Ok(())
    }

    /// Removes the key on a clean exit, so `--check` fails at once.
    pub async fn delete(&self, shared: &Shared) {
        let r = async {
            let mut conn = shared.redis.conn().await?;
            redis::cmd("DEL")
                .arg(&self.key)
                .arg(&self.own_key)
                .query_async::<()>(&mut conn)
                .await
        }
        .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not delete the health key");
        }
    }
}
