//! What a task knows about the job it is running.

use futures::future::BoxFuture;
use std::sync::Arc;

/// Gives tasks a Redis connection to the queue's current master (it follows failovers).
pub trait RedisProvider: Send + Sync {
    fn connection(
        &self,
    ) -> BoxFuture<'_, Result<redis::aio::MultiplexedConnection, redis::RedisError>>;
}

/// Per-call context, the Rust side of arq's `ctx` dict.
#[derive(Clone)]
pub struct JobContext {
    pub job_id: String,
    /// 1 on the first run, incremented on every start (arq's `job_try`).
    pub job_try: u32,
    pub enqueue_time_ms: i64,
    /// The queue score the job was picked with (ms).
    pub score: i64,
    pub queue_name: String,
    pub redis: Option<Arc<dyn RedisProvider>>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.job_id)
            .field("job_try", &self.job_try)
            .field("enqueue_time_ms", &self.enqueue_time_ms)
            .field("score", &self.score)
            .field("queue_name", &self.queue_name)
            .finish()
    }
}

impl JobContext {
    /// A context for calling a task directly (tests, benchmarks).
    pub fn detached(job_id: impl Into<String>, job_try: u32) -> Self {
        JobContext {
            job_id: job_id.into(),
            job_try,
            enqueue_time_ms: 0,
            score: 0,
            queue_name: "arq:queue".into(),
            redis: None,
        }
    }
}
