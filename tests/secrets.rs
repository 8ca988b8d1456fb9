//! No credential is ever printed. The worker and the CLI run with each way of giving a password
//! (URL userinfo, user and password, `--redis-password`, `unix://...?pass=`, `rediss://` with a
//! CA file, Sentinel's own password) through start-up, jobs, `/metrics`, an outage of a private
//! `redis-server` and shutdown, and with malformed URLs and wrong passwords; every line they
//! print (stdout and stderr, text and JSON logs, `RUST_LOG=trace`) and every `/metrics` page is
//! searched for the secrets.

mod common;
mod ops_support;
#[allow(dead_code)]
#[path = "redis_harness/tls.rs"]
mod tls;

use common::{free_port, unique_queue, worker_bin};
use ops_support::{http_get, poll_until, status, PortRedis};
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::Process;

/// The dashboard's admin token, given to every worker through its environment (and once on
/// the command line, in `bad_configuration_and_wrong_passwords`): never printed either.
const ADMIN_TOKEN: &str = "AdminTok-7305-secret";

/// A worker or CLI process whose stdout and stderr both go to one file.
struct Run(Process);

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(worker_bin());
    cmd.args(args).env("RUST_LOG", "trace").stdin(Stdio::null());
    for var in [
        "REDIS_URL",
        "REDIS_PASSWORD",
        "REDIS_SENTINEL",
        "REDIS_SENTINEL_PASSWORD",
        "REDIS_SENTINEL_SVC_HOST",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run(Process::spawn_logged_all("lyanna-secrets", &mut cmd))
}

impl Run {
    fn wait(&mut self, timeout: Duration) -> Option<i32> {
        self.0.wait(timeout).and_then(|s| s.code())
    }

    fn terminate(&mut self) -> Option<i32> {
        self.0.signal("TERM");
        self.wait(Duration::from_secs(15))
    }

    fn text(&self) -> String {
        self.0.log_text()
    }
}

/// Runs a command to its end (at most 30 s) and returns its code and everything it printed.
fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut r = spawn(args, env);
    let code = r.wait(Duration::from_secs(30));
    (code, r.text())
}

/// A worker (admin server off) started on `url` with `extra`, run to its end (start-up fails).
fn start_up(url: &str, extra: &[&str]) -> (Option<i32>, String) {
    let args = [
        "--settings",
        "Diagnostics",
        "--http-addr",
        "off",
        "--redis-url",
        url,
    ];
    run_to_end(&[&args[..], extra].concat(), &[])
}

/// Everything printed so far must be free of every secret (and of telling fragments).
fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !text.contains(s),
            "{what}: secret {s:?} printed:\n{}",
            text.chars().take(20_000).collect::<String>()
        );
    }
}

/// `/metrics` as it is now (empty when it does not answer).
fn metrics_page(http: u16) -> String {
    http_get(http, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default()
}

/// A private Redis started with `requirepass pw` and `extra`.
fn protected_redis(pw: &str, extra: &[&str]) -> PortRedis {
    let mut redis = PortRedis::reserve(&[&["--requirepass", pw], extra].concat());
    redis.start();
    redis
}

/// How one connection form is given to the worker and the CLI.
struct Form {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    secrets: Vec<&'static str>,
}

impl Form {
    /// A form whose one secret is `pw`.
    fn new(
        name: &'static str,
        args: Vec<String>,
        env: Vec<(&'static str, String)>,
        pw: &'static str,
    ) -> Form {
        Form {
            name,
            args,
            env,
            secrets: vec![pw],
        }
    }
}

/// Runs a worker (json or text logs) and the CLI with `form` through a job, /metrics, an
/// outage of `redis` and shutdown; greps all output.
fn exercise(form: &Form, redis: &mut PortRedis, json: bool) {
    let queue = unique_queue(&format!("secrets-{}", form.name));
    let http = free_port();
    let http_addr = format!("127.0.0.1:{http}");
    let mut args: Vec<&str> = vec![
        "--settings",
        "Diagnostics",
        "--queue",
        &queue,
        "--http-addr",
        &http_addr,
        "--poll-delay",
        "0.05",
        "--log-format",
        if json { "json" } else { "text" },
    ];
    args.extend(form.args.iter().map(String::as_str));
    let env: Vec<(&str, &str)> = form.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut worker_env = env.clone();
    worker_env.push(("LYANNA_ADMIN_TOKEN", ADMIN_TOKEN));
    let mut w = spawn(&args, &worker_env);
    let mut secrets = form.secrets.clone();
    secrets.push(ADMIN_TOKEN);
    let what = format!("{} ({})", form.name, if json { "json" } else { "text" });
    assert!(
        poll_until(Duration::from_secs(15), || status(http, "/readyz") == 200),
        "{what}: worker not ready:\n{}",
        w.text()
    );

    // The CLI, with the same settings: enqueue, result, status, queue, --check, --help.
    let mut cli_out = String::new();
    let cli = |extra: &[&str], out: &mut String| {
        let mut a: Vec<&str> = extra.to_vec();
        a.extend(["--queue", &queue]);
        a.extend(form.args.iter().map(String::as_str));
        let (code, text) = run_to_end(&a, &env);
        out.push_str(&text);
        (code, text)
    };
    // Our own id: with RUST_LOG=trace the id's line is among the log lines.
    let id = format!("secrets-{}", common::uid());
    let (code, text) = cli(&["enqueue", "noop", "--job-id", &id], &mut cli_out);
    assert_eq!(code, Some(0), "{what}: enqueue failed:\n{text}");
    let (code, text) = cli(&["result", &id, "--wait", "10"], &mut cli_out);
    assert_eq!(code, Some(0), "{what}: no result:\n{text}");
    cli(&["status", &id], &mut cli_out);
    cli(&["queue", "--json"], &mut cli_out);
    cli(&["--check"], &mut cli_out);
    cli(&["--help"], &mut cli_out);
    let mut pages = String::new();
    pages.push_str(&metrics_page(http));
    // The dashboard: its pages, a wrong login and a right one, an action with the bearer.
    for path in [
        "/ui",
        "/ui/jobs?state=complete",
        &format!("/ui/job/{id}"),
        "/ui/login",
    ] {
        pages.push_str(&testkit::http::get(http, path, &[]).body);
    }
    let wrong = testkit::http::post(http, "/ui/login", &[], "token=AdminTok-wrong");
    assert_eq!(wrong.status, 403, "{what}: wrong token accepted");
    let right = testkit::http::post(http, "/ui/login", &[], &format!("token={ADMIN_TOKEN}"));
    assert_eq!(right.status, 303, "{what}: the admin token is refused");
    pages.push_str(&format!("{:?}{}", right.headers, right.body));
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let del = testkit::http::post(
        http,
        &format!("/ui/job/{id}/delete"),
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(del.status, 303, "{what}: bearer refused");
    pages.push_str(&format!("{:?}{}", del.headers, del.body));

    // An outage: reconnect warnings carry the URL.
    redis.stop();
    assert!(
        poll_until(Duration::from_secs(10), || status(http, "/readyz") == 503),
        "{what}: still ready with Redis stopped"
    );
    std::thread::sleep(Duration::from_secs(1));
    pages.push_str(&metrics_page(http));
    // The CLI while Redis is down.
    cli(&["queue", "--redis-connect-timeout", "0.5"], &mut cli_out);
    redis.start();
    assert!(
        poll_until(Duration::from_secs(20), || status(http, "/readyz") == 200),
        "{what}: no reconnect"
    );
    pages.push_str(&metrics_page(http));
    assert_eq!(w.terminate(), Some(0), "{what}: shutdown:\n{}", w.text());

    let log = w.text();
    assert!(
        log.contains("DEBUG"),
        "{what}: RUST_LOG=trace not in effect"
    );
    assert!(log.contains("***"), "{what}: no masked URL logged:\n{log}");
    assert_clean(&format!("{what} worker"), &log, &secrets);
    assert_clean(&format!("{what} CLI"), &cli_out, &secrets);
    assert_clean(&format!("{what} /metrics and /ui"), &pages, &secrets);
}

fn both_log_formats(form: Form, redis: &mut PortRedis) {
    exercise(&form, redis, false);
    exercise(&form, redis, true);
}

#[test]
fn password_in_the_url_userinfo() {
    const PW: &str = "PwUserinfo-4417";
    let mut redis = protected_redis(PW, &[]);
    let url = format!("redis://:{PW}@127.0.0.1:{}/0", redis.port);
    let form = Form::new("userinfo", vec!["--redis-url".into(), url], vec![], PW);
    both_log_formats(form, &mut redis);
}

#[test]
fn user_and_password_in_the_environment_url() {
    const PW: &str = "PwUser-5521";
    let mut redis = protected_redis(PW, &[]);
    let url = format!("redis://default:{PW}@127.0.0.1:{}", redis.port);
    let form = Form::new("user-password", vec![], vec![("REDIS_URL", url)], PW);
    both_log_formats(form, &mut redis);
}

#[test]
fn password_apart_from_the_url() {
    const PW: &str = "PwFlag-6631";
    let mut redis = protected_redis(PW, &[]);
    let form = Form::new(
        "redis-password",
        vec!["--redis-url".into(), redis.url()],
        vec![("REDIS_PASSWORD", PW.to_string())],
        PW,
    );
    both_log_formats(form, &mut redis);
}

#[test]
fn unix_socket_with_pass_in_the_query() {
    const PW: &str = "PwUnix-7741";
    let sock_dir = tempfile::tempdir().expect("tempdir");
    let sock = sock_dir.path().join("r.sock");
    let sock_s = sock.to_string_lossy().to_string();
    let mut redis = protected_redis(PW, &["--unixsocket", &sock_s]);
    assert!(poll_until(Duration::from_secs(5), || sock.exists()));
    let form = Form::new(
        "unix-pass",
        vec![
            "--redis-url".into(),
            format!("unix://{sock_s}?db=0&pass={PW}"),
        ],
        vec![],
        PW,
    );
    both_log_formats(form, &mut redis);
}

#[test]
fn tls_with_a_ca_file_and_a_password() {
    const PW: &str = "PwTls-3391";
    let files = tls::tls_files();
    let tls_port = free_port();
    let s = |p: &std::path::Path| p.to_string_lossy().to_string();
    let tls_port_s = tls_port.to_string();
    let (cert, key, ca) = (s(&files.cert), s(&files.key), s(&files.ca));
    let mut redis = protected_redis(
        PW,
        &[
            "--tls-port",
            &tls_port_s,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
        ],
    );
    let form = Form::new(
        "tls",
        vec![
            "--redis-url".into(),
            format!("rediss://:{PW}@127.0.0.1:{tls_port}/0"),
            "--redis-ca-file".into(),
            ca.clone(),
        ],
        vec![],
        PW,
    );
    exercise(&form, &mut redis, true);
    // The wrong CA: the trust error is printed, the password is not.
    let (code, out) = start_up(
        &format!("rediss://:{PW}@127.0.0.1:{tls_port}/0"),
        &["--redis-ca-file", &s(&files.other_ca)],
    );
    assert_eq!(code, Some(1), "{out}");
    assert_clean("tls, wrong CA", &out, &[PW]);
}

/// Sentinel: the sentinels' own password and the master's URL password, with sentinels that
/// never answer (start-up waits, not ready) and then shutdown; the CLI likewise.
#[test]
fn sentinel_passwords() {
    const MASTER_PW: &str = "PwSentMaster-9120";
    const SENTINEL_PW: &str = "PwSentinel-8851";
    let dead = free_port();
    let http = free_port();
    let http_addr = format!("127.0.0.1:{http}");
    let sentinel = format!("127.0.0.1:{dead},localhost:{dead}");
    let url = format!("redis://app:{MASTER_PW}@ignored:6379/2");
    for format in ["text", "json"] {
        let mut w = spawn(
            &[
                "--settings",
                "Diagnostics",
                "--http-addr",
                &http_addr,
                "--log-format",
                format,
                "--sentinel",
                &sentinel,
                "--redis-connect-timeout",
                "0.5",
            ],
            &[
                ("REDIS_URL", &url),
                ("REDIS_SENTINEL_PASSWORD", SENTINEL_PW),
            ],
        );
        assert!(poll_until(Duration::from_secs(10), || status(
            http, "/readyz"
        ) == 503));
        std::thread::sleep(Duration::from_secs(2));
        let metrics = metrics_page(http);
        assert_eq!(w.terminate(), Some(0));
        let log = w.text();
        assert!(log.contains("redis+sentinel://app:***@"), "{log}");
        assert_clean("sentinel worker", &log, &[MASTER_PW, SENTINEL_PW]);
        assert_clean("sentinel /metrics", &metrics, &[MASTER_PW, SENTINEL_PW]);
    }
    let (_, out) = run_to_end(
        &[
            "queue",
            "--sentinel",
            &sentinel,
            "--redis-connect-timeout",
            "0.5",
            "--redis-url",
            &url,
            "--sentinel-password",
            SENTINEL_PW,
        ],
        &[],
    );
    assert_clean("sentinel CLI", &out, &[MASTER_PW, SENTINEL_PW]);
}

/// Bad configuration exits 64 naming the flag and saying what is wrong, echoing no secret;
/// a wrong password exits 1 without printing either password.
#[test]
fn bad_configuration_and_wrong_passwords() {
    let cases: &[(&str, &[&str])] = &[
        ("redis:/:PwBadA-101@h", &["PwBadA-101"]),
        (":PwBadB-102@h", &["PwBadB-102"]),
        (
            "redis://:S3/cretPwBadC-103@h",
            &["cretPwBadC-103", "S3/cret"],
        ),
        ("redis://h:PwBadD-104/0", &["PwBadD-104"]),
        ("http://:PwBadE-105@h", &["PwBadE-105"]),
        ("PwBadF-106", &["PwBadF-106"]),
        ("redis://h/x?pass=PwBadG-107", &["PwBadG-107"]),
    ];
    for (url, secrets) in cases {
        for args in [
            vec!["--settings", "Diagnostics", "--redis-url", url],
            vec!["queue", "--redis-url", url],
            vec!["--check", "--redis-url", url],
        ] {
            let (code, out) = run_to_end(&args, &[]);
            assert_eq!(code, Some(64), "{args:?}: {out}");
            assert!(
                out.contains("--redis-url") && out.contains("REDIS_URL"),
                "{out}"
            );
            assert_clean(&format!("bad URL {args:?}"), &out, secrets);
        }
        // The same through the environment.
        let (code, out) = run_to_end(&["--settings", "Diagnostics"], &[("REDIS_URL", url)]);
        assert_eq!(code, Some(64), "{out}");
        assert_clean("bad REDIS_URL", &out, secrets);
    }
    // A URL where clap expects something else: clap's own message masks it.
    for args in [
        vec!["redis://:PwBadJ-110@h"],
        vec!["queue", "extra", ":PwBadK-111@h"],
        vec!["--redis-ulr", "redis://u:PwBadL-112@h"],
    ] {
        let (code, out) = run_to_end(&args, &[]);
        assert_eq!(code, Some(64), "{args:?}: {out}");
        assert_clean(
            "clap error",
            &out,
            &["PwBadJ-110", "PwBadK-111", "PwBadL-112"],
        );
    }
    // The admin token on the command line, with a bad flag beside it or where clap does not
    // expect it: never echoed.
    let inline = format!("--admin-token={ADMIN_TOKEN}");
    for args in [
        vec![
            "--settings",
            "Diagnostics",
            "--ui",
            "maybe",
            "--admin-token",
            ADMIN_TOKEN,
        ],
        vec![
            "--settings",
            "Diagnostics",
            "--admin-token",
            ADMIN_TOKEN,
            "--max-jobs",
            "0",
        ],
        vec!["queue", "--admin-token", ADMIN_TOKEN],
        vec!["--admin-token", ADMIN_TOKEN, "--no-such-flag"],
        vec![inline.as_str(), ADMIN_TOKEN],
        vec!["--help"],
    ] {
        let (code, out) = run_to_end(&args, &[("LYANNA_ADMIN_TOKEN", ADMIN_TOKEN)]);
        assert_ne!(code, None, "{args:?}: {out}");
        assert_clean(&format!("admin token {args:?}"), &out, &[ADMIN_TOKEN]);
    }

    // Another flag is bad while passwords are set: still none printed.
    let (code, out) = run_to_end(
        &[
            "--settings",
            "Diagnostics",
            "--redis-url",
            "unix:///tmp/none.sock?pass=PwBadH-108",
            "--sentinel",
            "h:1",
        ],
        &[("REDIS_PASSWORD", "PwBadI-109")],
    );
    assert_eq!(code, Some(64), "{out}");
    assert_clean("unix with sentinel", &out, &["PwBadH-108", "PwBadI-109"]);

    const RIGHT: &str = "PwRight-201";
    let redis = protected_redis(RIGHT, &[]);
    for wrong in [
        format!("redis://:PwWrong-202@127.0.0.1:{}", redis.port),
        format!("redis://default:PwWrong-202@127.0.0.1:{}/0", redis.port),
    ] {
        let (code, out) = start_up(&wrong, &[]);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("password"), "no hint: {out}");
        assert_clean("wrong password", &out, &["PwWrong-202", RIGHT]);
        let (code, out) = run_to_end(&["queue", "--redis-url", &wrong], &[]);
        assert_eq!(code, Some(1), "{out}");
        assert_clean("wrong password CLI", &out, &["PwWrong-202", RIGHT]);
    }
}
