//! The Redis floor of `scripts/bench` (issue 16): the worker's own claim and finish scripts,
//! run by the smallest loop that drains a queue with them: no job decoding, no task, no
//! timers, no logging, one thread. What the worker reaches against it says how much of the
//! drain is the worker's own work rather than Redis's.
//!
//!   redis_floor REDIS_URL QUEUE MAX_JOBS LANES RESULT_FILE
//!
//! `LANES` loops share one connection, each claiming up to MAX_JOBS / LANES jobs and then
//! finishing them all with the bytes of RESULT_FILE as each job's result (an arq result
//! the harness made), so at most MAX_JOBS jobs are claimed and not finished at any time, as in
//! the worker; with 2 lanes one lane's claim overlaps the other's finish. Exits once the queue
//! is empty; prints how many jobs it finished.

use lyanna_worker::worker::claim::claimed_pairs;
use redis::aio::MultiplexedConnection;
use redis::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CLAIM: &str = include_str!("../src/worker/claim.lua");
const FINISH: &str = include_str!("../src/worker/finish.lua");
/// What the worker gives a no-op job's in-progress key: arq's default job timeout + 10 s.
const LEASE_TTL_MS: u64 = 310_000;
const RETRY_TTL_S: u64 = 88_400;
const CRON_KEEP_MS: u64 = 60_000;
const RESULT_TTL_MS: u64 = 3_600_000;

struct Floor {
    queue: String,
    lease_set: String,
    per_lane: usize,
    read_limit: usize,
    result: Vec<u8>,
    claim: redis::Script,
    finish: redis::Script,
    next_token: AtomicU64,
    finished: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Floor {
    async fn lane(&self, mut conn: MultiplexedConnection) -> redis::RedisResult<()> {
        loop {
            let first = self
                .next_token
                .fetch_add(self.per_lane as u64, Ordering::Relaxed);
            let mut reply: Vec<Value> = self
                .claim
                .key(&self.queue)
                .key("arq:abort")
                .key(&self.lease_set)
                .arg(now_ms() + 1)
                .arg(LEASE_TTL_MS)
                .arg(self.per_lane)
                .arg(self.read_limit)
                .arg("0")
                .arg(RETRY_TTL_S)
                .arg("floor|0|")
                .arg(first)
                .invoke_async(&mut conn)
                .await?;
            if reply.is_empty() {
                let queued: u64 = redis::cmd("ZCARD")
                    .arg(&self.queue)
                    .query_async(&mut conn)
                    .await?;
                if queued == 0 {
                    return Ok(());
                }
                // The rest is claimed by the other lane: look again once it has finished.
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_micros(200)).await;
                continue;
            }
            let mut inv = self.finish.key(&self.queue);
            inv.key("arq:abort").key(&self.lease_set).arg(CRON_KEEP_MS);
            let mut jobs = 0;
            // Per claimed job: its id and payload; the k-th holds the token `floor|0|{first + k}`.
            for ((id, _payload), token) in claimed_pairs(&mut reply).zip(first..) {
                inv.arg(id)
                    .arg(format!("floor|0|{token}"))
                    .arg("done")
                    .arg("0")
                    .arg("px")
                    .arg(RESULT_TTL_MS)
                    .arg(self.result.as_slice())
                    .arg("");
                jobs += 1;
            }
            let _: Value = inv.invoke_async(&mut conn).await?;
            self.finished.fetch_add(jobs, Ordering::Relaxed);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: redis_floor REDIS_URL QUEUE MAX_JOBS LANES RESULT_FILE");
        std::process::exit(64);
    }
    let max_jobs: usize = args[3].parse().expect("MAX_JOBS is a number");
    let lanes: usize = args[4].parse::<usize>().expect("LANES is a number").max(1);
    let floor = Floor {
        queue: args[2].clone(),
        lease_set: format!("{}:lyanna:leases:floor", args[2]),
        per_lane: (max_jobs / lanes).max(1),
        // arq's queue_read_limit default, as the worker uses it.
        read_limit: (max_jobs * 5).max(100),
        result: std::fs::read(&args[5]).expect("RESULT_FILE readable"),
        claim: redis::Script::new(CLAIM),
        finish: redis::Script::new(FINISH),
        next_token: AtomicU64::new(1),
        finished: AtomicU64::new(0),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let r: redis::RedisResult<()> = rt.block_on(async {
        let client = redis::Client::open(args[1].as_str())?;
        let conn = client.get_multiplexed_async_connection().await?;
        let runs = (0..lanes).map(|_| floor.lane(conn.clone()));
        for r in futures::future::join_all(runs).await {
            r?;
        }
        Ok(())
    });
    if let Err(e) = r {
        eprintln!("redis_floor: {e}");
        std::process::exit(1);
    }
    println!("finished {}", floor.finished.load(Ordering::Relaxed));
}
