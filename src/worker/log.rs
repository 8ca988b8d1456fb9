//! arq-style one-line job summaries: arguments rendered like Python's repr, truncated.

use lyanna_task_api::Args;

/// Longest rendering of arguments or results in a log line.
const MAX_LEN: usize = 80;

pub fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_LEN {
        return s.to_string();
    }
    let cut: String = s.chars().take(MAX_LEN - 1).collect();
    format!("{cut}…")
}

/// `1, 'two', k=3`, truncated.
pub fn args_summary(a: &Args) -> String {
    let mut parts: Vec<String> = a.args.iter().map(|v| v.to_string()).collect();
    parts.extend(a.kwargs.iter().map(|(k, v)| format!("{k}={v}")));
    truncate(&parts.join(", "))
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
