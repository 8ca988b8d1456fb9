//! Several workers on one queue: a mixed Python + Rust fleet, crash recovery after SIGKILL,
//! and cron ticks enqueued and run once across a fleet.

mod common;

use common::*;
use lyanna_task_api::Value;
use lyanna_worker::codec::Codec;
use std::collections::HashMap;
use std::time::Duration;

/// Counts `→ {id}:` start lines per job id in worker logs (ours and Python arq's share the
/// format).
fn starts(logs: &[String]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for log in logs {
        for line in log.lines() {
            if let Some((_, rest)) = line.split_once("→ ") {
                if let Some((id, _)) = rest.split_once(':') {
                    *seen.entry(id.trim().to_string()).or_insert(0) += 1;
                }
            }
        }
    }
    seen
}

/// One Python arq worker and two of ours drain 3,000 `sleep_ms` jobs: every job has exactly
/// one result, from its first and only try, and was started exactly once.
#[test]
fn mixed_fleet_runs_every_job_once() {
    let q = unique_queue("fleet");
    let ids: Vec<String> = run_python(
        "interop.py",
        &["enqueue", &q, "3000", "sleep_ms", "20"],
        &[],
    )
    .lines()
    .map(str::to_string)
    .collect();
    assert_eq!(ids.len(), 3000);
    // The Python worker starts first (it takes a moment to import and connect) and ours run
    // fewer jobs at once, so that both kinds really share the queue.
    let mut py = PythonWorker::start(&q, &[("ARQ_MAX_JOBS", "10")]);
    let rt0 = tokio::runtime::Runtime::new().unwrap();
    let started = rt0.block_on(async {
        let conn = redis_conn(&redis_url()).await;
        let key = format!("{q}:health-check");
        wait_until(Duration::from_secs(30), || {
            let mut conn = conn.clone();
            let key = key.clone();
            async move {
                redis::cmd("EXISTS")
                    .arg(&key)
                    .query_async::<bool>(&mut conn)
                    .await
                    .unwrap()
            }
        })
        .await
    });
    assert!(started, "the Python worker never started");
    let mut a = WorkerProcess::start(&q, &["--max-jobs", "5"]);
    let mut b = WorkerProcess::start(&q, &["--max-jobs", "5"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = client(&q, Codec::Pickle);
    let results = rt.block_on(results_of(&c, &ids, Duration::from_secs(240)));
    for (id, r) in ids.iter().zip(&results) {
        assert!(r.success, "{id}: {:?}", r.result);
        assert_eq!(r.job_try, 1, "{id} ran more than once");
    }
    assert_eq!(a.terminate(Duration::from_secs(20)), Some(0));
    assert_eq!(b.terminate(Duration::from_secs(20)), Some(0));
    py.stop();
    let logs = [a.log_text(), b.log_text(), py.log_text()];
    let seen = starts(&logs);
    for id in &ids {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "job {id} started {:?} times",
            seen.get(id)
        );
    }
    let ours = starts(&logs[..2]).len();
    let python = starts(&logs[2..]).len();
    println!("mixed fleet: ours ran {ours}, python ran {python}");
    assert!(
        ours > 0 && python > 0,
        "both kinds of worker took part (ours {ours}, python {python})"
    );
}

/// SIGKILL our worker while 50 jobs run; a second worker finishes them all once the dead
/// worker's in-progress keys expire (heartbeat TTL), and the try counter shows the extra try.
#[test]
fn crash_recovery_after_sigkill() {
    let q = unique_queue("crash");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = client(&q, Codec::Pickle);
    let ids = rt.block_on(enqueue_many(&c, 50, "sleep_ms", vec![Value::Int(3000)]));
    let mut a = WorkerProcess::start(&q, &["--max-jobs", "50", "--heartbeat-ttl", "3"]);
    let all_running = rt.block_on(wait_until(Duration::from_secs(30), || {
        let c = c.clone();
        let ids = ids.clone();
        async move {
            for id in &ids {
                if c.status(id).await.unwrap() != lyanna_worker::client::JobStatus::InProgress {
                    return false;
                }
            }
            true
        }
    }));
    assert!(all_running, "the 50 jobs never all ran at once");
    a.kill9();
    let _b = WorkerProcess::start(&q, &["--max-jobs", "50", "--heartbeat-ttl", "3"]);
    let results = rt.block_on(results_of(&c, &ids, Duration::from_secs(60)));
    for r in &results {
        assert!(r.success, "{:?}", r.result);
        assert_eq!(r.job_try, 2, "the retry counter shows the crashed try");
    }
}

/// Three workers with a per-second cron job: each tick is enqueued and run exactly once, with
/// arq's id `cron:tick:{unix ms}` (ms ending in 123, the default microsecond 123456).
#[test]
fn cron_ticks_run_once_across_three_workers() {
    // Cron ids (`cron:tick:{ms}`) are global in arq, not per queue: a private Redis, so
    // another test's per-second cron cannot take our ticks.
    let server = RedisServer::start(&[]);
    let url = server.url();
    let q = unique_queue("cron");
    let env = [("DIAGNOSTICS_CRON", "every-second")];
    let mut workers: Vec<_> = (0..3)
        .map(|_| worker_at_with(&url, &q, &[], &env))
        .collect();
    std::thread::sleep(Duration::from_secs(6));
    for w in &mut workers {
        assert_eq!(w.terminate(Duration::from_secs(20)), Some(0));
    }
    let ticks = take_cron_ticks(&url, &q);
    assert!(
        ticks.len() >= 3,
        "only {} ticks in 6 s: {ticks:?}",
        ticks.len()
    );
    let mut unique = ticks.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ticks.len(), "a tick ran twice: {ticks:?}");
    for t in &ticks {
        let ms: i64 = t
            .strip_prefix("cron:tick:")
            .expect("arq cron id")
            .parse()
            .unwrap();
        assert_eq!(ms % 1000, 123, "{t}");
    }
    // Consecutive seconds: no tick skipped between the first and the last.
    let mut secs: Vec<i64> = ticks
        .iter()
        .map(|t| t.rsplit(':').next().unwrap().parse::<i64>().unwrap() / 1000)
        .collect();
    secs.sort();
    assert_eq!(
        (secs[secs.len() - 1] - secs[0]) as usize + 1,
        secs.len(),
        "{ticks:?}"
    );
}
