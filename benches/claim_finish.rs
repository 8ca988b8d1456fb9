//! The worker's Redis path for a batch of 100 jobs: one claim (the Lua script that picks and
//! starts due jobs) and one finish (the MULTI that stores results and removes the job keys).
//!
//! Against the local Redis (`BENCH_REDIS_URL`, default redis://127.0.0.1:6379) with a queue
//! name of its own; it never flushes, and deletes every key it made when done. Jobs are
//! enqueued with our client outside the timed part. The numbers include the round trip, so
//! they say what one poll and one finish cost, not what the worker's loop adds around them.
//!
//! Run: `cargo bench --bench claim_finish`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lyanna_worker::client::Client;
use lyanna_worker::codec::Codec;
use lyanna_worker::conn::{Redis, RedisSettings};
use lyanna_worker::protocol::{keys, now_ms};
use lyanna_worker::worker::claim::{claim, ClaimRequest, Claimed};
use lyanna_worker::worker::finish::{write_batch, FinishKind, FinishOp, StoredResult};
use redis::aio::MultiplexedConnection;
use std::time::{Duration, Instant};

const BATCH: usize = 100;

struct Fixture {
    client: Client,
    conn: MultiplexedConnection,
    queue: String,
    /// Every job id made, so their result keys can be deleted at the end.
    ids: Vec<String>,
}

impl Fixture {
    async fn new() -> Self {
        let url = std::env::var("BENCH_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
        let queue = format!("bench:claim-finish:{}", uuid::Uuid::new_v4().simple());
        let redis = Redis::connect(&RedisSettings::from_url(&url))
            .await
            .unwrap_or_else(|e| panic!("this bench needs Redis at {url}: {e}"));
        let conn = redis.dedicated().await.expect("connection");
        Fixture {
            client: Client::new(redis, queue.clone(), Codec::Pickle),
            conn,
            queue,
            ids: Vec::new(),
        }
    }

    /// Enqueues a batch of no-op jobs, as a producer would (not timed).
    async fn enqueue_batch(&mut self) {
        let jobs = (0..BATCH).map(|_| self.client.enqueue_args("noop", vec![]));
        for id in futures::future::join_all(jobs).await {
            self.ids
                .push(id.expect("enqueue").expect("fresh ids are unique"));
        }
    }

    async fn claim_batch(&mut self) -> Vec<Claimed> {
        let req = ClaimRequest {
            queue: &self.queue,
            lease_set: &format!("{}:lyanna:leases:bench", self.queue),
            now_ms: now_ms(),
            in_progress_ttl_ms: 30_000,
            max_claim: BATCH,
            read_limit: BATCH * 5,
            aborts_enabled: false,
            token_prefix: "bench|0|",
            first_token: 0,
            held: Vec::new(),
        };
        let claimed = claim(&mut self.conn, &req).await.expect("claim");
        assert_eq!(claimed.len(), BATCH, "the queue should hold a batch");
        claimed
    }

    /// The finishes of a batch of successful jobs, each storing a result of a typical size.
    fn finish_ops(claimed: &[Claimed]) -> Vec<FinishOp> {
        claimed
            .iter()
            .map(|c| FinishOp {
                raw_id: c.raw_id.clone(),
                job_id: c.id.clone(),
                token: c.token.clone(),
                cron: false,
                kind: FinishKind::Done {
                    result: Some(StoredResult {
                        bytes: vec![0x80; 128],
                        ttl_ms: Some(60_000),
                    }),
                },
            })
            .collect()
    }

    async fn finish_batch(&mut self, ops: &[FinishOp]) {
        let ops: Vec<&FinishOp> = ops.iter().collect();
        let lease_set = format!("{}:lyanna:leases:bench", self.queue);
        write_batch(&mut self.conn, &self.queue, &lease_set, &ops)
            .await
            .expect("finish");
    }

    /// Deletes the result keys and the queue (finishes removed every other key).
    async fn cleanup(&mut self) {
        let mut made: Vec<String> = self.ids.drain(..).map(|id| keys::result(&id)).collect();
        made.push(self.queue.clone());
        for chunk in made.chunks(1000) {
            let _: () = redis::cmd("DEL")
                .arg(chunk)
                .query_async(&mut self.conn)
                .await
                .expect("delete bench keys");
        }
    }
}

fn claim_finish(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut f = rt.block_on(Fixture::new());
    let mut group = c.benchmark_group("batch_of_100");
    group
        .throughput(Throughput::Elements(BATCH as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.bench_function("claim", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    f.enqueue_batch().await;
                    let t = Instant::now();
                    let claimed = f.claim_batch().await;
                    timed += t.elapsed();
                    f.finish_batch(&Fixture::finish_ops(&claimed)).await;
                }
                timed
            })
        })
    });
    group.bench_function("finish", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    f.enqueue_batch().await;
                    let ops = Fixture::finish_ops(&f.claim_batch().await);
                    let t = Instant::now();
                    f.finish_batch(&ops).await;
                    timed += t.elapsed();
                }
                timed
            })
        })
    });
    group.finish();
    rt.block_on(f.cleanup());
}

criterion_group!(benches, claim_finish);
criterion_main!(benches);
