//! The only Redis restarted under load: the worker comes back by itself, reports not ready
//! meanwhile, and nothing is lost. Measured numbers are printed.

mod common;
mod redis_harness;

use common::{uid, unique_queue, wait_until, worker_at_with_admin};
use lyanna_worker::client::Client;
use lyanna_worker::codec::Codec;
use lyanna_worker::conn::{Redis, RedisSettings};
use lyanna_worker::Value;
use redis_harness::{connect, enqueue, produce, readyz, single_node, tally, ProducerSpec};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Stop the only Redis (SIGTERM; appendonly, fsync always) for 5 s while a producer enqueues
/// and jobs run, start it again on the same port: the worker comes back by itself, reports
/// not ready meanwhile, the jobs that were running finish and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_under_load_loses_nothing() {
    let (mut redis_node, _dir) = single_node(&["--appendonly", "yes", "--appendfsync", "always"]);
    let url = format!("redis://127.0.0.1:{}", redis_node.port);
    let q = unique_queue("restart");
    let (mut worker, http) = worker_at_with_admin(
        &url,
        &q,
        &[
            "--poll-delay",
            "0.05",
            "--max-jobs",
            "20",
            "--redis-connect-timeout",
            "1",
        ],
    );
    assert!(
        wait_until(Duration::from_secs(20), || async {
            readyz(http) == Some(200)
        })
        .await,
        "worker never ready"
    );
    let mut settings = RedisSettings::from_url(url.clone());
    settings.connect_timeout = Duration::from_secs(1);
    let client = Client::new(Redis::new(&settings).unwrap(), q.clone(), Codec::Pickle);
    // Jobs that run across the outage: their results are written once Redis is back.
    let mut long = Vec::new();
    for _ in 0..5 {
        long.push(enqueue(&client, "sleep_ms", vec![Value::Int(4000)]).await);
    }
    let producer = tokio::spawn(produce(ProducerSpec {
        settings: settings.clone(),
        queue: q.clone(),
        prefix: format!("r{}-", &uid()[..8]),
        count: 1000,
        sleep_ms: 10,
        wait: None,
        pace: Duration::from_millis(8),
        progress: Arc::new(AtomicUsize::new(0)),
    }));
    let mut admin = connect(&url).await.unwrap();
    let started = wait_until(Duration::from_secs(10), || {
        let mut admin = admin.clone();
        let key = format!("arq:in-progress:{}", long[4]);
        async move {
            redis::cmd("EXISTS")
                .arg(key)
                .query_async::<bool>(&mut admin)
                .await
                .unwrap_or(false)
        }
    })
    .await;
    assert!(started, "long jobs did not start");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let stopped_at = Instant::now();
    redis_node.signal("TERM");
    let went_unready = wait_until(Duration::from_secs(4), || async {
        readyz(http) == Some(503)
    })
    .await;
    let unready_after = stopped_at.elapsed();
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(stopped_at.elapsed())).await;
    let still_unready = readyz(http) == Some(503);
    redis_node.start();
    let restarted_at = Instant::now();
    let back = wait_until(Duration::from_secs(30), || async {
        readyz(http) == Some(200)
    })
    .await;
    let ready_after = restarted_at.elapsed();

    let produced = producer.await.unwrap();
    let mut all = produced.ids.clone();
    all.extend(long.iter().cloned());
    admin = connect(&url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let t = loop {
        let t = tally(&mut admin, &q, &all).await.unwrap();
        if (t.pending.is_empty() && t.lost.is_empty()) || Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let running = worker.child.try_wait().unwrap().is_none();
    let log = worker.log_text();
    println!(
        "restart: Redis down {:.1}s; /readyz 503 after {:.2}s; ready again {:.2}s after the \
         restart; {} jobs acknowledged ({} enqueue retries), {} results, {} pending, {} lost; \
         \"cannot reach Redis\" logged {} times",
        restarted_at.duration_since(stopped_at).as_secs_f64(),
        unready_after.as_secs_f64(),
        ready_after.as_secs_f64(),
        all.len(),
        produced.retries,
        t.results,
        t.pending.len(),
        t.lost.len(),
        log.matches("cannot reach Redis").count(),
    );
    assert!(running, "the worker exited during the outage");
    assert!(
        went_unready && still_unready,
        "/readyz stayed 200 while Redis was down"
    );
    assert!(back, "/readyz never came back");
    assert_eq!(t.lost, Vec::<String>::new(), "jobs lost");
    assert_eq!(t.pending, Vec::<String>::new(), "jobs never finished");
    for id in &long {
        // Our test client sat idle through the outage: its first command may meet the
        // closed socket (and report it); the next one reconnects.
        let mut found = None;
        for _ in 0..50 {
            if let Ok(r) = client.result(id, Duration::ZERO).await {
                found = Some(r.expect("long job's result"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = found.expect("result readable");
        assert!(r.success, "{id} failed: {:?}", r.result);
    }
    assert_eq!(worker.terminate(Duration::from_secs(20)), Some(0));
}
