//! The dashboard (`/ui` on the admin server) in a real headless Chromium, against a worker on
//! the real Redis with jobs enqueued by Python arq.

mod common;

use common::browser::Browser;
use common::*;
use std::time::Duration;

/// `lyanna-worker --settings Diagnostics` on `queue` with its admin server on `port`.
fn admin_worker(queue: &str, port: u16, extra: &[&str]) -> WorkerProcess {
    let url = redis_url();
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec![
        "--settings",
        "Diagnostics",
        "--queue",
        queue,
        "--redis-url",
        &url,
        "--http-addr",
        &addr,
        "--poll-delay",
        "0.05",
    ];
    args.extend_from_slice(extra);
    let w = WorkerProcess::spawn(&args, &[]);
    let up = ops_wait(Duration::from_secs(30), || {
        http::get(port, "/livez", &[]).is_ok_and(|r| r.status == 200)
    });
    assert!(
        up,
        "admin server on {port} never answered:\n{}",
        w.log_text()
    );
    w
}

fn ops_wait(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The harness itself: Chromium loads a page the worker serves, and the recorder catches a
/// dialog and a CSP violation (so the hostile-data checks below can fail).
#[test]
fn browser_harness_sees_pages_dialogs_and_csp_violations() {
    let queue = unique_queue("ui-harness");
    let port = free_port();
    let _w = admin_worker(&queue, port, &[]);
    let b = Browser::start();

    // /metrics is OpenMetrics (which a browser saves, not shows): /livez is text/plain.
    b.goto(&format!("http://127.0.0.1:{port}/livez"));
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
        http::percent_encode(&format!(
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

    let shot = project_root().join("target/ui-screenshots/harness-livez.png");
    b.goto(&format!("http://127.0.0.1:{port}/livez"));
    b.screenshot(&shot);
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
}
