//! What each command line does: run a worker, `--check`, and the client commands, with their
//! output formats and exit codes. The dashboard's commands (`jobs`, `retry`, `delete`) are in
//! `jobs.rs`.

mod jobs;

use crate::admin::{self, Probe};
use crate::client::{Client, Defer, EnqueueOptions};
use crate::config::{Cli, Command, ConfigError, HttpAddr};
use crate::conn::{Backoff, Redis};
use crate::metrics::Metrics;
use crate::protocol::job::JobResult;
use crate::worker::Worker;
use lyanna_task_api::{Args, Value};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How a command ended, as a process exit code.
pub type Exit = i32;

/// Runs the parsed command line. Configuration errors come back as `Err` (exit 64).
pub async fn run(
    cli: Cli,
    shutdown: CancellationToken,
) -> Result<anyhow::Result<Exit>, ConfigError> {
    let redis_settings = cli.common.redis()?;
    let codec = cli.common.codec()?;
    match cli.command {
        None if cli.worker.check => {
            let key = cli.worker.health_check_key(&cli.common.queue)?;
            Ok(check(&redis_settings, &key).await)
        }
        None => {
            let settings = cli.worker.settings(&cli.common)?;
            let http = cli.worker.http_addr()?;
            let ready_timeout = cli.worker.ready_timeout()?;
            let name = cli.worker.settings.clone().ok_or(ConfigError {
                flag: "--settings",
                env: "LYANNA_SETTINGS",
                problem: format!(
                    "required to run a worker (one of: {})",
                    lyanna_tasks::SETTINGS_NAMES.join(", ")
                ),
            })?;
            let tasks = lyanna_tasks::task_set(&name).map_err(|problem| ConfigError {
                flag: "--settings",
                env: "LYANNA_SETTINGS",
                problem,
            })?;
            let ui = if cli.dashboard.enabled()? {
                Some(UiSettings {
                    token: cli.dashboard.token()?,
                    hosts: cli.dashboard.allowed_hosts()?,
                })
            } else {
                None
            };
            let admin = AdminSettings {
                http,
                ready_timeout,
                ui,
            };
            Ok(run_worker(settings, tasks, redis_settings, admin, shutdown).await)
        }
        Some(cmd) => {
            let redis = Redis::new(&redis_settings).map_err(|e| ConfigError {
                flag: "--redis-url",
                env: "REDIS_URL",
                problem: e.to_string(),
            })?;
            if let Some(r) = jobs::run(&redis, &cli.common.queue, codec, &cmd).await {
                return Ok(r);
            }
            let client = Client::new(redis, cli.common.queue.clone(), codec);
            Ok(client_command(&client, cmd).await)
        }
    }
}

/// Where the admin server listens, how long its readiness PING may take, and whether it
/// serves the dashboard.
struct AdminSettings {
    http: HttpAddr,
    ready_timeout: Duration,
    ui: Option<UiSettings>,
}

/// The dashboard's admin token, if any, and the Host names it answers to.
struct UiSettings {
    token: Option<crate::conn::Secret>,
    hosts: crate::ui::hosts::AllowedHosts,
}

async fn run_worker(
    settings: crate::worker::WorkerSettings,
    tasks: lyanna_task_api::TaskSet,
    redis_settings: crate::conn::RedisSettings,
    admin: AdminSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<Exit> {
    let metrics = Arc::new(Metrics::new());
    metrics.slots.set(settings.max_jobs as i64);
    let probe = Probe::new();
    // The admin server comes up before Redis so probes answer (not ready) during start-up.
    let redis = Redis::new(&redis_settings)?;
    let admin_stop = CancellationToken::new();
    if let HttpAddr::At(addr) = admin.http {
        let ui = admin.ui.map(|ui| {
            crate::ui::Ui::new(
                crate::dashboard::Dashboard::new(
                    redis.clone(),
                    settings.queue_name.clone(),
                    settings.codec,
                ),
                crate::ui::auth::Auth::new(ui.token),
                crate::dashboard::CronView::new(&tasks.cron_jobs, settings.timezone),
                ui.hosts,
            )
        });
        admin::serve(
            addr,
            probe.clone(),
            redis.clone(),
            metrics.clone(),
            &settings.queue_name,
            ui,
            admin_stop.clone(),
        )
        .await?;
    }
    if let Some(check) = tasks.ready_check.clone() {
        tokio::spawn(admin::watch_dependencies(
            probe.clone(),
            check,
            admin_stop.clone(),
        ));
    }
    {
        let redis = redis.clone();
        let stop = admin_stop.clone();
        tokio::spawn(async move { redis.watch_readiness(admin.ready_timeout, stop).await });
    }
    let stop_probe = probe.clone();
    let watch = shutdown.clone();
    tokio::spawn(async move {
        watch.cancelled().await;
        stop_probe.set_stopping();
    });
    if !wait_for_redis(&redis, &probe, &shutdown).await? {
        admin_stop.cancel();
        return Ok(0);
    }
    let worker = Worker::new(settings, tasks, redis, metrics, probe.clone());
    let r = worker.run(shutdown).await;
    admin_stop.cancel();
    match r {
        Err(e) => match e.downcast_ref::<crate::worker::IdentityError>() {
            // Two live processes may never share a worker id: a configuration error.
            Some(crate::worker::IdentityError::InUse(_)) => {
                eprintln!("lyanna-worker: {e}");
                Ok(64)
            }
            _ => Err(e),
        },
        Ok(()) => Ok(0),
    }
}

/// Rejected credentials: retrying cannot help, so start-up fails instead.
fn is_auth_error(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
}

/// Start-up: PINGs Redis until it answers, with backoff, so a worker scheduled before Redis
/// (or during an outage) waits, not ready, instead of crash-looping. Rejected credentials end
/// start-up with an error; `Ok(false)` means shutdown came first.
async fn wait_for_redis(
    redis: &Redis,
    probe: &Probe,
    shutdown: &CancellationToken,
) -> anyhow::Result<bool> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        // Waiting for Redis is the loop being alive, not stuck: keep /livez green.
        probe.turned();
        let ping = async {
            let mut conn = redis.conn().await?;
            let r = redis::cmd("PING").query_async::<String>(&mut conn).await;
            // Connected but the command failed: drop that connection so the next try redials.
            r.inspect_err(|e| redis.report(e))?;
            // The worker's claim and finish are scripts (EVALSHA, SCRIPT LOAD when not
            // cached): an ACL without them fails here, at start-up, not at the first job.
            redis::Script::new("return 1")
                .invoke_async::<_, i64>(&mut conn)
                .await
                .inspect_err(|e| redis.report(e))
        };
        let err = tokio::select! {
            _ = shutdown.cancelled() => return Ok(false),
            r = ping => match r {
                Ok(_) => return Ok(true),
                Err(e) => e,
            },
        };
        // Also an untrusted TLS certificate or an unknown sentinel master name.
        if is_auth_error(&err) || crate::conn::is_permanent(&err) {
            anyhow::bail!(crate::conn::ConnectError::new(redis.masked_url(), err));
        }
        let delay = backoff.next_delay();
        tracing::warn!(
            url = %redis.masked_url(),
            error = %err,
            retry_in = ?delay,
            "Redis not reachable at start-up; not ready, retrying"
        );
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(false),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// arq's `--check`: 0 when the health key (`{queue}:health-check` or `--health-check-key`)
/// exists, 1 otherwise.
async fn check(settings: &crate::conn::RedisSettings, health_key: &str) -> anyhow::Result<Exit> {
    let redis = Redis::connect(settings).await?;
    let mut conn = redis.conn().await?;
    let value: Option<String> = redis::cmd("GET")
        .arg(health_key)
        .query_async(&mut conn)
        .await?;
    Ok(match value {
        Some(v) => {
            println!("Health check successful: {v}");
            0
        }
        None => {
            println!("Health check failed: no health check sentinel value found");
            1
        }
    })
}

/// A CLI argument: JSON when it parses, else the string itself.
pub fn parse_arg(s: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v) => crate::codec::json::from_json(v),
        Err(_) => Value::Str(s.to_string()),
    }
}

/// A value as JSON for display: tuples and sets as arrays, bytes and datetimes as strings,
/// exceptions as `{"type": "module.Name", "args": [...]}`.
pub fn to_json(v: &Value) -> serde_json::Value {
    match v.resolve() {
        Value::None => serde_json::Value::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::BigInt(b) => json!(b.to_string()),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(json!(f.to_string()), serde_json::Value::Number)
        }
        Value::Str(s) => json!(s),
        Value::List(xs) | Value::Tuple(xs) | Value::Set(xs) | Value::FrozenSet(xs) => {
            serde_json::Value::Array(xs.iter().map(to_json).collect())
        }
        Value::Dict(kv) if kv.iter().all(|(k, _)| k.as_str().is_some()) => {
            serde_json::Value::Object(
                kv.iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), to_json(v)))
                    .collect(),
            )
        }
        Value::Dict(kv) => serde_json::Value::Array(
            kv.iter()
                .map(|(k, v)| json!([to_json(k), to_json(v)]))
                .collect(),
        ),
        Value::Object(o) => {
            json!({"type": o.class_path(), "args": o.args.iter().map(to_json).collect::<Vec<_>>()})
        }
        other => json!(other.to_string()),
    }
}

fn result_json(r: &JobResult) -> serde_json::Value {
    json!({
        "job_id": r.job_id,
        "function": r.function,
        "success": r.success,
        "result": to_json(&r.result),
        "tries": r.job_try,
        "enqueue_time_ms": r.enqueue_time_ms,
        "start_time_ms": r.start_ms,
        "finish_time_ms": r.finish_ms,
        "queue": r.queue_name,
    })
}

fn parse_time(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn secs(v: f64) -> Duration {
    Duration::try_from_secs_f64(v.max(0.0)).unwrap_or(Duration::ZERO)
}

async fn client_command(client: &Client, cmd: Command) -> anyhow::Result<Exit> {
    match cmd {
        Command::Enqueue {
            function,
            args,
            kwargs,
            job_id,
            defer_by,
            defer_until,
            expires,
        } => {
            let mut kw = Vec::new();
            for item in &kwargs {
                let (k, v) = item
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("--kwarg {item:?} is not K=V"))?;
                kw.push((k.to_string(), parse_arg(v)));
            }
            let defer = match (defer_by, defer_until) {
                (Some(s), _) => Defer::By(secs(s)),
                (None, Some(t)) => Defer::Until(parse_time(&t).ok_or_else(|| {
                    anyhow::anyhow!("--defer-until {t:?} is not RFC 3339 or Unix seconds")
                })?),
                (None, None) => Defer::Now,
            };
            let opts = EnqueueOptions {
                job_id: job_id.clone(),
                defer,
                expires: expires.map(secs),
                ..Default::default()
            };
            let args = Args::new(args.iter().map(|a| parse_arg(a)).collect(), kw);
            match client.enqueue(&function, args, opts).await? {
                Some(id) => {
                    println!("{id}");
                    Ok(0)
                }
                None => {
                    eprintln!("job {} already exists (queued, running or with a stored result); not enqueued", job_id.unwrap_or_default());
                    Ok(1)
                }
            }
        }
        Command::Status { id } => {
            println!("{}", client.status(&id).await?.as_str());
            Ok(0)
        }
        Command::Result { id, wait } => match client.result(&id, secs(wait)).await? {
            Some(r) => {
                println!("{}", serde_json::to_string_pretty(&result_json(&r))?);
                Ok(if r.success { 0 } else { 1 })
            }
            None => {
                eprintln!(
                    "no result for job {id} ({})",
                    client.status(&id).await?.as_str()
                );
                Ok(2)
            }
        },
        Command::Abort { id, wait } => {
            if client.abort(&id, secs(wait)).await? {
                println!("aborted");
                Ok(0)
            } else {
                println!("not aborted ({})", client.status(&id).await?.as_str());
                Ok(1)
            }
        }
        Command::Queue { json } => {
            let s = client.summary().await?;
            if json {
                println!(
                    "{}",
                    json!({"queue": client.queue(), "queued": s.queued, "deferred": s.deferred, "in_progress": s.in_progress, "results": s.results})
                );
            } else {
                println!("queue:       {}", client.queue());
                println!("queued:      {}", s.queued);
                println!("deferred:    {}", s.deferred);
                println!("in progress: {}", s.in_progress);
                println!("results:     {}", s.results);
            }
            Ok(0)
        }
        Command::Jobs { .. } | Command::Retry { .. } | Command::Delete { .. } => {
            // Run by jobs::run before a client is made.
            anyhow::bail!("internal: a dashboard command reached the client commands")
        }
    }
}
