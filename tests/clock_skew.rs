//! Clock skew between hosts (issue 10): a worker whose clock runs 5 s ahead (libfaketime)
//! beside normal ones runs no cron tick twice and skips none; an abort still aborts when the
//! producers' clocks disagree by 5 s.
//!
//! Both use a private Redis: cron ids (`cron:tick:{ms}`) and `arq:abort` are global keys, so
//! another test's per-second cron takes our ticks, and any Python arq worker with aborts on
//! drops an abort stamped more than 60 ms ahead of its own clock (arq's trim,
//! `zremrangebyscore(min=now + 60)`), whichever queue it serves.

mod common;

use common::*;
use std::time::Duration;

fn env_with<'a>(
    owned: &'a [(String, String)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut env: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.extend_from_slice(extra);
    env
}

/// Two normal workers and one 5 s ahead, a cron tick every second for 20 s; then the fast one
/// stops and the others run on for 8 s (the ticks it had enqueued ahead are theirs then).
/// Every tick ran exactly once, with no second missing between the first and the last.
#[test]
fn cron_ticks_run_once_with_a_worker_5s_ahead() {
    let srv = RedisServer::start(&[]);
    let url = srv.url();
    let q = unique_queue("skew-cron");
    let cron = ("DIAGNOSTICS_CRON", "every-second");
    let fake = faketime_env("+5s");
    let start = |env: &[(&str, &str)]| worker_at_with(&url, &q, &[], env);
    let mut fast = start(&env_with(&fake, &[cron]));
    let mut normal: Vec<_> = (0..2).map(|_| start(&[cron])).collect();
    std::thread::sleep(Duration::from_secs(20));
    assert_eq!(fast.terminate(Duration::from_secs(20)), Some(0));
    std::thread::sleep(Duration::from_secs(8));
    for w in &mut normal {
        assert_eq!(w.terminate(Duration::from_secs(20)), Some(0));
    }
    let ticks = take_cron_ticks(&url, &q);
    let ran_fast = count_lines(&fast.log_text(), "→ cron:tick:");
    let ran_normal: usize = normal
        .iter()
        .map(|w| count_lines(&w.log_text(), "→ cron:tick:"))
        .sum();
    let mut secs: Vec<i64> = ticks
        .iter()
        .map(|t| {
            t.strip_prefix("cron:tick:")
                .and_then(|ms| ms.parse::<i64>().ok())
                .unwrap_or_else(|| panic!("not an arq cron id: {t}"))
                / 1000
        })
        .collect();
    secs.sort();
    let mut unique = secs.clone();
    unique.dedup();
    let span = secs.last().zip(secs.first()).map_or(0, |(l, f)| l - f + 1);
    println!(
        "skewed cron: {} ticks ({} distinct, span {span} s); run by the fast worker {ran_fast}, by the normal ones {ran_normal}",
        ticks.len(),
        unique.len()
    );
    assert!(
        ticks.len() >= 24,
        "only {} ticks in 28 s: {ticks:?}",
        ticks.len()
    );
    assert_eq!(
        unique.len(),
        ticks.len(),
        "{} ticks ran twice: {ticks:?}",
        ticks.len() - unique.len()
    );
    assert_eq!(span as usize, unique.len(), "ticks skipped: {ticks:?}");
    assert!(
        ran_fast > 0 && ran_normal > 0,
        "both clocks took part (fast {ran_fast}, normal {ran_normal})"
    );
}

/// Runs `aborts.py` with `env`; returns its stdout.
fn aborts(args: &[&str], env: &[(&str, &str)]) -> String {
    run_python("aborts.py", args, env)
}

fn check_aborted(out: &str, ids: &[&str]) {
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    for id in ids {
        let r = &v[*id];
        assert_eq!(r["aborted"], true, "{id}: {out}");
        assert_eq!(r["raised"], "CancelledError", "{id}: {out}");
        assert_eq!(r["status"], "complete", "{id}: {out}");
        assert_eq!(r["success"], false, "{id}: {out}");
    }
}

/// Our worker (max_jobs 1) runs one job with a second queued behind it. Python producers 5 s
/// apart enqueue and abort them, both ways round: each time the running and the queued job
/// end aborted (`job.abort()` returns True, `job.result()` raises CancelledError).
#[test]
fn abort_from_producers_5s_apart_still_aborts() {
    let srv = RedisServer::start(&[]);
    let url = srv.url();
    let q = unique_queue("skew-abort");
    let mut w = worker_at(&url, &q, &["--max-jobs", "1", "--allow-abort-jobs"]);
    let fake = faketime_env("+5s");
    let on_time = [("TEST_REDIS_URL", url.as_str())];
    let fast = env_with(&fake, &on_time);
    for (enqueuer, aborter, what) in [
        (
            fast.as_slice(),
            &on_time[..],
            "enqueued 5 s ahead, aborted on time",
        ),
        (
            &on_time[..],
            fast.as_slice(),
            "enqueued on time, aborted 5 s ahead",
        ),
    ] {
        let out = aborts(&["enqueue", &q, "30000"], enqueuer);
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
        let (running, queued) = (
            v["running"].as_str().unwrap(),
            v["queued"].as_str().unwrap(),
        );
        let t = std::time::Instant::now();
        let out = aborts(&["abort", &q, running, queued], aborter);
        println!("{what}: both aborted after {:?}", t.elapsed());
        check_aborted(&out, &[running, queued]);
        let log = w.log_text();
        assert_eq!(
            count_lines(&log, &format!("⊘ {running}:sleep_ms aborted")),
            1,
            "{what}\n{log}"
        );
        assert_eq!(
            count_lines(&log, &format!("→ {queued}:")),
            0,
            "{what}: the queued job ran\n{log}"
        );
        let before_start =
            count_lines_with(&log, &[&format!("job_id={queued}"), "aborted before start"]);
        assert_eq!(before_start, 1, "{what}\n{log}");
    }
    assert_eq!(w.terminate(Duration::from_secs(10)), Some(0));
}
