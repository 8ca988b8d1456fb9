//! What the lease fault tests (`tests/lease_*.rs`) share: a worker on any Redis URL, each run
//! of a job read back from the worker's log (start, end or fence, with timestamps), a watcher
//! that samples a job's in-progress key, and the checks every fault test makes: no two runs
//! of a job overlap in time, nothing finished twice, one result.
#![allow(dead_code)]

use crate::common::uid;
use chrono::{DateTime, Utc};
use lyanna_worker::client::Client;
use lyanna_worker::codec::Codec;
use lyanna_worker::conn::{Redis, RedisSettings};
use lyanna_worker::protocol::job::JobResult;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::strip_ansi;

/// `lyanna-worker --settings Diagnostics` on `queue` through `url`, polling every 50 ms,
/// admin server off unless `extra` names `--http-addr` (each flag once: no duplicates).
pub use crate::common::worker_at as worker;

/// A client of `queue` on `url` that gives up on a silent Redis after a second.
pub fn client(url: &str, queue: &str) -> Client {
    let mut s = RedisSettings::from_url(url.to_string());
    s.connect_timeout = Duration::from_secs(1);
    Client::new(
        Redis::new(&s).expect("redis settings"),
        queue,
        Codec::Pickle,
    )
}

/// `function(*args)` enqueued now, or `defer` from now.
pub async fn enqueue(
    c: &Client,
    function: &str,
    args: Vec<lyanna_worker::Value>,
    defer: Option<Duration>,
) -> String {
    let opts = lyanna_worker::client::EnqueueOptions {
        job_id: Some(format!("lf-{}", &uid()[..12])),
        defer: defer.map_or(lyanna_worker::client::Defer::Now, |d| {
            lyanna_worker::client::Defer::By(d)
        }),
        ..Default::default()
    };
    // A private server that has just started (or a loaded machine) may not answer the first
    // connection in time: retry for a while before calling the enqueue failed.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match c
            .enqueue(
                function,
                lyanna_worker::Args::new(args.clone(), vec![]),
                opts.clone(),
            )
            .await
        {
            Ok(id) => return id.expect("fresh id"),
            Err(e) if Instant::now() < deadline => {
                eprintln!("enqueue failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("enqueue: {e:?}"),
        }
    }
}

/// The result of `id`, retrying while the client's connection recovers from an outage.
pub async fn result_of(c: &Client, id: &str, timeout: Duration) -> Option<JobResult> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(r) = c.result(id, left.min(Duration::from_secs(2))).await {
            if r.is_some() || left.is_zero() {
                return r;
            }
        } else if left.is_zero() {
            return None;
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One line of a worker's log with its timestamp.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: DateTime<Utc>,
    pub text: String,
}

pub fn lines(log: &str) -> Vec<Line> {
    strip_ansi(log)
        .lines()
        .filter_map(|l| {
            let ts = l.split_whitespace().next()?;
            let at = DateTime::parse_from_rfc3339(ts).ok()?.with_timezone(&Utc);
            Some(Line {
                at,
                text: l.to_string(),
            })
        })
        .collect()
}

/// What a worker's log says happened to one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Start,
    /// The run returned (done, failed, retry, aborted...).
    End,
    /// The run was fenced: stopped, nothing of it written.
    Fenced,
    /// The run returned but its finish found the lease gone: nothing written.
    FinishRefused,
}

/// One run of a job as a worker's log tells it.
#[derive(Debug, Clone)]
pub struct Run {
    pub start: DateTime<Utc>,
    /// The end or the fence (an upper bound on when the run took its last step).
    pub end: Option<DateTime<Utc>>,
    pub fenced: bool,
    /// It returned (not fenced) and its finish was not refused as "lease lost". A finish
    /// re-sent after a lost reply that finds the lease gone is logged at debug only, so this
    /// is not proof the finish was written: `ResultWatch` counts the writes.
    pub returned: bool,
}

/// The steps the log records for `id`, in order.
pub fn steps(log: &str, id: &str) -> Vec<(DateTime<Utc>, Step)> {
    let marks = ["→ ", "← ", "↻ ", "! ", "⊘ "].map(|m| format!("{m}{id}:"));
    lines(log)
        .into_iter()
        .filter_map(|l| {
            let t = &l.text;
            let step = if t.contains(&marks[0]) {
                Step::Start
            } else if marks[1..].iter().any(|m| t.contains(m)) {
                Step::End
            } else if t.contains(id) && t.contains("nothing of it is written") {
                Step::Fenced
            } else if t.contains(id) && t.contains("lease lost before the finish was written") {
                Step::FinishRefused
            } else {
                return None;
            };
            Some((l.at, step))
        })
        .collect()
}

/// The runs of `id` in a worker's log.
pub fn runs(log: &str, id: &str) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for (at, step) in steps(log, id) {
        match step {
            Step::Start => out.push(Run {
                start: at,
                end: None,
                fenced: false,
                returned: false,
            }),
            Step::End | Step::Fenced => {
                if let Some(r) = out.last_mut().filter(|r| r.end.is_none()) {
                    r.end = Some(at);
                    r.fenced = step == Step::Fenced;
                    r.returned = step == Step::End;
                }
            }
            Step::FinishRefused => {
                if let Some(r) = out.last_mut() {
                    r.returned = false;
                }
            }
        }
    }
    out
}

/// Pairs of runs (of one job, across all the given logs) that overlap in time; an open run
/// (no end logged) lasts until now.
pub fn overlaps(runs: &[Run]) -> usize {
    let mut iv: Vec<(DateTime<Utc>, DateTime<Utc>)> = runs
        .iter()
        .map(|r| (r.start, r.end.unwrap_or_else(Utc::now)))
        .collect();
    iv.sort();
    iv.windows(2).filter(|w| w[1].0 < w[0].1).count()
}

/// A job's in-progress key as sampled every 10 ms: each distinct value (None: absent) with
/// when it was first and last seen.
#[derive(Debug, Clone)]
pub struct Seen {
    pub value: Option<String>,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

pub struct KeyWatch {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl KeyWatch {
    /// Samples `key` on `url` (a direct connection, not through a test's proxy).
    pub async fn start(url: &str, key: String) -> Self {
        let mut conn = crate::common::redis_conn(url).await;
        let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
        let s = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let v: Result<Option<String>, _> =
                    redis::cmd("GET").arg(&key).query_async(&mut conn).await;
                if let Ok(v) = v {
                    let now = Utc::now();
                    let mut s = s.lock().unwrap();
                    match s.last_mut() {
                        Some(last) if last.value == v => last.last = now,
                        _ => s.push(Seen {
                            value: v,
                            first: now,
                            last: now,
                        }),
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        KeyWatch { seen, task }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The distinct holders (values other than absent) in order.
    pub fn holders(&self) -> Vec<String> {
        self.seen().into_iter().filter_map(|s| s.value).collect()
    }
}

impl Drop for KeyWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every write of the jobs' `arq:result:*` keys, sampled every 20 ms: a finish applied twice
/// (by two runs) shows as two different values.
pub struct ResultWatch {
    writes: Arc<Mutex<Vec<Vec<Vec<u8>>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ResultWatch {
    /// Samples on `url` directly; reconnects when the server restarts.
    pub async fn start(url: &str, ids: &[String]) -> Self {
        let url = url.to_string();
        let mut conn = Some(crate::common::redis_conn(&url).await);
        let keys: Vec<String> = ids.iter().map(|id| format!("arq:result:{id}")).collect();
        let writes = Arc::new(Mutex::new(vec![Vec::<Vec<u8>>::new(); ids.len()]));
        let w = writes.clone();
        let task = tokio::spawn(async move {
            loop {
                if conn.is_none() {
                    conn = connect(&url).await;
                }
                let got: Result<Vec<Option<Vec<u8>>>, _> = match conn.as_mut() {
                    Some(c) => redis::cmd("MGET").arg(&keys).query_async(c).await,
                    None => Err(redis::RedisError::from(std::io::Error::other("down"))),
                };
                if got.is_err() {
                    conn = None;
                }
                if let Ok(got) = got {
                    let mut w = w.lock().unwrap();
                    for (seen, v) in w.iter_mut().zip(got) {
                        if let Some(v) = v {
                            if seen.last() != Some(&v) {
                                seen.push(v);
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        ResultWatch { writes, task }
    }

    /// Per job, how many different results were seen (1 expected).
    pub fn writes(&self) -> Vec<usize> {
        self.writes.lock().unwrap().iter().map(Vec::len).collect()
    }
}

impl Drop for ResultWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The result of `id` (panics when none comes within `timeout`), then a second more so the
/// watchers (`ResultWatch` samples every 20 ms) see it and any second write that would follow.
pub async fn settled_result(c: &Client, id: &str, timeout: Duration) -> JobResult {
    let r = result_of(c, id, timeout).await.expect("no result");
    tokio::time::sleep(Duration::from_secs(1)).await;
    r
}

/// `GET key` on a direct connection.
pub async fn get(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(conn).await.unwrap()
}

/// `EXISTS key` on a direct connection.
pub async fn exists(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

/// A connection that gives up after 2 s (the server may be down).
async fn connect(url: &str) -> Option<redis::aio::MultiplexedConnection> {
    testkit::connect(url, Duration::from_secs(2)).await
}

pub fn ms_to_utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("ms timestamp")
}

/// The lines of `log` that mention `id`, for failure messages.
pub fn about(log: &str, id: &str) -> String {
    strip_ansi(log)
        .lines()
        .filter(|l| l.contains(id))
        .collect::<Vec<_>>()
        .join("\n")
}
