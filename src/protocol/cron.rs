//! arq's cron arithmetic: the next run after a time, and the job id every worker derives from
//! it. Must agree with Python arq to the millisecond, or a mixed fleet runs a tick twice.
//!
//! arq works on wall-clock time in the worker's zone (Python adds timedeltas to aware
//! datetimes without looking at the zone), and converts to Unix time only for the job id and
//! the defer score, with `fold=0` (the first of two ambiguous times; a time skipped by DST is
//! read with the offset in force before the change).

use chrono::{
    Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike,
};
use lyanna_task_api::CronSchedule;

/// The zone cron times are computed in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CronTz {
    /// A fixed offset: what Python's default (`datetime.now().astimezone().tzinfo`) gives.
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl CronTz {
    pub fn utc() -> Self {
        CronTz::Fixed(FixedOffset::east_opt(0).expect("zero offset"))
    }

    /// Reads an IANA zone name (`Europe/London`), `UTC`, or a fixed offset `+05:30` / `-08:00`
    /// (Python's `timezone(timedelta(...))`).
    pub fn parse(name: &str) -> Option<Self> {
        if let Some(rest) = name.strip_prefix(['+', '-']) {
            let (h, m) = rest.split_once(':')?;
            let ok = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
            if !ok(h) || !ok(m) {
                return None;
            }
            let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) * if name.starts_with('-') { -1 } else { 1 };
            return FixedOffset::east_opt(secs).map(CronTz::Fixed);
        }
        name.parse::<chrono_tz::Tz>().ok().map(CronTz::Named)
    }

    /// The system's current offset, as Python's default fixes it at worker start.
    pub fn local_fixed() -> Self {
        Self::local_fixed_at(crate::protocol::now_ms())
    }

    /// The system's offset (`TZ`, else /etc/localtime) at `ms`: Python's
    /// `datetime.now().astimezone().tzinfo` for a worker started then.
    pub fn local_fixed_at(ms: i64) -> Self {
        let offset = chrono::Local
            .timestamp_millis_opt(ms)
            .earliest()
            .map_or(0, |t| t.offset().fix().local_minus_utc());
        CronTz::Fixed(
            FixedOffset::east_opt(offset).unwrap_or(FixedOffset::east_opt(0).expect("zero offset")),
        )
    }

    /// Wall-clock time now in this zone.
    pub fn now_wall(&self) -> NaiveDateTime {
        self.wall_at_ms(crate::protocol::now_ms())
    }

    pub fn wall_at_ms(&self, ms: i64) -> NaiveDateTime {
        let utc = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        match self {
            CronTz::Fixed(o) => utc.with_timezone(o).naive_local(),
            CronTz::Named(tz) => utc.with_timezone(tz).naive_local(),
        }
    }

    /// UTC offset in seconds for a wall time, with Python's `fold=0` rules.
    fn offset_s(&self, wall: NaiveDateTime) -> i64 {
        match self {
            CronTz::Fixed(o) => i64::from(o.local_minus_utc()),
            CronTz::Named(tz) => match tz.offset_from_local_datetime(&wall) {
                chrono::LocalResult::Single(o) => i64::from(o.fix().local_minus_utc()),
                chrono::LocalResult::Ambiguous(first, _) => {
                    i64::from(first.fix().local_minus_utc())
                }
                chrono::LocalResult::None => {
                    let before = wall - Duration::hours(3);
                    tz.offset_from_local_datetime(&before)
                        .earliest()
                        .map_or(0, |o| i64::from(o.fix().local_minus_utc()))
                }
            },
        }
    }

    /// arq's `to_unix_ms(dt)`: `round(dt.timestamp() * 1000)`, float arithmetic included.
    pub fn unix_ms(&self, wall: NaiveDateTime) -> i64 {
        let secs = wall.and_utc().timestamp() - self.offset_s(wall);
        let total_us = secs as f64 * 1e6 + f64::from(wall.nanosecond() / 1000);
        let ts = total_us / 1e6;
        (ts * 1000.0).round_ties_even() as i64
    }
}

fn matches(field: &Option<Vec<u32>>, v: u32) -> bool {
    field.as_ref().is_none_or(|set| set.contains(&v))
}

fn micros(us: i64) -> Duration {
    Duration::microseconds(us)
}

/// arq's `_get_next_dt`: the next candidate after the first field that does not match.
fn next_candidate(dt: NaiveDateTime, s: &CronSchedule) -> Option<NaiveDateTime> {
    let us = i64::from(dt.nanosecond() / 1000);
    let micro = micros((us - i64::from(s.microsecond)).max(0));
    let (h, m, sec) = (
        i64::from(dt.hour()),
        i64::from(dt.minute()),
        i64::from(dt.second()),
    );
    if !matches(&s.month, dt.month()) {
        let (y, mo) = if dt.month() == 12 {
            (dt.year() + 1, 1)
        } else {
            (dt.year(), dt.month() + 1)
        };
        return NaiveDate::from_ymd_opt(y, mo, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    }
    if !matches(&s.day, dt.day()) || !matches(&s.weekday, dt.weekday().num_days_from_monday()) {
        return Some(
            dt + Duration::days(1)
                - Duration::hours(h)
                - Duration::minutes(m)
                - Duration::seconds(sec)
                - micro,
        );
    }
    if !matches(&s.hour, dt.hour()) {
        return Some(
            dt + Duration::hours(1) - Duration::minutes(m) - Duration::seconds(sec) - micro,
        );
    }
    if !matches(&s.minute, dt.minute()) {
        return Some(dt + Duration::minutes(1) - Duration::seconds(sec) - micro);
    }
    if !matches(&s.second, dt.second()) {
        return Some(dt + Duration::seconds(1) - micro);
    }
    if us != i64::from(s.microsecond) {
        return Some(dt + micros(i64::from(s.microsecond) - us));
    }
    None
}

/// arq's `next_cron(previous_dt, ...)`: the first matching wall time at least one second after
/// `previous`. `None` when the schedule can never match (arq would loop forever).
pub fn next_run(previous: NaiveDateTime, s: &CronSchedule) -> Option<NaiveDateTime> {
    let mut dt = previous + Duration::seconds(1);
    // Each step moves at least to the next second/minute/hour/day/month; eight years of
    // day-steps is far beyond any satisfiable schedule.
    for _ in 0..4_000 {
        match next_candidate(dt, s) {
            None => return Some(dt),
            Some(next) => dt = next,
        }
    }
    None
}

/// The unique job id of a cron tick: `{name}:{unix ms of the run}`.
pub fn job_id(name: &str, run_ms: i64) -> String {
    format!("{name}:{run_ms}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").unwrap()
    }

    #[test]
    fn every_minute_at_123456() {
        let s = CronSchedule::default();
        let n = next_run(at("2026-11-25T14:03:07.5"), &s).unwrap();
        assert_eq!(n, at("2026-11-25T14:04:00.123456"));
        let n2 = next_run(n, &s).unwrap();
        assert_eq!(n2, at("2026-11-25T14:05:00.123456"));
        let ms = CronTz::utc().unix_ms(n);
        assert_eq!(
            job_id("cron:flush_to_db", ms),
            format!("cron:flush_to_db:{ms}")
        );
        assert_eq!(ms % 1000, 123);
    }

    #[test]
    fn fixed_offsets_parse() {
        let fixed = |s| match CronTz::parse(s) {
            Some(CronTz::Fixed(o)) => Some(o.local_minus_utc()),
            _ => None,
        };
        assert_eq!(fixed("+05:30"), Some(19_800));
        assert_eq!(fixed("-08:00"), Some(-28_800));
        assert_eq!(fixed("+5:30"), None);
        assert_eq!(fixed("+24:00"), None);
        assert!(matches!(
            CronTz::parse("Europe/Berlin"),
            Some(CronTz::Named(_))
        ));
        assert_eq!(CronTz::parse("Mars/Olympus"), None);
    }

    #[test]
    fn impossible_schedule_gives_none() {
        let s = CronSchedule {
            month: Some(vec![2]),
            day: Some(vec![31]),
            ..CronSchedule::default()
        };
        assert_eq!(next_run(at("2026-01-01T00:00:00"), &s), None);
    }
}
