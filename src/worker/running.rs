//! The jobs this worker is running: their tasks, leases and abort handles. Each job's future
//! runs fenced by its lease (see [`super::lease`]): once the lease is no longer confirmed the
//! future is dropped without another poll and nothing of the run is written.

use super::claim::Claimed;
use super::execute::run_job;
use super::finish::Written;
use super::lease::{fenced, Lease};
use super::shared::{Finishing, Map, Shared};
use crate::conn::JobTag;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{warn, Instrument};

/// Most yields of one [`Running::settle`]: bounds the wait when jobs end in a steady stream.
const SETTLE_ROUNDS: usize = 16;

pub(crate) struct Job {
    /// The task running it: a job id can come back (a retry claimed again) while the task of
    /// its previous try is still ending.
    task: Option<tokio::task::Id>,
    pub abort: CancellationToken,
    /// Set once the payload is decoded; abort requests much older than this are stale.
    pub enqueue_time_ms: Arc<AtomicI64>,
}

pub(crate) struct Running {
    tasks: JoinSet<()>,
    task_ids: Map<tokio::task::Id, Vec<u8>>,
    /// By the id as Redis holds it.
    pub jobs: Map<Vec<u8>, Job>,
    /// Ids of jobs whose tasks are done (sent as each task's last act). A slot is free from
    /// then on, before the JoinSet reports the task joinable.
    done: tokio::sync::mpsc::UnboundedReceiver<tokio::task::Id>,
}

impl Running {
    pub fn new(done: tokio::sync::mpsc::UnboundedReceiver<tokio::task::Id>) -> Self {
        Running {
            tasks: JoinSet::new(),
            task_ids: Map::default(),
            jobs: Map::default(),
            done,
        }
    }

    /// Waits for the next job to end and forgets it.
    pub async fn next_done(&mut self) {
        if let Some(task) = self.done.recv().await {
            self.task_ended(task);
        }
    }

    fn task_ended(&mut self, task: tokio::task::Id) {
        if let Some(id) = self.task_ids.remove(&task) {
            if self.jobs.get(&id).is_some_and(|j| j.task == Some(task)) {
                self.jobs.remove(&id);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Jobs that have ended and are not reaped yet.
    pub fn ended(&self) -> usize {
        self.done.len()
    }

    /// After a job's function has returned, lets the others of its batch return too (a claim
    /// fills the slots its finish batch frees together, but their tasks get there one by one,
    /// on either runtime thread): yields while more keep freeing, so the next claim fills many
    /// slots instead of one.
    pub async fn settle(&mut self, shared: &Shared) {
        let freed = |r: &Self| r.ended() + shared.finishing.load(Ordering::Acquire);
        let mut seen = freed(self);
        for _ in 0..SETTLE_ROUNDS {
            tokio::task::yield_now().await;
            let now = freed(self);
            if now == seen {
                break;
            }
            seen = now;
        }
    }

    /// Starts a claimed job in its own task; the task ends after its finish is written (or
    /// once its lease is lost).
    pub fn spawn(&mut self, shared: &Arc<Shared>, c: Claimed, stop: &CancellationToken) {
        let abort = CancellationToken::new();
        let enqueue_time_ms = Arc::new(AtomicI64::new(i64::MAX));
        let lease = Arc::new(Lease::new(
            &c.raw_id,
            c.token.clone(),
            c.sent_ms,
            shared.lease_ttl,
        ));
        shared.leases.insert(lease.clone());
        self.jobs.insert(
            c.raw_id.clone(),
            Job {
                task: None,
                abort: abort.clone(),
                enqueue_time_ms: enqueue_time_ms.clone(),
            },
        );
        shared.metrics.in_progress.inc();
        let shared = shared.clone();
        let stop = stop.clone();
        let (id, job_try) = (c.id.clone(), c.job_try);
        let raw_id = c.raw_id.clone();
        let job = async move {
            let run = run_job(shared.clone(), c, abort, enqueue_time_ms, stop);
            match fenced(lease.clone(), run).await {
                Ok((op, outcome)) => {
                    // The function is over: its slot takes the next job while this
                    // finish is written.
                    let _finishing = Finishing::new(&shared);
                    lease.mark_finishing();
                    match shared.finisher.finish(op).await {
                        Some(Written::NotOurs) => lease.count_loss(&shared.metrics),
                        // Gone at a retry: our lost-reply attempt wrote it while the lease
                        // was confirmed, or the lease lapsed first (counted once, here or by
                        // the renewer, whichever sees it first).
                        Some(Written::GoneAfterRetry) if !lease.held() => {
                            lease.count_loss(&shared.metrics);
                            warn!("finish not confirmed before the lease lapsed: written by the attempt whose reply was lost, or discarded (then the job runs again)");
                        }
                        Some(_) => shared.count(outcome),
                        None => {}
                    }
                }
                Err(_) => {
                    lease.count_loss(&shared.metrics);
                    warn!("lease lost (not confirmed in time): the run is stopped and nothing of it is written; the job runs again");
                }
            }
            shared.leases.remove(&lease);
            shared.metrics.in_progress.dec();
            if let Some(task) = tokio::task::try_id() {
                let _ = shared.job_done.send(task);
            }
        };
        // The job's lines carry its id, try and function: as a tag where the log format reads
        // tags (cheaper), else as the fields of a `job` span.
        let handle = if JobTag::enabled() {
            self.tasks.spawn(JobTag::new(id, job_try).scope(job))
        } else {
            let span = tracing::info_span!(
                "job",
                job_id = %id,
                function = tracing::field::Empty,
                r#try = job_try
            );
            self.tasks.spawn(job.instrument(span))
        };
        if let Some(job) = self.jobs.get_mut(&raw_id) {
            job.task = Some(handle.id());
        }
        self.task_ids.insert(handle.id(), raw_id);
    }

    /// Forgets jobs whose tasks have ended.
    pub fn reap(&mut self) {
        while let Ok(task) = self.done.try_recv() {
            self.task_ended(task);
        }
        while let Some(done) = self.tasks.try_join_next_with_id() {
            self.forget(done);
        }
    }

    fn forget(&mut self, done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let task = match done {
            Ok((task, ())) => task,
            Err(e) => {
                // Job tasks catch panics of task code, so this is a bug of ours; the job's
                // lease lapses and another worker retries it.
                tracing::error!(error = %e, "job task died");
                e.id()
            }
        };
        // A task that died without sending its id frees its slot here.
        self.task_ended(task);
    }

    /// Waits for every running job to finish.
    pub async fn wait_all(&mut self) {
        while let Some(done) = self.tasks.join_next_with_id().await {
            self.forget(done);
        }
        while self.done.try_recv().is_ok() {}
    }

    /// Drops every job task (at the end of the flush deadline).
    pub fn abort_all(&mut self) {
        self.tasks.abort_all();
    }
}
