//! The cron page: each cron job of the running task set with its schedule, its next run (the
//! same arithmetic the scheduler uses, in the worker's zone: see [`upcoming`]) and its last
//! run: the newest stored result of its unique ids (`{name}:{unix ms}`), or, as arq's cron
//! keeps no result by default (`keep_result=0`), the newest tick whose in-progress key is
//! still kept (arq keeps it 60 s after the run so no worker runs the tick again).

use super::display::{exception, repr, ROW_REPR};
use super::results::decode;
use super::{ids, Dashboard};
use crate::client::ClientError;
use crate::protocol::cron::{next_run, CronTz};
use chrono::{Duration, NaiveDateTime};
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
    /// The last run's tick (Unix ms), from its id.
    pub last_run_ms: Option<i64>,
    /// `ok: <repr>`, `failed: Class: message`, `running`, `ran (no result kept)`, or empty
    /// when nothing is known.
    pub last_result: String,
}

/// The first run of `s` after `now`: the one the scheduler fires next.
///
/// Not `next_run(now)`: arq's `next_cron` starts one second after its argument, which is
/// right for the scheduler (it chains from the previous run) but skips a run still due
/// later in the current second (at 12:00:03.100 an every-second job at .123456 runs next at
/// 12:00:03.123456, while `next_run(now)` says 12:00:04.123456). Starting a second earlier
/// finds the runs from the current second on; one already past means the one after it.
pub fn upcoming(now: NaiveDateTime, s: &CronSchedule) -> Option<NaiveDateTime> {
    match next_run(now - Duration::seconds(1), s)? {
        n if n > now => Some(n),
        _ => next_run(now, s),
    }
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
        let ks = self.report(super::keyspace::look(&mut conn).await)?;
        let now = view.tz.now_wall();
        let mut rows = Vec::new();
        for (name, schedule) in &view.jobs {
            let tick_of = |id: &[u8]| -> Option<i64> {
                let tail = id.strip_prefix(name.as_bytes())?.strip_prefix(b":")?;
                std::str::from_utf8(tail).ok()?.parse().ok()
            };
            let newest = |ids: &[Vec<u8>]| {
                ids.iter()
                    .filter_map(|id| tick_of(id).map(|ms| (ms, id.clone())))
                    .max()
            };
            let mut row = CronRow {
                name: name.clone(),
                schedule: schedule_text(schedule),
                next_run_ms: upcoming(now, schedule).map(|t| view.tz.unix_ms(t)),
                last_run_ms: None,
                last_result: String::new(),
            };
            let result = newest(&ks.result_ids);
            let kept = newest(&ks.in_progress_ids);
            match (result, kept) {
                (Some((ms, id)), k) if k.as_ref().is_none_or(|(k, _)| *k <= ms) => {
                    let raw: Option<Vec<u8>> = self.report(
                        redis::cmd("GET")
                            .arg(ids::result_key(&id))
                            .query_async(&mut conn)
                            .await,
                    )?;
                    row.last_run_ms = Some(ms);
                    if let Some(r) = raw.and_then(|b| decode(self.codec, &b)) {
                        row.last_result = match exception(&r) {
                            None => format!("ok: {}", repr(&r.result, ROW_REPR)),
                            Some((class, msg)) => format!("failed: {class}: {msg}"),
                        };
                    }
                }
                (_, Some((ms, id))) => {
                    let queued: Option<f64> = self.report(
                        redis::cmd("ZSCORE")
                            .arg(&self.queue)
                            .arg(&id)
                            .query_async(&mut conn)
                            .await,
                    )?;
                    row.last_run_ms = Some(ms);
                    row.last_result = if queued.is_some() {
                        "running".into()
                    } else {
                        "ran (no result kept: arq's cron default keep_result=0)".into()
                    };
                }
                _ => {}
            }
            rows.push(row);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").unwrap()
    }

    #[test]
    fn upcoming_is_the_first_run_after_now() {
        let every_second = CronSchedule {
            second: None,
            ..CronSchedule::default()
        };
        let cases = [
            // Early in the second: this second's run is still ahead.
            ("2026-12-02T12:00:03.100", "2026-12-02T12:00:03.123456"),
            ("2026-12-02T12:00:03.000", "2026-12-02T12:00:03.123456"),
            // Exactly at a run, or past it: the next second's.
            ("2026-12-02T12:00:03.123456", "2026-12-02T12:00:04.123456"),
            ("2026-12-02T12:00:03.500", "2026-12-02T12:00:04.123456"),
            ("2026-12-02T12:00:59.900", "2026-12-02T12:01:00.123456"),
        ];
        for (now, want) in cases {
            assert_eq!(upcoming(at(now), &every_second), Some(at(want)), "{now}");
        }
        // Every minute at second 0: same rule one level up.
        let minute = CronSchedule::default();
        assert_eq!(
            upcoming(at("2026-12-02T12:01:00.050"), &minute),
            Some(at("2026-12-02T12:01:00.123456"))
        );
        assert_eq!(
            upcoming(at("2026-12-02T12:01:00.200"), &minute),
            Some(at("2026-12-02T12:02:00.123456"))
        );
        assert_eq!(
            upcoming(at("2026-12-02T12:00:59.900"), &minute),
            Some(at("2026-12-02T12:01:00.123456"))
        );
    }

    #[test]
    fn schedule_lists_the_restricting_fields() {
        assert_eq!(
            schedule_text(&CronSchedule::default()),
            "second={0} microsecond=123456"
        );
    }
}
