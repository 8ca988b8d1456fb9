//! Leases when our own process stalls or polls slowly, on the shared Redis: a worker frozen
//! (SIGSTOP) past its lease while another worker takes the job over, and a poll_delay longer
//! than the lease. Each test asserts the guarantee and prints what it counted.

mod common;
mod lease_support;

use common::{redis_conn, redis_url, uid, unique_queue, wait_until};
use lease_support::{
    about, client, enqueue, get, ms_to_utc, overlaps, runs, settled_result, worker,
};
use lease_support::{KeyWatch, ResultWatch};
use lyanna_worker::Value;
use std::time::Duration;

/// Worker A (lease 3 s) runs an 8 s job and is frozen with SIGSTOP for 7 s; worker B (another
/// identity) takes the job over once A's key expires. After SIGCONT A's run is fenced before
/// it takes one more step: A logs the lease loss, writes nothing, and B's result stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_past_the_lease_does_not_finish_a_job_taken_over() {
    let q = unique_queue("lf-sigstop");
    let url = redis_url();
    let (id_a, id_b) = (format!("a-{}", &uid()[..8]), format!("b-{}", &uid()[..8]));
    let a = worker(&url, &q, &["--heartbeat-ttl", "3", "--worker-id", &id_a]);
    let c = client(&url, &q);
    let id = enqueue(&c, "sleep_ms", vec![Value::Int(8_000)], None).await;
    let watch = KeyWatch::start(&url, format!("arq:in-progress:{id}")).await;
    let results = ResultWatch::start(&url, std::slice::from_ref(&id)).await;
    let prefix_a = format!("{id_a}|");
    let prefix_b = format!("{id_b}|");
    assert!(
        wait_until(Duration::from_secs(20), || async {
            watch.holders().iter().any(|h| h.starts_with(&prefix_a))
        })
        .await,
        "A did not claim the job"
    );
    let b = worker(&url, &q, &["--heartbeat-ttl", "3", "--worker-id", &id_b]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.signal("STOP");
    let stopped = chrono::Utc::now();
    let b_took = wait_until(Duration::from_secs(7), || async {
        watch
            .holders()
            .last()
            .is_some_and(|h| h.starts_with(&prefix_b))
    })
    .await;
    tokio::time::sleep(
        Duration::from_secs(7)
            .saturating_sub((chrono::Utc::now() - stopped).to_std().unwrap_or_default()),
    )
    .await;
    a.signal("CONT");
    // A is running again and B's run goes on: A must not touch B's claim.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut admin = redis_conn(&url).await;
    let ip = get(&mut admin, &format!("arq:in-progress:{id}")).await;
    let r = settled_result(&c, &id, Duration::from_secs(20)).await;
    let (la, lb) = (a.log_text(), b.log_text());
    let (ra, rb) = (runs(&la, &id), runs(&lb, &id));
    let a_finished = ra.iter().filter(|r| r.returned).count();
    let b_finished = rb.iter().filter(|r| r.returned).count();
    // A's run took no step after SIGSTOP (it was fenced first thing after SIGCONT): its run
    // in time is [start, stop].
    let mut timeline = ra.clone();
    for r in &mut timeline {
        r.end = Some(r.end.map_or(stopped, |e| e.min(stopped)));
    }
    timeline.extend(rb.iter().cloned());
    let overlapping = overlaps(&timeline);
    let lost_logged = la.contains("lease lost");
    let written = results.writes()[0];
    println!(
        "sigstop: B took the job over: {b_took}; A runs {} (fenced {}), finished {a_finished}; \
         B runs {}, finished {b_finished}; overlapping {overlapping}; result try {} by the run \
         started {}; results written {written}; holders {:?}",
        ra.len(),
        ra.iter().filter(|r| r.fenced).count(),
        rb.len(),
        r.job_try,
        ms_to_utc(r.start_ms),
        watch.holders()
    );
    let ctx = format!("A:\n{}\nB:\n{}", about(&la, &id), about(&lb, &id));
    assert!(b_took, "B never took the job over\n{ctx}");
    assert!(
        ip.as_deref().is_some_and(|v| v.starts_with(&prefix_b)),
        "B's claim was touched after SIGCONT: {ip:?}\n{ctx}"
    );
    assert!(lost_logged, "A did not log the lease loss\n{la}");
    assert_eq!((ra.len(), a_finished), (1, 0), "{ctx}");
    assert!(ra[0].fenced, "A's run was not fenced\n{ctx}");
    assert_eq!((rb.len(), b_finished), (1, 1), "{ctx}");
    assert_eq!(overlapping, 0, "{ctx}");
    assert_eq!(written, 1, "results written\n{ctx}");
    assert!(r.success && r.job_try == 2, "{r:?}");
    assert!(
        ms_to_utc(r.start_ms) > stopped,
        "the result is not B's: {r:?}"
    );
    let holders = watch.holders();
    assert_eq!(holders.len(), 2, "claims: {holders:?}");
}

/// `--heartbeat-ttl 3 --poll-delay 4` (the poll loop slower than the lease) and a 12 s job:
/// the renewer, not the poll loop, keeps the lease, so the job starts once, under one token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_delay_longer_than_the_lease_starts_a_long_job_once() {
    let q = unique_queue("lf-polldelay");
    let url = redis_url();
    let w = worker(&url, &q, &["--heartbeat-ttl", "3", "--poll-delay", "4"]);
    let c = client(&url, &q);
    let id = enqueue(&c, "sleep_ms", vec![Value::Int(12_000)], None).await;
    let watch = KeyWatch::start(&url, format!("arq:in-progress:{id}")).await;
    let results = ResultWatch::start(&url, std::slice::from_ref(&id)).await;
    let r = settled_result(&c, &id, Duration::from_secs(40)).await;
    let log = w.log_text();
    let rs = runs(&log, &id);
    let holders = watch.holders();
    println!(
        "poll_delay 4 s > lease 3 s: {} starts, {} returned, {} fenced, {} tokens, {} results \
         written, ran {:.2}s",
        rs.len(),
        rs.iter().filter(|r| r.returned).count(),
        rs.iter().filter(|r| r.fenced).count(),
        holders.len(),
        results.writes()[0],
        (r.finish_ms - r.start_ms) as f64 / 1000.0
    );
    let ctx = about(&log, &id);
    assert_eq!(rs.len(), 1, "{ctx}");
    assert!(rs[0].returned, "{ctx}");
    assert_eq!(holders.len(), 1, "claimed more than once: {holders:?}");
    assert_eq!(results.writes(), vec![1], "results written");
    assert!(r.success && r.job_try == 1, "{r:?}");
}
