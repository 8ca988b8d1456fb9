//! Test harness for the blog's tasks (`WorkerSettings`), shared by the root `tests/blog_*.rs`
//! and by `tasks/tests/` (included there with `#[path]`, so it uses nothing of
//! `tests/common`; what both share comes from the `testkit` crate): a scratch MariaDB
//! database per test, memcached processes on free ports, the SMTP sink, the web app's page
//! views, and a Redis provider.
//!
//! Env: `TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`), `TEST_REDIS_URL`.
#![allow(dead_code, unused_imports)]

pub mod memcached;
pub mod smtp;

pub use memcached::Memcached;
/// `cut()` / `restore()` make a server unreachable on cue (one proxy, in `testkit`).
pub use testkit::proxy;
/// Polls until true or a timeout; never asserts a timing, only bounds the wait.
pub use testkit::wait_until as eventually;
pub use testkit::{
    block_on_own_thread, free_port, mysql_url, redis_url, short_uid as uid, wait_for_port,
};

use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, Executor};

pub const SCHEMA: &str = include_str!("../../tasks/schema.sql");

/// The workspace root, from the root crate's tests or from `tasks/tests`.
pub fn repo_root() -> std::path::PathBuf {
    let here = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if here.join("tasks/schema.sql").exists() {
        here
    } else {
        here.parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or(here)
    }
}

/// A database `lyanna_test_<random>` with the blog's tables, dropped when this is dropped.
pub struct TestDb {
    pub name: String,
    pub pool: MySqlPool,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = format!("lyanna_test_{}", uid());
        let admin = MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&mysql_url())
            .await
            .expect("connect to the test MariaDB (TEST_MYSQL_URL)");
        admin
            .execute(AssertSqlSafe(format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
            )))
            .await
            .expect("create test database");
        admin.close().await;
        let pool = MySqlPoolOptions::new()
            .max_connections(4)
            .connect(&format!("{}/{name}", mysql_url()))
            .await
            .expect("connect to the test database");
        for stmt in SCHEMA.split(";\n").map(str::trim) {
            let sql: String = stmt
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            if !sql.trim().is_empty() {
                pool.execute(AssertSqlSafe(sql)).await.expect("schema");
            }
        }
        TestDb { name, pool }
    }

    /// The `DB_URL` the worker gets for this database.
    pub fn url(&self) -> String {
        format!("{}/{}?charset=utf8mb4", mysql_url(), self.name)
    }

    /// The same database through another host:port (a proxy).
    pub fn url_via(&self, port: u16) -> String {
        let base = mysql_url();
        let (scheme_user, _) = base.rsplit_once('@').unwrap_or(("mysql://root", ""));
        format!(
            "{scheme_user}@127.0.0.1:{port}/{}?charset=utf8mb4",
            self.name
        )
    }

    pub async fn exec(&self, sql: &str) {
        self.pool
            .execute(AssertSqlSafe(sql.to_string()))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Inserts posts `1..=n` (`Post {i}`, slug `post-{i}`, year 2019 + i % 5), each with
    /// tag `i % 7 + 1` and, every third, special topic `i % 4 + 1`.
    pub async fn seed_posts(&self, n: usize) {
        let mut posts = Vec::new();
        let mut tags = Vec::new();
        let mut specials = Vec::new();
        for i in 1..=n {
            posts.push(format!(
                "({i}, '{}-03-01 10:00:00', 'Post {i}', 1, 'post-{i}', '', 0, 0, 1)",
                2019 + i % 5
            ));
            tags.push(format!("({i}, {})", i % 7 + 1));
            if i % 3 == 0 {
                specials.push(format!("({i}, 0, {})", i % 4 + 1));
            }
        }
        for chunk in posts.chunks(1000) {
            self.exec(&format!(
                "INSERT INTO posts (id, created_at, title, author_id, slug, summary, type, pageview, status) VALUES {}",
                chunk.join(",")
            ))
            .await;
        }
        for chunk in tags.chunks(1000) {
            self.exec(&format!(
                "INSERT INTO post_tags (post_id, tag_id) VALUES {}",
                chunk.join(",")
            ))
            .await;
        }
        for chunk in specials.chunks(1000) {
            self.exec(&format!(
                "INSERT INTO special_item (post_id, `index`, special_id) VALUES {}",
                chunk.join(",")
            ))
            .await;
        }
    }

    /// `id -> pageview` of every post.
    pub async fn pageviews(&self) -> std::collections::HashMap<i64, i64> {
        sqlx::query_as::<_, (i32, i32)>("SELECT id, pageview FROM posts")
            .fetch_all(&self.pool)
            .await
            .expect("read pageviews")
            .into_iter()
            .map(|(id, pv)| (i64::from(id), i64::from(pv)))
            .collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        block_on_own_thread(async move {
            if let Ok(admin) = MySqlPoolOptions::new()
                .max_connections(1)
                .connect(&mysql_url())
                .await
            {
                let _ = admin
                    .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                    .await;
                admin.close().await;
            }
        });
    }
}

/// The web app's page view: SADD the id, then HINCRBY its count, two separate commands.
pub async fn view(conn: &mut redis::aio::MultiplexedConnection, prefix: &str, id: i64, n: i64) {
    let _: () = redis::cmd("SADD")
        .arg(format!("{prefix}visited_post_ids"))
        .arg(id)
        .query_async(conn)
        .await
        .expect("SADD");
    let _: i64 = redis::cmd("HINCRBY")
        .arg(format!("{prefix}pageview:{id}:v2"))
        .arg("pv")
        .arg(n)
        .query_async(conn)
        .await
        .expect("HINCRBY");
}

/// A connection to the shared test Redis.
pub async fn redis_conn() -> redis::aio::MultiplexedConnection {
    testkit::redis_conn(&redis_url()).await
}

/// Deletes every key under `prefix` (the test's own; never anything else).
pub async fn drop_prefix(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query_async(conn).await;
    }
}

/// `id -> pv` as the web app counted, for ids `1..=n`.
pub async fn redis_counts(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    n: i64,
) -> std::collections::HashMap<i64, i64> {
    let mut pipe = redis::pipe();
    for id in 1..=n {
        pipe.hget(format!("{prefix}pageview:{id}:v2"), "pv");
    }
    let vals: Vec<Option<i64>> = pipe.query_async(conn).await.expect("HGET");
    (1..=n)
        .zip(vals)
        .filter_map(|(id, v)| v.map(|v| (id, v)))
        .collect()
}

pub async fn scard(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> usize {
    redis::cmd("SCARD")
        .arg(key)
        .query_async(conn)
        .await
        .expect("SCARD")
}

/// Gives tasks run in the test process a connection to the test Redis, as the worker does.
pub struct TestRedis(pub redis::Client);

impl TestRedis {
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(TestRedis(
            redis::Client::open(redis_url()).expect("redis url"),
        ))
    }
}

impl lyanna_task_api::RedisProvider for TestRedis {
    fn connection(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<redis::aio::MultiplexedConnection, redis::RedisError>>
    {
        Box::pin(self.0.get_multiplexed_async_connection())
    }
}
