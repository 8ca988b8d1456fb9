//! The dashboard's actions, each an arq client call: abort (`Job.abort`: a deferred job moved
//! to the front, then `ZADD arq:abort`), retry (`enqueue_job` of a failed job's function and
//! arguments, under a new id or, with the result deleted in the same script, its own) and
//! delete (the result's DEL, which frees the id for `enqueue_job(_job_id=...)`).

use super::{ids, Dashboard};
use crate::client::{is_cancelled, ClientError, EnqueueOptions, JobStatus};
use crate::protocol::job::Job;
use crate::protocol::{keys, now_ms};
use std::sync::LazyLock;
use std::time::Duration;

static RETRY_SAME_ID: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("retry_same_id.lua")));

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no job with this id")]
    NotFound,
    #[error("{0}")]
    NotApplicable(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl From<redis::RedisError> for ActionError {
    fn from(e: redis::RedisError) -> Self {
        ActionError::Client(ClientError::Redis(e))
    }
}

fn text_id(id: &[u8]) -> Result<&str, ActionError> {
    std::str::from_utf8(id).map_err(|_| {
        ActionError::NotApplicable("the id is not text; arq clients cannot name it".into())
    })
}

impl Dashboard {
    /// arq's abort of a queued, deferred or running job (the worker must allow aborts).
    pub async fn abort(&self, queue: &str, id: &[u8]) -> Result<(), ActionError> {
        let id = text_id(id)?;
        let client = self.client(queue);
        match client.status(id).await? {
            JobStatus::NotFound => Err(ActionError::NotFound),
            JobStatus::Complete => Err(ActionError::NotApplicable(
                "the job has finished; nothing to abort".into(),
            )),
            _ => {
                client.abort(id, Duration::ZERO).await?;
                Ok(())
            }
        }
    }

    /// Enqueues a failed job again with its function and arguments; returns the id enqueued.
    /// `same_id`: the failed result is deleted and the job enqueued under its own id, in one
    /// script, so no other producer can take the id in between.
    pub async fn retry(
        &self,
        queue: &str,
        id: &[u8],
        same_id: bool,
    ) -> Result<String, ActionError> {
        let id = text_id(id)?;
        let mut conn = self.conn().await?;
        let raw: Option<Vec<u8>> = self.report(
            redis::cmd("GET")
                .arg(keys::result(id))
                .query_async(&mut conn)
                .await,
        )?;
        let Some(raw) = raw else {
            return Err(match self.client(queue).status(id).await? {
                JobStatus::NotFound => ActionError::NotFound,
                s => ActionError::NotApplicable(format!(
                    "the job has no result yet ({}); only a failed job is retried",
                    s.as_str()
                )),
            });
        };
        let r = super::results::decode(self.codec, &raw).ok_or_else(|| {
            ActionError::NotApplicable(format!(
                "the result does not decode as {}; cannot read its arguments",
                self.codec.name()
            ))
        })?;
        if r.success {
            return Err(ActionError::NotApplicable(
                "the job succeeded; only a failed job is retried".into(),
            ));
        }
        let target = if r.queue_name.is_empty() || r.queue_name == "<unknown>" {
            queue.to_string()
        } else {
            r.queue_name.clone()
        };
        if !same_id {
            let opts = EnqueueOptions {
                queue: Some(target),
                ..EnqueueOptions::default()
            };
            return match self
                .client(queue)
                .enqueue(&r.function, r.args, opts)
                .await?
            {
                Some(new) => Ok(new),
                None => Err(ActionError::NotApplicable("the new id is taken".into())),
            };
        }
        let now = now_ms();
        let job = Job {
            job_try: None,
            function: r.function.clone(),
            args: r.args,
            enqueue_time_ms: now,
        };
        let payload = self
            .codec
            .encode_fields(&job.fields())
            .map_err(ClientError::Codec)?;
        let done: i64 = self.report(
            RETRY_SAME_ID
                .key(keys::job(id))
                .key(keys::result(id))
                .key(&target)
                .key(keys::in_progress(id))
                .arg(payload)
                .arg(keys::EXPIRES_EXTRA_MS)
                .arg(now)
                .arg(id)
                .arg(raw)
                .invoke_async(&mut conn)
                .await,
        )?;
        self.results.lock().await.forget(id.as_bytes());
        match done {
            1 => Ok(id.to_string()),
            -1 => Err(ActionError::NotApplicable(
                "the result changed meanwhile; look again".into(),
            )),
            _ => Err(ActionError::NotApplicable(
                "a job with this id is queued or running".into(),
            )),
        }
    }

    /// Deletes the job's result (arq: `redis.delete(result_key_prefix + job_id)`).
    pub async fn delete_result(&self, queue: &str, id: &[u8]) -> Result<(), ActionError> {
        let mut conn = self.conn().await?;
        let n: i64 = self.report(
            redis::cmd("DEL")
                .arg(ids::result_key(id))
                .query_async(&mut conn)
                .await,
        )?;
        self.results.lock().await.forget(id);
        if n == 1 {
            return Ok(());
        }
        match self.job(queue, id).await?.exists() {
            false => Err(ActionError::NotFound),
            true => Err(ActionError::NotApplicable("the job has no result".into())),
        }
    }

    /// Whether a stored result is arq's abort marker (for the CLI's messages).
    pub async fn was_aborted(&self, queue: &str, id: &str) -> Result<bool, ClientError> {
        let (r, _) = self.client(queue).result_now(id).await?;
        Ok(r.is_some_and(|r| is_cancelled(&r)))
    }
}
