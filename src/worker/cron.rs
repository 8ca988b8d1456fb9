//! Cron: enqueue each tick of each cron job once across a fleet, with the same job ids Python
//! arq derives (`cron:{name}:{unix ms}`), so whichever worker enqueues first wins and the rest
//! find the id taken.

use super::shared::Shared;
use crate::client::{Client, Defer, EnqueueOptions};
use crate::protocol::cron::{job_id, next_run, CronTz};
use chrono::NaiveDateTime;
use lyanna_task_api::{Args, CronJob, CronSchedule};
use std::time::Duration;

struct Entry {
    name: String,
    schedule: CronSchedule,
    run_at_startup: bool,
    unique: bool,
    fixed_id: Option<String>,
    next: Option<NaiveDateTime>,
}

/// One tick to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub name: String,
    pub job_id: Option<String>,
    /// Unix ms to defer to, when the run is still ahead.
    pub defer_until_ms: Option<i64>,
}

pub(crate) struct CronScheduler {
    entries: Vec<Entry>,
    tz: CronTz,
}

impl CronScheduler {
    pub fn new(jobs: &[CronJob], tz: CronTz) -> Self {
        let entries = jobs
            .iter()
            .map(|c| Entry {
                name: c.name.clone(),
                schedule: c.schedule.clone(),
                run_at_startup: c.run_at_startup,
                unique: c.unique,
                fixed_id: c.job_id.clone(),
                next: None,
            })
            .collect();
        CronScheduler { entries, tz }
    }

    /// arq's `run_cron(n, delay)`: the ticks falling before `now + 2 * delay`; advances each
    /// entry past the ticks it returns. Pure, for tests with any clock.
    pub fn due(&mut self, now: NaiveDateTime, delay: Duration) -> Vec<Due> {
        let cutoff = now + chrono::Duration::from_std(delay * 2).unwrap_or_default();
        let mut out = Vec::new();
        for e in &mut self.entries {
            let next = match e.next {
                Some(next) => next,
                None if e.run_at_startup => now,
                None => {
                    e.next = next_run(now, &e.schedule);
                    continue;
                }
            };
            if next < cutoff {
                out.push(Self::due_tick(&self.tz, e, next, now));
                e.next = next_run(next, &e.schedule);
            } else {
                e.next = Some(next);
            }
        }
        out
    }

    fn due_tick(tz: &CronTz, e: &Entry, next: NaiveDateTime, now: NaiveDateTime) -> Due {
        let ms = tz.unix_ms(next);
        let job_id = match (&e.fixed_id, e.unique) {
            (Some(id), _) => Some(id.clone()),
            (None, true) => Some(job_id(&e.name, ms)),
            (None, false) => None,
        };
        Due {
            name: e.name.clone(),
            job_id,
            defer_until_ms: (next > now).then_some(ms),
        }
    }

    /// Enqueues what is due now. A tick another worker already enqueued is refused by its
    /// unique id, which is the point.
    pub async fn enqueue_due(&mut self, shared: &Shared) -> Result<(), redis::RedisError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let delay = shared.settings.poll_delay.max(Duration::from_millis(500));
        let due = self.due(self.tz.now_wall(), delay);
        let client = Client::new(
            shared.redis.clone(),
            shared.settings.queue_name.clone(),
            shared.settings.codec,
        );
        for d in due {
            let opts = EnqueueOptions {
                job_id: d.job_id.clone(),
                defer: d.defer_until_ms.map_or(Defer::Now, Defer::Until),
                // A tick still kept in progress ran already (perhaps on a worker whose clock
                // is ahead of ours): never enqueue it again. Additive: Python workers only
                // check the job and result keys.
                refuse_in_progress: true,
                ..EnqueueOptions::default()
            };
            match client.enqueue(&d.name, Args::default(), opts).await {
                Ok(Some(_)) => {
                    shared.metrics.cron_enqueued(&d.name);
                    tracing::debug!(name = %d.name, job_id = ?d.job_id, "cron job enqueued");
                }
                Ok(None) => {}
                Err(crate::client::ClientError::Redis(e)) => return Err(e),
                Err(e) => {
                    tracing::error!(name = %d.name, error = %e, "cron job could not be enqueued")
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyanna_task_api::TaskSet;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").unwrap()
    }

    #[test]
    fn first_poll_schedules_then_enqueues_once_inside_the_window() {
        let set = TaskSet::new("t").cron("flush", CronSchedule::default(), |_, _| async {
            Ok(lyanna_task_api::Value::None)
        });
        let mut s = CronScheduler::new(&set.cron_jobs, CronTz::utc());
        let d = Duration::from_millis(500);
        assert!(s.due(at("2026-11-25T10:00:30"), d).is_empty());
        assert!(s.due(at("2026-11-25T10:00:58.5"), d).is_empty());
        let due = s.due(at("2026-11-25T10:00:59.5"), d);
        assert_eq!(due.len(), 1);
        let ms = CronTz::utc().unix_ms(at("2026-11-25T10:01:00.123456"));
        assert_eq!(
            due[0].job_id.as_deref(),
            Some(format!("cron:flush:{ms}").as_str())
        );
        assert_eq!(due[0].defer_until_ms, Some(ms));
        assert!(s.due(at("2026-11-25T10:00:59.9"), d).is_empty());
    }
}
