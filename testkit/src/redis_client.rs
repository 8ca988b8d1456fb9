//! Connections to a test Redis.

use redis::aio::MultiplexedConnection;
use std::time::Duration;

/// A connection to `url`; panics when the server does not answer.
pub async fn redis_conn(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).expect("redis url");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to test Redis")
}

/// A connection that gives up after 2 s, its commands after `response_timeout` (`None`: the
/// server may be down or silent).
pub async fn connect(url: &str, response_timeout: Duration) -> Option<MultiplexedConnection> {
    let client = redis::Client::open(url).ok()?;
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(response_timeout));
    client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
        .ok()
}
