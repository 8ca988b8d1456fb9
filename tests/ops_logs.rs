//! Logs as a cluster's log pipeline sees them: `--log-format json` writes one JSON object per
//! line, a job's lines carry its id, function and try, arguments are truncated, and no
//! password reaches the log, even while Redis comes and goes.

mod common;
mod ops_support;

use common::{worker_at_with_admin, WorkerProcess};
use ops_support::{enqueue_cli, poll_until, status, PortRedis};
use serde_json::Value;
use std::time::Duration;

fn json_worker(url: &str, queue: &str) -> (WorkerProcess, u16) {
    let (w, port) = worker_at_with_admin(
        url,
        queue,
        &["--poll-delay", "0.05", "--log-format", "json"],
    );
    (w, port)
}

/// Every line of the log as a JSON object (panics on any other line).
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
            assert!(v.is_object(), "not an object: {l:?}");
            v
        })
        .collect()
}

/// A field of the event, or of the span it was logged in.
fn field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line.get(name)
        .or_else(|| line.get("span").and_then(|s| s.get(name)))
}

fn has_result(url: &str, id: &str) -> bool {
    common::cli(&["result", id, "--redis-url", url])
        .status
        .success()
}

#[test]
fn json_logs_are_one_object_per_line_with_the_jobs_fields() {
    let url = common::redis_url();
    let queue = common::unique_queue("logs-json");
    let (mut w, port) = json_worker(&url, &queue);
    assert!(poll_until(Duration::from_secs(10), || status(
        port, "/readyz"
    ) == 200));
    let long = format!("\"{}\"", "x".repeat(500));
    let id = enqueue_cli(&url, &queue, "echo", &[&long]);
    assert!(
        poll_until(Duration::from_secs(10), || has_result(&url, &id)),
        "job did not run"
    );
    assert_eq!(w.terminate(Duration::from_secs(10)), Some(0));

    let lines = json_lines(&w.log_text());
    assert!(lines
        .iter()
        .all(|l| l.get("timestamp").is_some() && l.get("level").is_some()));
    let job: Vec<&Value> = lines
        .iter()
        .filter(|l| field(l, "job_id").and_then(Value::as_str) == Some(id.as_str()))
        .collect();
    assert!(
        job.len() >= 2,
        "expected a start and an end line for {id}: {lines:#?}"
    );
    for l in &job {
        assert_eq!(
            field(l, "function").and_then(Value::as_str),
            Some("echo"),
            "{l}"
        );
        assert_eq!(field(l, "try").and_then(Value::as_i64), Some(1), "{l}");
        let msg = l["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("{id}:echo")),
            "no arq-style summary: {msg}"
        );
        assert!(msg.chars().count() < 250, "arguments not truncated: {msg}");
    }
    assert!(
        job.iter()
            .any(|l| l["message"].as_str().unwrap().contains('→')),
        "no start line"
    );
}

/// `--log-level warn` leaves out the two lines per job (the job still runs, its result is
/// written); an unknown level exits 64 naming the flag.
#[test]
fn log_level_warn_leaves_out_the_job_lines() {
    let url = common::redis_url();
    let queue = common::unique_queue("logs-warn");
    let args = [
        "--settings",
        "Diagnostics",
        "--queue",
        queue.as_str(),
        "--redis-url",
        url.as_str(),
        "--http-addr",
        "off",
        "--poll-delay",
        "0.05",
    ];
    let run = |level: &str| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--log-level", level]);
        // An empty RUST_LOG is no override: the flag decides.
        let mut w = WorkerProcess::spawn(&all, &[("RUST_LOG", "")]);
        let id = enqueue_cli(&url, &queue, "echo", &["1"]);
        assert!(
            poll_until(Duration::from_secs(10), || has_result(&url, &id)),
            "job did not run at --log-level {level}"
        );
        assert_eq!(w.terminate(Duration::from_secs(10)), Some(0));
        (id, w.log_text())
    };
    let (id, log) = run("info");
    assert!(
        log.contains(&format!("{id}:echo")),
        "no job line at info:\n{log}"
    );
    let (id, log) = run("warn");
    assert!(!log.contains(&id), "a job line at --log-level warn:\n{log}");
    assert!(
        !log.contains("INFO"),
        "an INFO line at --log-level warn:\n{log}"
    );

    let out = common::cli(&["--log-level", "loud", "queue"]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--log-level"), "{err}");
}

#[test]
fn no_password_reaches_the_log() {
    const PASSWORD: &str = "s3cret-pw-0451";
    let mut redis = PortRedis::reserve(&["--requirepass", PASSWORD]);
    redis.start();
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}", redis.port);
    let queue = common::unique_queue("logs-secret");
    let (mut w, port) = json_worker(&url, &queue);
    assert!(poll_until(Duration::from_secs(10), || status(
        port, "/readyz"
    ) == 200));
    let id = enqueue_cli(&url, &queue, "noop", &[]);
    assert!(poll_until(Duration::from_secs(10), || has_result(
        &url, &id
    )));

    // An outage makes the worker log its reconnects, with the URL.
    redis.stop();
    assert!(poll_until(Duration::from_secs(5), || status(
        port, "/readyz"
    ) == 503));
    redis.start();
    assert!(
        poll_until(Duration::from_secs(20), || status(port, "/readyz") == 200),
        "no reconnect"
    );
    assert_eq!(w.terminate(Duration::from_secs(10)), Some(0));

    let log = w.log_text();
    json_lines(&log);
    assert!(!log.contains(PASSWORD), "password in the log:\n{log}");
    assert!(log.contains(":***@"), "URL not logged masked:\n{log}");
}
