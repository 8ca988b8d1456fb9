//! Helpers of the dashboard's HTTP tests (`tests/ui_http.rs`, `ui_escaping.rs`, `ui_auth.rs`,
//! `ui_actions.rs`): a worker serving `/ui` on a free port, the Python arq driver
//! (`tests/python/ui_http_arq.py`), logging in, and small readers of the pages' contract
//! elements (`data-field` cells, rows by `data-*` id).
#![allow(dead_code)]

use crate::common::*;
use std::time::{Duration, Instant};
use testkit::http::{form_value, get, post, Answer};

pub const TOKEN: &str = "ui-test-token-5f1c2a";

/// A worker serving the dashboard on a free port.
pub struct Served {
    _w: WorkerProcess,
    pub port: u16,
    pub worker_id: String,
}

pub fn serve(queue: &str, extra: &[&str]) -> Served {
    serve_at(&redis_url(), queue, extra, &[])
}

/// `serve` on any Redis, with extra environment.
pub fn serve_at(url: &str, queue: &str, extra: &[&str], env: &[(&str, &str)]) -> Served {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let worker_id = format!("ui-{}", &uid()[..8]);
    let mut args = vec![
        "--settings",
        "Diagnostics",
        "--queue",
        queue,
        "--redis-url",
        url,
        "--poll-delay",
        "0.05",
        "--http-addr",
        &addr,
        "--worker-id",
        &worker_id,
        "--health-check-interval",
        "1",
        "--allow-abort-jobs",
    ];
    args.extend_from_slice(extra);
    let mut w = WorkerProcess::spawn(&args, env);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(port, "/readyz", &[]).status == 200;
        if up {
            break;
        }
        let exited = w.child.try_wait().ok().flatten().is_some();
        assert!(
            Instant::now() < deadline && !exited,
            "worker not ready:\n{}",
            w.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Served {
        _w: w,
        port,
        worker_id,
    }
}

pub fn py(args: &[&str]) -> String {
    run_python("ui_http_arq.py", args, &[]).trim().to_string()
}

pub fn enqueue(queue: &str, function: &str, args: &str) -> String {
    py(&["enqueue", queue, function, args])
}

/// The text of the element that opens with `open` (up to its matching close tag `close`).
pub fn element<'a>(html: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = html.find(open)?;
    let end = html[start..].find(close)? + start;
    Some(&html[start..end])
}

/// The text inside `<td|dd|span data-field="name">`, tags stripped.
pub fn field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("data-field=\"{name}\">"))?;
    let rest = &html[at..];
    let rest = &rest[rest.find('>')? + 1..];
    let mut out = String::new();
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        if c == '<' {
            if rest[i..].starts_with("</td>")
                || rest[i..].starts_with("</dd>")
                || rest[i..].starts_with("</span>") && depth == 0
            {
                break;
            }
            depth += 1;
        } else if c == '>' {
            depth -= 1;
        } else if depth == 0 {
            out.push(c);
        }
    }
    Some(out)
}

pub fn queue_row<'a>(html: &'a str, queue: &str) -> &'a str {
    element(html, &format!("<tr data-queue=\"{queue}\">"), "</tr>")
        .unwrap_or_else(|| panic!("no row for {queue}"))
}

pub fn num(row: &str, name: &str) -> i64 {
    field(row, name)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no number {name} in {row}"))
}

pub async fn has_result(conn: &mut redis::aio::MultiplexedConnection, id: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(format!("arq:result:{id}"))
        .query_async::<bool>(conn)
        .await
        .unwrap()
}

pub async fn wait_results(conn: &mut redis::aio::MultiplexedConnection, ids: &[String]) {
    for id in ids {
        let ok = wait_until(Duration::from_secs(20), || {
            let mut c = conn.clone();
            let id = id.clone();
            async move { has_result(&mut c, &id).await }
        })
        .await;
        assert!(ok, "no result for {id}");
    }
}

/// Logs in: the session cookie and the CSRF token of the session's forms.
pub fn login(port: u16) -> (String, String) {
    let r = post(
        port,
        "/ui/login",
        &[],
        &format!("token={}", form_value(TOKEN)),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = r.header("set-cookie").expect("cookie").to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let page = get(port, "/ui", &[("Cookie", &pair)]);
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf in the logout form")
        .to_string();
    (pair, csrf)
}

/// What Redis holds of a queue and some ids, to compare before and after refused actions.
pub async fn dump(
    conn: &mut redis::aio::MultiplexedConnection,
    queue: &str,
    ids: &[String],
) -> Vec<Option<Vec<u8>>> {
    let mut pipe = redis::pipe();
    pipe.cmd("ZRANGE")
        .arg(queue)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES");
    for id in ids {
        for prefix in ["arq:job:", "arq:result:", "arq:in-progress:", "arq:retry:"] {
            pipe.cmd("DUMP").arg(format!("{prefix}{id}"));
        }
        pipe.cmd("ZSCORE").arg("arq:abort").arg(id);
    }
    let vals: Vec<redis::Value> = pipe.query_async(conn).await.unwrap();
    vals.into_iter()
        .map(|v| Some(format!("{v:?}").into_bytes()))
        .collect()
}

pub fn assert_headers(r: &Answer) {
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
}
