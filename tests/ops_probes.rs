//! The admin server as Kubernetes and Prometheus see it, against the real binary: `/readyz`
//! follows Redis (start-up, outage, recovery), `/livez` stays up throughout, `/metrics` is
//! valid exposition whose job counters move, the oldest due job's age skips running jobs, and
//! rejected Redis credentials end start-up.

mod common;
mod ops_support;

use common::{worker_at_with_admin, WorkerProcess};
use ops_support::promtext::{self, Exposition};
use ops_support::{enqueue_cli, http_get, poll_until, status, PortRedis};
use std::time::Duration;

/// A worker of the Diagnostics set with its admin server on a free port.
fn worker_with_admin(redis_url: &str, queue: &str, extra: &[&str]) -> (WorkerProcess, u16) {
    let flags = [&["--poll-delay", "0.1"], extra].concat();
    let (w, port) = worker_at_with_admin(redis_url, queue, &flags);
    assert!(
        poll_until(Duration::from_secs(10), || status(port, "/livez") != 0),
        "admin server did not come up"
    );
    (w, port)
}

fn scrape(port: u16) -> Exposition {
    let (code, body) = http_get(port, "/metrics").expect("GET /metrics");
    assert_eq!(code, 200);
    promtext::parse(&body).unwrap_or_else(|e| panic!("invalid exposition: {e}\n{body}"))
}

#[test]
fn readyz_follows_redis_while_livez_stays_up() {
    let mut redis = PortRedis::reserve(&[]);
    let queue = common::unique_queue("probes");
    let (w, port) = worker_with_admin(&redis.url(), &queue, &[]);

    // Start-up with no Redis: alive (it keeps retrying), not ready.
    for _ in 0..5 {
        assert_eq!(status(port, "/readyz"), 503);
        assert_eq!(status(port, "/livez"), 200);
        std::thread::sleep(Duration::from_millis(200));
    }
    redis.start();
    assert!(
        poll_until(Duration::from_secs(15), || status(port, "/readyz") == 200),
        "not ready after Redis started"
    );

    // Outage: not ready within 2 s, alive all along.
    redis.stop();
    assert!(
        poll_until(Duration::from_secs(2), || status(port, "/readyz") == 503),
        "still ready 2 s after Redis stopped"
    );
    for _ in 0..5 {
        assert_eq!(status(port, "/livez"), 200);
        std::thread::sleep(Duration::from_millis(100));
    }

    // Back: ready again once the worker has reconnected (its backoff is capped at 10 s).
    redis.start();
    assert!(
        poll_until(Duration::from_secs(15), || status(port, "/readyz") == 200),
        "not ready after Redis came back"
    );
    assert_eq!(status(port, "/livez"), 200);
    let m = scrape(port);
    let reconnects = promtext::value(&m, "lyanna_worker_redis_reconnects_total", &[]).unwrap();
    assert!(reconnects >= 1.0, "reconnect not counted: {reconnects}");
    // Each failed start-up attempt was logged, naming where it tried (no password here).
    let log = w.log_text();
    assert!(
        log.contains(&redis.url()) && log.to_lowercase().contains("retrying"),
        "start-up retries not logged:\n{log}"
    );
}

#[test]
fn metrics_parse_and_job_counters_move() {
    let url = common::redis_url();
    let queue = common::unique_queue("metrics");
    let (mut w, port) = worker_with_admin(&url, &queue, &[]);
    assert!(poll_until(Duration::from_secs(10), || status(
        port, "/readyz"
    ) == 200));

    let before = scrape(port);
    for name in [
        "lyanna_worker_jobs_in_progress",
        "lyanna_worker_queue_depth",
        "lyanna_worker_redis_connections",
        "lyanna_worker_redis_reconnects",
        "lyanna_worker_build",
    ] {
        assert!(
            promtext::family(&before, name).is_some(),
            "no family {name}"
        );
    }
    let build = promtext::family(&before, "lyanna_worker_build").unwrap();
    assert_eq!(build.kind, "info");
    assert_eq!(
        build.samples[0].labels["version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        promtext::value(
            &before,
            "lyanna_worker_jobs_completed_total",
            &[("function", "noop")]
        ),
        None,
        "fresh worker already counted noop jobs"
    );

    let n = 3;
    for _ in 0..n {
        enqueue_cli(&url, &queue, "noop", &[]);
    }
    enqueue_cli(&url, &queue, "fail", &["boom"]);
    let done = poll_until(Duration::from_secs(20), || {
        let m = scrape(port);
        let v = |name: &str, f: &str| promtext::value(&m, name, &[("function", f)]).unwrap_or(0.0);
        v("lyanna_worker_jobs_completed_total", "noop") == n as f64
            && v("lyanna_worker_jobs_failed_total", "fail") == 1.0
    });
    assert!(
        done,
        "job counters did not reach the jobs run:\n{:?}",
        scrape(port)
    );

    let m = scrape(port);
    let noop = [("function", "noop")];
    let v = |name: &str| promtext::value(&m, name, &noop).unwrap_or(f64::NAN);
    assert_eq!(v("lyanna_worker_jobs_started_total"), n as f64);
    assert_eq!(v("lyanna_worker_job_duration_seconds_count"), n as f64);
    assert_eq!(v("lyanna_worker_job_queue_wait_seconds_count"), n as f64);
    let duration = promtext::family(&m, "lyanna_worker_job_duration_seconds").unwrap();
    assert_eq!(duration.kind, "histogram");
    // A job leaves `jobs_in_progress` once its result is written, just after it is counted.
    let idle = poll_until(Duration::from_secs(10), || {
        let m = scrape(port);
        promtext::value(&m, "lyanna_worker_jobs_in_progress", &[]) == Some(0.0)
            && promtext::value(&m, "lyanna_worker_queue_depth", &[]) == Some(0.0)
    });
    assert!(
        idle,
        "jobs still in progress or queued:\n{:?}",
        scrape(port)
    );

    assert_eq!(w.terminate(Duration::from_secs(15)), Some(0));
}

#[test]
fn oldest_due_job_age_skips_running_jobs_and_slots_are_max_jobs() {
    let url = common::redis_url();
    let queue = common::unique_queue("oldest");
    let (mut w, port) = worker_with_admin(&url, &queue, &["--max-jobs", "1"]);
    assert!(poll_until(Duration::from_secs(10), || status(
        port, "/readyz"
    ) == 200));
    let m = scrape(port);
    let v = |m: &Exposition, name: &str| promtext::value(m, name, &[]);
    assert_eq!(v(&m, "lyanna_worker_slots"), Some(1.0), "slots:\n{m:?}");
    assert_eq!(v(&m, "lyanna_worker_oldest_due_job_age_seconds"), Some(0.0));
    assert_eq!(v(&m, "lyanna_worker_leases_lost_total"), Some(0.0));
    assert_eq!(v(&m, "lyanna_worker_finish_errors_total"), Some(0.0));

    // The one slot runs a 5 s job, which stays in the queue set (due, with its in-progress key).
    enqueue_cli(&url, &queue, "sleep_ms", &["5000"]);
    assert!(
        poll_until(Duration::from_secs(10), || v(
            &scrape(port),
            "lyanna_worker_jobs_in_progress"
        ) == Some(1.0)),
        "sleep_ms did not start"
    );
    std::thread::sleep(Duration::from_millis(1500));
    // The running job is at least 1.5 s past due: an age below 1 s means it was skipped.
    let still_zero = v(&scrape(port), "lyanna_worker_oldest_due_job_age_seconds");
    assert_eq!(still_zero, Some(0.0), "running job counted as waiting");
    enqueue_cli(&url, &queue, "noop", &[]);
    let first = v(&scrape(port), "lyanna_worker_oldest_due_job_age_seconds").unwrap();
    assert!(
        (0.0..1.0).contains(&first),
        "age {first} right after enqueue: the running job was not skipped"
    );
    // The noop waits for the slot: its age grows.
    let mut seen = first;
    let grew = poll_until(Duration::from_secs(3), || {
        seen = v(&scrape(port), "lyanna_worker_oldest_due_job_age_seconds").unwrap_or(0.0);
        seen >= 1.0
    });
    assert!(
        grew,
        "age of the waiting noop did not grow past 1 s: {seen}"
    );
    // Both ran: nothing due any more.
    let idle = poll_until(Duration::from_secs(15), || {
        let m = scrape(port);
        promtext::value(
            &m,
            "lyanna_worker_jobs_completed_total",
            &[("function", "noop")],
        ) == Some(1.0)
            && v(&m, "lyanna_worker_oldest_due_job_age_seconds") == Some(0.0)
    });
    assert!(
        idle,
        "age not back to 0 after the jobs ran:\n{:?}",
        scrape(port)
    );
    assert_eq!(w.terminate(Duration::from_secs(15)), Some(0));
}

#[test]
fn rejected_credentials_end_start_up() {
    let mut redis = PortRedis::reserve(&["--requirepass", "s3cret-pw"]);
    redis.start();
    let queue = common::unique_queue("auth");
    for url in [
        format!("redis://:wrong-pw@127.0.0.1:{}", redis.port),
        redis.url(), // no password at all: NOAUTH on the first command
    ] {
        let (mut w, _) = worker_at_with_admin(
            &url,
            &queue,
            &[
                "--poll-delay",
                "0.5", // the default
            ],
        );
        let code = w.wait(Duration::from_secs(15));
        assert!(
            matches!(code, Some(c) if c != 0),
            "worker did not fail: {code:?}"
        );
        let log = w.log_text();
        let reason = log.to_lowercase();
        assert!(
            reason.contains("auth") || reason.contains("password"),
            "no reason given:\n{log}"
        );
        assert!(!log.contains("wrong-pw"), "password in the log:\n{log}");
    }
}

#[test]
fn prometheus_parser_rejects_malformed_text() {
    let ok = "# TYPE a counter\na_total{x=\"1\"} 1\n# EOF\n";
    assert!(promtext::parse(ok).is_ok());
    for bad in [
        "# TYPE a counter\na_total 1\n",
        "# TYPE a counter\na 1\n# EOF\n",
        "# TYPE a gauge\na{x=\"1} 1\n# EOF\n",
        "# TYPE a gauge\na 1 2 3\n# EOF\n",
        "a 1\n# EOF\n",
        "# TYPE a histogram\na_bucket{le=\"1\"} 2\na_bucket{le=\"+Inf\"} 1\na_count 1\n# EOF\n",
    ] {
        assert!(promtext::parse(bad).is_err(), "accepted {bad:?}");
    }
}
