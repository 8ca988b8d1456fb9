//! The index of stored results: for each result key, its queue, function, success and finish
//! time, which the overview counts, the throughput buckets and the `complete` listing need.
//! Result values never change under one key (arq writes a result once; only a delete frees the
//! id), so each is fetched and decoded once and kept while its key exists: a refresh costs the
//! SCAN and the new results only.

use super::ids;
use crate::codec::{Codec, DecodeLimits, Globals};
use crate::protocol::job::JobResult;
use redis::aio::MultiplexedConnection;
use std::collections::{HashMap, HashSet};

/// Results fetched per MGET.
const FETCH_BATCH: usize = 500;
/// Results indexed at most; beyond that counts are partial (the page says so).
pub const MAX_INDEXED: usize = 500_000;
/// A result bigger than this is indexed as not decoded (its success cannot be told without
/// decoding it all: the arguments come first); the overview counts it apart.
const MAX_DECODED_BYTES: usize = 1024 * 1024;

/// What the index keeps of one result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultBrief {
    /// The queue the result names (`q`); empty when it names none or did not decode.
    pub queue: String,
    pub function: String,
    pub success: bool,
    pub finish_ms: i64,
    pub decoded: bool,
}

impl ResultBrief {
    fn of(r: &JobResult) -> Self {
        ResultBrief {
            queue: if r.queue_name == "<unknown>" {
                String::new()
            } else {
                r.queue_name.clone()
            },
            function: r.function.clone(),
            success: r.success,
            finish_ms: r.finish_ms,
            decoded: true,
        }
    }

    fn undecodable() -> Self {
        ResultBrief {
            queue: String::new(),
            function: String::new(),
            success: false,
            finish_ms: 0,
            decoded: false,
        }
    }

    /// Whether this result belongs to `queue` (`default` takes results naming none).
    pub fn in_queue(&self, queue: &str, default: &str) -> bool {
        if self.queue.is_empty() {
            queue == default
        } else {
            self.queue == queue
        }
    }
}

#[derive(Default)]
pub struct ResultIndex {
    pub entries: HashMap<Vec<u8>, ResultBrief>,
    /// Result keys that exist but were not indexed (over [`MAX_INDEXED`]).
    pub not_indexed: usize,
}

/// Decodes a result for display (unknown classes kept opaque).
pub fn decode(codec: Codec, bytes: &[u8]) -> Option<JobResult> {
    let v = codec
        .decode_with(bytes, Globals::Opaque, &DecodeLimits::default())
        .ok()?;
    JobResult::from_value(v).ok()
}

impl ResultIndex {
    /// Brings the index up to `present` (the result ids SCAN just found).
    pub async fn refresh(
        &mut self,
        conn: &mut MultiplexedConnection,
        codec: Codec,
        present: &[Vec<u8>],
    ) -> redis::RedisResult<()> {
        let live: HashSet<&[u8]> = present.iter().map(Vec::as_slice).collect();
        self.entries.retain(|id, _| live.contains(id.as_slice()));
        let mut new: Vec<&Vec<u8>> = present
            .iter()
            .filter(|id| !self.entries.contains_key(*id))
            .collect();
        let room = MAX_INDEXED.saturating_sub(self.entries.len());
        self.not_indexed = new.len().saturating_sub(room);
        new.truncate(room);
        for chunk in new.chunks(FETCH_BATCH) {
            let keys: Vec<Vec<u8>> = chunk.iter().map(|id| ids::result_key(id)).collect();
            let sizes: Vec<usize> = {
                let mut pipe = redis::pipe();
                for k in &keys {
                    pipe.strlen(k);
                }
                pipe.query_async(conn).await?
            };
            let small: Vec<usize> = (0..keys.len())
                .filter(|&i| sizes[i] <= MAX_DECODED_BYTES)
                .collect();
            let values: Vec<Option<Vec<u8>>> = if small.is_empty() {
                Vec::new()
            } else {
                redis::cmd("MGET")
                    .arg(small.iter().map(|&i| &keys[i]).collect::<Vec<_>>())
                    .query_async(conn)
                    .await?
            };
            // Decoding 500 results is CPU work: off the runtime threads.
            let briefs = tokio::task::spawn_blocking(move || {
                values
                    .into_iter()
                    .map(|v| {
                        v.and_then(|b| decode(codec, &b))
                            .map_or_else(ResultBrief::undecodable, |r| ResultBrief::of(&r))
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            let mut briefs = briefs.into_iter();
            for (i, id) in chunk.iter().enumerate() {
                let brief = if sizes[i] == 0 {
                    // Deleted between the SCAN and now: leave it out.
                    if small.contains(&i) {
                        briefs.next();
                    }
                    continue;
                } else if sizes[i] <= MAX_DECODED_BYTES {
                    briefs.next().unwrap_or_else(ResultBrief::undecodable)
                } else {
                    ResultBrief::undecodable()
                };
                self.entries.insert((*id).clone(), brief);
            }
        }
        Ok(())
    }

    /// Forgets one result (after we deleted it).
    pub fn forget(&mut self, id: &[u8]) {
        self.entries.remove(id);
    }
}
