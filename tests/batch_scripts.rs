//! The claim and finish scripts on batches larger than one multi-key command takes (the
//! scripts send MGET, SADD, ZREM, DEL and SREM in slices of 1,000 keys): 1,200 jobs claimed in
//! one call, each with its payload, a first try and its own token, then finished in one call,
//! every key of theirs gone but the results; a second finish of the same batch writes nothing.

mod common;

use common::*;
use lyanna_worker::codec::Codec;
use lyanna_worker::protocol::{keys, now_ms};
use lyanna_worker::worker::claim::{claim, ClaimRequest};
use lyanna_worker::worker::finish::{write_batch, FinishKind, FinishOp, StoredResult, Written};

const JOBS: usize = 1_200;

#[tokio::test]
async fn claim_and_finish_1200_jobs_in_one_call_each() {
    let q = unique_queue("batch-scripts");
    let lease_set = format!("{q}:lyanna:leases:test");
    let c = client(&q, Codec::Pickle);
    let ids = enqueue_many(&c, JOBS, "noop", vec![]).await;
    let mut conn = redis_conn(&redis_url()).await;
    let req = ClaimRequest {
        queue: &q,
        lease_set: &lease_set,
        now_ms: now_ms() + 1,
        in_progress_ttl_ms: 60_000,
        max_claim: JOBS,
        read_limit: JOBS + 100,
        aborts_enabled: false,
        token_prefix: "batch-test|0|",
        first_token: 1,
        held: Vec::new(),
    };
    let claimed = claim(&mut conn, &req).await.expect("claim");
    assert_eq!(claimed.len(), JOBS);
    let mut tokens: Vec<&str> = claimed.iter().map(|c| c.token.as_str()).collect();
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), JOBS, "a token per job");
    for c in &claimed {
        assert!(c.payload.is_some(), "{}: no payload", c.id);
        assert_eq!(c.job_try, 1, "{}", c.id);
        assert_eq!(c.key_error, None, "{}", c.id);
    }
    let members: usize = redis::cmd("SCARD")
        .arg(&lease_set)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(members, JOBS, "every claimed id in the lease set");
    // Nothing left to claim: every due job is held.
    let again = claim(&mut conn, &req).await.expect("claim again");
    assert!(again.is_empty());

    let ops: Vec<FinishOp> = claimed
        .iter()
        .map(|c| FinishOp {
            raw_id: c.raw_id.clone(),
            job_id: c.id.clone(),
            token: c.token.clone(),
            cron: false,
            kind: FinishKind::Done {
                result: Some(StoredResult {
                    bytes: b"result".to_vec(),
                    ttl_ms: Some(60_000),
                }),
            },
        })
        .collect();
    let refs: Vec<&FinishOp> = ops.iter().collect();
    let written = write_batch(&mut conn, &q, &lease_set, &refs)
        .await
        .expect("finish");
    assert!(
        written.iter().all(|w| *w == Written::Applied),
        "{written:?}"
    );
    let queued: usize = redis::cmd("ZCARD")
        .arg(&q)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(queued, 0);
    for id in &ids {
        let left: usize = redis::cmd("EXISTS")
            .arg(keys::job(id))
            .arg(format!("{}{id}", keys::RETRY_PREFIX))
            .arg(format!("{}{id}", keys::IN_PROGRESS_PREFIX))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(left, 0, "{id}: keys left");
        let result: Option<Vec<u8>> = redis::cmd("GET")
            .arg(keys::result(id))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(result.as_deref(), Some(&b"result"[..]), "{id}");
    }
    let members: usize = redis::cmd("SCARD")
        .arg(&lease_set)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(members, 0, "lease set emptied");
    // Sent again (a lost reply): the tokens are gone, nothing is written.
    let replay = write_batch(&mut conn, &q, &lease_set, &refs)
        .await
        .expect("finish again");
    assert!(replay.iter().all(|w| *w == Written::NotOurs), "{replay:?}");

    let results: Vec<String> = ids.iter().map(|id| keys::result(id)).collect();
    for chunk in results.chunks(500) {
        let _: () = redis::cmd("DEL")
            .arg(chunk)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
