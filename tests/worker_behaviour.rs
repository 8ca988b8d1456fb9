//! arq behaviours of our worker against real Redis: timeouts, Retry score arithmetic,
//! max_tries, expiry, keep_result=0, unique ids, burst, health key and `--check`, bad config.

mod common;

use common::*;
use lyanna_task_api::Value;
use lyanna_worker::client::{Defer, EnqueueOptions, JobStatus};
use lyanna_worker::codec::Codec;
use lyanna_worker::protocol::{keys, now_ms};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn exception_name(v: &Value) -> String {
    match v {
        Value::Object(o) => o.class_path(),
        other => format!("not an exception: {other}"),
    }
}

#[tokio::test]
async fn timeout_fails_with_timeout_error() {
    let q = unique_queue("timeout");
    let _w = WorkerProcess::start(&q, &["--job-timeout", "0.3"]);
    let c = client(&q, Codec::Pickle);
    let ids = enqueue_many(&c, 1, "sleep_ms", vec![Value::Int(10_000)]).await;
    let r = &results_of(&c, &ids, WAIT).await[0];
    assert!(!r.success);
    assert_eq!(exception_name(&r.result), "asyncio.exceptions.TimeoutError");
}

#[tokio::test]
async fn retry_moves_the_score_by_defer_and_counts_tries() {
    let q = unique_queue("retry");
    let _w = WorkerProcess::start(&q, &[]);
    let c = client(&q, Codec::Pickle);
    let before = now_ms();
    let ids = enqueue_many(&c, 1, "retry", vec![Value::Int(1), Value::Int(4000)]).await;
    let mut conn = redis_conn(&redis_url()).await;
    // After the first try the job is back in the queue, due defer_ms after the retry.
    let moved = wait_until(WAIT, || {
        let mut conn = conn.clone();
        let (q, id) = (q.clone(), ids[0].clone());
        async move {
            let s: Option<f64> = redis::cmd("ZSCORE")
                .arg(&q)
                .arg(&id)
                .query_async(&mut conn)
                .await
                .unwrap();
            s.is_some_and(|s| s as i64 >= before + 4000)
        }
    })
    .await;
    assert!(moved, "score never moved by the defer");
    let score: f64 = redis::cmd("ZSCORE")
        .arg(&q)
        .arg(&ids[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (score as i64) <= now_ms() + 4000,
        "score {score} is beyond retry time + defer"
    );
    assert_eq!(c.status(&ids[0]).await.unwrap(), JobStatus::Deferred);
    let r = &results_of(&c, &ids, WAIT).await[0];
    assert!(r.success);
    assert_eq!(r.result, Value::Int(2));
    assert_eq!(r.job_try, 2);
}

/// The try counter a claim leaves is arq's (INCR, then EXPIRE 88,400 s): a first try writes
/// it with one SET (value 1 and that TTL), a counter that exists goes through INCR and gets
/// its TTL renewed.
#[tokio::test]
async fn try_counter_is_arqs_incr_and_expire() {
    let q = unique_queue("try-counter");
    let _w = WorkerProcess::start(&q, &[]);
    let c = client(&q, Codec::Pickle);
    let mut conn = redis_conn(&redis_url()).await;
    let fresh = enqueue_many(&c, 1, "sleep_ms", vec![Value::Int(3000)]).await;
    // A job tried 4 times before (by another worker), its counter's TTL nearly run out.
    let again = format!("try-counter-{}", uuid::Uuid::new_v4().simple());
    let key_again = format!("{}{again}", keys::RETRY_PREFIX);
    let _: () = redis::cmd("SET")
        .arg(&key_again)
        .arg(4)
        .arg("EX")
        .arg(100)
        .query_async(&mut conn)
        .await
        .unwrap();
    let opts = EnqueueOptions {
        job_id: Some(again.clone()),
        ..EnqueueOptions::default()
    };
    c.enqueue(
        "sleep_ms",
        lyanna_task_api::Args::new(vec![Value::Int(3000)], vec![]),
        opts,
    )
    .await
    .unwrap()
    .expect("a fresh id");
    for (id, want) in [(fresh[0].clone(), "1"), (again.clone(), "5")] {
        let key = format!("{}{id}", keys::RETRY_PREFIX);
        let counted = wait_until(WAIT, || {
            let (mut conn, key) = (conn.clone(), key.clone());
            async move {
                let v: Option<String> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                v.as_deref() == Some(want)
            }
        })
        .await;
        assert!(counted, "{key} never reached {want}");
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            (88_000..=keys::RETRY_TTL_S).contains(&ttl),
            "{key}: TTL {ttl}"
        );
    }
    // Both finished: their counters are gone with them.
    let done = results_of(&c, &[fresh[0].clone(), again.clone()], WAIT).await;
    assert!(done.iter().all(|r| r.success));
    for id in [&fresh[0], &again] {
        let key = format!("{}{id}", keys::RETRY_PREFIX);
        let left: i64 = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(left, 0, "{key} left behind");
    }
}

#[tokio::test]
async fn max_tries_exhaustion() {
    let q = unique_queue("maxtries");
    let _w = WorkerProcess::start(&q, &["--max-tries", "3"]);
    let c = client(&q, Codec::Pickle);
    let ids = enqueue_many(&c, 1, "retry", vec![Value::Int(10), Value::Int(0)]).await;
    let r = &results_of(&c, &ids, WAIT).await[0];
    assert!(!r.success);
    assert_eq!(exception_name(&r.result), "arq.worker.JobExecutionFailed");
    match &r.result {
        Value::Object(o) => assert_eq!(o.args, vec![Value::str("max 3 retries exceeded")]),
        _ => unreachable!(),
    }
    assert_eq!(r.job_try, 4);
}

#[tokio::test]
async fn expired_job_gets_a_job_expired_result() {
    let q = unique_queue("expired");
    let c = client(&q, Codec::Pickle);
    let opts = EnqueueOptions {
        expires: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let id = c
        .enqueue("noop", Default::default(), opts)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _w = WorkerProcess::start(&q, &[]);
    let r = &results_of(&c, &[id], WAIT).await[0];
    assert!(!r.success);
    match &r.result {
        Value::Object(o) => {
            assert_eq!(o.class_path(), "arq.worker.JobExecutionFailed");
            assert_eq!(o.args, vec![Value::str("job expired")]);
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn keep_result_zero_stores_nothing_and_cleans_up() {
    let q = unique_queue("keep0");
    let _w = WorkerProcess::start(&q, &["--keep-result", "0"]);
    let c = client(&q, Codec::Pickle);
    let ids = enqueue_many(&c, 3, "echo", vec![Value::Int(1)]).await;
    let mut conn = redis_conn(&redis_url()).await;
    let drained = wait_until(WAIT, || {
        let mut conn = conn.clone();
        let q = q.clone();
        async move {
            redis::cmd("ZCARD")
                .arg(&q)
                .query_async::<u64>(&mut conn)
                .await
                .unwrap()
                == 0
        }
    })
    .await;
    assert!(drained);
    for id in &ids {
        for key in [
            keys::result(id),
            keys::job(id),
            keys::retry(id),
            keys::in_progress(id),
        ] {
            let exists: bool = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!(!exists, "{key} left behind");
        }
        assert_eq!(c.status(id).await.unwrap(), JobStatus::NotFound);
    }
}

#[tokio::test]
async fn unique_job_ids_are_refused() {
    let q = unique_queue("unique");
    let c = client(&q, Codec::Pickle);
    let id = format!("unique-{}", uid());
    let opts = || EnqueueOptions {
        job_id: Some(id.clone()),
        defer: Defer::By(Duration::from_secs(60)),
        ..Default::default()
    };
    assert_eq!(
        c.enqueue("noop", Default::default(), opts()).await.unwrap(),
        Some(id.clone())
    );
    assert_eq!(
        c.enqueue("noop", Default::default(), opts()).await.unwrap(),
        None
    );
    let url = redis_url();
    let out = cli(&[
        "enqueue",
        "noop",
        "--job-id",
        &id,
        "--queue",
        &q,
        "--redis-url",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let mut conn = redis_conn(&url).await;
    let _: () = redis::cmd("DEL")
        .arg(keys::job(&id))
        .query_async(&mut conn)
        .await
        .unwrap();
    drop_queue(&mut conn, &q).await;
}

#[tokio::test]
async fn burst_and_max_burst_jobs() {
    let q = unique_queue("burst");
    let c = client(&q, Codec::Pickle);
    let ids = enqueue_many(&c, 20, "noop", vec![]).await;
    let mut w = WorkerProcess::start(&q, &["--burst", "--max-burst-jobs", "5"]);
    assert_eq!(w.wait(WAIT), Some(0));
    let mut done = 0;
    for id in &ids {
        if c.result_now(id).await.unwrap().0.is_some() {
            done += 1;
        }
    }
    assert_eq!(done, 5, "max_burst_jobs=5 runs exactly five");
    let mut w = WorkerProcess::start(&q, &["--burst"]);
    assert_eq!(w.wait(WAIT), Some(0), "burst exits once the queue is empty");
    assert_eq!(results_of(&c, &ids, WAIT).await.len(), 20);
}

/// Most functions whose runs overlap in time, from the results' start and finish stamps.
fn most_at_once(results: &[lyanna_worker::protocol::job::JobResult]) -> usize {
    let mut edges: Vec<(i64, i32)> = results
        .iter()
        .flat_map(|r| [(r.start_ms, 1), (r.finish_ms, -1)])
        .collect();
    // A run that ends at the same ms another starts does not overlap it.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}

#[tokio::test]
async fn max_jobs_bounds_running_functions_with_claims_in_flight() {
    // Claims overlap the jobs of other claims and the finishes being written: still no more
    // than max_jobs functions may run at once (arq's meaning of max_jobs).
    let q = unique_queue("maxjobs");
    let c = client(&q, Codec::Pickle);
    let ids = enqueue_many(&c, 24, "sleep_ms", vec![Value::Int(150)]).await;
    let mut w = WorkerProcess::start(&q, &["--burst", "--max-jobs", "4"]);
    assert_eq!(w.wait(WAIT), Some(0));
    let results = results_of(&c, &ids, WAIT).await;
    assert!(results.iter().all(|r| r.success));
    let most = most_at_once(&results);
    assert!(most <= 4, "{most} functions ran at once with max_jobs=4");
    assert!(
        most >= 2,
        "jobs ran one at a time ({most}): slots are not being used"
    );
}

#[tokio::test]
async fn claims_ahead_of_short_jobs_still_run_at_most_max_jobs() {
    // Short jobs let claims go ahead of the free slots (their jobs wait for one): every job
    // still runs once, and never more than max_jobs functions at once.
    let q = unique_queue("ahead");
    let c = client(&q, Codec::Pickle);
    let ids = enqueue_many(&c, 400, "sleep_ms", vec![Value::Int(1)]).await;
    let mut w = WorkerProcess::start_with(
        &q,
        &["--burst", "--max-jobs", "4"],
        &[("RUST_LOG", "info,lyanna_worker::worker::poll=debug")],
    );
    assert_eq!(w.wait(WAIT), Some(0));
    let results = results_of(&c, &ids, WAIT).await;
    assert!(results.iter().all(|r| r.success && r.job_try == 1));
    let most = most_at_once(&results);
    assert!(most <= 4, "{most} functions ran at once with max_jobs=4");
    let log = w.log_text();
    assert!(
        log.contains("claim sent want=") && log.contains("ahead=4"),
        "no claim went ahead of the free slots:\n{log}"
    );
    // Off: no claim goes ahead.
    let q = unique_queue("no-ahead");
    let c = client(&q, Codec::Pickle);
    let ids = enqueue_many(&c, 100, "sleep_ms", vec![Value::Int(1)]).await;
    let mut w = WorkerProcess::start_with(
        &q,
        &["--burst", "--max-jobs", "4", "--no-claim-ahead"],
        &[("RUST_LOG", "info,lyanna_worker::worker::poll=debug")],
    );
    assert_eq!(w.wait(WAIT), Some(0));
    assert_eq!(results_of(&c, &ids, WAIT).await.len(), 100);
    let log = w.log_text();
    assert!(log.contains("claim sent want="), "{log}");
    assert!(
        !log.contains("ahead=4"),
        "a claim went ahead with --no-claim-ahead:\n{log}"
    );
}

#[tokio::test]
async fn burst_exit_does_not_wait_for_poll_delay() {
    // Once the last job's finish is written the burst is over: the worker exits then, even
    // with a claim still in flight at that moment, not a poll_delay later.
    let q = unique_queue("bursttail");
    let c = client(&q, Codec::Pickle);
    let ids = enqueue_many(&c, 60, "noop", vec![]).await;
    let started = std::time::Instant::now();
    let mut w = WorkerProcess::start(&q, &["--burst", "--max-jobs", "7", "--poll-delay", "60"]);
    assert_eq!(
        w.wait(WAIT),
        Some(0),
        "burst did not end before the 60 s poll_delay"
    );
    assert!(started.elapsed() < WAIT);
    assert_eq!(results_of(&c, &ids, WAIT).await.len(), 60);
}

#[tokio::test]
async fn health_key_and_check() {
    let q = unique_queue("health");
    let url = redis_url();
    let check = || {
        cli(&["--check", "--queue", &q, "--redis-url", &url])
            .status
            .code()
    };
    assert_eq!(check(), Some(1), "no worker: check fails");
    let mut w = WorkerProcess::start(&q, &["--health-check-interval", "1"]);
    let c = client(&q, Codec::Pickle);
    enqueue_many(&c, 2, "noop", vec![]).await;
    let mut conn = redis_conn(&url).await;
    let key = keys::health(&q);
    let ok = wait_until(WAIT, || {
        let mut conn = conn.clone();
        let key = key.clone();
        async move {
            let v: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            // Counters and the queue are read at slightly different moments: wait for a write
            // made after both jobs were reaped.
            v.and_then(|v| lyanna_worker::protocol::health::parse_health(&v))
                .is_some_and(|h| h.complete == 2 && h.ongoing == 0 && h.queued == 0)
        }
    })
    .await;
    assert!(ok, "health key never showed j_complete=2");
    let v: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let re_ok = v.len() > 16
        && v.as_bytes()[3] == b'-'
        && v.contains(" j_complete=2 j_failed=0 j_retried=0 j_ongoing=0 queued=0");
    assert!(re_ok, "health string {v:?}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 2000, "ttl {ttl}");
    assert_eq!(check(), Some(0));
    assert_eq!(w.terminate(WAIT), Some(0));
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists, "health key deleted on clean exit");
    assert_eq!(check(), Some(1));
}

#[test]
fn bad_config_exits_64_naming_the_setting() {
    let out = cli(&[
        "--settings",
        "Diagnostics",
        "--max-jobs",
        "0",
        "--http-addr",
        "off",
    ]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--max-jobs") && err.contains("LYANNA_MAX_JOBS"),
        "{err}"
    );

    let out = std::process::Command::new(worker_bin())
        .args(["--settings", "Diagnostics"])
        .env("LYANNA_POLL_DELAY", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--poll-delay"));

    let out = cli(&["--settings", "NoSuchSet"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--settings"));

    let out = cli(&[
        "--settings",
        "Diagnostics",
        "--redis-url",
        "http://user:secret@h",
    ]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--redis-url") && !err.contains("secret"),
        "{err}"
    );
}
