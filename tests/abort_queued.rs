//! Abort of a job that waits in the queue longer than a minute (issue 10): the `arq:abort`
//! entry stays until the job starts, as in arq, so the job is aborted when it comes up, with
//! only our worker on the queue and in a fleet with a Python arq worker. Each test waits about
//! 70 s (a long job in front); they run in parallel.
//!
//! Each uses a private Redis: `arq:abort` is one key for every queue, and a Python arq worker
//! elsewhere whose clock is behind trims entries stamped after its now + 60 ms.

mod common;

use common::*;
use lyanna_worker::client::JobStatus;
use lyanna_worker::codec::Codec;
use std::time::{Duration, Instant};

fn wait_in_progress(rt: &tokio::runtime::Runtime, c: &lyanna_worker::client::Client, id: &str) {
    let ok = rt.block_on(wait_until(Duration::from_secs(30), || async {
        c.status(id).await.unwrap() == JobStatus::InProgress
    }));
    assert!(ok, "{id} never started");
}

/// `job.abort()` of `id` from Python, waiting for its end; checks arq's view of an aborted job
/// (abort() True, result() raises CancelledError, status complete, success False).
fn python_abort(url: &str, q: &str, id: &str) -> Duration {
    let t = Instant::now();
    let out = run_python("aborts.py", &["abort", q, id], &[("TEST_REDIS_URL", url)]);
    let took = t.elapsed();
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let r = &v[id];
    assert_eq!(r["aborted"], true, "{out}");
    assert_eq!(r["raised"], "CancelledError", "{out}");
    assert_eq!(r["status"], "complete", "{out}");
    assert_eq!(r["success"], false, "{out}");
    took
}

fn aborted_before_start(log: &str, id: &str) -> usize {
    count_lines_with(log, &[&format!("job_id={id}"), "aborted before start"])
}

/// max_jobs 1, a 70 s job in front: the job queued behind it, aborted at once, is aborted when
/// it comes up 70 s later (the abort entry outlived arq's 60 s max age); the long job itself
/// completes normally.
#[test]
fn abort_of_a_job_queued_70s_with_our_worker_only() {
    let srv = RedisServer::start(&[]);
    let url = srv.url();
    let env = [("TEST_REDIS_URL", url.as_str())];
    let q = unique_queue("abort-queued");
    let w = worker_at(&url, &q, &["--max-jobs", "1", "--allow-abort-jobs"]);
    let out = run_python("aborts.py", &["enqueue", &q, "70000"], &env);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let (long, queued) = (
        v["running"].as_str().unwrap(),
        v["queued"].as_str().unwrap(),
    );
    let waited = python_abort(&url, &q, queued);
    println!("queued job aborted when it came up, {waited:?} after the abort request");
    assert!(
        waited >= Duration::from_secs(60),
        "it did not wait: {waited:?}"
    );
    let log = w.log_text();
    assert_eq!(aborted_before_start(&log, queued), 1, "{log}");
    assert_eq!(count_lines(&log, &format!("→ {queued}:")), 0, "{log}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = client_at(&url, &q, Codec::Pickle);
    let r = rt.block_on(results_of(&c, &[long.to_string()], Duration::from_secs(10)));
    assert!(r[0].success, "the long job: {:?}", r[0].result);
}

/// A fleet: a Python arq worker (allow_abort_jobs, max_jobs 1) busy with a 74 s job, ours busy
/// with a 66 s one, a third job queued and aborted through Python's `job.abort()`. Ours frees
/// first, claims the queued job 66 s after the abort and aborts it before start; the Python
/// worker never starts it.
#[test]
fn abort_of_a_job_queued_66s_in_a_fleet_with_python() {
    let srv = RedisServer::start(&[]);
    let url = srv.url();
    let env = [("TEST_REDIS_URL", url.as_str())];
    let q = unique_queue("abort-fleet");
    // One runtime: the client's connection lives on the runtime that opened it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = client_at(&url, &q, Codec::Pickle);
    let mut py = python_worker_with(
        "arq_abortable",
        &q,
        &[("ARQ_MAX_JOBS", "1"), ("BENCH_REDIS_URL", url.as_str())],
    );
    let first = run_python("aborts.py", &["enqueue_one", &q, "74000"], &env);
    let first = first.trim();
    wait_in_progress(&rt, &c, first);
    let w = worker_at(&url, &q, &["--max-jobs", "1", "--allow-abort-jobs"]);
    let second = run_python("aborts.py", &["enqueue_one", &q, "66000"], &env);
    let second = second.trim();
    wait_in_progress(&rt, &c, second);
    let third = run_python("aborts.py", &["enqueue_one", &q, "1000"], &env);
    let third = third.trim();
    let waited = python_abort(&url, &q, third);
    println!("queued job aborted when it came up, {waited:?} after the abort request");
    assert!(
        waited >= Duration::from_secs(55),
        "it did not wait: {waited:?}"
    );
    let ours = w.log_text();
    py.stop();
    let python = py.log_text();
    assert_eq!(count_lines(&python, &format!("→ {first}:")), 1, "{python}");
    assert_eq!(
        count_lines(&python, third),
        0,
        "the Python worker took it:\n{python}"
    );
    assert_eq!(count_lines(&ours, &format!("→ {second}:")), 1, "{ours}");
    assert_eq!(aborted_before_start(&ours, third), 1, "{ours}");
}
