//! Stray keys of the wrong type and ids Redis holds but a job cannot have (issue 12): the bad
//! job is reported (log line, a failed result where it can have one), every other job is
//! finished, nothing wedges, SIGTERM still stops the worker promptly.

mod common;

use common::*;
use lyanna_task_api::{Args, Value};
use lyanna_worker::codec::{Codec, Globals};
use lyanna_worker::protocol::job::{Job, JobResult};
use redis::aio::MultiplexedConnection;
use std::time::{Duration, Instant};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

async fn cmd<T: redis::FromRedisValue>(conn: &mut MultiplexedConnection, args: &[&[u8]]) -> T {
    let mut c = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(args[0])))
}

/// Enqueues `n` noop jobs with the library client.
async fn noops(c: &lyanna_worker::client::Client, n: usize) -> Vec<String> {
    enqueue_many(c, n, "sleep_ms", vec![Value::Int(100)]).await
}

/// The stored result of `raw_id`, decoded.
async fn result_of(conn: &mut MultiplexedConnection, raw_id: &[u8]) -> Option<JobResult> {
    let key = [b"arq:result:".as_slice(), raw_id].concat();
    let bytes: Option<Vec<u8>> = cmd(conn, &[b"GET", &key]).await;
    let v = Codec::Pickle
        .decode(&bytes?, Globals::Opaque)
        .expect("decodable result");
    Some(JobResult::from_value(v).expect("a result map"))
}

fn sigterm_promptly(w: &mut WorkerProcess, what: &str) -> Duration {
    let t = Instant::now();
    let code = w.terminate(Duration::from_secs(15));
    let took = t.elapsed();
    println!("{what}: SIGTERM -> exit {code:?} in {took:?}");
    assert_eq!(
        code,
        Some(0),
        "{what}: no clean exit after SIGTERM:\n{}",
        w.log_text()
    );
    took
}

/// `SET arq:abort x` (a private Redis: the key is global) with aborts enabled: all 30 jobs
/// still finish with results, the bad key is logged, and SIGTERM with 10 long jobs running
/// stops the worker within the flush deadline.
#[test]
fn string_arq_abort_does_not_wedge_the_worker() {
    let srv = RedisServer::start(&[]);
    let url = srv.url();
    let q = unique_queue("abort-string");
    let c = client_at(&url, &q, Codec::Pickle);
    let rt = rt();
    let mut conn = rt.block_on(redis_conn(&url));
    let () = rt.block_on(cmd(&mut conn, &[b"SET", b"arq:abort", b"x"]));
    let ids = rt.block_on(noops(&c, 30));
    let mut w = worker_at(&url, &q, &["--allow-abort-jobs", "--max-jobs", "10"]);
    let t = Instant::now();
    let results = rt.block_on(results_of(&c, &ids, Duration::from_secs(60)));
    println!(
        "30 jobs finished in {:?} with arq:abort a string",
        t.elapsed()
    );
    assert!(results.iter().all(|r| r.success), "{results:?}");
    let long = rt.block_on(enqueue_many(&c, 10, "sleep_ms", vec![Value::Int(60_000)]));
    let ok = rt.block_on(wait_until(Duration::from_secs(20), || async {
        count_lines(&w.log_text(), "sleep_ms(60000)") == 10
    }));
    assert!(ok, "the long jobs did not start:\n{}", w.log_text());
    let took = sigterm_promptly(&mut w, "arq:abort a string");
    assert!(took < Duration::from_secs(8), "{took:?}");
    let log = w.log_text();
    let reported = count_lines_with(&log, &["arq:abort", "WRONGTYPE"]);
    println!("lines naming arq:abort: {reported}");
    assert!(reported >= 1, "the bad key was not reported:\n{log}");
    // Each job's finish wrote its result and names the one command that failed.
    let finish_errors = count_lines(&log, "finish partly failed");
    let naming = count_lines_with(&log, &["finish partly failed", "arq:abort: WRONGTYPE"]);
    println!("finish errors: {finish_errors}, naming arq:abort: {naming}");
    assert_eq!(finish_errors, naming, "{log}");
    // Stopped, not lost: back in the queue for the next worker, no result written.
    let queued: i64 = rt.block_on(cmd(&mut conn, &[b"ZCARD", q.as_bytes()]));
    assert_eq!(queued, 10);
    for id in &long {
        assert!(rt.block_on(result_of(&mut conn, id.as_bytes())).is_none());
    }
}

/// Between 30 good jobs, four with a key of the wrong type: `arq:retry:{id}` and
/// `arq:job:{id}` hashes fail their job with a result naming the key (and the stray key is
/// removed); a list at `arq:result:{id}` is replaced by the result; an `arq:in-progress:{id}`
/// hash (somebody "holds" the job, for arq too) keeps that job from being claimed, by us as
/// by arq, and is reported as not a lease. Every good job finishes once and SIGTERM stops the worker promptly.
#[test]
fn wrong_type_job_keys_fail_only_their_job() {
    let q = unique_queue("wrong-type");
    let c = client(&q, Codec::Pickle);
    let rt = rt();
    let mut conn = rt.block_on(redis_conn(&redis_url()));
    let mut good = rt.block_on(noops(&c, 15));
    let bad = rt.block_on(noops(&c, 4));
    good.extend(rt.block_on(noops(&c, 15)));
    let (retry, in_progress, result, job) = (&bad[0], &bad[1], &bad[2], &bad[3]);
    let key = |p: &str, id: &str| format!("{p}{id}");
    rt.block_on(async {
        let k = key("arq:retry:", retry);
        let () = cmd(&mut conn, &[b"HSET", k.as_bytes(), b"f", b"v"]).await;
        let k = key("arq:in-progress:", in_progress);
        let () = cmd(&mut conn, &[b"HSET", k.as_bytes(), b"f", b"v"]).await;
        let k = key("arq:result:", result);
        let () = cmd(&mut conn, &[b"RPUSH", k.as_bytes(), b"x"]).await;
        let k = key("arq:job:", job);
        let () = cmd(&mut conn, &[b"DEL", k.as_bytes()]).await;
        let () = cmd(&mut conn, &[b"HSET", k.as_bytes(), b"f", b"v"]).await;
    });
    let mut w = WorkerProcess::start(&q, &["--max-jobs", "5"]);
    let t = Instant::now();
    let results = rt.block_on(results_of(&c, &good, Duration::from_secs(60)));
    println!("30 good jobs finished in {:?}", t.elapsed());
    for (id, r) in good.iter().zip(&results) {
        assert!(r.success && r.job_try == 1, "{id}: {r:?}");
    }
    for (id, what) in [(retry, "arq:retry:"), (job, "arq:job:")] {
        let r = rt
            .block_on(result_of(&mut conn, id.as_bytes()))
            .unwrap_or_else(|| panic!("no result for the job with a bad {what} key"));
        assert!(!r.success, "{r:?}");
        let shown = format!("{:?}", r.result);
        assert!(
            shown.contains("JobExecutionFailed")
                && shown.contains(&key(what, id))
                && shown.contains("WRONGTYPE"),
            "{shown}"
        );
        let left: i64 = rt.block_on(cmd(&mut conn, &[b"EXISTS", key(what, id).as_bytes()]));
        assert_eq!(left, 0, "{what}{id} left behind");
    }
    let r = rt.block_on(results_of(
        &c,
        std::slice::from_ref(result),
        Duration::from_secs(5),
    ));
    assert!(r[0].success, "{:?}", r[0]);
    // The in-progress hash: never claimed, still queued, reported (below).
    let score: Option<f64> = rt.block_on(cmd(
        &mut conn,
        &[b"ZSCORE", q.as_bytes(), in_progress.as_bytes()],
    ));
    assert!(score.is_some(), "the job held by a hash left the queue");
    let log = w.log_text();
    assert_eq!(count_lines(&log, &format!("→ {in_progress}:")), 0, "{log}");
    let wrong = count_lines(&log, "holds the wrong type");
    println!("log lines reporting a wrong-type key: {wrong}");
    for id in [retry, job, in_progress] {
        let n = count_lines_with(&log, &[id.as_str(), "wrong type"]);
        assert!(n >= 1, "{id} was not reported:\n{log}");
    }
    sigterm_promptly(&mut w, "wrong-type job keys");
    rt.block_on(async {
        let mut keys = vec![];
        for id in good.iter().chain(&bad) {
            for p in ["arq:job:", "arq:in-progress:", "arq:retry:", "arq:result:"] {
                keys.push(key(p, id));
            }
        }
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap();
        drop_queue(&mut conn, &q).await;
    });
}

/// The queue key holding a string: the worker logs the failure (backing off, not flooding),
/// keeps running, and runs jobs once the key is fixed.
#[test]
fn wrong_type_queue_key_is_survived_and_recovered_from() {
    let q = unique_queue("queue-string");
    let rt = rt();
    let mut conn = rt.block_on(redis_conn(&redis_url()));
    let () = rt.block_on(cmd(&mut conn, &[b"SET", q.as_bytes(), b"x"]));
    let mut w = WorkerProcess::start(&q, &[]);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        w.child.try_wait().unwrap(),
        None,
        "the worker died:\n{}",
        w.log_text()
    );
    let log = w.log_text();
    let failures = count_lines(&log, "WRONGTYPE");
    println!("lines reporting the string queue key in 5 s: {failures}");
    assert!(failures >= 1, "not reported:\n{log}");
    assert!(failures <= 40, "{failures} lines in 5 s: a flood\n{log}");
    let () = rt.block_on(cmd(&mut conn, &[b"DEL", q.as_bytes()]));
    let fixed = Instant::now();
    let c = client(&q, Codec::Pickle);
    let ids = rt.block_on(noops(&c, 5));
    let results = rt.block_on(results_of(&c, &ids, Duration::from_secs(20)));
    println!(
        "jobs ran {:?} after the queue key was fixed",
        fixed.elapsed()
    );
    assert!(results.iter().all(|r| r.success));
    sigterm_promptly(&mut w, "string queue key");
}

/// A job id that is not UTF-8, enqueued directly (ZADD + SET of a pickled job): it ends once,
/// with one failed result under the raw key, its retry counter gone rather than climbing, and
/// one log line.
#[test]
fn non_utf8_job_id_ends_once() {
    let q = unique_queue("non-utf8");
    let rt = rt();
    let mut conn = rt.block_on(redis_conn(&redis_url()));
    let raw: Vec<u8> = [b"bad-\xff\xfe-".as_slice(), uid().as_bytes()].concat();
    let job = Job {
        job_try: None,
        function: "noop".into(),
        args: Args::default(),
        enqueue_time_ms: lyanna_worker::protocol::now_ms(),
    };
    let payload = Codec::Pickle.encode(&job.to_value()).unwrap();
    let job_key = [b"arq:job:".as_slice(), &raw].concat();
    let retry_key = [b"arq:retry:".as_slice(), &raw].concat();
    let ip_key = [b"arq:in-progress:".as_slice(), &raw].concat();
    let score = job.enqueue_time_ms.to_string();
    rt.block_on(async {
        let () = cmd(&mut conn, &[b"SET", &job_key, &payload]).await;
        let _: i64 = cmd(&mut conn, &[b"ZADD", q.as_bytes(), score.as_bytes(), &raw]).await;
    });
    let mut w = WorkerProcess::start(&q, &[]);
    let ok = rt.block_on(wait_until(Duration::from_secs(20), || {
        let mut conn = conn.clone();
        let raw = raw.clone();
        async move { result_of(&mut conn, &raw).await.is_some() }
    }));
    assert!(ok, "no result under the raw id:\n{}", w.log_text());
    // Several polls later: nothing claimed again.
    std::thread::sleep(Duration::from_secs(3));
    let r = rt.block_on(result_of(&mut conn, &raw)).unwrap();
    println!("non-UTF-8 id: result {:?}", r.result);
    assert!(!r.success);
    assert!(
        format!("{:?}", r.result).contains("not valid UTF-8"),
        "{:?}",
        r.result
    );
    assert_eq!(r.job_try, 1);
    rt.block_on(async {
        let queued: Option<f64> = cmd(&mut conn, &[b"ZSCORE", q.as_bytes(), &raw]).await;
        assert_eq!(queued, None, "still queued");
        for k in [&job_key, &retry_key, &ip_key] {
            let n: i64 = cmd(&mut conn, &[b"EXISTS", k]).await;
            assert_eq!(n, 0, "{} left", String::from_utf8_lossy(k));
        }
    });
    sigterm_promptly(&mut w, "non-UTF-8 id");
    let log = w.log_text();
    assert_eq!(count_lines(&log, "not valid UTF-8"), 1, "{log}");
    rt.block_on(async {
        let k = [b"arq:result:".as_slice(), &raw].concat();
        let _: i64 = cmd(&mut conn, &[b"DEL", &k]).await;
        drop_queue(&mut conn, &q).await;
    });
}
