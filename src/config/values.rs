//! Parsers of setting values shared by the flags: durations in seconds, ...

use super::errors::{bad, ConfigError};
use std::time::Duration;

pub(super) fn seconds(
    v: f64,
    flag: &'static str,
    env: &'static str,
    allow_zero: bool,
) -> Result<Duration, ConfigError> {
    if !v.is_finite() || v < 0.0 || (!allow_zero && v == 0.0) {
        let need = if allow_zero {
            "zero or more seconds"
        } else {
            "more than zero seconds"
        };
        return Err(bad(flag, env, format!("{v} is not {need}")));
    }
    Duration::try_from_secs_f64(v).map_err(|e| bad(flag, env, e.to_string()))
}
