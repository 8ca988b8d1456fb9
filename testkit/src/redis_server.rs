//! Private `redis-server` processes on loopback ports (the shared Redis is never stopped):
//! each can be stopped, signalled and started again on the same port with the same arguments.

use crate::process::Process;
use crate::text::tail;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One `redis-server` (data node or sentinel); killed on drop.
pub struct RedisNode {
    pub port: u16,
    pub name: String,
    args: Vec<String>,
    process: Option<Process>,
    /// Where the server logs (its `--logfile`), for failure messages.
    pub log: PathBuf,
}

impl RedisNode {
    /// A server that `start` will run as `redis-server ARGS`; nothing runs yet (a client
    /// pointed at `port` finds no Redis).
    pub fn new(name: &str, port: u16, args: Vec<String>, log: PathBuf) -> RedisNode {
        RedisNode {
            port,
            name: name.to_string(),
            args,
            process: None,
            log,
        }
    }

    /// Starts `redis-server ARGS` and waits until its port accepts connections.
    pub fn spawn(name: &str, port: u16, args: Vec<String>, log: PathBuf) -> RedisNode {
        let mut n = Self::new(name, port, args, log);
        n.start();
        n
    }

    /// A data node on a free port: [`redis_node_args`] in `dir`, not started.
    pub fn in_dir(name: &str, dir: &Path, extra: &[&str]) -> RedisNode {
        let port = crate::free_port();
        let log = dir.join(format!("node-{port}.log"));
        Self::new(name, port, redis_node_args(port, dir, extra), log)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server and waits (10 s at most) until it accepts connections; panics with
    /// its log when it exits instead.
    pub fn start(&mut self) {
        assert!(self.process.is_none(), "{} is already running", self.name);
        let mut cmd = Command::new("redis-server");
        cmd.args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let process = self
            .process
            .insert(Process::spawn("redis-server", &mut cmd));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = process.try_wait() {
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

    /// Sends `sig` (TERM, KILL, STOP...) and, unless it is STOP or CONT, waits for the exit
    /// (15 s, then SIGKILL).
    pub fn signal(&mut self, sig: &str) {
        let Some(process) = self.process.as_mut() else {
            return;
        };
        if sig == "STOP" || sig == "CONT" {
            process.signal(sig);
            return;
        }
        process.stop_with(sig, Duration::from_secs(15));
        self.process = None;
    }

    /// Kills the server (SIGKILL: an outage, not a polite shutdown).
    pub fn stop(&mut self) {
        self.process = None;
    }

    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Process::pid)
    }
}

/// A data node's arguments: loopback only, nothing saved unless `extra` says so, its files
/// in `dir/node-{port}` and its log in `dir/node-{port}.log`.
pub fn redis_node_args(port: u16, dir: &Path, extra: &[&str]) -> Vec<String> {
    let node_dir = dir.join(format!("node-{port}"));
    std::fs::create_dir_all(&node_dir).expect("node dir");
    let port = port.to_string();
    let node_dir = node_dir.to_string_lossy().to_string();
    let log = dir
        .join(format!("node-{port}.log"))
        .to_string_lossy()
        .to_string();
    [
        "--port",
        &port,
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
        &node_dir,
        "--logfile",
        &log,
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}
