//! The dashboard's pages over plain HTTP against a worker on the shared Redis, with jobs
//! enqueued by Python arq: the overview's numbers equal what Redis holds, job pages and
//! listings show what arq stored, a Python worker's health key, the cron page. Escaping is in
//! `tests/ui_escaping.rs`, who may reach the dashboard (Host, login limit, `--ui off`) in
//! `tests/ui_auth.rs`, the actions in `tests/ui_actions.rs`; the real-browser tests are
//! separate.

mod common;
mod ui_support;

use common::*;
use std::time::Duration;
use testkit::http::{form_value, get};
use ui_support::*;

/// Queued, deferred, running and finished jobs from Python; the overview's row equals the
/// counts computed from Redis; the failed job's page shows its exception; the listings filter,
/// page and find by id.
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
