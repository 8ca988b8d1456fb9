//! The dashboard's pages over plain HTTP against a worker on the shared Redis, with jobs
//! enqueued by Python arq: the overview's numbers equal what Redis holds, job pages show what
//! arq stored, every value from Redis is escaped, `--ui off` leaves only the probes. Actions
//! are in `tests/ui_actions.rs`; the real-browser tests are separate.

mod common;
mod ui_support;

use common::http::{form_value, get, post};
use common::*;
use std::time::Duration;
use ui_support::*;

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

/// The cron page of a worker running a per-second cron job (on a private Redis: cron ids are
/// global in arq, another test's cron must not take our ticks): its schedule, next run and the
/// last tick's result.
#[tokio::test(flavor = "multi_thread")]
async fn cron_page_shows_schedule_next_run_and_last_result() {
    let srv = RedisServer::start(&[]);
    let url = srv.url();
    let queue = unique_queue("ui-cron");
    let s = serve_at(&url, &queue, &[], &[("DIAGNOSTICS_CRON", "every-second")]);
    let conn = redis_conn(&url).await;
    let ticked = wait_until(Duration::from_secs(20), || {
        let mut c = conn.clone();
        async move {
            // A tick ran: arq keeps its in-progress key for 60 s (cron keeps no result).
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("arq:in-progress:cron:tick:*")
                .query_async(&mut c)
                .await
                .unwrap();
            !keys.is_empty()
        }
    })
    .await;
    assert!(ticked, "no cron tick ran");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = get(s.port, "/ui/cron", &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<main id=\"page\" data-page=\"cron\">"));
    let row = element(&r.body, "<tr data-cron=\"cron:tick\">", "</tr>").expect("cron row");
    assert_eq!(
        field(row, "schedule").as_deref(),
        Some("microsecond=123456")
    );
    let next = field(row, "next_run").unwrap();
    assert!(next.ends_with(".123 UTC"), "{next}");
    let last = field(row, "last_result").unwrap();
    assert!(
        last == "running" || last.starts_with("ran (no result kept"),
        "{last}"
    );
    assert!(
        field(row, "last_run").is_some_and(|t| t.ends_with(".123 UTC")),
        "{row}"
    );
}
