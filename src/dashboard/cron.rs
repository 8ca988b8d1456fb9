//! The cron page: each cron job of the running task set with its schedule, its next run (the
//! same arithmetic the scheduler uses, in the worker's zone) and its last run's result (the
//! newest stored result of its function).

use super::display::{exception, repr, ROW_REPR};
use super::results::decode;
use super::{ids, Dashboard};
use crate::client::ClientError;
use crate::protocol::cron::{next_run, CronTz};
use lyanna_task_api::{CronJob, CronSchedule};

/// The cron jobs a worker runs, and its zone.
#[derive(Clone)]
pub struct CronView {
    pub jobs: Vec<(String, CronSchedule)>,
    pub tz: CronTz,
}

impl CronView {
    pub fn new(jobs: &[CronJob], tz: CronTz) -> Self {
        CronView {
            jobs: jobs
                .iter()
                .map(|c| (c.name.clone(), c.schedule.clone()))
                .collect(),
            tz,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CronRow {
    pub name: String,
    pub schedule: String,
    pub next_run_ms: Option<i64>,
    pub last_finish_ms: Option<i64>,
    /// `ok: <repr>`, `failed: Class: message`, or empty when no result is stored.
    pub last_result: String,
}

/// arq's `cron(...)` arguments that restrict the schedule (pure).
pub fn schedule_text(s: &CronSchedule) -> String {
    let field = |name: &str, v: &Option<Vec<u32>>| {
        v.as_ref().map(|xs| {
            let list: Vec<String> = xs.iter().map(u32::to_string).collect();
            format!("{name}={{{}}}", list.join(","))
        })
    };
    let parts: Vec<String> = [
        field("month", &s.month),
        field("day", &s.day),
        field("weekday", &s.weekday),
        field("hour", &s.hour),
        field("minute", &s.minute),
        field("second", &s.second),
    ]
    .into_iter()
    .flatten()
    .chain(std::iter::once(format!("microsecond={}", s.microsecond)))
    .collect();
    parts.join(" ")
}

impl Dashboard {
    pub async fn cron(&self, view: &CronView) -> Result<Vec<CronRow>, ClientError> {
        let mut conn = self.conn().await?;
        let found = self.report(super::keyspace::scan(&mut conn, "arq:result:cron:*").await)?;
        let present: Vec<Vec<u8>> = found
            .iter()
            .filter_map(|k| ids::id_of(k, crate::protocol::keys::RESULT_PREFIX))
            .map(<[u8]>::to_vec)
            .collect();
        let now = view.tz.now_wall();
        let mut rows = Vec::new();
        for (name, schedule) in &view.jobs {
            // Unique cron ids are `{name}:{unix ms}`: the newest tick with a result.
            let last = present
                .iter()
                .filter_map(|id| {
                    let tail = id.strip_prefix(name.as_bytes())?.strip_prefix(b":")?;
                    let ms: i64 = std::str::from_utf8(tail).ok()?.parse().ok()?;
                    Some((ms, id))
                })
                .max();
            let mut row = CronRow {
                name: name.clone(),
                schedule: schedule_text(schedule),
                next_run_ms: next_run(now, schedule).map(|t| view.tz.unix_ms(t)),
                last_finish_ms: None,
                last_result: String::new(),
            };
            if let Some((_, id)) = last {
                let raw: Option<Vec<u8>> = self.report(
                    redis::cmd("GET")
                        .arg(ids::result_key(id))
                        .query_async(&mut conn)
                        .await,
                )?;
                if let Some(r) = raw.and_then(|b| decode(self.codec, &b)) {
                    row.last_finish_ms = Some(r.finish_ms);
                    row.last_result = match exception(&r) {
                        None => format!("ok: {}", repr(&r.result, ROW_REPR)),
                        Some((class, msg)) => format!("failed: {class}: {msg}"),
                    };
                }
            }
            rows.push(row);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_lists_the_restricting_fields() {
        assert_eq!(
            schedule_text(&CronSchedule::default()),
            "second={0} microsecond=123456"
        );
    }
}
