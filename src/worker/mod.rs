//! The worker: polls a queue, claims due jobs, runs them, finishes them; plus aborts, cron,
//! the health key and in-progress heartbeats. One module per step of a job's life:
//! [`claim`] -> [`execute`] -> [`finish`]; [`abort`], [`cron`], [`health`] run beside them.

pub mod abort;
pub mod claim;
pub mod cron;
pub mod execute;
pub mod finish;
pub mod health;
pub mod log;
mod running;
pub mod settings;
pub mod wakeup;

pub use settings::WorkerSettings;

use crate::admin::Probe;
use crate::conn::{Backoff, Redis};
use crate::metrics::Metrics;
use crate::protocol::now_ms;
use claim::{claim, ClaimRequest};
use execute::Outcome;
use finish::Finisher;
use lyanna_task_api::{FunctionOptions, TaskFn, TaskSet};
use running::Running;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A function or cron job as the worker looks it up by name.
#[derive(Clone)]
pub(crate) struct Entry {
    pub call: TaskFn,
    pub options: FunctionOptions,
    pub is_cron: bool,
}

/// Counters for the health string and burst limits.
#[derive(Default)]
pub struct Counters {
    pub complete: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
}

/// State every job task shares.
pub(crate) struct Shared {
    pub settings: WorkerSettings,
    pub functions: HashMap<String, Entry>,
    pub redis: Redis,
    pub finisher: Finisher,
    pub metrics: Arc<Metrics>,
    pub counters: Counters,
    /// Each job task sends its task id here as its last act: the poll loop's free slots.
    pub job_done: tokio::sync::mpsc::UnboundedSender<tokio::task::Id>,
}

/// A worker for one queue and task set.
pub struct Worker {
    shared: Arc<Shared>,
    tasks: TaskSet,
    probe: Arc<Probe>,
    done_rx: Option<tokio::sync::mpsc::UnboundedReceiver<tokio::task::Id>>,
    finisher_task: Option<tokio::task::JoinHandle<()>>,
}

impl Worker {
    pub fn new(
        settings: WorkerSettings,
        tasks: TaskSet,
        redis: Redis,
        metrics: Arc<Metrics>,
        probe: Arc<Probe>,
    ) -> Self {
        let mut functions = HashMap::new();
        for f in tasks.functions.values() {
            functions.insert(
                f.name.clone(),
                Entry {
                    call: f.call.clone(),
                    options: f.options.clone(),
                    is_cron: false,
                },
            );
        }
        for c in &tasks.cron_jobs {
            functions.insert(
                c.name.clone(),
                Entry {
                    call: c.call.clone(),
                    options: c.options.clone(),
                    is_cron: true,
                },
            );
        }
        let (finisher, finisher_task) = Finisher::spawn(redis.clone(), settings.queue_name.clone());
        let (job_done, done_rx) = tokio::sync::mpsc::unbounded_channel();
        Worker {
            shared: Arc::new(Shared {
                settings,
                functions,
                redis,
                finisher,
                metrics,
                counters: Counters::default(),
                job_done,
            }),
            tasks,
            probe,
            done_rx: Some(done_rx),
            finisher_task: Some(finisher_task),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// arq's in-progress TTL: the longest timeout of any function, plus 10 s.
    fn arq_in_progress_ttl(&self) -> Duration {
        let max = self
            .tasks
            .max_timeout()
            .unwrap_or(Duration::ZERO)
            .max(self.shared.settings.job_timeout);
        max + Duration::from_secs(10)
    }

    /// Runs until `shutdown` is cancelled (or, in burst mode, the queue is empty), then drains.
    /// Hooks' errors stop the worker before it claims anything.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        if let Some(hook) = &self.tasks.on_startup {
            hook()
                .await
                .map_err(|e| anyhow::anyhow!("on_startup failed: {e}"))?;
        }
        let s = self.shared.settings.clone();
        let arq_ttl = self.arq_in_progress_ttl();
        let ttl = s.heartbeat_ttl.map_or(arq_ttl, |h| h.min(arq_ttl));
        info!(
            queue = %s.queue_name,
            codec = s.codec.name(),
            max_jobs = s.max_jobs,
            functions = self.shared.functions.len(),
            redis = %self.shared.redis.masked_url(),
            "worker starting"
        );
        let stop_jobs = CancellationToken::new();
        let mut running = Running::new(self.done_rx.take().expect("run() is called once"));
        let mut health = health::HealthWriter::new(&self.shared);
        let mut crons = cron::CronScheduler::new(&self.tasks.cron_jobs, s.timezone);
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let wake = Arc::new(Notify::new());
        let wakeup_stop = CancellationToken::new();
        tokio::spawn(wakeup::run(
            self.shared.redis.clone(),
            s.queue_name.clone(),
            wake.clone(),
            wakeup_stop.clone(),
        ));
        let mut last_heartbeat = tokio::time::Instant::now();
        let mut burst_started: u64 = 0;
        let mut seen_connections = 0;
        self.probe.set_started();

        loop {
            self.probe.turned();
            if shutdown.is_cancelled() {
                break;
            }
            running.reap();
            let mut wake_early = false;
            let step: Result<bool, redis::RedisError> = async {
                let mut conn = self.shared.redis.conn().await?;
                let made = self.shared.redis.connections_made();
                self.shared
                    .metrics
                    .redis_connections
                    .inc_by(made - seen_connections);
                seen_connections = made;

                let free = s.max_jobs.saturating_sub(running.len());
                // Full: the next finished job frees a slot, look again then.
                wake_early = free == 0;
                let mut want = free;
                if s.burst && s.max_burst_jobs >= 0 {
                    want =
                        want.min((s.max_burst_jobs as u64).saturating_sub(burst_started) as usize);
                }
                if want > 0 && !shutdown.is_cancelled() {
                    let req = ClaimRequest {
                        queue: &s.queue_name,
                        // Python producers score with round(time * 1000), up to half a ms ahead
                        // of our truncated clock; woken by the ZADD's notification within that
                        // ms, we would find the job not yet due and sleep past it.
                        now_ms: now_ms() + 1,
                        in_progress_ttl_ms: ttl.as_millis() as i64,
                        max_claim: want,
                        read_limit: s.queue_read_limit.max(want),
                        aborts_enabled: s.allow_abort_jobs,
                    };
                    let claimed = claim(&mut conn, &req).await?;
                    tracing::debug!(
                        want,
                        claimed = claimed.len(),
                        running = running.len(),
                        "claimed"
                    );
                    // A full batch means more may be due: look again as soon as a slot frees.
                    wake_early = claimed.len() == want;
                    burst_started += claimed.len() as u64;
                    for c in claimed {
                        running.spawn(&self.shared, c, &stop_jobs);
                    }
                }
                if s.allow_abort_jobs {
                    abort::cancel_aborted(&mut conn, &running).await?;
                }
                health
                    .maybe_write(&mut conn, &self.shared, running.len())
                    .await?;
                crons.enqueue_due(&self.shared).await?;
                if let Some(h) = s.heartbeat_ttl {
                    if last_heartbeat.elapsed() >= h / 3 {
                        running.refresh_in_progress(&mut conn, ttl).await?;
                        last_heartbeat = tokio::time::Instant::now();
                    }
                }
                if s.burst {
                    if s.max_burst_jobs >= 0 && burst_started >= s.max_burst_jobs as u64 {
                        return Ok(true);
                    }
                    let queued: u64 = redis::cmd("ZCARD")
                        .arg(&s.queue_name)
                        .query_async(&mut conn)
                        .await?;
                    if queued == 0 {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            .await;
            let delay = match step {
                Ok(true) => break,
                Ok(false) => {
                    backoff.reset();
                    s.poll_delay
                }
                Err(e) => {
                    self.shared.redis.report(&e);
                    let d = backoff.next_delay();
                    warn!(error = %e, delay = ?d, "poll failed; running jobs continue");
                    d
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(delay) => {}
                _ = running.next_done(), if wake_early => {
                    // Finishes land in batches: let the rest of the batch's jobs end so one
                    // claim fills many slots instead of one claim per freed slot.
                    tokio::task::yield_now().await;
                }
                _ = wake.notified() => {}
            }
        }
        wakeup_stop.cancel();

        self.probe.set_stopping();
        info!(
            running = running.len(),
            "stopping: no new jobs will be claimed"
        );
        if s.burst && !shutdown.is_cancelled() {
            running.wait_all().await;
        } else if running.len() > 0 {
            let wait = s.job_completion_wait;
            if tokio::time::timeout(wait, running.wait_all())
                .await
                .is_err()
            {
                warn!(
                    running = running.len(),
                    "job_completion_wait over; cancelling running jobs, they will be retried"
                );
                stop_jobs.cancel();
                running.wait_all().await;
            }
        }
        if let Some(hook) = &self.tasks.on_shutdown {
            if let Err(e) = hook().await {
                warn!(error = %e, "on_shutdown failed");
            }
        }
        health.delete(&self.shared).await;
        // Dropping our Finisher lets the writer end once it has written everything queued.
        let finisher_task = self.finisher_task.take();
        drop(self);
        if let Some(t) = finisher_task {
            let _ = t.await;
        }
        info!("worker stopped");
        Ok(())
    }
}

impl Shared {
    pub(crate) fn count(&self, outcome: Outcome) {
        let c = match outcome {
            Outcome::Complete => &self.counters.complete,
            Outcome::Failed => &self.counters.failed,
            Outcome::Retried => &self.counters.retried,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}
