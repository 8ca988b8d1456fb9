//! Helpers of the dashboard's browser tests (`tests/ui_browser.rs`): a worker serving `/ui`
//! on a free port, a test's queue with Python arq's side of it (`tests/python/ui_dashboard.py`)
//! that cleans up after itself, readers of the pages' contract elements, Redis snapshots.
#![allow(dead_code)]

use crate::common::browser::Browser;
use crate::common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use testkit::http::{self, form_value};

/// How long anything the worker does asynchronously may take on a loaded 2-core machine.
pub const SETTLE: Duration = Duration::from_secs(30);

/// A worker (`--settings Diagnostics`) with its admin server, hence the dashboard, on a free
/// loopback port.
pub struct Dash {
    pub port: u16,
    pub token: Option<String>,
    /// Killed with the dashboard; its log is printed when the test panics.
    _worker: WorkerProcess,
}

impl Dash {
    /// Starts the worker on `queue` with `extra` flags (and `--admin-token` when `token`) and
    /// waits until its admin server answers.
    pub fn start(q: &Q, token: Option<&str>, extra: &[&str], env: &[(&str, &str)]) -> Dash {
        let port = free_port();
        let url = q.url.clone();
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec![
            "--settings",
            "Diagnostics",
            "--queue",
            &q.name,
            "--redis-url",
            &url,
            "--http-addr",
            &addr,
            "--poll-delay",
            "0.05",
        ];
        if let Some(t) = token {
            args.extend_from_slice(&["--admin-token", t]);
        }
        args.extend_from_slice(extra);
        let worker = WorkerProcess::spawn(&args, env);
        let up = poll(SETTLE, || {
            http::try_request(port, "GET", "/livez", &[], b"", Duration::from_secs(2))
                .is_ok_and(|r| r.status == 200)
        });
        assert!(
            up,
            "admin server on {port} never answered:\n{}",
            worker.log_text()
        );
        Dash {
            port,
            token: token.map(str::to_string),
            _worker: worker,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Logs in through the login form, as a person does; checks the session cookie's flags.
    pub fn login(&self, b: &Browser) {
        b.goto(&self.url("/ui/login"));
        b.wait_for("main#page[data-page=login]", SETTLE);
        b.fill(
            "form#login input[name=token]",
            self.token.as_deref().unwrap(),
        );
        b.submit("form#login");
        b.wait_for("main#page[data-page=overview]", SETTLE);
        let c = b
            .cookie("lyanna_ui")
            .unwrap_or_else(|| panic!("no lyanna_ui cookie after login: {:?}", b.cookies()));
        assert!(c.http_only, "session cookie not HttpOnly: {c:?}");
        assert_eq!(c.same_site, "Strict", "{c:?}");
        assert_eq!(c.path, "/ui", "{c:?}");
        assert_ne!(Some(c.value.as_str()), self.token.as_deref());
    }
}

/// Polls `f` every 50 ms until it is true or `timeout` passes.
pub use testkit::poll_until as poll;

/// `/ui/job/{id}` with the id's bytes percent-encoded.
pub fn job_path(id: &str) -> String {
    format!("/ui/job/{}", form_value(id))
}

/// `s` as a double-quoted CSS string (for attribute selectors on ids holding quotes).
pub fn css_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\a "),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A test's queue on a Redis (the shared one, or a private `redis-server`), and Python arq's
/// side of it (`tests/python/ui_dashboard.py`).
pub struct Q {
    pub name: String,
    pub url: String,
    /// A private Redis holds nothing but this test's keys.
    pub private: bool,
    /// The jobs enqueued (or tracked) on it, whose keys go on drop.
    ids: std::cell::RefCell<Vec<String>>,
}

impl Q {
    /// A fresh queue on the shared Redis.
    pub fn shared(test: &str) -> Q {
        Q {
            name: unique_queue(test),
            url: redis_url(),
            private: false,
            ids: Default::default(),
        }
    }

    /// A fresh queue on a private Redis (so the pages hold only this test's data).
    pub fn on(server: &RedisServer, test: &str) -> Q {
        Q {
            name: unique_queue(test),
            url: server.url(),
            private: true,
            ids: Default::default(),
        }
    }

    pub fn env(&self) -> [(&str, &str); 1] {
        [("TEST_REDIS_URL", self.url.as_str())]
    }

    /// Python `enqueue_job` of each spec (`{function, args, kwargs, job_id, defer_by}`).
    pub fn enqueue(&self, specs: Value) -> Vec<Option<String>> {
        let out = run_python_stdin(
            "ui_dashboard.py",
            &["enqueue", &self.name],
            &self.env(),
            &specs.to_string(),
        );
        let ids: Vec<Option<String>> = serde_json::from_str(out.trim()).expect("ids");
        self.ids.borrow_mut().extend(ids.iter().flatten().cloned());
        ids
    }

    /// A job made by someone else (a retry from the dashboard) whose keys go on drop too.
    pub fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    /// `enqueue` of specs arq must accept: their ids.
    pub fn enqueue_all(&self, specs: Value) -> Vec<String> {
        self.enqueue(specs)
            .into_iter()
            .map(|id| id.expect("arq refused to enqueue"))
            .collect()
    }

    /// One `ui_dashboard.py` command's JSON answer.
    pub fn py(&self, cmd: &str, args: &[&str]) -> Value {
        let mut a = vec![cmd, self.name.as_str()];
        a.extend_from_slice(args);
        let out = run_python("ui_dashboard.py", &a, &self.env());
        serde_json::from_str(out.trim()).expect("json")
    }

    /// Python's view of the job once it has a result.
    pub fn wait(&self, id: &str) -> Value {
        let v = self.py("wait", &[id, "30"]);
        assert!(v["success"].is_boolean(), "{id}: no result in 30 s: {v}");
        v
    }

    pub fn wait_status(&self, id: &str, status: &str) -> Value {
        let v = self.py("wait_status", &[id, status, "30"]);
        assert_eq!(v["status"], status, "{id}: {v}");
        v
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    pub fn get(&self, key: &str) -> Option<String> {
        redis::cmd("GET").arg(key).query(&mut self.conn()).unwrap()
    }
}

/// On the shared Redis, deletes the queue, every key under `{queue}:` (health keys, ticks,
/// ours) and the jobs' keys, passed or failed (declare the `Q` before the workers: they stop
/// first).
impl Drop for Q {
    fn drop(&mut self) {
        if self.private {
            return;
        }
        let Ok(mut c) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        let mut keys: Vec<String> = vec![self.name.clone()];
        if let Ok(iter) = redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg(format!("{}:*", self.name))
            .arg("COUNT")
            .arg(1000)
            .clone()
            .iter::<String>(&mut c)
        {
            keys.extend(iter.filter_map(Result::ok));
        }
        for id in self.ids.borrow().iter() {
            for prefix in ["arq:job:", "arq:result:", "arq:in-progress:", "arq:retry:"] {
                keys.push(format!("{prefix}{id}"));
            }
        }
        let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query(&mut c);
    }
}

/// The ids of the rows of the jobs page at `path` (up to 500), leaving out rows that show a
/// problem instead of arguments: results in the shared Redis that do not decode with this
/// worker's codec (other tests' msgpack results), which the page lists under every queue.
pub fn listed_ids(b: &Browser, d: &Dash, path: &str) -> BTreeSet<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    b.goto(&d.url(&format!("{path}{sep}limit=500")));
    b.wait_for("main#page[data-page=jobs] table#jobs", SETTLE);
    let ids = b.execute(
        "return Array.from(document.querySelectorAll('table#jobs tr[data-job-id]'))
           .filter(r => !r.querySelector('td[data-field=args] em'))
           .map(r => r.getAttribute('data-job-id'));",
        vec![],
    );
    serde_json::from_value(ids).expect("ids")
}

/// The unfiltered results list of the queue: the results Python arq attributes to the queue
/// are `expected`, and the page lists exactly them on a private Redis, at least them on the
/// shared one (where it also lists, under the worker's own queue, results it cannot
/// attribute: undecodable, or too big to index, which other tests leave there).
pub fn assert_results_listed(b: &Browser, d: &Dash, q: &Q, expected: &[String]) {
    let listed = listed_ids(b, d, "/ui/jobs?state=complete");
    let of_queue: BTreeSet<String> =
        serde_json::from_value(q.py("counts", &[])["result_ids"].clone()).expect("result ids");
    let expected: BTreeSet<String> = expected.iter().cloned().collect();
    assert_eq!(of_queue, expected, "the results arq sees for {}", q.name);
    if q.private {
        assert_eq!(listed, expected, "the results list");
    } else {
        let missing: Vec<&String> = expected.difference(&listed).collect();
        assert!(missing.is_empty(), "results not listed: {missing:?}");
    }
}

/// The text of the `dd[data-field=NAME]` of the job page shown (empty when absent).
pub fn dd(b: &Browser, name: &str) -> String {
    b.text_opt(&format!("dl#job dd[data-field={name}]"))
        .unwrap_or_default()
}

/// Waits until the page shown has a flash message starting with `prefix` (the page an
/// action's 303 leads to).
pub fn wait_flash(b: &Browser, prefix: &str) {
    let ok = poll(SETTLE, || {
        b.text_opt("div#flash")
            .is_some_and(|t| t.starts_with(prefix))
    });
    assert!(
        ok,
        "no flash {prefix:?} on {}:\n{}",
        b.current_url(),
        b.source()
    );
}

pub fn shot(b: &Browser, name: &str) {
    let path = project_root().join(format!("target/ui-screenshots/{name}.png"));
    b.screenshot_page(&path, 1600.0);
    let len = std::fs::metadata(&path).expect("screenshot").len();
    assert!(len > 5_000, "{name}.png is {len} bytes: a blank page?");
}

pub fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Whatever Redis holds about these jobs and the queue: the queue's members and scores, and
/// per id the job, result, in-progress and retry keys (DUMP) and its abort mark.
pub fn snapshot(q: &Q, ids: &[&str]) -> Vec<(String, Option<Vec<u8>>)> {
    let queue = &q.name;
    let mut c = q.conn();
    let members: Vec<(Vec<u8>, f64)> = redis::cmd("ZRANGE")
        .arg(queue)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut c)
        .unwrap();
    let mut out = vec![(
        format!("queue {queue}"),
        Some(format!("{members:?}").into_bytes()),
    )];
    for id in ids {
        for prefix in ["arq:job:", "arq:result:", "arq:in-progress:", "arq:retry:"] {
            let key = format!("{prefix}{id}");
            let v: Option<Vec<u8>> = redis::cmd("DUMP").arg(&key).query(&mut c).unwrap();
            out.push((key, v));
        }
        let abort: Option<f64> = redis::cmd("ZSCORE")
            .arg("arq:abort")
            .arg(id)
            .query(&mut c)
            .unwrap();
        out.push((
            format!("abort {id}"),
            abort.map(|s| s.to_string().into_bytes()),
        ));
    }
    out
}

/// arq's health string (`Mmm-DD HH:MM:SS j_complete=N j_failed=N ... queued=N`) as pairs.
pub fn health_fields(health: &str) -> Vec<(String, String)> {
    health
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
