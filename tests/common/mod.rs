//! What the root crate's integration tests share: worker processes started from the built
//! binary (stopped on drop), private `redis-server` processes on free ports, the Python arq
//! venv and its workers, the library client on the shared Redis, and (`browser`) a headless
//! Chromium driven over WebDriver. The pieces every test harness repeats (ids, ports, waiting,
//! child processes, `redis-server`, the fault proxy, log text, the HTTP client
//! `testkit::http`) live in the `testkit` crate (`testkit/`) and are re-exported here.
#![allow(dead_code, unused_imports)]

pub mod browser;
pub use testkit::proxy;
pub use testkit::{
    count_lines, count_lines_with, free_port, redis_conn, redis_url, strip_ansi, uid, unique_queue,
    wait_for_port, wait_until, Process, RedisNode,
};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn worker_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lyanna-worker"))
}

/// A `lyanna-worker` child process, its stderr in `log`; killed (SIGKILL) when dropped
/// unless stopped, its log printed when the test panics.
pub struct WorkerProcess {
    /// Derefs to the `std::process::Child` (`child.try_wait()`).
    pub child: Process,
    pub log: PathBuf,
}

impl WorkerProcess {
    /// Starts `lyanna-worker --settings Diagnostics --queue QUEUE --redis-url URL
    /// --http-addr off --poll-delay 0.05` plus `extra` (a `--poll-delay` in `extra` replaces
    /// the default one: clap refuses a flag given twice).
    pub fn start(queue: &str, extra: &[&str]) -> Self {
        Self::start_with(queue, extra, &[])
    }

    pub fn start_with(queue: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args = vec![
            "--settings",
            "Diagnostics",
            "--queue",
            queue,
            "--http-addr",
            "off",
        ];
        if !extra.contains(&"--poll-delay") {
            args.extend_from_slice(&["--poll-delay", "0.05"]);
        }
        let url = redis_url();
        args.extend_from_slice(&["--redis-url", &url]);
        args.extend_from_slice(extra);
        Self::spawn(&args, env)
    }

    /// Any command line.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(worker_bin());
        cmd.args(args).env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = Process::spawn_logged("lyanna-worker", &mut cmd);
        let log = child.log().expect("worker log").to_path_buf();
        WorkerProcess { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn signal(&self, sig: &str) {
        self.child.signal(sig);
    }

    /// SIGTERM, then wait up to `timeout` for the exit code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        self.signal("TERM");
        self.wait(timeout)
    }

    /// The exit code, when it exited within `timeout` (`None` also when killed by a signal).
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        self.child.wait(timeout).and_then(|s| s.code())
    }

    pub fn kill9(&mut self) {
        self.child.kill();
    }

    pub fn log_text(&self) -> String {
        self.child.log_text()
    }
}

/// Runs the CLI to completion.
pub fn cli(args: &[&str]) -> Output {
    Command::new(worker_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run lyanna-worker")
}

/// A private `redis-server` on a free port, stopped on drop.
pub struct RedisServer {
    pub port: u16,
    node: RedisNode,
    pub dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut node = RedisNode::in_dir("redis-server", dir.path(), extra);
        node.start();
        RedisServer {
            port: node.port,
            node,
            dir,
        }
    }

    pub fn url(&self) -> String {
        self.node.url()
    }

    pub fn stop(&mut self) {
        self.node.stop();
    }
}

/// The venv's python (created on first use from tests/python/requirements.txt).
pub fn python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("bash")
            .arg(project_root().join("tests/python/ensure-venv.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run ensure-venv.sh");
        assert!(out.status.success(), "ensure-venv.sh failed");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string())
    })
    .clone()
}

/// Runs `tests/python/{script}` with args and env; panics with its output when it fails.
pub fn run_python(script: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    stdout_or_panic(script, python_output(script, args, env))
}

/// The script's stdout; panics with its whole output when it failed.
fn stdout_or_panic(script: &str, out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{script} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub fn python_output(script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let path: &Path = &project_root().join("tests/python").join(script);
    let mut cmd = Command::new(python());
    cmd.arg(path).args(args).env("TEST_REDIS_URL", redis_url());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run python")
}

/// A Python arq worker (`arq_reference.WorkerSettings`) on `queue`, killed on drop.
pub struct PythonWorker {
    child: Process,
    pub log: PathBuf,
}

impl PythonWorker {
    pub fn start(queue: &str, env: &[(&str, &str)]) -> Self {
        spawn_python_worker("arq_reference", "benches/python", queue, env)
    }

    pub fn log_text(&self) -> String {
        self.child.log_text()
    }

    /// SIGINT (arq's graceful stop), SIGKILL when it has not exited within 10 s.
    pub fn stop(&mut self) {
        self.child.stop_with("INT", Duration::from_secs(10));
    }
}

/// A client for `queue` on the shared test Redis.
pub fn client(queue: &str, codec: lyanna_worker::codec::Codec) -> lyanna_worker::client::Client {
    let redis =
        lyanna_worker::conn::Redis::new(&lyanna_worker::conn::RedisSettings::from_url(redis_url()))
            .expect("redis settings");
    lyanna_worker::client::Client::new(redis, queue, codec)
}

/// Enqueues `n` jobs of `function(args)` with the library client; returns their ids.
pub async fn enqueue_many(
    c: &lyanna_worker::client::Client,
    n: usize,
    function: &str,
    args: Vec<lyanna_task_api::Value>,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let id = c
            .enqueue(
                function,
                lyanna_task_api::Args::new(args.clone(), vec![]),
                Default::default(),
            )
            .await
            .expect("enqueue")
            .expect("fresh id");
        ids.push(id);
    }
    ids
}

/// Waits until every id has a result; returns them in order.
pub async fn results_of(
    c: &lyanna_worker::client::Client,
    ids: &[String],
    timeout: Duration,
) -> Vec<lyanna_worker::protocol::job::JobResult> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let left = deadline.saturating_duration_since(Instant::now());
        let r = c.result(id, left).await.expect("read result");
        out.push(r.unwrap_or_else(|| panic!("no result for {id} within {timeout:?}")));
    }
    out
}

/// Deletes a test queue's sorted set and health key.
pub async fn drop_queue(conn: &mut redis::aio::MultiplexedConnection, queue: &str) {
    let _: Result<(), _> = redis::cmd("DEL")
        .arg(queue)
        .arg(format!("{queue}:health-check"))
        .query_async(conn)
        .await;
}

/// Runs `tests/python/{script}` feeding `stdin`; panics with its output when it fails.
pub fn run_python_stdin(script: &str, args: &[&str], env: &[(&str, &str)], stdin: &str) -> String {
    use std::io::Write;
    let mut cmd = Command::new(python());
    cmd.arg(project_root().join("tests/python").join(script))
        .args(args)
        .env("TEST_REDIS_URL", redis_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    stdout_or_panic(script, child.wait_with_output().expect("python output"))
}

/// Python's view of each job's result: `(id, found, success, try)`, via `interop.py results`.
pub fn python_results(queue: &str, ids: &[String], codec: &str) -> Vec<serde_json::Value> {
    let out = run_python_stdin(
        "interop.py",
        &["results", queue],
        &[("TEST_CODEC", codec)],
        &ids.join("\n"),
    );
    out.lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// A Python arq worker running `{module}.WorkerSettings` from `tests/python/` (which may build
/// on `benches/python/arq_reference.py`), killed on drop.
pub fn python_worker_with(module: &str, queue: &str, env: &[(&str, &str)]) -> PythonWorker {
    spawn_python_worker(module, "tests/python", queue, env)
}

/// `arq {module}.WorkerSettings` run from `dir` (with `benches/python` on the path), on the
/// shared Redis and `queue`, its log in a file of its own.
fn spawn_python_worker(module: &str, dir: &str, queue: &str, env: &[(&str, &str)]) -> PythonWorker {
    let arq = python().with_file_name("arq");
    let mut cmd = Command::new(arq);
    cmd.arg(format!("{module}.WorkerSettings"))
        .current_dir(project_root().join(dir))
        .env("PYTHONPATH", project_root().join("benches/python"))
        .env("BENCH_REDIS_URL", redis_url())
        .env("BENCH_QUEUE", queue)
        .env("ARQ_POLL_DELAY", "0.05");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = Process::spawn_logged("arq-python", &mut cmd);
    let log = child.log().expect("arq log").to_path_buf();
    PythonWorker { child, log }
}

/// The environment that runs a process with its clock `offset` away (libfaketime, e.g.
/// `"+5s"`); panics when libfaketime is not installed (scripts/test installs `faketime`).
pub fn faketime_env(offset: &str) -> Vec<(String, String)> {
    let lib = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("libfaketime not installed (Debian package faketime; scripts/test installs it)");
    vec![
        ("LD_PRELOAD".into(), lib.into()),
        ("FAKETIME".into(), offset.into()),
    ]
}

/// A client for `queue` on any Redis.
pub fn client_at(
    url: &str,
    queue: &str,
    codec: lyanna_worker::codec::Codec,
) -> lyanna_worker::client::Client {
    let redis = lyanna_worker::conn::Redis::new(&lyanna_worker::conn::RedisSettings::from_url(url))
        .expect("redis settings");
    lyanna_worker::client::Client::new(redis, queue, codec)
}

/// Starts `lyanna-worker --settings Diagnostics` on `queue` at `url` with `extra`, polling
/// every 50 ms and its admin server off unless `extra` names `--settings`, `--poll-delay` or
/// `--http-addr` itself (clap takes each flag once).
pub fn worker_at(url: &str, queue: &str, extra: &[&str]) -> WorkerProcess {
    worker_at_with(url, queue, extra, &[])
}

/// [`worker_at`] with extra environment variables.
pub fn worker_at_with(
    url: &str,
    queue: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> WorkerProcess {
    let mut args = vec!["--queue", queue, "--redis-url", url];
    if !extra.contains(&"--settings") {
        args.extend_from_slice(&["--settings", "Diagnostics"]);
    }
    if !extra.contains(&"--http-addr") {
        args.extend_from_slice(&["--http-addr", "off"]);
    }
    if !extra.contains(&"--poll-delay") {
        args.extend_from_slice(&["--poll-delay", "0.05"]);
    }
    args.extend_from_slice(extra);
    WorkerProcess::spawn(&args, env)
}

/// [`worker_at`] with its admin server on a free port: the worker and that port.
pub fn worker_at_with_admin(url: &str, queue: &str, extra: &[&str]) -> (WorkerProcess, u16) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let w = worker_at(
        url,
        queue,
        &[&["--http-addr", addr.as_str()], extra].concat(),
    );
    (w, port)
}

/// The cron ticks the Diagnostics set recorded on `queue` (the list `{queue}:ticks`), in
/// order; the list and the queue are deleted.
pub fn take_cron_ticks(url: &str, queue: &str) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut conn = redis_conn(url).await;
        let key = format!("{queue}:ticks");
        let t: Vec<String> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        drop_queue(&mut conn, queue).await;
        t
    })
}
