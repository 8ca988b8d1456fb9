//! `flush_to_db`, the every-minute cron: page-view counts move from Redis (where the web app
//! counts them) to MariaDB, and the pages showing them are dropped from memcached.
//!
//! Nothing may be lost. The Python original SPOPped an id before writing it, so a database
//! error dropped it. Here an id leaves the visited set only after its row is written and its
//! cache keys deleted, and only if its count did not move meanwhile (`settle.lua`); a view
//! racing that removal is caught by the next run (`recheck.lua`). A failure anywhere leaves
//! the ids in the set for the next run, and rewriting a count is harmless: counts are totals.
//!
//! A run is: recheck the previous run's removals, SSCAN the set once, then per batch of 500:
//! read counts (one pipeline), look the posts up and write them (four queries), delete the
//! cache keys on every memcached server, settle (one script).

use super::db::DbError;
use super::keys::{batch_keys, PAGEVIEW_FIELD};
use super::memcache::McError;
use super::Blog;
use lyanna_task_api::{JobContext, TaskError, Value};
use redis::aio::MultiplexedConnection;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

/// Posts per batch: one UPDATE, one script call, one delete round trip per server.
pub const BATCH: usize = 500;
/// A removal is confirmed only this long after it (see `recheck.lua`).
const RECHECK_MIN_AGE_MS: u64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Memcache(#[from] McError),
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlushReport {
    /// Counts written to MariaDB.
    pub written: usize,
    /// Ids removed from the visited set (written, and unchanged since).
    pub settled: usize,
    /// Ids left in the set because a view arrived during the run.
    pub changed: usize,
    /// Ids dropped: no such post, or not an id / not a count.
    pub dropped: usize,
    /// Earlier removals a view raced, put back in the set.
    pub requeued: usize,
    /// memcached deletes per server.
    pub keys_deleted: usize,
}

/// The cron entry point. It never asks for a retry: cron jobs have max_tries 1 (as in arq),
/// and the ids stay in Redis, so the next tick is the retry.
pub async fn flush_to_db(blog: Arc<Blog>, ctx: JobContext) -> Result<Value, TaskError> {
    let job = ctx.job_id.as_str();
    let provider = ctx
        .redis
        .as_ref()
        .ok_or_else(|| TaskError::fail("flush_to_db needs the worker's Redis"))?;
    let started = Instant::now();
    let result = match provider.connection().await {
        Ok(mut conn) => run(&blog, &mut conn).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(r) => {
            info!(
                job_id = job,
                "flush_to_db {job}: {} counts written, {} settled, {} changed during the run, \
                 {} dropped, {} requeued, {} cache keys deleted, in {:.3}s",
                r.written,
                r.settled,
                r.changed,
                r.dropped,
                r.requeued,
                r.keys_deleted,
                started.elapsed().as_secs_f64()
            );
            Ok(Value::None)
        }
        Err(e) => {
            warn!(job_id = job, error = %e, "flush_to_db {job} failed; the ids stay in Redis for the next run");
            Err(TaskError::fail(format!(
                "{e} (page views stay in Redis for the next run)"
            )))
        }
    }
}

/// One full flush; public so tests can step it.
pub async fn run(blog: &Blog, conn: &mut MultiplexedConnection) -> Result<FlushReport, FlushError> {
    let mut report = FlushReport {
        requeued: recheck(blog, conn).await?,
        ..Default::default()
    };
    let members = scan_visited(blog, conn).await?;
    for batch in members.chunks(BATCH) {
        flush_batch(blog, conn, batch, &mut report).await?;
    }
    Ok(report)
}

/// Every member of the visited set once (SSCAN may repeat one; members added during the
/// scan may be missed and wait for the next run).
async fn scan_visited(
    blog: &Blog,
    conn: &mut MultiplexedConnection,
) -> Result<Vec<String>, FlushError> {
    let key = blog.keys.visited();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, items): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg(&key)
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        for m in items {
            if seen.insert(m.clone()) {
                out.push(m);
            }
        }
        if next == 0 {
            return Ok(out);
        }
        cursor = next;
    }
}

/// A count as the web app wrote it: absent is 0; beyond the column's range is clamped.
fn parse_count(raw: Option<&str>) -> Option<i64> {
    match raw {
        None => Some(0),
        Some(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .map(|n| n.clamp(i64::from(i32::MIN), i64::from(i32::MAX))),
    }
}

async fn flush_batch(
    blog: &Blog,
    conn: &mut MultiplexedConnection,
    members: &[String],
    report: &mut FlushReport,
) -> Result<(), FlushError> {
    let mut drop_ids: Vec<&str> = Vec::new();
    let mut ids: Vec<(i64, &str)> = Vec::with_capacity(members.len());
    for m in members {
        match m.parse::<i64>() {
            Ok(id) if id > 0 && id.to_string() == *m => ids.push((id, m)),
            _ => {
                warn!(member = %m, "flush_to_db: not a post id in the visited set; dropped");
                drop_ids.push(m);
            }
        }
    }
    let mut pipe = redis::pipe();
    for (_, m) in &ids {
        pipe.hget(blog.keys.pageview(m), PAGEVIEW_FIELD);
    }
    let raws: Vec<Option<String>> = if ids.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(conn).await?
    };
    let mut counts: HashMap<i64, (i64, String)> = HashMap::with_capacity(ids.len());
    for ((id, m), raw) in ids.iter().zip(raws) {
        match parse_count(raw.as_deref()) {
            Some(n) => {
                counts.insert(*id, (n, raw.unwrap_or_default()));
            }
            None => {
                warn!(post_id = id, raw = ?raw, "flush_to_db: page-view count is not a number; dropped");
                drop_ids.push(m);
            }
        }
    }

    let mut wanted: Vec<i64> = counts.keys().copied().collect();
    wanted.sort_unstable();
    let posts = blog.db.cache_info(&wanted).await?;
    let found: HashSet<i64> = posts.iter().map(|p| p.id).collect();
    for id in wanted.iter().filter(|id| !found.contains(id)) {
        warn!(
            post_id = id,
            "flush_to_db: post no longer exists; its count is dropped"
        );
        drop_ids.push(ids.iter().find(|(i, _)| i == id).map_or("", |(_, m)| m));
    }
    let writes: Vec<(i64, i64)> = posts.iter().map(|p| (p.id, counts[&p.id].0)).collect();
    blog.db.write_pageviews(&writes).await?;
    report.written += writes.len();

    let keys = batch_keys(&posts);
    for (post_id, key) in &keys.invalid {
        warn!(post_id, key = ?key, "flush_to_db: memcached cannot hold this key; skipped");
    }
    if !posts.is_empty() {
        blog.memcache.delete_everywhere(&keys.delete).await?;
        report.keys_deleted += keys.delete.len();
    }

    if !posts.is_empty() {
        let mut script = blog.settle.prepare_invoke();
        script.key(blog.keys.visited()).key(blog.keys.flushed());
        script.arg(PAGEVIEW_FIELD);
        for p in &posts {
            let id = p.id.to_string();
            script.key(blog.keys.pageview(&id));
            script.arg(id).arg(&counts[&p.id].1);
        }
        let (settled, changed): (usize, usize) = script.invoke_async(conn).await?;
        report.settled += settled;
        report.changed += changed;
    }
    drop_ids.retain(|m| !m.is_empty());
    if !drop_ids.is_empty() {
        redis::cmd("SREM")
            .arg(blog.keys.visited())
            .arg(&drop_ids)
            .query_async::<()>(conn)
            .await?;
        report.dropped += drop_ids.len();
    }
    Ok(())
}

/// Confirms (or undoes) the previous runs' removals; returns how many ids went back.
async fn recheck(blog: &Blog, conn: &mut MultiplexedConnection) -> Result<usize, FlushError> {
    let key = blog.keys.flushed();
    let mut requeued = 0;
    let mut cursor: u64 = 0;
    loop {
        let (next, flat): (u64, Vec<String>) = redis::cmd("HSCAN")
            .arg(&key)
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        let ids: Vec<&String> = flat.iter().step_by(2).collect();
        if !ids.is_empty() {
            let mut script = blog.recheck.prepare_invoke();
            script.key(&key).key(blog.keys.visited());
            script.arg(PAGEVIEW_FIELD).arg(RECHECK_MIN_AGE_MS);
            for id in &ids {
                script.key(blog.keys.pageview(id)).arg(id.as_str());
            }
            let (_confirmed, back): (usize, usize) = script.invoke_async(conn).await?;
            requeued += back;
        }
        if next == 0 {
            return Ok(requeued);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_like_the_web_app_writes_them() {
        assert_eq!(parse_count(None), Some(0));
        assert_eq!(parse_count(Some("17")), Some(17));
        assert_eq!(parse_count(Some("-3")), Some(-3));
        assert_eq!(parse_count(Some("99999999999")), Some(i64::from(i32::MAX)));
        assert_eq!(parse_count(Some("x")), None);
    }
}
