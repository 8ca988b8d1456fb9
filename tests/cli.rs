//! The client commands end to end: enqueue (deferred), status, queue, abort, result, exit codes.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn client_commands_and_exit_codes() {
    let q = unique_queue("cli");
    let url = redis_url();
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--queue", &q, "--redis-url", &url]);
        cli(&a)
    };
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).trim().to_string();

    let out = run(&["enqueue", "noop", "--defer-by", "3600"]);
    assert!(out.status.success());
    let deferred = text(&out);
    assert_eq!(deferred.len(), 32, "uuid4 hex id");
    assert_eq!(text(&run(&["status", &deferred])), "deferred");
    let out = run(&["queue", "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["deferred"], 1);
    assert_eq!(summary["queued"], 0);

    let out = run(&[
        "enqueue",
        "sleep_ms",
        "100",
        "--job-id",
        &format!("cli-{}", uid()),
    ]);
    let sleeper = text(&out);
    assert_eq!(text(&run(&["status", &sleeper])), "queued");
    assert_eq!(text(&run(&["status", "no-such-job"])), "not_found");
    assert_eq!(run(&["result", "no-such-job"]).status.code(), Some(2));

    let _w = WorkerProcess::start(&q, &["--allow-abort-jobs"]);
    let out = run(&["result", &sleeper, "--wait", "20"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text(&run(&["status", &sleeper])), "complete");

    let out = run(&["abort", &deferred, "--wait", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "aborted");
    let out = run(&["result", &deferred]);
    assert_eq!(out.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["result"]["type"], "asyncio.exceptions.CancelledError");
    std::thread::sleep(Duration::from_millis(10));
}
