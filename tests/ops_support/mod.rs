//! Helpers of the operations tests (`tests/ops_*.rs`): a Redis server that can be stopped and
//! started again on the same port, the admin server's HTTP client (from `testkit`), a strict
//! parser of the Prometheus/OpenMetrics text format, and the deployment manifests.
#![allow(dead_code, unused_imports)]

pub mod manifests;
pub mod promtext;

pub use testkit::{http_get, metric_line, metric_value, poll_until, readyz, status};

use testkit::RedisNode;

/// A private `redis-server` on a fixed port, which a test stops and starts at will (the
/// shared Redis must never be stopped). Killed on drop.
pub struct PortRedis {
    pub port: u16,
    node: RedisNode,
    dir: tempfile::TempDir,
}

impl PortRedis {
    /// Picks a free port but starts nothing yet: a worker pointed at it finds no Redis.
    pub fn reserve(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = RedisNode::in_dir("redis-server", dir.path(), extra);
        PortRedis {
            port: node.port,
            node,
            dir,
        }
    }

    pub fn url(&self) -> String {
        self.node.url()
    }

    /// Starts the server and waits (10 s at most) until it accepts connections.
    pub fn start(&mut self) {
        self.node.start();
    }

    /// Kills the server (SIGKILL: an outage, not a polite shutdown).
    pub fn stop(&mut self) {
        self.node.stop();
    }
}

/// Enqueues `function(args...)` on `queue` with the CLI; returns the job id.
pub fn enqueue_cli(redis_url: &str, queue: &str, function: &str, args: &[&str]) -> String {
    let mut cmd = vec!["enqueue", function];
    cmd.extend_from_slice(args);
    cmd.extend_from_slice(&["--queue", queue, "--redis-url", redis_url]);
    let out = crate::common::cli(&cmd);
    assert!(
        out.status.success(),
        "enqueue failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
