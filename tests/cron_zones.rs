//! Cron ids in arq 0.28's zone rules, byte for byte: the worker's `timezone` setting
//! (`--timezone` / `LYANNA_TIMEZONE`), else the system's local offset at start (`TZ`, fixed
//! from then on); `ARQ_TIMEZONE`, `arq_timezone`, `TIMEZONE` and `timezone` change nothing.
//! Each case runs Python arq (`tests/python/cron_ids.py`, arq's own Worker and cron code with
//! its clock frozen) and our config + cron code in a child process with the same environment,
//! across the DST changes of 2026 in Berlin and New York.

mod common;

use lyanna_task_api::CronSchedule;
use lyanna_worker::protocol::cron::{job_id, next_run};
use serde_json::{json, Value};
use std::process::Command;

/// The environment variables that could pick a zone; each child starts without them.
const ZONE_VARS: &[&str] = &[
    "TZ",
    "ARQ_TIMEZONE",
    "arq_timezone",
    "TIMEZONE",
    "timezone",
    "LYANNA_TIMEZONE",
];

/// (start ms, schedule as arq's cron() kwargs, runs): winter; the days across Berlin's spring
/// change (02:30 does not exist on 2026-03-29); across New York's fall back (01:30 happens
/// twice on 2026-11-01); every half hour through Berlin's repeated 02:00-03:00 of 2026-10-25.
fn requests(timezone: Option<&str>) -> Value {
    let cases = [
        (1_767_182_400_000_i64, json!({"hour": 3, "minute": 0}), 3),
        (1_774_612_800_000, json!({"hour": 2, "minute": 30}), 4),
        (1_774_612_800_000, json!({"hour": 3, "minute": 0}), 4),
        (1_793_361_600_000, json!({"hour": 1, "minute": 30}), 4),
        (1_792_887_000_000, json!({"minute": [0, 30]}), 8),
    ];
    Value::Array(
        cases
            .iter()
            .map(|(start, schedule, runs)| {
                json!({"start_ms": start, "schedule": schedule, "runs": runs, "timezone": timezone})
            })
            .collect(),
    )
}

fn schedule_of(v: &Value) -> CronSchedule {
    let field = |k: &str| {
        v.get(k).map(|x| match x {
            Value::Array(a) => a
                .iter()
                .filter_map(|n| n.as_u64())
                .map(|n| n as u32)
                .collect(),
            n => vec![n.as_u64().expect("number") as u32],
        })
    };
    CronSchedule {
        hour: field("hour"),
        minute: field("minute"),
        ..CronSchedule::default()
    }
}

/// Ours, in this process: the zone exactly as the worker's configuration picks it (clap reads
/// LYANNA_TIMEZONE, chrono reads TZ), then the worker's cron arithmetic.
fn our_ids(requests: &Value) -> Vec<Vec<String>> {
    use clap::Parser;
    let cli = lyanna_worker::config::Cli::try_parse_from(["lyanna-worker"]).expect("parse");
    requests
        .as_array()
        .expect("list")
        .iter()
        .map(|r| {
            let start = r["start_ms"].as_i64().expect("start");
            let tz = cli.worker.cron_timezone(start).expect("zone");
            let s = schedule_of(&r["schedule"]);
            let mut next = next_run(tz.wall_at_ms(start), &s).expect("next");
            let mut ids = Vec::new();
            for _ in 0..r["runs"].as_u64().unwrap_or(1) {
                ids.push(job_id("cron:report", tz.unix_ms(next)));
                next = next_run(next, &s).expect("next");
            }
            ids
        })
        .collect()
}

/// The child half: prints our ids for the requests in `LYANNA_CRON_REQUESTS`.
#[test]
#[ignore = "run by cron_ids_match_python_arq in a child process with its own environment"]
fn cron_ids_child() {
    let requests: Value =
        serde_json::from_str(&std::env::var("LYANNA_CRON_REQUESTS").expect("requests"))
            .expect("json");
    println!(
        "CRON_IDS {}",
        serde_json::to_string(&our_ids(&requests)).unwrap()
    );
}

fn ours_with(env: &[(&str, &str)], requests: &Value) -> Vec<Vec<String>> {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["cron_ids_child", "--exact", "--ignored", "--nocapture"]);
    for v in ZONE_VARS {
        cmd.env_remove(v);
    }
    cmd.env("LYANNA_CRON_REQUESTS", requests.to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CRON_IDS "))
        .unwrap_or_else(|| {
            panic!(
                "child printed no ids: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(line).expect("ids")
}

fn python_with(env: &[(&str, &str)], requests: &Value) -> (Vec<Vec<String>>, Vec<String>) {
    let mut cmd = Command::new(common::python());
    cmd.arg(common::project_root().join("tests/python/cron_ids.py"))
        .arg(requests.to_string());
    for v in ZONE_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run python");
    assert!(
        out.status.success(),
        "cron_ids.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = v.as_array().expect("list");
    let ids = rows
        .iter()
        .map(|r| serde_json::from_value(r["ids"].clone()).expect("ids"))
        .collect();
    let zones = rows
        .iter()
        .map(|r| r["tz"].as_str().unwrap_or_default().to_string())
        .collect();
    (ids, zones)
}

/// Environment variables of one case.
type Env<'a> = &'a [(&'a str, &'a str)];

#[test]
fn cron_ids_match_python_arq() {
    // (environment, the worker's timezone setting): Python gets the setting as
    // Worker(timezone=...), we as LYANNA_TIMEZONE.
    let cases: &[(Env, Option<&str>)] = &[
        (&[("TZ", "UTC")], None),
        (&[], None),
        (&[("TZ", "UTC"), ("ARQ_TIMEZONE", "Europe/Berlin")], None),
        (&[("TZ", "UTC"), ("arq_timezone", "Asia/Kolkata")], None),
        (&[("TZ", "UTC"), ("TIMEZONE", "America/New_York")], None),
        (&[("TZ", "UTC"), ("timezone", "Europe/Berlin")], None),
        (&[("TZ", "Europe/Berlin")], None),
        (&[("TZ", "America/New_York")], None),
        (
            &[
                ("TZ", "Europe/Berlin"),
                ("ARQ_TIMEZONE", "America/New_York"),
            ],
            None,
        ),
        (&[("TZ", "UTC")], Some("Europe/Berlin")),
        (&[("TZ", "UTC")], Some("America/New_York")),
        (&[("TZ", "UTC")], Some("+05:30")),
        (
            &[("TZ", "America/New_York"), ("ARQ_TIMEZONE", "Asia/Kolkata")],
            Some("Europe/Berlin"),
        ),
    ];
    let mut compared = 0;
    for (env, setting) in cases {
        let requests = requests(*setting);
        let (python, zones) = python_with(env, &requests);
        let mut our_env: Vec<(&str, &str)> = env.to_vec();
        if let Some(tz) = setting {
            our_env.push(("LYANNA_TIMEZONE", tz));
        }
        let ours = ours_with(&our_env, &requests);
        assert_eq!(
            ours, python,
            "env {env:?}, timezone setting {setting:?} (Python's zones: {zones:?})"
        );
        compared += python.iter().map(Vec::len).sum::<usize>();
    }
    eprintln!("{compared} cron ids compared with Python arq");

    // The example: ARQ_TIMEZONE=Europe/Berlin on a UTC system runs at 03:00 UTC.
    let (python, _) = python_with(
        &[("TZ", "UTC"), ("ARQ_TIMEZONE", "Europe/Berlin")],
        &requests(None),
    );
    assert_eq!(python[0][0], "cron:report:1767236400123");
    // While the timezone setting does move it to 03:00 in Berlin (02:00 UTC).
    let (python, _) = python_with(&[("TZ", "UTC")], &requests(Some("Europe/Berlin")));
    assert_eq!(python[0][0], "cron:report:1767232800123");
}
