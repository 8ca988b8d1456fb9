//! The dashboard over plain HTTP against a worker on the shared Redis, with jobs enqueued by
//! Python arq: the overview's numbers equal what Redis holds, job pages show what arq stored
//! (escaped), actions are refused without the token or CSRF token (and change nothing), and
//! with them abort / retry / delete do what Python's `Job.abort()`, `Job.result()` and
//! `enqueue_job(_job_id=...)` then agree with. The real-browser tests are separate.

mod common;

use common::http::{form_value, get, post, Answer};
use common::*;
use std::time::{Duration, Instant};

const TOKEN: &str = "ui-test-token-5f1c2a";

/// A worker serving the dashboard on a free port.
struct Served {
    _w: WorkerProcess,
    port: u16,
    worker_id: String,
}

fn serve(queue: &str, extra: &[&str]) -> Served {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let worker_id = format!("ui-{}", &uid()[..8]);
    let url = redis_url();
    let mut args = vec![
        "--settings",
        "Diagnostics",
        "--queue",
        queue,
        "--redis-url",
        &url,
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
    let mut w = WorkerProcess::spawn(&args, &[]);
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

fn py(args: &[&str]) -> String {
    run_python("ui_http_arq.py", args, &[]).trim().to_string()
}

fn enqueue(queue: &str, function: &str, args: &str) -> String {
    py(&["enqueue", queue, function, args])
}

/// The text of the element that opens with `open` (up to its matching close tag `close`).
fn element<'a>(html: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = html.find(open)?;
    let end = html[start..].find(close)? + start;
    Some(&html[start..end])
}

/// The text inside `<td|dd|span data-field="name">`, tags stripped.
fn field(html: &str, name: &str) -> Option<String> {
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

fn queue_row<'a>(html: &'a str, queue: &str) -> &'a str {
    element(html, &format!("<tr data-queue=\"{queue}\">"), "</tr>")
        .unwrap_or_else(|| panic!("no row for {queue}"))
}

fn num(row: &str, name: &str) -> i64 {
    field(row, name)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no number {name} in {row}"))
}

async fn has_result(conn: &mut redis::aio::MultiplexedConnection, id: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(format!("arq:result:{id}"))
        .query_async::<bool>(conn)
        .await
        .unwrap()
}

async fn wait_results(conn: &mut redis::aio::MultiplexedConnection, ids: &[String]) {
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
fn login(port: u16) -> (String, String) {
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
async fn dump(
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

fn assert_headers(r: &Answer) {
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

/// Queued, deferred, running and finished jobs from Python; the overview's row equals the
/// counts computed from Redis; the failed job's page shows its exception; a running job
/// aborted from the dashboard ends as Python's `job.abort()` / `job.result()` say.
#[tokio::test(flavor = "multi_thread")]
async fn overview_and_job_pages_match_redis() {
    let queue = unique_queue("ui-overview");
    let s = serve(&queue, &["--max-jobs", "2", "--admin-token", TOKEN]);
    let mut conn = redis_conn(&redis_url()).await;
    let mut done = Vec::new();
    for i in 0..3 {
        done.push(enqueue(&queue, "echo", &format!("[{i}, \"x\"]")));
    }
    let failed = enqueue(&queue, "fail", "[\"boom <b>bold</b> & 'q'\"]");
    done.push(failed.clone());
    done.push(enqueue(&queue, "fail", "[\"second\"]"));
    wait_results(&mut conn, &done).await;
    let sleepers = [
        enqueue(&queue, "sleep_ms", "[30000]"),
        enqueue(&queue, "sleep_ms", "[30000]"),
    ];
    let ip = |c: redis::aio::MultiplexedConnection, ids: [String; 2]| async move {
        let mut c = c;
        let n: u64 = redis::cmd("EXISTS")
            .arg(format!("arq:in-progress:{}", ids[0]))
            .arg(format!("arq:in-progress:{}", ids[1]))
            .query_async(&mut c)
            .await
            .unwrap();
        n == 2
    };
    assert!(
        wait_until(Duration::from_secs(20), || ip(
            conn.clone(),
            sleepers.clone()
        ))
        .await
    );
    for _ in 0..3 {
        enqueue(&queue, "noop", "[]");
    }
    for _ in 0..2 {
        py(&["enqueue", &queue, "noop", "[]", "", "3600"]);
    }

    let r = get(s.port, "/ui", &[]);
    assert_eq!(r.status, 200);
    assert_headers(&r);
    assert!(r.body.contains("<main id=\"page\" data-page=\"overview\">"));
    // The same counts straight from Redis.
    let now = lyanna_worker::protocol::now_ms() as f64;
    let entries: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(&queue)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .unwrap();
    let (mut queued, mut deferred, mut running, mut oldest) = (0, 0, 0, f64::MAX);
    for (id, score) in &entries {
        let ip: bool = redis::cmd("EXISTS")
            .arg(format!("arq:in-progress:{id}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if ip {
            running += 1;
        } else if *score > now {
            deferred += 1;
        } else {
            queued += 1;
            oldest = oldest.min(*score);
        }
    }
    let row = queue_row(&r.body, &queue);
    assert_eq!((queued, deferred, running), (3, 2, 2), "{entries:?}");
    assert_eq!(num(row, "queued"), queued);
    assert_eq!(num(row, "deferred"), deferred);
    assert_eq!(num(row, "in_progress"), running);
    assert_eq!(num(row, "results_ok"), 3);
    assert_eq!(num(row, "results_failed"), 2);
    let age = ((now - oldest) / 1000.0) as i64;
    assert!(
        (num(row, "oldest_due_age") - age).abs() <= 1,
        "{row} vs {age}"
    );
    // Our worker, from its own health key, parsed.
    let w = element(
        &r.body,
        &format!("<tr data-worker=\"{}\">", s.worker_id),
        "</tr>",
    )
    .expect("our worker's row");
    assert_eq!(field(w, "kind").as_deref(), Some("lyanna"));
    let health = field(w, "health").unwrap();
    let parsed = lyanna_worker::protocol::health::parse_health(&health).expect("health string");
    assert_eq!(num(w, "j_complete"), parsed.complete as i64);
    assert_eq!(num(w, "j_failed"), parsed.failed as i64);
    assert!(element(&r.body, "<section id=\"throughput\">", "</section>").is_some());

    // The failed job's page.
    let page = get(s.port, &format!("/ui/job/{failed}"), &[]);
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains(&format!("<dl id=\"job\" data-job-id=\"{failed}\">")));
    assert_eq!(field(&page.body, "status").as_deref(), Some("complete"));
    assert_eq!(field(&page.body, "function").as_deref(), Some("fail"));
    assert_eq!(field(&page.body, "success").as_deref(), Some("false"));
    assert_eq!(
        field(&page.body, "exception_class").as_deref(),
        Some("RuntimeError")
    );
    assert!(
        page.body.contains(
            "data-field=\"exception_message\">boom &lt;b&gt;bold&lt;/b&gt; &amp; &#39;q&#39;</dd>"
        ) || page.body.contains(
            "data-field=\"exception_message\">boom &lt;b&gt;bold&lt;/b&gt; &amp; 'q'</dd>"
        ),
        "{}",
        page.body
    );
    assert!(field(&page.body, "ttl_result").is_some_and(|t| t.ends_with(" s")));
    assert!(
        !page.body.contains("id=\"retry\""),
        "action forms without a session"
    );

    // Listings: in progress, queued, results filtered by success; paging.
    let list = get(
        s.port,
        &format!("/ui/jobs?queue={}&state=in_progress", form_value(&queue)),
        &[],
    );
    for id in &sleepers {
        assert!(
            list.body.contains(&format!("<tr data-job-id=\"{id}\">")),
            "{}",
            list.body
        );
    }
    let list = get(
        s.port,
        &format!("/ui/jobs?queue={}&state=queued&limit=2", form_value(&queue)),
        &[],
    );
    assert_eq!(list.body.matches("<tr data-job-id=").count(), 2);
    let next = list
        .body
        .split("id=\"next-page\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("next page link")
        .replace("&amp;", "&");
    let list2 = get(s.port, &next, &[]);
    assert_eq!(list2.body.matches("<tr data-job-id=").count(), 1, "{next}");
    assert!(!list2.body.contains("id=\"next-page\""));
    let fails = get(
        s.port,
        &format!(
            "/ui/jobs?queue={}&state=complete&success=false",
            form_value(&queue)
        ),
        &[],
    );
    assert_eq!(fails.body.matches("<tr data-job-id=").count(), 2);
    assert!(fails
        .body
        .contains(&format!("<tr data-job-id=\"{failed}\">")));
    let echo = get(
        s.port,
        &format!(
            "/ui/jobs?queue={}&state=complete&function=echo",
            form_value(&queue)
        ),
        &[],
    );
    assert_eq!(echo.body.matches("<tr data-job-id=").count(), 3);
    // Search by id redirects to the job.
    let found = get(s.port, &format!("/ui/jobs?q={failed}"), &[]);
    assert_eq!(found.status, 303);
    assert_eq!(
        found.header("location"),
        Some(format!("/ui/job/{failed}").as_str())
    );

    // Abort a running job from a session; Python agrees it was aborted.
    let (cookie, csrf) = login(s.port);
    let running_page = get(
        s.port,
        &format!("/ui/job/{}", sleepers[0]),
        &[("Cookie", &cookie)],
    );
    assert!(
        running_page.body.contains("<form id=\"abort\""),
        "{}",
        running_page.body
    );
    let r = post(
        s.port,
        &format!("/ui/job/{}/abort", sleepers[0]),
        &[("Cookie", &cookie)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    wait_results(&mut conn, &sleepers[..1]).await;
    let res: serde_json::Value =
        serde_json::from_str(&py(&["result", &queue, &sleepers[0]])).unwrap();
    assert_eq!(res["success"], false);
    assert_eq!(res["exception"], "CancelledError", "{res}");
    assert_eq!(py(&["status", &queue, &sleepers[0]]), "complete");
    assert_eq!(py(&["abort", &queue, &sleepers[0]]), "true");
    let page = get(s.port, &format!("/ui/job/{}", sleepers[0]), &[]);
    assert_eq!(
        field(&page.body, "exception_class").as_deref(),
        Some("asyncio.exceptions.CancelledError")
    );
    // An action that does not apply: abort of a finished job.
    let r = post(
        s.port,
        &format!("/ui/job/{failed}/abort"),
        &[("Cookie", &cookie)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status, 409);
    let r = post(
        s.port,
        "/ui/job/no-such-job/abort",
        &[("Cookie", &cookie)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status, 404);
    drop_queue(&mut conn, &queue).await;
}

/// A Python arq worker's health key shows as a worker of kind `arq`, with its queue.
#[tokio::test(flavor = "multi_thread")]
async fn python_worker_health_key_shows_as_arq() {
    let queue = unique_queue("ui-pyhealth");
    let py_queue = unique_queue("ui-pyhealth-py");
    let _py = PythonWorker::start(&py_queue, &[]);
    let key = format!("{py_queue}:health-check");
    let mut conn = redis_conn(&redis_url()).await;
    let k = key.clone();
    assert!(
        wait_until(Duration::from_secs(30), || {
            let mut c = conn.clone();
            let k = k.clone();
            async move {
                redis::cmd("EXISTS")
                    .arg(&k)
                    .query_async::<bool>(&mut c)
                    .await
                    .unwrap()
            }
        })
        .await,
        "the Python worker wrote no health key"
    );
    let s = serve(&queue, &[]);
    let r = get(s.port, "/ui", &[]);
    let w = element(&r.body, &format!("<tr data-worker=\"{key}\">"), "</tr>")
        .unwrap_or_else(|| panic!("no row for {key}"));
    assert_eq!(field(w, "kind").as_deref(), Some("arq"));
    assert_eq!(field(w, "queue").as_deref(), Some(py_queue.as_str()));
    let raw: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let health = field(w, "health").unwrap();
    // The key may be rewritten between our GET and the page's (arq's counters only grow).
    assert_eq!(
        health.split(' ').count(),
        raw.split(' ').count(),
        "{health} vs {raw}"
    );
    assert!(
        lyanna_worker::protocol::health::parse_health(&health).is_some(),
        "{health}"
    );
    assert!(field(w, "j_complete").is_some() && field(w, "queued").is_some());
    // The Python worker's queue has its own row.
    queue_row(&r.body, &py_queue);
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Without a token every POST is 403; with one, a POST without a session, with a session but
/// no or a wrong CSRF token, or with a wrong bearer is 403 too; Redis is unchanged throughout.
#[tokio::test(flavor = "multi_thread")]
async fn actions_are_refused_without_token_or_csrf() {
    let queue = unique_queue("ui-refuse");
    let mut conn = redis_conn(&redis_url()).await;
    let ro = serve(&queue, &[]);
    let failed = enqueue(&queue, "fail", "[\"x\"]");
    let ok = enqueue(&queue, "echo", "[1]");
    wait_results(&mut conn, &[failed.clone(), ok.clone()]).await;
    let deferred = py(&["enqueue", &queue, "noop", "[]", "", "3600"]);
    let ids = vec![failed.clone(), ok.clone(), deferred.clone()];
    let before = dump(&mut conn, &queue, &ids).await;

    let actions = [
        format!("/ui/job/{deferred}/abort"),
        format!("/ui/job/{failed}/retry"),
        format!("/ui/job/{failed}/retry?same_id=1"),
        format!("/ui/job/{ok}/delete"),
    ];
    // Read-only: even the login and the right bearer are refused.
    for path in &actions {
        assert_eq!(post(ro.port, path, &[], "csrf=x").status, 403, "{path}");
        let bearer = format!("Bearer {TOKEN}");
        assert_eq!(
            post(ro.port, path, &[("Authorization", &bearer)], "").status,
            403
        );
    }
    let r = post(ro.port, "/ui/login", &[], &format!("token={TOKEN}"));
    assert_eq!(r.status, 403);
    assert!(r.header("set-cookie").is_none());
    let page = get(ro.port, &format!("/ui/job/{failed}"), &[]);
    assert!(!page.body.contains("<form id=\"retry\""));
    drop(ro);

    let rw = serve(&queue, &["--admin-token", TOKEN]);
    let (cookie, csrf) = login(rw.port);
    let wrong_cookie = "lyanna_ui=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_eq!(post(rw.port, "/ui/login", &[], "token=wrong").status, 403);
    for path in &actions {
        let cases: Vec<(Vec<(&str, &str)>, String)> = vec![
            (vec![], String::new()),
            (vec![], format!("csrf={csrf}")),
            (vec![("Cookie", cookie.as_str())], String::new()),
            (vec![("Cookie", cookie.as_str())], "csrf=wrong".to_string()),
            (
                vec![("Cookie", cookie.as_str())],
                format!("csrf={}", &csrf[1..]),
            ),
            (vec![("Cookie", wrong_cookie)], format!("csrf={csrf}")),
            (vec![("Authorization", "Bearer wrong-token")], String::new()),
            (vec![("Authorization", "Basic dWk6dG9r")], String::new()),
        ];
        for (headers, body) in cases {
            let r = post(rw.port, path, &headers, &body);
            assert_eq!(r.status, 403, "{path} {headers:?} {body}");
        }
    }
    // Logout needs the CSRF token too.
    assert_eq!(
        post(rw.port, "/ui/logout", &[("Cookie", &cookie)], "").status,
        403
    );
    assert_eq!(
        dump(&mut conn, &queue, &ids).await,
        before,
        "a refused action changed Redis"
    );
    // The session still works; logout ends it.
    let r = post(
        rw.port,
        "/ui/logout",
        &[("Cookie", &cookie)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status, 303);
    let r = post(
        rw.port,
        &actions[3],
        &[("Cookie", &cookie)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status, 403, "the session outlived its logout");
    assert_eq!(dump(&mut conn, &queue, &ids).await, before);
    drop_queue(&mut conn, &queue).await;
}

/// Retry (new id, then the same id), delete and the bearer header, checked from Python.
#[tokio::test(flavor = "multi_thread")]
async fn actions_agree_with_python_arq() {
    let queue = unique_queue("ui-actions");
    let mut conn = redis_conn(&redis_url()).await;
    let s = serve(&queue, &["--admin-token", TOKEN]);
    let failed = enqueue(&queue, "fail", "[\"retry me\"]");
    let ok = enqueue(&queue, "echo", "[\"kept\"]");
    wait_results(&mut conn, &[failed.clone(), ok.clone()]).await;
    let (cookie, csrf) = login(s.port);
    let form = format!("csrf={csrf}");

    // A job that succeeded is not retried.
    let r = post(
        s.port,
        &format!("/ui/job/{ok}/retry"),
        &[("Cookie", &cookie)],
        &form,
    );
    assert_eq!(r.status, 409);
    // Retry under a new id: the same function and arguments run again.
    let page = get(s.port, &format!("/ui/job/{failed}"), &[("Cookie", &cookie)]);
    assert!(page.body.contains("<form id=\"retry\""), "{}", page.body);
    let r = post(
        s.port,
        &format!("/ui/job/{failed}/retry"),
        &[("Cookie", &cookie)],
        &form,
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let new_id = r
        .header("location")
        .and_then(|l| l.strip_prefix("/ui/job/"))
        .and_then(|l| l.split('?').next())
        .expect("location of the new job")
        .to_string();
    assert_ne!(new_id, failed);
    wait_results(&mut conn, &[new_id.clone()]).await;
    let again: serde_json::Value = serde_json::from_str(&py(&["result", &queue, &new_id])).unwrap();
    assert_eq!(again["function"], "fail");
    assert_eq!(again["args"], "('retry me',)");
    assert_eq!(again["message"], "retry me");
    let page = get(s.port, &format!("/ui/job/{new_id}"), &[]);
    assert_eq!(
        field(&page.body, "exception_message").as_deref(),
        Some("retry me")
    );

    // Retry under the same id: the failed result goes, the job runs again under its id.
    let r = post(
        s.port,
        &format!("/ui/job/{failed}/retry?same_id=1"),
        &[("Cookie", &cookie)],
        &form,
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r
        .header("location")
        .unwrap()
        .starts_with(&format!("/ui/job/{failed}")));
    let status = py(&["status", &queue, &failed]);
    assert!(
        ["queued", "in_progress", "complete"].contains(&status.as_str()),
        "{status}"
    );
    wait_results(&mut conn, &[failed.clone()]).await;
    let res: serde_json::Value = serde_json::from_str(&py(&["result", &queue, &failed])).unwrap();
    assert_eq!(res["message"], "retry me");

    // Delete: the id is free for Python's enqueue_job(_job_id=...), taken before.
    assert_eq!(py(&["enqueue", &queue, "echo", "[2]", &ok]), "taken");
    let r = post(
        s.port,
        &format!("/ui/job/{ok}/delete"),
        &[("Cookie", &cookie)],
        &form,
    );
    assert_eq!(r.status, 303);
    assert_eq!(py(&["status", &queue, &ok]), "not_found");
    assert_eq!(py(&["result", &queue, &ok]), "null");
    let r = post(
        s.port,
        &format!("/ui/job/{ok}/delete"),
        &[("Cookie", &cookie)],
        &form,
    );
    assert_eq!(r.status, 404);
    assert_eq!(py(&["enqueue", &queue, "echo", "[2]", &ok]), ok);
    wait_results(&mut conn, &[ok.clone()]).await;
    let res: serde_json::Value = serde_json::from_str(&py(&["result", &queue, &ok])).unwrap();
    assert_eq!(res["result"], "{'args': [2], 'kwargs': {}}");

    // The bearer header instead of a session: no CSRF token needed.
    let bearer = format!("Bearer {TOKEN}");
    let r = post(
        s.port,
        &format!("/ui/job/{ok}/delete"),
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(r.status, 303);
    assert!(!has_result(&mut conn, &ok).await);
    drop_queue(&mut conn, &queue).await;
}

/// Ids, function names, arguments and error messages made of HTML come back as text.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_values_are_escaped() {
    let queue = unique_queue("ui-hostile");
    let mut conn = redis_conn(&redis_url()).await;
    let s = serve(&queue, &["--admin-token", TOKEN]);
    let payload = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";
    let id = format!("hostile-{}-{payload}", &uid()[..8]);
    let args = serde_json::to_string(&vec![payload]).unwrap();
    let a = py(&["enqueue", &queue, "fail", &args, &id]);
    assert_eq!(a, id);
    // An unknown function whose name is markup: our worker fails it, naming the function.
    let b = py(&["enqueue", &queue, &format!("fn{payload}"), &args]);
    let c = py(&[
        "enqueue",
        &queue,
        "echo",
        &args,
        &format!("deferred-{}-{payload}", &uid()[..8]),
        "3600",
    ]);
    wait_results(&mut conn, &[a.clone(), b.clone()]).await;
    let (cookie, _) = login(s.port);
    let enc = |s: &str| form_value(s);
    let mut pages = vec![
        get(s.port, "/ui", &[]),
        get(s.port, &format!("/ui/jobs?queue={}", enc(&queue)), &[]),
        get(
            s.port,
            &format!("/ui/jobs?queue={}&state=complete", enc(&queue)),
            &[],
        ),
        get(
            s.port,
            &format!(
                "/ui/jobs?queue={}&state=complete&function={}",
                enc(&queue),
                enc(&format!("fn{payload}"))
            ),
            &[],
        ),
        get(
            s.port,
            &format!("/ui/jobs?q={}", enc("<script>nothing</script>")),
            &[],
        ),
        get(
            s.port,
            &format!("/ui/jobs?queue={}&function={}", enc(&queue), enc(payload)),
            &[],
        ),
    ];
    for id in [&a, &b, &c] {
        let p = get(
            s.port,
            &format!("/ui/job/{}", enc(id)),
            &[("Cookie", &cookie)],
        );
        assert_eq!(p.status, 200, "{id}");
        pages.push(p);
    }
    let all: String = pages.iter().map(|p| p.body.as_str()).collect();
    assert!(!all.contains("<script>"), "unescaped script tag");
    assert!(!all.contains("<img"), "unescaped img tag");
    assert!(!all.contains("onerror=alert(2)>"));
    assert!(all.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let job_a = &pages[pages.len() - 3].body;
    assert!(
        job_a.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img")
            || job_a.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;'&gt;&lt;img"),
        "{job_a}"
    );
    let msg = field(job_a, "exception_message").expect("exception message");
    assert!(
        msg.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;")
            && msg.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{msg}"
    );
    let job_b = &pages[pages.len() - 2].body;
    assert!(job_b.contains("fn&lt;script&gt;"), "{job_b}");
    // The action forms post to the percent-encoded id.
    assert!(job_a.contains(&format!(
        "action=\"/ui/job/{}/delete\"",
        lyanna_worker::dashboard::ids::encode_segment(a.as_bytes())
    )));
    for p in &pages {
        assert_headers(p);
    }
    drop_queue(&mut conn, &queue).await;
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

/// `lyanna-worker jobs / retry / delete` on the same code.
#[tokio::test(flavor = "multi_thread")]
async fn cli_jobs_retry_delete() {
    let queue = unique_queue("ui-cli");
    let mut conn = redis_conn(&redis_url()).await;
    let _s = serve(&queue, &[]);
    let failed = enqueue(&queue, "fail", "[\"cli\"]");
    let ok = enqueue(&queue, "echo", "[1]");
    wait_results(&mut conn, &[failed.clone(), ok.clone()]).await;
    let url = redis_url();
    let base = ["--queue", queue.as_str(), "--redis-url", url.as_str()];
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(&base);
        let out = cli(&a);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, _) = run(&[
        "jobs",
        "--state",
        "complete",
        "--success",
        "false",
        "--json",
    ]);
    assert_eq!(code, Some(0));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["id"], failed.as_str());
    assert_eq!(lines[0]["function"], "fail");
    assert_eq!(lines[0]["args"], "'cli'");
    let (code, out, _) = run(&["jobs", "--state", "complete", "--function", "echo"]);
    assert_eq!(code, Some(0));
    assert!(out.contains(&ok) && !out.contains(&failed), "{out}");
    assert_eq!(run(&["jobs", "--state", "bogus"]).0, Some(64));
    // Retry: a new id, which runs and fails again.
    let (code, out, err) = run(&["retry", &failed]);
    assert_eq!(code, Some(0), "{err}");
    let new_id = out.trim().to_string();
    assert_ne!(new_id, failed);
    wait_results(&mut conn, &[new_id.clone()]).await;
    assert_eq!(run(&["retry", &ok]).0, Some(1), "a success is not retried");
    assert_eq!(run(&["retry", "no-such-id"]).0, Some(2));
    // Delete.
    let (code, out, _) = run(&["delete", &ok]);
    assert_eq!((code, out.trim()), (Some(0), "deleted"));
    assert_eq!(run(&["delete", &ok]).0, Some(2));
    assert!(!has_result(&mut conn, &ok).await);
    drop_queue(&mut conn, &queue).await;
}
