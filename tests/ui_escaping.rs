//! Every value from Redis is escaped on the dashboard's pages: ids, function names, arguments
//! and error messages made of HTML, enqueued by Python arq, come back as text on every page
//! that shows them, with the security headers. (The browser tests check that no script runs.)

mod common;
mod ui_support;

use common::*;
use testkit::http::{form_value, get};
use ui_support::*;

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
