//! Parsers of setting values shared by the flags: durations in seconds, byte sizes, names.

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

/// Bytes, plain or with a binary suffix: `1048576`, `512K`, `256M`, `1G` (also `KB`, `KiB`,
/// any case). More than zero.
pub(super) fn byte_size(
    v: &str,
    flag: &'static str,
    env: &'static str,
) -> Result<u64, ConfigError> {
    let t = v.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(digits_end);
    let unit: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(bad(
                flag,
                env,
                format!("{v:?} is not a size in bytes (e.g. 268435456, 512K, 256M, 1G)"),
            ))
        }
    };
    let n: u64 = digits.parse().map_err(|_| {
        bad(
            flag,
            env,
            format!("{v:?} is not a size in bytes (e.g. 268435456, 512K, 256M, 1G)"),
        )
    })?;
    match n.checked_mul(unit) {
        Some(0) => Err(bad(flag, env, "must be more than zero bytes")),
        Some(b) => Ok(b),
        None => Err(bad(flag, env, format!("{v:?} is too large"))),
    }
}

/// A non-empty name with no whitespace or control characters (worker ids).
pub(super) fn name_without_spaces(
    v: &str,
    flag: &'static str,
    env: &'static str,
) -> Result<String, ConfigError> {
    if v.is_empty() {
        return Err(bad(flag, env, "must not be empty"));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            flag,
            env,
            format!("{v:?} contains whitespace or control characters"),
        ));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        let p = |v| byte_size(v, "--x", "X");
        assert_eq!(p("268435456").unwrap(), 256 << 20);
        assert_eq!(p("256M").unwrap(), 256 << 20);
        assert_eq!(p("256MiB").unwrap(), 256 << 20);
        assert_eq!(p("512k").unwrap(), 512 << 10);
        assert_eq!(p("2G").unwrap(), 2 << 30);
        assert_eq!(p("10 MB").unwrap(), 10 << 20);
        for v in [
            "",
            "0",
            "0M",
            "-1",
            "1.5G",
            "12T",
            "M",
            "99999999999999999999G",
        ] {
            let e = p(v).unwrap_err();
            assert_eq!((e.flag, e.env), ("--x", "X"), "{v:?}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(name_without_spaces("pod-7", "--x", "X").unwrap(), "pod-7");
        for v in ["", "a b", "a\tb", "a\nb", "\u{0}"] {
            assert!(name_without_spaces(v, "--x", "X").is_err(), "{v:?}");
        }
    }
}
