//! The health-check value arq writes under `{queue}:health-check`.

/// Counters reported in the health string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthCounts {
    pub complete: u64,
    pub failed: u64,
    pub retried: u64,
    pub ongoing: u64,
    pub queued: u64,
}

/// `"Nov-25 14:03:07 j_complete=12 j_failed=1 j_retried=0 j_ongoing=2 queued=5"`; `stamp` is the
/// worker's local time formatted `%b-%d %H:%M:%S`, as Python's `datetime.now()` gives it.
pub fn health_string(stamp: &str, c: HealthCounts) -> String {
    format!(
        "{stamp} j_complete={} j_failed={} j_retried={} j_ongoing={} queued={}",
        c.complete, c.failed, c.retried, c.ongoing, c.queued
    )
}

/// Reads the counters back (the CLI's `queue` view and tests).
pub fn parse_health(s: &str) -> Option<HealthCounts> {
    let mut c = HealthCounts::default();
    let mut seen = 0;
    for part in s.split_whitespace() {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let v: u64 = v.parse().ok()?;
        match k {
            "j_complete" => c.complete = v,
            "j_failed" => c.failed = v,
            "j_retried" => c.retried = v,
            "j_ongoing" => c.ongoing = v,
            "queued" => c.queued = v,
            _ => continue,
        }
        seen += 1;
    }
    (seen == 5).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_parse() {
        let c = HealthCounts {
            complete: 12,
            failed: 1,
            retried: 0,
            ongoing: 2,
            queued: 5,
        };
        let s = health_string("Nov-25 14:03:07", c);
        assert_eq!(
            s,
            "Nov-25 14:03:07 j_complete=12 j_failed=1 j_retried=0 j_ongoing=2 queued=5"
        );
        assert_eq!(parse_health(&s), Some(c));
        assert_eq!(parse_health("garbage"), None);
    }
}
