//! The dashboard (`/ui` on the admin server) in a real headless Chromium (tests/common/browser.rs),
//! against workers on the real Redis with jobs enqueued, read, aborted and re-enqueued by
//! Python arq (tests/python/ui_dashboard.py): the pages show what Redis holds, the actions do
//! what arq's client calls do, hostile data renders as text, and nothing acts without the
//! token and the CSRF token. Screenshots of the pages go to `target/ui-screenshots/`
//! (copies in `docs/screenshots/`).

mod common;
mod ui_browser_support;

use common::browser::Browser;
use common::*;
use serde_json::json;
use std::collections::BTreeSet;
use testkit::http::{self, form_value};
use ui_browser_support::*;

/// The harness itself: Chromium loads a page the worker serves, and the recorder catches a
/// dialog and a CSP violation (so the hostile-data checks below can fail).
#[test]
fn browser_harness_sees_pages_dialogs_and_csp_violations() {
    let q = Q::shared("ui-harness");
    let d = Dash::start(&q, None, &[], &[]);
    let b = Browser::start();

    // /metrics is OpenMetrics (which a browser saves, not shows): /livez is text/plain.
    b.goto(&d.url("/livez"));
    assert_eq!(b.text("body"), "ok");
    assert_eq!(b.count("pre"), 1, "{}", b.source());
    b.assert_no_script_ran("/livez");
    let metrics = b.execute("return fetch('/metrics').then(r => r.text());", vec![]);
    assert!(
        metrics.as_str().is_some_and(|m| m.contains("# TYPE")),
        "fetch('/metrics') from the page: {metrics}"
    );

    b.goto("data:text/html,<p id=x>hi</p><script>alert('fired')</script>");
    assert_eq!(b.text("#x"), "hi");
    assert_eq!(b.recorded(), vec!["alert:fired".to_string()]);
    assert!(b.open_dialog().is_none());

    let csp = "<meta http-equiv=Content-Security-Policy content=\"script-src 'none'\">";
    b.goto(&format!(
        "data:text/html,{}",
        form_value(&format!(
            "{csp}<img src=x onerror=alert(2)><script>alert(3)</script>"
        ))
    ));
    let seen = b.recorded();
    assert!(
        seen.iter().any(|s| s.starts_with("csp:script-src")),
        "no CSP violation recorded: {seen:?}"
    );
    assert!(!seen.iter().any(|s| s.starts_with("alert:")), "{seen:?}");
    assert_eq!(b.count("img[src=x]"), 1);

    let shot_path = project_root().join("target/ui-screenshots/harness-livez.png");
    b.goto(&d.url("/livez"));
    b.screenshot(&shot_path);
    assert!(std::fs::metadata(&shot_path).unwrap().len() > 1000);
}

/// Python arq enqueues; the overview's numbers, the jobs lists and the job pages show what
/// Redis holds; a failed job's page shows its exception; a running job aborted from the
/// browser ends as Python's `job.status()` / `job.result()` say an aborted job does.
#[test]
fn pages_show_what_redis_holds_and_abort_from_the_browser() {
    // A private Redis: the pages (and the screenshots in docs/) hold only this test's jobs.
    let server = RedisServer::start(&[]);
    let q = Q::on(&server, "ui-pages");
    let queue = q.name.clone();
    let token = format!("tok-{}", uid());
    // One job at a time: a long job holds the others in the queue while the pages are read.
    let d = Dash::start(
        &q,
        Some(&token),
        &["--max-jobs", "1", "--allow-abort-jobs"],
        &[],
    );
    let deferred = q.enqueue_all(json!([
        {"function": "echo", "args": [1, "later"], "defer_by": 3600},
        {"function": "echo", "args": [2], "kwargs": {"k": "v"}, "defer_by": 3600},
        {"function": "noop", "defer_by": 7200},
    ]));
    let done = q.enqueue_all(json!([
        {"function": "echo", "args": ["ok", 1]},
        {"function": "noop"},
        {"function": "fail", "args": ["kaboom: <i>not italic</i> & \"quoted\""]},
    ]));
    for id in &done {
        q.wait(id);
    }
    let failed = &done[2];
    let running = &q.enqueue_all(json!([{"function": "sleep_ms", "args": [600000]}]))[0];
    q.wait_status(running, "in_progress");
    let queued = q.enqueue_all(
        json!([{"function": "echo", "args": ["q1"]}, {"function": "echo", "args": ["q2"]}]),
    );

    let b = Browser::start();
    let expect = q.py("counts", &[]);
    assert_eq!(
        (
            &expect["queued"],
            &expect["deferred"],
            &expect["in_progress"]
        ),
        (&json!(2), &json!(3), &json!(1)),
        "the scenario's own setup: {expect}"
    );
    b.goto(&d.url("/ui"));
    b.wait_for("main#page[data-page=overview]", SETTLE);
    let row = format!("table#queues tr[data-queue={}]", css_str(&queue));
    b.wait_for(&row, SETTLE);
    for f in [
        "queued",
        "deferred",
        "in_progress",
        "results_ok",
        "results_failed",
    ] {
        assert_eq!(
            b.text(&format!("{row} td[data-field={f}]")),
            expect[f].to_string(),
            "overview {f} (Redis via arq: {expect})"
        );
    }
    let age: i64 = b
        .text(&format!("{row} td[data-field=oldest_due_age]"))
        .parse()
        .expect("oldest_due_age is an integer");
    let now_ms = chrono::Utc::now().timestamp_millis() as f64;
    let want = (now_ms - expect["oldest_due_ms"].as_f64().unwrap()) / 1000.0;
    assert!(
        (age as f64 - want).abs() <= 3.0,
        "oldest_due_age {age} s, Redis says {want:.1} s"
    );
    let ours: Vec<_> = b
        .find_all("table#workers tr[data-worker]")
        .into_iter()
        .filter(|w| b.text_in(w, "td[data-field=queue]") == queue)
        .collect();
    assert_eq!(ours.len(), 1, "one worker on the queue:\n{}", b.source());
    assert_eq!(b.text_in(&ours[0], "td[data-field=kind]"), "lyanna");
    // Its health string, and each counter parsed out of it.
    let health = b.text_in(&ours[0], "td[data-field=health]");
    let fields = health_fields(&health);
    assert_eq!(fields.len(), 5, "health {health:?}");
    for (k, v) in fields {
        assert_eq!(
            b.text_in(&ours[0], &format!("td[data-field={k}]")),
            v,
            "{k}"
        );
    }
    // Throughput of the whole fleet (this private Redis): the results just made.
    assert_eq!(
        b.text("section#throughput span[data-field=ok]"),
        expect["results_ok"].to_string()
    );
    assert_eq!(
        b.text("section#throughput span[data-field=failed]"),
        expect["results_failed"].to_string()
    );
    b.assert_no_script_ran("overview");
    shot(&b, "overview");

    assert_eq!(
        listed_ids(&b, &d, "/ui/jobs?state=queued"),
        set(&queued.iter().collect::<Vec<_>>())
    );
    assert_eq!(
        listed_ids(&b, &d, "/ui/jobs?state=in_progress"),
        set(&[running])
    );
    assert_eq!(
        listed_ids(&b, &d, "/ui/jobs?state=deferred"),
        set(&deferred.iter().collect::<Vec<_>>())
    );
    let drow = format!("table#jobs tr[data-job-id={}]", css_str(&deferred[1]));
    assert_eq!(b.text(&format!("{drow} td[data-field=function]")), "echo");
    let args = b.text(&format!("{drow} td[data-field=args]"));
    assert!(
        args.contains('2') && args.contains("k='v'"),
        "args cell {args:?}"
    );
    assert_results_listed(&b, &d, &q, &done);
    shot(&b, "jobs");
    // Paging: two by two through the deferred jobs, by the page's own link.
    b.goto(&d.url("/ui/jobs?state=deferred&limit=2"));
    let mut paged = Vec::new();
    loop {
        b.wait_for("table#jobs", SETTLE);
        let rows = b.find_all("table#jobs tr[data-job-id]");
        assert!(rows.len() <= 2, "a page of limit 2 holds {}", rows.len());
        paged.extend(rows.iter().filter_map(|r| b.attr(r, "data-job-id")));
        if b.find("a#next-page").is_none() {
            break;
        }
        assert!(paged.len() < 10, "paging does not end: {paged:?}");
        b.follow("a#next-page");
    }
    assert_eq!(paged.len(), 3, "{paged:?}");
    assert_eq!(
        paged.iter().cloned().collect::<BTreeSet<_>>(),
        set(&deferred.iter().collect::<Vec<_>>())
    );
    assert_eq!(
        listed_ids(&b, &d, "/ui/jobs?state=complete&success=false"),
        set(&[failed])
    );
    assert_eq!(
        listed_ids(&b, &d, "/ui/jobs?state=complete&function=echo"),
        set(&[&done[0]])
    );
    // Search by id: the form on the jobs page.
    b.fill("form#search input[name=q]", &deferred[0]);
    b.submit("form#search");
    b.wait_for(
        &format!("dl#job[data-job-id={}]", css_str(&deferred[0])),
        SETTLE,
    );

    // The failed job's page: the exception, class and message, as text.
    b.goto(&d.url(&job_path(failed)));
    b.wait_for("main#page[data-page=job] dl#job", SETTLE);
    let py_failed = q.py("job", &[failed]);
    assert_eq!(dd(&b, "status"), "complete");
    assert_eq!(dd(&b, "function"), "fail");
    assert!(
        dd(&b, "exception_class").contains("RuntimeError"),
        "{}",
        b.source()
    );
    assert_eq!(
        dd(&b, "exception_message"),
        "kaboom: <i>not italic</i> & \"quoted\""
    );
    assert_eq!(
        py_failed["raised"],
        "RuntimeError: kaboom: <i>not italic</i> & \"quoted\""
    );
    assert_eq!(dd(&b, "success"), "false");
    assert_eq!(dd(&b, "tries"), py_failed["tries"].to_string());
    assert!(!dd(&b, "ttl_result").is_empty(), "{}", b.source());
    assert_eq!(b.count("dl#job i"), 0, "markup of the message rendered");
    b.assert_no_script_ran("failed job page");
    shot(&b, "job");

    // No session, no actions on the page.
    b.goto(&d.url(&job_path(running)));
    b.wait_for("dl#job", SETTLE);
    assert_eq!(dd(&b, "status"), "in_progress");
    assert_eq!(b.count("form#abort"), 0, "abort offered without login");

    // Abort the running job from the browser.
    d.login(&b);
    b.goto(&d.url(&job_path(running)));
    b.wait_for("form#abort", SETTLE);
    b.submit("form#abort");
    wait_flash(&b, "Abort requested");
    assert_eq!(
        b.attr(&b.get("dl#job"), "data-job-id").as_ref(),
        Some(running)
    );
    let py_aborted = q.wait(running);
    assert_eq!(py_aborted["status"], "complete", "{py_aborted}");
    assert_eq!(py_aborted["success"], false, "{py_aborted}");
    assert_eq!(py_aborted["raised"], "CancelledError", "{py_aborted}");
    b.reload_until(&d.url(&job_path(running)), SETTLE, |b| {
        dd(b, "status") == "complete"
    });
    assert_eq!(dd(&b, "success"), "false");
    assert!(
        dd(&b, "exception_class").contains("CancelledError"),
        "{}",
        b.source()
    );

    // The two held back run now; the overview follows Redis to the end.
    for id in &queued {
        q.wait(id);
    }
    let end = q.py("counts", &[]);
    assert_eq!(
        (&end["queued"], &end["in_progress"], &end["results_failed"]),
        (&json!(0), &json!(0), &json!(2)),
        "{end}"
    );
    b.reload_until(&d.url("/ui"), SETTLE, |b| {
        [
            "queued",
            "deferred",
            "in_progress",
            "results_ok",
            "results_failed",
        ]
        .iter()
        .all(|f| b.text_opt(&format!("{row} td[data-field={f}]")) == Some(end[*f].to_string()))
    });
    b.assert_no_script_ran("overview after the abort");
    // The private Redis goes with `server`.
}

/// A mixed fleet: a job fails on a real Python arq worker (max 5 tries), whose health key
/// the overview shows; retried from the browser it runs again on ours (more tries allowed)
/// and its new result shows; deleting the old result frees its id for Python's
/// `enqueue_job(_job_id=...)`. The cron page lists the running task set's cron job.
#[test]
fn retry_and_delete_from_the_browser_with_a_python_worker_on_the_queue() {
    let q = Q::shared("ui-fleet");
    let queue = q.name.clone();
    let token = format!("tok-{}", uid());
    // A deferred job: the Python worker's health string counts it (`queued=`).
    q.enqueue_all(json!([{"function": "echo", "args": ["later"], "defer_by": 3600}]));
    // retry(6, ...) asks for 6 retries: arq's default max_tries (5) fails it.
    let failed = q
        .enqueue_all(json!([{"function": "retry", "args": [6, 10]}]))
        .remove(0);
    let pyw = PythonWorker::start(&queue, &[]);
    let py_failed = q.wait(&failed);
    assert_eq!(py_failed["success"], false, "{py_failed}");
    let health_key = format!("{queue}:health-check");
    assert!(
        poll(SETTLE, || q.get(&health_key).is_some()),
        "the Python worker wrote no health key:\n{}",
        pyw.log_text()
    );
    // SIGKILL (as a crash): arq deletes its key on a clean stop; this one stays for its TTL.
    drop(pyw);
    let py_health = q.get(&health_key).expect("arq's health key after the kill");

    // Ours, with more tries allowed, its health under a key of its own (so arq's stays).
    let d = Dash::start(
        &q,
        Some(&token),
        &[
            "--max-tries",
            "10",
            "--health-check-key",
            &format!("{queue}:lyanna-health"),
        ],
        &[("DIAGNOSTICS_CRON", "every-second")],
    );
    let b = Browser::start();

    b.goto(&d.url("/ui"));
    b.wait_for("table#workers", SETTLE);
    // Workers of every queue are listed: ours are the rows of this queue.
    let rows: Vec<(common::browser::Element, String)> = b
        .find_all("table#workers tr[data-worker]")
        .into_iter()
        .filter(|r| b.text_in(r, "td[data-field=queue]") == queue)
        .map(|r| {
            let kind = b.text_in(&r, "td[data-field=kind]");
            (r, kind)
        })
        .collect();
    let kinds: Vec<&str> = rows.iter().map(|(_, k)| k.as_str()).collect();
    assert!(
        kinds.contains(&"lyanna"),
        "our worker is not listed ({kinds:?}):\n{}",
        b.source()
    );
    let arq_row = rows
        .iter()
        .find(|(_, k)| k == "arq")
        .map(|(r, _)| r.clone())
        .unwrap_or_else(|| panic!("no arq worker row for {queue} ({kinds:?}):\n{}", b.source()));
    let id = b.attr(&arq_row, "data-worker").unwrap();
    let wrow = format!("table#workers tr[data-worker={}]", css_str(&id));
    assert_eq!(b.text(&format!("{wrow} td[data-field=kind]")), "arq");
    assert_eq!(b.text(&format!("{wrow} td[data-field=health]")), py_health);
    let fields = health_fields(&py_health);
    assert_eq!(fields.len(), 5, "{py_health}");
    for (k, v) in fields {
        assert_eq!(
            b.text(&format!("{wrow} td[data-field={k}]")),
            v,
            "{k} of {py_health:?}"
        );
    }
    b.assert_no_script_ran("overview with a Python worker's health key");

    // Retry the failed job: a new id, run by ours, succeeds on its 7th try.
    d.login(&b);
    b.goto(&d.url(&job_path(&failed)));
    b.wait_for("dl#job", SETTLE);
    assert!(
        dd(&b, "exception_message").contains("max 5 retries exceeded"),
        "{}",
        b.source()
    );
    assert_eq!(b.count("form#abort"), 0, "abort offered for a finished job");
    b.submit("form#retry");
    wait_flash(&b, "Enqueued again");
    let new_page = b.get("main#page[data-page=job] dl#job");
    let new_id = b.attr(&new_page, "data-job-id").unwrap();
    assert_ne!(new_id, failed, "retry must use a new id");
    let py_new = q.wait(&new_id);
    assert_eq!(py_new["success"], true, "{py_new}");
    assert_eq!(py_new["result"], "7", "{py_new}");
    assert_eq!(py_new["function"], "retry");
    b.reload_until(&d.url(&job_path(&new_id)), SETTLE, |b| {
        dd(b, "status") == "complete"
    });
    assert_eq!(dd(&b, "success"), "true");
    assert_eq!(dd(&b, "result"), "7");
    assert_eq!(dd(&b, "tries"), "7");
    assert_eq!(dd(&b, "function"), "retry");
    b.assert_no_script_ran("retried job page");

    // Delete the old result: Python may then reuse its id.
    assert_eq!(
        q.enqueue(json!([{"function": "echo", "job_id": failed}])),
        vec![None],
        "arq refuses an id whose result exists"
    );
    b.goto(&d.url(&job_path(&failed)));
    b.wait_for("form#delete", SETTLE);
    b.submit("form#delete");
    wait_flash(&b, "Result deleted");
    assert_eq!(q.py("job", &[&failed])["status"], "not_found");
    assert_eq!(
        q.enqueue(json!([{"function": "echo", "args": ["again"], "job_id": failed}])),
        vec![Some(failed.clone())]
    );
    let again = q.wait(&failed);
    assert_eq!(again["result"], "{'args': ['again'], 'kwargs': {}}");

    // The cron page: the task set's `tick` (every second at .123), its schedule, its next
    // run, and its last run (tick keeps no result, arq's cron default: the page says so).
    let parse_ms = |t: &str| {
        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.3f UTC")
            .unwrap_or_else(|e| panic!("time {t:?}: {e}"))
            .and_utc()
            .timestamp_millis()
    };
    let crow = "table#cron tr[data-cron=\"cron:tick\"]";
    let before_ms = chrono::Utc::now().timestamp_millis();
    b.reload_until(&d.url("/ui/cron"), SETTLE, |b| {
        b.text_opt(&format!("{crow} td[data-field=last_result]"))
            .is_some_and(|t| !t.is_empty())
    });
    let after_ms = chrono::Utc::now().timestamp_millis();
    assert_eq!(b.count("table#cron tr[data-cron]"), 1, "{}", b.source());
    assert_eq!(
        b.text(&format!("{crow} td[data-field=schedule]")),
        "microsecond=123456"
    );
    let next_ms = parse_ms(&b.text(&format!("{crow} td[data-field=next_run]")));
    assert_eq!(next_ms % 1000, 123, "next_run");
    assert!(
        next_ms > before_ms - 50 && next_ms <= after_ms + 1000,
        "next_run {next_ms} is not the second after the page was made ({before_ms}..{after_ms})"
    );
    let last_ms = parse_ms(&b.text(&format!("{crow} td[data-field=last_run]")));
    assert_eq!(last_ms % 1000, 123, "last_run");
    assert!(
        last_ms < next_ms && last_ms <= after_ms,
        "last_run {last_ms}"
    );
    let last = b.text(&format!("{crow} td[data-field=last_result]"));
    assert!(
        last == "running" || last.starts_with("ran (no result kept"),
        "last_result {last:?}"
    );
    b.assert_no_script_ran("cron page");
    shot(&b, "cron");

    q.track(&new_id);
}

/// Without the token configured, or without a session and the right CSRF token, every
/// action answers 403 and Redis is left as it was.
#[test]
fn actions_are_refused_without_token_or_csrf_and_change_nothing() {
    let q = Q::shared("ui-auth");
    let token = format!("tok-{}", uid());
    let deferred = q
        .enqueue_all(json!([{"function": "echo", "args": ["later"], "defer_by": 3600}]))
        .remove(0);
    // A read-only dashboard (no token) and one with a token, on the same queue.
    let ro = Dash::start(&q, None, &[], &[]);
    let rw = Dash::start(&q, Some(&token), &[], &[]);
    let ran = q.enqueue_all(
        json!([{"function": "fail", "args": ["no"]}, {"function": "echo", "args": ["yes"]}]),
    );
    for id in &ran {
        q.wait(id);
    }
    let (failed, ok) = (&ran[0], &ran[1]);
    let ids = [deferred.as_str(), failed.as_str(), ok.as_str()];
    let before = snapshot(&q, &ids);
    let actions = [
        (deferred.as_str(), "abort"),
        (failed.as_str(), "retry"),
        (failed.as_str(), "delete"),
        (ok.as_str(), "delete"),
    ];
    let post = |d: &Dash, id: &str, action: &str, headers: &[(&str, &str)], csrf: &str| {
        let path = format!("{}/{action}", job_path(id));
        http::post_form(d.port, &path, headers, &[("csrf", csrf)]).status
    };
    let bearer = format!("Bearer {token}");
    // Every wrong token counts against the client's limit of 5 a minute (tests/ui_auth.rs):
    // two wrong bearers here and one at the login form below, then the right login.
    for (i, (id, action)) in actions.into_iter().enumerate() {
        // Read-only: even the right token is no credential.
        assert_eq!(post(&ro, id, action, &[], "x"), 403, "ro {action} {id}");
        assert_eq!(
            post(&ro, id, action, &[("Authorization", &bearer)], "x"),
            403,
            "ro bearer {action}"
        );
        // Token configured: nothing, a wrong bearer, a made-up cookie.
        assert_eq!(post(&rw, id, action, &[], "x"), 403, "no auth {action}");
        if i < 2 {
            assert_eq!(
                post(&rw, id, action, &[("Authorization", "Bearer wrong")], "x"),
                403,
                "wrong bearer {action}"
            );
        }
        assert_eq!(
            post(&rw, id, action, &[("Cookie", "lyanna_ui=forged")], "x"),
            403,
            "forged cookie {action}"
        );
    }
    let login = http::post_form(ro.port, "/ui/login", &[], &[("token", &token)]);
    assert!(
        login.header("set-cookie").is_none(),
        "read-only dashboard opened a session: {:?}",
        login.headers
    );

    let b = Browser::start();
    // Read-only: no action forms at all.
    for id in ids {
        b.goto(&ro.url(&job_path(id)));
        b.wait_for("dl#job", SETTLE);
        assert_eq!(b.count("form#abort, form#retry, form#delete"), 0, "ro {id}");
    }
    // A wrong token at the login form opens no session.
    b.goto(&rw.url("/ui/login"));
    b.fill("form#login input[name=token]", "not-the-token");
    b.submit("form#login");
    b.wait_for("main#page[data-page=login]", SETTLE);
    assert_eq!(b.text("div#flash"), "Wrong token.");
    assert!(b.cookie("lyanna_ui").is_none(), "{:?}", b.cookies());
    // Logged in, but the form's CSRF token is wrong, then missing.
    rw.login(&b);
    let session = b.cookie("lyanna_ui").unwrap();
    for (id, action) in actions {
        for tamper in ["wrong", "remove"] {
            b.goto(&rw.url(&job_path(id)));
            let form = format!("form#{action}");
            b.wait_for(&form, SETTLE);
            let csrf_input = format!("{form} input[name=csrf]");
            if tamper == "wrong" {
                b.set_value(&csrf_input, "0123456789abcdef");
            } else {
                b.execute(
                    "document.querySelector(arguments[0]).remove();",
                    vec![json!(csrf_input)],
                );
            }
            b.submit(&form);
            // The answer is the refusal (a text page), not the job page of a 303.
            assert!(
                poll(SETTLE, || b.find("dl#job").is_none()
                    && b.text_opt("body")
                        .is_some_and(|t| t.starts_with("forbidden"))),
                "{action} with a {tamper} CSRF token was not refused: {}\n{}",
                b.current_url(),
                b.source()
            );
            assert_eq!(snapshot(&q, &ids), before, "{action} ({tamper} csrf)");
        }
        // Same with the session cookie outside the browser: the status is 403.
        let cookie = format!("lyanna_ui={}", session.value);
        assert_eq!(
            post(&rw, id, action, &[("Cookie", &cookie)], "wrong"),
            403,
            "cookie + wrong csrf {action}"
        );
        assert_eq!(
            http::post_form(
                rw.port,
                &format!("{}/{action}", job_path(id)),
                &[("Cookie", &cookie)],
                &[]
            )
            .status,
            403,
            "cookie, no csrf {action}"
        );
    }
    assert_eq!(snapshot(&q, &ids), before, "Redis changed");

    // The control: the same request with the right bearer token acts (so the checks above
    // could have seen a change).
    let del = post(&rw, ok, "delete", &[("Authorization", &bearer)], "");
    assert_eq!(del, 303);
    assert_ne!(snapshot(&q, &ids), before);
    assert_eq!(q.py("job", &[ok])["status"], "not_found");
}

/// Job ids, function names, arguments and error messages made of HTML/JS payloads render as
/// text on every page, and no script of theirs runs.
#[test]
fn hostile_data_renders_as_text_and_runs_no_script() {
    let server = RedisServer::start(&[]);
    let q = Q::on(&server, "ui-hostile");
    let tag = &uid()[..8];
    let script = "<script>alert(1)</script>";
    let img = "\"><img src=x onerror=alert(1)>";
    let quotes = "x' onmouseover='alert(1)' \" onfocus=\"alert(1)";
    let d = Dash::start(&q, None, &[], &[]);
    let hostile_deferred = json!([
        {"function": script, "args": [img, script], "kwargs": {"k": img},
         "job_id": format!("{script}{tag}"), "defer_by": 3600},
        {"function": img, "args": [quotes], "job_id": format!("{img}{tag}"), "defer_by": 3600},
        {"function": quotes, "job_id": format!("{quotes}{tag}"), "defer_by": 3600},
    ]);
    let deferred = q.enqueue_all(hostile_deferred);
    let ran = q.enqueue_all(json!([
        {"function": "fail", "args": [script], "job_id": format!("f{script}{tag}")},
        {"function": "fail", "args": [img], "job_id": format!("f{img}{tag}")},
        {"function": img, "args": [script], "job_id": format!("u{img}{tag}")},
    ]));
    for id in &ran {
        q.wait(id);
    }
    let b = Browser::start();
    let check = |what: &str| {
        b.assert_no_script_ran(what);
        let injected = b.execute(
            "return document.querySelectorAll('img[src=x]').length + \
             document.querySelectorAll('[onerror],[onmouseover],[onfocus]').length + \
             Array.from(document.scripts).filter(s => !s.src).length;",
            vec![],
        );
        assert_eq!(
            injected,
            json!(0),
            "{what}: injected elements\n{}",
            b.source()
        );
    };
    b.goto(&d.url("/ui"));
    b.wait_for("main#page[data-page=overview]", SETTLE);
    check("overview");
    let listed = listed_ids(&b, &d, "/ui/jobs?state=deferred");
    assert_eq!(listed, deferred.iter().cloned().collect(), "deferred list");
    check("deferred list");
    assert_results_listed(&b, &d, &q, &ran);
    check("complete list");
    for f in ["true", "false"] {
        listed_ids(&b, &d, &format!("/ui/jobs?state=complete&success={f}"));
        check(&format!("results success={f}"));
    }
    // The ids, functions and arguments, each exactly as text.
    b.goto(&d.url("/ui/jobs?state=deferred"));
    b.wait_for("table#jobs", SETTLE);
    for (id, function) in deferred.iter().zip([script, img, quotes]) {
        let row = format!("table#jobs tr[data-job-id={}]", css_str(id));
        assert_eq!(b.text(&format!("{row} td[data-field=function]")), function);
        let link = b.get(&format!("{row} a"));
        assert_eq!(b.text_of(&link), *id);
    }
    let row0 = format!("table#jobs tr[data-job-id={}]", css_str(&deferred[0]));
    let args = b.text(&format!("{row0} td[data-field=args]"));
    assert!(args.contains(img) && args.contains(script), "{args:?}");
    // Each job's page, reached through its (percent-encoded) link.
    for id in deferred.iter().chain(&ran) {
        b.goto(&d.url(&job_path(id)));
        b.wait_for(&format!("dl#job[data-job-id={}]", css_str(id)), SETTLE);
        assert_eq!(dd(&b, "id"), *id);
        check(&format!("job page {id:?}"));
    }
    b.goto(&d.url(&job_path(&ran[0])));
    assert_eq!(dd(&b, "exception_message"), script);
    b.goto(&d.url(&job_path(&ran[1])));
    assert_eq!(dd(&b, "exception_message"), img);
    b.goto(&d.url(&job_path(&ran[2])));
    assert_eq!(dd(&b, "function"), img);
    assert!(
        dd(&b, "exception_message").contains(img),
        "{}",
        dd(&b, "exception_message")
    );
    check("unknown function's page");
    // A search for a hostile id shows its page.
    b.goto(&d.url("/ui/jobs"));
    b.fill("form#search input[name=q]", &deferred[1]);
    b.submit("form#search");
    b.wait_for(
        &format!("dl#job[data-job-id={}]", css_str(&deferred[1])),
        SETTLE,
    );
    check("search result");
}
