//! Wake-up faster than `poll_delay`: when the server publishes keyspace events for sorted
//! sets (`notify-keyspace-events` with K and z, or A), a ZADD/ZINCRBY on our queue wakes the
//! poll loop at once. Without them nothing arrives and the loop just polls. We never change
//! the server's configuration ourselves.

use crate::conn::{Backoff, Redis};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often the subscription is checked against the server's setting and the current master.
const RECHECK: Duration = Duration::from_secs(30);

/// Whether a `notify-keyspace-events` value publishes sorted-set events on keyspace channels.
pub fn flags_wake_us(flags: &str) -> bool {
    flags.contains('K') && (flags.contains('z') || flags.contains('A'))
}

/// The PSUBSCRIBE pattern for `queue` on any database, glob characters escaped.
pub fn pattern(queue: &str) -> String {
    let mut escaped = String::with_capacity(queue.len());
    for c in queue.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!("__keyspace@*__:{escaped}")
}

async fn server_flags(redis: &Redis) -> Option<String> {
    let mut conn = redis.conn().await.ok()?;
    let reply: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query_async(&mut conn)
        .await
        .ok()?;
    reply.get(1).cloned()
}

/// Runs until `stop`: subscribes while the server publishes our events, notifying `wake` on
/// each ZADD/ZINCRBY of `queue`; re-subscribes after errors and every 30 s (which also moves
/// the subscription to a new master after a failover).
pub async fn run(redis: Redis, queue: String, wake: Arc<Notify>, stop: CancellationToken) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        // CONFIG may be refused (ACL, managed Redis): subscribe anyway, it costs nothing.
        let flags = server_flags(&redis).await;
        if flags.as_deref().is_some_and(|f| !flags_wake_us(f)) {
            tracing::debug!("keyspace notifications off on the server; polling only");
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(RECHECK) => continue,
            }
        }
        let mut pubsub = match redis.pubsub().await {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "keyspace subscription failed; polling meanwhile");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff.next_delay()) => continue,
                }
            }
        };
        if let Err(e) = pubsub.psubscribe(pattern(&queue)).await {
            tracing::debug!(error = %e, "keyspace subscription refused; polling meanwhile");
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff.next_delay()) => continue,
            }
        }
        backoff.reset();
        tracing::debug!(queue = %queue, "waking on keyspace notifications");
        let mut messages = pubsub.on_message();
        let recheck = tokio::time::sleep(RECHECK);
        tokio::pin!(recheck);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = &mut recheck => break,
                msg = messages.next() => match msg {
                    Some(m) if matches!(m.get_payload_bytes(), b"zadd" | b"zincr") => wake.notify_one(),
                    Some(_) => {}
                    None => break,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_pattern() {
        assert!(flags_wake_us("Kz"));
        assert!(flags_wake_us("KEA"));
        assert!(!flags_wake_us("Ez"));
        assert!(!flags_wake_us(""));
        assert_eq!(pattern("arq:queue"), "__keyspace@*__:arq:queue");
        assert_eq!(pattern("a*b?[c]"), "__keyspace@*__:a\\*b\\?\\[c\\]");
    }
}
