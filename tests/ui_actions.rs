//! The dashboard's actions over plain HTTP, with Python arq checking what they did: refused
//! without the token, the CSRF token or a valid session (Redis unchanged), and with them
//! abort / retry / delete agree with Python's `Job.status()`, `Job.result()`, `Job.abort()`
//! and `enqueue_job(_job_id=...)`; the CLI's `jobs / retry / delete` on the same code.

mod common;
mod ui_support;

use common::*;
use std::time::Duration;
use testkit::http::{get, post};
use ui_support::*;

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
    // Each wrong token (the login's, the bearers' below) counts against the client's limit of
    // 5 a minute (tests/ui_auth.rs): this test makes exactly 5, and logs in before them.
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

/// A running job aborted from a session ends as Python's `job.abort()` / `job.result()` say;
/// aborting it again (finished) is 409, an unknown id 404.
#[tokio::test(flavor = "multi_thread")]
async fn abort_of_a_running_job_agrees_with_python_arq() {
    let queue = unique_queue("ui-abort");
    let s = serve(&queue, &["--admin-token", TOKEN]);
    let mut conn = redis_conn(&redis_url()).await;
    let sleeper = enqueue(&queue, "sleep_ms", "[30000]");
    let key = format!("arq:in-progress:{sleeper}");
    let running = wait_until(Duration::from_secs(20), || {
        let mut c = conn.clone();
        let key = key.clone();
        async move {
            redis::cmd("EXISTS")
                .arg(&key)
                .query_async::<bool>(&mut c)
                .await
                .unwrap()
        }
    })
    .await;
    assert!(running, "the job never started");
    let (cookie, csrf) = login(s.port);
    let running_page = get(
        s.port,
        &format!("/ui/job/{sleeper}"),
        &[("Cookie", &cookie)],
    );
    assert!(
        running_page.body.contains("<form id=\"abort\""),
        "{}",
        running_page.body
    );
    let r = post(
        s.port,
        &format!("/ui/job/{sleeper}/abort"),
        &[("Cookie", &cookie)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    wait_results(&mut conn, std::slice::from_ref(&sleeper)).await;
    let res: serde_json::Value = serde_json::from_str(&py(&["result", &queue, &sleeper])).unwrap();
    assert_eq!(res["success"], false);
    assert_eq!(res["exception"], "CancelledError", "{res}");
    assert_eq!(py(&["status", &queue, &sleeper]), "complete");
    assert_eq!(py(&["abort", &queue, &sleeper]), "true");
    let page = get(s.port, &format!("/ui/job/{sleeper}"), &[]);
    assert_eq!(
        field(&page.body, "exception_class").as_deref(),
        Some("asyncio.exceptions.CancelledError")
    );
    // An action that does not apply: abort of a finished job.
    let r = post(
        s.port,
        &format!("/ui/job/{sleeper}/abort"),
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
    wait_results(&mut conn, std::slice::from_ref(&new_id)).await;
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
    wait_results(&mut conn, std::slice::from_ref(&failed)).await;
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
    wait_results(&mut conn, std::slice::from_ref(&ok)).await;
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
    wait_results(&mut conn, std::slice::from_ref(&new_id)).await;
    assert_eq!(run(&["retry", &ok]).0, Some(1), "a success is not retried");
    assert_eq!(run(&["retry", "no-such-id"]).0, Some(2));
    // Delete.
    let (code, out, _) = run(&["delete", &ok]);
    assert_eq!((code, out.trim()), (Some(0), "deleted"));
    assert_eq!(run(&["delete", &ok]).0, Some(2));
    assert!(!has_result(&mut conn, &ok).await);
    drop_queue(&mut conn, &queue).await;
}
