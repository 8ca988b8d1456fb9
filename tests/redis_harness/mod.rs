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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `redis-server` (data node or sentinel) that can be stopped and started again on the
/// same port with the same arguments.
pub struct Node {
    pub port: u16,
    pub name: String,
    args: Vec<String>,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Node {
    /// Starts `redis-server ARGS` and waits until its port accepts connections.
    pub fn spawn(name: &str, port: u16, args: Vec<String>, log: PathBuf) -> Node {
        let mut n = Node {
            port,
            name: name.to_string(),
            args,
            child: None,
            log,
        };
        n.start();
        n
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "{} exited at start ({status}):\n{}",
                    self.name,
                    tail(&self.log, 30)
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not start on {}",
                self.name,
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` (TERM, KILL, STOP...) and, unless it is STOP, waits for the exit.
    pub fn signal(&mut self, sig: &str) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status();
        if sig == "STOP" || sig == "CONT" {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = None;
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub(crate) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A data node's arguments: loopback only, nothing saved unless `extra` says so.
pub fn data_node_args(port: u16, dir: &Path, extra: &[&str]) -> Vec<String> {
    let node_dir = dir.join(format!("node-{port}"));
    std::fs::create_dir_all(&node_dir).expect("node dir");
    let mut args = strings(&[
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--protected-mode",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--repl-diskless-sync-delay",
        "0",
        "--dir",
        &node_dir.to_string_lossy(),
        "--logfile",
        &dir.join(format!("node-{port}.log")).to_string_lossy(),
    ]);
    args.extend(strings(extra));
    args
}

/// A plain connection (or `None` when the server does not answer in 2 s).
pub async fn connect(url: &str) -> Option<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url).ok()?;
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
        .ok()
}

/// `GET /readyz` on the admin server: the status code, or `None` when nothing answers.
pub fn readyz(port: u16) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// The log without terminal colour codes (one implementation, in the shared harness).
pub use crate::common::strip_ansi;

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
    let port = crate::common::free_port();
    let log = dir.path().join(format!("node-{port}.log"));
    let n = Node::spawn("redis", port, data_node_args(port, dir.path(), extra), log);
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
