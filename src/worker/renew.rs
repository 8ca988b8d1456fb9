//! The renewer: a task of its own that extends every lease this worker holds, and its
//! identity, in one round trip every TTL/3, on a connection of its own, so no other work (a
//! failing claim, a slow cron enqueue, a big payload on the shared connection) can hold a
//! renewal back. Each round records, per lease, until when it is confirmed; a lease Redis no
//! longer holds for us is lost at once. A round that fails or takes longer than TTL/3
//! leaves the leases as confirmed before and is retried within a second: they lapse (and
//! their jobs are fenced) only once Redis has not answered until that time.

use super::identity::Identity;
use super::lease::{mono_ms, Leases};
use crate::conn::Redis;
use crate::metrics::Metrics;
use redis::aio::MultiplexedConnection;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

static RENEW: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("renew.lua")));

pub(crate) struct Renewer {
    pub redis: Redis,
    pub leases: Arc<Leases>,
    pub identity: Arc<Identity>,
    pub ttl: Duration,
    pub metrics: Arc<Metrics>,
}

impl Renewer {
    pub fn interval(&self) -> Duration {
        (self.ttl / 3).max(Duration::from_millis(50))
    }

    /// After a failed round: soon, but not in a tight loop against a dead server.
    pub fn retry_delay(&self) -> Duration {
        self.interval().min(Duration::from_secs(1))
    }

    /// Runs until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let mut conn: Option<MultiplexedConnection> = None;
        let mut tick = tokio::time::interval(self.interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let round = tokio::select! {
                // A round waiting on a silent Redis must not hold the shutdown back.
                _ = stop.cancelled() => return,
                r = tokio::time::timeout(self.interval(), self.round(&mut conn)) => r,
            };
            let ok = match round {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    self.redis.report(&e);
                    warn!(error = %e, leases = self.leases.len(), "renewing leases failed; retrying");
                    false
                }
                Err(_) => {
                    warn!(
                        leases = self.leases.len(),
                        "renewing leases timed out; retrying"
                    );
                    false
                }
            };
            if !ok {
                conn = None;
                // Not a whole interval: Redis may be back in a moment, and the leases lapse
                // at most TTL - margin after the last confirmed round (a 40 s outage under a
                // 60 s lease must be renewed as soon as Redis answers, not 20 s later).
                tick.reset_after(self.retry_delay());
            }
        }
    }

    async fn round(&self, conn: &mut Option<MultiplexedConnection>) -> redis::RedisResult<()> {
        if conn.is_none() {
            *conn = Some(self.redis.dedicated().await?);
        }
        let Some(c) = conn.as_mut() else {
            return Ok(());
        };
        let held = self.leases.snapshot();
        let mut inv = RENEW.key(&self.identity.key);
        inv.key(&self.identity.lease_set)
            .arg(self.ttl.as_millis() as u64)
            .arg(&self.identity.value);
        for l in &held {
            inv.arg(&*l.job_id).arg(&l.token);
        }
        let sent = mono_ms();
        let reply: Vec<i64> = inv.invoke_async(c).await?;
        if reply.first() != Some(&1) {
            if !self.identity.lost.is_cancelled() {
                error!(worker_id = %self.identity.id, "another process holds this worker's identity now (we were presumed dead): fencing every job and stopping");
                self.identity.lost.cancel();
            }
            for l in &held {
                l.lose();
                l.count_loss(&self.metrics);
            }
            return Ok(());
        }
        for (l, ok) in held.iter().zip(reply.iter().skip(1)) {
            if *ok == 1 {
                l.confirm(sent, self.ttl);
            } else if l.is_finishing() && l.held() {
                // The run is over and its finish, written meanwhile, removed the key before
                // the job task let go of the lease: not a loss (the finish's own reply says
                // if it was one).
            } else if self.leases.holds(l) {
                // Gone while the run still holds it (not a finish that just removed it).
                warn!(job_id = %String::from_utf8_lossy(&l.job_id), "lease lost: the in-progress key no longer holds our token");
                l.lose();
                // Counted here too: a run that already ended (its finish waiting on Redis)
                // has no fence left to count it.
                l.count_loss(&self.metrics);
            }
        }
        Ok(())
    }
}
