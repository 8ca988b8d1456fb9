//! One job's page: everything arq keeps about an id, read in one pipeline: the job payload,
//! the result, the in-progress key, the retry counter, its score in the queue, a pending abort
//! request and the keys' TTLs. The status is arq's `Job.status()` over the same keys.

use super::results::decode;
use super::{ids, Dashboard};
use crate::client::{ClientError, JobStatus};
use crate::protocol::job::{Job, JobResult};
use crate::protocol::keys;

#[derive(Debug, Clone)]
pub struct JobDetail {
    pub id: Vec<u8>,
    pub queue: String,
    pub status: JobStatus,
    /// The score in the queue (due time, ms).
    pub score: Option<f64>,
    /// The payload: decoded, or why not.
    pub job: Option<Result<Job, String>>,
    pub result: Option<Result<JobResult, String>>,
    /// `arq:retry:{id}`: how many times it was started.
    pub retry_count: Option<i64>,
    pub in_progress: bool,
    /// When an abort was requested (ms), while the request is pending.
    pub abort_requested_ms: Option<i64>,
    /// PTTL of the job, in-progress and result keys (-2: no key, -1: no expiry).
    pub ttl_job_ms: i64,
    pub ttl_in_progress_ms: i64,
    pub ttl_result_ms: i64,
}

impl JobDetail {
    /// The tries as arq counts them: the result's, else the retry counter, else the job's.
    pub fn tries(&self) -> Option<i64> {
        if let Some(Ok(r)) = &self.result {
            return Some(r.job_try);
        }
        let from_job = match &self.job {
            Some(Ok(j)) => j.job_try,
            _ => None,
        };
        self.retry_count.or(from_job)
    }

    pub fn exists(&self) -> bool {
        self.status != JobStatus::NotFound || self.job.is_some()
    }
}

type Row = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    bool,
    Option<Vec<u8>>,
    Option<f64>,
    Option<f64>,
    i64,
    i64,
    i64,
);

impl Dashboard {
    pub async fn job(&self, queue: &str, id: &[u8]) -> Result<JobDetail, ClientError> {
        let mut conn = self.conn().await?;
        let (job, result, in_progress, retry, score, abort, ttl_job, ttl_ip, ttl_result): Row =
            self.report(
                redis::pipe()
                    .atomic()
                    .get(ids::job_key(id))
                    .get(ids::result_key(id))
                    .exists(ids::in_progress_key(id))
                    .get(ids::retry_key(id))
                    .zscore(queue, id)
                    .zscore(keys::ABORT_SET, id)
                    .pttl(ids::job_key(id))
                    .pttl(ids::in_progress_key(id))
                    .pttl(ids::result_key(id))
                    .query_async(&mut conn)
                    .await,
            )?;
        let status = JobStatus::from_keys(result.is_some(), in_progress, score);
        let codec = self.codec;
        let job = job.map(|p| {
            codec
                .decode(&p, crate::codec::Globals::Opaque)
                .map_err(|e| format!("cannot decode the job as {}: {e}", codec.name()))
                .and_then(|v| Job::from_value(v).map_err(|e| e.to_string()))
        });
        let result = result.map(|b| {
            decode(codec, &b)
                .ok_or_else(|| format!("the result does not decode as {}", codec.name()))
        });
        Ok(JobDetail {
            id: id.to_vec(),
            queue: queue.to_string(),
            status,
            score,
            job,
            result,
            retry_count: retry
                .and_then(|r| String::from_utf8(r).ok())
                .and_then(|r| r.trim().parse().ok()),
            in_progress,
            abort_requested_ms: abort.map(|s| s as i64),
            ttl_job_ms: ttl_job,
            ttl_in_progress_ms: ttl_ip,
            ttl_result_ms: ttl_result,
        })
    }
}
