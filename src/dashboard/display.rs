//! How values from Redis are shown: arguments as Python-like reprs cut to a length, the
//! exception of a failed result as class and message, times as UTC text. Pure; the pages
//! escape what these return.

use crate::protocol::job::JobResult;
use lyanna_task_api::{Args, Value};

/// Longest repr in a listing row.
pub const ROW_REPR: usize = 120;
/// Longest repr on a job page.
pub const PAGE_REPR: usize = 20_000;

/// `repr` of `v` cut to `max` bytes, with `…` when cut.
pub fn repr(v: &Value, max: usize) -> String {
    let (mut s, cut) = v.repr_prefix(max);
    if cut {
        s.push('…');
    }
    s
}

/// The call's arguments as Python writes them: `1, 'two', k=None`, cut to `max` bytes.
pub fn call_args(args: &Args, max: usize) -> String {
    let mut out = String::new();
    let mut parts = args
        .args
        .iter()
        .map(|v| (None, v))
        .chain(args.kwargs.iter().map(|(k, v)| (Some(k.as_str()), v)));
    let mut first = true;
    for (name, v) in parts.by_ref() {
        if out.len() >= max {
            out.push('…');
            return out;
        }
        if !first {
            out.push_str(", ");
        }
        first = false;
        if let Some(n) = name {
            out.push_str(n);
            out.push('=');
        }
        let room = max.saturating_sub(out.len()).max(1);
        out.push_str(&repr(v, room));
    }
    out
}

/// The positional arguments alone as a tuple repr, the keyword ones as a dict repr.
pub fn positional(args: &Args, max: usize) -> String {
    repr(&Value::Tuple(args.args.clone()), max)
}

pub fn keywords(args: &Args, max: usize) -> String {
    let kv = args
        .kwargs
        .iter()
        .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
        .collect();
    repr(&Value::Dict(kv), max)
}

/// A failed result's exception as (class, message). Pickle carries the exception itself;
/// msgpack and JSON results carry `"Class: message"` text (arq stores its message there).
pub fn exception(r: &JobResult) -> Option<(String, String)> {
    if r.success {
        return None;
    }
    Some(match r.result.resolve() {
        Value::Object(o) => {
            let class = if o.module == "builtins" {
                o.name.clone()
            } else {
                o.class_path()
            };
            (class, o.message())
        }
        Value::Str(s) => match s.split_once(": ") {
            Some((class, msg)) if is_class_name(class) => (class.to_string(), msg.to_string()),
            _ if is_class_name(s) => (s.clone(), String::new()),
            _ => (String::new(), s.clone()),
        },
        other => (String::new(), repr(other, PAGE_REPR)),
    })
}

fn is_class_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 200
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        && s.chars().next().is_some_and(|c| !c.is_ascii_digit())
}

/// Unix ms as `2026-12-02 00:51:18.123 UTC`.
pub fn time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
        None => format!("{ms} ms"),
    }
}

/// A PTTL answer as text: seconds left, `no expiry` (-1) or `None` when the key is gone.
pub fn ttl(ms: i64) -> Option<String> {
    match ms {
        -2 => None,
        -1 => Some("no expiry".to_string()),
        ms => Some(format!("{:.1} s", ms as f64 / 1000.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyanna_task_api::PyObject;

    fn failed(r: Value) -> JobResult {
        JobResult {
            job_try: 1,
            function: "f".into(),
            args: Args::default(),
            enqueue_time_ms: 0,
            success: false,
            result: r,
            start_ms: 0,
            finish_ms: 0,
            queue_name: "q".into(),
            job_id: "id".into(),
        }
    }

    #[test]
    fn exceptions_from_each_codec() {
        let exc = PyObject {
            module: "builtins".into(),
            name: "RuntimeError".into(),
            args: vec![Value::str("<b>boom</b>")],
            state: None,
        };
        assert_eq!(
            exception(&failed(Value::object(exc))),
            Some(("RuntimeError".into(), "<b>boom</b>".into()))
        );
        assert_eq!(
            exception(&failed(Value::str("ValueError: bad"))),
            Some(("ValueError".into(), "bad".into()))
        );
        assert_eq!(
            exception(&failed(Value::str("unable to serialize result"))),
            Some((String::new(), "unable to serialize result".into()))
        );
    }

    #[test]
    fn call_args_look_like_python_and_are_cut() {
        let a = Args::new(
            vec![Value::Int(1), Value::str("two")],
            vec![("k".into(), Value::None)],
        );
        assert_eq!(call_args(&a, 100), "1, 'two', k=None");
        let long = Args::new(vec![Value::str("x".repeat(1000))], vec![]);
        let s = call_args(&long, 20);
        assert!(s.len() <= 24 && s.ends_with('…'), "{s}");
        assert_eq!(ttl(-2), None);
        assert_eq!(ttl(-1).as_deref(), Some("no expiry"));
        assert_eq!(ttl(1500).as_deref(), Some("1.5 s"));
    }
}
