//! Graceful drain of the real binary on SIGTERM: running jobs finish within
//! `--job-completion-wait`, or are handed back to the queue for another worker; none is lost,
//! and the health key goes with the worker. A second signal exits at once, and the jobs it
//! abandoned are recovered once their in-progress keys expire.

mod common;
mod ops_support;

use common::{free_port, worker_at, WorkerProcess};
use ops_support::{enqueue_cli, poll_until, status};
use redis::Commands;
use std::time::Duration;

const JOBS: usize = 20;

fn conn() -> redis::Connection {
    redis::Client::open(common::redis_url())
        .and_then(|c| c.get_connection())
        .expect("connect to test Redis")
}

fn exists(c: &mut redis::Connection, key: &str) -> bool {
    c.exists(key).expect("EXISTS")
}

/// Enqueues `JOBS` jobs of `sleep_ms(2000)` on a new queue, before any worker runs, so one
/// worker with `--max-jobs 20` claims them all at once.
fn queue_of_sleepers(test: &str) -> (String, Vec<String>) {
    let queue = common::unique_queue(test);
    let url = common::redis_url();
    let ids = (0..JOBS)
        .map(|_| enqueue_cli(&url, &queue, "sleep_ms", &["2000"]))
        .collect();
    (queue, ids)
}

fn start_worker(queue: &str, wait: &str, admin_port: u16) -> WorkerProcess {
    let addr = format!("127.0.0.1:{admin_port}");
    let url = common::redis_url();
    worker_at(
        &url,
        queue,
        &[
            "--poll-delay",
            "0.05",
            "--max-jobs",
            "20",
            "--job-completion-wait",
            wait,
            "--heartbeat-ttl",
            "3",
            "--http-addr",
            &addr,
        ],
    )
}

fn all_running(c: &mut redis::Connection, ids: &[String]) -> bool {
    ids.iter()
        .all(|id| exists(c, &format!("arq:in-progress:{id}")))
}

/// The job's stored result, as the CLI prints it.
fn result(id: &str) -> serde_json::Value {
    let out = common::cli(&["result", id, "--redis-url", &common::redis_url()]);
    assert!(
        out.status.success(),
        "no successful result for {id}: {out:?}"
    );
    serde_json::from_slice(&out.stdout).expect("result JSON")
}

#[test]
fn sigterm_lets_running_jobs_finish_within_the_completion_wait() {
    let (queue, ids) = queue_of_sleepers("drain-finish");
    let mut c = conn();
    let port = free_port();
    let mut w = start_worker(&queue, "5", port);
    assert!(
        poll_until(Duration::from_secs(15), || all_running(&mut c, &ids)),
        "jobs did not all start"
    );
    let health = format!("{queue}:health-check");
    assert!(exists(&mut c, &health), "no health key while running");
    assert_eq!(status(port, "/readyz"), 200);

    w.signal("TERM");
    // Draining: not ready at once (the admin server stays up until the drain ends).
    assert!(
        poll_until(Duration::from_secs(5), || status(port, "/readyz") == 503),
        "/readyz did not turn 503 during the drain"
    );
    assert_eq!(
        w.wait(Duration::from_secs(20)),
        Some(0),
        "worker did not exit 0"
    );

    for id in &ids {
        let r = result(id);
        assert_eq!(r["success"], true, "{r}");
        assert_eq!(r["tries"], 1, "{r}");
        assert!(!exists(&mut c, &format!("arq:in-progress:{id}")));
    }
    assert!(!exists(&mut c, &health), "health key left behind");
    let queued: u64 = c.zcard(&queue).unwrap();
    assert_eq!(queued, 0);
}

#[test]
fn sigterm_hands_unfinished_jobs_to_another_worker() {
    let (queue, ids) = queue_of_sleepers("drain-handoff");
    let mut c = conn();
    let mut first = start_worker(&queue, "0.5", free_port());
    assert!(
        poll_until(Duration::from_secs(15), || all_running(&mut c, &ids)),
        "jobs did not all start"
    );
    first.signal("TERM");
    assert_eq!(
        first.wait(Duration::from_secs(15)),
        Some(0),
        "worker did not exit 0"
    );
    assert!(
        !exists(&mut c, &format!("{queue}:health-check")),
        "health key left behind"
    );

    // Each job is either finished or back in the queue, free for anyone to claim.
    let mut handed_back = 0;
    for id in &ids {
        if exists(&mut c, &format!("arq:result:{id}")) {
            continue;
        }
        let score: Option<f64> = c.zscore(&queue, id).unwrap();
        assert!(
            score.is_some(),
            "job {id} neither finished nor queued: lost"
        );
        assert!(
            !exists(&mut c, &format!("arq:in-progress:{id}")),
            "job {id} still marked running"
        );
        handed_back += 1;
    }
    assert!(
        handed_back > 0,
        "no job outlasted a 0.5 s wait for 2 s jobs"
    );

    let mut second = start_worker(&queue, "5", free_port());
    let all_done = poll_until(Duration::from_secs(30), || {
        ids.iter()
            .all(|id| exists(&mut c, &format!("arq:result:{id}")))
    });
    assert!(
        all_done,
        "not every job got a result from the second worker"
    );
    for id in &ids {
        let r = result(id);
        assert_eq!(r["success"], true, "{r}");
        assert!(
            r["tries"] == 1 || r["tries"] == 2,
            "ran more than twice: {r}"
        );
    }
    let queued: u64 = c.zcard(&queue).unwrap();
    assert_eq!(queued, 0, "jobs left in the queue");
    assert_eq!(second.terminate(Duration::from_secs(15)), Some(0));
}

#[test]
fn second_signal_exits_at_once_and_abandoned_jobs_are_recovered() {
    let (queue, ids) = queue_of_sleepers("drain-twice");
    let mut c = conn();
    let mut first = start_worker(&queue, "60", free_port());
    assert!(
        poll_until(Duration::from_secs(15), || all_running(&mut c, &ids)),
        "jobs did not all start"
    );
    first.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    first.signal("TERM");
    let code = first.wait(Duration::from_secs(5));
    assert!(
        matches!(code, Some(c) if c != 0),
        "second signal did not end the worker: {code:?}"
    );

    // Their in-progress keys expire (--heartbeat-ttl 3) and another worker runs them.
    let mut second = start_worker(&queue, "5", free_port());
    let all_done = poll_until(Duration::from_secs(30), || {
        ids.iter()
            .all(|id| exists(&mut c, &format!("arq:result:{id}")))
    });
    assert!(all_done, "abandoned jobs were not recovered");
    for id in &ids {
        assert_eq!(result(id)["success"], true);
    }
    assert_eq!(second.terminate(Duration::from_secs(15)), Some(0));
}
