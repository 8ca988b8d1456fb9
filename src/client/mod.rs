//! The client: what a producer or operator does to a queue (enqueue, status, result, abort,
//! queue summary). The same operations as arq's `ArqRedis` / `Job`, for Rust producers and
//! for the CLI.

mod inspect;

pub use inspect::{is_cancelled, JobStatus, QueueSummary};

use crate::codec::{Codec, CodecError};
use crate::conn::Redis;
use crate::protocol::job::Job;
use crate::protocol::{keys, now_ms};
use lyanna_task_api::{Args, Value};
use std::sync::LazyLock;
use std::time::Duration;

static ENQUEUE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("enqueue.lua")));

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cannot serialize the job: {0}")]
    Codec(#[from] CodecError),
    #[error("{0}")]
    Invalid(String),
}

/// When a job may start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Defer {
    Now,
    By(Duration),
    /// Unix ms.
    Until(i64),
}

/// Everything about one enqueue (arq's `enqueue_job` underscore arguments).
#[derive(Debug, Clone)]
pub struct EnqueueOptions {
    pub job_id: Option<String>,
    pub queue: Option<String>,
    pub defer: Defer,
    pub expires: Option<Duration>,
    pub job_try: Option<i64>,
    /// Also refuse the id while its in-progress key exists (our cron enqueue: a tick kept in
    /// progress has run). Python producers do not check this.
    pub refuse_in_progress: bool,
}

impl Default for EnqueueOptions {
    fn default() -> Self {
        EnqueueOptions {
            job_id: None,
            queue: None,
            defer: Defer::Now,
            expires: None,
            job_try: None,
            refuse_in_progress: false,
        }
    }
}

/// A queue client.
#[derive(Clone)]
pub struct Client {
    redis: Redis,
    queue: String,
    codec: Codec,
}

impl Client {
    pub fn new(redis: Redis, queue: impl Into<String>, codec: Codec) -> Self {
        Client {
            redis,
            queue: queue.into(),
            codec,
        }
    }

    pub fn queue(&self) -> &str {
        &self.queue
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    pub(crate) async fn conn(&self) -> Result<redis::aio::MultiplexedConnection, ClientError> {
        Ok(self.redis.conn().await?)
    }

    pub(crate) fn report<T>(&self, r: Result<T, redis::RedisError>) -> Result<T, ClientError> {
        r.map_err(|e| {
            self.redis.report(&e);
            ClientError::Redis(e)
        })
    }

    /// Enqueues `function(*args, **kwargs)`. Returns the job id, or `None` when a job or
    /// result with that id already exists (arq's unique-id rule).
    pub async fn enqueue(
        &self,
        function: &str,
        args: Args,
        opts: EnqueueOptions,
    ) -> Result<Option<String>, ClientError> {
        let id = opts
            .job_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let queue = opts.queue.as_deref().unwrap_or(&self.queue);
        let now = now_ms();
        let score = match opts.defer {
            Defer::Now => now,
            Defer::By(d) => now + d.as_millis() as i64,
            Defer::Until(ms) => ms,
        };
        let expires_ms = match opts.expires {
            Some(d) => d.as_millis() as i64,
            None => score - now + keys::EXPIRES_EXTRA_MS,
        };
        if expires_ms <= 0 {
            return Err(ClientError::Invalid(format!(
                "the job would expire before it is enqueued (expiry {expires_ms} ms)"
            )));
        }
        let job = Job {
            job_try: opts.job_try,
            function: function.to_string(),
            args,
            enqueue_time_ms: now,
        };
        let payload = self.codec.encode_fields(&job.fields())?;
        let mut conn = self.conn().await?;
        let mut inv = ENQUEUE.key(keys::job(&id));
        inv.key(keys::result(&id))
            .key(queue)
            .arg(payload)
            .arg(expires_ms)
            .arg(score)
            .arg(&id);
        if opts.refuse_in_progress {
            inv.key(keys::in_progress(&id));
        }
        let added: i64 = self.report(inv.invoke_async(&mut conn).await)?;
        Ok((added == 1).then_some(id))
    }

    /// Convenience: positional arguments only, defaults otherwise.
    pub async fn enqueue_args(
        &self,
        function: &str,
        args: Vec<Value>,
    ) -> Result<Option<String>, ClientError> {
        self.enqueue(function, Args::new(args, vec![]), EnqueueOptions::default())
            .await
    }
}
