//! arq's protocol as pure functions: key names, the job and result maps, the health string and
//! cron schedules. No Redis, no tokio: the worker and client call these and never build keys or
//! payloads inline.

pub mod cron;
pub mod health;
pub mod job;
pub mod keys;

/// Unix time in milliseconds, as arq's `timestamp_ms()`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
