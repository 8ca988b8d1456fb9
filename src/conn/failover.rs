//! Following a Sentinel failover as it happens. When the leading sentinel picks a replica to
//! promote, we stop writing: the old master keeps accepting writes until it is demoted, and
//! loses them then (measured: every write of that second). We resume on the promoted node
//! (ROLE-checked) as soon as it is announced, or when the failover ends or is given up, or
//! after [`PAUSE_MAX`] at the latest.

use super::sentinel::Event;
use super::{Locator, Redis};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest we hold writes back for a failover whose end we did not hear.
pub(crate) const PAUSE_MAX: Duration = Duration::from_secs(5);

pub(crate) struct Failover {
    pub until: Instant,
    /// Where the promoted replica is, once announced.
    pub promoted: Option<String>,
}

impl Redis {
    /// Sentinel only: listen to the sentinels' events while this handle lives.
    pub(super) fn start_watching(&self) {
        let Locator::Sentinel(sentinels) = &self.inner.locator else {
            return;
        };
        if self.inner.watching.swap(true, Ordering::Relaxed) {
            return;
        }
        let sentinels = sentinels.clone();
        let stop = self.inner.stop.clone();
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            sentinels
                .watch(stop, move |ev| {
                    if let Some(inner) = weak.upgrade() {
                        Redis { inner }.sentinel_event(ev);
                    }
                })
                .await;
        });
    }

    fn failover_state(&self) -> std::sync::MutexGuard<'_, Option<Failover>> {
        self.inner
            .failover
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn sentinel_event(&self, ev: Event) {
        let current = self.live().as_ref().map(|l| l.addr.clone());
        match ev {
            Event::FailoverStarted => {
                let mut f = self.failover_state();
                if f.is_none() {
                    *f = Some(Failover {
                        until: Instant::now() + PAUSE_MAX,
                        promoted: None,
                    });
                    drop(f);
                    self.drop_live(
                        None,
                        "sentinel failover started; writes pause until the new master is announced",
                    );
                }
            }
            Event::Promoted(addr) => {
                // Until the failover ends the sentinels still name the old master, whose ROLE
                // still says master: the announced node is the one to use meanwhile.
                *self.failover_state() = Some(Failover {
                    until: Instant::now() + PAUSE_MAX,
                    promoted: Some(addr.clone()),
                });
                self.inner.retry_now.notify_one();
                if current.as_deref() != Some(&addr) {
                    self.drop_live(None, &format!("sentinel promoted {addr}"));
                }
            }
            Event::Switched(addr) => {
                self.failover_state().take();
                self.inner.retry_now.notify_one();
                if current.as_deref() != Some(&addr) {
                    self.drop_live(None, &format!("sentinel announced a new master at {addr}"));
                }
            }
            Event::Aborted => {
                self.failover_state().take();
                self.inner.retry_now.notify_one();
            }
        }
    }

    /// Whether to hold off now, and for how long at most; or the promoted node to try first.
    pub(super) fn failover_pause(&self) -> Result<Option<String>, Duration> {
        let mut f = self.failover_state();
        let now = Instant::now();
        match f.as_ref() {
            None => Ok(None),
            Some(x) if x.until <= now => {
                *f = None;
                Ok(None)
            }
            Some(Failover {
                promoted: Some(a), ..
            }) => Ok(Some(a.clone())),
            Some(x) => Err(x.until - now),
        }
    }
}
