//! mention_users end to end: the Python arq client enqueues it the way the web app does
//! (pickle), our worker binary runs it against a scratch MariaDB database, and an aiosmtpd
//! sink stores the mails: one per mentioned user with an email, exact subject, recipients and
//! links; none twice across retries; over plain SMTP, implicit TLS and STARTTLS. Every mail
//! is read back with Python's `email` package as a mail client would: MIME headers, the
//! encoded Subject, Date, Message-ID, the exact HTML, no parser defect.

mod blog_common;
mod common;

use blog_common::smtp::{Mail, SinkOptions, SmtpSink, PASSWORD, USER};
use blog_common::TestDb;
use common::{python, redis_url, run_python, unique_queue, worker_at_with, WorkerProcess};
use std::collections::HashMap;
use std::time::Duration;

const BLOG_URL: &str = "https://blog.example.org";
const SITE_TITLE: &str = "小明明s à domicile";
const TITLE: &str = "Rust 与 Python <迁移> & \"更多\"";

/// 99 characters (the column holds 100), 297 bytes of UTF-8: the Subject needs several
/// encoded words over folded lines, none of which may split a character.
fn long_title() -> String {
    format!("{}（完）", "迁移笔记".repeat(24))
}

/// Posts 7 (article, slug), 8 (page), 9 (article, empty slug), 10 (slug, a long Chinese
/// title); commenter dave (gid 1001);
/// alice, bob.smith, li李四, josé_x, carol (no email), u01..u22.
async fn seed(db: &TestDb) {
    db.exec(&format!(
        "INSERT INTO posts (id, title, author_id, slug, type) VALUES \
         (7, '{}', 1, 'rust-vs-python', 0), (8, 'About me', 1, 'about', 1), \
         (9, 'No slug yet', 1, '', 0), (10, '{}', 1, 'long', 0)",
        TITLE.replace('\'', "''"),
        long_title()
    ))
    .await;
    let mut users = vec![
        "(1001, 'dave', 'dave@example.com')".to_string(),
        "(2001, 'alice', 'alice@example.com')".into(),
        "(2002, 'bob.smith', 'bob@example.com')".into(),
        "(2003, 'li李四', 'lisi@example.com')".into(),
        "(2004, 'josé_x', 'jose@example.com')".into(),
        "(2005, 'carol', '')".into(),
    ];
    for i in 1..=22 {
        users.push(format!("({}, 'u{i:02}', 'u{i:02}@example.com')", 3000 + i));
    }
    db.exec(&format!(
        "INSERT INTO github_users (gid, username, email) VALUES {}",
        users.join(",")
    ))
    .await;
}

struct Setup {
    db: TestDb,
    queue: String,
    prefix: String,
}

impl Setup {
    async fn new(test: &str) -> Self {
        let db = TestDb::create().await;
        seed(&db).await;
        Setup {
            db,
            queue: unique_queue(test),
            prefix: format!("test:blog:{}:", blog_common::uid()),
        }
    }

    /// A worker serving WorkerSettings on this test's queue, mailing to `port`.
    fn worker(&self, port: u16, extra_env: &[(&str, String)]) -> WorkerProcess {
        let url = redis_url();
        let mut env: Vec<(&str, String)> = vec![
            ("DB_URL", self.db.url()),
            // The flush cron may tick during a test: give it a dead memcached, it only logs.
            (
                "MEMCACHED_HOST",
                format!("127.0.0.1:{}", blog_common::free_port()),
            ),
            ("LYANNA_KEY_PREFIX", self.prefix.clone()),
            ("BLOG_URL", BLOG_URL.into()),
            ("SITE_TITLE", SITE_TITLE.into()),
            ("PERMALINK_TYPE", "slug".into()),
            ("MAIL_SERVER", "127.0.0.1".into()),
            ("MAIL_PORT", port.to_string()),
            ("MAIL_TLS", "off".into()),
            ("MAIL_USERNAME", USER.into()),
            ("MAIL_PASSWORD", PASSWORD.into()),
            ("LYANNA_RETRY_DELAY", "0.5".into()),
        ];
        for (k, v) in extra_env {
            env.retain(|(e, _)| e != k);
            env.push((k, v.clone()));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        worker_at_with(&url, &self.queue, &["--settings", "WorkerSettings"], &env)
    }

    /// Enqueues with the Python client; with `wait`, returns its result as JSON.
    fn mention(&self, post_id: i64, content: &str, wait: Option<u64>) -> serde_json::Value {
        let post = post_id.to_string();
        let wait_s = wait.map(|w| w.to_string());
        let mut args = vec!["mention", self.queue.as_str(), &post, content, "1001"];
        if let Some(w) = &wait_s {
            args.push(w);
        }
        let out = run_python("blog_client.py", &args, &[]);
        match wait {
            Some(_) => serde_json::from_str(out.trim()).expect("result JSON"),
            None => serde_json::Value::String(out.trim().to_string()),
        }
    }
}

impl Drop for Setup {
    /// The test's own Redis keys (mailed-address sets, the queue); never anything else.
    fn drop(&mut self) {
        let (prefix, queue) = (self.prefix.clone(), self.queue.clone());
        blog_common::block_on_own_thread(async move {
            let mut c = blog_common::redis_conn().await;
            blog_common::drop_prefix(&mut c, &prefix).await;
            common::drop_queue(&mut c, &queue).await;
        });
    }
}

fn expected_body(username: &str, url: &str, title: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#x27;")
    };
    format!(
        "Hi, {}:\n\n有人在 <a href=\"{}\" target=\"_blank\">{}</a> 的 <a href=\"{}\" target=\"_blank\">{}</a> 这篇文章下的评论中提到了你! 快去看看把~\n\nFrom: <a href=\"https://github.com/dongweiming/lyanna\" target=\"_blank\">Lyanna</a>\n",
        esc(username),
        esc(BLOG_URL),
        esc(SITE_TITLE),
        esc(url),
        esc(title)
    )
}

/// A body as written: MIME text travels with CRLF line ends (RFC 2046 canonical form).
fn as_written(body: &str) -> String {
    body.replace("\r\n", "\n")
}

/// What a mail client makes of `m`: the MIME headers it needs, the Subject (RFC 2047 encoded
/// words on the wire, ASCII only) decoded to the exact text, a Date of now, a Message-ID
/// under the sender's domain, and no defect anywhere.
fn assert_mail_client_reads(m: &Mail, title: &str) {
    let raw = &m.raw_headers;
    assert_eq!(m.mime_version, "1.0", "{raw}");
    assert_eq!(m.content_type, "text/html", "{raw}");
    assert_eq!(m.charset.as_deref(), Some("utf-8"), "{raw}");
    assert_eq!(m.transfer_encoding, "base64", "{raw}");
    assert!(m.defects.is_empty(), "{:?}\n{raw}", m.defects);
    assert!(raw.is_ascii(), "8-bit header bytes:\n{raw}");
    assert!(raw.contains("\r\nSubject: =?utf-8?b?"), "{raw}");
    assert_eq!(m.subject, format!("有人在 {title} 的评论中提到了你!"));
    let date = chrono::DateTime::parse_from_rfc3339(&m.date)
        .unwrap_or_else(|e| panic!("Date {:?}: {e}\n{raw}", m.date));
    let skew = chrono::Utc::now().signed_duration_since(date).num_seconds();
    assert!((-5..300).contains(&skew), "Date {} is {skew}s ago", m.date);
    assert!(
        m.message_id.starts_with('<') && m.message_id.ends_with("@example.com>"),
        "{raw}"
    );
}

fn by_recipient(mails: &[Mail]) -> HashMap<String, Vec<Mail>> {
    let mut m: HashMap<String, Vec<Mail>> = HashMap::new();
    for mail in mails {
        m.entry(mail.to.clone()).or_default().push(mail.clone());
    }
    m
}

async fn wait_for_mails(sink: &SmtpSink, n: usize) -> Vec<Mail> {
    blog_common::eventually(Duration::from_secs(30), || async {
        sink.mails().len() >= n
    })
    .await;
    sink.mails()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_enqueued_mentions_mail_each_mentioned_user_once() {
    let s = Setup::new("blog-mention").await;
    let sink = SmtpSink::start(&python(), blog_common::free_port(), SinkOptions::default());
    let _w = s.worker(sink.port, &[]);

    let extra: String = (1..=22).map(|i| format!(" @u{i:02}")).collect();
    let content =
        format!("@dave @Dave 你好 @alice，@bob.smith! cc @li李四 @josé_x @carol @ghost{extra}");
    let r = s.mention(7, &content, Some(60));
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["result"], "None", "{r}");
    assert_eq!(r["tries"], 1, "{r}");
    // A page, and an article without a slug (its id makes the link).
    for post in [8, 9, 10] {
        let r = s.mention(post, "谢谢 @alice", Some(60));
        assert_eq!(r["success"], true, "{r}");
    }

    // Names kept (20): Dave (the commenter, matched without case), alice, bob.smith, li李四,
    // josé_x, carol (no email), ghost (no such user), u01..u13.
    let mut want: Vec<String> = ["alice", "bob", "lisi", "jose"]
        .iter()
        .map(|u| format!("{u}@example.com"))
        .collect();
    want.extend((1..=13).map(|i| format!("u{i:02}@example.com")));
    let mails = wait_for_mails(&sink, want.len() + 3).await;
    let got = by_recipient(&mails);
    let mut recipients: Vec<&String> = got.keys().collect();
    recipients.sort();
    let mut want_sorted: Vec<&String> = want.iter().collect();
    want_sorted.sort();
    assert_eq!(recipients, want_sorted, "who was mailed");
    assert_eq!(got["alice@example.com"].len(), 4);
    let mut ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), mails.len(), "a Message-ID used twice");

    let names: HashMap<&str, &str> = [
        ("alice@example.com", "alice"),
        ("bob@example.com", "bob.smith"),
        ("lisi@example.com", "li李四"),
        ("jose@example.com", "josé_x"),
    ]
    .into_iter()
    .collect();
    for (to, list) in &got {
        let username = names
            .get(to.as_str())
            .map(|s| s.to_string())
            .unwrap_or_else(|| to.trim_end_matches("@example.com").to_string());
        let first = &list[0];
        assert_eq!(first.rcpt_tos, vec![to.clone()]);
        assert_eq!(first.mail_from, USER);
        assert_eq!(first.from, USER);
        assert_eq!(first.auth_login.as_deref(), Some(USER));
        assert_mail_client_reads(first, TITLE);
        assert_eq!(
            as_written(&first.body),
            expected_body(
                &username,
                &format!("{BLOG_URL}/post/rust-vs-python/"),
                TITLE
            ),
            "body to {to}"
        );
    }
    let alice = &got["alice@example.com"];
    let long = alice
        .iter()
        .find(|m| m.body.contains("/post/long/"))
        .expect("the long title's mail");
    assert_mail_client_reads(long, &long_title());
    assert_eq!(
        as_written(&long.body),
        expected_body("alice", &format!("{BLOG_URL}/post/long/"), &long_title())
    );
    let bodies: Vec<String> = alice.iter().map(|m| as_written(&m.body)).collect();
    assert!(bodies.contains(&expected_body(
        "alice",
        &format!("{BLOG_URL}/page/about"),
        "About me"
    )));
    assert!(bodies.contains(&expected_body(
        "alice",
        &format!("{BLOG_URL}/post/9/"),
        "No slug yet"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_on_the_first_try_each_user_gets_one_mail() {
    let s = Setup::new("blog-mention-down").await;
    let port = blog_common::free_port();
    let w = s.worker(port, &[]);
    let id = s.mention(7, "@alice @bob.smith", None);
    let id = id.as_str().expect("job id").to_string();
    // Nothing listens yet: the first try asks for a retry.
    assert!(
        blog_common::eventually(Duration::from_secs(30), || async {
            w.log_text().contains("retrying")
        })
        .await,
        "no retry logged:\n{}",
        w.log_text()
    );
    let sink = SmtpSink::start(&python(), port, SinkOptions::default());
    let mails = wait_for_mails(&sink, 2).await;
    let result = wait_result(&s.queue, &id);
    assert_eq!(result["success"], true, "{result}");
    assert!(result["tries"].as_i64().unwrap_or(0) >= 2, "{result}");
    let got = by_recipient(&mails);
    assert_eq!(got.len(), 2, "{mails:?}");
    assert!(got.values().all(|l| l.len() == 1), "{mails:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_does_not_mail_anyone_twice() {
    let s = Setup::new("blog-mention-retry").await;
    // alice is mailed on the first try; bob is refused for now (451): the job is retried,
    // and the retry mails bob and li李四 but not alice again.
    let sink = SmtpSink::start(
        &python(),
        blog_common::free_port(),
        SinkOptions {
            tls: "off",
            reject_once: &["bob@example.com"],
        },
    );
    let _w = s.worker(sink.port, &[]);
    let r = s.mention(7, "@alice @bob.smith @li李四", Some(60));
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["tries"], 2, "{r}");
    let got = by_recipient(&sink.mails());
    let mut counts: Vec<(String, usize)> = got.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    counts.sort();
    assert_eq!(
        counts,
        vec![
            ("alice@example.com".to_string(), 1),
            ("bob@example.com".to_string(), 1),
            ("lisi@example.com".to_string(), 1)
        ]
    );
}

async fn mail_over_tls(mode: &str) {
    let s = Setup::new(&format!("blog-mention-{mode}")).await;
    let sink = SmtpSink::start(
        &python(),
        blog_common::free_port(),
        SinkOptions {
            tls: mode,
            reject_once: &[],
        },
    );
    let _w = s.worker(
        sink.port,
        &[
            ("MAIL_SERVER", "localhost".into()),
            ("MAIL_TLS", mode.into()),
            ("MAIL_CA_FILE", sink.ca_file().to_string_lossy().to_string()),
        ],
    );
    let r = s.mention(7, "@alice", Some(60));
    assert_eq!(r["success"], true, "{r}");
    let mails = wait_for_mails(&sink, 1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].tls,
        "{mode}: the mail came over a plain connection"
    );
    assert_eq!(mails[0].to, "alice@example.com");
    assert_mail_client_reads(&mails[0], TITLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_over_implicit_tls() {
    mail_over_tls("implicit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_over_starttls() {
    mail_over_tls("starttls").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_mail_settings_nothing_is_sent_and_the_job_succeeds() {
    let s = Setup::new("blog-mention-nomail").await;
    let sink = SmtpSink::start(&python(), blog_common::free_port(), SinkOptions::default());
    let w = s.worker(sink.port, &[("MAIL_PASSWORD", String::new())]);
    let r = s.mention(7, "@alice", Some(60));
    assert_eq!(r["success"], true, "{r}");
    assert!(
        w.log_text().contains("mail not configured"),
        "{}",
        w.log_text()
    );
    assert!(sink.mails().is_empty());
}

/// The result as `lyanna-worker result` prints it.
fn wait_result(queue: &str, id: &str) -> serde_json::Value {
    let url = redis_url();
    let out = common::cli(&[
        "--queue",
        queue,
        "--redis-url",
        &url,
        "result",
        id,
        "--wait",
        "60",
    ]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "result of {id}: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
