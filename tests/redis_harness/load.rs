//! Load through our client while Redis misbehaves, and where the jobs ended up.

use lyanna_worker::client::{Client, EnqueueOptions};
use lyanna_worker::codec::Codec;
use lyanna_worker::conn::{Redis, RedisSettings};
use lyanna_worker::{Args, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Enqueues `count` jobs `sleep_ms(ms)` with ids `{prefix}{n}` through our client, retrying
/// each until Redis takes it. With `wait: Some(n)`, a job counts as acknowledged only after
/// `WAIT n 100` says n replicas have it; until then it is enqueued again (same id, so a copy
/// that did land is not duplicated).
pub struct Producer {
    pub ids: Vec<String>,
    /// Enqueues retried after an error.
    pub retries: usize,
    /// Enqueues retried because WAIT saw no replica take them.
    pub unreplicated: usize,
}

pub struct ProducerSpec {
    pub settings: RedisSettings,
    pub queue: String,
    pub prefix: String,
    pub count: usize,
    pub sleep_ms: i64,
    /// Replicas that must confirm each job (`WAIT n 100`), if any.
    pub wait: Option<i64>,
    /// Pause after each acknowledged job.
    pub pace: Duration,
    /// Counts acknowledged jobs (shared by producers).
    pub progress: Arc<AtomicUsize>,
}

pub async fn produce(spec: ProducerSpec) -> Producer {
    let ProducerSpec {
        settings,
        queue,
        prefix,
        count,
        sleep_ms,
        wait,
        pace,
        progress,
    } = spec;
    let redis = Redis::new(&settings).expect("producer settings");
    let client = Client::new(redis.clone(), queue, Codec::Pickle);
    let mut p = Producer {
        ids: Vec::with_capacity(count),
        retries: 0,
        unreplicated: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    for n in 0..count {
        let id = format!("{prefix}{n}");
        loop {
            assert!(Instant::now() < deadline, "producer stuck at job {n}");
            let opts = EnqueueOptions {
                job_id: Some(id.clone()),
                ..EnqueueOptions::default()
            };
            let args = Args::new(vec![Value::Int(sleep_ms)], vec![]);
            if client.enqueue("sleep_ms", args, opts).await.is_err() {
                p.retries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            if let Some(replicas) = wait {
                let acked: redis::RedisResult<i64> = match redis.conn().await {
                    Ok(mut c) => redis::cmd("WAIT").arg(1).arg(100).query_async(&mut c).await,
                    Err(e) => Err(e),
                };
                match acked {
                    Ok(n) if n >= replicas => {}
                    Ok(_) => {
                        p.unreplicated += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(e) => {
                        redis.report(&e);
                        p.retries += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
            break;
        }
        p.ids.push(id);
        progress.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(pace).await;
    }
    p
}

/// Where each acknowledged job ended up on the (current) master.
#[derive(Debug, Default)]
pub struct Tally {
    pub results: usize,
    /// Job key or queue entry still there, no result yet.
    pub pending: Vec<String>,
    /// Neither result, job nor queue entry: the write that acknowledged it was lost.
    pub lost: Vec<String>,
}

pub async fn tally(
    conn: &mut redis::aio::MultiplexedConnection,
    queue: &str,
    ids: &[String],
) -> redis::RedisResult<Tally> {
    let mut t = Tally::default();
    for chunk in ids.chunks(500) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.exists(format!("arq:result:{id}"))
                .exists(format!("arq:job:{id}"))
                .zscore(queue, id);
        }
        let flags: Vec<redis::Value> = pipe.query_async(conn).await?;
        for (i, id) in chunk.iter().enumerate() {
            let result = matches!(flags[3 * i], redis::Value::Int(1));
            let job = matches!(flags[3 * i + 1], redis::Value::Int(1));
            let queued = !matches!(flags[3 * i + 2], redis::Value::Nil);
            if result {
                t.results += 1;
            } else if job || queued {
                t.pending.push(id.clone());
            } else {
                t.lost.push(id.clone());
            }
        }
    }
    Ok(t)
}
