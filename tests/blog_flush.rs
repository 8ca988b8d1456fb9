//! flush_to_db through the worker binary: page views made by the web app's code path (Python,
//! redis-py) reach MariaDB, and with three workers serving the cron (on a per-second schedule,
//! a test-only setting; production runs at :00.123456 each minute) each tick runs once.

mod blog_common;
mod common;

use blog_common::{Memcached, TestDb};
use common::{redis_url, run_python, unique_queue, worker_at_with, WorkerProcess};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Every `flush_to_db cron:flush_to_db:{ms}` a worker logged (one line per run).
fn ticks(log: &str) -> Vec<i64> {
    const MARK: &str = "flush_to_db cron:flush_to_db:";
    log.match_indices(MARK)
        .filter_map(|(i, _)| {
            let digits: String = log[i + MARK.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_three_runs_each_tick_once_and_every_view_lands() {
    let db = TestDb::create().await;
    db.seed_posts(20).await;
    let mc = Memcached::start();
    let queue = unique_queue("blog-flush-fleet");
    let prefix = format!("test:blog:{}:", blog_common::uid());
    let views: Vec<String> = (1..=20).map(|id| format!("{id}:{}", id % 4 + 1)).collect();
    let mut args = vec!["views", prefix.as_str()];
    args.extend(views.iter().map(String::as_str));
    run_python("blog_client.py", &args, &[]);

    let url = redis_url();
    let env = [
        ("DB_URL", db.url()),
        ("MEMCACHED_HOST", mc.addr()),
        ("LYANNA_KEY_PREFIX", prefix.clone()),
        ("LYANNA_FLUSH_CRON_SECONDS", "*".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut workers: Vec<WorkerProcess> = (0..3)
        .map(|_| worker_at_with(&url, &queue, &["--settings", "WorkerSettings"], &env))
        .collect();

    let want: HashMap<i64, i64> = (1..=20).map(|id| (id, id % 4 + 1)).collect();
    let landed = blog_common::eventually(Duration::from_secs(30), || async {
        let got = db.pageviews().await;
        want.iter().all(|(id, pv)| got.get(id) == Some(pv))
    })
    .await;
    assert!(landed, "counts did not land: {:?}", db.pageviews().await);

    // More views while the fleet runs.
    run_python("blog_client.py", &["views", &prefix, "3:10", "20:2"], &[]);
    let landed = blog_common::eventually(Duration::from_secs(30), || async {
        let got = db.pageviews().await;
        got.get(&3) == Some(&14) && got.get(&20) == Some(&3)
    })
    .await;
    assert!(
        landed,
        "later views did not land: {:?}",
        db.pageviews().await
    );

    let enough = blog_common::eventually(Duration::from_secs(30), || async {
        let mut all: Vec<i64> = workers.iter().flat_map(|w| ticks(&w.log_text())).collect();
        all.sort_unstable();
        all.dedup();
        all.len() >= 6
    })
    .await;
    for w in &mut workers {
        w.terminate(Duration::from_secs(10));
    }
    let mut runs: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (n, w) in workers.iter().enumerate() {
        for t in ticks(&w.log_text()) {
            runs.entry(t).or_default().push(n);
        }
    }
    eprintln!("tick (unix ms) -> worker that ran it: {runs:?}");
    assert!(enough, "fewer than 6 ticks ran: {runs:?}");
    let twice: Vec<_> = runs.iter().filter(|(_, by)| by.len() > 1).collect();
    assert!(twice.is_empty(), "ticks run more than once: {twice:?}");
    // Tick ids are whole seconds plus arq's 123456 µs, as every worker derives them.
    assert!(runs.keys().all(|ms| ms % 1000 == 123), "{runs:?}");

    let mut conn = blog_common::redis_conn().await;
    blog_common::drop_prefix(&mut conn, &prefix).await;
    common::drop_queue(&mut conn, &queue).await;
}
