//! The admin HTTP server, apart from the work: `/livez` (the worker's loop is turning),
//! `/readyz` (Redis and the task set's dependencies answer, and we are not shutting down) and
//! `/metrics` (Prometheus text; the queue's size and the age of its oldest due job are read
//! from Redis on each scrape). Kubernetes probes these (see `k8s/lyanna-arq.yaml`): keep the
//! paths and the default port (`--http-addr 0.0.0.0:8080`) in step with the manifests;
//! `tests/ops_manifests.rs` checks them against each other. The dashboard (`crate::ui`, under
//! `/ui`) is served here too unless `--ui off`.

use crate::conn::Redis;
use crate::metrics::Metrics;
use crate::protocol::keys::IN_PROGRESS_PREFIX;
use crate::protocol::now_ms;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use lyanna_task_api::Hook;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The probe paths Kubernetes is pointed at.
pub const LIVEZ: &str = "/livez";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";

/// How long a scrape waits for the queue's size (and its oldest due job) before serving the
/// last values known.
const QUEUE_DEPTH_TIMEOUT: Duration = Duration::from_secs(1);

/// How many due jobs a scrape looks at, oldest first, for one that is not running: one
/// ZRANGEBYSCORE and one pipeline of EXISTS, whatever the queue's size. With more running jobs
/// than this at the head of the queue the gauge reads 0 (the fleet is busy, not stuck).
const OLDEST_DUE_SCAN: isize = 100;

/// How long the worker loop may go without turning before `/livez` fails. One turn is at most
/// a poll delay, a backoff (10 s cap) and a Redis timeout, well inside this.
pub const STUCK_AFTER: Duration = Duration::from_secs(60);

/// What the worker reports about itself for the probes.
#[derive(Default)]
pub struct Probe {
    last_turn_ms: AtomicI64,
    started: AtomicBool,
    stopping: AtomicBool,
    deps_ok: AtomicBool,
}

impl Probe {
    pub fn new() -> Arc<Self> {
        let p = Probe::default();
        p.last_turn_ms.store(now_ms(), Ordering::Relaxed);
        p.deps_ok.store(true, Ordering::Relaxed);
        Arc::new(p)
    }
    /// The worker loop went round once.
    pub fn turned(&self) {
        self.last_turn_ms.store(now_ms(), Ordering::Relaxed);
    }
    pub fn set_started(&self) {
        self.started.store(true, Ordering::Relaxed);
    }
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
    pub fn alive(&self) -> bool {
        now_ms() - self.last_turn_ms.load(Ordering::Relaxed) < STUCK_AFTER.as_millis() as i64
    }
    pub fn ready(&self, redis: &Redis) -> bool {
        self.started.load(Ordering::Relaxed)
            && !self.is_stopping()
            && redis.is_ready()
            && self.deps_ok.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct AdminState {
    probe: Arc<Probe>,
    redis: Redis,
    metrics: Arc<Metrics>,
    queue: Arc<str>,
}

async fn livez(State(s): State<AdminState>) -> impl IntoResponse {
    if s.probe.alive() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "worker loop stuck\n")
    }
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    if s.probe.ready(&s.redis) {
        (StatusCode::OK, "ready\n")
    } else if s.probe.is_stopping() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Refreshes `queue_depth` on each scrape (the worker itself only counts at health-check
/// time). Skipped while Redis is down: readiness already says so, and a scrape must not wait
/// out a connect timeout.
async fn refresh_queue_depth(s: &AdminState) {
    if !s.redis.is_ready() {
        return;
    }
    let count = async {
        let mut conn = s.redis.conn().await?;
        redis::cmd("ZCARD")
            .arg(&*s.queue)
            .query_async::<i64>(&mut conn)
            .await
    };
    if let Ok(Ok(n)) = tokio::time::timeout(QUEUE_DEPTH_TIMEOUT, count).await {
        s.metrics.queue_depth.set(n);
    }
}

/// Refreshes `oldest_due_job_age_seconds`: the due jobs (score at most now), oldest first,
/// without an in-progress key. Running jobs stay in the queue set until they finish, so they
/// are skipped; a job whose in-progress key appears between the two reads was just claimed and
/// is skipped too (a due job claimed between them is missed for one scrape, no harm). Scores
/// are the producers' clocks (enqueue or defer time, ms), so skew shows up here as it does in
/// `job_queue_wait_seconds`.
async fn refresh_oldest_due(s: &AdminState) {
    if !s.redis.is_ready() {
        return;
    }
    let now = now_ms();
    let age = async {
        let mut conn = s.redis.conn().await?;
        let due: Vec<(Vec<u8>, f64)> = redis::cmd("ZRANGEBYSCORE")
            .arg(&*s.queue)
            .arg("-inf")
            .arg(now)
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            .arg(OLDEST_DUE_SCAN)
            .query_async(&mut conn)
            .await?;
        if due.is_empty() {
            return Ok(0.0);
        }
        let mut pipe = redis::pipe();
        for (id, _) in &due {
            let mut key = IN_PROGRESS_PREFIX.as_bytes().to_vec();
            key.extend_from_slice(id);
            pipe.exists(key);
        }
        let running: Vec<bool> = pipe.query_async(&mut conn).await?;
        let oldest = due
            .iter()
            .zip(running)
            .find(|(_, running)| !running)
            .map(|((_, score), _)| *score);
        Ok::<f64, redis::RedisError>(
            oldest.map_or(0.0, |score| ((now as f64 - score) / 1000.0).max(0.0)),
        )
    };
    if let Ok(Ok(seconds)) = tokio::time::timeout(QUEUE_DEPTH_TIMEOUT, age).await {
        s.metrics.oldest_due_age.set(seconds);
    }
}

async fn metrics_text(State(s): State<AdminState>) -> impl IntoResponse {
    refresh_queue_depth(&s).await;
    refresh_oldest_due(&s).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

/// Checks the task set's dependencies every few seconds for `/readyz`.
pub async fn watch_dependencies(probe: Arc<Probe>, check: Hook, shutdown: CancellationToken) {
    loop {
        let ok = match tokio::time::timeout(Duration::from_secs(5), check()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "task set dependency not ready");
                false
            }
            Err(_) => false,
        };
        probe.deps_ok.store(ok, Ordering::Relaxed);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

/// Binds the admin server (port 0 allowed) and serves it until `shutdown`; returns the bound
/// address. `queue` is the queue whose size `/metrics` reports; `ui` the dashboard, if on.
pub async fn serve(
    addr: std::net::SocketAddr,
    probe: Arc<Probe>,
    redis: Redis,
    metrics: Arc<Metrics>,
    queue: &str,
    ui: Option<crate::ui::Ui>,
    shutdown: CancellationToken,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let mut app = Router::new()
        .route(LIVEZ, get(livez))
        .route(READYZ, get(readyz))
        .route(METRICS, get(metrics_text))
        .with_state(AdminState {
            probe,
            redis,
            metrics,
            queue: queue.into(),
        });
    if let Some(ui) = ui {
        app = app.merge(crate::ui::router(ui));
    }
    tokio::spawn(async move {
        // Peer addresses for the dashboard's wrong-token limit (per client).
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "admin server failed");
        }
    });
    tracing::info!(addr = %bound, "admin server listening");
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn livez_fails_once_the_loop_stops_turning() {
        let p = Probe::new();
        assert!(p.alive());
        let stuck_since = now_ms() - STUCK_AFTER.as_millis() as i64 - 1;
        p.last_turn_ms.store(stuck_since, Ordering::Relaxed);
        assert!(!p.alive());
        p.turned();
        assert!(p.alive());
    }
}
