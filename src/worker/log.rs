//! arq-style one-line job summaries: arguments rendered like Python's repr, truncated.

use lyanna_task_api::{Args, Value};

/// Longest rendering of arguments or results in a log line.
const MAX_LEN: usize = 80;

pub fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_LEN {
        return s.to_string();
    }
    let cut: String = s.chars().take(MAX_LEN - 1).collect();
    format!("{cut}…")
}

/// A value's repr, truncated; only the first bytes are ever formatted, so a 100 MB argument
/// costs a log line its length, not a copy of the value.
pub fn value_summary(v: &Value) -> String {
    truncate(&v.repr_prefix(MAX_LEN * 4).0)
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
    truncate(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyanna_task_api::Value;

    #[test]
    fn summary_truncates() {
        let a = Args::new(vec![Value::Int(1), Value::str("x".repeat(200))], vec![]);
        let s = args_summary(&a);
        assert!(s.starts_with("1, 'xxx"));
        assert_eq!(s.chars().count(), MAX_LEN);
    }
}
