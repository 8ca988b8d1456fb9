//! The poll loop's steps: each poll claims, reads aborts, writes the health key, enqueues
//! due cron ticks and (in burst mode) checks whether the queue is empty, each step on its own so
//! one that fails (Redis refusing writes, a bad key) does not keep the others from running; and
//! the drain at shutdown.

use super::abort;
use super::claim::{claim, ClaimRequest};
use super::cron::CronScheduler;
use super::health::HealthWriter;
use super::running::Running;
use super::shared::Shared;
use super::FLUSH_DEADLINE;
use crate::conn::REFRESH_AFTER_BYTES;
use crate::protocol::now_ms;
use redis::aio::MultiplexedConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often abort entries whose job is gone are cleaned up.
const ABORT_CLEAN_EVERY: Duration = Duration::from_secs(60);

/// The poll loop's own state; each poll runs the steps below in order, each on its own, so one
/// that fails (Redis refusing writes, a bad key) does not keep the others from running.
pub(super) struct Poller {
    pub shared: Arc<Shared>,
    pub running: Running,
    pub health: HealthWriter,
    pub crons: CronScheduler,
    pub stop_jobs: CancellationToken,
    pub burst_started: u64,
    pub seen_connections: u64,
    pub last_abort_clean: Option<Instant>,
    pub stuck: super::stuck::StuckCheck,
}

/// What one poll found.
#[derive(Default)]
pub(super) struct Polled {
    /// Burst mode: nothing left to do.
    pub done: bool,
    /// Look again as soon as a job ends (the slots were full, or a full batch was claimed).
    pub wake_early: bool,
    /// A step failed: back off before the next poll.
    pub failed: bool,
}

impl Poller {
    /// One poll: claim, aborts, health, cron, and the burst check, each step on its own.
    pub async fn poll(&mut self, shutdown: &CancellationToken) -> Polled {
        let mut polled = Polled::default();
        let mut conn = match self.shared.redis.conn().await {
            Ok(c) => c,
            Err(e) => {
                self.shared.redis.report(&e);
                warn!(error = %e, "Redis unreachable; running jobs continue");
                polled.failed = true;
                return polled;
            }
        };
        self.count_connections();
        let claimed = self.claim_step(&mut conn, shutdown).await;
        polled.wake_early = self
            .note("claiming jobs", claimed, &mut polled.failed)
            .unwrap_or(false);
        if self.shared.settings.allow_abort_jobs {
            let r = self.abort_step(&mut conn).await;
            self.note("reading aborts (arq:abort)", r, &mut polled.failed);
        }
        let r = self
            .stuck
            .maybe_check(&mut conn, &self.shared.settings.queue_name, now_ms())
            .await;
        self.note("checking for stuck jobs", r, &mut polled.failed);
        let r = self
            .health
            .maybe_write(&mut conn, &self.shared, self.running.len())
            .await;
        self.note("writing the health key", r, &mut polled.failed);
        let r = self.crons.enqueue_due(&self.shared).await;
        self.note("enqueuing cron jobs", r, &mut polled.failed);
        if self.shared.settings.burst {
            let r = self.burst_done(&mut conn).await;
            polled.done = self
                .note("checking the queue", r, &mut polled.failed)
                .unwrap_or(false);
        }
        polled
    }

    fn note<T>(&self, what: &str, r: redis::RedisResult<T>, failed: &mut bool) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.shared.redis.report(&e);
                warn!(error = %e, "{what} failed; running jobs continue");
                *failed = true;
                None
            }
        }
    }

    fn count_connections(&mut self) {
        let made = self.shared.redis.connections_made();
        self.shared
            .metrics
            .redis_connections
            .inc_by(made.saturating_sub(self.seen_connections));
        self.seen_connections = made;
    }

    /// Claims as many due jobs as there are free slots (at most queue_read_limit, as arq
    /// reads at most that many ids per poll) and starts them. Returns whether to look again
    /// as soon as a job ends.
    async fn claim_step(
        &mut self,
        conn: &mut MultiplexedConnection,
        shutdown: &CancellationToken,
    ) -> redis::RedisResult<bool> {
        let s = &self.shared.settings;
        // A job whose function has returned holds its slot only until its finish is written;
        // that slot takes a new job meanwhile, so a claim overlaps the finish round trip
        // instead of waiting for it. At most max_jobs functions run at once (arq's meaning of
        // max_jobs), and at most 2 x max_jobs jobs are held (running or finishing).
        let running = self.running.len();
        let finishing = self
            .shared
            .finishing
            .load(std::sync::atomic::Ordering::Acquire)
            .min(running);
        let free = s
            .max_jobs
            .saturating_sub(running - finishing)
            .min((2 * s.max_jobs).saturating_sub(running));
        let mut want = free.min(s.queue_read_limit.max(1));
        if s.burst && s.max_burst_jobs >= 0 {
            want = want.min((s.max_burst_jobs as u64).saturating_sub(self.burst_started) as usize);
        }
        if want == 0 || shutdown.is_cancelled() || self.shared.identity.lost.is_cancelled() {
            // Full: the next finished job frees a slot, look again then.
            return Ok(free == 0);
        }
        let req = ClaimRequest {
            queue: &s.queue_name,
            lease_set: &self.shared.identity.lease_set,
            // Python producers score with round(time * 1000), up to half a ms ahead of our
            // truncated clock; woken by the ZADD's notification within that ms, we would find
            // the job not yet due and sleep past it.
            now_ms: now_ms() + 1,
            in_progress_ttl_ms: self.shared.lease_ttl.as_millis() as i64,
            max_claim: want,
            read_limit: s.queue_read_limit.max(1),
            aborts_enabled: s.allow_abort_jobs,
            token_prefix: &self.shared.identity.token_prefix,
            first_token: self.shared.reserve_tokens(want),
            held: self.shared.leases.ids(),
        };
        let claimed = claim(conn, &req).await?;
        if claimed.iter().any(|c| {
            c.payload
                .as_ref()
                .is_some_and(|p| p.len() >= REFRESH_AFTER_BYTES)
        }) {
            self.shared.redis.refresh_connection("big payload read");
        }
        tracing::debug!(
            want,
            claimed = claimed.len(),
            running = self.running.len(),
            "claimed"
        );
        // A full batch means more may be due: look again as soon as a slot frees.
        let wake_early = claimed.len() == want;
        self.burst_started += claimed.len() as u64;
        for c in claimed {
            self.running.spawn(&self.shared, c, &self.stop_jobs);
        }
        Ok(wake_early)
    }

    async fn abort_step(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        abort::cancel_aborted(conn, &self.running).await?;
        if self
            .last_abort_clean
            .is_none_or(|t| t.elapsed() >= ABORT_CLEAN_EVERY)
        {
            self.last_abort_clean = Some(Instant::now());
            let gone = abort::clean_up(conn, 1000).await?;
            if gone > 0 {
                tracing::debug!(gone, "abort entries of jobs that no longer exist removed");
            }
        }
        Ok(())
    }

    async fn burst_done(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisResult<bool> {
        let s = &self.shared.settings;
        if s.max_burst_jobs >= 0 && self.burst_started >= s.max_burst_jobs as u64 {
            return Ok(true);
        }
        let queued: u64 = redis::cmd("ZCARD")
            .arg(&s.queue_name)
            .query_async(conn)
            .await?;
        Ok(queued == 0)
    }

    /// Waits for the running jobs: all of them at a burst's natural end, else up to
    /// job_completion_wait, then stops the rest (retried elsewhere) and gives their finishes
    /// until the flush deadline.
    pub async fn drain(&mut self, graceful_end: bool, give_up: CancellationToken) {
        info!(
            running = self.running.len(),
            "stopping: no new jobs will be claimed"
        );
        if graceful_end {
            self.running.wait_all().await;
            return;
        }
        if self.running.len() == 0 {
            return;
        }
        let wait = self.shared.settings.job_completion_wait;
        if tokio::time::timeout(wait, self.running.wait_all())
            .await
            .is_ok()
        {
            return;
        }
        warn!(
            running = self.running.len(),
            "job_completion_wait over; cancelling running jobs, they will be retried"
        );
        self.stop_jobs.cancel();
        if tokio::time::timeout(FLUSH_DEADLINE, self.running.wait_all())
            .await
            .is_err()
        {
            warn!(
                running = self.running.len(),
                "flush deadline over: giving up on unwritten finishes; their jobs run again once their leases lapse"
            );
            give_up.cancel();
            if tokio::time::timeout(Duration::from_secs(1), self.running.wait_all())
                .await
                .is_err()
            {
                self.running.abort_all();
            }
        }
    }
}
