//! arq settings checked the way arq's own tests check them (tests/test_worker.py):
//! `queue_read_limit` below the free slots (test_custom_queue_read_limit), `health_check_key`
//! (test_set_health_check_key) and `retry_jobs=False` (test_job_retry_dont_retry).

mod common;

use common::*;
use lyanna_task_api::Value;
use lyanna_worker::codec::Codec;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One runtime per test: the client's connection lives on the runtime that opened it.
fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

async fn get(key: &str) -> Option<String> {
    let mut conn = redis_conn(&redis_url()).await;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// The counters of a health string (`Dec-01 10:00:00 j_complete=1 j_failed=0 ...`).
fn health_counts(s: &str) -> HashMap<String, u64> {
    s.split(' ')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or_else(|_| panic!("{s}"))))
        .collect()
}

/// max_jobs 4, queue_read_limit 2, four jobs queued: the first poll starts 2 of them (arq reads
/// at most queue_read_limit ids per poll), the next poll the other 2.
#[test]
fn queue_read_limit_below_free_slots_claims_only_that_many() {
    let rt = rt();
    let q = unique_queue("read-limit");
    let c = client(&q, Codec::Pickle);
    let ids = rt.block_on(enqueue_many(&c, 4, "sleep_ms", vec![Value::Int(3000)]));
    // A long poll delay: the second poll comes when a job ends, 3 s later.
    let w = worker_at(
        &redis_url(),
        &q,
        &[
            "--max-jobs",
            "4",
            "--queue-read-limit",
            "2",
            "--poll-delay",
            "10",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while count_lines(&w.log_text(), "→ ") == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing started:\n{}",
            w.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let first_poll = count_lines(&w.log_text(), "→ ");
    println!("started by the first poll: {first_poll} of 4 (read limit 2, max_jobs 4)");
    assert_eq!(first_poll, 2, "{}", w.log_text());
    let results = rt.block_on(results_of(&c, &ids, Duration::from_secs(30)));
    assert!(results.iter().all(|r| r.success && r.job_try == 1));
    assert_eq!(count_lines(&w.log_text(), "→ "), 4);
}

/// `--health-check-key K`: the health string goes to K (and not to `{queue}:health-check`),
/// with arq's counters, and `--check --health-check-key K` reads it; K is removed when the
/// worker stops, as arq's `close()` does.
#[test]
fn health_check_key_is_written_to_the_given_key() {
    let rt = rt();
    let q = unique_queue("health-key");
    let key = format!("{q}:my-health");
    let c = client(&q, Codec::Pickle);
    let id = rt.block_on(enqueue_many(&c, 1, "noop", vec![]));
    let mut w = WorkerProcess::start(
        &q,
        &["--health-check-key", &key, "--health-check-interval", "0.2"],
    );
    rt.block_on(results_of(&c, &id, Duration::from_secs(20)));
    let ok = rt.block_on(wait_until(Duration::from_secs(10), || async {
        get(&key)
            .await
            .is_some_and(|v| health_counts(&v).get("j_complete") == Some(&1))
    }));
    let value = rt.block_on(get(&key));
    assert!(ok, "health string at {key}: {value:?}");
    let value = value.unwrap();
    println!("{key} = {value}");
    let counts = health_counts(&value);
    for k in ["j_complete", "j_failed", "j_retried", "j_ongoing", "queued"] {
        assert!(counts.contains_key(k), "{k} missing in {value:?}");
    }
    assert_eq!(rt.block_on(get(&format!("{q}:health-check"))), None);
    // `--check` reads the key it is given (arq's check_health with health_check_key).
    let check = |extra: &[&str]| {
        let mut args = vec!["--queue", q.as_str(), "--check"];
        args.extend_from_slice(extra);
        cli(&args)
    };
    let out = check(&["--health-check-key", &key]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Health check successful"), "{stdout}");
    assert_eq!(
        check(&[]).status.code(),
        Some(1),
        "the default key is not ours"
    );
    assert_eq!(w.terminate(Duration::from_secs(10)), Some(0));
    assert_eq!(
        rt.block_on(get(&key)),
        None,
        "health key left after a clean stop"
    );
}

/// `--no-retry-jobs` (arq's retry_jobs=False): a task raising Retry fails; Python reads the
/// result as the `arq.worker.Retry` exception arq stores (`<Retry defer 0.01s>`), from the
/// first and only try; the health string counts one failed and no retried job.
#[test]
fn no_retry_jobs_fails_a_retry() {
    let rt = rt();
    let q = unique_queue("no-retry");
    let key = format!("{q}:health-check");
    let c = client(&q, Codec::Pickle);
    let ids = rt.block_on(enqueue_many(
        &c,
        1,
        "retry",
        vec![Value::Int(5), Value::Int(10)],
    ));
    let id = ids[0].clone();
    let mut w = WorkerProcess::start(&q, &["--no-retry-jobs", "--health-check-interval", "0.2"]);
    let out = run_python("interop.py", &["read_result", &q, &id], &[]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["ok"], false, "{out}");
    assert_eq!(v["type"], "arq.worker.Retry", "{out}");
    assert_eq!(v["message"], "<Retry defer 0.01s>", "{out}");
    let info = python_results(&q, &ids, "pickle");
    assert_eq!(info[0]["success"], false, "{info:?}");
    assert_eq!(info[0]["try"], 1, "{info:?}");
    let ok = rt.block_on(wait_until(Duration::from_secs(10), || async {
        get(&key)
            .await
            .is_some_and(|v| health_counts(&v).get("j_failed") == Some(&1))
    }));
    let health = rt.block_on(get(&key));
    assert!(ok, "{health:?}");
    let counts = health_counts(&health.unwrap());
    assert_eq!(counts["j_retried"], 0);
    assert_eq!(counts["j_complete"], 0);
    assert_eq!(w.terminate(Duration::from_secs(10)), Some(0));
    let log = w.log_text();
    assert!(!log.contains('↻'), "{log}");
    assert_eq!(
        count_lines(
            &log,
            &format!("! {id}:retry failed, Retry: <Retry defer 0.01s>")
        ),
        1,
        "{log}"
    );
}
