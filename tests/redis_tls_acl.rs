//! TLS with our own CA, and an ACL user limited to the worker's commands whose password is
//! rotated at runtime. Each test starts its own `redis-server` on a free port.

mod common;
mod redis_harness;

use common::{cli, free_port, uid, unique_queue, wait_until, worker_at_with_admin};
use lyanna_worker::client::Client;
use lyanna_worker::codec::Codec;
use lyanna_worker::conn::{Redis, RedisSettings};
use lyanna_worker::Value;
use redis_harness::{connect, enqueue, readyz, single_node, strip_ansi, tally, tls_files, Node};
use std::time::{Duration, Instant};

/// `rediss://` with `--redis-ca-file`: the worker binary runs jobs over TLS; a server
/// certificate from another CA (or the built-in roots) is refused with a clear error, and a
/// file that is no CA is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_ca_file() {
    let tls = tls_files();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let s = |p: &std::path::Path| p.to_string_lossy().to_string();
    let args: Vec<String> = [
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        &s(dir.path()),
        "--tls-cert-file",
        &s(&tls.cert),
        "--tls-key-file",
        &s(&tls.key),
        "--tls-ca-cert-file",
        &s(&tls.ca),
        "--tls-auth-clients",
        "no",
        "--logfile",
        &s(&dir.path().join("tls.log")),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let _server = Node::spawn("tls", port, args, dir.path().join("tls.log"));
    let ca = s(&tls.ca);
    let other = s(&tls.other_ca);

    for host in ["127.0.0.1", "localhost"] {
        let mut settings = RedisSettings::from_url(format!("rediss://{host}:{port}/3"));
        settings.ca_file = Some(tls.ca.clone());
        let redis = Redis::connect(&settings).await.expect("TLS connect");
        let mut c = redis.conn().await.unwrap();
        let key = format!("tls:{}", uid());
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg("over-tls")
            .query_async(&mut c)
            .await
            .unwrap();
        let db: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(db.contains(" db=3 "), "database from the URL: {db}");
    }

    // The binary, end to end: enqueue, a burst worker, the result.
    let url = format!("rediss://127.0.0.1:{port}");
    let q = unique_queue("tls");
    let common = [
        "--redis-url",
        url.as_str(),
        "--redis-ca-file",
        ca.as_str(),
        "--queue",
        q.as_str(),
    ];
    let out = cli(&[&common[..], &["enqueue", "echo", "42"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let run = cli(&[
        &common[..],
        &["--settings", "Diagnostics", "--http-addr", "off", "--burst"],
    ]
    .concat());
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let res = cli(&[&common[..], &["result", &id]].concat());
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );

    // Another CA, then no CA file (web roots): refused, saying why and what to check.
    for ca_args in [vec!["--redis-ca-file", other.as_str()], vec![]] {
        let mut args = vec!["--redis-url", url.as_str(), "--queue", q.as_str()];
        args.extend(ca_args);
        args.extend([
            "--settings",
            "Diagnostics",
            "--http-addr",
            "off",
            "--redis-connect-timeout",
            "3",
        ]);
        let out = cli(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        println!(
            "untrusted certificate: exit {:?}: {}",
            out.status.code(),
            err.trim()
        );
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("cannot connect to Redis at {url}")),
            "{err}"
        );
        assert!(err.contains("certificate"), "{err}");
        assert!(err.contains("--redis-ca-file"), "{err}");
    }
    let out = cli(&[
        "--redis-url",
        &url,
        "--redis-ca-file",
        &s(&tls.key),
        "--check",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("--redis-ca-file") && err.contains("REDIS_CA_FILE"),
        "{err}"
    );
}

/// ACL LOG entries other than failed logins: `reason object` (a command or key refused).
async fn acl_denials(admin: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let log: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("ACL")
        .arg("LOG")
        .query_async(admin)
        .await
        .unwrap();
    let text = |e: &std::collections::HashMap<String, redis::Value>, k: &str| {
        e.get(k)
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
            .unwrap_or_default()
    };
    log.iter()
        .filter(|e| text(e, "reason") != "auth")
        .map(|e| format!("{} {}", text(e, "reason"), text(e, "object")))
        .collect()
}

/// What the worker needs, as an ACL: its scripts, the finish transaction, health, heartbeat
/// and abort commands, and the connection's own (PING, ROLE behind Sentinel, SELECT for a
/// database other than 0). Keys: arq's and the queue's. (Redis 7.2+ also has CLIENT SETINFO,
/// which the client sends at connect and whose refusal it ignores: `+client|setinfo` there.)
/// The wake-up on keyspace notifications adds `+config|get +psubscribe` and the channel
/// pattern `&__keyspace@*__:<queue>` (without them the worker only polls).
pub const WORKER_ACL: &str = "-@all +evalsha +script|load +multi +exec +get +mget +set +psetex \
     +setex +del +exists +incr +expire +pexpire +zadd +zrem +zincrby +zrange +zrangebyscore \
     +zcard +zscore +sadd +srem +smembers +pttl +type +ping +role +select +config|get +psubscribe";

/// An ACL user with only the worker's commands runs jobs (no ACL denial logged); a wrong
/// password at start-up exits non-zero naming the masked URL; a password rotated at runtime
/// is retried with backoff and logged, and the worker recovers when it is put back (a job
/// that ran through it keeps its result).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_user_and_password_rotation() {
    let (_node, _dir) = single_node(&[]);
    let port = _node.port;
    let admin_url = format!("redis://127.0.0.1:{port}");
    let mut admin = connect(&admin_url).await.unwrap();
    let pw = format!("pw-{}", &uid()[..12]);
    let q = unique_queue("acl");
    let channel = format!("&{}", lyanna_worker::worker::wakeup::pattern(&q));
    let acl = |extra: &str| -> Vec<String> {
        let mut v = vec![
            "SETUSER".to_string(),
            "worker".into(),
            "reset".into(),
            "on".into(),
        ];
        v.push(extra.to_string());
        v.extend(["~arq:*", "~test:*", "resetchannels"].map(String::from));
        v.push(channel.clone());
        v.extend(WORKER_ACL.split_whitespace().map(String::from));
        v
    };
    let _: () = redis::cmd("ACL")
        .arg(acl(&format!(">{pw}")))
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg("LOG")
        .arg("RESET")
        .query_async(&mut admin)
        .await
        .unwrap();

    let url = format!("redis://worker:{pw}@127.0.0.1:{port}/2");
    let masked = format!("redis://worker:***@127.0.0.1:{port}/2");
    let (mut worker, http) = worker_at_with_admin(
        &url,
        &q,
        &[
            "--poll-delay",
            "0.05",
            "--allow-abort-jobs",
            "--heartbeat-ttl",
            "3",
            "--health-check-interval",
            "1",
        ],
    );
    let admin2 = connect(&format!("redis://127.0.0.1:{port}/2"))
        .await
        .unwrap();
    let client = Client::new(
        Redis::new(&RedisSettings::from_url(format!(
            "redis://127.0.0.1:{port}/2"
        )))
        .unwrap(),
        q.clone(),
        Codec::Pickle,
    );
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(enqueue(&client, "echo", vec![Value::Int(i)]).await);
    }
    ids.push(enqueue(&client, "sleep_ms", vec![Value::Int(1500)]).await);
    ids.push(enqueue(&client, "fail", vec![Value::str("boom")]).await);
    let all_done = |ids: Vec<String>| {
        let mut admin2 = admin2.clone();
        async move {
            let t = tally(&mut admin2, "unused", &ids).await;
            t.is_ok_and(|t| t.results == ids.len())
        }
    };
    assert!(
        wait_until(Duration::from_secs(20), || all_done(ids.clone())).await,
        "jobs did not finish under the ACL user:\n{}",
        worker.log_text()
    );
    let denied = acl_denials(&mut admin).await;
    assert!(denied.is_empty(), "ACL denials: {denied:?}");

    // A wrong password at start-up: a clear error naming the masked URL, non-zero exit.
    let bad_url = format!("redis://worker:not-{pw}@127.0.0.1:{port}/2");
    let out = cli(&[
        "--redis-url",
        &bad_url,
        "--queue",
        &q,
        "--settings",
        "Diagnostics",
        "--http-addr",
        "off",
    ]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    println!(
        "wrong password at start-up: exit {:?}: {}",
        out.status.code(),
        err.trim()
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot connect to Redis at {masked}")),
        "{err}"
    );
    assert!(
        err.contains("uthentication failed") && err.contains("password"),
        "{err}"
    );
    assert!(!err.contains(&pw), "password in the error: {err}");

    // Rotate the password and drop the worker's connections: it retries with backoff and
    // says so; a job running meanwhile keeps its result once the password is back.
    let long = enqueue(&client, "sleep_ms", vec![Value::Int(2500)]).await;
    assert!(
        wait_until(Duration::from_secs(10), || {
            let mut admin2 = admin2.clone();
            let key = format!("arq:in-progress:{long}");
            async move {
                redis::cmd("EXISTS")
                    .arg(key)
                    .query_async::<bool>(&mut admin2)
                    .await
                    .unwrap_or(false)
            }
        })
        .await,
        "long job did not start"
    );
    let rotated = format!("rotated-{}", &uid()[..12]);
    let _: () = redis::cmd("ACL")
        .arg(acl(&format!(">{rotated}")))
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("USER")
        .arg("worker")
        .query_async(&mut admin)
        .await
        .unwrap();
    let rotated_at = Instant::now();
    let during = enqueue(&client, "echo", vec![Value::str("during rotation")]).await;
    let unready = wait_until(Duration::from_secs(10), || async {
        readyz(http) == Some(503)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let refusals = worker
        .log_text()
        .matches("Redis refused our credentials")
        .count();
    let _: () = redis::cmd("ACL")
        .arg(acl(&format!(">{pw}")))
        .query_async(&mut admin)
        .await
        .unwrap();
    let restored_at = Instant::now();
    let recovered = wait_until(Duration::from_secs(20), || {
        all_done(vec![long.clone(), during.clone()])
    })
    .await;
    let recovered_after = restored_at.elapsed();
    let log = strip_ansi(&worker.log_text());
    let delays: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Redis refused our credentials"))
        .filter_map(|l| l.split("retry_in=").nth(1)?.split_whitespace().next())
        .collect();
    println!(
        "password rotation: {refusals} refused attempts in {:.1}s (retry delays {delays:?}); \
         jobs done {:.2}s after the password was restored",
        restored_at.duration_since(rotated_at).as_secs_f64(),
        recovered_after.as_secs_f64()
    );
    assert!(unready, "/readyz stayed 200 with the credentials refused");
    assert!(refusals >= 3, "refusals not retried/logged:\n{log}");
    assert!(recovered, "worker did not recover:\n{log}");
    assert_eq!(readyz(http), Some(200));
    assert!(log.contains("reconnected to Redis"), "{log}");
    assert!(
        !log.contains(&pw) && !log.contains(&rotated),
        "a password is in the log"
    );
    let denied = acl_denials(&mut admin).await;
    assert!(denied.is_empty(), "ACL denials: {denied:?}");
    assert_eq!(worker.terminate(Duration::from_secs(20)), Some(0));
}
