//! Big payloads through the worker binary, enqueued by Python arq (tests/python/big_payloads.py):
//! a 100k-key dict decodes fast and off the runtime (a small job beside it is not held up),
//! several big decodes at once do not starve lease renewals, and under an address-space limit
//! (RLIMIT_AS) 10 MB and 50 MB jobs run or fail cleanly while the worker stays up.

mod common;
mod ops_support;

use common::{free_port, run_python, unique_queue, wait_until, WorkerProcess};
use ops_support::http_get;
use serde_json::Value as Json;
use std::time::Duration;

fn enqueue(q: &str, func: &str, kinds: &[&str]) -> Vec<String> {
    let mut args = vec!["enqueue", q, func];
    args.extend_from_slice(kinds);
    let ids: Vec<String> = run_python("big_payloads.py", &args, &[])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), kinds.len(), "enqueue printed {ids:?}");
    ids
}

fn results(q: &str, ids: &[String]) -> Vec<Json> {
    let mut args = vec!["results", q];
    args.extend(ids.iter().map(String::as_str));
    run_python("big_payloads.py", &args, &[])
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// Waits (up to `timeout`) until every id has a result; returns them.
async fn all_results(q: &str, ids: &[String], timeout: Duration) -> Vec<Json> {
    let mut last = Vec::new();
    let done = wait_until(timeout, || {
        last = results(q, ids);
        let all = last.iter().all(|r| r["found"] == true);
        async move { all }
    })
    .await;
    assert!(done, "not every job has a result: {last:?}");
    last
}

fn ms(r: &Json, field: &str) -> i64 {
    r[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} in {r}"))
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{field} missing for pid {pid}"))
}

fn alive(w: &mut WorkerProcess) -> bool {
    matches!(w.child.try_wait(), Ok(None))
}

/// A noop of a 100k-key dict (Python's pickle.loads: ~20 ms) ends well under a second, and a
/// small noop enqueued right after it ends within a second of its enqueue while the big one is
/// decoded off the runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dict_of_100k_keys_is_fast_and_does_not_hold_up_a_small_job() {
    let q = unique_queue("bp-dict");
    let _w = WorkerProcess::start(&q, &[]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ids = enqueue(&q, "noop", &["dict100k", "none"]);
    let r = all_results(&q, &ids, Duration::from_secs(30)).await;
    let (big, small) = (&r[0], &r[1]);
    let big_ms = ms(big, "finish_ms") - ms(big, "enqueue_ms");
    let small_ms = ms(small, "finish_ms") - ms(small, "enqueue_ms");
    println!("100k-key dict: enqueue -> finish {big_ms} ms; small job beside it: {small_ms} ms");
    assert_eq!(
        (big["success"].as_bool(), small["success"].as_bool()),
        (Some(true), Some(true)),
        "{r:?}"
    );
    // Debug build (the decoder and the result's re-encoding of the arguments, unoptimised);
    // the quadratic decoder took 37-50 s here.
    assert!(big_ms < 2_500, "100k-key dict took {big_ms} ms");
    assert!(small_ms < 1_000, "small job held up: {small_ms} ms");
}

/// Four 1M-string payloads decoding at once plus a 6 s sleep with a 3 s lease on a 2-core box:
/// renewals keep every lease (no "lease lost", leases_lost_total 0) and every job runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_decodes_at_once_do_not_starve_lease_renewals() {
    let q = unique_queue("bp-starve");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = common::redis_url();
    let w = WorkerProcess::spawn(
        &[
            "--settings",
            "Diagnostics",
            "--queue",
            &q,
            "--redis-url",
            &url,
            "--poll-delay",
            "0.05",
            "--heartbeat-ttl",
            "3",
            "--http-addr",
            &addr,
        ],
        &[],
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut ids = enqueue(&q, "sleep_ms", &["sleep6000"]);
    ids.extend(enqueue(
        &q,
        "noop",
        &["strings1m", "strings1m", "strings1m", "strings1m"],
    ));
    let r = all_results(&q, &ids, Duration::from_secs(90)).await;
    let log = common::strip_ansi(&w.log_text());
    let lost_lines = common::count_lines(&log, "lease lost");
    let (_, metrics) = http_get(port, "/metrics").expect("metrics answer");
    let lost_metric = metrics
        .lines()
        .find(|l| l.starts_with("lyanna_worker_leases_lost_total"))
        .unwrap_or("lyanna_worker_leases_lost_total <missing>")
        .to_string();
    let tries: Vec<i64> = r.iter().map(|x| ms(x, "try")).collect();
    let spans: Vec<i64> = r
        .iter()
        .map(|x| ms(x, "finish_ms") - ms(x, "enqueue_ms"))
        .collect();
    println!(
        "lease lost lines {lost_lines}; {lost_metric}; tries {tries:?}; enqueue->finish ms {spans:?}"
    );
    assert_eq!(lost_lines, 0, "{log}");
    assert!(lost_metric.ends_with(" 0"), "{lost_metric}");
    assert!(r.iter().all(|x| x["success"] == true), "{r:?}");
    assert_eq!(tries, vec![1; 5], "a job ran more than once");
}

/// Under RLIMIT_AS = the worker's idle address space + 256 MiB (what a container limit of
/// idle + 256 MiB allows, counted in virtual memory): a 10 MB job (1M short strings) runs, a
/// 50 MB one (5M short strings, ~500 MB decoded) is refused by the decode budget with a
/// DeserializationError naming it, a small job after them runs, and a poison job (3M ints, more
/// than the budget) ends with one failed result; the worker is the same process throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_payloads_under_a_memory_limit_run_or_fail_cleanly() {
    let q = unique_queue("bp-memlimit");
    // RLIMIT_AS counts reserved address space: each glibc malloc arena reserves 64 MiB
    // (threads of spawn_blocking / block_in_place get their own), so the arenas are capped as
    // one does for a worker under `ulimit -v`; a cgroup limit counts resident memory instead.
    let mut w = WorkerProcess::start_with(
        &q,
        &["--max-job-memory", "128MiB"],
        &[("MALLOC_ARENA_MAX", "2")],
    );
    let pid = w.pid();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let idle_vsz = status_kib(pid, "VmSize");
    let limit = (idle_vsz + 256 * 1024) * 1024;
    let set = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--as={limit}")])
        .status()
        .expect("run prlimit");
    assert!(set.success(), "prlimit failed");
    println!(
        "idle VSZ {} MiB, RSS {} MiB; RLIMIT_AS {} MiB",
        idle_vsz / 1024,
        status_kib(pid, "VmRSS") / 1024,
        limit >> 20
    );
    let big = enqueue(&q, "noop", &["strings1m", "strings5m"]);
    let r = all_results(&q, &big, Duration::from_secs(120)).await;
    assert!(alive(&mut w), "worker died: {}", w.log_text());
    println!("10 MB: {}\n50 MB: {}", r[0], r[1]);
    assert_eq!(r[0]["success"], true, "10 MB job: {}", r[0]);
    assert_eq!(r[1]["success"], false, "50 MB job: {}", r[1]);
    // The result carries arq's own exception (DeserializationError('unable to deserialize
    // job')); the reason is on the worker's warning line.
    let result = r[1]["result"].as_str().unwrap_or_default();
    assert!(
        result.contains("DeserializationError"),
        "50 MB job: {result}"
    );
    let log = common::strip_ansi(&w.log_text());
    let reason = log
        .lines()
        .find(|l| l.contains("deserializing job failed") && l.contains(big[1].as_str()))
        .unwrap_or_else(|| panic!("no reason logged for the 50 MB job:\n{log}"));
    println!("reason: {reason}");
    assert!(reason.contains("budget"), "{reason}");
    let small = enqueue(&q, "noop", &["none"]);
    let s = all_results(&q, &small, Duration::from_secs(20)).await;
    assert_eq!(s[0]["success"], true, "small job after them: {}", s[0]);

    let poison = enqueue(&q, "noop", &["ints3m"]);
    let p = all_results(&q, &poison, Duration::from_secs(60)).await;
    // Linger: a crash on a retry, or a second result, would show within a few polls.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let p2 = results(&q, &poison);
    println!("poison: {}", p[0]);
    assert!(
        alive(&mut w),
        "worker died on the poison job: {}",
        w.log_text()
    );
    assert_eq!(w.pid(), pid);
    assert_eq!(p[0]["success"], false, "{}", p[0]);
    assert_eq!(p[0]["try"], 1, "{}", p[0]);
    assert_eq!(p2[0], p[0], "the poison job's result changed (ran again)");
    let log = common::strip_ansi(&w.log_text());
    let runs = common::count_lines(&log, &poison[0]);
    println!(
        "log lines naming the poison job: {runs}; peak RSS {} MiB",
        status_kib(pid, "VmHWM") / 1024
    );
    assert!(!log.contains("memory allocation"), "{log}");
}

fn connections_made(port: u16) -> u64 {
    let (_, metrics) = http_get(port, "/metrics").expect("metrics answer");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("lyanna_worker_redis_connections_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no redis_connections_total in:\n{metrics}"))
}

/// redis-rs keeps a connection's buffers at their biggest for the connection's life: after a
/// job whose payload (10 MB) and result were that big the worker swaps in a fresh connection
/// (one for the payload read, one for the result written), and a small job changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_job_is_followed_by_fresh_connections_a_small_one_is_not() {
    let q = unique_queue("bp-refresh");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = common::redis_url();
    let _w = WorkerProcess::spawn(
        &[
            "--settings",
            "Diagnostics",
            "--queue",
            &q,
            "--redis-url",
            &url,
            "--poll-delay",
            "0.05",
            "--http-addr",
            &addr,
        ],
        &[],
    );
    let small = enqueue(&q, "noop", &["none"]);
    all_results(&q, &small, Duration::from_secs(20)).await;
    // The poll loop publishes the count on its next turn.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = connections_made(port);

    let small = enqueue(&q, "noop", &["none"]);
    all_results(&q, &small, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        connections_made(port),
        before,
        "a small job made a connection"
    );

    let big = enqueue(&q, "noop", &["strings1m"]);
    let r = all_results(&q, &big, Duration::from_secs(60)).await;
    assert_eq!(r[0]["success"], true, "{}", r[0]);
    let mut after = before;
    let fresh = wait_until(Duration::from_secs(10), || {
        after = connections_made(port);
        async move { after >= before + 2 }
    })
    .await;
    assert!(
        fresh,
        "connections made: {before} before the big job, {after} after"
    );
}
