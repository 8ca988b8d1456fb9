//! A worker's resolved settings (arq's `Worker(...)` arguments), defaults as arq's.

use crate::codec::Codec;
use crate::protocol::cron::CronTz;
use crate::protocol::keys;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub queue_name: String,
    pub codec: Codec,
    pub max_jobs: usize,
    pub job_timeout: Duration,
    pub poll_delay: Duration,
    /// How many queued ids one poll looks at (arq: max(max_jobs * 5, 100)).
    pub queue_read_limit: usize,
    /// Zero: results are not stored.
    pub keep_result: Duration,
    pub keep_result_forever: bool,
    pub max_tries: u32,
    pub health_check_interval: Duration,
    pub allow_abort_jobs: bool,
    pub burst: bool,
    /// Negative: no limit.
    pub max_burst_jobs: i64,
    pub job_completion_wait: Duration,
    /// TTL of our in-progress keys, refreshed by a heartbeat while the job runs; a crashed
    /// worker's jobs are picked up again after it (arq: the longest timeout + 10 s). `None`
    /// keeps arq's TTL and no heartbeat.
    pub heartbeat_ttl: Option<Duration>,
    pub timezone: CronTz,
    /// This worker's name; `None`: the worker derives one from the host or pod name at start.
    /// Never empty, no whitespace.
    pub worker_id: Option<String>,
    /// Key of the health-check string; `None`: arq's `{queue}:health-check`.
    pub health_check_key: Option<String>,
    /// arq's `retry_jobs`: false makes a job that asks for a retry (or is cancelled at
    /// shutdown) fail instead.
    pub retry_jobs: bool,
    /// While the recent jobs were short, a claim may take up to max_jobs jobs beyond the free
    /// slots (they wait for one; at most max_jobs functions still run at once).
    pub claim_ahead: bool,
    /// Hard cap, in bytes, of a job's decoded payload (default 256 MiB).
    pub max_job_memory: u64,
}

/// Default of [`WorkerSettings::max_job_memory`]: 256 MiB.
pub const DEFAULT_MAX_JOB_MEMORY: u64 = 256 << 20;

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            queue_name: keys::DEFAULT_QUEUE.to_string(),
            codec: Codec::Pickle,
            max_jobs: 10,
            job_timeout: Duration::from_secs(300),
            poll_delay: Duration::from_millis(500),
            queue_read_limit: 100,
            keep_result: Duration::from_secs(3600),
            keep_result_forever: false,
            max_tries: 5,
            health_check_interval: Duration::from_secs(60),
            allow_abort_jobs: false,
            burst: false,
            max_burst_jobs: -1,
            job_completion_wait: Duration::ZERO,
            // Rides out a Sentinel failover (down-after 30 s) before another worker re-runs.
            heartbeat_ttl: Some(Duration::from_secs(60)),
            timezone: CronTz::utc(),
            worker_id: None,
            health_check_key: None,
            retry_jobs: true,
            claim_ahead: true,
            max_job_memory: DEFAULT_MAX_JOB_MEMORY,
        }
    }
}

impl WorkerSettings {
    /// arq's `queue_read_limit` default for a given `max_jobs`.
    pub fn default_read_limit(max_jobs: usize) -> usize {
        (max_jobs * 5).max(100)
    }

    /// The health-check key this worker writes: [`WorkerSettings::health_check_key`], else
    /// arq's `{queue}:health-check`.
    pub fn health_key(&self) -> String {
        self.health_check_key
            .clone()
            .unwrap_or_else(|| keys::health(&self.queue_name))
    }
}
