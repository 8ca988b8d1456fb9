//! The worker: polls a queue, claims due jobs, runs them, finishes them; plus aborts, cron,
//! the health key, and the renewer that keeps each running job's lease. One module per step
//! of a job's life: [`claim`] -> [`admission`] -> [`call`] -> [`outcome`] -> [`finish`]
//! ([`execute`] strings the middle three together, [`running`] holds the running jobs, each
//! fenced by its [`lease`]); beside them [`renew`], [`identity`], [`abort`], [`cron`],
//! [`health`], `stuck` and [`wakeup`]. What they share is in [`shared`], below all of them.

pub mod abort;
pub mod admission;
pub mod call;
pub mod claim;
pub mod cron;
pub mod execute;
pub mod finish;
pub mod health;
pub mod identity;
pub mod lease;
pub mod log;
pub mod outcome;
pub mod renew;
mod running;
pub mod settings;
pub mod shared;
mod stuck;
pub mod wakeup;

pub use identity::IdentityError;
pub use settings::WorkerSettings;
pub use shared::Counters;

use crate::admin::Probe;
use crate::conn::{Backoff, Redis};
use crate::metrics::Metrics;
use crate::protocol::now_ms;
use claim::{claim, ClaimRequest};
use finish::{Finisher, FinisherParts};
use identity::Identity;
use lease::Leases;
use lyanna_task_api::TaskSet;
use redis::aio::MultiplexedConnection;
use running::Running;
use shared::{Entry, Shared};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// After the drain (job_completion_wait), how long the worker still tries to write the
/// finishes, hooks and health key before it exits anyway: whatever is not written by then is
/// run again elsewhere once its lease lapses. Kubernetes' grace period must cover
/// job_completion_wait plus this.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// How often abort entries whose job is gone are cleaned up.
const ABORT_CLEAN_EVERY: Duration = Duration::from_secs(60);

/// A worker for one queue and task set.
pub struct Worker {
    settings: WorkerSettings,
    tasks: TaskSet,
    redis: Redis,
    metrics: Arc<Metrics>,
    probe: Arc<Probe>,
}

/// The poll loop's own state; each poll runs the steps below in order, each on its own, so one
/// that fails (Redis refusing writes, a bad key) does not keep the others from running.
struct Poller {
    shared: Arc<Shared>,
    running: Running,
    health: health::HealthWriter,
    crons: cron::CronScheduler,
    stop_jobs: CancellationToken,
    burst_started: u64,
    seen_connections: u64,
    last_abort_clean: Option<Instant>,
    stuck: stuck::StuckCheck,
}

/// What one poll found.
#[derive(Default)]
struct Polled {
    /// Burst mode: nothing left to do.
    done: bool,
    /// Look again as soon as a job ends (the slots were full, or a full batch was claimed).
    wake_early: bool,
    /// A step failed: back off before the next poll.
    failed: bool,
}

impl Worker {
    pub fn new(
        settings: WorkerSettings,
        tasks: TaskSet,
        redis: Redis,
        metrics: Arc<Metrics>,
        probe: Arc<Probe>,
    ) -> Self {
        Worker {
            settings,
            tasks,
            redis,
            metrics,
            probe,
        }
    }

    /// arq's in-progress TTL: the longest timeout of any function, plus 10 s.
    fn arq_in_progress_ttl(&self) -> Duration {
        let max = self
            .tasks
            .max_timeout()
            .unwrap_or(Duration::ZERO)
            .max(self.settings.job_timeout);
        max + Duration::from_secs(10)
    }

    fn functions(&self) -> HashMap<String, Entry> {
        let mut functions = HashMap::new();
        for f in self.tasks.functions.values() {
            let entry = Entry {
                call: f.call.clone(),
                options: f.options.clone(),
                is_cron: false,
            };
            functions.insert(f.name.clone(), entry);
        }
        for c in &self.tasks.cron_jobs {
            let entry = Entry {
                call: c.call.clone(),
                options: c.options.clone(),
                is_cron: true,
            };
            functions.insert(c.name.clone(), entry);
        }
        functions
    }

    /// Runs until `shutdown` is cancelled (or, in burst mode, the queue is empty), then drains.
    /// Hooks' errors stop the worker before it claims anything.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        if let Some(hook) = &self.tasks.on_startup {
            hook()
                .await
                .map_err(|e| anyhow::anyhow!("on_startup failed: {e}"))?;
        }
        let s = self.settings.clone();
        let arq_ttl = self.arq_in_progress_ttl();
        let lease_ttl = s.heartbeat_ttl.map_or(arq_ttl, |h| h.min(arq_ttl));
        let identity = Arc::new(
            Identity::acquire(
                &self.redis,
                &s.queue_name,
                s.worker_id.as_deref(),
                lease_ttl,
            )
            .await?,
        );
        let leases = Arc::new(Leases::default());
        let give_up = CancellationToken::new();
        let (finisher, finisher_task) = Finisher::spawn(FinisherParts {
            redis: self.redis.clone(),
            queue: s.queue_name.clone(),
            lease_set: identity.lease_set.clone(),
            metrics: self.metrics.clone(),
            give_up: give_up.clone(),
        });
        let renew_stop = CancellationToken::new();
        let renewer = renew::Renewer {
            redis: self.redis.clone(),
            leases: leases.clone(),
            identity: identity.clone(),
            ttl: lease_ttl,
            metrics: self.metrics.clone(),
        };
        let renew_task = tokio::spawn(renewer.run(renew_stop.clone()));
        let functions = self.functions();
        let max_tries_any = functions
            .values()
            .filter_map(|e| e.options.max_tries)
            .chain([s.max_tries])
            .max()
            .unwrap_or(s.max_tries);
        let (job_done, done_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            settings: s.clone(),
            functions,
            max_tries_any,
            redis: self.redis.clone(),
            finisher,
            metrics: self.metrics.clone(),
            counters: Counters::default(),
            leases: leases.clone(),
            identity: identity.clone(),
            lease_ttl,
            next_token: AtomicU64::new(1),
            job_done,
        });
        info!(
            queue = %s.queue_name,
            codec = s.codec.name(),
            max_jobs = s.max_jobs,
            functions = shared.functions.len(),
            worker_id = %identity.id,
            lease_ttl = ?lease_ttl,
            redis = %self.redis.masked_url(),
            "worker starting"
        );
        let mut poller = Poller {
            running: Running::new(done_rx),
            health: health::HealthWriter::new(&shared),
            crons: cron::CronScheduler::new(&self.tasks.cron_jobs, s.timezone),
            stop_jobs: CancellationToken::new(),
            burst_started: 0,
            seen_connections: 0,
            last_abort_clean: None,
            stuck: stuck::StuckCheck::default(),
            shared,
        };
        let wake = Arc::new(Notify::new());
        let wakeup_stop = CancellationToken::new();
        tokio::spawn(wakeup::run(
            self.redis.clone(),
            s.queue_name.clone(),
            wake.clone(),
            wakeup_stop.clone(),
        ));
        self.probe.set_started();

        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        loop {
            self.probe.turned();
            if shutdown.is_cancelled() || identity.lost.is_cancelled() {
                break;
            }
            poller.running.reap();
            let polled = poller.poll(&shutdown).await;
            if polled.done {
                break;
            }
            let delay = if polled.failed {
                backoff.next_delay()
            } else {
                backoff.reset();
                s.poll_delay
            };
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = identity.lost.cancelled() => {}
                _ = tokio::time::sleep(delay) => {}
                _ = poller.running.next_done(), if polled.wake_early => {
                    // Finishes land in batches: let the rest of the batch's jobs end so one
                    // claim fills many slots instead of one claim per freed slot.
                    tokio::task::yield_now().await;
                }
                _ = wake.notified() => {}
            }
        }
        wakeup_stop.cancel();
        self.probe.set_stopping();
        let graceful_end = s.burst && !shutdown.is_cancelled() && !identity.lost.is_cancelled();
        poller.drain(graceful_end, give_up.clone()).await;

        let deadline = Instant::now() + FLUSH_DEADLINE;
        if let Some(hook) = &self.tasks.on_shutdown {
            match tokio::time::timeout_at(deadline, hook()).await {
                Ok(Err(e)) => warn!(error = %e, "on_shutdown failed"),
                Err(_) => warn!("on_shutdown did not end before the flush deadline"),
                Ok(Ok(())) => {}
            }
        }
        let _ = tokio::time::timeout_at(deadline, poller.health.delete(&poller.shared)).await;
        // Dropping the last Finisher lets the writer end once it has written what is queued.
        drop(poller);
        if tokio::time::timeout_at(deadline, finisher_task)
            .await
            .is_err()
        {
            give_up.cancel();
        }
        renew_stop.cancel();
        let _ = renew_task.await;
        if identity.lost.is_cancelled() {
            anyhow::bail!(
                "worker identity {:?} was taken over by another process",
                identity.id
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), identity.release(&self.redis)).await;
        info!("worker stopped");
        Ok(())
    }
}

impl Poller {
    /// One poll: claim, aborts, health, cron, and the burst check, each step on its own.
    async fn poll(&mut self, shutdown: &CancellationToken) -> Polled {
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
        let free = s.max_jobs.saturating_sub(self.running.len());
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
    async fn drain(&mut self, graceful_end: bool, give_up: CancellationToken) {
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
