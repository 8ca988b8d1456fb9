//! Replacing a healthy connection after a big job. redis-rs keeps a connection's read and
//! write buffers at the biggest size they ever grew to, for the connection's life: a 30 MB
//! payload read and its 30 MB result written leave ~64 MB resident until the process ends.
//! A fresh connection to the same server (same client, same settings) is swapped in; the old
//! one finishes the commands in flight on it and is freed with its last clone. Its replies
//! stay ordered per caller: each caller's command goes wholly to one connection, and nothing
//! we send depends on order across callers (claims and finishes are fenced by lease tokens).

use super::discovery::Live;
use super::Redis;
use std::sync::atomic::Ordering;

/// A reply read or a command written this big or bigger is followed by a fresh connection
/// (a reconnect costs a round trip or two; 4 MiB of buffers held for good costs more).
pub const REFRESH_AFTER_BYTES: usize = 4 << 20;

impl Redis {
    /// Starts swapping in a fresh connection (in the background; on failure the old one
    /// stays). A connection lost meanwhile is left to the reconnecting task.
    pub fn refresh_connection(&self, why: &'static str) {
        let Some((id, client, addr)) = self
            .live()
            .as_ref()
            .map(|l| (l.id, l.client.clone(), l.addr.clone()))
        else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = self.clone();
        rt.spawn(async move {
            match this.inner.node.connect(&client).await {
                Ok(conn) => {
                    let mut live = this.live();
                    if live.as_ref().is_some_and(|l| l.id == id) {
                        let id = this.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
                        // The old connection drops here unless a caller still holds a clone.
                        *live = Some(Live {
                            id,
                            conn,
                            client,
                            addr,
                        });
                        drop(live);
                        this.inner.connections.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(why, "Redis connection replaced by a fresh one");
                    }
                }
                Err(e) => tracing::debug!(why, error = %e, "fresh Redis connection failed; keeping the old one"),
            }
        });
    }
}
