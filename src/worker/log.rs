//! arq-style one-line job summaries: arguments rendered like Python's repr, truncated.

use lyanna_task_api::{Args, Value};
use std::fmt;

/// Longest rendering of arguments or results in a log line.
const MAX_LEN: usize = 80;

/// `s`, or its first characters and `…` when it is longer than a log line shows.
pub fn truncate(mut s: String) -> String {
    if let Some((cut, _)) = s.char_indices().nth(MAX_LEN) {
        let keep = s.char_indices().nth(MAX_LEN - 1).map_or(cut, |(at, _)| at);
        s.truncate(keep);
        s.push('…');
    }
    s
}

/// A value's repr, truncated; only the first bytes are ever formatted, so a 100 MB argument
/// costs a log line its length, not a copy of the value.
pub fn value_summary(v: &Value) -> String {
    truncate(v.repr_prefix(MAX_LEN * 4).0)
}

/// `1, 'two', k=3`, truncated (formatting stops once the line is long enough).
pub fn args_summary(a: &Args) -> String {
    let mut out = String::new();
    let parts = a
        .args
        .iter()
        .map(|v| (None, v))
        .chain(a.kwargs.iter().map(|(k, v)| (Some(k), v)));
    for (k, v) in parts {
        if out.chars().count() > MAX_LEN {
            break;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if let Some(k) = k {
            out.push_str(k);
            out.push('=');
        }
        out.push_str(&v.repr_prefix(MAX_LEN * 4).0);
    }
    truncate(out)
}

/// Milliseconds shown as arq shows seconds (`{:6.2}`: right-aligned in 6, two decimals),
/// with integer arithmetic: a float formatted to a precision costs more than the rest of a
/// job line, and every job writes two.
#[derive(Debug, Clone, Copy)]
pub struct Secs(pub i64);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hundredths, rounded half away from zero.
        let centis = (self.0.unsigned_abs() + 5) / 10;
        let (whole, frac) = (centis / 100, centis % 100);
        let negative = self.0 < 0 && centis > 0;
        // Written right to left into a buffer, padded, and handed over in one piece: `{:6}`
        // through the formatter's integer padding cost more than the rest of the line.
        let mut buf = [b' '; 32];
        let width = f.width().unwrap_or(0).min(buf.len() - 24);
        let mut at = buf.len();
        let mut put = |b: u8| {
            at -= 1;
            buf[at] = b;
        };
        put(b'0' + (frac % 10) as u8);
        put(b'0' + (frac / 10) as u8);
        put(b'.');
        let mut n = whole;
        loop {
            put(b'0' + (n % 10) as u8);
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if negative {
            put(b'-');
        }
        let start = at.min(buf.len() - width);
        // Only ASCII digits, '.', '-' and spaces are in the buffer.
        f.write_str(std::str::from_utf8(&buf[start..]).unwrap_or("?"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyanna_task_api::Value;

    #[test]
    fn secs_read_like_python_seconds() {
        let cases = [
            (0, "  0.00"),
            (4, "  0.00"),
            (5, "  0.01"),
            (1_234, "  1.23"),
            (8_930, "  8.93"),
            (123_456, "123.46"),
            (1_234_567, "1234.57"),
            (-1_500, " -1.50"),
            (-4, "  0.00"),
        ];
        for (ms, want) in cases {
            assert_eq!(format!("{:6}", Secs(ms)), want, "{ms} ms");
        }
        assert_eq!(format!("{}", Secs(2_000)), "2.00");
        assert_eq!(format!("{:8}", Secs(-2_000)), "   -2.00");
        assert_eq!(format!("{:2}", Secs(i64::MIN)), "-9223372036854775.81");
        assert_eq!(format!("{}", Secs(i64::MAX)), "9223372036854775.81");
    }

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("é".repeat(MAX_LEN)), "é".repeat(MAX_LEN));
        let long = truncate("é".repeat(MAX_LEN + 1));
        assert_eq!(long, format!("{}…", "é".repeat(MAX_LEN - 1)));
        assert_eq!(long.chars().count(), MAX_LEN);
        assert_eq!(truncate(String::new()), "");
    }

    #[test]
    fn summary_truncates() {
        let a = Args::new(vec![Value::Int(1), Value::str("x".repeat(200))], vec![]);
        let s = args_summary(&a);
        assert!(s.starts_with("1, 'xxx"));
        assert_eq!(s.chars().count(), MAX_LEN);
    }
}
