//! Job listings: the queue's sorted set by score (all, queued, deferred), the running jobs,
//! and the stored results (newest first), with a function filter, a success filter and an
//! offset cursor. Each page reads at most a bounded slice (ZRANGE ... LIMIT), never the whole
//! queue: with filters a page examines at most [`MAX_EXAMINED_PER_LIMIT`] times its size and
//! hands back a cursor to go on from.

use super::display::{call_args, ROW_REPR};
use super::keyspace::Fetched;
use super::results::decode;
use super::{ids, keyspace, Dashboard};
use crate::client::{ClientError, JobStatus};
use crate::protocol::job::Job;
use crate::protocol::{keys, now_ms};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;
const MAX_EXAMINED_PER_LIMIT: usize = 20;
/// A payload or result bigger than this is not decoded for a listing row (its page shows it).
const ROW_MAX_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Everything in the queue's sorted set.
    All,
    Queued,
    Deferred,
    InProgress,
    /// Stored results.
    Complete,
}

impl State {
    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "" | "all" => State::All,
            "queued" => State::Queued,
            "deferred" => State::Deferred,
            "in_progress" => State::InProgress,
            "complete" => State::Complete,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::All => "all",
            State::Queued => "queued",
            State::Deferred => "deferred",
            State::InProgress => "in_progress",
            State::Complete => "complete",
        }
    }
}

#[derive(Debug, Clone)]
pub struct JobQuery {
    pub queue: String,
    pub state: State,
    pub function: Option<String>,
    /// Only results: success or failure.
    pub success: Option<bool>,
    pub cursor: u64,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub id: Vec<u8>,
    pub function: String,
    pub args: String,
    pub enqueued_ms: Option<i64>,
    pub due_ms: Option<i64>,
    pub tries: Option<i64>,
    pub status: JobStatus,
    pub success: Option<bool>,
    pub finished_ms: Option<i64>,
    /// Why the payload could not be shown.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct JobPage {
    pub rows: Vec<JobRow>,
    pub next_cursor: Option<u64>,
    /// How many entries the state holds in all (before the function filter).
    pub total: u64,
}

impl Dashboard {
    pub async fn jobs(&self, q: &JobQuery) -> Result<JobPage, ClientError> {
        let limit = q.limit.clamp(1, MAX_LIMIT);
        match q.state {
            State::Complete => self.result_rows(q, limit).await,
            _ if q.success.is_some() => self.result_rows(q, limit).await,
            State::InProgress => self.running_rows(q, limit).await,
            _ => self.queue_rows(q, limit).await,
        }
    }

    async fn queue_rows(&self, q: &JobQuery, limit: usize) -> Result<JobPage, ClientError> {
        let mut conn = self.conn().await?;
        let now = now_ms();
        let (min, max) = match q.state {
            State::Queued => ("-inf".to_string(), now.to_string()),
            State::Deferred => (format!("({now}"), "+inf".to_string()),
            _ => ("-inf".to_string(), "+inf".to_string()),
        };
        let total: u64 = self.report(
            redis::cmd("ZCOUNT")
                .arg(&q.queue)
                .arg(&min)
                .arg(&max)
                .query_async(&mut conn)
                .await,
        )?;
        let batch = if q.function.is_some() {
            limit * 4
        } else {
            limit
        };
        let mut page = JobPage {
            total,
            ..JobPage::default()
        };
        let mut offset = q.cursor;
        let stop_at = q.cursor + (limit * MAX_EXAMINED_PER_LIMIT) as u64;
        loop {
            let entries: Vec<(Vec<u8>, f64)> = self.report(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&q.queue)
                    .arg(&min)
                    .arg(&max)
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(offset)
                    .arg(batch)
                    .query_async(&mut conn)
                    .await,
            )?;
            let n = entries.len();
            let rows = self.rows_for(&mut conn, entries, now).await?;
            for (i, row) in rows.into_iter().enumerate() {
                let keep = (q.state != State::Queued || row.status == JobStatus::Queued)
                    && q.function.as_ref().is_none_or(|f| *f == row.function);
                if !keep {
                    continue;
                }
                page.rows.push(row);
                if page.rows.len() == limit {
                    let next = offset + i as u64 + 1;
                    page.next_cursor = (next < total).then_some(next);
                    return Ok(page);
                }
            }
            offset += n as u64;
            if n < batch {
                return Ok(page);
            }
            if offset >= stop_at {
                page.next_cursor = Some(offset);
                return Ok(page);
            }
        }
    }

    /// Rows for ids of the queue's set: the job payload, in-progress key and retry counter of
    /// each, in one pipeline.
    async fn rows_for(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        entries: Vec<(Vec<u8>, f64)>,
        now: i64,
    ) -> Result<Vec<JobRow>, ClientError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (id, _) in &entries {
            pipe.exists(ids::in_progress_key(id));
        }
        let running: Vec<bool> = self.report(pipe.query_async(conn).await)?;
        let job_keys: Vec<Vec<u8>> = entries.iter().map(|(id, _)| ids::job_key(id)).collect();
        let retry_keys: Vec<Vec<u8>> = entries.iter().map(|(id, _)| ids::retry_key(id)).collect();
        let payloads = self.report(keyspace::fetch_small(conn, &job_keys, ROW_MAX_BYTES).await)?;
        let retries: Vec<Option<Vec<u8>>> =
            self.report(redis::cmd("MGET").arg(&retry_keys).query_async(conn).await)?;
        let codec = self.codec;
        let rows = entries
            .into_iter()
            .zip(running)
            .zip(payloads.into_iter().zip(retries))
            .map(|(((id, score), running), (payload, retry))| {
                let status = if running {
                    JobStatus::InProgress
                } else if score > now as f64 {
                    JobStatus::Deferred
                } else {
                    JobStatus::Queued
                };
                let retry_count = retry
                    .and_then(|r| String::from_utf8(r).ok())
                    .and_then(|r| r.trim().parse::<i64>().ok());
                let mut row = JobRow {
                    id,
                    function: String::new(),
                    args: String::new(),
                    enqueued_ms: None,
                    due_ms: Some(score as i64),
                    tries: retry_count,
                    status,
                    success: None,
                    finished_ms: None,
                    problem: None,
                };
                match payload {
                    Fetched::Missing => row.problem = Some("job key expired or missing".into()),
                    Fetched::TooBig(n) => row.problem = Some(too_big(n)),
                    Fetched::Bytes(p) => match decode_job(codec, &p) {
                        Err(e) => row.problem = Some(e),
                        Ok(job) => {
                            row.function = job.function;
                            row.args = call_args(&job.args, ROW_REPR);
                            row.enqueued_ms = Some(job.enqueue_time_ms);
                            row.tries = row.tries.or(job.job_try);
                        }
                    },
                }
                row
            })
            .collect();
        Ok(rows)
    }

    async fn running_rows(&self, q: &JobQuery, limit: usize) -> Result<JobPage, ClientError> {
        let mut conn = self.conn().await?;
        let ids = self.report(keyspace::scan_ids(&mut conn, keys::IN_PROGRESS_PREFIX).await)?;
        if ids.is_empty() {
            return Ok(JobPage::default());
        }
        let scores: Vec<Option<f64>> = self.report(
            redis::cmd("ZMSCORE")
                .arg(&q.queue)
                .arg(&ids)
                .query_async(&mut conn)
                .await,
        )?;
        let mut entries: Vec<(Vec<u8>, f64)> = ids
            .into_iter()
            .zip(scores)
            .filter_map(|(id, s)| s.map(|s| (id, s)))
            .collect();
        entries.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let rows = self.rows_for(&mut conn, entries, now_ms()).await?;
        let mut rows: Vec<JobRow> = rows
            .into_iter()
            .filter(|r| r.status == JobStatus::InProgress)
            .filter(|r| q.function.as_ref().is_none_or(|f| *f == r.function))
            .collect();
        Ok(paged(&mut rows, q.cursor, limit))
    }

    async fn result_rows(&self, q: &JobQuery, limit: usize) -> Result<JobPage, ClientError> {
        let mut conn = self.conn().await?;
        let present = self.report(keyspace::scan_ids(&mut conn, keys::RESULT_PREFIX).await)?;
        let mut index = self.results.lock().await;
        self.report(index.refresh(&mut conn, self.codec, &present).await)?;
        let mut hits: Vec<(&Vec<u8>, i64)> = index
            .entries
            .iter()
            .filter(|(_, r)| r.in_queue(&q.queue, &self.queue))
            .filter(|(_, r)| q.function.as_ref().is_none_or(|f| *f == r.function))
            .filter(|(_, r)| q.success.is_none_or(|s| r.decoded && r.success == s))
            .map(|(id, r)| (id, r.finish_ms))
            .collect();
        let total = hits.len() as u64;
        hits.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let start = (q.cursor as usize).min(hits.len());
        let end = (start + limit).min(hits.len());
        let page_ids: Vec<Vec<u8>> = hits[start..end]
            .iter()
            .map(|(id, _)| (*id).clone())
            .collect();
        drop(index);
        let mut rows = Vec::with_capacity(page_ids.len());
        if !page_ids.is_empty() {
            let keys: Vec<Vec<u8>> = page_ids.iter().map(|id| ids::result_key(id)).collect();
            let values =
                self.report(keyspace::fetch_small(&mut conn, &keys, ROW_MAX_BYTES).await)?;
            for (id, v) in page_ids.into_iter().zip(values) {
                rows.push(result_row(self.codec, id, v));
            }
        }
        Ok(JobPage {
            rows,
            next_cursor: ((end as u64) < total).then_some(end as u64),
            total,
        })
    }

    /// Whether anything is known under `id` (for the search box).
    pub async fn exists(&self, queue: &str, id: &[u8]) -> Result<bool, ClientError> {
        let mut conn = self.conn().await?;
        let (n, score): (u64, Option<f64>) = self.report(
            redis::pipe()
                .cmd("EXISTS")
                .arg(ids::job_key(id))
                .arg(ids::result_key(id))
                .arg(ids::in_progress_key(id))
                .zscore(queue, id)
                .query_async(&mut conn)
                .await,
        )?;
        Ok(n > 0 || score.is_some())
    }
}

fn paged(rows: &mut Vec<JobRow>, cursor: u64, limit: usize) -> JobPage {
    let total = rows.len() as u64;
    let start = (cursor as usize).min(rows.len());
    let end = (start + limit).min(rows.len());
    JobPage {
        rows: rows.drain(start..end).collect(),
        next_cursor: ((end as u64) < total).then_some(end as u64),
        total,
    }
}

fn decode_job(codec: crate::codec::Codec, payload: &[u8]) -> Result<Job, String> {
    let v = codec
        .decode(payload, crate::codec::Globals::Opaque)
        .map_err(|e| format!("cannot decode the job: {e}"))?;
    Job::from_value(v).map_err(|e| e.to_string())
}

fn too_big(n: usize) -> String {
    format!("{:.1} MB, not shown here (see its page)", n as f64 / 1e6)
}

fn result_row(codec: crate::codec::Codec, id: Vec<u8>, v: Fetched) -> JobRow {
    let mut row = JobRow {
        id,
        function: String::new(),
        args: String::new(),
        enqueued_ms: None,
        due_ms: None,
        tries: None,
        status: JobStatus::Complete,
        success: None,
        finished_ms: None,
        problem: None,
    };
    let decoded = match v {
        Fetched::Missing => Err("result deleted or expired".to_string()),
        Fetched::TooBig(n) => Err(too_big(n)),
        Fetched::Bytes(b) => {
            decode(codec, &b).ok_or_else(|| format!("result does not decode as {}", codec.name()))
        }
    };
    match decoded {
        Err(e) => row.problem = Some(e),
        Ok(r) => {
            row.function = r.function.clone();
            row.args = call_args(&r.args, ROW_REPR);
            row.enqueued_ms = Some(r.enqueue_time_ms);
            row.tries = Some(r.job_try);
            row.success = Some(r.success);
            row.finished_ms = Some(r.finish_ms);
        }
    }
    row
}
