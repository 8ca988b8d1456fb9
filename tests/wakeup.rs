//! Keyspace notifications wake the worker before its poll delay runs out.

mod common;

use common::*;
use lyanna_task_api::Value;
use lyanna_worker::client::Client;
use lyanna_worker::codec::Codec;
use lyanna_worker::conn::{Redis, RedisSettings};
use std::time::Duration;

#[tokio::test]
async fn enqueue_wakes_an_idle_worker_with_notifications_on() {
    let server = RedisServer::start(&["--notify-keyspace-events", "Kz"]);
    let q = unique_queue("wake");
    let url = server.url();
    // A 30 s poll delay: only a notification can start the job within the wait below.
    let _w = worker_at(&url, &q, &["--http-addr", "off", "--poll-delay", "30"]);
    let c = Client::new(
        Redis::new(&RedisSettings::from_url(url.clone())).unwrap(),
        q.clone(),
        Codec::Pickle,
    );
    // Let the worker finish its first poll and subscribe.
    let mut conn = redis_conn(&url).await;
    let subscribed = wait_until(Duration::from_secs(10), || {
        let mut conn = conn.clone();
        async move {
            let n: i64 = redis::cmd("PUBSUB")
                .arg("NUMPAT")
                .query_async(&mut conn)
                .await
                .unwrap();
            n > 0
        }
    })
    .await;
    assert!(subscribed, "the worker never subscribed to keyspace events");
    let ids = enqueue_many(&c, 1, "echo", vec![Value::Int(7)]).await;
    let r = c.result(&ids[0], Duration::from_secs(10)).await.unwrap();
    assert!(
        r.is_some_and(|r| r.success),
        "not woken by the notification"
    );
    let _: () = redis::cmd("PING").query_async(&mut conn).await.unwrap();
}
