//! MariaDB: a connection pool made on first use (so `--help` and config validation need no
//! database), and the few queries the tasks run, batched: a flush of 500 posts is four
//! round trips, not 500. Tables are the blog's (`tasks/schema.sql` mirrors them for tests).

use super::keys::PostCacheInfo;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

/// Longest a query may take before we call the database unreachable.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database: no answer within {0:?}")]
    Timeout(Duration),
}

/// A post as mention_users needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub id: i64,
    pub title: String,
    pub slug: Option<String>,
    /// 1 = a page (`/page/{slug}`).
    pub kind: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GithubUser {
    pub id: i64,
    pub gid: i64,
    pub username: String,
    pub email: Option<String>,
}

/// How a job names its post: the web app passes the id; the original's `Post.cache` also
/// took a slug.
#[derive(Debug, Clone, PartialEq)]
pub enum PostRef {
    Id(i64),
    Slug(String),
}

pub struct Db {
    options: MySqlConnectOptions,
    pool: OnceLock<MySqlPool>,
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

async fn timed<T>(
    f: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, DbError> {
    tokio::time::timeout(QUERY_TIMEOUT, f)
        .await
        .map_err(|_| DbError::Timeout(QUERY_TIMEOUT))?
        .map_err(DbError::from)
}

impl Db {
    pub fn new(options: MySqlConnectOptions) -> Self {
        Db {
            options,
            pool: OnceLock::new(),
        }
    }

    /// The pool, made on first use (sqlx spawns its upkeep, so this needs the runtime).
    fn pool(&self) -> &MySqlPool {
        self.pool.get_or_init(|| {
            MySqlPoolOptions::new()
                .max_connections(5)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(5))
                .idle_timeout(Duration::from_secs(300))
                .connect_lazy_with(self.options.clone())
        })
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        timed(sqlx::query("SELECT 1").execute(self.pool())).await?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(pool) = self.pool.get() {
            let _ = tokio::time::timeout(Duration::from_secs(5), pool.close()).await;
        }
    }

    pub async fn post(&self, r: &PostRef) -> Result<Option<Post>, DbError> {
        let q = "SELECT id, title, slug, type FROM posts WHERE ";
        let row = match r {
            PostRef::Id(id) => {
                timed(
                    sqlx::query(AssertSqlSafe(format!("{q}id = ?")))
                        .bind(id)
                        .fetch_optional(self.pool()),
                )
                .await?
            }
            PostRef::Slug(slug) => {
                timed(
                    sqlx::query(AssertSqlSafe(format!("{q}slug = ? ORDER BY id LIMIT 1")))
                        .bind(slug)
                        .fetch_optional(self.pool()),
                )
                .await?
            }
        };
        row.map(|row| {
            Ok(Post {
                id: row.try_get("id")?,
                title: row.try_get("title")?,
                slug: row.try_get("slug")?,
                kind: row.try_get("type")?,
            })
        })
        .transpose()
    }

    pub async fn user_by_gid(&self, gid: i64) -> Result<Option<GithubUser>, DbError> {
        let row = timed(
            sqlx::query("SELECT id, gid, username, email FROM github_users WHERE gid = ?")
                .bind(gid)
                .fetch_optional(self.pool()),
        )
        .await?;
        row.as_ref().map(user).transpose()
    }

    /// Users whose username is one of `names` (the column's collation decides case).
    pub async fn users_named(&self, names: &[String]) -> Result<Vec<GithubUser>, DbError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, gid, username, email FROM github_users WHERE username IN ({}) ORDER BY id",
            placeholders(names.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for n in names {
            q = q.bind(n);
        }
        let rows = timed(q.fetch_all(self.pool())).await?;
        rows.iter().map(user).collect()
    }

    /// Slug, year, tags and special topics of each post in `ids` that exists.
    pub async fn cache_info(&self, ids: &[i64]) -> Result<Vec<PostCacheInfo>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = placeholders(ids.len());
        let bind_all = |sql: String| {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in ids {
                q = q.bind(id);
            }
            q
        };
        let pool = self.pool();
        // Three reads on three pooled connections at once: one round trip of latency.
        let (posts, tags, specials) = tokio::try_join!(
            timed(
                bind_all(format!(
                    "SELECT id, slug, CAST(YEAR(created_at) AS SIGNED) AS year \
                     FROM posts WHERE id IN ({list})"
                ))
                .fetch_all(pool)
            ),
            timed(
                bind_all(format!(
                    "SELECT post_id, tag_id FROM post_tags WHERE post_id IN ({list}) \
                     ORDER BY updated_at, id"
                ))
                .fetch_all(pool)
            ),
            timed(
                bind_all(format!(
                    "SELECT post_id, special_id FROM special_item WHERE post_id IN ({list}) \
                     ORDER BY id"
                ))
                .fetch_all(pool)
            ),
        )?;
        let mut by_id: HashMap<i64, PostCacheInfo> = HashMap::with_capacity(posts.len());
        for row in &posts {
            let id: i64 = row.try_get("id")?;
            by_id.insert(
                id,
                PostCacheInfo {
                    id,
                    slug: row.try_get("slug")?,
                    year: row.try_get::<Option<i64>, _>("year")?.map(|y| y as i32),
                    tag_ids: Vec::new(),
                    special_ids: Vec::new(),
                },
            );
        }
        for (rows, col, tags) in [(&tags, "tag_id", true), (&specials, "special_id", false)] {
            for row in rows {
                let post_id: i64 = row.try_get("post_id")?;
                let other: i64 = row.try_get(col)?;
                if let Some(p) = by_id.get_mut(&post_id) {
                    let list = if tags {
                        &mut p.tag_ids
                    } else {
                        &mut p.special_ids
                    };
                    if !list.contains(&other) {
                        list.push(other);
                    }
                }
            }
        }
        let mut out: Vec<PostCacheInfo> = by_id.into_values().collect();
        out.sort_by_key(|p| p.id);
        Ok(out)
    }

    /// Sets each post's page-view count, in one statement. Counts are absolute totals, so
    /// writing the same batch again changes nothing.
    pub async fn write_pageviews(&self, counts: &[(i64, i64)]) -> Result<(), DbError> {
        if counts.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE posts SET pageview = CASE id {} END WHERE id IN ({})",
            vec!["WHEN ? THEN ?"; counts.len()].join(" "),
            placeholders(counts.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (id, pv) in counts {
            q = q.bind(id).bind(pv);
        }
        for (id, _) in counts {
            q = q.bind(id);
        }
        timed(q.execute(self.pool())).await?;
        Ok(())
    }
}

fn user(row: &MySqlRow) -> Result<GithubUser, DbError> {
    Ok(GithubUser {
        id: row.try_get("id")?,
        gid: row.try_get("gid")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
    })
}
