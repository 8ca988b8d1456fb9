//! Worker identity and crash recovery (issue 10): after kill -9, a worker restarted on the same
//! host with default flags takes the dead one's identity and starts its jobs at once; a worker
//! of another identity gets them when their leases lapse; two live processes never share an
//! identity, and several default-flag workers on one host each get their own slot.

mod common;

use common::*;
use lyanna_task_api::Value;
use lyanna_worker::codec::Codec;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const JOBS: usize = 40;

/// `→ {id}:` start lines per job id in a worker log.
fn starts(log: &str) -> HashMap<String, Vec<String>> {
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for line in strip_ansi(log).lines() {
        if let Some((_, rest)) = line.split_once("→ ") {
            if let Some((id, _)) = rest.split_once(':') {
                seen.entry(id.trim().to_string())
                    .or_default()
                    .push(line.to_string());
            }
        }
    }
    seen
}

/// Waits until `w` has started every id once; returns false on timeout.
fn wait_started(w: &WorkerProcess, ids: &[String], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = starts(&w.log_text());
        if ids.iter().all(|id| seen.contains_key(id)) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn cleanup(queue: &str, ids: &[String]) {
    let mut conn = redis_conn(&redis_url()).await;
    let mut keys: Vec<String> = Vec::new();
    for id in ids {
        for p in ["arq:job:", "arq:in-progress:", "arq:retry:", "arq:result:"] {
            keys.push(format!("{p}{id}"));
        }
    }
    let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
    drop_queue(&mut conn, queue).await;
}

/// Runs 40 jobs of 20 s on worker A, kills it with SIGKILL once all run, starts B with
/// `b_flags`, and returns the time from the kill until B had started all 40 (each exactly once
/// on B, none finished by A).
fn kill9_then_restart(test: &str, a_flags: &[&str], b_flags: &[&str], limit: Duration) -> Duration {
    let q = unique_queue(test);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = client(&q, Codec::Pickle);
    let ids = rt.block_on(enqueue_many(&c, JOBS, "sleep_ms", vec![Value::Int(20_000)]));
    let env = [("HOSTNAME", "lease-test-host")];
    let mut a_args = vec!["--max-jobs", "40"];
    a_args.extend_from_slice(a_flags);
    let mut a = WorkerProcess::start_with(&q, &a_args, &env);
    assert!(
        wait_started(&a, &ids, Duration::from_secs(30)),
        "A never ran all {JOBS} jobs at once"
    );
    a.kill9();
    let killed = Instant::now();
    let mut b_args = vec!["--max-jobs", "40"];
    b_args.extend_from_slice(b_flags);
    let b = WorkerProcess::start_with(&q, &b_args, &env);
    let all = wait_started(&b, &ids, limit + Duration::from_secs(30));
    let took = killed.elapsed();
    println!("{test}: B started all {JOBS} jobs {took:?} after the kill (limit {limit:?})");
    assert!(
        all,
        "B did not start all jobs within {:?}",
        limit + Duration::from_secs(30)
    );
    let seen = starts(&b.log_text());
    for id in &ids {
        let lines = &seen[id];
        assert_eq!(
            lines.len(),
            1,
            "{id} started {} times on B: {lines:?}",
            lines.len()
        );
        assert!(lines[0].contains("try=2"), "{id}: {}", lines[0]);
    }
    assert!(
        !a.log_text().contains(" ← "),
        "A finished a job before it was killed"
    );
    assert!(took <= limit, "recovery took {took:?}, more than {limit:?}");
    drop(b);
    rt.block_on(cleanup(&q, &ids));
    took
}

/// The same host, default flags (the restart a DaemonSet does): B takes over A's identity
/// (`lease-test-host/0`) and with it A's leases, within 5 s of the kill although the lease
/// is the default 60 s.
#[test]
fn restart_on_the_same_host_starts_the_dead_workers_jobs_within_5s() {
    kill9_then_restart("kill9-same-host", &[], &[], Duration::from_secs(5));
}

/// Another identity: B waits for A's leases (5 s) to lapse, and no longer.
#[test]
fn worker_of_another_identity_gets_the_jobs_within_one_lease() {
    let a_id = format!("a-{}", &uid()[..8]);
    let b_id = format!("b-{}", &uid()[..8]);
    // One lease after the kill, plus B's poll and start-up.
    let limit = Duration::from_millis(6_500);
    kill9_then_restart(
        "kill9-other-id",
        &["--worker-id", &a_id, "--heartbeat-ttl", "5"],
        &["--worker-id", &b_id, "--heartbeat-ttl", "5"],
        limit,
    );
}

fn wait_for_line(w: &WorkerProcess, needle: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(l) = strip_ansi(&w.log_text())
            .lines()
            .find(|l| l.contains(needle))
        {
            return Some(l.to_string());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A second live process with the same explicit `--worker-id` refuses to start (exit 64,
/// naming the id), on the same host (the lock file) and from another host (the identity key
/// in Redis, renewed by the live holder); the first keeps running.
#[test]
fn same_explicit_worker_id_twice_exits_64() {
    let q = unique_queue("dup-id");
    let id = format!("dup-{}", &uid()[..8]);
    let flags = ["--worker-id", id.as_str(), "--heartbeat-ttl", "3"];
    let mut a = WorkerProcess::start_with(&q, &flags, &[("HOSTNAME", "host-a")]);
    assert!(
        wait_for_line(&a, "worker starting", Duration::from_secs(20)).is_some(),
        "A did not start:\n{}",
        a.log_text()
    );
    let mut same_host = WorkerProcess::start_with(&q, &flags, &[("HOSTNAME", "host-a")]);
    let t = Instant::now();
    assert_eq!(
        same_host.wait(Duration::from_secs(10)),
        Some(64),
        "{}",
        same_host.log_text()
    );
    println!("same host: refused after {:?}", t.elapsed());
    // Another host: its own lock directory, so only Redis can tell.
    let tmp = tempfile::tempdir().unwrap();
    let tmp_s = tmp.path().to_string_lossy().to_string();
    let mut other_host = WorkerProcess::start_with(
        &q,
        &flags,
        &[("HOSTNAME", "host-b"), ("TMPDIR", tmp_s.as_str())],
    );
    let t = Instant::now();
    assert_eq!(
        other_host.wait(Duration::from_secs(15)),
        Some(64),
        "{}",
        other_host.log_text()
    );
    println!("other host: refused after {:?}", t.elapsed());
    for w in [&same_host, &other_host] {
        let log = w.log_text();
        assert!(
            log.contains(&format!("worker id {id:?} is in use by a live worker")),
            "{log}"
        );
        assert!(!log.contains("worker starting"), "{log}");
    }
    assert_eq!(
        a.child.try_wait().unwrap(),
        None,
        "A stopped:\n{}",
        a.log_text()
    );
    assert_eq!(a.terminate(Duration::from_secs(10)), Some(0));
}

/// Default flags: two workers on one host both start, as `host/0` and `host/1`; after the
/// first stops cleanly its slot is free again.
#[test]
fn default_flags_give_each_worker_on_a_host_its_own_slot() {
    let q = unique_queue("slots");
    let env = [("HOSTNAME", "slot-host")];
    let mut a = WorkerProcess::start_with(&q, &[], &env);
    let la = wait_for_line(&a, "worker starting", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("A did not start:\n{}", a.log_text()));
    let mut b = WorkerProcess::start_with(&q, &[], &env);
    let lb = wait_for_line(&b, "worker starting", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("B did not start:\n{}", b.log_text()));
    assert!(la.contains("worker_id=slot-host/0"), "{la}");
    assert!(lb.contains("worker_id=slot-host/1"), "{lb}");
    assert_eq!(a.terminate(Duration::from_secs(10)), Some(0));
    let mut c = WorkerProcess::start_with(&q, &[], &env);
    let lc = wait_for_line(&c, "worker starting", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("C did not start:\n{}", c.log_text()));
    assert!(lc.contains("worker_id=slot-host/0"), "{lc}");
    assert_eq!(b.terminate(Duration::from_secs(10)), Some(0));
    assert_eq!(c.terminate(Duration::from_secs(10)), Some(0));
}
