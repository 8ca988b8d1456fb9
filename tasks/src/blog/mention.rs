//! `mention_users(post_id, content, author_gid)`: mail each user a comment @-mentions.
//!
//! Bad data finishes the job quietly (post deleted, commenter unknown, user without email);
//! a database or mail server that cannot be reached asks arq for a retry with backoff. A retry
//! must not mail anyone twice, so each address is recorded in a Redis set keyed by the job id
//! right after its mail is accepted, and skipped by later tries.

use super::db::PostRef;
use super::mail::SendError;
use super::mention_text::{body, mentioned_names, subject, Site};
use super::Blog;
use lyanna_task_api::{Args, JobContext, TaskError, Value};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// How long a job's record of mailed addresses lives: as long as arq's retry counter
/// (`arq:retry:{id}`, 88400 s); past that a rerun is a new job to arq too.
const MAILED_TTL_S: i64 = 88_400;
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// First try: `base`; then doubling, at most five minutes.
pub fn retry_delay(base: Duration, job_try: u32) -> Duration {
    let factor = 2u32.saturating_pow(job_try.saturating_sub(1).min(16));
    base.saturating_mul(factor).min(MAX_RETRY_DELAY)
}

fn post_ref(v: &Value) -> Option<PostRef> {
    match v {
        Value::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok().map(PostRef::Id)
        }
        Value::Str(s) => Some(PostRef::Slug(s.clone())),
        other => other.as_i64().map(PostRef::Id),
    }
}

pub async fn mention_users(
    blog: Arc<Blog>,
    ctx: JobContext,
    args: Args,
) -> Result<Value, TaskError> {
    const F: &str = "mention_users";
    args.at_most(F, 3)?;
    let post_arg = args
        .get(0, "post_id")
        .ok_or_else(|| TaskError::type_error(format!("{F}() missing argument 'post_id'")))?;
    let post_ref = post_ref(post_arg).ok_or_else(|| {
        TaskError::type_error(format!(
            "{F}() argument 'post_id' must be int or str, not {}",
            post_arg.type_name()
        ))
    })?;
    let content = args.string(F, 1, "content")?;
    let author_gid = args.int(F, 2, "author_id")?;
    let job = ctx.job_id.as_str();
    let retry = |what: &str, e: &dyn std::fmt::Display| {
        let defer = retry_delay(blog.config.retry_delay, ctx.job_try);
        warn!(job_id = job, error = %e, ?defer, "{F}: {what}; retrying");
        TaskError::retry(defer)
    };

    let Some(post) = blog
        .db
        .post(&post_ref)
        .await
        .map_err(|e| retry("database", &e))?
    else {
        info!(job_id = job, post = ?post_ref, "{F}: no such post; nothing to do");
        return Ok(Value::None);
    };
    // The web app passes the commenter's GitHub id; the original looked it up as a primary
    // key, so it mailed on behalf of whichever user happened to have that row id.
    let Some(commenter) = blog
        .db
        .user_by_gid(author_gid)
        .await
        .map_err(|e| retry("database", &e))?
    else {
        info!(
            job_id = job,
            gid = author_gid,
            "{F}: no such commenter; nothing to do"
        );
        return Ok(Value::None);
    };
    let names = mentioned_names(&content, &commenter.username);
    let mut users = blog
        .db
        .users_named(&names)
        .await
        .map_err(|e| retry("database", &e))?;
    // The column compares without case, so `@Alice` finds alice: still not the commenter.
    users.retain(|u| u.id != commenter.id);
    users.sort_by_key(|u| {
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&u.username))
            .unwrap_or(usize::MAX)
    });

    let site = Site {
        blog_url: &blog.config.blog_url,
        site_title: &blog.config.site_title,
        permalink: blog.config.permalink,
    };
    let subject = subject(&post.title);
    let mailed_key = blog.keys.mailed(job);
    let mut redis = None;
    let mut sent = 0usize;
    for user in &users {
        let email = user.email.as_deref().unwrap_or("").trim();
        if email.is_empty() {
            info!(job_id = job, user = %user.username, "{F}: user has no email; skipped");
            continue;
        }
        if !blog.mailer.enabled() {
            info!(
                job_id = job,
                to = email,
                "{F}: mail not configured (MAIL_SERVER, MAIL_USERNAME, MAIL_PASSWORD); not sent"
            );
            continue;
        }
        if redis.is_none() {
            let provider = ctx
                .redis
                .as_ref()
                .ok_or_else(|| TaskError::fail("mention_users needs the worker's Redis"))?;
            redis = Some(
                provider
                    .connection()
                    .await
                    .map_err(|e| retry("Redis", &e))?,
            );
        }
        let Some(conn) = redis.as_mut() else {
            continue;
        };
        let already: bool = redis::cmd("SISMEMBER")
            .arg(&mailed_key)
            .arg(email)
            .query_async(conn)
            .await
            .map_err(|e| retry("Redis", &e))?;
        if already {
            info!(
                job_id = job,
                to = email,
                "{F}: mailed by an earlier try; skipped"
            );
            continue;
        }
        match blog
            .mailer
            .send(email, &subject, body(&site, &user.username, &post))
            .await
        {
            Ok(()) => {
                sent += 1;
                info!(job_id = job, to = email, "{F}: mail sent");
            }
            Err(e @ (SendError::Refused(_) | SendError::BadAddress(_))) => {
                warn!(job_id = job, to = email, error = %e, "{F}: not mailed; skipped");
            }
            Err(e @ SendError::Unavailable(_)) => return Err(retry("mail", &e)),
        }
        // Recorded once the server took the mail (or refused it for good, which a retry would
        // not change). If this write fails we retry and that one user may get the mail twice;
        // recording before sending would risk never sending it.
        redis::pipe()
            .cmd("SADD")
            .arg(&mailed_key)
            .arg(email)
            .ignore()
            .cmd("EXPIRE")
            .arg(&mailed_key)
            .arg(MAILED_TTL_S)
            .ignore()
            .query_async::<()>(conn)
            .await
            .map_err(|e| retry("Redis", &e))?;
    }
    info!(
        job_id = job,
        post = post.id,
        mentioned = names.len(),
        sent,
        "{F}: done"
    );
    Ok(Value::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap() {
        let b = Duration::from_secs(10);
        assert_eq!(retry_delay(b, 1), Duration::from_secs(10));
        assert_eq!(retry_delay(b, 2), Duration::from_secs(20));
        assert_eq!(retry_delay(b, 3), Duration::from_secs(40));
        assert_eq!(retry_delay(b, 30), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(Duration::ZERO, 4), Duration::ZERO);
    }

    #[test]
    fn post_refs() {
        assert_eq!(post_ref(&Value::Int(3)), Some(PostRef::Id(3)));
        assert_eq!(post_ref(&Value::str("42")), Some(PostRef::Id(42)));
        assert_eq!(
            post_ref(&Value::str("hello")),
            Some(PostRef::Slug("hello".into()))
        );
        assert_eq!(post_ref(&Value::None), None);
    }
}
