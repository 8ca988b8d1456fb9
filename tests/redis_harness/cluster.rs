//! A master, two replicas and three sentinels on free loopback ports.

use super::{connect, data_node_args, strings, tail, Node};
use crate::common::{free_port, wait_until};
use lyanna_worker::conn::{parse_sentinels, RedisSettings, Secret};
use std::collections::HashMap;
use std::time::Duration;

pub const MASTER: &str = "mymaster";

#[derive(Clone, Default)]
pub struct ClusterOptions {
    /// `requirepass` and `masterauth` on every data node.
    pub master_password: Option<String>,
    /// `requirepass` on the sentinels.
    pub sentinel_password: Option<String>,
}

/// A master, two replicas and three sentinels (quorum 2) watching it as `mymaster`.
pub struct Cluster {
    /// Data nodes; `nodes[0]` is the first master.
    pub nodes: Vec<Node>,
    pub sentinels: Vec<Node>,
    pub opts: ClusterOptions,
    pub dir: tempfile::TempDir,
    /// Print every node's log tail when dropped during a panic (off for deliberate ones).
    pub dump_logs_on_panic: bool,
}

impl Cluster {
    /// Starts everything and waits until every sentinel knows the master, both replicas
    /// (linked) and the other two sentinels.
    pub async fn start(opts: ClusterOptions) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut auth: Vec<String> = Vec::new();
        if let Some(pw) = &opts.master_password {
            auth.extend(strings(&["--requirepass", pw, "--masterauth", pw]));
        }
        let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
        let mport = free_port();
        let master = Node::spawn(
            "master",
            mport,
            data_node_args(mport, dir.path(), &auth),
            dir.path().join(format!("node-{mport}.log")),
        );
        let mut nodes = vec![master];
        for i in 1..=2 {
            let port = free_port();
            let mut extra = auth.clone();
            let m = mport.to_string();
            extra.extend(["--replicaof", "127.0.0.1", &m]);
            nodes.push(Node::spawn(
                &format!("replica{i}"),
                port,
                data_node_args(port, dir.path(), &extra),
                dir.path().join(format!("node-{port}.log")),
            ));
        }
        let mut cluster = Cluster {
            nodes,
            sentinels: Vec::new(),
            opts,
            dir,
            dump_logs_on_panic: true,
        };
        let linked = wait_until(Duration::from_secs(20), || async {
            let mut ok = true;
            for n in &cluster.nodes[1..] {
                let info = cluster.node_info(n.port, "replication").await;
                ok &= info.contains("master_link_status:up");
            }
            ok
        })
        .await;
        assert!(linked, "replicas did not link to the master");
        for i in 0..3 {
            let port = free_port();
            let conf = cluster.dir.path().join(format!("sentinel-{i}.conf"));
            let log = cluster.dir.path().join(format!("sentinel-{i}.log"));
            let mut text = format!(
                "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {dir}\nlogfile {log}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {mport} 2\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 5000\n\
                 sentinel parallel-syncs {MASTER} 2\n",
                dir = cluster.dir.path().display(),
                log = log.display(),
            );
            if let Some(pw) = &cluster.opts.master_password {
                text.push_str(&format!("sentinel auth-pass {MASTER} {pw}\n"));
            }
            if let Some(pw) = &cluster.opts.sentinel_password {
                text.push_str(&format!("requirepass {pw}\nsentinel sentinel-pass {pw}\n"));
            }
            std::fs::write(&conf, text).expect("sentinel config");
            cluster.sentinels.push(Node::spawn(
                &format!("sentinel{i}"),
                port,
                vec![conf.to_string_lossy().to_string(), "--sentinel".to_string()],
                log,
            ));
        }
        let agreed = cluster
            .wait_agree(Some(mport), Duration::from_secs(30))
            .await;
        assert!(agreed, "sentinels did not agree on the master");
        cluster
    }

    /// `host:port,host:port,host:port` for `--sentinel`.
    pub fn sentinel_list(&self) -> String {
        self.sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Our client's settings for this cluster (through the sentinels).
    pub fn settings(&self) -> RedisSettings {
        let mut s = RedisSettings::from_url("redis://127.0.0.1:1/0");
        s.sentinels = parse_sentinels(&self.sentinel_list()).unwrap();
        s.password = self.opts.master_password.as_deref().map(Secret::new);
        s.sentinel_password = self.opts.sentinel_password.as_deref().map(Secret::new);
        s.connect_timeout = Duration::from_secs(2);
        s.command_timeout = Duration::from_secs(5);
        s
    }

    /// A direct URL to one data node.
    pub fn node_url(&self, port: u16) -> String {
        match &self.opts.master_password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{port}"),
            None => format!("redis://127.0.0.1:{port}"),
        }
    }

    pub fn sentinel_url(&self, port: u16) -> String {
        match &self.opts.sentinel_password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{port}"),
            None => format!("redis://127.0.0.1:{port}"),
        }
    }

    pub fn node(&mut self, port: u16) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("no such node")
    }

    pub async fn node_conn(&self, port: u16) -> Option<redis::aio::MultiplexedConnection> {
        connect(&self.node_url(port)).await
    }

    async fn node_info(&self, port: u16, section: &str) -> String {
        let Some(mut c) = self.node_conn(port).await else {
            return String::new();
        };
        redis::cmd("INFO")
            .arg(section)
            .query_async(&mut c)
            .await
            .unwrap_or_default()
    }

    async fn sentinel_conn(&self, i: usize) -> Option<redis::aio::MultiplexedConnection> {
        connect(&self.sentinel_url(self.sentinels[i].port)).await
    }

    /// Runs a `SENTINEL ...` command on sentinel `i`.
    pub async fn sentinel_cmd<T: redis::FromRedisValue>(
        &self,
        i: usize,
        args: &[&str],
    ) -> redis::RedisResult<T> {
        let mut c = self
            .sentinel_conn(i)
            .await
            .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Io, "sentinel down")))?;
        redis::cmd("SENTINEL").arg(args).query_async(&mut c).await
    }

    /// The master's port as the first sentinel that answers sees it.
    pub async fn master_port(&self) -> Option<u16> {
        for i in 0..self.sentinels.len() {
            let r: redis::RedisResult<Option<(String, u16)>> = self
                .sentinel_cmd(i, &["get-master-addr-by-name", MASTER])
                .await;
            if let Ok(Some((_, port))) = r {
                return Some(port);
            }
        }
        None
    }

    /// Every sentinel names `master` (any, when `None`) and knows two linked replicas that
    /// are not down and the two other sentinels.
    pub async fn wait_agree(&self, master: Option<u16>, timeout: Duration) -> bool {
        wait_until(timeout, || async {
            let mut seen = None;
            for i in 0..self.sentinels.len() {
                let addr: redis::RedisResult<Option<(String, u16)>> = self
                    .sentinel_cmd(i, &["get-master-addr-by-name", MASTER])
                    .await;
                let Ok(Some((_, port))) = addr else {
                    return false;
                };
                if master.is_some_and(|m| m != port) || seen.is_some_and(|s| s != port) {
                    return false;
                }
                seen = Some(port);
                let replicas: Vec<HashMap<String, String>> = self
                    .sentinel_cmd(i, &["replicas", MASTER])
                    .await
                    .unwrap_or_default();
                let good = replicas
                    .iter()
                    .filter(|r| {
                        r.get("flags").is_some_and(|f| f == "slave")
                            && r.get("master-link-status").is_some_and(|s| s == "ok")
                    })
                    .count();
                let others: Vec<HashMap<String, String>> = self
                    .sentinel_cmd(i, &["sentinels", MASTER])
                    .await
                    .unwrap_or_default();
                if good < 2 || others.len() < 2 {
                    return false;
                }
            }
            true
        })
        .await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() && self.dump_logs_on_panic {
            for n in self.nodes.iter().chain(&self.sentinels) {
                eprintln!("--- {} (port {}) ---\n{}", n.name, n.port, tail(&n.log, 25));
            }
        }
        // Nodes are killed by their own Drop; the tempdir goes after them.
        self.sentinels.clear();
        self.nodes.clear();
    }
}
