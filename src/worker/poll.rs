//! The poll loop's steps: each poll claims, reads aborts, writes the health key, enqueues
//! due cron ticks and (in burst mode) checks whether the queue is empty, each step on its own so
//! one that fails (Redis refusing writes, a bad key) does not keep the others from running; and
//! the drain at shutdown.

use super::abort;
use super::cron::CronScheduler;
use super::health::HealthWriter;
use super::inflight::{ClaimDone, InFlight, MAX_IN_FLIGHT};
use super::running::Running;
use super::shared::Shared;
use super::slots::Slots;
use super::FLUSH_DEADLINE;
use crate::conn::REFRESH_AFTER_BYTES;
use crate::protocol::now_ms;
use redis::aio::MultiplexedConnection;
use std::sync::atomic::Ordering;
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
    /// Claims sent and not answered yet.
    pub claims: InFlight,
    /// The last claim filled every slot it asked for, or slots ran out before the queue
    /// did: a slot that frees may take a due job.
    pub more_due: bool,
    /// The last poll began with nothing running or claimed (in burst mode it asked Redis
    /// whether the queue is empty).
    pub last_quiet: bool,
}

/// What a claim's reply meant for the poll loop.
pub(super) enum Landed {
    /// Every slot asked for was filled: more may be due, look again at once.
    Full,
    /// The queue had nothing more due: wait for a wake-up or the next poll.
    Short,
    /// The claim failed: back off.
    Failed,
}

/// What one poll found.
#[derive(Default)]
pub(super) struct Polled {
    /// Burst mode: nothing left to do.
    pub done: bool,
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
        // Burst mode ends once nothing is running or claimed and the queue is empty: whether
        // anything is, is read before this poll's claim goes out (a claim in flight would
        // hide an empty queue for ever). A claim sent here that still finds a job is landed
        // and its job run before the worker exits.
        self.last_quiet = self.claims.is_empty() && self.running.len() == 0;
        self.claim_step(&conn, shutdown);
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

    /// Sends a claim for as many due jobs as there are free slots (at most queue_read_limit,
    /// as arq reads at most that many ids per poll), unless enough claims are in flight
    /// already; [`Poller::claimed`] starts what it gets.
    fn claim_step(&mut self, conn: &MultiplexedConnection, shutdown: &CancellationToken) {
        let s = &self.shared.settings;
        if shutdown.is_cancelled() || self.shared.identity.lost.is_cancelled() {
            return;
        }
        if self.claims.len() >= MAX_IN_FLIGHT {
            // The next reply looks again.
            self.more_due = false;
            return;
        }
        // Full (or nearly), or a claim goes out now: a slot that frees may take a due job
        // (the slots that free while this claim is in flight can go to a second one).
        self.more_due = true;
        let claiming = self.claims.slots();
        let slots = Slots {
            max_jobs: s.max_jobs,
            read_limit: s.queue_read_limit,
            running: self.running.len(),
            finishing: self.shared.finishing.load(Ordering::Acquire),
            claiming,
            claims: self.claims.len(),
            burst_left: (s.burst && s.max_burst_jobs >= 0).then(|| {
                (s.max_burst_jobs as u64).saturating_sub(self.burst_started + claiming as u64)
            }),
            ahead: if s.claim_ahead {
                self.shared.ahead.allowed(s.max_jobs)
            } else {
                0
            },
        };
        if let Some(want) = slots.claim_size() {
            tracing::debug!(want, ahead = slots.ahead, "claim sent");
            self.claims.send(&self.shared, conn.clone(), want);
        }
    }

    /// Starts the jobs of a claim that has answered (a failed claim is logged).
    pub fn claimed(&mut self, done: ClaimDone) -> Landed {
        let full = done.full();
        let want = done.want;
        let mut failed = false;
        let Some(claimed) = self.note("claiming jobs", done.result, &mut failed) else {
            return Landed::Failed;
        };
        let biggest = claimed
            .iter()
            .filter_map(|c| c.payload.as_ref().map(Vec::len))
            .max()
            .unwrap_or(0);
        self.shared.ahead.note_payload(biggest);
        if biggest >= REFRESH_AFTER_BYTES {
            self.shared.redis.refresh_connection("big payload read");
        }
        tracing::debug!(
            want,
            claimed = claimed.len(),
            running = self.running.len(),
            "claimed"
        );
        self.burst_started += claimed.len() as u64;
        for c in claimed {
            self.running.spawn(&self.shared, c, &self.stop_jobs);
        }
        self.more_due = full;
        if full {
            Landed::Full
        } else {
            Landed::Short
        }
    }

    /// Burst mode: nothing is running or claimed, and the last poll began while something
    /// was (so it did not ask Redis whether the queue is empty): look again now rather than a
    /// poll_delay later, the burst may be over.
    pub fn burst_may_be_over(&self) -> bool {
        self.shared.settings.burst
            && !self.last_quiet
            && self.claims.is_empty()
            && self.running.len() == 0
    }

    /// Whether a slot that frees should wake the loop: more jobs may be due and another
    /// claim may be sent.
    pub fn wants_slots(&self) -> bool {
        self.more_due && self.claims.len() < MAX_IN_FLIGHT
    }

    /// At shutdown: starts what the claims in flight claimed, if they answer within `grace`
    /// (the drain then runs or hands back those jobs as any other); else leaves it to lapse.
    pub async fn land_claims(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while !self.claims.is_empty() {
            match tokio::time::timeout_at(deadline, self.claims.next()).await {
                Ok(Some(done)) => {
                    self.claimed(done);
                }
                Ok(None) => break,
                Err(_) => {
                    warn!(
                        claims = self.claims.len(),
                        "claims still unanswered at shutdown: what they claimed runs again elsewhere once its leases lapse"
                    );
                    self.claims.abandon();
                }
            }
        }
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

    /// Whether a burst is over.
    async fn burst_done(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisResult<bool> {
        let s = &self.shared.settings;
        if s.max_burst_jobs >= 0 && self.burst_started >= s.max_burst_jobs as u64 {
            // Whatever is claimed or running is waited for by the drain.
            return Ok(self.claims.is_empty());
        }
        // Our running jobs are in the queue until their finishes remove them: while any runs
        // the queue cannot be empty (or, if another process removed them, the burst still
        // ends only once they have), so Redis is asked only once none does.
        if !self.last_quiet {
            return Ok(false);
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
