//! Who may reach the dashboard, over plain HTTP against the worker binary: only requests
//! whose Host is loopback, an IP literal or a name of `--ui-allowed-hosts` (DNS rebinding);
//! a bad `--ui-allowed-hosts` stops the worker with exit 64; wrong admin tokens (login form
//! or bearer) are limited per client address, then 429 whatever the token; `--ui off`
//! leaves only the probes.

mod common;
mod ui_support;

use common::*;
use std::net::Ipv4Addr;
use testkit::http::{form_value, get, post, Answer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ui_support::*;

/// `GET /ui` with `Host: host`.
fn get_as(port: u16, host: &str) -> Answer {
    get(port, "/ui", &[("Host", host)])
}

/// A refusal: plain text, the security headers, nothing of the request's Host in it.
fn assert_refused(r: &Answer, status: u16, host: &str) {
    assert_eq!(r.status, status, "{host}: {}", r.body);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{host}: {:?}",
        r.headers
    );
    assert!(!r.body.contains(host), "{host} reflected: {}", r.body);
    assert!(!r.body.contains('<'), "{host}: {}", r.body);
    assert_headers(r);
}

/// Loopback names and IP literals are answered on any worker; listed names (here from the
/// environment) only where listed; any other Host is 421 and a malformed one 400, for pages
/// and the login alike, while the probes answer whatever the Host.
#[test]
fn dashboard_answers_only_to_expected_hosts() {
    let queue = unique_queue("ui-hosts");
    let listed = serve_at(
        &redis_url(),
        &queue,
        &["--admin-token", TOKEN],
        &[("LYANNA_UI_ALLOWED_HOSTS", "lyanna-arq, .svc.example")],
    );
    let plain = serve(&queue, &["--admin-token", TOKEN]);
    for port in [listed.port, plain.port] {
        for host in [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            "localhost".to_string(),
            "LocalHost.:80".to_string(),
            format!("[::1]:{port}"),
            "10.1.2.3:8080".to_string(),
        ] {
            let r = get_as(port, &host);
            assert_eq!(r.status, 200, "{host} on {port}: {}", r.body);
            assert!(r.body.contains("data-page=\"overview\""), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "lyanna-arq.evil.example",
            "svc.example.evil.example",
            "127.0.0.1.nip.io",
        ] {
            assert_refused(&get_as(port, host), 421, host);
        }
        for host in ["<script>alert(1)</script>", "a:b:c", "[::1", "::1", "a b"] {
            assert_refused(&get_as(port, host), 400, host);
        }
        // An absolute-form target names the host too, and wins over the Host header.
        let r = get(port, "http://evil.example/ui", &[]);
        assert_refused(&r, 421, "evil.example");
        // The login, with the right token, from a refused Host: no session.
        let r = post(
            port,
            "/ui/login",
            &[("Host", "evil.example")],
            &format!("token={}", form_value(TOKEN)),
        );
        assert_refused(&r, 421, "evil.example");
        assert!(r.header("set-cookie").is_none());
        // The probes and metrics are not the dashboard's: any Host.
        for path in ["/livez", "/readyz", "/metrics"] {
            let r = get(port, path, &[("Host", "evil.example")]);
            assert_eq!(r.status, 200, "{path}");
        }
    }
    for host in [
        "lyanna-arq",
        "LYANNA-ARQ:8080",
        "svc.example",
        "lyanna-arq.lyanna.svc.example:8080",
    ] {
        let r = get_as(listed.port, host);
        assert_eq!(r.status, 200, "{host}: {}", r.body);
        assert_refused(&get_as(plain.port, host), 421, host);
    }
    // A listed Host logs in like localhost.
    let r = post(
        listed.port,
        "/ui/login",
        &[("Host", "lyanna-arq:8080")],
        &format!("token={}", form_value(TOKEN)),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.header("set-cookie").is_some());
}

/// A bad `--ui-allowed-hosts` (flag or environment) stops the worker before it connects:
/// exit 64, naming the flag and the variable.
#[test]
fn bad_allowed_hosts_exit_64_naming_the_setting() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = std::process::Command::new(worker_bin())
            .args(["--settings", "Diagnostics", "--http-addr", "off"])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run lyanna-worker");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    for value in [
        "http://lyanna-arq",
        "lyanna-arq:8080",
        "*.example.com",
        "a b",
    ] {
        for (code, stderr) in [
            run(&["--ui-allowed-hosts", value], &[]),
            run(&[], &[("LYANNA_UI_ALLOWED_HOSTS", value)]),
        ] {
            assert_eq!(code, Some(64), "{value}: {stderr}");
            assert!(
                stderr.contains("--ui-allowed-hosts") && stderr.contains("LYANNA_UI_ALLOWED_HOSTS"),
                "{value}: {stderr}"
            );
        }
    }
}

/// `POST /ui/login` with `token` from `source`, another loopback address (all of 127/8 is
/// loopback on Linux), so the worker sees another client: the status code.
async fn login_from(source: Ipv4Addr, port: u16, token: &str) -> u16 {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind((source, 0).into())
        .expect("bind another loopback address");
    let mut s = sock.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let body = format!("token={}", form_value(token));
    let req = format!(
        "POST /ui/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let head = String::from_utf8_lossy(&raw);
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}

/// Right tokens never count; 5 wrong ones a minute (at the form or as bearers) do, then the
/// client gets 429 with Retry-After, even with the right token, while reading goes on and
/// another client address logs in.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_tokens_are_limited_per_client() {
    let queue = unique_queue("ui-limit");
    let s = serve(&queue, &["--admin-token", TOKEN]);
    let port = s.port;
    let right_bearer = format!("Bearer {TOKEN}");
    for _ in 0..8 {
        login(port);
    }
    let r = get(port, "/ui", &[("Authorization", &right_bearer)]);
    assert_eq!(r.status, 200);
    let wrong_login = || post(port, "/ui/login", &[], "token=not-the-token");
    let wrong_bearer = || {
        post(
            port,
            "/ui/job/some-job/delete",
            &[("Authorization", "Bearer not-the-token")],
            "",
        )
    };
    for i in 0..3 {
        let r = wrong_login();
        assert_eq!(r.status, 403, "wrong login {i}: {}", r.body);
        assert!(r.body.contains("Wrong token."));
    }
    for i in 0..2 {
        assert_eq!(wrong_bearer().status, 403, "wrong bearer {i}");
    }
    let r = wrong_login();
    assert_eq!(r.status, 429, "{}", r.body);
    let after: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&after), "{after}");
    assert!(r.body.contains("Too many wrong tokens"), "{}", r.body);
    assert!(r.body.contains("data-page=\"login\""));
    assert_headers(&r);
    // Locked out, the right token is refused too: a hit looks like a miss.
    let r = post(
        port,
        "/ui/login",
        &[],
        &format!("token={}", form_value(TOKEN)),
    );
    assert_eq!(r.status, 429);
    assert!(r.header("set-cookie").is_none());
    let r = wrong_bearer();
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    let r = get(port, "/ui", &[("Authorization", &right_bearer)]);
    assert_eq!(r.status, 429);
    // Reading without a token is no guess.
    assert_eq!(get(port, "/ui", &[]).status, 200);
    // Another client address has its own count.
    assert_eq!(
        login_from(Ipv4Addr::new(127, 0, 0, 2), port, TOKEN).await,
        303
    );
    assert_eq!(
        login_from(Ipv4Addr::new(127, 0, 0, 2), port, "not-the-token").await,
        403
    );
}

/// `--ui off`: no dashboard, the probes and metrics as before.
#[test]
fn ui_off_serves_only_the_probes() {
    let queue = unique_queue("ui-off");
    let s = serve(&queue, &["--ui", "off", "--admin-token", TOKEN]);
    for path in ["/ui", "/ui/jobs", "/ui/login", "/ui/static/style.css"] {
        assert_eq!(get(s.port, path, &[]).status, 404, "{path}");
    }
    assert_eq!(
        post(s.port, "/ui/login", &[], &format!("token={TOKEN}")).status,
        404
    );
    assert_eq!(get(s.port, "/livez", &[]).status, 200);
    assert_eq!(get(s.port, "/readyz", &[]).status, 200);
    let m = get(s.port, "/metrics", &[]);
    assert_eq!(m.status, 200);
    assert!(m.body.contains("# EOF"));
    assert!(m.header("content-security-policy").is_none());
    let s2 = serve(&queue, &[]);
    let css = get(s2.port, "/ui/static/style.css", &[]);
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert_eq!(get(s2.port, "/ui/nowhere", &[]).status, 404);
    assert_eq!(get(s2.port, "/livez", &[]).status, 200);
}
