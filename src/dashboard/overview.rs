//! The overview: per queue counts, every worker's health, and the fleet's throughput over the
//! last minutes (from the stored results' finish times: every worker, Python or ours, writes
//! them; jobs run with `keep_result=0` leave nothing to count).

use super::keyspace::{self, HealthKey};
use super::results::ResultBrief;
use super::Dashboard;
use crate::client::ClientError;
use crate::protocol::health::{parse_health, HealthCounts};
use crate::protocol::now_ms;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Minutes of throughput shown.
pub const THROUGHPUT_MINUTES: usize = 15;
/// Queues shown at most (found through results and health keys besides the worker's).
const MAX_QUEUES: usize = 100;
/// How long the health keys found by a keyspace pass are reused. arq's key of every queue
/// shown is read on each look anyway; only a worker on a queue with no results and no other
/// worker, or a new worker of ours, can take this long to appear.
const HEALTH_SCAN_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Due, deferred, the oldest due ids with scores, the running ids' scores.
type Counts = (u64, u64, Vec<(Vec<u8>, f64)>, Vec<Option<f64>>);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueRow {
    pub name: String,
    /// Due now and not running.
    pub queued: u64,
    /// Due later.
    pub deferred: u64,
    /// In the queue with an in-progress key.
    pub in_progress: u64,
    pub results_ok: u64,
    pub results_failed: u64,
    /// Results that would not decode with our codec (another codec's queue, or garbage).
    pub results_undecodable: u64,
    /// Seconds since the oldest due job that is not running became due (0: none).
    pub oldest_due_age_s: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerKind {
    Lyanna,
    Arq,
}

impl WorkerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerKind::Lyanna => "lyanna",
            WorkerKind::Arq => "arq",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    /// Our worker id, or for arq's shared key the key's name.
    pub id: String,
    pub queue: String,
    pub kind: WorkerKind,
    pub health: String,
    pub counts: Option<HealthCounts>,
    /// Seconds until the key lapses (the worker stopped writing it).
    pub ttl_s: Option<i64>,
}

/// Results finished per minute, oldest minute first, the current one last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Throughput {
    /// (minute start, Unix ms; ok; failed)
    pub minutes: Vec<(i64, u64, u64)>,
}

impl Throughput {
    pub fn totals(&self) -> (u64, u64) {
        self.minutes
            .iter()
            .fold((0, 0), |(o, f), (_, a, b)| (o + a, f + b))
    }
}

#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub queues: Vec<QueueRow>,
    pub workers: Vec<WorkerRow>,
    pub throughput: Throughput,
    /// Result keys on this database, all queues.
    pub results_total: u64,
    /// Results not indexed (too many): counts of ok/failed leave them out.
    pub results_not_indexed: u64,
    pub now_ms: i64,
}

/// Buckets the results finished in the last minutes (pure).
pub fn throughput<'a>(results: impl Iterator<Item = &'a ResultBrief>, now: i64) -> Throughput {
    let minute = 60_000;
    let current = now - now.rem_euclid(minute);
    let first = current - (THROUGHPUT_MINUTES as i64 - 1) * minute;
    let mut minutes: Vec<(i64, u64, u64)> = (0..THROUGHPUT_MINUTES as i64)
        .map(|i| (first + i * minute, 0, 0))
        .collect();
    for r in results.filter(|r| r.decoded && r.finish_ms >= first && r.finish_ms < current + minute)
    {
        let i = ((r.finish_ms - first) / minute) as usize;
        if r.success {
            minutes[i].1 += 1;
        } else {
            minutes[i].2 += 1;
        }
    }
    Throughput { minutes }
}

impl Dashboard {
    /// The health keys, from a keyspace pass at most every [`HEALTH_SCAN_EVERY`].
    async fn health_keys(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> Result<Vec<HealthKey>, ClientError> {
        let cached = {
            let c = self.health.lock().unwrap_or_else(|p| p.into_inner());
            c.as_ref()
                .filter(|(at, _)| at.elapsed() < HEALTH_SCAN_EVERY)
                .map(|(_, keys)| keys.clone())
        };
        if let Some(keys) = cached {
            return Ok(keys);
        }
        let keys = self.report(keyspace::health_keys(conn).await)?;
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((std::time::Instant::now(), keys.clone()));
        Ok(keys)
    }

    pub async fn overview(&self) -> Result<Overview, ClientError> {
        let mut conn = self.conn().await?;
        let ks = self.report(keyspace::look(&mut conn).await)?;
        let mut health = self.health_keys(&mut conn).await?;
        let mut index = self.results.lock().await;
        self.report(index.refresh(&mut conn, self.codec, &ks.result_ids).await)?;
        let now = now_ms();

        // The worker's queue, then queues with a live worker, then queues known from results.
        let mut with_workers: BTreeSet<String> = BTreeSet::new();
        for h in &health {
            match h {
                HealthKey::Arq { queue, .. } | HealthKey::Lyanna { queue, .. } => {
                    with_workers.insert(queue.clone())
                }
            };
        }
        // Counted per queue in one pass over the index (it may hold 500k results).
        let mut counts: HashMap<&str, (u64, u64, u64)> = HashMap::new();
        for r in index.entries.values() {
            let q = if r.queue.is_empty() {
                self.queue.as_str()
            } else {
                r.queue.as_str()
            };
            let c = counts.entry(q).or_default();
            match (r.decoded, r.success) {
                (false, _) => c.2 += 1,
                (true, true) => c.0 += 1,
                (true, false) => c.1 += 1,
            }
        }
        let from_results: BTreeSet<&str> = counts
            .keys()
            .copied()
            .filter(|q| !with_workers.contains(*q))
            .collect();
        let mut queues: Vec<String> = vec![self.queue.clone()];
        for q in with_workers.iter().map(String::as_str).chain(from_results) {
            if q != self.queue && queues.len() < MAX_QUEUES {
                queues.push(q.to_string());
            }
        }
        // arq's key of every queue shown, read now (not from the cached pass).
        for q in &queues {
            let key = crate::protocol::keys::health(q).into_bytes();
            if !health
                .iter()
                .any(|h| matches!(h, HealthKey::Arq { key: k, .. } if *k == key))
            {
                health.push(HealthKey::Arq {
                    queue: q.clone(),
                    key,
                });
            }
        }

        let in_progress: HashSet<&[u8]> = ks.in_progress_ids.iter().map(Vec::as_slice).collect();
        let mut rows = Vec::with_capacity(queues.len());
        for q in &queues {
            let mut row = self
                .queue_counts(&mut conn, q, &ks.in_progress_ids, &in_progress, now)
                .await?;
            if let Some((ok, failed, undecodable)) = counts.get(q.as_str()) {
                row.results_ok = *ok;
                row.results_failed = *failed;
                row.results_undecodable = *undecodable;
            }
            rows.push(row);
        }
        let workers = self.workers(&mut conn, &health).await?;
        Ok(Overview {
            queues: rows,
            workers,
            throughput: throughput(index.entries.values(), now),
            results_total: ks.result_ids.len() as u64,
            results_not_indexed: index.not_indexed as u64,
            now_ms: now,
        })
    }

    /// One queue's counts: two ZCOUNTs, the scores of the running ids, and the oldest due ids
    /// (as many as are running, plus one, so the first not running is among them).
    async fn queue_counts(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        queue: &str,
        in_progress_ids: &[Vec<u8>],
        in_progress: &HashSet<&[u8]>,
        now: i64,
    ) -> Result<QueueRow, ClientError> {
        let mut pipe = redis::pipe();
        pipe.zcount(queue, "-inf", now)
            .zcount(queue, format!("({now}"), "+inf");
        let head = (in_progress_ids.len() + 1).min(10_000);
        pipe.cmd("ZRANGEBYSCORE")
            .arg(queue)
            .arg("-inf")
            .arg(now)
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            .arg(head);
        if !in_progress_ids.is_empty() {
            pipe.cmd("ZMSCORE").arg(queue).arg(in_progress_ids);
        }
        let (due, deferred, oldest, scores): Counts = if in_progress_ids.is_empty() {
            let (a, b, c): (u64, u64, Vec<(Vec<u8>, f64)>) =
                self.report(pipe.query_async(conn).await)?;
            (a, b, c, Vec::new())
        } else {
            self.report(pipe.query_async(conn).await)?
        };
        let running = scores.iter().flatten().count() as u64;
        let running_due = scores
            .iter()
            .flatten()
            .filter(|s| **s <= now as f64)
            .count() as u64;
        // A job claimed between the SCAN and these reads counts as queued for one look.
        let oldest_due_age_s = oldest
            .iter()
            .find(|(id, _)| !in_progress.contains(id.as_slice()))
            .map_or(0, |(_, score)| {
                ((now as f64 - score) / 1000.0).max(0.0) as i64
            });
        Ok(QueueRow {
            name: queue.to_string(),
            queued: due.saturating_sub(running_due),
            deferred,
            in_progress: running,
            oldest_due_age_s,
            ..QueueRow::default()
        })
    }

    /// Every worker from the health keys. arq's `{queue}:health-check` is shared by all the
    /// queue's workers (each overwrites it): when it holds what one of our workers wrote to its
    /// own key, it is that worker's; otherwise a Python worker wrote it last.
    async fn workers(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        health: &[HealthKey],
    ) -> Result<Vec<WorkerRow>, ClientError> {
        if health.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&[u8]> = health
            .iter()
            .map(|h| match h {
                HealthKey::Arq { key, .. } | HealthKey::Lyanna { key, .. } => key.as_slice(),
            })
            .collect();
        // MGET answers nil for a key of another type, where GET would fail.
        let values: Vec<Option<Vec<u8>>> =
            self.report(redis::cmd("MGET").arg(&keys).query_async(conn).await)?;
        let mut pipe = redis::pipe();
        for k in &keys {
            pipe.pttl(k);
        }
        let ttls: Vec<i64> = self.report(pipe.query_async(conn).await)?;
        let mut rows = Vec::new();
        let mut ours: HashSet<(String, String)> = HashSet::new();
        for ((h, v), ttl) in health.iter().zip(&values).zip(&ttls) {
            let (Some(v), HealthKey::Lyanna { queue, worker, .. }) = (v, h) else {
                continue;
            };
            let text = String::from_utf8_lossy(v).into_owned();
            ours.insert((queue.clone(), text.clone()));
            rows.push(WorkerRow {
                id: worker.clone(),
                queue: queue.clone(),
                kind: WorkerKind::Lyanna,
                counts: parse_health(&text),
                health: text,
                ttl_s: (*ttl >= 0).then_some(ttl / 1000),
            });
        }
        for ((h, v), ttl) in health.iter().zip(&values).zip(&ttls) {
            let (Some(v), HealthKey::Arq { queue, key }) = (v, h) else {
                continue;
            };
            let text = String::from_utf8_lossy(v).into_owned();
            if ours.contains(&(queue.clone(), text.clone())) {
                continue;
            }
            rows.push(WorkerRow {
                id: String::from_utf8_lossy(key).into_owned(),
                queue: queue.clone(),
                kind: WorkerKind::Arq,
                counts: parse_health(&text),
                health: text,
                ttl_s: (*ttl >= 0).then_some(ttl / 1000),
            });
        }
        rows.sort_by(|a, b| (&a.queue, &a.id).cmp(&(&b.queue, &b.id)));
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_buckets_by_minute() {
        let now = 1_700_000_000_000 + 30_000;
        let r = |ms: i64, success: bool| ResultBrief {
            queue: "q".into(),
            function: "f".into(),
            success,
            finish_ms: ms,
            decoded: true,
        };
        let rs = [
            r(now - 1_000, true),
            r(now - 1_000, false),
            r(now - 61_000, true),
            r(now - 3_600_000, true),
        ];
        let t = throughput(rs.iter(), now);
        assert_eq!(t.minutes.len(), THROUGHPUT_MINUTES);
        assert_eq!(t.minutes.last().map(|m| (m.1, m.2)), Some((1, 1)));
        assert_eq!(t.minutes[THROUGHPUT_MINUTES - 2].1, 1);
        assert_eq!(t.totals(), (2, 1));
    }
}
