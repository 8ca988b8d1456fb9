//! The jobs this worker is running: their tasks, abort handles and in-progress keys.

use super::claim::Claimed;
use super::execute::run_job;
use super::Shared;
use crate::protocol::keys;
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub(crate) struct Job {
    /// The task running it: a job id can come back (a retry claimed again) while the task of
    /// its previous try is still ending.
    task: Option<tokio::task::Id>,
    pub abort: CancellationToken,
    /// Set once the payload is decoded; abort requests older than this are stale.
    pub enqueue_time_ms: Arc<AtomicI64>,
}

pub(crate) struct Running {
    tasks: JoinSet<()>,
    task_ids: HashMap<tokio::task::Id, String>,
    pub jobs: HashMap<String, Job>,
    /// Ids of jobs whose tasks are done (sent as each task's last act). A slot is free from
    /// then on, before the JoinSet reports the task joinable.
    done: tokio::sync::mpsc::UnboundedReceiver<tokio::task::Id>,
}

impl Running {
    pub fn new(done: tokio::sync::mpsc::UnboundedReceiver<tokio::task::Id>) -> Self {
        Running {
            tasks: JoinSet::new(),
            task_ids: HashMap::new(),
            jobs: HashMap::new(),
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

    /// Starts a claimed job in its own task; the task ends after its finish is written.
    pub fn spawn(&mut self, shared: &Arc<Shared>, c: Claimed, stop: &CancellationToken) {
        let abort = CancellationToken::new();
        let enqueue_time_ms = Arc::new(AtomicI64::new(i64::MAX));
        self.jobs.insert(
            c.id.clone(),
            Job {
                task: None,
                abort: abort.clone(),
                enqueue_time_ms: enqueue_time_ms.clone(),
            },
        );
        shared.metrics.in_progress.inc();
        let shared = shared.clone();
        let stop = stop.clone();
        let span = tracing::info_span!(
            "job",
            job_id = %c.id,
            function = tracing::field::Empty,
            r#try = c.job_try
        );
        let id = c.id.clone();
        let handle = self.tasks.spawn(
            async move {
                let (op, outcome) = run_job(shared.clone(), c, abort, enqueue_time_ms, stop).await;
                shared.finisher.finish(op).await;
                shared.count(outcome);
                shared.metrics.in_progress.dec();
                if let Some(task) = tokio::task::try_id() {
                    let _ = shared.job_done.send(task);
                }
            }
            .instrument(span),
        );
        if let Some(job) = self.jobs.get_mut(&id) {
            job.task = Some(handle.id());
        }
        self.task_ids.insert(handle.id(), id);
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
                // in-progress key expires and another worker retries it.
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

    /// Pushes back the expiry of our in-progress keys (the heartbeat): only a worker that died
    /// stops refreshing, so its jobs become claimable soon after.
    pub async fn refresh_in_progress(
        &self,
        conn: &mut MultiplexedConnection,
        ttl: Duration,
    ) -> redis::RedisResult<()> {
        if self.jobs.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for id in self.jobs.keys() {
            pipe.pexpire(keys::in_progress(id), ttl.as_millis() as i64)
                .ignore();
        }
        pipe.query_async::<()>(conn).await
    }
}
