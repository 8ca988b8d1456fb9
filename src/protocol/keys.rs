//! Redis key names arq uses. Only the queue set and the health key carry the queue name; job,
//! in-progress, retry and result keys are global (`arq:` prefix), so a job id is unique across
//! queues on one Redis database.

pub const JOB_PREFIX: &str = "arq:job:";
pub const IN_PROGRESS_PREFIX: &str = "arq:in-progress:";
pub const RETRY_PREFIX: &str = "arq:retry:";
pub const RESULT_PREFIX: &str = "arq:result:";
pub const ABORT_SET: &str = "arq:abort";
pub const DEFAULT_QUEUE: &str = "arq:queue";
pub const HEALTH_SUFFIX: &str = ":health-check";

/// Seconds the retry counter outlives its last start (arq's constant).
pub const RETRY_TTL_S: i64 = 88_400;
/// How long a cron job's in-progress key is kept after it finishes, so no worker runs the same
/// tick again (arq's `keep_cronjob_progress`).
pub const CRON_KEEP_IN_PROGRESS_MS: i64 = 60_000;
/// Abort requests older than this are dropped.
pub const ABORT_MAX_AGE_MS: i64 = 60_000;
/// Default job expiry beyond its start time (arq's `expires_extra_ms`).
pub const EXPIRES_EXTRA_MS: i64 = 86_400_000;

pub fn job(id: &str) -> String {
    format!("{JOB_PREFIX}{id}")
}
pub fn in_progress(id: &str) -> String {
    format!("{IN_PROGRESS_PREFIX}{id}")
}
pub fn retry(id: &str) -> String {
    format!("{RETRY_PREFIX}{id}")
}
pub fn result(id: &str) -> String {
    format!("{RESULT_PREFIX}{id}")
}
pub fn health(queue: &str) -> String {
    format!("{queue}{HEALTH_SUFFIX}")
}
/// Ours, additive: one worker's copy of its health string (arq's key is shared by the queue's
/// workers, so it shows only the last writer).
pub fn worker_health(queue: &str, worker_id: &str) -> String {
    format!("{queue}{WORKER_HEALTH_INFIX}{worker_id}")
}
pub const WORKER_HEALTH_INFIX: &str = ":lyanna:health:";

#[cfg(test)]
mod tests {
    #[test]
    fn names_match_arq() {
        assert_eq!(super::job("ab"), "arq:job:ab");
        assert_eq!(super::in_progress("ab"), "arq:in-progress:ab");
        assert_eq!(super::retry("ab"), "arq:retry:ab");
        assert_eq!(super::result("ab"), "arq:result:ab");
        assert_eq!(super::health("arq:queue"), "arq:queue:health-check");
        assert_eq!(super::health("q2"), "q2:health-check");
    }
}
