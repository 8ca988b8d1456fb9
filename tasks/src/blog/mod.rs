//! `WorkerSettings`: the lyanna blog's tasks, in place of its Python arq worker
//! (`functions = [mention_users]`, `cron_jobs = [cron(flush_to_db, hour=None)]`).
//!
//! # Layout
//! - [`config`]: the environment (the blog's variables and our `LYANNA_*` knobs) -> a
//!   validated [`config::Config`]; secrets print as `***`.
//! - [`keys`]: Redis and memcached key names, pure.
//! - [`db`]: the MariaDB pool (made on first use) and the batched queries.
//! - [`memcache`]: deletes on every memcached server a host name resolves to.
//! - [`mail`]: the SMTP transport (lettre, rustls) and which send errors deserve a retry.
//! - [`mention_text`]: mentioned names, mail subject, link and body, pure.
//! - [`mention`]: the `mention_users` task.
//! - [`flush`]: the `flush_to_db` cron task, with its Lua scripts `settle.lua` and
//!   `recheck.lua` beside it.
//!
//! Behaviour, configuration and what differs from the Python original: `docs/blog-tasks.md`.

pub mod config;
pub mod db;
pub mod flush;
pub mod keys;
pub mod mail;
pub mod memcache;
pub mod mention;
pub mod mention_text;

use config::Config;
use lyanna_task_api::{CronSchedule, TaskSet};
use std::sync::Arc;
use std::time::Duration;

/// The name `--settings` selects, the Python class's name.
pub const NAME: &str = "WorkerSettings";

/// What the tasks share: configuration and clients, built once per worker.
pub struct Blog {
    pub config: Config,
    pub keys: keys::RedisKeys,
    pub db: db::Db,
    pub memcache: memcache::Memcache,
    pub mailer: mail::Mailer,
    settle: redis::Script,
    recheck: redis::Script,
}

impl Blog {
    /// Clients are made here but connect on first use.
    pub fn new(config: Config) -> Self {
        Blog {
            keys: keys::RedisKeys::new(config.key_prefix.clone()),
            db: db::Db::new(config.db.clone()),
            memcache: memcache::Memcache::new(config.memcached.clone()),
            mailer: mail::Mailer::new(config.mail.clone()),
            settle: redis::Script::new(include_str!("settle.lua")),
            recheck: redis::Script::new(include_str!("recheck.lua")),
            config,
        }
    }
}

/// The task set from the process environment; `Err` names the bad variable.
pub fn task_set() -> Result<TaskSet, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    Ok(task_set_with(Arc::new(Blog::new(config))))
}

/// The task set over `blog` (tests build their own).
pub fn task_set_with(blog: Arc<Blog>) -> TaskSet {
    let schedule = CronSchedule {
        second: blog.config.flush_seconds.clone(),
        ..CronSchedule::default()
    };
    let (b1, b2, b3, b4, b5) = (blog.clone(), blog.clone(), blog.clone(), blog.clone(), blog);
    TaskSet::new(NAME)
        .function("mention_users", move |ctx, args| {
            mention::mention_users(b1.clone(), ctx, args)
        })
        .cron("flush_to_db", schedule, move |ctx, _args| {
            flush::flush_to_db(b2.clone(), ctx)
        })
        .on_startup(move || {
            let blog = b3.clone();
            async move {
                let c = &blog.config;
                tracing::info!(
                    db = %c.db_url_masked,
                    memcached = ?c.memcached,
                    mail = %if blog.mailer.enabled() { blog.mailer.describe() } else { "off (MAIL_SERVER, MAIL_USERNAME or MAIL_PASSWORD unset)".into() },
                    key_prefix = %c.key_prefix,
                    "WorkerSettings: blog tasks ready"
                );
                // Not fatal: jobs retry while the database is away, and /readyz reports it.
                if let Err(e) = blog.db.ping().await {
                    tracing::warn!(db = %c.db_url_masked, error = %e, "database not reachable yet");
                }
                Ok(())
            }
        })
        .on_shutdown(move || {
            let blog = b4.clone();
            async move {
                blog.db.close().await;
                Ok(())
            }
        })
        .ready_check(move || {
            let blog = b5.clone();
            async move {
                tokio::time::timeout(Duration::from_secs(4), blog.db.ping())
                    .await
                    .map_err(|_| "database: no answer within 4s".to_string())?
                    .map_err(|e| e.to_string())
            }
        })
}
