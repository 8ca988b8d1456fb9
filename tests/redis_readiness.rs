//! Readiness follows Redis closely and start-up fails fast on what retrying cannot fix:
//! `/readyz` turns 503 within 3 s of Redis going silent (a blackholed loopback proxy, not a
//! closed port) and 200 within 2 s of it answering again; a database index the server lacks,
//! or an ACL that refuses the worker's scripts (EVALSHA), ends start-up with exit 1 and a clear message.

mod common;
mod ops_support;

use common::proxy::BlackholeProxy;
use common::{free_port, unique_queue, WorkerProcess};
use ops_support::{poll_until, status, PortRedis};
use std::time::{Duration, Instant};

/// A Diagnostics worker on `queue` with `args` (which name the Redis URL and admin address).
fn spawn_worker(queue: &str, args: &[&str]) -> WorkerProcess {
    let mut all = vec![
        "--settings",
        "Diagnostics",
        "--queue",
        queue,
        "--poll-delay",
        "0.05",
    ];
    all.extend_from_slice(args);
    WorkerProcess::spawn(&all, &[])
}

/// Seconds until `/readyz` answers `want` (checked every 50 ms), or `None` after `limit`.
fn time_until(port: u16, want: u16, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    poll_until(limit, || status(port, "/readyz") == want).then(|| t0.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_a_blackholed_redis() {
    let redis_port: u16 = common::redis_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or(6379);
    let proxy = BlackholeProxy::start(redis_port).await;
    let queue = unique_queue("readyz-blackhole");
    let http = free_port();
    let url = format!("redis://127.0.0.1:{}", proxy.port);
    let addr = format!("127.0.0.1:{http}");
    let mut w = spawn_worker(
        &queue,
        &[
            "--redis-url",
            &url,
            "--http-addr",
            &addr,
            "--redis-command-timeout",
            "3",
        ],
    );
    let outcome = tokio::task::spawn_blocking(move || {
        assert!(
            time_until(http, 200, Duration::from_secs(15)).is_some(),
            "never ready"
        );
        let mut measured = Vec::new();
        // A short silence (the connection survives) and one longer than the command timeout
        // plus the connection check (the connection is replaced while Redis is silent).
        for silence in [Duration::from_secs(4), Duration::from_secs(10)] {
            proxy.blackhole();
            let down = time_until(http, 503, Duration::from_secs(10));
            let down = down.expect("still ready 10 s into the blackhole");
            assert!(down <= Duration::from_secs(3), "503 only after {down:?}");
            std::thread::sleep(silence.saturating_sub(down));
            assert_eq!(status(http, "/readyz"), 503, "ready while blackholed");
            proxy.restore();
            let up = time_until(http, 200, Duration::from_secs(10)).expect("never ready again");
            assert!(
                up <= Duration::from_secs(2),
                "200 only {up:?} after the restore"
            );
            measured.push((silence, down, up));
        }
        (proxy, measured)
    })
    .await
    .expect("probe thread");
    let (_proxy, measured) = outcome;
    eprintln!("blackhole (silence, to 503, back to 200): {measured:?}");
    assert_eq!(w.terminate(Duration::from_secs(15)), Some(0));
}

/// Runs the worker to its end (at most `limit`) and returns its exit code and log.
fn run_worker(args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let queue = unique_queue("startup-fatal");
    let mut w = spawn_worker(&queue, args);
    let code = w.wait(limit);
    (code, w.log_text())
}

#[test]
fn database_index_out_of_range_ends_start_up() {
    let mut redis = PortRedis::reserve(&[]);
    redis.start();
    let url = format!("redis://127.0.0.1:{}/99", redis.port);
    let t0 = Instant::now();
    let (code, log) = run_worker(
        &["--redis-url", &url, "--http-addr", "off"],
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(1), "not exit 1 within 20 s:\n{log}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(log.contains("DB index is out of range"), "{log}");
    assert!(log.contains("databases"), "no hint:\n{log}");
    assert!(log.contains("/99"), "the URL is not named:\n{log}");
    // The CLI too.
    let out = common::cli(&["queue", "--redis-url", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("out of range"));
}

#[test]
fn an_acl_without_scripts_ends_start_up() {
    let mut redis = PortRedis::reserve(&[
        "--user", "default", "off", "--user", "app", "on", ">app-pw", "~*", "&*", "+@all", "-eval",
        "-evalsha",
    ]);
    redis.start();
    let url = format!("redis://app:app-pw@127.0.0.1:{}", redis.port);
    let (code, log) = run_worker(
        &["--redis-url", &url, "--http-addr", "off"],
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(1), "not exit 1 within 20 s:\n{log}");
    assert!(log.contains("no permissions to run the 'evalsha'"), "{log}");
    assert!(log.contains("ACL"), "no hint:\n{log}");
    assert!(!log.contains("app-pw"), "{log}");
}

#[test]
fn a_wrong_password_ends_start_up() {
    let mut redis = PortRedis::reserve(&["--requirepass", "right-pw"]);
    redis.start();
    let url = format!("redis://:wrong-pw@127.0.0.1:{}", redis.port);
    let (code, log) = run_worker(
        &["--redis-url", &url, "--http-addr", "off"],
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("REDIS_PASSWORD"), "no hint:\n{log}");
}
