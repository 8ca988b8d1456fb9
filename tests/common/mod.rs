//! Test harness shared by the integration tests: the shared Redis with a unique queue per
//! test, worker processes started from the built binary (stopped on drop), private
//! `redis-server` processes on free ports, the Python arq venv, and (`proxy`) a loopback TCP
//! proxy that cuts, blackholes or drops replies on cue, (`http`) a tiny blocking HTTP client
//! and (`browser`) a headless Chromium driven over WebDriver.
#![allow(dead_code)]

pub mod browser;
pub mod http;
pub mod proxy;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The Redis every test shares (never flushed; tests use their own queue names and ids).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

pub fn uid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A queue name no other test uses.
pub fn unique_queue(test: &str) -> String {
    format!("test:{test}:{}", &uid()[..12])
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn worker_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lyanna-worker"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

pub async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("redis url");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to test Redis")
}

/// Polls `f` until it returns true or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `lyanna-worker` child process; killed (SIGKILL) when dropped unless stopped.
pub struct WorkerProcess {
    pub child: Child,
    pub log: PathBuf,
}

impl WorkerProcess {
    /// Starts `lyanna-worker --settings Diagnostics --queue QUEUE --redis-url URL
    /// --http-addr off --poll-delay 0.05` plus `extra` (later flags win).
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
            "--poll-delay",
            "0.05",
        ];
        let url = redis_url();
        args.extend_from_slice(&["--redis-url", &url]);
        args.extend_from_slice(extra);
        Self::spawn(&args, env)
    }

    /// Any command line.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!("lyanna-worker-{}.log", uid()));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(worker_bin());
        cmd.args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start lyanna-worker");
        WorkerProcess { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status();
    }

    /// SIGTERM, then wait up to `timeout` for the exit code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        self.signal("TERM");
        self.wait(timeout)
    }

    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        } else {
            eprintln!(
                "--- worker log {} ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
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
    child: Child,
    pub dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start(extra: &[&str]) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let port_s = port.to_string();
        let mut args = vec![
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        let dir_s = dir.path().to_string_lossy().to_string();
        args.extend_from_slice(&["--dir", &dir_s]);
        args.extend_from_slice(extra);
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let s = RedisServer { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
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
    child: Child,
    pub log: PathBuf,
}

impl PythonWorker {
    pub fn start(queue: &str, env: &[(&str, &str)]) -> Self {
        spawn_python_worker("arq_reference", "benches/python", queue, env)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
    }
}

impl Drop for PythonWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
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
    let log = std::env::temp_dir().join(format!("arq-python-{}.log", uid()));
    let file = std::fs::File::create(&log).expect("log file");
    let mut cmd = Command::new(arq);
    cmd.arg(format!("{module}.WorkerSettings"))
        .current_dir(project_root().join(dir))
        .env("PYTHONPATH", project_root().join("benches/python"))
        .env("BENCH_REDIS_URL", redis_url())
        .env("BENCH_QUEUE", queue)
        .env("ARQ_POLL_DELAY", "0.05")
        .stdout(Stdio::null())
        .stderr(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    PythonWorker {
        child: cmd.spawn().expect("start python arq worker"),
        log,
    }
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

/// `s` without ANSI colour codes (the text log colours field names: `job_id=` is split).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (a letter).
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Lines of `log` (colour codes ignored) that contain every one of `needles`.
pub fn count_lines_with(log: &str, needles: &[&str]) -> usize {
    strip_ansi(log)
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}

/// Lines of `log` (colour codes ignored) that contain `needle`.
pub fn count_lines(log: &str, needle: &str) -> usize {
    count_lines_with(log, &[needle])
}

/// Starts `lyanna-worker --settings Diagnostics --http-addr off` on `queue` at `url` with
/// `extra` (for flags `WorkerProcess::start` sets already: clap takes each flag once).
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
    let mut args = vec![
        "--settings",
        "Diagnostics",
        "--queue",
        queue,
        "--http-addr",
        "off",
        "--redis-url",
        url,
    ];
    if !extra.contains(&"--poll-delay") {
        args.extend_from_slice(&["--poll-delay", "0.05"]);
    }
    args.extend_from_slice(extra);
    WorkerProcess::spawn(&args, env)
}
