//! The worker: polls a queue, claims due jobs, runs them, finishes them; plus aborts, cron,
//! the health key, and the renewer that keeps each running job's lease. One module per step
//! of a job's life: [`claim`] -> [`admission`] -> [`call`] -> [`outcome`] -> [`finish`]
//! ([`execute`] strings the middle three together; `running.rs` holds the running jobs, each
//! fenced by its [`lease`]; the poll loop's steps are in `poll.rs`, its claims in flight in
//! `inflight.rs`, the size of each claim in `slots.rs`, and when a claim may go ahead of the
//! free slots in `ahead.rs`). Beside them: [`renew`], [`identity`], [`abort`], [`cron`],
//! [`health`], `stuck` and [`wakeup`]. What they share is in [`shared`], below all of them.

pub mod abort;
pub mod admission;
mod ahead;
pub mod call;
pub mod claim;
pub mod cron;
pub mod execute;
pub mod finish;
pub mod health;
pub mod identity;
mod inflight;
pub mod lease;
pub mod log;
pub mod outcome;
mod poll;
pub mod renew;
mod running;
pub mod settings;
pub mod shared;
mod slots;
mod stuck;
pub mod wakeup;

pub use identity::IdentityError;
pub use settings::WorkerSettings;
pub use shared::Counters;

use crate::admin::Probe;
use crate::conn::{Backoff, Redis};
use crate::metrics::Metrics;
use finish::{Finisher, FinisherParts};
use identity::Identity;
use lease::Leases;
use lyanna_task_api::TaskSet;
use running::Running;
use shared::{Entry, Shared};
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
/// job_completion_wait plus this plus a few seconds (the poll grace, the health key and the
/// identity's release: about 10 s in all when Redis is silent).
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// How long a poll in flight when shutdown begins may still run.
const POLL_GRACE: Duration = Duration::from_secs(1);

/// How long to wait before the next poll: poll_delay, or a growing backoff after a failure.
fn next_delay(backoff: &mut Backoff, failed: bool, poll_delay: Duration) -> Duration {
    if failed {
        backoff.next_delay()
    } else {
        backoff.reset();
        poll_delay
    }
}

/// A worker for one queue and task set.
pub struct Worker {
    settings: WorkerSettings,
    tasks: TaskSet,
    redis: Redis,
    metrics: Arc<Metrics>,
    probe: Arc<Probe>,
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

    fn functions(&self) -> shared::Map<String, Entry> {
        let mut functions = shared::Map::default();
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
            finishing: Default::default(),
            slot_freed: Default::default(),
            permits: ahead::Permits::new(s.max_jobs),
            ahead: Default::default(),
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
        let mut poller = poll::Poller {
            running: Running::new(done_rx),
            health: health::HealthWriter::new(&shared),
            crons: cron::CronScheduler::new(&self.tasks.cron_jobs, s.timezone),
            stop_jobs: CancellationToken::new(),
            burst_started: 0,
            seen_connections: 0,
            last_abort_clean: None,
            stuck: stuck::StuckCheck::default(),
            claims: Default::default(),
            more_due: true,
            last_quiet: false,
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
        let mut next_poll = Instant::now();
        let mut poll_now = true;
        loop {
            self.probe.turned();
            if shutdown.is_cancelled() || identity.lost.is_cancelled() {
                break;
            }
            poller.running.reap();
            // The last job ended (reaped just now) since the last poll looked at the queue:
            // the burst may be over, look now rather than a poll_delay later.
            poll_now |= poller.burst_may_be_over();
            if poll_now {
                // A poll stuck on a silent Redis (each command waits out its timeout) must
                // not hold the shutdown back.
                let polled = tokio::select! {
                    p = poller.poll(&shutdown) => p,
                    _ = async {
                        shutdown.cancelled().await;
                        tokio::time::sleep(POLL_GRACE).await;
                    } => break,
                };
                if polled.done {
                    break;
                }
                next_poll = Instant::now() + next_delay(&mut backoff, polled.failed, s.poll_delay);
            }
            poll_now = true;
            // In burst mode the queue empties when the last running job's finish is written:
            // look again then, not a poll_delay later.
            let wake_on_slot = poller.wants_slots() || (s.burst && poller.running.len() > 0);
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = identity.lost.cancelled() => {}
                _ = tokio::time::sleep_until(next_poll) => {}
                Some(done) = poller.claims.next(), if !poller.claims.is_empty() => {
                    match poller.claimed(done) {
                        poll::Landed::Full => {}
                        poll::Landed::Short => poll_now = false,
                        poll::Landed::Failed => {
                            poll_now = false;
                            next_poll = Instant::now() + next_delay(&mut backoff, true, s.poll_delay);
                        }
                    }
                }
                _ = poller.running.next_done(), if wake_on_slot => {
                    // Finishes land in batches: let the rest of the batch's jobs end so one
                    // claim fills many slots instead of one claim per freed slot.
                    poller.running.settle(&poller.shared).await;
                }
                // A function returned: its slot is free while its finish is written.
                _ = poller.shared.slot_freed.notified(), if wake_on_slot => {
                    poller.running.settle(&poller.shared).await;
                }
                _ = wake.notified() => {}
            }
        }
        // A claim in flight when shutdown begins gets a moment to answer, so the jobs it has
        // claimed are started (or handed back) rather than left to lapse.
        poller.land_claims(POLL_GRACE).await;
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
        // Finishes already given up on (Redis took none of them in the flush deadline): the
        // health key gets a second, not another whole deadline, and the writer is not awaited.
        let gave_up = give_up.is_cancelled();
        let redis_deadline = if gave_up {
            deadline.min(Instant::now() + Duration::from_secs(1))
        } else {
            deadline
        };
        let _ = tokio::time::timeout_at(redis_deadline, poller.health.delete(&poller.shared)).await;
        // Dropping the last Finisher lets the writer end once it has written what is queued.
        drop(poller);
        // After giving up the writer may still wait out a command timeout: not for us.
        if gave_up
            || tokio::time::timeout_at(deadline, finisher_task)
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
