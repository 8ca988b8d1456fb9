//! flush_to_db deletes the memcached keys lyanna really writes: its cache decorator stores a
//! key with spaces replaced by `_` (models/mc.py, `gen_key_factory`), so the page of a post
//! whose slug is `has space` lives at `post:has_space:slug` on each of the 3 replicas. Real
//! MariaDB, real memcached processes, the shared Redis under a prefix of the test's own.

#[path = "../../tests/blog_common/mod.rs"]
mod blog_common;

use blog_common::*;
use lyanna_tasks::blog::config::Config;
use lyanna_tasks::blog::flush;
use lyanna_tasks::blog::Blog;
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slug_with_spaces_is_invalidated_where_lyanna_caches_it() {
    let db = TestDb::create().await;
    // 1: slug with spaces, tag 5, special topic 3; 2: a tab, which no normalisation makes a
    // key (skipped, the rest of its keys still go); 3: a neighbour whose keys must stay.
    db.exec(
        "INSERT INTO posts (id, created_at, title, author_id, slug) VALUES \
         (1, '2021-05-01 10:00:00', 'Has space', 1, 'has space'), \
         (2, '2022-05-01 10:00:00', 'Has tab', 1, 'has\ttab'), \
         (3, '2023-05-01 10:00:00', 'Other', 1, 'has-space')",
    )
    .await;
    db.exec("INSERT INTO post_tags (post_id, tag_id) VALUES (1, 5), (3, 6)")
        .await;
    db.exec("INSERT INTO special_item (post_id, `index`, special_id) VALUES (1, 0, 3)")
        .await;

    let prefix = format!("test:blog:{}:", uid());
    let mut conn = redis_conn().await;
    view(&mut conn, &prefix, 1, 41).await;
    view(&mut conn, &prefix, 2, 7).await;

    let mcs = [Memcached::start(), Memcached::start(), Memcached::start()];
    let hosts: Vec<String> = mcs.iter().map(Memcached::addr).collect();
    let vars: HashMap<&str, String> = [
        ("DB_URL", db.url()),
        ("MEMCACHED_HOST", hosts.join(",")),
        ("LYANNA_KEY_PREFIX", prefix.clone()),
    ]
    .into_iter()
    .collect();
    let blog = Blog::new(Config::from_lookup(|k| vars.get(k).cloned()).expect("config"));

    let keys = |list: &[&str]| list.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    // What lyanna's web app would have cached for posts 1 and 2 (post 2's slug page cannot
    // be cached at all: memcached refuses a key with a tab).
    let stale = keys(&[
        "post:has_space:slug",
        "Post:1:v2",
        "post:related_posts:1",
        "core:archive:2021",
        "core:tag:5",
        "special:3:items",
        "special:3:post_items",
        "special:by_pid:1",
        "Post:2:v2",
        "core:archive:2022",
        "core:feed",
        "core:posts:True:v2",
    ]);
    let unrelated = keys(&[
        "post:has-space:slug",
        "post:has_space_2:slug",
        "post:has__space:slug",
        "Post:3:v2",
        "core:tag:6",
        "core:archive:2023",
        "special:by_pid:3",
    ]);
    for mc in &mcs {
        mc.set_many(&stale);
        mc.set_many(&unrelated);
        assert_eq!(mc.present(&stale), stale, "seeded on {}", mc.port);
    }

    let report = flush::run(&blog, &mut conn).await.expect("flush");
    assert_eq!((report.written, report.settled), (2, 2), "{report:?}");
    assert_eq!(db.pageviews().await[&1], 41);
    for mc in &mcs {
        assert!(!mc.has("post:has_space:slug"), "stale page on {}", mc.port);
        assert_eq!(
            mc.present(&stale),
            Vec::<String>::new(),
            "stale on {}",
            mc.port
        );
        assert_eq!(
            mc.present(&unrelated),
            unrelated,
            "unrelated on {}",
            mc.port
        );
    }
    drop_prefix(&mut conn, &prefix).await;
}
