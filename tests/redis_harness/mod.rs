//! Private Redis deployments for the Redis-layer tests (`tests/redis_*.rs`): a master with
//! two replicas behind three sentinels, a single restartable server, TLS material, and a
//! producer that keeps enqueueing through our client while Redis misbehaves. Everything runs
//! on free loopback ports in a temporary directory and is killed on drop, also when a test
//! fails (its Redis logs are printed then).
#![allow(dead_code, unused_imports)]

mod cluster;
mod load;
mod tls;

pub use cluster::{Cluster, ClusterOptions, MASTER};
pub use load::{produce, tally, Producer, ProducerSpec, Tally};
pub use tls::{tls_files, TlsFiles};

use std::collections::HashMap;
use std::time::Duration;

/// One `redis-server` (data node or sentinel) that can be stopped and started again on the
/// same port with the same arguments (the one implementation, in `testkit`).
pub use testkit::RedisNode as Node;
pub use testkit::{readyz, tail};

pub(crate) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A data node's arguments: loopback only, nothing saved unless `extra` says so.
pub use testkit::redis_node_args as data_node_args;

/// A plain connection (or `None` when the server does not answer in 2 s).
pub async fn connect(url: &str) -> Option<redis::aio::MultiplexedConnection> {
    testkit::connect(url, Duration::from_secs(5)).await
}

/// The log without terminal colour codes.
pub use testkit::strip_ansi;

/// Counts each job id's starts in worker logs (`… → {id}:function(…)` lines).
pub fn starts(log: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for line in log.lines() {
        if let Some((_, rest)) = line.split_once("→ ") {
            if let Some((id, _)) = rest.split_once(':') {
                *seen.entry(id.trim().to_string()).or_insert(0) += 1;
            }
        }
    }
    seen
}

/// One `redis-server` with `extra` arguments, in its own temporary directory.
pub fn single_node(extra: &[&str]) -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Node::in_dir("redis", dir.path(), extra);
    n.start();
    (n, dir)
}

/// Enqueues `function(*args)` through our client; the new job's id.
pub async fn enqueue(
    client: &lyanna_worker::client::Client,
    function: &str,
    args: Vec<lyanna_worker::Value>,
) -> String {
    let args = lyanna_worker::Args::new(args, vec![]);
    client
        .enqueue(function, args, Default::default())
        .await
        .expect("enqueue")
        .expect("new id")
}
