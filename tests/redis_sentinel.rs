//! Sentinel: the cluster harness itself, discovery with sentinel and master passwords, and
//! failover under load (SENTINEL FAILOVER, then SIGKILL of the master) through our worker
//! binary. Measured numbers are printed (run with `--no-capture` to see them).

mod common;
mod redis_harness;

use common::{uid, unique_queue, wait_until, WorkerProcess};
use lyanna_worker::client::{Client, Defer, EnqueueOptions};
use lyanna_worker::codec::Codec;
use lyanna_worker::conn::{Redis, Secret};
use lyanna_worker::Args;
use redis_harness::{
    produce, starts, strip_ansi, tally, Cluster, ClusterOptions, ProducerSpec, MASTER,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn port_closed(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

/// The harness brings up 3 data nodes and 3 sentinels that agree, and kills them all when
/// the test using them panics.
#[test]
fn harness_starts_agrees_and_tears_down_on_failure() {
    let (tx, rx) = std::sync::mpsc::channel();
    let failing = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut c = Cluster::start(ClusterOptions::default()).await;
            c.dump_logs_on_panic = false;
            let mut ports: Vec<u16> = c.nodes.iter().map(|n| n.port).collect();
            ports.extend(c.sentinels.iter().map(|s| s.port));
            let master = c.master_port().await;
            let mut roles = Vec::new();
            for n in &c.nodes {
                let mut conn = c.node_conn(n.port).await.expect("node answers");
                let role: Vec<redis::Value> =
                    redis::cmd("ROLE").query_async(&mut conn).await.unwrap();
                roles.push(redis::from_redis_value_ref::<String>(&role[0]).unwrap());
            }
            tx.send((ports, master, c.nodes[0].port, roles)).unwrap();
            panic!("deliberate failure: the harness must still clean up");
        })
    });
    assert!(
        failing.join().is_err(),
        "the test body should have panicked"
    );
    let (ports, master, first, roles) = rx.recv().unwrap();
    assert_eq!(master, Some(first));
    assert_eq!(roles, ["master", "slave", "slave"]);
    assert_eq!(ports.len(), 6);
    for p in ports {
        assert!(port_closed(p), "port {p} still open after the failed test");
    }
}

/// Our client finds the master through sentinels that need a password, with a master that
/// needs one too; a dead first sentinel is skipped; wrong passwords and an unknown master
/// name fail with the masked address and no secret in the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_with_sentinel_and_master_auth() {
    let mpw = format!("m-{}", &uid()[..10]);
    let spw = format!("s-{}", &uid()[..10]);
    let c = Cluster::start(ClusterOptions {
        master_password: Some(mpw.clone()),
        sentinel_password: Some(spw.clone()),
    })
    .await;
    let mut settings = c.settings();
    // A sentinel that is not there comes first: it is skipped.
    let dead = common::free_port();
    settings.sentinels.insert(
        0,
        lyanna_worker::conn::SentinelAddr {
            host: "127.0.0.1".into(),
            port: dead,
        },
    );
    let redis = Redis::connect(&settings).await.expect("discovery");
    assert!(redis.is_ready());
    let shown = redis.masked_url().to_string();
    assert!(
        shown.starts_with("redis+sentinel://:***@127.0.0.1:"),
        "{shown}"
    );
    assert!(!shown.contains(&mpw) && !shown.contains(&spw));

    let key = format!("test:discovery:{}", uid());
    let mut conn = redis.conn().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("via-sentinel")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut direct = c.node_conn(c.nodes[0].port).await.unwrap();
    let got: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut direct)
        .await
        .unwrap();
    assert_eq!(
        got.as_deref(),
        Some("via-sentinel"),
        "written to the master"
    );

    let mut wrong = c.settings();
    wrong.sentinel_password = Some(Secret::new("not-the-sentinel-pw"));
    let e = Redis::connect(&wrong)
        .await
        .err()
        .expect("wrong sentinel password");
    let msg = e.to_string();
    println!("wrong sentinel password: {msg}");
    assert!(msg.contains("redis+sentinel://:***@127.0.0.1:"), "{msg}");
    assert!(msg.contains("password"), "{msg}");
    assert!(!msg.contains("not-the-sentinel-pw") && !msg.contains(&mpw));

    let mut wrong = c.settings();
    wrong.password = Some(Secret::new("not-the-master-pw"));
    let e = Redis::connect(&wrong)
        .await
        .err()
        .expect("wrong master password");
    let msg = e.to_string();
    println!("wrong master password: {msg}");
    assert!(
        msg.contains("WRONGPASS") || msg.contains("uthentication"),
        "{msg}"
    );
    assert!(!msg.contains("not-the-master-pw") && !msg.contains(&spw));

    let mut unknown = c.settings();
    unknown.master_name = "nosuchmaster".into();
    let e = Redis::connect(&unknown)
        .await
        .err()
        .expect("unknown master");
    let msg = e.to_string();
    println!("unknown master: {msg}");
    assert!(msg.contains("no master named \"nosuchmaster\""), "{msg}");

    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut direct)
        .await
        .unwrap();
}

enum Disruption {
    /// `SENTINEL FAILOVER mymaster`: the old master stays up and is demoted.
    ManualFailover,
    /// SIGKILL of the master process.
    KillMaster,
}

/// 2,000 `sleep_ms(20)` jobs from two producers (plain, and acknowledging with
/// `WAIT 1 100`) through our worker binary, found through sentinels; the master changes a
/// second into the run. Every job that Redis kept gets exactly one result; jobs Redis lost
/// (acknowledged by the old master, never replicated) are counted separately.
async fn failover_under_load(how: Disruption, opts: ClusterOptions) {
    let label = match how {
        Disruption::ManualFailover => "SENTINEL FAILOVER",
        Disruption::KillMaster => "SIGKILL master",
    };
    let mut c = Cluster::start(opts.clone()).await;
    let old_master = c.nodes[0].port;
    let q = unique_queue("failover");
    let list = c.sentinel_list();
    let mut env: Vec<(&str, &str)> = Vec::new();
    if let Some(pw) = &opts.master_password {
        env.push(("REDIS_PASSWORD", pw));
    }
    if let Some(pw) = &opts.sentinel_password {
        env.push(("REDIS_SENTINEL_PASSWORD", pw));
    }
    let mut worker = WorkerProcess::spawn(
        &[
            "--settings",
            "Diagnostics",
            "--queue",
            &q,
            "--http-addr",
            "off",
            "--poll-delay",
            "0.05",
            "--sentinel",
            &list,
            "--max-jobs",
            "50",
            "--heartbeat-ttl",
            "3",
            "--redis-connect-timeout",
            "2",
            "--redis-command-timeout",
            "5",
        ],
        &env,
    );
    let settings = c.settings();
    let progress = Arc::new(AtomicUsize::new(0));
    let run = &uid()[..8];
    // Plain and WAIT 1. (WAIT 2, every replica, stalls the producer for good once a
    // replica is gone, as after the SIGKILL, so it is no option here.)
    let kinds: [(&str, Option<i64>, usize); 2] = [("p", None, 1000), ("a", Some(1), 1000)];
    let producers: Vec<_> = kinds
        .iter()
        .map(|(tag, wait, count)| {
            tokio::spawn(produce(ProducerSpec {
                settings: settings.clone(),
                queue: q.clone(),
                prefix: format!("{tag}{run}-"),
                count: *count,
                sleep_ms: 20,
                wait: *wait,
                pace: Duration::from_millis(4),
                progress: progress.clone(),
            }))
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(30), || async {
            progress.load(Ordering::Relaxed) >= 500
        })
        .await,
        "producers did not get going"
    );

    let t0 = Instant::now();
    println!(
        "failover [{label}]: disrupted with {} jobs acknowledged",
        progress.load(Ordering::Relaxed)
    );
    match how {
        Disruption::ManualFailover => {
            let ok = wait_until(Duration::from_secs(10), || async {
                c.sentinel_cmd::<String>(0, &["failover", MASTER])
                    .await
                    .is_ok()
            })
            .await;
            assert!(ok, "SENTINEL FAILOVER refused");
        }
        Disruption::KillMaster => c.node(old_master).signal("KILL"),
    }
    // A marker job at the head of the queue, enqueued through a client that follows the
    // master like the worker does: its result on the new master is "first job there".
    let marker = format!("marker-{run}");
    let marker_task = {
        let settings = settings.clone();
        let q = q.clone();
        let marker = marker.clone();
        tokio::spawn(async move {
            let client = Client::new(Redis::new(&settings).unwrap(), q, Codec::Pickle);
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let opts = EnqueueOptions {
                    job_id: Some(marker.clone()),
                    defer: Defer::Until(1),
                    expires: Some(Duration::from_secs(3600)),
                    ..EnqueueOptions::default()
                };
                if client.enqueue("noop", Args::default(), opts).await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let new_master = loop {
        if let Some(p) = c.master_port().await.filter(|p| *p != old_master) {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "sentinels never named a new master"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let t_sentinel = t0.elapsed();
    println!(
        "failover [{label}]: new master named with {} jobs acknowledged",
        progress.load(Ordering::Relaxed)
    );
    let nm = c.node_conn(new_master).await.expect("new master answers");
    let result_key = format!("arq:result:{marker}");
    let followed = wait_until(Duration::from_secs(30), || {
        let mut nm = nm.clone();
        let key = result_key.clone();
        async move {
            redis::cmd("EXISTS")
                .arg(&key)
                .query_async::<bool>(&mut nm)
                .await
                .unwrap_or(false)
        }
    })
    .await;
    let t_first_job = t0.elapsed();
    assert!(followed, "no job finished on the new master within 30 s");
    marker_task.await.unwrap();

    let mut produced = Vec::new();
    for p in producers {
        produced.push(p.await.unwrap());
    }
    let all: Vec<String> = produced.iter().flat_map(|p| p.ids.clone()).collect();
    assert_eq!(all.len(), 2000);
    // Every job still in Redis must end with a result (in-progress keys of jobs whose finish
    // went to the old master expire after the 3 s heartbeat TTL and run again).
    let mut t = redis_harness::Tally::default();
    let deadline = Instant::now() + Duration::from_secs(90);
    // Read from whichever node the sentinels name now: they may run a second failover (the
    // first new master voted away before it settled), and a connection to the node they
    // named first would then read a replica, or nothing, until the deadline.
    let mut final_master = new_master;
    let settled = loop {
        if let Some(port) = c.master_port().await {
            if let Some(mut conn) = c.node_conn(port).await {
                if let Ok(now) = tally(&mut conn, &q, &all).await {
                    final_master = port;
                    t = now;
                    if t.pending.is_empty() {
                        break true;
                    }
                }
            }
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        worker.child.try_wait().unwrap().is_none(),
        "the worker exited"
    );
    assert_eq!(worker.terminate(Duration::from_secs(30)), Some(0));
    let log = worker.log_text();
    let started = starts(&log);
    let twice = all
        .iter()
        .filter(|id| started.get(*id).copied().unwrap_or(0) > 1)
        .count();
    println!(
        "failover [{label}]: sentinels named the new master after {:.2}s; first job done on \
         the new master after {:.2}s (worker lag {:.2}s)",
        t_sentinel.as_secs_f64(),
        t_first_job.as_secs_f64(),
        (t_first_job.saturating_sub(t_sentinel)).as_secs_f64()
    );
    let mut lost = Vec::new();
    for ((tag, wait, count), p) in kinds.iter().zip(&produced) {
        let seqs: Vec<usize> = t
            .lost
            .iter()
            .filter(|id| id.starts_with(tag))
            .filter_map(|id| id.rsplit('-').next()?.parse().ok())
            .collect();
        let n = seqs.len();
        if let (Some(lo), Some(hi)) = (seqs.iter().min(), seqs.iter().max()) {
            println!("failover [{label}]: {tag} lost jobs {lo}..={hi}");
        }
        let how = match wait {
            None => "plain".to_string(),
            Some(r) => format!("WAIT {r} 100 (no ack {} times)", p.unreplicated),
        };
        lost.push(format!("{n}/{count} {how}"));
    }
    let retries: usize = produced.iter().map(|p| p.retries).sum();
    for line in log.lines().filter(|l| {
        l.contains("announced") || l.contains("connection lost") || l.contains("connected to")
    }) {
        println!("failover [{label}] worker: {}", strip_ansi(line));
    }
    println!(
        "failover [{label}]: 2000 jobs acknowledged, {} results, {} pending; lost by Redis \
         (acknowledged, not replicated): {}; enqueue errors retried {retries}; jobs run \
         twice: {twice}",
        t.results,
        t.pending.len(),
        lost.join(", "),
    );
    for (secret, what) in [
        (opts.master_password.as_deref(), "master password"),
        (opts.sentinel_password.as_deref(), "sentinel password"),
    ] {
        if let Some(s) = secret {
            assert!(!log.contains(s), "the {what} is in the worker's log");
        }
    }
    assert!(
        settled,
        "jobs never finished: {:?}",
        &t.pending[..t.pending.len().min(10)]
    );
    assert!(t.pending.is_empty());
    // Results are one key per job: a job Redis kept has exactly one.
    assert_eq!(t.results + t.lost.len(), 2000);
    let mut clean = c.node_conn(final_master).await.unwrap();
    let mut pipe = redis::pipe();
    for id in &all {
        pipe.del(format!("arq:result:{id}")).ignore();
    }
    pipe.del(format!("arq:result:{marker}")).ignore();
    let _: () = pipe.query_async(&mut clean).await.unwrap();
    drop(nm);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_under_load_sentinel_failover() {
    failover_under_load(Disruption::ManualFailover, ClusterOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_under_load_master_killed() {
    let opts = ClusterOptions {
        master_password: Some(format!("m-{}", &uid()[..10])),
        sentinel_password: Some(format!("s-{}", &uid()[..10])),
    };
    failover_under_load(Disruption::KillMaster, opts).await;
}
