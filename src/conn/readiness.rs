//! Readiness with its own short deadline: a PING every [`READY_PERIOD`] on the live
//! connection, each allowed `ready_timeout`. A Redis that went silent (blackholed, not
//! closed) turns readiness off within about `READY_PERIOD + ready_timeout`, long before a
//! command timeout would notice; the first answer (or a new connection) turns it on again.

use super::Redis;
use redis::{ErrorKind, RedisError};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Time between readiness PINGs.
pub const READY_PERIOD: Duration = Duration::from_millis(500);
/// Default deadline of one readiness PING (`--ready-timeout`).
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_millis(1500);

impl Redis {
    /// PINGs the live connection until `stop`, keeping [`Redis::is_ready`] in step with its
    /// answers. An unanswered PING is reported like any timeout, so the connection is checked
    /// (and replaced if it stays silent) without waiting for a job's command to time out.
    pub async fn watch_readiness(&self, ready_timeout: Duration, stop: CancellationToken) {
        loop {
            // Only the live connection: waiting for a reconnect here would hold the probe
            // past its deadline, and the reconnect sets readiness itself.
            if let Some(mut conn) = self.live_conn() {
                let cmd = redis::cmd("PING");
                let ping = cmd.query_async::<String>(&mut conn);
                let answered = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = tokio::time::timeout(ready_timeout, ping) => r,
                };
                match answered {
                    Ok(Ok(_)) => self.inner.answering.store(true, Ordering::Relaxed),
                    Ok(Err(e)) => {
                        self.inner.answering.store(false, Ordering::Relaxed);
                        self.report(&e);
                    }
                    Err(_) => {
                        if self.inner.answering.swap(false, Ordering::Relaxed) {
                            tracing::warn!(url = %self.masked_url(), timeout = ?ready_timeout, "Redis did not answer a readiness PING in time; not ready");
                        }
                        self.report(&RedisError::from((
                            ErrorKind::Io,
                            "readiness PING timed out",
                        )));
                    }
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(READY_PERIOD) => {}
            }
        }
    }
}
