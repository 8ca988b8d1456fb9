//! Leases across long Redis outages, on private redis-servers: Redis stopped for 40 s (AOF on)
//! and restarted on the same port, and Redis refusing writes (maxmemory, noeviction) for 40 s,
//! both with the default 60 s lease and jobs running through them. No job starts twice and
//! every result is written once Redis takes writes again; counts are printed.

mod common;
mod lease_support;
mod redis_harness;

use common::{unique_queue, wait_until, RedisServer};
use lease_support::{about, client, enqueue, overlaps, result_of, runs, worker, ResultWatch};
use lyanna_worker::Value;
use redis_harness::{connect, single_node};
use std::time::{Duration, Instant};

/// Per job: (starts, runs that returned, results written, overlapping pairs); asserts
/// 1, 1, 1, 0 for each, printing the job's log lines when one differs.
fn check_once(what: &str, log: &str, ids: &[String], writes: &[usize]) {
    let t: Vec<(usize, usize, usize, usize)> = ids
        .iter()
        .zip(writes)
        .map(|(id, &w)| {
            let rs = runs(log, id);
            (
                rs.len(),
                rs.iter().filter(|r| r.returned).count(),
                w,
                overlaps(&rs),
            )
        })
        .collect();
    println!(
        "{what}: {} jobs, {} starts, {} returned, {} results written, {} overlapping",
        ids.len(),
        t.iter().map(|x| x.0).sum::<usize>(),
        t.iter().map(|x| x.1).sum::<usize>(),
        t.iter().map(|x| x.2).sum::<usize>(),
        t.iter().map(|x| x.3).sum::<usize>()
    );
    for (id, x) in ids.iter().zip(&t) {
        assert_eq!(
            *x,
            (1, 1, 1, 0),
            "{what}: {id} (starts, returned, results, overlapping)\n{}",
            about(log, id)
        );
    }
}

/// Redis (appendonly, fsync always) stopped for 40 s while three 60 s jobs run, then started
/// again on the same port: the leases outlive the outage (the renewer retries as soon as Redis
/// is back, before they lapse), no job starts twice, every result is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_out_for_40s_starts_no_job_twice() {
    let (mut node, _dir) = single_node(&["--appendonly", "yes", "--appendfsync", "always"]);
    let url = format!("redis://127.0.0.1:{}", node.port);
    let q = unique_queue("lf-out40");
    let w = worker(&url, &q, &["--redis-connect-timeout", "1"]);
    let c = client(&url, &q);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(enqueue(&c, "sleep_ms", vec![Value::Int(60_000)], None).await);
    }
    let results = ResultWatch::start(&url, &ids).await;
    assert!(
        wait_until(Duration::from_secs(20), || async {
            let l = w.log_text();
            ids.iter().all(|id| l.contains(&format!("→ {id}:")))
        })
        .await,
        "jobs did not start"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    node.signal("TERM");
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(40)).await;
    node.start();
    let up = Instant::now();
    let mut missing = Vec::new();
    for id in &ids {
        if result_of(&c, id, Duration::from_secs(60)).await.is_none() {
            missing.push(id.clone());
        }
    }
    let written_after = up.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log = w.log_text();
    println!(
        "Redis out {:.1}s; results {}/{} written {:.1}s after it came back; leases lost logged \
         {} times",
        up.duration_since(down).as_secs_f64(),
        ids.len() - missing.len(),
        ids.len(),
        written_after.as_secs_f64(),
        log.matches("lease lost").count()
    );
    assert!(missing.is_empty(), "no result for {missing:?}\n{log}");
    check_once("Redis out 40 s", &log, &ids, &results.writes());
    for id in &ids {
        let r = result_of(&c, id, Duration::ZERO).await.unwrap();
        assert!(r.success && r.job_try == 1, "{r:?}");
    }
}

/// Redis refusing writes (maxmemory 1 byte, noeviction) for 40 s while jobs run, some finish,
/// and deferred ones come due: renewals (PEXPIRE) still pass, claims and finishes wait, and
/// once memory is freed every job has run once and every result is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_refusing_writes_for_40s_starts_no_job_twice() {
    let redis = RedisServer::start(&["--maxmemory-policy", "noeviction"]);
    let url = redis.url();
    let q = unique_queue("lf-oom");
    let w = worker(&url, &q, &["--redis-connect-timeout", "1"]);
    let c = client(&url, &q);
    let mut running = Vec::new();
    for ms in [5_000, 5_000, 5_000, 30_000, 30_000] {
        running.push(enqueue(&c, "sleep_ms", vec![Value::Int(ms)], None).await);
    }
    let mut deferred = Vec::new();
    for _ in 0..3 {
        deferred.push(
            enqueue(
                &c,
                "echo",
                vec![Value::Int(1)],
                Some(Duration::from_secs(10)),
            )
            .await,
        );
    }
    assert!(
        wait_until(Duration::from_secs(20), || async {
            let l = w.log_text();
            running.iter().all(|id| l.contains(&format!("→ {id}:")))
        })
        .await,
        "jobs did not start"
    );
    let all: Vec<String> = running.iter().chain(&deferred).cloned().collect();
    let results = ResultWatch::start(&url, &all).await;
    let mut admin = connect(&url).await.expect("admin connection");
    let config = admin.clone();
    let set_max = move |v: &'static str| {
        let mut a = config.clone();
        async move {
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(v)
                .query_async::<()>(&mut a)
                .await
                .expect("CONFIG SET maxmemory")
        }
    };
    set_max("1").await;
    let full = Instant::now();
    let refused: redis::RedisResult<()> = redis::cmd("SET")
        .arg(format!("{q}:probe"))
        .arg("x")
        .query_async(&mut admin)
        .await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("OOM")),
        "Redis still takes writes: {refused:?}"
    );
    tokio::time::sleep(Duration::from_secs(40)).await;
    let mid: Vec<Option<Vec<u8>>> = {
        let mut keys = redis::cmd("MGET");
        for id in &running {
            keys.arg(format!("arq:result:{id}"));
        }
        keys.query_async(&mut admin).await.unwrap()
    };
    set_max("0").await;
    let freed = Instant::now();
    let mut missing = Vec::new();
    for id in &all {
        if result_of(&c, id, Duration::from_secs(40)).await.is_none() {
            missing.push(id.clone());
        }
    }
    let written_after = freed.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log = w.log_text();
    println!(
        "writes refused {:.1}s; results during it {}; after: {}/{} written within {:.1}s; \
         lease lost logged {} times",
        freed.duration_since(full).as_secs_f64(),
        mid.iter().filter(|r| r.is_some()).count(),
        all.len() - missing.len(),
        all.len(),
        written_after.as_secs_f64(),
        log.matches("lease lost").count()
    );
    assert!(missing.is_empty(), "no result for {missing:?}\n{log}");
    check_once("writes refused 40 s", &log, &all, &results.writes());
    for id in &all {
        let r = result_of(&c, id, Duration::ZERO).await.unwrap();
        assert!(r.success && r.job_try == 1, "{id}: {r:?}");
    }
}
