//! Bad input from Redis: random payloads, payloads naming forbidden classes, odd ids. Each
//! becomes a failed result with arq's exception class; the worker carries on.

mod common;

use common::*;
use lyanna_task_api::Value;
use lyanna_worker::codec::Codec;
use lyanna_worker::protocol::{keys, now_ms};
use std::time::Duration;

#[tokio::test]
async fn thousand_garbage_payloads_become_failed_results() {
    let q = unique_queue("garbage");
    let mut conn = redis_conn(&redis_url()).await;
    let mut ids = Vec::new();
    let mut pipe = redis::pipe();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..1000 {
        let id = format!("garbage-{}-{i}", uid());
        let len = 1 + (i * 7919) % 300;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect();
        pipe.set(keys::job(&id), bytes).ignore();
        pipe.zadd(&q, &id, now_ms()).ignore();
        ids.push(id);
    }
    // A payload that is valid pickle but names a class jobs may not load (os.system).
    let evil = format!("evil-{}", uid());
    pipe.set(keys::job(&evil), b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x04true\x94\x85\x94R\x94.".to_vec()).ignore();
    pipe.zadd(&q, &evil, now_ms()).ignore();
    ids.push(evil);
    let _: () = pipe.query_async(&mut conn).await.unwrap();

    let w = WorkerProcess::start(&q, &["--max-jobs", "50"]);
    let c = client(&q, Codec::Pickle);
    let results = results_of(&c, &ids, Duration::from_secs(60)).await;
    for r in &results {
        assert!(!r.success);
        match &r.result {
            Value::Object(o) => {
                assert_eq!(o.class_path(), "arq.jobs.DeserializationError");
                assert_eq!(o.args, vec![Value::str("unable to deserialize job")]);
            }
            other => panic!("{other}"),
        }
    }
    // Still alive: a good job after the garbage succeeds.
    let good = enqueue_many(&c, 1, "echo", vec![Value::str("still here")]).await;
    let r = &results_of(&c, &good, Duration::from_secs(30)).await[0];
    assert!(r.success);
    assert!(w.log_text().contains("deserializing job failed"));
    assert!(!w.log_text().contains("panicked"));
    drop_queue(&mut conn, &q).await;
}

#[tokio::test]
async fn job_with_wrong_argument_types_fails_with_type_error() {
    let q = unique_queue("types");
    let _w = WorkerProcess::start(&q, &[]);
    let c = client(&q, Codec::Pickle);
    let ids = enqueue_many(&c, 1, "retry", vec![Value::str("many"), Value::None]).await;
    let r = &results_of(&c, &ids, Duration::from_secs(30)).await[0];
    assert!(!r.success);
    match &r.result {
        Value::Object(o) => assert_eq!(o.class_path(), "builtins.TypeError"),
        other => panic!("{other}"),
    }
}
