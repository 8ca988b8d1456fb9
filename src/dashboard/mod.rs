//! The dashboard's read model and actions, shared by the web pages (`crate::ui`) and the CLI
//! (`lyanna-worker jobs / retry / delete`). It reads only what arq writes (the queue's sorted
//! set, job, in-progress, retry and result keys, health keys) plus our additive per-worker
//! health keys, and its actions are arq client calls: abort is `Job.abort`, retry is
//! `enqueue_job` with the failed job's function and arguments, delete is the result key's DEL.
//!
//! - `ids.rs`: job ids as bytes -> key names, URL segments.
//! - `keyspace.rs`: the SCAN passes (results, in-progress keys, health keys).
//! - `results.rs`: the index of stored results (decoded once per key).
//! - `overview.rs`: per queue counts, workers, throughput.
//! - `jobs.rs`: listings with paging and filters; `job.rs`: one job's page.
//! - `actions.rs`: abort, retry, delete. `cron.rs`: the running task set's cron jobs.
//! - `display.rs`: reprs, exceptions, times (pure).

mod actions;
mod cron;
pub mod display;
pub mod ids;
mod job;
mod jobs;
pub mod keyspace;
mod overview;
pub mod results;

pub use actions::ActionError;
pub use cron::{CronRow, CronView};
pub use job::JobDetail;
pub use jobs::{JobPage, JobQuery, JobRow, State, DEFAULT_LIMIT};
pub use overview::{Overview, QueueRow, Throughput, WorkerKind, WorkerRow};

use crate::client::ClientError;
use crate::codec::Codec;
use crate::conn::Redis;
use results::ResultIndex;

/// The read model of one Redis database, seen from one queue (the default of every page).
pub struct Dashboard {
    redis: Redis,
    queue: String,
    codec: Codec,
    results: tokio::sync::Mutex<ResultIndex>,
    /// The health keys last found, and when: the keyspace pass that finds them is the
    /// overview's costliest read, and workers come and go slowly (see `overview.rs`).
    health: std::sync::Mutex<Option<(std::time::Instant, Vec<keyspace::HealthKey>)>>,
}

impl Dashboard {
    pub fn new(redis: Redis, queue: impl Into<String>, codec: Codec) -> Self {
        Dashboard {
            redis,
            queue: queue.into(),
            codec,
            results: tokio::sync::Mutex::new(ResultIndex::default()),
            health: std::sync::Mutex::new(None),
        }
    }

    /// The queue pages show when none is asked for (the worker's).
    pub fn queue(&self) -> &str {
        &self.queue
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    async fn conn(&self) -> Result<redis::aio::MultiplexedConnection, ClientError> {
        Ok(self.redis.conn().await?)
    }

    fn report<T>(&self, r: redis::RedisResult<T>) -> Result<T, ClientError> {
        r.map_err(|e| {
            self.redis.report(&e);
            ClientError::Redis(e)
        })
    }

    fn client(&self, queue: &str) -> crate::client::Client {
        crate::client::Client::new(self.redis.clone(), queue, self.codec)
    }
}
